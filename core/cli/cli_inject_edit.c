/* cli_inject_edit.c - splicing generated YAML into the input's bytes.
 *
 * Owns positions (where a line can go after a node or before a line),
 * generated lines (indented, in the input's line ending, scalars quoted so
 * they read back as the same strings) and the final copy of the input with
 * every splice applied in offset order.
 * Promises: bytes no splice covers are written unchanged; splices at one
 * offset come out in the order they were queued (deeper edits first is the
 * caller's rule); a position that cannot be told is an error, never a guess.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_inject.h"

static void inj_reserve(struct inj_buf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void inj_put(struct inj_buf *b, const char *text, size_t len)
{
    inj_reserve(b, len);
    if (b->oom)
        return;
    memcpy(b->p + b->len, text, len);
    b->len += len;
    b->p[b->len] = '\0';
}

static void inj_putc(struct inj_buf *b, char c)
{
    inj_put(b, &c, 1);
}

static void inj_indent(struct inj_buf *b, int indent)
{
    for (int i = 0; i < indent; i++)
        inj_putc(b, ' ');
}

void inj_line(struct inj_buf *b, const struct inj_stream *s, int indent, const char *fmt, ...)
{
    char line[4096 + 256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        b->oom = 1;             /* never write a cut line */
        return;
    }
    inj_indent(b, indent);
    inj_put(b, line, (size_t)n);
    inj_put(b, s->eol, strlen(s->eol));
}

/* Plain in block context and read back as this very string (not a number,
 * a boolean, null, or YAML syntax): paths, image names, object names. */
static int inj_plain_ok(const char *v)
{
    static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off",
                                         "null" };
    size_t n = strlen(v);

    if (n == 0 || !(isalpha((unsigned char)v[0]) || v[0] == '/' || v[0] == '_'))
        return 0;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/._-:@+=", *p))
            return 0;
    if (v[n - 1] == ':')
        return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(v, words[i]) == 0)
            return 0;
    return 1;
}

static void inj_double_quoted(struct inj_buf *b, const char *v)
{
    inj_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            inj_putc(b, '\\');
            inj_putc(b, (char)*p);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            inj_put(b, esc, 4);
        } else {
            inj_putc(b, (char)*p);
        }
    }
    inj_putc(b, '"');
}

void inj_scalar(struct inj_buf *b, const char *v)
{
    if (inj_plain_ok(v))
        inj_put(b, v, strlen(v));
    else
        inj_double_quoted(b, v);
}

void inj_scalar_like(struct inj_buf *b, const char *v, const struct inj_node *like)
{
    int printable = 1;

    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        printable &= *p >= 0x20 && *p != 0x7f;
    if (like->quoted == '\'' && printable) {
        inj_putc(b, '\'');
        for (const char *p = v; *p; p++) {
            if (*p == '\'')
                inj_putc(b, '\'');
            inj_putc(b, *p);
        }
        inj_putc(b, '\'');
    } else if (like->quoted == 0 && !like->flow && inj_plain_ok(v)) {
        inj_put(b, v, strlen(v));
    } else {
        inj_double_quoted(b, v);
    }
}

void inj_kv(struct inj_buf *b, const struct inj_stream *s, int indent, const char *prefix,
            const char *v)
{
    inj_indent(b, indent);
    inj_put(b, prefix, strlen(prefix));
    inj_scalar(b, v);
    inj_put(b, s->eol, strlen(s->eol));
}

static size_t inj_line_start(const struct inj_stream *s, size_t off)
{
    assert(off <= s->len); /* an offset into the input (a node's start or end) */
    while (off > 0 && s->buf[off - 1] != '\n')
        off--;
    return off;
}

int inj_col(const struct inj_stream *s, size_t off)
{
    return (int)(off - inj_line_start(s, off));
}

static int inj_empty_plain(const struct inj_node *n)
{
    return n->kind == INJ_SCALAR && !n->quoted && !n->block_scalar && n->start == n->end;
}

/* The node whose end is the end of n's text. libyaml ends a block
 * collection where the next token starts (past comments and blank lines),
 * so the end is found in its last scalar, flow collection or alias. */
static int inj_last(const struct inj_node *n, const struct inj_node **out)
{
    while ((n->kind == INJ_MAP || n->kind == INJ_SEQ) && !n->flow) {
        const struct inj_node *v;
        if (n->nkid == 0)
            return -EINVAL;
        v = n->kid[n->nkid - 1];
        if (inj_empty_plain(v)) {
            if (n->kind == INJ_SEQ)
                return -EINVAL;     /* "-" alone: its mark is the next token's */
            v = n->kid[n->nkid - 2];
        }
        n = v;
    }
    *out = n;
    return 0;
}

static int inj_after(const struct inj_stream *s, const struct inj_node *n, size_t *pos,
                     int *need_eol)
{
    const struct inj_node *last;
    const char *nl;
    size_t e;
    int rc = inj_last(n, &last);

    if (rc < 0)
        return rc;
    e = last->end;
    if (last->block_scalar) {
        /* It ends at the start of the next content line, past its breaks. */
        size_t ls = inj_line_start(s, e);
        size_t i = ls;
        while (i < e && s->buf[i] == ' ')
            i++;
        if (i == e) {
            *pos = ls;
            *need_eol = 0;
            return 0;
        }
    }
    nl = memchr(s->buf + e, '\n', s->len - e);
    *pos = nl ? (size_t)(nl - s->buf) + 1 : s->len;
    *need_eol = nl == NULL;
    /* A line break after a block scalar's last line would join its value. */
    return *need_eol && last->block_scalar ? -ENOTSUP : 0;
}

void inj_splice(struct inj_edits *e, size_t off, size_t del, struct inj_buf *b)
{
    if (b->oom)
        e->oom = 1;
    if (e->oom)
        goto out;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        struct inj_edit *v = realloc(e->v, cap * sizeof *v);
        if (!v) {
            e->oom = 1;
            goto out;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n] = (struct inj_edit){ .off = off, .del = del, .text = b->p ? b->p : strdup(""),
                                    .seq = e->n };
    if (!e->v[e->n].text) {
        e->oom = 1;
        return;
    }
    e->n++;
    b->p = NULL;
out:
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

int inj_insert_after(struct inj_edits *e, const struct inj_node *n, struct inj_buf *b)
{
    struct inj_buf t = { 0 };
    size_t pos;
    int need_eol, rc = inj_after(e->s, n, &pos, &need_eol);

    if (rc < 0) {
        free(b->p);
        *b = (struct inj_buf){ 0 };
        return rc;
    }
    if (need_eol && !e->eol_added) {
        inj_put(&t, e->s->eol, strlen(e->s->eol));
        e->eol_added = 1;       /* once: later lines at the end follow it */
    }
    inj_put(&t, b->p ? b->p : "", b->len);
    t.oom |= b->oom;
    free(b->p);
    *b = (struct inj_buf){ 0 };
    inj_splice(e, pos, 0, &t);
    return 0;
}

int inj_insert_before(struct inj_edits *e, size_t off, struct inj_buf *b)
{
    size_t ls = inj_line_start(e->s, off);

    for (size_t i = ls; i < off; i++) {
        if (e->s->buf[i] != ' ') {
            free(b->p);
            *b = (struct inj_buf){ 0 };
            return -EINVAL;
        }
    }
    inj_splice(e, ls, 0, b);
    return 0;
}

static int inj_edit_cmp(const void *a, const void *b)
{
    const struct inj_edit *x = a, *y = b;

    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int inj_write(struct inj_edits *e, FILE *out)
{
    const char *buf = e->s->buf;
    size_t cur = 0;

    if (e->oom)
        return -ENOMEM;
    if (e->n)
        qsort(e->v, e->n, sizeof *e->v, inj_edit_cmp);
    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].off < cur || e->v[i].off + e->v[i].del > e->s->len)
            return -EINVAL;     /* overlapping splices: a bug, never output */
        cur = e->v[i].off + e->v[i].del;
    }
    cur = 0;
    errno = 0;
    for (size_t i = 0; i < e->n; i++) {
        const struct inj_edit *d = &e->v[i];
        fwrite(buf + cur, 1, d->off - cur, out);
        fputs(d->text, out);
        cur = d->off + d->del;
    }
    fwrite(buf + cur, 1, e->s->len - cur, out);
    if (fflush(out) != 0 || ferror(out))
        return errno ? -errno : -EIO;
    return 0;
}

void inj_edits_free(struct inj_edits *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

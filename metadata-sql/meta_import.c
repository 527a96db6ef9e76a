/* meta_import.c - many new files in one round trip (shimfs import).
 *
 * Promises: meta_import_files is one transaction of one round trip, two
 * statements in one pipelined batch (an implicit transaction): MS_LOCK
 * locks the batch's parents in ascending ino order, as every namespace
 * change does, then MS_IMPORT inserts every entry, inode, symlink target
 * and slice record under those locks and touches the parents. Either the
 * whole batch is visible or none of it. Names taken meanwhile and parents
 * that went are answered per file (ON CONFLICT DO NOTHING: no rerun, no
 * other file harmed). The commit fence is meta_write's: the same
 * statement share-locks the sessions holding the slice ids, and commits
 * nothing when one is held by no live session. Per-file answers are
 * rewritten on every rerun of the transaction.
 */
#include "meta_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* A growing text buffer for array literals. */
struct meta_ibuf { char *s; size_t len, cap; int oom; };

static void meta_ibuf_put(struct meta_ibuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void meta_ibuf_str(struct meta_ibuf *b, const char *p) { meta_ibuf_put(b, p, strlen(p)); }

/* One row {v0,...} of a two-dimensional bigint[] literal. */
static void meta_ibuf_row(struct meta_ibuf *b, const int64_t *v, int n)
{
    char num[24 * 8];
    size_t len = 0;
    meta_ibuf_str(b, b->len > 1 ? ",{" : "{");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(num + len, sizeof num - len, "%s%" PRId64, i ? "," : "", v[i]);
    meta_ibuf_put(b, num, len);
    meta_ibuf_str(b, "}");
}

/* One bytea element of a bytea[] literal, in hex: any byte travels. */
static void meta_ibuf_bytea(struct meta_ibuf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[2 * 256];
    meta_ibuf_str(b, b->len > 1 ? ",\"\\\\x" : "\"\\\\x");
    while (n > 0) {
        size_t take = n < 256 ? n : 256;
        for (size_t i = 0; i < take; i++) {
            tmp[2 * i] = hex[(unsigned char)p[i] >> 4];
            tmp[2 * i + 1] = hex[(unsigned char)p[i] & 15];
        }
        meta_ibuf_put(b, tmp, 2 * take);
        p += take;
        n -= take;
    }
    meta_ibuf_str(b, "\"");
}

/* A file the database may be asked about, else its per-file answer. */
static int meta_import_check(const struct meta_import_file *f)
{
    int rc = meta_check_name(f->name, f->nlen);
    if (rc < 0)
        return rc;
    if ((f->mode & META_S_IFMT) == META_S_IFLNK) {
        size_t tl = f->target ? strlen(f->target) : 0;
        if (tl == 0 || f->nslices)
            return -EINVAL;
        return tl >= 4096 ? -ENAMETOOLONG : 0;
    }
    if ((f->mode & META_S_IFMT) != META_S_IFREG || f->target || f->size > (uint64_t)INT64_MAX ||
        f->nslices < 0 || (f->nslices && !f->slices))
        return -EINVAL;
    for (int i = 0; i < f->nslices; i++) {
        const struct meta_slice_rec *r = &f->slices[i];
        const struct layout_slice *s = &r->s;
        if ((uint64_t)s->pos + s->len > LAYOUT_CHUNK_SIZE || (uint64_t)s->off + s->len > s->size ||
            s->size > LAYOUT_CHUNK_SIZE || s->id > (uint64_t)INT64_MAX ||
            r->chunk > (uint64_t)INT64_MAX >> LAYOUT_CHUNK_SHIFT)
            return -EINVAL;
    }
    return 0;
}

struct meta_import_args {
    struct meta_import_file *fs;
    int *sent;                  /* fs index of the k-th file sent (k from 0) */
    int nsent;
    int fence;
    const char *parents, *attrs, *names, *targets, *slices;
};

/* Why file `f` was not created, from its parent's locked row. */
static int meta_import_why(const PGresult *lock, const struct meta_import_file *f)
{
    for (int r = 0; r < PQntuples(lock); r++) {
        struct meta_attr a;
        meta_r_attr(lock, r, 0, &a);
        if (a.ino != f->parent)
            continue;
        if (a.nlink == 0)
            return -ENOENT;
        return meta_is_dir(a.mode) ? -EEXIST : -ENOTDIR;
    }
    return -ENOENT;
}

static int meta_import_body(struct meta_conn *c, void *arg)
{
    struct meta_import_args *ia = arg;
    struct meta_params lp, ip;
    meta_p_init(&lp);
    meta_p_text(&lp, ia->parents);
    for (int i = 0; i < 4; i++)
        meta_p_null(&lp);
    meta_p_init(&ip);
    meta_p_text(&ip, ia->attrs);
    meta_p_text(&ip, ia->names);
    meta_p_text(&ip, ia->targets);
    meta_p_text(&ip, ia->slices);
    meta_p_int(&ip, meta_now_ns());
    meta_p_text(&ip, ia->fence ? "true" : "false");
    struct meta_q q[2] = { { .stmt = MS_LOCK, .p = &lp }, { .stmt = MS_IMPORT, .p = &ip } };
    int rc = meta_run(c, q, 2, 1);
    if (rc < 0)
        return rc;
    if (PQntuples(q[1].res) != 1) {
        meta_q_clear(q, 2);
        return -EIO;
    }
    if (!meta_r_int(q[1].res, 0, 0)) {
        meta_q_clear(q, 2);
        log_error(META_LOG, "%s: import commit refused: its slice ids are held by no live "
                  "session (this process was silent past its session timeout and was reaped; "
                  "gc may have deleted the blocks)", c->m->describe);
        return -ESTALE;
    }
    uint64_t first = (uint64_t)meta_r_int(q[1].res, 0, 2);
    for (int k = 0; k < ia->nsent; k++) {
        ia->fs[ia->sent[k]].result = 0;
        ia->fs[ia->sent[k]].ino = first + (uint64_t)k;
    }
    size_t len;
    const char *failed = meta_r_bytes(q[1].res, 0, 1, &len);
    for (size_t i = 0; i < len; ) {
        long k = 0;
        while (i < len && failed[i] >= '0' && failed[i] <= '9')
            k = k * 10 + (failed[i++] - '0');
        i++;        /* the comma */
        if (k >= 1 && k <= ia->nsent) {
            struct meta_import_file *f = &ia->fs[ia->sent[k - 1]];
            f->result = meta_import_why(q[0].res, f);
            f->ino = 0;
        }
    }
    meta_q_clear(q, 2);
    return 0;
}

static int meta_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The parents as an int8[] literal, each once. */
static int meta_import_parents(const struct meta_import_file *fs, const int *sent, int n,
                               struct meta_arr *out)
{
    uint64_t *p = malloc((size_t)n * sizeof *p);
    if (!p)
        return -ENOMEM;
    for (int k = 0; k < n; k++)
        p[k] = fs[sent[k]].parent;
    qsort(p, (size_t)n, sizeof *p, meta_cmp_u64);
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++)
        if (k == 0 || p[k] != p[k - 1])
            rc = meta_arr_add(out, (int64_t)p[k]) < 0 ? -ENOMEM : 0;
    free(p);
    return rc;
}

int meta_import_files(struct meta *m, struct meta_import_file *fs, int n)
{
    assert(m && (n == 0 || fs));
    struct meta_ibuf attrs = { 0 }, names = { 0 }, targets = { 0 }, slices = { 0 };
    struct meta_arr parents = { 0 };
    struct meta_import_args ia = { .fs = fs, .fence = __atomic_load_n(&m->fenced, __ATOMIC_ACQUIRE) };
    int rc = 0;
    if (n <= 0)
        return n < 0 ? -EINVAL : 0;
    if (!(ia.sent = malloc((size_t)n * sizeof *ia.sent)))
        return -ENOMEM;
    meta_ibuf_str(&attrs, "{");
    meta_ibuf_str(&names, "{");
    meta_ibuf_str(&targets, "{");
    meta_ibuf_str(&slices, "{");
    for (int i = 0; i < n; i++) {
        struct meta_import_file *f = &fs[i];
        f->ino = 0;
        if ((f->result = meta_import_check(f)) < 0)
            continue;
        int k = ++ia.nsent;     /* 1-based, as the statement counts */
        ia.sent[k - 1] = i;
        int64_t a[7] = { (int64_t)f->parent, f->mode, f->uid, f->gid, (int64_t)f->size,
                         f->atime_ns, f->mtime_ns };
        meta_ibuf_row(&attrs, a, 7);
        meta_ibuf_bytea(&names, f->name, f->nlen);
        if (f->target)
            meta_ibuf_bytea(&targets, f->target, strlen(f->target));
        else
            meta_ibuf_str(&targets, targets.len > 1 ? ",NULL" : "NULL");
        for (int j = 0; j < f->nslices; j++) {
            const struct meta_slice_rec *r = &f->slices[j];
            int64_t s[7] = { k, (int64_t)r->chunk, r->s.pos, (int64_t)r->s.id, r->s.size,
                             r->s.off, r->s.len };
            meta_ibuf_row(&slices, s, 7);
        }
    }
    meta_ibuf_str(&attrs, "}");
    meta_ibuf_str(&names, "}");
    meta_ibuf_str(&targets, "}");
    meta_ibuf_str(&slices, "}");
    if (ia.nsent == 0)
        goto out;
    if (attrs.oom || names.oom || targets.oom || slices.oom ||
        meta_import_parents(fs, ia.sent, ia.nsent, &parents) < 0 || !meta_arr_str(&parents)) {
        rc = -ENOMEM;
        goto out;
    }
    ia.parents = meta_arr_str(&parents);
    ia.attrs = attrs.s;
    ia.names = names.s;
    ia.targets = targets.s;
    ia.slices = slices.s;
    rc = meta_tx(m, meta_import_body, &ia);
    if (rc < 0)
        for (int k = 0; k < ia.nsent; k++)
            fs[ia.sent[k]].ino = 0;
out:
    free(ia.sent);
    free(attrs.s);
    free(names.s);
    free(targets.s);
    free(slices.s);
    meta_arr_free(&parents);
    return rc;
}

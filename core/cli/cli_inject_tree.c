/* cli_inject_tree.c - the input of `shimfs inject` as a tree of nodes that
 * know where they are in the text.
 *
 * Promises: libyaml's event parser, not a hand parser, decides what the
 * input means; every node carries the byte offsets of its text (libyaml
 * counts characters, so they are translated through the UTF-8 input).
 * Aliases stay alias nodes with their own offsets (never the anchored
 * node's). Broken YAML is an error with libyaml's line and column; nothing
 * of it is ever edited.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cli_inject.h"

/* Character index -> byte offset (libyaml's marks count characters). Marks
 * arrive nearly in order, so a cursor walked from the last answer costs
 * about one pass over the input in all. */
struct inj_chars { const char *buf; size_t len, ci, bi; };

static int inj_lead(const struct inj_chars *c, size_t b)
{
    return ((unsigned char)c->buf[b] & 0xC0) != 0x80;
}

static size_t inj_byte(struct inj_chars *c, yaml_mark_t m)
{
    while (c->ci < m.index && c->bi < c->len) {
        c->bi++;
        while (c->bi < c->len && !inj_lead(c, c->bi))
            c->bi++;
        c->ci++;
    }
    while (c->ci > m.index && c->bi > 0) {
        c->bi--;
        while (c->bi > 0 && !inj_lead(c, c->bi))
            c->bi--;
        c->ci--;
    }
    return c->bi;
}

static struct inj_node *inj_node_new(struct inj_stream *s, enum inj_kind kind)
{
    struct inj_node *n;

    if (s->nall == s->allcap) {
        size_t cap = s->allcap ? 2 * s->allcap : 64;
        struct inj_node **v = realloc(s->all, cap * sizeof *v);
        if (!v)
            return NULL;
        s->all = v;
        s->allcap = cap;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    s->all[s->nall++] = n;
    return n;
}

static int inj_node_add(struct inj_node *parent, struct inj_node *kid)
{
    if (parent->nkid == parent->cap) {
        size_t cap = parent->cap ? 2 * parent->cap : 8;
        struct inj_node **v = realloc(parent->kid, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        parent->kid = v;
        parent->cap = cap;
    }
    parent->kid[parent->nkid++] = kid;
    return 0;
}

struct inj_parse_state {
    struct inj_stream *s;
    struct inj_chars chars;
    struct inj_node **stack;
    size_t depth, cap;
};

/* A new node from event ev, attached to the open collection or the document. */
static int inj_on_node(struct inj_parse_state *ps, const yaml_event_t *ev, enum inj_kind kind,
                       struct inj_node **out)
{
    struct inj_stream *s = ps->s;
    struct inj_node *n = inj_node_new(s, kind), *top;

    if (!n)
        return -ENOMEM;
    top = ps->depth ? ps->stack[ps->depth - 1] : NULL;
    n->start = inj_byte(&ps->chars, ev->start_mark);
    n->end = inj_byte(&ps->chars, ev->end_mark);
    n->flow = top ? top->flow : 0;
    if (kind == INJ_SCALAR) {
        yaml_scalar_style_t st = ev->data.scalar.style;
        n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->value)
            return -ENOMEM;
        n->block_scalar = st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE;
        n->quoted = st == YAML_SINGLE_QUOTED_SCALAR_STYLE ? '\''
                  : st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? '"' : 0;
    } else if (kind == INJ_SEQ) {
        n->flow |= ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
    } else if (kind == INJ_MAP) {
        n->flow |= ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
    }
    if (top) {
        if (inj_node_add(top, n) < 0)
            return -ENOMEM;
    } else if (s->ndocs) {
        s->docs[s->ndocs - 1].root = n;
    }
    *out = n;
    return 0;
}

static int inj_push(struct inj_parse_state *ps, struct inj_node *n)
{
    if (ps->depth == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        struct inj_node **v = realloc(ps->stack, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        ps->stack = v;
        ps->cap = cap;
    }
    ps->stack[ps->depth++] = n;
    return 0;
}

static int inj_on_doc(struct inj_stream *s)
{
    struct inj_doc *v = realloc(s->docs, (s->ndocs + 1) * sizeof *v);

    if (!v)
        return -ENOMEM;
    s->docs = v;
    s->docs[s->ndocs++].root = NULL;
    return 0;
}

static int inj_on_event(struct inj_parse_state *ps, const yaml_event_t *ev)
{
    struct inj_node *n;
    int rc;

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return inj_on_doc(ps->s);
    case YAML_SCALAR_EVENT:
        return inj_on_node(ps, ev, INJ_SCALAR, &n);
    case YAML_ALIAS_EVENT:
        return inj_on_node(ps, ev, INJ_ALIAS, &n);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        rc = inj_on_node(ps, ev, ev->type == YAML_SEQUENCE_START_EVENT ? INJ_SEQ : INJ_MAP, &n);
        return rc < 0 ? rc : inj_push(ps, n);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        assert(ps->depth > 0);
        n = ps->stack[--ps->depth];
        n->end = inj_byte(&ps->chars, ev->end_mark);
        return 0;
    default:
        return 0;
    }
}

int inj_parse(struct inj_stream *s, const char *buf, size_t len, char *err, size_t errcap)
{
    struct inj_parse_state ps = { .s = s };
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->len = len;
    s->eol = memmem(buf, len, "\r\n", 2) ? "\r\n" : "\n";
    ps.chars = (struct inj_chars){ .buf = buf, .len = len };
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                rc = -ENOMEM;
            } else if (parser.error == YAML_READER_ERROR) {
                snprintf(err, errcap, "byte %zu: %s", parser.problem_offset + 1,
                         parser.problem ? parser.problem : "not UTF-8");
                rc = -EINVAL;
            } else {
                snprintf(err, errcap, "line %zu, column %zu: %s%s%s",
                         parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "invalid YAML",
                         parser.context ? " " : "", parser.context ? parser.context : "");
                rc = -EINVAL;
            }
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = inj_on_event(&ps, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    free(ps.stack);
    if (rc < 0)
        inj_stream_free(s);
    return rc;
}

void inj_stream_free(struct inj_stream *s)
{
    for (size_t i = 0; i < s->nall; i++) {
        free(s->all[i]->value);
        free(s->all[i]->kid);
        free(s->all[i]);
    }
    free(s->all);
    free(s->docs);
    s->all = NULL;
    s->docs = NULL;
    s->nall = s->ndocs = 0;
}

const char *inj_str(const struct inj_node *n)
{
    return n && n->kind == INJ_SCALAR ? n->value : NULL;
}

struct inj_node *inj_get_key(const struct inj_node *map, const char *key)
{
    if (!map || map->kind != INJ_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->nkid; i += 2) {
        const char *k = inj_str(map->kid[i]);
        if (k && strcmp(k, key) == 0)
            return map->kid[i];
    }
    return NULL;
}

struct inj_node *inj_get(const struct inj_node *map, const char *key)
{
    if (!map || map->kind != INJ_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->nkid; i += 2) {
        const char *k = inj_str(map->kid[i]);
        if (k && strcmp(k, key) == 0)
            return map->kid[i + 1];
    }
    return NULL;
}

struct inj_node *inj_named(const struct inj_node *seq, const char *name)
{
    if (!seq || seq->kind != INJ_SEQ)
        return NULL;
    for (size_t i = 0; i < seq->nkid; i++) {
        const char *v = inj_str(inj_get(seq->kid[i], "name"));
        if (v && strcmp(v, name) == 0)
            return seq->kid[i];
    }
    return NULL;
}

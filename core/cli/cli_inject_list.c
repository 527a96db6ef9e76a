/* cli_inject_list.c - giving a list-valued key of a block mapping new items.
 *
 * Owns the three ways a list gets items: appended after its last item (or
 * put before its first), written under its key in place of an empty `[]`
 * or null value (the key's line, with its comment, is kept), or added with
 * its key at the end of the mapping. Items come in as lines indented for
 * the dash column the list chose (l->dcol).
 * Promises: a list it cannot edit without guessing (flow style, an alias,
 * not a list) is refused with a phrase saying why; edits of one mapping are
 * queued appends first, so items appended to its last list never land
 * under a key added after it.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_inject.h"

const char *inj_block_problem(const struct inj_node *n, enum inj_kind kind)
{
    if (n->kind == INJ_ALIAS)
        return "is an alias; expand it before injecting";
    if (n->kind != kind)
        return kind == INJ_MAP ? "is not a mapping" : "is not a list";
    if (n->flow)
        return "is in flow style ([...] or {...}); only block style is edited, write it as "
               "block YAML";
    return NULL;
}

static int inj_null(const struct inj_node *n)
{
    const char *v = inj_str(n);

    return v && !n->quoted && !n->block_scalar &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
            !strcmp(v, "NULL"));
}

int inj_list_open(const struct inj_stream *s, struct inj_node *map, const char *key, int sd,
                  struct inj_list *l, const char **why)
{
    struct inj_node *k = inj_get_key(map, key), *v = inj_get(map, key);

    assert(map->kind == INJ_MAP && map->nkid > 0);
    memset(l, 0, sizeof *l);
    l->key = key;
    l->map = map;
    l->kcol = inj_col(s, map->kid[0]->start);
    l->dcol = l->kcol + sd;
    if (!k) {
        l->mode = INJ_ADD_KEY;
        return 0;
    }
    l->kcol = inj_col(s, k->start);
    l->dcol = l->kcol + sd;
    if (inj_null(v) || (v->kind == INJ_SEQ && v->flow && v->nkid == 0)) {
        l->mode = INJ_REPLACE;
        l->seq = v;
        return 0;
    }
    if ((*why = inj_block_problem(v, INJ_SEQ)))
        return -EINVAL;
    l->mode = INJ_APPEND;
    l->seq = v;
    l->dcol = inj_col(s, v->start);
    return 0;
}

int inj_list_queue(struct inj_edits *e, struct inj_list *l, int front)
{
    const struct inj_stream *s = e->s;
    struct inj_buf t = { 0 };
    size_t from;

    if (l->items.len == 0 && !l->items.oom)
        return 0;
    switch (l->mode) {
    case INJ_APPEND:
        return front ? inj_insert_before(e, l->seq->start, &l->items)
                     : inj_insert_after(e, l->seq, &l->items);
    case INJ_REPLACE:
        /* `key: []` or `key: ~` loses its value; the items go on the lines
         * after the key's, which keeps its comment. */
        if (l->seq->end > l->seq->start) {
            from = l->seq->start;
            while (from > 0 && s->buf[from - 1] == ' ')
                from--;
            inj_splice(e, from, l->seq->end - from, &t);
        }
        return inj_insert_after(e, l->seq, &l->items);
    default:
        inj_line(&t, s, l->kcol, "%s:", l->key);
        inj_put(&t, l->items.p, l->items.len);
        t.oom |= l->items.oom;
        free(l->items.p);
        l->items = (struct inj_buf){ 0 };
        return inj_insert_after(e, l->map, &t);
    }
}

int inj_lists_queue(struct inj_edits *e, struct inj_list *l, size_t n)
{
    int rc = 0;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((l[i].mode == INJ_ADD_KEY) == pass)
                rc = inj_list_queue(e, &l[i], 0);
    for (size_t i = 0; i < n; i++) {
        free(l[i].items.p);
        l[i].items = (struct inj_buf){ 0 };
    }
    return rc;
}

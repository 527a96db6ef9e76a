/* meta_lock.c - the first round trip of every multi-statement namespace
 * change: lock the inodes involved, then read the entries again.
 *
 * Promises: rows are locked by one statement in ascending ino order
 * (parents, and the current targets of the names involved), so two
 * changes can only wait on each other, never deadlock through us; the
 * entries are then re-read under the parents' locks (every entry change
 * holds its parent's lock), so what the caller sees cannot change before
 * it commits. If a name's target changed between the two reads the
 * transaction is marked for a rerun (-EAGAIN with c->retry set).
 */
#include "meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void meta_ent_params(struct meta_params *p, const struct meta_ent *e, int ne)
{
    for (int i = 0; i < 2; i++) {
        if (i < ne) {
            meta_p_int(p, (int64_t)e[i].parent);
            meta_p_bytes(p, e[i].name, e[i].nlen);
        } else {
            meta_p_null(p);
            meta_p_null(p);
        }
    }
}

struct meta_attr *meta_lock_find(struct meta_lockset *ls, uint64_t ino)
{
    for (int i = 0; i < ls->n; i++)
        if (ls->a[i].ino == ino)
            return &ls->a[i];
    return NULL;
}

static int meta_lock_parse(struct meta_conn *c, struct meta_q *q, struct meta_lockset *ls)
{
    memset(ls, 0, sizeof *ls);
    int n = PQntuples(q[0].res);
    if (n > (int)(sizeof ls->a / sizeof ls->a[0]))
        return -EIO;
    for (int i = 0; i < n; i++)
        meta_r_attr(q[0].res, i, 0, &ls->a[i]);
    ls->n = n;
    for (int i = 0; i < PQntuples(q[1].res); i++) {
        int which = (int)meta_r_int(q[1].res, i, 0);
        if (which < 0 || which > 1)
            continue;
        ls->ent_ino[which] = (uint64_t)meta_r_int(q[1].res, i, 1);
        ls->ent_nonempty[which] = (int)meta_r_int(q[1].res, i, 2);
        if (!meta_lock_find(ls, ls->ent_ino[which])) {
            c->retry = 1;   /* the name moved while we waited for the lock */
            return -EAGAIN;
        }
    }
    return 0;
}

int meta_lock(struct meta_conn *c, const uint64_t *inos, int ninos,
              const struct meta_ent *e, int ne, struct meta_lockset *ls)
{
    struct meta_arr arr = { 0 };
    for (int i = 0; i < ninos; i++)
        if (meta_arr_add(&arr, (int64_t)inos[i]) < 0) {
            meta_arr_free(&arr);
            return -ENOMEM;
        }
    const char *arr_s = meta_arr_str(&arr);
    if (!arr_s) {
        meta_arr_free(&arr);
        return -ENOMEM;
    }
    struct meta_params lp, ep;
    meta_p_init(&lp);
    meta_p_text(&lp, arr_s);
    meta_ent_params(&lp, e, ne);
    meta_p_init(&ep);
    meta_ent_params(&ep, e, ne);
    struct meta_q q[2] = { { .stmt = MS_LOCK, .p = &lp }, { .stmt = MS_ENTRIES, .p = &ep } };
    int rc = meta_run(c, q, 2, 0);
    meta_arr_free(&arr);
    if (rc == 0)
        rc = meta_lock_parse(c, q, ls);
    meta_q_clear(q, 2);
    return rc;
}

void meta_lock_rows_q(struct meta_q *q, struct meta_params *p, char *buf, size_t cap,
                      const uint64_t *inos, int n)
{
    assert(n >= 1 && cap >= 3);
    size_t at = 0;
    buf[at++] = '{';
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%llu", i ? "," : "",
                               (unsigned long long)inos[i]);
    assert(at + 2 <= cap);
    buf[at++] = '}';
    buf[at] = '\0';
    meta_p_init(p);
    meta_p_text(p, buf);
    for (int i = 0; i < 4; i++)
        meta_p_null(p); /* no entries: the caller's check reads them */
    *q = (struct meta_q){ .stmt = MS_LOCK, .p = p };
}

int meta_lock_row(const PGresult *r, uint64_t ino, struct meta_attr *out)
{
    for (int i = 0; r && i < PQntuples(r); i++) {
        struct meta_attr row;
        meta_r_attr(r, i, 0, &row);
        if (row.ino == ino) {
            *out = row;
            return 1;
        }
    }
    return 0;
}

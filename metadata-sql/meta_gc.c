/* meta_gc.c - what gc asks the database: which released slices may have
 * their objects deleted, forgetting them once they are, whether an id is
 * in use, and which id ranges live sessions hold reserved.
 *
 * Promises: meta_list_garbage streams ids ascending in keyset pages
 * (bounded memory), each once, never one a slice record references;
 * meta_forget_garbage never forgets an id a slice record references (the
 * check and the delete are one statement), and deletes a forgotten inline
 * id's row (schema 4) in that statement too.
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>

#define META_GARBAGE_PAGE 10000

int meta_list_garbage(struct meta *m, meta_garbage_cb cb, void *arg)
{
    int64_t after = 0;
    /* Each page starts past the previous one's last id: always progresses. */
    for (;;) {
        struct meta_params p;
        meta_p_init(&p);
        meta_p_int(&p, after);
        meta_p_int(&p, META_GARBAGE_PAGE);
        PGresult *r;
        int rc = meta_read(m, MS_LIST_GARBAGE, &p, &r);
        if (rc < 0)
            return rc;
        int n = PQntuples(r);
        for (int i = 0; i < n && rc == 0; i++) {
            after = meta_r_int(r, i, 0);
            rc = cb(arg, (uint64_t)after, (uint32_t)meta_r_int(r, i, 1), meta_r_int(r, i, 2));
        }
        PQclear(r);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (n < META_GARBAGE_PAGE)
            return 0;
    }
}

/* Forgets ids[0..n), n <= META_GARBAGE_PAGE, in one statement. */
static int meta_forget_page(struct meta *m, const uint64_t *ids, int n)
{
    struct meta_arr arr = { 0 };
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = ids[i] > (uint64_t)INT64_MAX ? -EINVAL : meta_arr_add(&arr, (int64_t)ids[i]);
    const char *s = rc == 0 ? meta_arr_str(&arr) : NULL;
    if (rc == 0 && !s)
        rc = -ENOMEM;
    if (rc == 0) {
        struct meta_params p;
        meta_p_init(&p);
        meta_p_text(&p, s);
        PGresult *r;
        /* schema 4: a forgotten inline id's row goes with it */
        int inl = __atomic_load_n(&m->version, __ATOMIC_ACQUIRE) >= 4;
        rc = meta_change1(m, inl ? MS_FORGET_GARBAGE_INLINE : MS_FORGET_GARBAGE, &p, &r);
        if (rc == 0) {
            rc = (int)meta_r_int(r, 0, 0);
            PQclear(r);
        }
    }
    meta_arr_free(&arr);
    return rc;
}

int meta_forget_garbage(struct meta *m, const uint64_t *ids, int n)
{
    int total = 0;
    for (int i = 0; i < n; i += META_GARBAGE_PAGE) {
        int k = n - i < META_GARBAGE_PAGE ? n - i : META_GARBAGE_PAGE;
        int rc = meta_forget_page(m, ids + i, k);
        if (rc < 0)
            return rc;
        total += rc;
    }
    return total;
}

int meta_slice_referenced(struct meta *m, uint64_t id)
{
    if (id > (uint64_t)INT64_MAX)
        return 0;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)id);
    PGresult *r;
    int rc = meta_read(m, MS_SLICE_REFERENCED, &p, &r);
    if (rc < 0)
        return rc;
    rc = meta_r_int(r, 0, 0) ? 1 : 0;
    PQclear(r);
    return rc;
}

int meta_list_reservations(struct meta *m, int64_t stale_ns, meta_range_cb cb, void *arg)
{
    assert(m && cb);
    int64_t stale = stale_ns < 0 ? -1 : stale_ns;
    /* Keyset pages by first id (unique: ranges never overlap). */
    return meta_read_keyset(m, MS_LIST_RESERVATIONS, &stale, -1, META_GARBAGE_PAGE, cb, arg);
}

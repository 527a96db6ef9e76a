/* meta_maint.c - what gc, fsck and the session table need: every slice id
 * still referenced, and client sessions.
 *
 * Promises: meta_list_slices streams ids in ascending order in keyset pages
 * (bounded memory however many slices exist); each id once.
 */
#include "meta_int.h"

#include <errno.h>
#include <string.h>

#define META_SLICE_PAGE 10000

int meta_read_keyset(struct meta *m, int stmt, const int64_t *lead, int64_t after, int page,
                     meta_id_cb cb, void *arg)
{
    assert(m && cb && page > 0);
    /* Each page starts past the previous one's last key: always progresses. */
    for (;;) {
        struct meta_params p;
        meta_p_init(&p);
        if (lead)
            meta_p_int(&p, *lead);
        meta_p_int(&p, after);
        meta_p_int(&p, page);
        PGresult *r;
        int rc = meta_read(m, stmt, &p, &r);
        if (rc < 0)
            return rc;
        int n = PQntuples(r);
        for (int i = 0; i < n && rc == 0; i++) {
            after = meta_r_int(r, i, 0);
            rc = cb(arg, (uint64_t)after, (uint32_t)meta_r_int(r, i, 1));
        }
        PQclear(r);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (n < page)
            return 0;
    }
}

int meta_list_slices(struct meta *m, meta_id_cb cb, void *arg)
{
    return meta_read_keyset(m, MS_LIST_SLICES, NULL, 0, META_SLICE_PAGE, cb, arg);
}

int meta_session_open(struct meta *m, const char *host, int pid, uint64_t *sid)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_text(&p, host ? host : "");
    meta_p_int(&p, pid);
    meta_p_int(&p, 0);
    PGresult *r;
    int rc = meta_change1(m, MS_SESSION_OPEN, &p, &r);
    if (rc < 0)
        return rc;
    *sid = (uint64_t)meta_r_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int meta_session_close(struct meta *m, uint64_t sid)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)sid);
    PGresult *r;
    uint64_t mark = meta_lazy_mark(m);
    int rc = meta_change1(m, MS_SESSION_CLOSE, &p, &r);
    if (rc < 0)
        return rc;
    rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -ENOENT;
    PQclear(r);
    /* a row deleted (WAL) in a synchronous commit: the exit's flush of the
     * lazy commits before it comes free (vfs_session.c) */
    if (rc == 0)
        meta_lazy_covered(m, mark);
    return rc;
}

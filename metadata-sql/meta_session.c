/* meta_session.c - client sessions beyond open/close: heartbeats, which
 * sessions keep which orphans open, and reaping dead sessions with the
 * orphans only they kept.
 *
 * Promises: each call is one statement, so one round trip and atomic. An
 * orphan is never dropped while a live session (heartbeat within stale_ns)
 * owns it; an orphan nobody ever claimed survives stale_ns after it was
 * orphaned (its ctime), which covers the moment between the unlink or
 * rename that orphaned it and meta_orphan_own.
 */
#include "meta_int.h"

#include <errno.h>
#include <string.h>

int meta_session_heartbeat(struct meta *m, uint64_t sid)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)sid);
    meta_p_int(&p, meta_now_ns());
    PGresult *r;
    int rc = meta_change1(m, MS_SESSION_HEARTBEAT, &p, &r);
    if (rc < 0)
        return rc;
    rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -ENOENT;
    PQclear(r);
    return rc;
}

int meta_orphan_own(struct meta *m, uint64_t ino, uint64_t sid)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_int(&p, (int64_t)sid);
    PGresult *r;
    int rc = meta_change1(m, MS_ORPHAN_OWN, &p, &r);
    if (rc < 0)
        return rc;
    rc = meta_r_int(r, 0, 0) == 1 ? 0 : -ENOENT;
    PQclear(r);
    return rc;
}

int meta_session_reap(struct meta *m, int64_t stale_ns, int *reaped)
{
    if (stale_ns < 0)
        return -EINVAL;
    int64_t now = meta_now_ns();
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, now - stale_ns);
    meta_p_int(&p, now);
    PGresult *r;
    int rc = meta_change1(m, MS_SESSION_REAP, &p, &r);
    if (rc < 0)
        return rc;
    if (reaped)
        *reaped = (int)meta_r_int(r, 0, 0);
    rc = (int)meta_r_int(r, 0, 1);
    PQclear(r);
    return rc;
}

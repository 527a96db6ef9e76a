/* meta_session.c - client sessions: the handle's own session, heartbeats,
 * which sessions keep which orphans open, and reaping dead sessions with
 * the reservations and orphans only they kept.
 *
 * Promises: each call is one statement, so one round trip and atomic.
 * Liveness is judged on the database's clock. A session is dead only
 * once it has been silent for longer than both its own timeout and the
 * reaper's stale_ns; an orphan is never dropped while a live session owns
 * it; an orphan nobody ever claimed survives stale_ns after it was
 * orphaned (its ctime), which covers orphans made without a session.
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

int meta_session_start(struct meta *m, const char *host, int pid, int64_t timeout_ns)
{
    assert(m);
    if (timeout_ns < 0)
        return -EINVAL;
    if (meta_session_id(m))
        return 0;
    int rc = meta_upgrade(m);
    if (rc < 0)
        return rc;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_text(&p, host ? host : "");
    meta_p_int(&p, pid);
    meta_p_int(&p, timeout_ns);
    PGresult *r;
    if ((rc = meta_change1(m, MS_SESSION_OPEN, &p, &r)) < 0)
        return rc;
    uint64_t sid = (uint64_t)meta_r_int(r, 0, 0), none = 0;
    PQclear(r);
    __atomic_store_n(&m->fenced, 1, __ATOMIC_RELEASE);
    /* Two threads raced to start one: the loser's session goes again. */
    if (!__atomic_compare_exchange_n(&m->sid, &none, sid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        (void)meta_session_close(m, sid);
    return 0;
}

uint64_t meta_session_id(struct meta *m)
{
    return __atomic_load_n(&m->sid, __ATOMIC_ACQUIRE);
}

void meta_session_forget(struct meta *m, uint64_t sid)
{
    (void)__atomic_compare_exchange_n(&m->sid, &sid, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int meta_session_end(struct meta *m)
{
    uint64_t sid = __atomic_exchange_n(&m->sid, 0, __ATOMIC_ACQ_REL);
    return sid ? meta_session_close(m, sid) : 0;
}

int meta_session_heartbeat(struct meta *m, uint64_t sid)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)sid);
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
    meta_p_int(&p, stale_ns);
    meta_p_int(&p, now);
    meta_p_int(&p, now - stale_ns);
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

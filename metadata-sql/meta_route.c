/* meta_route.c - metadata reads from a read server (a hot standby) while
 * writes, and every read whose staleness could cost data, go to the primary.
 *
 * SHIMFS_META_READ names the read server: a libpq URL or conninfo; a
 * multi-host URL with target_session_attrs=prefer-standby picks a standby
 * among several. Only the reads the namespace is served from are routed
 * (attributes, lookups, walks, listings and directory snapshots with their
 * block maps, xattrs, stats); never ids, sessions, gc, fsck or the agent's
 * change token. A directory snapshot from the standby carries the
 * standby's change token: equal to the agent's (the primary's) only when
 * the standby shows exactly the same committed state, so node sharing
 * stays exact.
 *
 * Freshness, by a fence: the handle keeps a WAL position of the primary
 * (fence_lsn, pg_current_wal_insert_lsn()) read no earlier than fence_at. A read
 * server's answer is used only when the same round trip, before the read,
 * reports a replay position at or past fence_lsn: the answer then shows
 * every commit acknowledged before fence_at. A read goes to the primary
 * instead, and renews the fence in the same round trip, whenever the fence
 * is older than SHIMFS_META_READ_LAG or than this handle's last commit. So
 *  - read-your-writes: after a commit the next read goes to the primary and
 *    takes a fence past the commit; later reads use the standby once it has
 *    replayed that far (otherwise the primary answers them);
 *  - other processes see a commit at most LAG after it was acknowledged.
 * The insert position covers every acknowledged commit, lazy ones (not yet
 * written or flushed: META_CREATE_LAZY, META_WRITE_LAZY) included; a
 * standby replays them once the primary flushed them, and until then the
 * primary answers.
 *
 * A read server that fails, or gives no answer within min(half the call's
 * bound, META_ROUTE_TRY_MS), is marked down by its own handle: one log line
 * per outage (then at most one per 30 s), calls skip it at once during its
 * backoff, and the primary answers. A read server that is not in recovery
 * (prefer-standby fell back to a primary) is current by definition.
 */
#include "meta_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define META_ROUTE_LAG_DEFAULT_MS 1000
#define META_ROUTE_TRY_MS 2000
#define META_ROUTE_MAX_BATCH (1 + META_DIRS_BATCH)    /* meta_read_dirs_all's */

static int meta_route_ok(int stmt)
{
    switch (stmt) {
    case MS_GETATTR: case MS_LOOKUP: case MS_WALK: case MS_READDIR: case MS_READLINK:
    case MS_CHUNKS: case MS_GETXATTR: case MS_LISTXATTR: case MS_XATTR_ANY: case MS_STATS:
    case MS_DIR_SLICES_PLAN: case MS_DIR_SLICES:
        return 1;
    default:
        return 0;
    }
}

/* SHIMFS_META_READ_LAG: seconds, a decimal number in [0.001, 3600]. */
static int meta_route_lag_ms(void)
{
    const char *s = getenv("SHIMFS_META_READ_LAG");
    if (!s || !*s)
        return META_ROUTE_LAG_DEFAULT_MS;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= 0.001 && v <= 3600)) {
        log_warn(META_LOG, "SHIMFS_META_READ_LAG=%s: not a number of seconds in [0.001, 3600]; "
                 "using %d ms", s, META_ROUTE_LAG_DEFAULT_MS);
        return META_ROUTE_LAG_DEFAULT_MS;
    }
    return (int)(v * 1000 + 0.5);
}

static void meta_route_timeout(struct meta *m)
{
    int t = m->timeout_ms / 2;
    m->route.rd->timeout_ms = t < 1 ? 1 : t > META_ROUTE_TRY_MS ? META_ROUTE_TRY_MS : t;
}

int meta_route_open(struct meta *m)
{
    struct meta_route *r = &m->route;
    const char *url = getenv("SHIMFS_META_READ");
    if (!url || !*url)
        return 0;
    r->lag_ms = meta_route_lag_ms();
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    PQfreemem(err);     /* it may quote the string, password included */
    if (!opts) {
        /* a setting that does not parse never breaks the host program */
        log_warn(META_LOG, "SHIMFS_META_READ is not a valid libpq URL or conninfo string; "
                 "metadata reads go to the primary");
        return 0;
    }
    PQconninfoFree(opts);
    int rc = meta_open_one(url, &r->rd);
    if (rc < 0) {
        log_warn(META_LOG, "SHIMFS_META_READ: %s; metadata reads go to the primary", strerror(-rc));
        r->rd = NULL;
        return 0;
    }
    r->rd->quiet = 1;
    char d[sizeof r->rd->describe + 16];
    snprintf(d, sizeof d, "read server %s", r->rd->describe);
    size_t n = strnlen(d, sizeof r->rd->describe - 1);
    memcpy(r->rd->describe, d, n);
    r->rd->describe[n] = '\0';
    meta_route_timeout(m);
    return 0;
}

void meta_route_close(struct meta *m)
{
    struct meta_route *r = &m->route;
    if (r->rd && r->n_read)
        log_debug(META_LOG, "%s: %llu routable reads, %llu answered by the primary", m->describe,
                 (unsigned long long)r->n_read, (unsigned long long)r->n_primary);
    meta_close(r->rd);
    r->rd = NULL;
    pthread_mutex_destroy(&r->mu);
}

void meta_route_after_fork(struct meta *m)
{
    struct meta_route *r = &m->route;
    pthread_mutex_init(&r->mu, NULL);
    r->n_read = r->n_primary = 0;
    if (r->rd)
        meta_after_fork(r->rd);
}

void meta_route_set_timeout(struct meta *m)
{
    if (m->route.rd)
        meta_route_timeout(m);
}

void meta_route_committed(struct meta *m)
{
    if (m->route.rd)
        __atomic_store_n(&m->route.commit_ns, meta_mono_ns(), __ATOMIC_RELEASE);
}

static void meta_route_fence(struct meta *m, const PGresult *res, int64_t send_ns)
{
    struct meta_route *r = &m->route;
    if (!res || PQntuples(res) != 1 || meta_r_isnull(res, 0, 0))
        return;
    pthread_mutex_lock(&r->mu);
    if (send_ns > r->fence_at_ns) {
        r->fence_lsn = (uint64_t)meta_r_int(res, 0, 0);
        r->fence_at_ns = send_ns;
    }
    pthread_mutex_unlock(&r->mu);
}

/* The read server failed under a call: it is down until its backoff says
 * otherwise (a failed connect or a timeout has reported it already). */
static void meta_route_lost(struct meta *rd, int rc)
{
    char why[700];
    snprintf(why, sizeof why, "%s: connection lost; metadata reads go to the primary",
             rd->describe);
    meta_pool_drop_idle(rd);
    meta_down_failed(rd, rc < 0 ? rc : -ECONNREFUSED, why);
}

/* qs on the read server after MS_REPLAY_LSN: 1 with qs' answers when it
 * has replayed past fence, else 0 (nothing kept). */
static int meta_route_try(struct meta *m, struct meta_q *qs, int n, uint64_t fence,
                          int64_t deadline_ns)
{
    struct meta *rd = m->route.rd;
    struct meta_q q[META_ROUTE_MAX_BATCH + 1];
    int64_t until = meta_mono_ns() + (int64_t)rd->timeout_ms * 1000000;
    struct meta_conn *c;
    if (meta_conn_get_until(rd, 1, until < deadline_ns ? until : deadline_ns, &c) < 0)
        return 0;   /* down (skipped at once), or the connect failed: reported */
    q[0] = (struct meta_q){ .stmt = MS_REPLAY_LSN };
    memcpy(q + 1, qs, (size_t)n * sizeof *qs);
    int err = meta_run(c, q, n + 1, 0);
    int used = 0;
    if (err == 0) {
        used = meta_r_isnull(q[0].res, 0, 0) || (uint64_t)meta_r_int(q[0].res, 0, 0) >= fence;
        PQclear(q[0].res);
        if (used)
            memcpy(qs, q + 1, (size_t)n * sizeof *qs);
        else
            meta_q_clear(q + 1, n);     /* behind the fence: the primary answers */
    } else if (err != -ETIMEDOUT && meta_conn_broken(c)) {
        meta_route_lost(rd, err);
    }
    meta_conn_put(c);
    return used;
}

int meta_route_run(struct meta_conn *c, struct meta_q *qs, int n)
{
    struct meta *m = c->m;
    struct meta_route *r = &m->route;
    int routable = r->rd && n <= META_ROUTE_MAX_BATCH && meta_conn_owned(m) != c;
    for (int i = 0; routable && i < n; i++)
        routable = meta_route_ok(qs[i].stmt);
    if (!routable)
        return meta_run(c, qs, n, 0);
    int64_t now = meta_mono_ns();
    pthread_mutex_lock(&r->mu);
    r->n_read++;
    int fresh = r->fence_at_ns > __atomic_load_n(&r->commit_ns, __ATOMIC_ACQUIRE)
             && now - r->fence_at_ns < (int64_t)r->lag_ms * 1000000;
    uint64_t fence = r->fence_lsn;
    pthread_mutex_unlock(&r->mu);
    if (fresh && meta_route_try(m, qs, n, fence, c->deadline_ns))
        return 0;
    __atomic_add_fetch(&r->n_primary, 1, __ATOMIC_RELAXED);
    if (fresh)
        return meta_run(c, qs, n, 0);
    /* the primary answers and renews the fence in the same round trip */
    struct meta_q q[META_ROUTE_MAX_BATCH + 1];
    memcpy(q, qs, (size_t)n * sizeof *qs);
    q[n] = (struct meta_q){ .stmt = MS_WAL_LSN };
    int64_t send_ns = meta_mono_ns();
    int rc = meta_run(c, q, n + 1, 0);
    if (rc == 0)
        meta_route_fence(m, q[n].res, send_ns);
    PQclear(q[n].res);
    memcpy(qs, q, (size_t)n * sizeof *qs);
    return rc;
}

/* meta_exec.c - running statements, one round trip per batch.
 *
 * Connections stay in libpq's pipeline mode: a batch sends a pending BEGIN,
 * a Parse for every statement not yet prepared on this connection, the
 * statements, an optional COMMIT and one Sync, then reads all the answers.
 * So the first use of a statement costs no extra round trip, and a
 * namespace change costs two (lock and check; apply and commit).
 * Statements between two Syncs without BEGIN form one implicit transaction,
 * which makes a single-batch change atomic without BEGIN/COMMIT at all.
 * Connections are non-blocking: every wait is a poll() that ends by the
 * call's deadline (meta_set_timeout), never a blocking libpq call.
 * Behind a transaction-pooling PgBouncer (SHIMFS_META_POOLER=transaction,
 * or detected: meta_conn.c) the same SQL goes unnamed (Parse, Bind and
 * Execute of the unnamed statement in the same batch), so no batch relies
 * on what an earlier one left on the server: each batch is either inside
 * one transaction, which PgBouncer keeps on one server connection, or a
 * whole implicit transaction by itself.
 * Routable reads may go to a read server first (meta_route.c); commits
 * are reported to it for read-your-writes.
 */
#include "meta_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define META_MAX_BATCH 66   /* meta_read_dirs_all sends 1 + META_DIRS_BATCH, plus
                               one for read routing (meta_route.c) */

enum meta_item_kind { MI_BEGIN, MI_PREPARE, MI_EXEC, MI_COMMIT, MI_ROLLBACK, MI_BOUND };
static const char *const meta_cmd_names[] = { "BEGIN", "PREPARE", "EXECUTE", "COMMIT", "ROLLBACK",
                                               "statement_timeout" };
struct meta_item { int kind; int q; };

int meta_tx_own(const struct meta_conn *c) { return c->tx == META_TX_OWN; }

static int meta_send_cmd(struct meta_conn *c, const char *sql)
{
    return PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0);
}

/* Through a pooler the server's statement_timeout cannot be a session
 * setting (no startup options; a SET would outlive our transaction on a
 * shared server connection): each transaction sets it locally, first. */
static int meta_send_bound(struct meta_conn *c)
{
    char t[24];
    snprintf(t, sizeof t, "%d", c->m->timeout_ms);
    const char *v[1] = { t };
    return PQsendQueryParams(c->pg, "SELECT set_config('statement_timeout', $1, true)", 1, NULL,
                             v, NULL, NULL, 1);
}

static int meta_send_q(struct meta_conn *c, const struct meta_q *q,
                       struct meta_item *items, int *ni, int qi)
{
    const struct meta_stmt *s = &meta_stmts[q->stmt];
    const struct meta_params *p = q->p;
    int np = p ? p->n : 0;
    const char *const *vals = p ? p->val : NULL;
    const int *lens = p ? p->len : NULL, *fmts = p ? p->fmt : NULL;
    if (!__atomic_load_n(&c->m->use_prepare, __ATOMIC_RELAXED))
        goto unnamed;
    if (!c->prepared[q->stmt]) {
        if (!PQsendPrepare(c->pg, s->name, s->sql, 0, NULL))
            return -1;
        /* Set now so a second use in this batch does not Parse again;
         * cleared below if the Parse fails. */
        c->prepared[q->stmt] = 1;
        items[(*ni)++] = (struct meta_item){ MI_PREPARE, qi };
    }
    items[(*ni)++] = (struct meta_item){ MI_EXEC, qi };
    return PQsendQueryPrepared(c->pg, s->name, np, vals, lens, fmts, 1) ? 0 : -1;
unnamed:
    items[(*ni)++] = (struct meta_item){ MI_EXEC, qi };
    return PQsendQueryParams(c->pg, s->sql, np, NULL, vals, lens, fmts, 1) ? 0 : -1;
}

/* Until PQgetResult can be called without blocking: 0, -ETIMEDOUT once
 * the call's deadline has passed, -ECONNREFUSED when the connection
 * failed. Pushes out what libpq still holds to send meanwhile (the
 * connection is non-blocking, so a frozen server never blocks a send). */
static int meta_conn_wait(struct meta_conn *c)
{
    for (;;) {
        int pending = PQflush(c->pg);
        if (pending < 0)
            return -ECONNREFUSED;
        if (!PQisBusy(c->pg))
            return 0;
        int64_t left = c->deadline_ns - meta_mono_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pf = { PQsocket(c->pg), POLLIN | (pending ? POLLOUT : 0), 0 };
        if (pf.fd < 0 || meta_conn_broken(c))
            return -ECONNREFUSED;
        int r = poll(&pf, 1, (int)((left + 999999) / 1000000));
        if (r < 0 && errno != EINTR)
            return -ECONNREFUSED;
        if (r > 0 && (pf.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c->pg))
            return -ECONNREFUSED;
    }
}

static int meta_result(struct meta_conn *c, PGresult **r)
{
    int rc = meta_conn_wait(c);
    *r = rc == 0 ? PQgetResult(c->pg) : NULL;
    return rc;
}

/* The call could not finish: report it (a timeout marks the database down:
 * one line per outage interval) and drop the connection, whose protocol
 * state is now unknown. The server gives up on its side by
 * statement_timeout, or when it next writes to the closed socket. */
static int meta_conn_fail(struct meta_conn *c, int rc, const char *what)
{
    if (rc == -ETIMEDOUT) {
        char why[800];
        snprintf(why, sizeof why, "%s: no answer within %d ms during %s; connection dropped",
                 c->m->describe, c->m->timeout_ms, what);
        meta_down_failed(c->m, -ETIMEDOUT, why);
    } else {
        rc = meta_conn_error(c, NULL, what);
    }
    meta_conn_drop(c);
    return rc;
}

/* Records what one answer means for the connection and the batch. */
static void meta_take(struct meta_conn *c, const struct meta_item *it, struct meta_q *qs,
                      PGresult *r, int *err)
{
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (st == PGRES_FATAL_ERROR && *err == 0) {
        const char *what = it->kind == MI_EXEC || it->kind == MI_PREPARE
                         ? meta_stmts[qs[it->q].stmt].name : meta_cmd_names[it->kind];
        *err = meta_conn_error(c, r, what);
    } else if (!ok && st != PGRES_PIPELINE_ABORTED && *err == 0) {
        *err = meta_conn_error(c, r, "pipeline");
    }
    switch (it->kind) {
    case MI_BEGIN: if (ok) c->in_block = 1; break;
    case MI_ROLLBACK: c->in_block = 0; break;
    case MI_COMMIT: if (st != PGRES_PIPELINE_ABORTED) c->in_block = 0; break;
    case MI_PREPARE: if (!ok) c->prepared[qs[it->q].stmt] = 0; break;
    case MI_BOUND: break;
    case MI_EXEC:
        if (ok) {
            qs[it->q].res = r;
            meta_chg_note(&qs[it->q]);
            return;
        }
        break;
    }
    PQclear(r);
}

/* Reads the answers of items[0..ni) and the Sync. */
static int meta_collect(struct meta_conn *c, const struct meta_item *items, int ni,
                        struct meta_q *qs)
{
    int err = 0, rc;
    PGresult *r;
    for (int i = 0; i < ni; i++) {
        if ((rc = meta_result(c, &r)) < 0)
            goto failed;
        if (!r)
            goto lost;
        meta_take(c, &items[i], qs, r, &err);
        if (meta_conn_broken(c))
            goto lost;
        /* Each statement's answers end with a NULL. */
        for (int guard = 0; guard < 4; guard++) {
            if ((rc = meta_result(c, &r)) < 0)
                goto failed;
            if (!r)
                break;
            PQclear(r);
        }
    }
    if ((rc = meta_result(c, &r)) < 0)
        goto failed;
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        PQclear(r);
        goto lost;
    }
    PQclear(r);
    return err;
lost:
    if (err == 0)
        err = meta_conn_error(c, NULL, "reading results");
    meta_conn_drop(c);
    return err;
failed:
    rc = meta_conn_fail(c, rc, "reading results");
    return err ? err : rc;
}

/* Why a process connected at all: its first question after the version
 * check, once per handle, at debug level (SHIMFS_LOG=debug). A node's
 * processes that the node's shared answers should have served show here
 * which call still reaches the database. */
static void meta_exec_note_first(struct meta_conn *c, const struct meta_q *qs, int n)
{
    if (n < 1 || qs[0].stmt == MS_VERSION || !log_enabled(LOG_DEBUG) ||
        __atomic_exchange_n(&c->m->first_noted, 1, __ATOMIC_RELAXED))
        return;
    log_debug(META_LOG, "%s: first question of this process: %s%s", c->m->describe,
              meta_stmts[qs[0].stmt].name, n > 1 ? " (and more in its batch)" : "");
}

void meta_q_clear(struct meta_q *qs, int n)
{
    for (int i = 0; i < n; i++) {
        PQclear(qs[i].res);
        qs[i].res = NULL;
    }
}

static int meta_run_once(struct meta_conn *c, struct meta_q *qs, int n, int commit)
{
    struct meta_item items[2 * META_MAX_BATCH + 3];
    int ni = 0, err;
    if (n > META_MAX_BATCH || meta_conn_broken(c))
        return n > META_MAX_BATCH ? -E2BIG : -ECONNREFUSED;
    for (int i = 0; i < n; i++)
        qs[i].res = NULL;
    int64_t t0 = meta_mono_ns();
    meta_exec_note_first(c, qs, n);
    int own = meta_tx_own(c) && commit;
    int implicit = c->begin_pending && own;   /* the whole transaction is this batch */
    if (c->begin_pending && !implicit) {
        if (!meta_send_cmd(c, "BEGIN"))
            goto send_failed;
        items[ni++] = (struct meta_item){ MI_BEGIN, 0 };
    }
    c->begin_pending = 0;
    if (!c->in_block && __atomic_load_n(&c->m->pooler, __ATOMIC_RELAXED) != META_POOLER_NONE) {
        if (!meta_send_bound(c))
            goto send_failed;
        items[ni++] = (struct meta_item){ MI_BOUND, 0 };
    }
    for (int i = 0; i < n; i++)
        if (meta_send_q(c, &qs[i], items, &ni, i) < 0)
            goto send_failed;
    if (own && !implicit && (c->in_block || (ni && items[0].kind == MI_BEGIN))) {
        if (!meta_send_cmd(c, "COMMIT"))
            goto send_failed;
        items[ni++] = (struct meta_item){ MI_COMMIT, 0 };
    }
    if (!PQpipelineSync(c->pg))
        goto send_failed;
    err = meta_collect(c, items, ni, qs);
    void (*obs)(void *, int64_t, int) = __atomic_load_n(&c->m->observer, __ATOMIC_ACQUIRE);
    if (obs)
        obs(c->m->observer_arg, meta_mono_ns() - t0, err != 0 && err != -EAGAIN);
    if (err)
        meta_q_clear(qs, n);
    else if (own)
        meta_route_committed(c->m);     /* implicit or explicit COMMIT */
    if (err == -ECONNREFUSED)
        meta_conn_drop(c);      /* the server ended the session */
    return err;
send_failed:
    err = meta_conn_error(c, NULL, "sending");
    meta_conn_drop(c);
    return err;
}

int meta_run(struct meta_conn *c, struct meta_q *qs, int n, int commit)
{
    /* A batch that is a whole transaction by itself (no block open, none
     * begun by it) failed entirely when a pooler turned out to have moved
     * our session: it goes again, unnamed. Inside a block the transaction
     * is rerun instead (c->retry). */
    int whole = !c->in_block && !(c->begin_pending && !(meta_tx_own(c) && commit));
    c->moved = 0;
    int err = meta_run_once(c, qs, n, commit);
    if (err == -EAGAIN && c->moved && whole && !meta_conn_broken(c)) {
        c->retry = c->moved = 0;
        err = meta_run_once(c, qs, n, commit);
    }
    return err;
}

int meta_end(struct meta_conn *c, int commit)
{
    struct meta_item it = { commit ? MI_COMMIT : MI_ROLLBACK, 0 };
    if (!meta_send_cmd(c, commit ? "COMMIT" : "ROLLBACK") || !PQpipelineSync(c->pg)) {
        int err = meta_conn_error(c, NULL, "sending");
        meta_conn_drop(c);
        return err;
    }
    int err = meta_collect(c, &it, 1, NULL);
    c->in_block = 0;
    if (err == 0 && commit)
        meta_route_committed(c->m);
    return err;
}

int meta_run1(struct meta_conn *c, int stmt, const struct meta_params *p, PGresult **res)
{
    struct meta_q q = { .stmt = stmt, .p = p };
    int rc = meta_run(c, &q, 1, 0);
    *res = q.res;
    return rc;
}

static int meta_read_ex(struct meta *m, int raw, int stmt, const struct meta_params *p,
                        PGresult **res)
{
    int rc = 0;
    int64_t deadline = 0;       /* the retry is part of the same call */
    *res = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct meta_conn *c;
        rc = meta_conn_get_until(m, raw, deadline, &c);
        if (rc < 0)
            return rc;
        deadline = c->deadline_ns;
        int owned = meta_conn_owned(m) == c;
        struct meta_q q = { .stmt = stmt, .p = p };
        rc = meta_route_run(c, &q, 1);      /* the read server's, or c's */
        *res = q.res;
        int broken = rc < 0 && meta_conn_broken(c);
        meta_conn_put(c);
        if (!broken || owned)
            break;
        meta_pool_drop_idle(m);
        if (!m->quiet)
            log_info(META_LOG, "%s: connection lost; reconnecting once", m->describe);
    }
    return rc;
}

int meta_read(struct meta *m, int stmt, const struct meta_params *p, PGresult **res)
{
    return meta_read_ex(m, 0, stmt, p, res);
}

int meta_read_raw(struct meta *m, int stmt, const struct meta_params *p, PGresult **res)
{
    return meta_read_ex(m, 1, stmt, p, res);
}

int meta_exec_simple(struct meta_conn *c, const char *sql, const char *what)
{
    if (meta_conn_broken(c))
        return -ECONNREFUSED;
    if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg))
        return meta_conn_error(c, NULL, what);
    /* PQexec would block: send, then wait like every other round trip. */
    if (!PQsendQuery(c->pg, sql))
        return meta_conn_fail(c, -ECONNREFUSED, what);
    int rc = 0;
    for (int guard = 0; guard < 1024; guard++) {
        PGresult *r;
        int wrc = meta_result(c, &r);
        if (wrc < 0)
            return meta_conn_fail(c, wrc, what);
        if (!r)
            break;
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0)
            rc = meta_conn_error(c, r, what);
        PQclear(r);
    }
    if (!meta_conn_broken(c) && !PQenterPipelineMode(c->pg) && rc == 0)
        rc = meta_conn_error(c, NULL, what);
    return rc;
}

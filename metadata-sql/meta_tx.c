/* meta_tx.c - transactions: one per namespace change (meta_tx) or one
 * around a caller's batch of changes (meta_txn).
 *
 * Promises: a body runs with BEGIN pending (it goes out with the body's
 * first batch); the transaction commits when the body returns 0 and rolls
 * back otherwise; serialization failures, deadlocks and lost races are
 * rerun up to META_TX_ATTEMPTS times with a short randomised backoff, then
 * reported as -EIO with one log line. Inside meta_txn a change joins the
 * outer transaction, and a rerun, if needed, reruns the whole batch.
 */
#include "meta_int.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static void meta_backoff(int attempt)
{
    /* 1, 2, 4, 8 ms plus up to as much again: colliding clients spread. */
    unsigned base = 1000u << attempt;
    unsigned seed = (unsigned)meta_now_ns() ^ (unsigned)(uintptr_t)&attempt;
    usleep(base + (unsigned)rand_r(&seed) % base);
}

/* Ends the transaction the connection is in: COMMIT when rc == 0 and one
 * is open, else ROLLBACK if one is open. */
static int meta_tx_end(struct meta_conn *c, int rc)
{
    if (!c->in_block || meta_conn_broken(c))
        return rc;
    if (rc == 0)
        return meta_end(c, 1);
    if (meta_end(c, 0) < 0)
        meta_conn_drop(c);   /* never reuse a connection stuck in a transaction */
    return rc;
}

/* Runs fn (a body or the caller's batch) as one transaction, reruns it on
 * serialization failures. */
static int meta_tx_loop(struct meta_conn *c, int state, int (*fn)(struct meta_conn *, void *),
                        void *arg, const char *what, int notify)
{
    int rc = 0;
    for (int attempt = 0; attempt < META_TX_ATTEMPTS; attempt++) {
        if (attempt)
            meta_backoff(attempt - 1);
        if (meta_conn_broken(c) && (rc = meta_conn_connect(c)) < 0)
            return rc;
        c->tx = state;
        c->begin_pending = 1;
        c->retry = 0;
        meta_chg_reset();
        rc = fn(c, arg);
        rc = meta_tx_end(c, rc);
        c->tx = META_TX_NONE;
        c->begin_pending = 0;
        if (rc == 0 && notify)
            meta_notify_commit(c->m);
        if (rc == 0 || !c->retry)
            return rc;
    }
    log_error(META_LOG, "%s: %s: still conflicting after %d attempts", c->m->describe, what,
              META_TX_ATTEMPTS);
    c->retry = 0;
    return -EIO;
}

/* notify: the change is visible in the namespace (the commit hook runs);
 * session and garbage bookkeeping is not. */
static int meta_tx_run(struct meta *m, meta_tx_body body, void *arg, int notify)
{
    struct meta_conn *c;
    int rc = meta_conn_get(m, &c);
    if (rc < 0)
        return rc;
    if (c->tx == META_TX_OUTER)
        return body(c, arg);     /* joins meta_txn; its caller reruns if needed */
    rc = meta_tx_loop(c, META_TX_OWN, body, arg, "transaction", notify);
    meta_conn_put(c);
    return rc;
}

int meta_tx(struct meta *m, meta_tx_body body, void *arg)
{
    return meta_tx_run(m, body, arg, 1);
}

struct meta_change1 { int stmt; const struct meta_params *p; PGresult *res; };

static int meta_change1_body(struct meta_conn *c, void *arg)
{
    struct meta_change1 *ch = arg;
    PQclear(ch->res);   /* a rerun replaces the previous attempt's answer */
    ch->res = NULL;
    struct meta_q q = { .stmt = ch->stmt, .p = ch->p };
    int rc = meta_run(c, &q, 1, 1);
    ch->res = q.res;
    return rc;
}

int meta_change1(struct meta *m, int stmt, const struct meta_params *p, PGresult **res)
{
    struct meta_change1 ch = { stmt, p, NULL };
    int rc = meta_tx_run(m, meta_change1_body, &ch, 0); /* sessions, orphans, xattrs, gc */
    if (rc < 0) {
        PQclear(ch.res);
        ch.res = NULL;
    }
    *res = ch.res;
    return rc;
}

struct meta_txn_call { struct meta *m; int (*fn)(struct meta *, void *); void *arg; };

static int meta_txn_body(struct meta_conn *c, void *arg)
{
    (void)c;
    struct meta_txn_call *call = arg;
    return call->fn(call->m, call->arg);
}

int meta_txn(struct meta *m, int (*fn)(struct meta *m, void *arg), void *arg)
{
    if (meta_conn_owned(m))
        return fn(m, arg);       /* already inside: flatten */
    struct meta_conn *c;
    int rc = meta_conn_get(m, &c);
    if (rc < 0)
        return rc;
    meta_conn_set_owned(m, c);
    struct meta_txn_call call = { m, fn, arg };
    rc = meta_tx_loop(c, META_TX_OUTER, meta_txn_body, &call, "meta_txn", 1);
    meta_conn_set_owned(m, NULL);
    meta_conn_put(c);
    return rc;
}

void meta_notify_commit(struct meta *m)
{
    if (m->commit_hook)
        m->commit_hook(m->commit_arg);
}

void meta_set_commit_hook(struct meta *m, void (*fn)(void *arg), void *arg)
{
    m->commit_hook = fn;
    m->commit_arg = arg;
}

void meta_set_observer(struct meta *m, void (*fn)(void *arg, int64_t ns, int failed), void *arg)
{
    m->observer_arg = arg;
    __atomic_store_n(&m->observer, fn, __ATOMIC_RELEASE);
}

int64_t meta_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int meta_check_name(const char *name, size_t nlen)
{
    if (nlen == 0 || !name)
        return -ENOENT;
    if (nlen > META_NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

/* Group commit. The WAL is one sequence: a synchronous commit that wrote
 * WAL returns once the WAL up to it is on disk, so every commit that was
 * acknowledged before it began, lazy ones (META_CREATE_LAZY,
 * META_WRITE_LAZY) of any connection or client included, is durable then.
 * The handle counts its lazy commits, and which of them such a commit has
 * covered, so meta_sync costs a round trip only when one is not. */
void meta_lazy_note(struct meta *m)
{
    __atomic_add_fetch(&m->lazy_done, 1, __ATOMIC_ACQ_REL);
}

uint64_t meta_lazy_mark(struct meta *m)
{
    return __atomic_load_n(&m->lazy_done, __ATOMIC_ACQUIRE);
}

void meta_lazy_covered(struct meta *m, uint64_t mark)
{
    uint64_t cur = __atomic_load_n(&m->lazy_synced, __ATOMIC_ACQUIRE);
    while (cur < mark && !__atomic_compare_exchange_n(&m->lazy_synced, &cur, mark, 0,
                                                      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

/* PostgreSQL flushes at commit only for a transaction that wrote WAL:
 * MS_WAL_FLUSH writes a transactional logical message (test_inline crashes
 * the database right after an empty file's creator exits to check it). */
int meta_sync(struct meta *m, int flags)
{
    uint64_t mark = meta_lazy_mark(m);
    if (!(flags & META_SYNC_ALL) && __atomic_load_n(&m->lazy_synced, __ATOMIC_ACQUIRE) >= mark)
        return 0;
    PGresult *r;
    int rc = meta_change1(m, MS_WAL_FLUSH, NULL, &r);
    if (rc == 0) {
        PQclear(r);
        meta_lazy_covered(m, mark);
    }
    return rc;
}

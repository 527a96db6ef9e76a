/* meta_pool.c - the handle and its small pool of connections.
 *
 * Promises: meta_open never touches the network; a connection is made the
 * first time a thread needs one (SHIMFS_META_CONNS of them at most,
 * default 2; a thread waits for a free one). A thread inside meta_txn keeps
 * its connection for every nested call (thread-local), so nested calls
 * join the transaction and can never wait on the pool. After fork the
 * child forgets the parent's connections without sending a byte on them.
 * Every borrow starts a call's clock (meta_set_timeout, default
 * META_TIMEOUT_DEFAULT_MS): waiting for a free connection, connecting and
 * each round trip all end by that deadline.
 */
#include "meta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static __thread struct meta *meta_tls_m;

/* The pool's waits are timed against CLOCK_MONOTONIC, like deadlines. */
static void meta_pool_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}
static __thread struct meta_conn *meta_tls_c;

static int meta_env_int(const char *name, int def, int lo, int hi)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        log_warn(META_LOG, "%s=%s: not a number in [%d, %d]; using %d", name, s, lo, hi, def);
        return def;
    }
    return (int)v;
}

int meta_open_one(const char *conninfo, struct meta **out)
{
    struct meta *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->conninfo = strdup(conninfo ? conninfo : "");
    if (!m->conninfo) {
        free(m);
        return -ENOMEM;
    }
    char *err = NULL;
    PQconninfoOption *opts = *m->conninfo ? PQconninfoParse(m->conninfo, &err) : NULL;
    if (*m->conninfo && !opts) {
        /* libpq's parse message may quote the string, password included. */
        log_error(META_LOG, "SHIMFS_META is not a valid libpq URL or conninfo string");
        PQfreemem(err);
        free(m->conninfo);
        free(m);
        return -EINVAL;
    }
    PQconninfoFree(opts);
    meta_conn_describe(m->conninfo, m->describe, sizeof m->describe);
    m->use_prepare = meta_env_int("SHIMFS_META_PREPARE", 1, 0, 1);
    m->pooler = meta_pooler_from_env();
    if (m->pooler == META_POOLER_TRANSACTION)
        m->use_prepare = 0;
    m->nconns = meta_env_int("SHIMFS_META_CONNS", 2, 1, META_MAX_CONNS);
    m->timeout_ms = META_TIMEOUT_DEFAULT_MS;
    meta_down_init(&m->down);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->route.mu, NULL);
    meta_pool_cond_init(&m->cv);
    for (int i = 0; i < m->nconns; i++) {
        m->conns[i].m = m;
        m->conns[i].slot = -1;
    }
    *out = m;
    return 0;
}

int meta_open(const char *conninfo, struct meta **out)
{
    struct meta *m;
    int rc = meta_open_one(conninfo, &m);
    if (rc < 0)
        return rc;
    if ((rc = meta_route_open(m)) < 0) {
        meta_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    meta_route_close(m);
    meta_gate_close(m);
    for (int i = 0; i < m->nconns; i++)
        meta_conn_drop(&m->conns[i]);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->down.mu);
    free(m->conninfo);
    free(m);
}

void meta_after_fork(struct meta *m)
{
    if (!m)
        return;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < m->nconns; i++) {
        struct meta_conn *c = &m->conns[i];
        if (!c->pg)
            continue;
        int fd = PQsocket(c->pg);
        if (devnull >= 0 && fd >= 0 && dup2(devnull, fd) >= 0 && !c->busy) {
            /* Its Terminate message now goes to /dev/null. */
            PQfinish(c->pg);
        }
        /* A connection another parent thread was using may be mid-message:
         * it is leaked rather than freed in an unknown state. */
        c->pg = NULL;
        c->busy = 0;
        c->tx = META_TX_NONE;
        c->begin_pending = c->in_block = c->retry = 0;
        memset(c->prepared, 0, sizeof c->prepared);
    }
    if (devnull >= 0)
        close(devnull);
    meta_gate_after_fork(m);
    pthread_mutex_init(&m->mu, NULL);
    meta_pool_cond_init(&m->cv);
    pthread_mutex_init(&m->down.mu, NULL);
    m->down.probing = 0;    /* the probing thread, if any, is the parent's */
    meta_route_after_fork(m);
    /* The parent's session stays the parent's: the child starts its own. */
    m->sid = 0;
    if (meta_tls_m == m) {
        meta_tls_m = NULL;
        meta_tls_c = NULL;
    }
}

const char *meta_describe(const struct meta *m)
{
    return m ? m->describe : "(none)";
}

struct meta_conn *meta_conn_owned(const struct meta *m)
{
    return meta_tls_m == m ? meta_tls_c : NULL;
}

void meta_conn_set_owned(struct meta *m, struct meta_conn *c)
{
    meta_tls_m = c ? m : NULL;
    meta_tls_c = c;
}

/* A connected idle slot if any, else an unconnected one, else NULL. */
static struct meta_conn *meta_pool_pick(struct meta *m)
{
    struct meta_conn *spare = NULL;
    for (int i = 0; i < m->nconns; i++) {
        struct meta_conn *c = &m->conns[i];
        if (c->busy)
            continue;
        if (c->pg)
            return c;
        if (!spare)
            spare = c;
    }
    return spare;
}

void meta_set_timeout(struct meta *m, int timeout_ms)
{
    assert(m);
    m->timeout_ms = timeout_ms > 0 ? timeout_ms : META_TIMEOUT_DEFAULT_MS;
    meta_route_set_timeout(m);
}

int meta_conn_get_until(struct meta *m, int raw, int64_t deadline_ns, struct meta_conn **out)
{
    struct meta_conn *c = meta_conn_owned(m);
    if (deadline_ns <= 0)
        deadline_ns = meta_mono_ns() + (int64_t)m->timeout_ms * 1000000;
    if (c) {
        c->deadline_ns = deadline_ns;   /* a nested call: its own bound */
        *out = c;
        return 0;
    }
    struct timespec until = { deadline_ns / 1000000000, deadline_ns % 1000000000 };
    int timed_out = 0;
    pthread_mutex_lock(&m->mu);
    while (!(c = meta_pool_pick(m)) && !timed_out)
        timed_out = pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT;
    if (c)
        c->busy = 1;
    pthread_mutex_unlock(&m->mu);
    if (!c) {
        /* Every connection is stuck in a call of its own. */
        char why[600];
        snprintf(why, sizeof why, "%s: no free connection within %d ms", m->describe, m->timeout_ms);
        meta_down_failed(m, -ETIMEDOUT, why);
        return -ETIMEDOUT;
    }
    c->retry = 0;
    c->deadline_ns = deadline_ns;
    /* While the database is known down a connection that looks open is
     * probably dead too: the connect below answers fast or probes. */
    if (c->pg && meta_down_known(m))
        meta_conn_drop(c);
    if (meta_conn_broken(c)) {
        int rc = meta_conn_connect(c);
        if (rc < 0) {
            meta_conn_put(c);
            return rc;
        }
    }
    if (!raw && !__atomic_load_n(&m->checked, __ATOMIC_ACQUIRE)) {
        int rc = meta_check_version(c);
        if (rc < 0) {
            meta_conn_put(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

int meta_conn_get_raw(struct meta *m, struct meta_conn **out)
{
    return meta_conn_get_until(m, 1, 0, out);
}

int meta_conn_get(struct meta *m, struct meta_conn **out)
{
    int rc = meta_conn_get_until(m, 0, 0, out);
    if (rc < 0)
        *out = NULL;
    return rc;
}

void meta_pool_drop_idle(struct meta *m)
{
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nconns; i++)
        if (!m->conns[i].busy)
            meta_conn_drop(&m->conns[i]);
    pthread_mutex_unlock(&m->mu);
}

void meta_conn_put(struct meta_conn *c)
{
    if (!c || meta_conn_owned(c->m) == c)
        return;
    struct meta *m = c->m;
    meta_gate_call_ended(c);
    pthread_mutex_lock(&m->mu);
    c->busy = 0;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

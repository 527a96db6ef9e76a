/* meta_handle.c - the metadata handle core/ holds (meta.h). It stands for
 * the engine's handle and opens it on its first use, through the engine's
 * table (backend_lazy.h), so that meta_open never loads libpq.
 *
 * Promises: the engine's handle is opened at most once, and a failure to
 * open it is remembered (a bad connection string stays bad); a commit hook
 * timeout or connection gate set before is applied to it as it opens; meta_session_id and
 * meta_session_forget never load the engine (no session can exist before
 * it is loaded); meta_txn's body gets this handle back, so its meta_*
 * calls come here too.
 */
#include "meta.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend_lazy.h"

/* The engine's handle is also a `struct meta *`: each engine defines its
 * own struct meta (meta.h), never seen here. */
struct meta {
    pthread_mutex_t lock;
    char *conninfo;
    struct meta *db;            /* the engine's handle once opened (atomic) */
    const struct meta_ops *ops; /* its table, set before db */
    int err;                    /* opening failed: its answer */
    void (*hook)(void *);
    void *hook_arg;
    void (*observer)(void *, int64_t, int);
    void *observer_arg;
    int timeout_ms;             /* meta_set_timeout; 0: not set */
    const struct meta_conn_gate *gate; /* meta_set_conn_gate */
};

/* The engine's handle if opened already, else NULL. */
static struct meta *meta_handle_db(const struct meta *m)
{
    return __atomic_load_n(&m->db, __ATOMIC_ACQUIRE);
}

static int meta_handle_open_db(struct meta *m)
{
    const struct meta_ops *ops = backend_table(BACKEND_PG);
    if (!ops)
        return -EIO;
    pthread_mutex_lock(&m->lock);
    if (!m->db && !m->err) {
        struct meta *db;
        int rc = ops->open(m->conninfo, &db);
        if (rc == 0) {
            if (m->hook)
                ops->set_commit_hook(db, m->hook, m->hook_arg);
            if (m->observer)
                ops->set_observer(db, m->observer, m->observer_arg);
            if (m->timeout_ms)
                ops->set_timeout(db, m->timeout_ms);
            if (m->gate)
                ops->set_conn_gate(db, m->gate);
            m->ops = ops;
            __atomic_store_n(&m->db, db, __ATOMIC_RELEASE);
        } else {
            m->err = rc;
        }
    }
    int rc = m->db ? 0 : m->err;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_handle_use(struct meta *m, struct meta **db, const struct meta_ops **ops)
{
    assert(m && db && ops);
    struct meta *d = meta_handle_db(m);
    if (!d) {
        int rc = meta_handle_open_db(m);
        if (rc < 0)
            return rc;
        d = meta_handle_db(m);
    }
    *db = d;
    *ops = m->ops;
    return 0;
}

int meta_open(const char *conninfo, struct meta **out)
{
    assert(out);
    struct meta *m = calloc(1, sizeof *m);
    if (!m || !(m->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(m);
        return -ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    if (m->db)
        m->ops->close(m->db);
    pthread_mutex_destroy(&m->lock);
    free(m->conninfo);
    free(m);
}

void meta_after_fork(struct meta *m)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    if (!m)
        return;
    m->lock = fresh; /* a parent thread may have held it */
    if (m->db)
        m->ops->after_fork(m->db);
}

void meta_set_commit_hook(struct meta *m, void (*fn)(void *arg), void *arg)
{
    assert(m);
    pthread_mutex_lock(&m->lock);
    m->hook = fn;
    m->hook_arg = arg;
    if (m->db)
        m->ops->set_commit_hook(m->db, fn, arg);
    pthread_mutex_unlock(&m->lock);
}

void meta_set_observer(struct meta *m, void (*fn)(void *arg, int64_t ns, int failed), void *arg)
{
    assert(m);
    pthread_mutex_lock(&m->lock);
    m->observer = fn;
    m->observer_arg = arg;
    if (m->db)
        m->ops->set_observer(m->db, fn, arg);
    pthread_mutex_unlock(&m->lock);
}

void meta_set_timeout(struct meta *m, int timeout_ms)
{
    assert(m);
    pthread_mutex_lock(&m->lock);
    m->timeout_ms = timeout_ms;
    if (m->db)
        m->ops->set_timeout(m->db, timeout_ms);
    pthread_mutex_unlock(&m->lock);
}

void meta_set_conn_gate(struct meta *m, const struct meta_conn_gate *g)
{
    assert(m);
    pthread_mutex_lock(&m->lock);
    m->gate = g;
    if (m->db)
        m->ops->set_conn_gate(m->db, g);
    pthread_mutex_unlock(&m->lock);
}

const char *meta_describe(const struct meta *m)
{
    struct meta *db;
    const struct meta_ops *ops;
    if (!m || meta_handle_use((struct meta *)m, &db, &ops) < 0)
        return "(metadata engine not loaded)";
    return ops->describe(db);
}

uint64_t meta_session_id(struct meta *m)
{
    assert(m);
    struct meta *db = meta_handle_db(m);
    return db ? m->ops->session_id(db) : 0;
}

void meta_session_forget(struct meta *m, uint64_t sid)
{
    assert(m);
    struct meta *db = meta_handle_db(m);
    if (db)
        m->ops->session_forget(db, sid);
}

struct meta_handle_txn {
    struct meta *m;
    int (*fn)(struct meta *m, void *arg);
    void *arg;
};

static int meta_handle_txn_body(struct meta *db, void *arg)
{
    struct meta_handle_txn *t = arg;
    (void)db;
    return t->fn(t->m, t->arg); /* the body calls back with this handle */
}

int meta_txn(struct meta *m, int (*fn)(struct meta *m, void *arg), void *arg)
{
    struct meta *db;
    const struct meta_ops *ops;
    int rc = meta_handle_use(m, &db, &ops);
    if (rc < 0)
        return rc;
    struct meta_handle_txn t = { m, fn, arg };
    return ops->txn(db, meta_handle_txn_body, &t);
}

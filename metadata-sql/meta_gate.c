/* meta_gate.c - connections made under the node's bound (meta.h,
 * struct meta_conn_gate; core/agent/nodeconn.h holds the slots).
 *
 * Why here: only the engine knows when a connection is opened and closed,
 * and the bound is on connections, not on calls: PostgreSQL refuses a
 * client past max_connections ("too many clients"), whatever it was about
 * to ask. A connection holds its slot from before it connects until it is
 * closed.
 *
 * Promises: a connection is made only with a slot (waiting at most until
 * the call's deadline, -ETIMEDOUT otherwise, nothing else changed);
 * closing it gives the slot back; a connection idle for META_GATE_IDLE_MS
 * is closed when another process of the node waits for a slot, checked
 * every half of that (one small thread per handle while it holds slots;
 * it leaves when the handle holds none); a connection closed here or at
 * the process's exit frees its slot once the server has ended it (or
 * after META_GATE_CLOSE_MS), so that the server never counts more than the
 * bound. Without a gate nothing of this runs.
 */
#include "meta_int.h"
#include "thread.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

static const struct meta_conn_gate *meta_gate_of(const struct meta *m)
{
    return __atomic_load_n(&m->gate, __ATOMIC_ACQUIRE);
}

void meta_set_conn_gate(struct meta *m, const struct meta_conn_gate *g)
{
    assert(m);
    __atomic_store_n(&m->gate, g, __ATOMIC_RELEASE);
    if (m->route.rd)
        __atomic_store_n(&m->route.rd->gate, g, __ATOMIC_RELEASE);
}

/* Connections that hold a slot and ran nothing for META_GATE_IDLE_MS:
 * closed (under m->mu). A process's calls come in bursts (a cold open is
 * a walk, a listing, a block map, a few ms apart): closing after each
 * would make it connect again, 10-30 ms, for the next. Returns how many
 * slots the handle still holds. */
static int meta_gate_drop_idle_locked(struct meta *m)
{
    int held = 0;
    int64_t before = meta_mono_ns() - (int64_t)META_GATE_IDLE_MS * 1000000;
    for (int i = 0; i < m->nconns; i++) {
        struct meta_conn *c = &m->conns[i];
        if (!c->busy && c->slot >= 0 && c->idle_since_ns <= before)
            meta_conn_drop(c);
        held += c->slot >= 0;
    }
    return held;
}

static void *meta_gate_idler(void *arg)
{
    struct meta *m = arg;
    const struct meta_conn_gate *g = meta_gate_of(m);
    for (;;) {
        struct timespec ts = { 0, META_GATE_IDLE_MS * 1000000L / 2 };
        nanosleep(&ts, NULL);
        int contended = g->contended(g->arg);
        pthread_mutex_lock(&m->mu);
        int held = 0;
        for (int i = 0; i < m->nconns; i++)
            held += m->conns[i].slot >= 0;
        if (contended && !m->closing)
            held = meta_gate_drop_idle_locked(m);
        if (m->closing || held == 0) {
            /* meta_close joins it; otherwise nobody will */
            if (!m->closing)
                pthread_detach(pthread_self());
            m->idler = 0;
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        pthread_mutex_unlock(&m->mu);
    }
}

/* Handles that took a slot, for the exit below (a process has one or
 * two); meta_gate_close takes its handle out. */
#define META_GATE_HANDLES 8
static struct meta *meta_gate_handles[META_GATE_HANDLES];
static pthread_once_t meta_gate_exit_once = PTHREAD_ONCE_INIT;

/* At exit, connections still open are closed and their slots given back
 * with their grace (the kernel would drop the slot's lock at once while
 * the backend is still exiting, and the node's next connection would make
 * one more than the bound for a moment). Not waited for: a short command
 * (stat, ls) would spend 1-5 ms of its life watching its backend exit,
 * and the node's next process takes a slot without grace first
 * (core/agent/nodeconn.c). */
static void meta_gate_at_exit(void)
{
    for (int i = 0; i < META_GATE_HANDLES; i++) {
        struct meta *m = __atomic_load_n(&meta_gate_handles[i], __ATOMIC_ACQUIRE);
        if (!m || pthread_mutex_trylock(&m->mu) != 0)
            continue; /* another thread is in it: leave it to the kernel */
        for (int k = 0; k < m->nconns; k++)
            if (!m->conns[k].busy && m->conns[k].slot >= 0)
                meta_conn_end(&m->conns[k], 0);
        pthread_mutex_unlock(&m->mu);
    }
}

static void meta_gate_hook_exit(void)
{
    (void)atexit(meta_gate_at_exit);
}

static void meta_gate_remember(struct meta *m)
{
    (void)pthread_once(&meta_gate_exit_once, meta_gate_hook_exit);
    for (int i = 0; i < META_GATE_HANDLES; i++)
        if (__atomic_load_n(&meta_gate_handles[i], __ATOMIC_ACQUIRE) == m)
            return;
    for (int i = 0; i < META_GATE_HANDLES; i++) {
        struct meta *none = NULL;
        if (__atomic_compare_exchange_n(&meta_gate_handles[i], &none, m, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
}

/* The idle closer, if not running (called with a slot just taken). */
static void meta_gate_start_idler(struct meta *m)
{
    meta_gate_remember(m);
    pthread_mutex_lock(&m->mu);
    if (!m->idler && !m->closing) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* no signal of the host's lands there */
        if (thread_start(&m->idler_thread, NULL, meta_gate_idler, m) == 0)
            m->idler = 1;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_mutex_unlock(&m->mu);
}

int meta_gate_acquire(struct meta_conn *c)
{
    const struct meta_conn_gate *g = meta_gate_of(c->m);
    if (!g || c->slot >= 0)
        return 0;
    int slot = g->acquire(g->arg, c->deadline_ns);
    if (slot < 0)
        return slot;
    c->slot = slot;
    meta_gate_start_idler(c->m);
    return 0;
}

void meta_gate_release(struct meta_conn *c, int closed)
{
    const struct meta_conn_gate *g = meta_gate_of(c->m);
    if (c->slot >= 0 && g)
        g->release(g->arg, closed ? c->slot | META_GATE_CLOSED : c->slot);
    c->slot = -1;
}

void meta_gate_call_ended(struct meta_conn *c)
{
    c->idle_since_ns = meta_mono_ns();
}

void meta_gate_close(struct meta *m)
{
    for (int i = 0; i < META_GATE_HANDLES; i++) {
        struct meta *mine = m;
        __atomic_compare_exchange_n(&meta_gate_handles[i], &mine, NULL, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    pthread_mutex_lock(&m->mu);
    m->closing = 1;
    int join = m->idler;
    pthread_mutex_unlock(&m->mu);
    if (join)
        pthread_join(m->idler_thread, NULL);
}

void meta_gate_after_fork(struct meta *m)
{
    /* the idle closer was the parent's thread; the slots are the parent's
     * (core/agent/nodeconn.c lets go of the child's copies) */
    m->idler = 0;
    for (int i = 0; i < m->nconns; i++)
        m->conns[i].slot = -1;
}

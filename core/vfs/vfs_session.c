/* vfs_session.c - this process's session with the volume, and the
 * background thread that keeps it alive and compacts slice lists.
 *
 * A process gets a session the first time it reserves slice ids or keeps
 * an unlinked file open; a process that only reads never gets one. The
 * session is what gc trusts: ids it reserved are never collected while it
 * lives (and a commit of ids whose session was reaped is refused), orphans
 * it owns are never dropped. One background thread heartbeats every third
 * of SHIMFS_SESSION_TIMEOUT and, between heartbeats, compacts the chunks
 * queued by commits whose slice lists grew past SHIMFS_COMPACT_SLICES. At
 * exit the queue is given a bounded time, then the session is closed; a
 * process that dies leaves it to expire and be reaped (gc, node agent). A
 * fork child starts its own session on its first write.
 *
 * Group commit: closes commit without waiting for the database's disk
 * (vfs_write.c); the process's exit makes them durable. The session's close
 * is a synchronous commit that flushes them for free; a process without a
 * session (it only created empty files) pays one round trip (meta_sync).
 * Why at exit and not later: a finished program's files should not depend
 * on the database surviving the next few hundred milliseconds, and the
 * flush costs nothing in a process that wrote data (its session close).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vfs_internal.h"
#include "thread.h"

#define VS_EXIT_WAIT_S 10
#define VS_QUEUE VFS_SESSION_QUEUE

static struct vfs_session_state *const vs = &vfs_eng.session;

static int64_t vs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void vs_cond_init_locked(void)
{
    if (vs->cond_ready)
        return;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&vs->cond, &a);
    pthread_condattr_destroy(&a);
    vs->cond_ready = 1;
}

static void vs_wait_until_locked(int64_t until)
{
    struct timespec ts = { (time_t)(until / 1000000000LL), (long)(until % 1000000000LL) };
    pthread_cond_timedwait(&vs->cond, &vs->lock, &ts);
}

static void vs_heartbeat(struct meta *m)
{
    uint64_t sid = meta_session_id(m);
    if (!sid)
        return;
    int rc = meta_session_heartbeat(m, sid);
    if (rc == -ENOENT) {
        /* Reaped: its reservations are gone and commits of their ids are
         * refused. The next reservation starts a new session. */
        log_error("session", "session %llu was reaped (this process was silent longer than its "
                  "timeout); writes not yet committed fail with EIO", (unsigned long long)sid);
        meta_session_forget(m, sid);
    }
}

static void *vs_thread(void *arg)
{
    (void)arg;
    int64_t every = vfs_eng.cfg.session_timeout_ns / 3, next = vs_mono_ns() + every;
    pthread_mutex_lock(&vs->lock);
    for (;;) {
        if (vs_mono_ns() >= next) {
            pthread_mutex_unlock(&vs->lock);
            vs_heartbeat(vfs_eng.meta);
            pthread_mutex_lock(&vs->lock);
            next = vs_mono_ns() + every;
        } else if (vs->head != vs->tail) {
            struct vfs_compact_job j = vs->q[vs->tail % VS_QUEUE];
            vs->busy = 1;
            pthread_mutex_unlock(&vs->lock);
            int rc = vfs_compact_chunk(j.ino, j.chunk);
            if (rc < 0 && rc != -EAGAIN && rc != -ENOENT)
                log_warn("session", "compacting inode %llu chunk %llu: %s; retried after its next "
                         "write", (unsigned long long)j.ino, (unsigned long long)j.chunk,
                         strerror(-rc));
            pthread_mutex_lock(&vs->lock);
            vs->tail++;
            vs->busy = 0;
            pthread_cond_broadcast(&vs->cond);
        } else {
            vs_wait_until_locked(next);
        }
    }
    return NULL;
}

/* At exit: staged writeback journals get their bounded time (their
 * commits may queue compactions), then queued compactions theirs, then the
 * session is closed (its reservations with it). */
static void vs_atexit(void)
{
    struct vfs_engine *e = vfs_opened();
    if (!e)
        return;
    if (meta_session_id(e->meta)) {
        vfs_wb_exit_wait();
        int64_t until = vs_mono_ns() + VS_EXIT_WAIT_S * 1000000000LL;
        pthread_mutex_lock(&vs->lock);
        while (vs->thread && (vs->head != vs->tail || vs->busy) && vs_mono_ns() < until)
            vs_wait_until_locked(until);
        pthread_mutex_unlock(&vs->lock);
        (void)meta_session_end(e->meta);
    }
    /* the lazy commits the session's close did not flush (none if it
     * closed one: then no round trip) */
    int rc = vfs_session_sync(0);
    /* info, not warn: nothing is lost by it (the commits are on the server,
     * whose WAL writer flushes them within ~3 x wal_writer_delay), and the
     * usual cause, the database unreachable, was logged once already */
    if (rc < 0)
        log_info("session", "exit: flushing this process's last commits failed: %s; they are "
                 "visible and become durable when the database flushes its WAL",
                 strerror(-rc));
}

void vfs_session_lazy(void)
{
    if (__atomic_load_n(&vs->lazy, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&vs->lock);
    if (!vs->exit_hooked && atexit(vs_atexit) == 0)
        vs->exit_hooked = 1;
    __atomic_store_n(&vs->lazy, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&vs->lock);
}

int vfs_session_sync(int flags)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || (!(flags & META_SYNC_ALL) && !__atomic_load_n(&vs->lazy, __ATOMIC_ACQUIRE)))
        return 0;
    return vfs_errno(meta_sync(e->meta, flags));
}

static void vs_start_thread_locked(void)
{
    vs_cond_init_locked();
    if (!vs->thread) {
        pthread_t t;
        if (thread_start(&t, NULL, vs_thread, NULL) == 0) {
            pthread_detach(t);
            vs->thread = 1;
        } else {
            log_warn("session", "cannot start the heartbeat thread; the session may expire "
                     "while this process writes");
        }
    }
    if (!vs->exit_hooked && atexit(vs_atexit) == 0)
        vs->exit_hooked = 1;
}

int vfs_session_ensure(void)
{
    struct vfs_engine *e = vfs_opened();
    assert(e);                  /* callers write to an open volume */
    if (meta_session_id(e->meta))
        return 0;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0)
        host[0] = '\0';
    pthread_mutex_lock(&vs->lock);
    int rc = meta_session_start(e->meta, host, (int)getpid(), e->cfg.session_timeout_ns);
    if (rc == 0)
        vs_start_thread_locked();
    pthread_mutex_unlock(&vs->lock);
    if (rc < 0)
        log_error("session", "cannot open a session with the volume: %s", strerror(-rc));
    return rc < 0 ? rc : 0;
}

void vfs_compact_queue(uint64_t ino, uint64_t chunk)
{
    pthread_mutex_lock(&vs->lock);
    int dup = 0;
    for (unsigned i = vs->tail; i != vs->head && !dup; i++)
        dup = vs->q[i % VS_QUEUE].ino == ino && vs->q[i % VS_QUEUE].chunk == chunk;
    /* A full queue drops the job: the chunk's next commit queues it again. */
    if (!dup && vs->thread && vs->head - vs->tail < VS_QUEUE) {
        vs->q[vs->head++ % VS_QUEUE] = (struct vfs_compact_job){ ino, chunk };
        pthread_cond_broadcast(&vs->cond);
    }
    pthread_mutex_unlock(&vs->lock);
}

void vfs_session_after_fork(struct vfs_engine *e)
{
    /* The thread stayed in the parent, and so did its session (the meta
     * handle forgot it); exit_hooked stays: the inherited handler ends the
     * child's own session. (The lock: the fork table.) */
    e->session.cond_ready = 0;
    e->session.thread = e->session.busy = 0;
    e->session.head = e->session.tail = 0;
    /* the parent's lazy commits are the parent's to flush (at its exit):
     * a child that exits without writing makes no round trip */
    e->session.lazy = 0;
}

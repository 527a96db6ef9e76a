/* cache_uring.c - the cache's io_uring rings: made lazily, one per use
 * (the writer thread's, and cache_read_many's), owned by one process.
 *
 * Promises: a ring is only used by the process that made it; after fork
 * cache_after_fork drops the child's copy of the mappings and descriptor
 * (the parent's ring is untouched: the kernel object lives on through the
 * parent's references) and the child makes its own on next use. When the kernel refuses io_uring (seccomp,
 * EPERM, ENOSYS, io_uring_disabled) the caller gets NULL and uses
 * pread/pwrite; that is logged once per process.
 */
#include <errno.h>
#include <string.h>

#include "cache_internal.h"
#include "io.h"
#include "log.h"

void cache_ring_init(struct cache_ring *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

/* The ring for the calling process, made on first use; NULL means "use the
 * plain syscalls". The caller serialises use of one ring. */
struct io_uring *cache_ring_get(struct cache *c, struct cache_ring *r)
{
    if (!c->use_uring)
        return NULL;
    if (r->state == 1)
        return &r->ring;
    if (r->state < 0)
        return NULL;
    /* the ring's descriptor lives as long as the cache, made by liburing
     * where we cannot move it: never where a shell dup2s (io.h) */
    int e = -EMFILE;
    for (int i = 0; i < IO_LOW_TRIES; i++) {
        struct io_low was;
        io_hold_low(&was);
        e = io_uring_queue_init(CACHE_RING_ENTRIES, &r->ring, 0);
        io_release_low(&was);
        if (e < 0 || r->ring.ring_fd >= IO_FD_FLOOR || i == IO_LOW_TRIES - 1)
            break;
        /* the program closed a low number while we held the rest */
        io_uring_queue_exit(&r->ring);
        e = -EMFILE;
    }
    if (e < 0) {
        r->state = -1;
        log_once(&c->log_uring, LOG_WARN, CACHE_MOD,
                 "io_uring unavailable: %s: using pread/pwrite", strerror(-e));
        return NULL;
    }
    r->state = 1;
    return &r->ring;
}

/* Unmap this process's copy and close its descriptor: in a child after
 * fork that leaves the parent's ring alone. The caller handles r->mu. */
void cache_ring_forget(struct cache_ring *r)
{
    if (r->state == 1)
        io_uring_queue_exit(&r->ring);
    memset(&r->ring, 0, sizeof r->ring);
    r->state = 0;
}

void cache_ring_close(struct cache_ring *r)
{
    cache_ring_forget(r);
    pthread_mutex_destroy(&r->mu);
}

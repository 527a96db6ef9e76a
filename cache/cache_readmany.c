/* cache_readmany.c - several cached blocks in one io_uring submission.
 *
 * Files are opened with openat (cheap, and an io_uring open would need
 * registered files to chain to its read), blocks used for the first time in
 * this process go through the verifying path of cache_read.c, and every
 * other read goes out in one batch per CACHE_RING_ENTRIES entries. If the
 * process's read ring is busy in another thread or unavailable, the same
 * reads are done with pread: results are identical either way.
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "cache_internal.h"

struct many_ent { int fd; int plain; uint64_t kh; };

/* Returns 0 when every queued read completed; otherwise the ring may still
 * hold requests or stale completions and must be thrown away. */
static int many_ring(struct io_uring *ring, struct cache_io *io, struct many_ent *e, int n)
{
    int queued = 0;
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = e[i].plain ? io_uring_get_sqe(ring) : NULL;
        if (!sqe)
            continue;
        io_uring_prep_read(sqe, e[i].fd, io[i].buf, (unsigned)io[i].len, io[i].off);
        io_uring_sqe_set_data64(sqe, (uint64_t)i);
        e[i].plain = 2;            /* in the ring */
        queued++;
    }
    int r = -EINTR;
    for (int t = 0; t < 100 && (r == -EINTR || r == -EAGAIN || r == -EBUSY); t++)
        r = io_uring_submit_and_wait(ring, (unsigned)queued);
    int reaped = 0;
    for (int t = 0; r >= 0 && reaped < queued && t < 1000; t++) {
        struct io_uring_cqe *cqe;
        int w = io_uring_wait_cqe(ring, &cqe);
        if (w < 0)
            continue;
        int i = (int)io_uring_cqe_get_data64(cqe);
        io[i].result = cqe->res;
        e[i].plain = 3;            /* done */
        io_uring_cqe_seen(ring, cqe);
        reaped++;
    }
    return reaped == queued ? 0 : -EIO;
}

static void many_chunk(struct cache *c, struct cache_io *io, int n)
{
    struct many_ent e[CACHE_RING_ENTRIES];
    int plain = 0;
    for (int i = 0; i < n; i++) {
        e[i].fd = cache_open_key(c, io[i].key, 1);
        e[i].plain = 0;
        io[i].result = -ENOENT;
        if (e[i].fd < 0)
            continue;
        e[i].kh = cache_key_hash(io[i].key);
        int seen = c->verify_every_read ? SEEN_NO : cache_seen_get(c, e[i].kh);
        if (seen == SEEN_FRESH && io[i].len <= UINT_MAX) {
            e[i].plain = 1;
            plain++;
        } else {
            io[i].result = cache_read_fd(c, e[i].fd, io[i].key, e[i].kh, io[i].buf, io[i].len, io[i].off);
        }
    }
    if (plain > 1 && pthread_mutex_trylock(&c->rring.mu) == 0) {
        struct io_uring *ring = cache_ring_get(c, &c->rring);
        if (ring && many_ring(ring, io, e, n) < 0)
            cache_ring_forget(&c->rring);
        pthread_mutex_unlock(&c->rring.mu);
    }
    for (int i = 0; i < n; i++) {
        if (e[i].fd < 0) {
            cache_count(c, CTR_MISSES, 1);
            continue;
        }
        if (e[i].plain == 1 || e[i].plain == 2)     /* not (or not surely) done by the ring */
            io[i].result = cache_pread_full(e[i].fd, io[i].buf, io[i].len, io[i].off);
        if (e[i].plain)
            io[i].result = cache_read_check_short(io[i].key, io[i].result, io[i].len, io[i].off);
        io[i].result = cache_read_done(c, io[i].key, e[i].kh, e[i].fd, io[i].result);
    }
}

int cache_read_many(struct cache *c, struct cache_io *io, int n)
{
    if (!c || (n > 0 && !io))
        return -EINVAL;
    for (int i = 0; i < n; i += CACHE_RING_ENTRIES)
        many_chunk(c, io + i, n - i < CACHE_RING_ENTRIES ? n - i : CACHE_RING_ENTRIES);
    return 0;
}

/* cache_readmany.c - several cached blocks in one io_uring submission.
 *
 * Files are opened with openat (cheap, and an io_uring open would need
 * registered files to chain to its read), then every read goes out in one
 * batch per CACHE_RING_ENTRIES entries; blocks used for the first time in
 * this process are verified afterwards (from the buffer when the read was
 * the whole block, else by reading the file, as cache_read does). If the
 * process's read ring is busy in another thread or unavailable, the same
 * reads are done with pread: results are identical either way.
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache_internal.h"

struct many_ent { int fd; int plain; int seen; uint64_t kh; };

/* What a finished read means: verified on first use (from the buffer when
 * it holds the whole block), refreshed LRU clock, short read = cut file. */
static ssize_t many_check(struct cache *c, struct cache_io *io, struct many_ent *e)
{
    struct stat st;
    ssize_t n = io->result;
    if (n < 0)
        return n;
    if (e->seen == SEEN_FRESH)
        return cache_read_check_short(io->key, n, io->len, io->off);
    if (fstat(e->fd, &st) < 0)
        return -errno;
    if (e->seen == SEEN_STALE) {
        cache_touch(e->fd, &st);
        n = cache_read_check_short(io->key, n, io->len, io->off);
    } else {
        int r = cache_verify_after(c, e->fd, io->key, &st, io->buf, n, io->off);
        n = r < 0 ? r : n;
    }
    if (n >= 0)
        cache_seen_set(c, e->kh);
    return n;
}

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
    int queued = 0;
    for (int i = 0; i < n; i++) {
        e[i].fd = cache_open_key(c, io[i].key, 1);
        e[i].plain = 0;
        io[i].result = -ENOENT;
        if (e[i].fd < 0)
            continue;
        e[i].kh = cache_key_hash(io[i].key);
        e[i].seen = c->verify_every_read ? SEEN_NO : cache_seen_get(c, e[i].kh);
        e[i].plain = io[i].len <= UINT_MAX;
        queued += e[i].plain;
    }
    if (queued > 1 && pthread_mutex_trylock(&c->rring.mu) == 0) {
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
        if (e[i].plain != 3)       /* not (or not surely) done by the ring */
            io[i].result = io_pread_full(e[i].fd, io[i].buf, io[i].len, io[i].off);
        io[i].result = many_check(c, &io[i], &e[i]);
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

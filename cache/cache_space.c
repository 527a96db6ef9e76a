/* cache_space.c - keeping the cache under its size limit and above the
 * free-space floor, across every process sharing the directory.
 *
 * Accounting: the shared page's `used` counts the bytes of published blocks
 * (whole 4 KiB pages, plus a page per sidecar) AND the reservations of
 * blocks being written. A writer reserves (compare-and-swap, refused past
 * the limit) before it creates a temp file, so files + temps on disk never
 * exceed `used`, and `used` never exceeds the limit, not even for a moment:
 * the cache does not overshoot, blocks in flight included. The floor is
 * checked with statvfs at each reservation (other processes' blocks in
 * flight are the only slack there).
 *
 * Locking (flock on dir/lock, never taken by readers):
 *  - a writer holds LOCK_SH from its reservation until its blocks are
 *    published and counted (or the reservation is returned);
 *  - a reservation that would pass the limit or the floor is returned, and
 *    the writer takes LOCK_EX to run cache_scan.c, which recounts usage
 *    exactly (repairing drift from crashes or outside deletion) and evicts
 *    the least recently used blocks; after CACHE_RESERVE_TRIES failed
 *    rounds the blocks are dropped and reservations pause CACHE_BACKOFF_SEC
 *    (a disk filled by others must not cost a scan per put);
 *  - removers (cache_remove, corrupt files) count their unlink only if they
 *    get LOCK_SH without waiting; during a scan they leave `used` high,
 *    which can only cause an early eviction, never an overshoot.
 * Unlinking a file another process is reading is safe on Linux: its reads
 * go on until it closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cache_internal.h"
#include "log.h"

#define CACHE_RESERVE_TRIES 4
#define CACHE_BACKOFF_SEC 5

static int space_flock(int fd, int op)
{
    if (fd < 0)
        return 0;
    for (int i = 0; i < 1000; i++) {
        if (flock(fd, op) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
    return -EINTR;
}

uint64_t cache_space_deficit(struct cache *c, uint64_t bytes)
{
    struct statvfs v;
    if (c->free_ratio <= 0 || fstatvfs(c->dir_fd, &v) < 0)
        return 0;
    double want = c->free_ratio * (double)v.f_blocks * (double)v.f_frsize;
    double after = (double)v.f_bavail * (double)v.f_frsize - (double)bytes;
    return after >= want ? 0 : (uint64_t)(want - after) + 1;
}

uint64_t cache_space_over(struct cache *c, uint64_t used)
{
    return c->limit && used > c->limit ? used - c->limit : 0;
}

static int64_t space_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* Reserve `bytes` for blocks about to be written. On success the caller
 * holds LOCK_SH until cache_space_release. -ENOSPC: drop the blocks. */
int cache_space_reserve(struct cache *c, uint64_t bytes)
{
    if ((c->limit && bytes > c->limit) || space_now() < c->space_backoff)
        return -ENOSPC;
    for (int i = 0; i < CACHE_RESERVE_TRIES; i++) {
        int r = space_flock(c->lock_fd, LOCK_SH);
        if (r < 0)
            return r;
        if (__atomic_load_n(&c->sh->magic, __ATOMIC_ACQUIRE) == CACHE_SHARED_MAGIC) {
            if (cache_used_reserve(c, bytes, c->limit) == 0) {
                if (!cache_space_deficit(c, bytes)) {
                    c->pending += bytes;
                    return 0;
                }
                cache_used_sub(c, bytes);
            }
        }
        r = space_flock(c->lock_fd, LOCK_EX);
        if (r < 0) {
            space_flock(c->lock_fd, LOCK_UN);
            return r;
        }
        if (__atomic_load_n(&c->sh->magic, __ATOMIC_ACQUIRE) != CACHE_SHARED_MAGIC)
            cache_scan(c, 0);
        else
            cache_scan(c, bytes);
        space_flock(c->lock_fd, LOCK_UN);
    }
    c->space_backoff = space_now() + CACHE_BACKOFF_SEC;
    log_once(&c->log_space, LOG_WARN, CACHE_MOD,
             "%s: no room for new blocks (limit %llu bytes, free-space floor %.0f%%): puts dropped",
             c->dir, (unsigned long long)c->limit, c->free_ratio * 100);
    return -ENOSPC;
}

/* Return what was reserved but not published, and drop LOCK_SH. */
void cache_space_release(struct cache *c, uint64_t unused)
{
    if (unused)
        cache_used_sub(c, unused);
    c->pending = 0;
    space_flock(c->lock_fd, LOCK_UN);
}

/* Unlink blocks/<key> (cache_remove, corrupt file). With `fd`, only if the
 * name still refers to that file: a fresh copy put since is left alone. */
int cache_space_unlink(struct cache *c, const char *key, int fd)
{
    struct stat st, mine;
    if (c->blocks_fd < 0 || fstatat(c->blocks_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -ENOENT;
    if (fd >= 0 && (fstat(fd, &mine) < 0 || mine.st_ino != st.st_ino || mine.st_dev != st.st_dev))
        return -ENOENT;
    int lk = openat(c->dir_fd, "lock", O_RDONLY | O_CLOEXEC);
    int counted = lk >= 0 && flock(lk, LOCK_SH | LOCK_NB) == 0;
    int r = unlinkat(c->blocks_fd, key, 0) < 0 ? -errno : 0;
    if (r == 0) {
        cache_sum_unlink(c, key);
        if (counted) {
            /* what its put reserved: the key's length (a cut file shrank) */
            uint64_t klen = cache_key_len(key);
            cache_used_sub(c, cache_cost(c, klen ? klen : (uint64_t)st.st_size));
            cache_files_add(c, -1);
        }
    }
    if (lk >= 0)
        close(lk);
    return r;
}

/* cache_seen.c - the per-process set of blocks already verified, and the
 * LRU clock (file mtime) kept by readers.
 *
 * A lossy, lock-free, 2-way set-associative table of 64-bit words: the high
 * 44 bits of the key's hash tag the entry, the low 20 bits hold when this
 * process last refreshed the file's mtime (4-second ticks). Bounded at
 * CACHE_SEEN_SLOTS words (512 KiB of address space, allocated on first use,
 * zero pages until touched). Losing an entry only costs a re-verification,
 * so races between threads overwriting a slot are harmless.
 * The mtime is the eviction clock (cache_space.c): refreshed on a hit at most
 * once a minute per block per process, so a warm read costs no extra syscall.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>

#include "cache_internal.h"

#define SEEN_TICK_BITS 20
#define SEEN_TICK_MASK ((1ull << SEEN_TICK_BITS) - 1)
#define SEEN_TICK_SHIFT 2
#define SEEN_STALE_TICKS (CACHE_TOUCH_SECONDS >> SEEN_TICK_SHIFT)

static uint64_t seen_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ((uint64_t)ts.tv_sec >> SEEN_TICK_SHIFT) & SEEN_TICK_MASK;
}

static uint64_t *seen_table(struct cache *c)
{
    uint64_t *t = __atomic_load_n(&c->seen, __ATOMIC_ACQUIRE);
    if (t)
        return t;
    t = calloc(CACHE_SEEN_SLOTS, sizeof *t);
    if (!t)
        return NULL;
    uint64_t *expect = NULL;
    if (!__atomic_compare_exchange_n(&c->seen, &expect, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        free(t);
        return expect;
    }
    return t;
}

static uint64_t *seen_find(uint64_t *t, uint64_t kh)
{
    uint64_t *pair = &t[kh & (CACHE_SEEN_SLOTS - 2)];
    for (int j = 0; j < 2; j++) {
        uint64_t e = __atomic_load_n(&pair[j], __ATOMIC_RELAXED);
        if (e && (e & ~SEEN_TICK_MASK) == (kh & ~SEEN_TICK_MASK))
            return &pair[j];
    }
    return NULL;
}

int cache_seen_get(struct cache *c, uint64_t kh)
{
    uint64_t *t = __atomic_load_n(&c->seen, __ATOMIC_ACQUIRE);
    uint64_t *e = t ? seen_find(t, kh) : NULL;
    if (!e)
        return SEEN_NO;
    uint64_t then = __atomic_load_n(e, __ATOMIC_RELAXED) & SEEN_TICK_MASK;
    return ((seen_tick() - then) & SEEN_TICK_MASK) >= SEEN_STALE_TICKS ? SEEN_STALE : SEEN_FRESH;
}

void cache_seen_set(struct cache *c, uint64_t kh)
{
    uint64_t *t = seen_table(c);
    if (!t)
        return;
    uint64_t v = (kh & ~SEEN_TICK_MASK) | seen_tick();
    uint64_t *e = seen_find(t, kh);
    if (!e) {
        uint64_t *pair = &t[kh & (CACHE_SEEN_SLOTS - 2)];
        if (!__atomic_load_n(&pair[0], __ATOMIC_RELAXED))
            e = &pair[0];
        else if (!__atomic_load_n(&pair[1], __ATOMIC_RELAXED))
            e = &pair[1];
        else
            e = &pair[(kh >> SEEN_TICK_BITS) & 1];   /* evict one of the two */
    }
    __atomic_store_n(e, v ? v : 1, __ATOMIC_RELAXED);
}

void cache_seen_forget(struct cache *c, uint64_t kh)
{
    uint64_t *t = __atomic_load_n(&c->seen, __ATOMIC_ACQUIRE);
    uint64_t *e = t ? seen_find(t, kh) : NULL;
    if (e)
        __atomic_store_n(e, 0, __ATOMIC_RELAXED);
}

/* Refresh the file's mtime (the eviction clock) unless another process did
 * within the last minute. Failures (read-only cache) are harmless. */
void cache_touch(int fd, const struct stat *st)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (st && now.tv_sec - st->st_mtim.tv_sec < CACHE_TOUCH_SECONDS)
        return;
    struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_NOW } };
    futimens(fd, ts);
}

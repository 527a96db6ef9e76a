/* cache_shared.c - the node-wide page every process of the node shares.
 *
 * dir/stats is one 4 KiB file mapped MAP_SHARED by every process using the
 * cache; all fields are native-endian u64 changed only with atomic adds, so
 * no lock and no syscall is needed to count (a hit costs two atomic adds).
 * Layout (struct cache_shared): magic, version, used, files, last_scan, then
 * the counters of enum cache_ctr (hits, misses, bytes_hit, puts, bytes_put,
 * evictions, corrupt, dropped, put_errors, scans, then the object-store
 * GETs: gets, get_bytes, get_ns, get_errors). `shimfs stats` reads it
 * with cache_get_node_stats.
 * `used`/`files` are the cross-process size accounting (cache_space.c): the
 * magic is written only after a scan has counted the directory, so a new or
 * lost stats file makes the next writer scan first. Counters are advisory
 * (a crash may lose nothing but an add in flight); usage is corrected by
 * every eviction scan.
 * When the page cannot be mapped (read-only or unwritable directory), the
 * counters live in the process (c->priv) and node totals are this process's.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cache_internal.h"
#include "trust.h"
#include "log.h"

_Static_assert(sizeof(struct cache_shared) <= CACHE_PAGE, "the shared page outgrew its file");

void cache_shared_open(struct cache *c)
{
    c->sh = &c->priv;
    c->sh_mapped = 0;
    if (c->dir_fd < 0)
        return;
    int fd = trust_file_open(c->dir_fd, "stats", O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size < (off_t)CACHE_PAGE && ftruncate(fd, CACHE_PAGE) < 0) {
        close(fd);
        return;
    }
    void *p = mmap(NULL, CACHE_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return;
    struct cache_shared *sh = p;
    uint64_t v = __atomic_load_n(&sh->version, __ATOMIC_ACQUIRE);
    if (v != 0 && v != CACHE_SHARED_VERSION) {
        log_warn(CACHE_MOD, "%s/stats: layout version %llu unknown: node counters kept per process",
                 c->dir, (unsigned long long)v);
        munmap(p, CACHE_PAGE);
        return;
    }
    c->sh = sh;
    c->sh_mapped = 1;
}

void cache_shared_close(struct cache *c)
{
    if (c->sh_mapped)
        munmap(c->sh, CACHE_PAGE);
    c->sh = &c->priv;
    c->sh_mapped = 0;
}

void cache_count(struct cache *c, enum cache_ctr i, uint64_t n)
{
    __atomic_fetch_add(&c->ctr[i], n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->sh->ctr[i], n, __ATOMIC_RELAXED);
}

const double cache_hist_bounds[CACHE_HIST_N] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,   0.25,   0.5,   1,    2.5,   5 };

static void cache_hist_note(struct cache *c, enum cache_ctr first, uint64_t ns)
{
    double s = (double)ns / 1e9;
    for (int i = 0; i < CACHE_HIST_N; i++)
        if (s <= cache_hist_bounds[i]) {
            cache_count(c, (enum cache_ctr)(first + i), 1);
            return;
        }
}

void cache_note_put(struct cache *c, uint32_t n, uint64_t bytes, uint64_t ns, int failed)
{
    if (!c)
        return;
    cache_count(c, CTR_OPUTS, n);
    cache_count(c, CTR_OPUT_NS, ns);
    cache_hist_note(c, CTR_PUT_HIST, ns);
    if (failed)
        cache_count(c, CTR_OPUT_ERRORS, n);
    else
        cache_count(c, CTR_OPUT_BYTES, bytes);
}

void cache_note_query(struct cache *c, uint64_t ns, int failed)
{
    if (!c)
        return;
    cache_count(c, CTR_QUERIES, 1);
    cache_count(c, CTR_QUERY_NS, ns);
    cache_hist_note(c, CTR_QUERY_HIST, ns);
    if (failed)
        cache_count(c, CTR_QUERY_ERRORS, 1);
}

void cache_note_commit(struct cache *c)
{
    if (c)
        cache_count(c, CTR_COMMITS, 1);
}

void cache_note_warm(struct cache *c, uint64_t bytes, uint64_t blocks)
{
    if (!c)
        return;
    cache_count(c, CTR_WARM_BYTES, bytes);
    cache_count(c, CTR_WARM_BLOCKS, blocks);
}

void cache_note_get(struct cache *c, uint64_t bytes, uint64_t ns, int failed)
{
    if (!c)
        return;
    cache_count(c, CTR_GETS, 1);
    cache_hist_note(c, CTR_GET_HIST, ns);
    cache_count(c, CTR_GET_NS, ns);
    if (failed)
        cache_count(c, CTR_GET_ERRORS, 1);
    else
        cache_count(c, CTR_GET_BYTES, bytes);
}

/* Add n unless that passes `limit` (0: none): the counter itself never goes
 * over the limit, not even for a moment. Returns 0 or -ENOSPC. */
int cache_used_reserve(struct cache *c, uint64_t n, uint64_t limit)
{
    uint64_t old = __atomic_load_n(&c->sh->used, __ATOMIC_RELAXED);
    do {
        if (limit && (old + n > limit || old + n < old))
            return -ENOSPC;
    } while (!__atomic_compare_exchange_n(&c->sh->used, &old, old + n, 1,
                                          __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    return 0;
}

/* Never wraps below zero: an underflow would read as a full cache forever. */
void cache_used_sub(struct cache *c, uint64_t n)
{
    uint64_t old = __atomic_load_n(&c->sh->used, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&c->sh->used, &old, old > n ? old - n : 0, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        ;
}

void cache_files_add(struct cache *c, int64_t n)
{
    uint64_t old = __atomic_load_n(&c->sh->files, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t nv = n < 0 && old < (uint64_t)-n ? 0 : old + (uint64_t)n;
        if (__atomic_compare_exchange_n(&c->sh->files, &old, nv, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return;
    }
}

/* cache.h - the node's block cache on local disk (the only io_uring user).
 *
 * Blocks are stored decompressed, one file per object key, under the cache
 * directory, shared by the node's processes of one user. Because objects
 * are immutable, a cached block can never be stale, only evicted.
 *
 * Promises:
 *  - A cache file's content is exactly the block's bytes, so its descriptor
 *    can be handed to a program as the file itself (st_size == block len).
 *  - Publication is atomic (write aside, then rename/linkat): no reader in
 *    any process ever sees a partial block.
 *  - Every block is verified when it enters the cache and when this process
 *    first uses it; a corrupt cache file is removed and reported as a miss.
 *  - The total stays under the size limit (plus blocks in flight) and above
 *    the free-space floor, across all processes sharing the directory.
 *  - Disk full, read-only or unwritable cache: puts fail quietly (one log
 *    line per process) and reads miss, so callers fall back to the store.
 *  - A directory another user could have written (not owned by the
 *    effective uid, writable by group or others, a symlink, or below a
 *    folder others can change: core/trust.h) is not used at all: every
 *    read misses, and no file another user owns is ever served.
 *  - io_uring does the disk I/O when the kernel allows it; otherwise
 *    pread/pwrite (one log line). Rings are per process, remade after fork
 *    (cache_after_fork).
 * All functions are thread-safe and return 0 or a negative errno.
 */
#ifndef SHIMFS_CACHE_H
#define SHIMFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cache;

struct cache_config {
    const char *dir;
    uint64_t size_limit;     /* bytes; 0: no limit but the free-space floor */
    double free_space_ratio;
    int verify_every_read;   /* 1: checksum on every cache_read */
    int trust_after_fill;    /* 1: verify only when a block enters the cache,
                                not again on first use in each process */
    int use_uring;           /* 0: never try io_uring */
    uint64_t queue_bytes;    /* cache_put's queue: at most this many bytes
                                waiting for the disk (0: 64 MiB, also the most) */
};

/* Latency histogram buckets: upper bounds in seconds (cache_shared.c). */
#define CACHE_HIST_N 12
extern const double cache_hist_bounds[CACHE_HIST_N];

struct cache_stats {
    uint64_t hits, misses, bytes_hit, puts, bytes_put, evictions, corrupt;
    uint64_t used_bytes, limit_bytes, files;
    uint64_t dropped;        /* puts not stored: queue full or no room */
    uint64_t put_errors;     /* puts that failed: disk full, read-only... */
    uint64_t gets, get_bytes, get_ns, get_errors; /* cache_note_get */
    uint64_t obj_puts, obj_put_bytes, obj_put_ns, obj_put_errors; /* cache_note_put */
    uint64_t queries, query_ns, query_errors;     /* cache_note_query */
    uint64_t commits;                             /* cache_note_commit */
    uint64_t warm_bytes, warm_blocks;              /* cache_note_warm */
    /* latency histograms: observations per bucket (not cumulative), the
     * upper bounds in cache_hist_bounds; what lies above the last is the
     * count less their sum */
    uint64_t get_hist[CACHE_HIST_N], put_hist[CACHE_HIST_N], query_hist[CACHE_HIST_N];
};

int cache_open(const struct cache_config *cfg, struct cache **out);
void cache_close(struct cache *c);
/* In a fork child, before the child uses or closes c: forget the parent's
 * writer thread, queue, rings and lock (the parent keeps them). The cache
 * does not check the pid on its own paths (a getpid per put and per read
 * batch): whoever forks with a cache open calls this in the child; the
 * shim's engine does it from its fork handler (core/vfs/vfs_engine.c). */
void cache_after_fork(struct cache *c);

/* Read [off, off+len) of a cached block into buf. Returns bytes read, or
 * -ENOENT on a miss (also after dropping a corrupt file). */
ssize_t cache_read(struct cache *c, const char *key, void *buf, size_t len, uint64_t off);
/* Read several blocks in one batch (one io_uring submission). Each entry's
 * result is bytes read or -ENOENT. Returns 0. */
struct cache_io { const char *key; void *buf; size_t len; uint64_t off; ssize_t result; };
int cache_read_many(struct cache *c, struct cache_io *io, int n);
/* Open a cached block read-only (flags may add O_CLOEXEC); returns the fd,
 * verified, or -ENOENT. The caller owns the descriptor. */
int cache_open_block(struct cache *c, const char *key, int flags, uint32_t *len);
/* The same, leaving this process's first-use check to the caller when it
 * is due (*unchecked = 1): the caller checks the bytes where the program's
 * first read put them (cache_check_fd) before the program may use them. */
int cache_open_block_unchecked(struct cache *c, const char *key, int flags, uint32_t *len,
                               int *unchecked);
/* A read of a block opened unchecked, checked as this process's policy
 * wants (a read starting on a 128 KiB boundary is checked in buf). Bytes,
 * -EBADMSG (corrupt: dropped from the cache; close fd, fetch it again),
 * or another -errno. */
ssize_t cache_read_at(struct cache *c, int fd, const char *key, void *buf, size_t len,
                      uint64_t off);
/* First-use check of a block opened unchecked: against buf when it holds
 * the whole file read from off 0, else by reading the file. 0 (the block
 * is now checked for this process), -EBADMSG (corrupt: dropped from the
 * cache, fetch it again), or another -errno. */
int cache_check_fd(struct cache *c, int fd, const char *key, const void *buf, size_t n,
                   uint64_t off);
/* Is the block present (no verification, no I/O beyond a stat)? */
int cache_contains(struct cache *c, const char *key);
/* Store a verified block. Asynchronous: returns once the data is copied or
 * queued; the file appears atomically later. `data` may be freed on return.
 * A full queue drops the put (counted, -ENOSPC); a full disk or cache
 * drops it later, in the writer (counted, still 0); -EINVAL for a bad key
 * or a length other than the one the key ends with. */
int cache_put(struct cache *c, const char *key, const void *data, size_t len);
/* --- puts without a copy (the fetch path) ---
 * cache_put_ref is cache_put that keeps `data` instead of copying it and
 * takes `sum`, its XXH3-64 already verified by the caller (the codec's raw
 * checksum), instead of hashing it again. release(arg) runs exactly once,
 * on any thread, when the cache is done with the bytes (written, dropped or
 * refused); until then they must not change. CACHE_PUT_WAIT: wait for room
 * in the queue rather than drop the put (warmup, which exists to wait).
 * Both return 0 when queued (or already queued), -ENOSPC when dropped
 * because the queue was full (counted), -EINVAL for a bad key or length;
 * a cache that cannot write logs once and returns 0 (reads go to S3).
 * cache_put_wait: wait until no put of key by this process is queued or
 * being written. */
#define CACHE_PUT_WAIT 1
/* CACHE_PUT_DIRECT: write the block around the page cache (O_DIRECT) when
 * the file system allows it and the bytes are aligned for it (the fetch
 * path's are); otherwise an ordinary write. For bulk fills (warmup): no
 * copy into the page cache, and the node's page cache is not flushed out
 * by a dataset larger than memory. */
#define CACHE_PUT_DIRECT 2
int cache_put_ref(struct cache *c, const char *key, const void *data, size_t len, uint64_t sum,
                  int flags, void (*release)(void *arg), void *arg);
void cache_put_wait(struct cache *c, const char *key);

/* Wait until queued puts of this process are on disk (tests, warmup). */
int cache_flush(struct cache *c);
/* Remove one block (warmup --evict). */
int cache_remove(struct cache *c, const char *key);
/* This process's counters; used_bytes/files/limit_bytes are node-wide. */
int cache_get_stats(struct cache *c, struct cache_stats *st);
/* The counters of every process on the node since the cache directory was
 * made (kept in dir/stats, see cache_shared.c), for `shimfs stats`. */
int cache_get_node_stats(struct cache *c, struct cache_stats *st);
/* One object-store GET this process made for a block (bytes fetched, its
 * duration; failed: it returned an error), added to the counters above so
 * that the node's GETs can be told without the processes that made them
 * (`shimfs stats`, metrics). Four atomic adds, no syscall. */
void cache_note_get(struct cache *c, uint64_t bytes, uint64_t ns, int failed);
/* One upload call of n objects PUT in parallel (bytes sent, its duration;
 * failed: it returned an error). */
void cache_note_put(struct cache *c, uint32_t n, uint64_t bytes, uint64_t ns, int failed);
/* One database round trip (its duration; failed: it returned an error). */
void cache_note_query(struct cache *c, uint64_t ns, int failed);
/* One committed transaction that changed the volume. */
void cache_note_commit(struct cache *c);
/* Warmup brought bytes (blocks blocks) into the cache. */
void cache_note_warm(struct cache *c, uint64_t bytes, uint64_t blocks);

#endif

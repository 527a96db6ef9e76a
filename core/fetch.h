/* fetch.h - bringing blocks from the object store: at most one GET per
 * block at a time in a process (concurrent readers of the same block wait
 * for the one in flight and share its bytes), and background prefetch on a
 * bounded pool of threads with a bounded memory budget (SHIMFS_BUFFER_SIZE).
 */
#ifndef SHIMFS_FETCH_H
#define SHIMFS_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct volume;

/* Decompressed, verified block (id, index) of length blen: [off, off+len)
 * copied into buf. Cache first; otherwise joins or leads the single GET.
 * Returns bytes copied or -errno. A block missing from the bucket is -EIO
 * for a reader (buf set), with one warn line naming its key: the metadata
 * references it, so its bytes are lost; a prefetch (buf NULL) gets
 * -ENOENT and logs nothing. */
ssize_t fetch_block(struct volume *v, uint64_t id, uint32_t index, uint32_t blen,
                    void *buf, size_t len, uint32_t off);
/* Bring block (id, index) into the node cache and wait until it is on disk
 * (warmup): 0 written, 1 it was already cached, -ENOSPC the cache would not
 * keep it (full, or no cache), or -errno. One GET at most, shared like
 * fetch_block's; the put waits for room in the cache's queue. With
 * page_cache 0 the cache file is written around the page cache where the
 * disk allows it (CACHE_PUT_DIRECT): a bulk fill then costs no copy and
 * does not push the node's page cache out. */
int fetch_warm(struct volume *v, uint64_t id, uint32_t index, uint32_t blen, int page_cache);
/* Queue a block to be brought into the node cache in the background.
 * Never blocks: when the queue or the memory budget is full the hint is
 * dropped (the later read fetches it itself). Returns 1 if queued.
 * FETCH_STREAM: the block is read-ahead of a long sequential read; it is
 * written to the cache around the page cache (CACHE_PUT_DIRECT) so that a
 * stream does not grow the page cache by its size (the reader copies it
 * from memory meanwhile: landed blocks are kept up to half of
 * SHIMFS_BUFFER_SIZE). */
#define FETCH_STREAM 1
int fetch_prefetch(struct volume *v, uint64_t id, uint32_t index, uint32_t blen, int flags);
/* Wait until every queued prefetch finished (warmup); returns the number of
 * failed prefetches since the last call. */
int fetch_drain(void);
/* Fork child: the pool's threads are gone; start afresh lazily. */
void fetch_after_fork(void);

/* Timing counters: GETs and their total time; reader_from_cache and
 * reader_from_memory count a reader's block pieces served from the node
 * cache and from a landed (or awaited) flight; reader_stalls and
 * reader_stall_ns, the pieces a reader had to wait for (a GET it led or
 * joined in the air) and the time it waited; buffers_mapped, the block
 * buffers made afresh (not a spare reused: each of its pages is faulted in
 * and zeroed as the object lands). Logged at exit at debug level
 * (SHIMFS_LOG=debug) when this process made GETs. */
struct fetch_stats {
    uint64_t gets, get_bytes, get_ns_total, shared_waits, prefetch_queued, prefetch_dropped,
        failures;
    uint64_t reader_from_cache, reader_from_memory, reader_stalls, reader_stall_ns;
    uint64_t buffers_mapped;
};
void fetch_get_stats(struct fetch_stats *st);

#endif

/* cache_internal.h - what the cache's files share (private to cache/).
 *
 * On-disk layout under cfg->dir (created 0700, used only when it passes
 * core/trust.h's owner and mode checks; sub-folders and files too):
 *   blocks/<key>   one file per block, content = the block's bytes, mode 0600;
 *                  checksum in xattr "user.shimfs.xxh3" (8 bytes, LE XXH3-64)
 *   sums/<key>     sidecar checksum ("%016llx\n"), only where the file system
 *                  refuses user xattrs (old tmpfs, some FUSE/NFS)
 *   tmp/           O_TMPFILE files being written (or named temps as fallback)
 *   lock           flock: shared by writers while they hold a reservation,
 *                  exclusive for the scan that reconciles usage and evicts
 *   stats          one shared page: usage and node-wide counters
 * See cache_space.c (accounting, eviction) and cache_shared.c (stats page).
 */
#ifndef SHIMFS_CACHE_INTERNAL_H
#define SHIMFS_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <liburing.h>

#include "cache.h"
#include "io.h"

#define CACHE_MOD            "cache"
#define CACHE_XATTR          "user.shimfs.xxh3"
#define CACHE_XATTR_PIECES   "user.shimfs.xxh3p"   /* cache_piece.c */
#define CACHE_PIECE          (128u << 10)
#define CACHE_PIECES_MAX     128                   /* 16 MiB blocks */
#define CACHE_PIECE_NO       (-100000)
#define CACHE_KEY_MAX        512
#define CACHE_PAGE           4096u          /* accounting unit: one fs block */
#define CACHE_QUEUE_BYTES    (64u << 20)    /* put queue bounds: bytes (at most) ... */
#define CACHE_QUEUE_ITEMS    256            /* ... and entries */
#define CACHE_BATCH_ITEMS    16             /* writer batch (two SQEs each) */
#define CACHE_PLAIN_WRITE_MAX (256u << 10)  /* buffered batches up to this: pwrite */
#define CACHE_BATCH_BYTES    (32u << 20)
#define CACHE_RING_ENTRIES   64
#define CACHE_TOUCH_SECONDS  60             /* LRU mtime refreshed at most this often */
#define CACHE_SEEN_SLOTS     65536          /* per-process verified set (lossy) */

/* Counters kept per process and node-wide (same order as the stats page). */
enum cache_ctr {
    CTR_HITS, CTR_MISSES, CTR_BYTES_HIT, CTR_PUTS, CTR_BYTES_PUT, CTR_EVICTIONS,
    CTR_CORRUPT, CTR_DROPPED, CTR_PUT_ERRORS, CTR_SCANS,
    /* object-store GETs of the node's processes (cache_note_get): appended
     * after the first layout, so an older page reads them as zero */
    CTR_GETS, CTR_GET_BYTES, CTR_GET_NS, CTR_GET_ERRORS,
    /* appended again (metrics): uploads, database round trips, commits,
     * warmup, and the latency histograms' buckets (CACHE_HIST_N each) */
    CTR_OPUTS, CTR_OPUT_BYTES, CTR_OPUT_NS, CTR_OPUT_ERRORS,
    CTR_QUERIES, CTR_QUERY_NS, CTR_QUERY_ERRORS, CTR_COMMITS, CTR_WARM_BYTES, CTR_WARM_BLOCKS,
    CTR_GET_HIST, CTR_PUT_HIST = CTR_GET_HIST + CACHE_HIST_N,
    CTR_QUERY_HIST = CTR_PUT_HIST + CACHE_HIST_N, CTR_COUNT = CTR_QUERY_HIST + CACHE_HIST_N
};

/* The shared page (dir/stats), see cache_shared.c. */
struct cache_shared {
    uint64_t magic;              /* CACHE_SHARED_MAGIC once a scan counted usage */
    uint64_t version;
    uint64_t used;               /* bytes: published files + reservations in flight */
    uint64_t files;
    uint64_t last_scan;          /* unix seconds */
    uint64_t ctr[CTR_COUNT];
};
#define CACHE_SHARED_MAGIC   0x3143534d46494853ull   /* "SHIMFSC1" */
#define CACHE_SHARED_VERSION 1

struct cache_ring {
    pthread_mutex_t mu;
    struct io_uring ring;
    int state;                   /* 0 not made yet, 1 ready, -1 refused */
};

/* One queued put: the key and (for cache_put) the bytes live in the same
 * allocation; a cache_put_ref item points at the caller's bytes instead. */
struct cache_item {
    struct cache_item *next;
    size_t len;
    uint64_t sum;                /* XXH3 of data: the caller's, or the writer's */
    int have_sum;                /* sum came with the put (already verified) */
    uint64_t cost;               /* accounted bytes */
    int fd;                      /* temp file while being written */
    int state;                   /* enum cache_item_state */
    int direct;                  /* CACHE_PUT_DIRECT asked; fd is O_DIRECT
                                    once write_prepare agreed (2) */
    ssize_t res_w, res_r;        /* write and read-back results */
    dev_t dev;                   /* the temp file, to recognise fd after fork */
    ino_t ino;
    char tmpname[32];            /* named temp (no O_TMPFILE) */
    char *key;
    unsigned char *data;         /* own[], or the caller's (never written then) */
    void (*release)(void *arg);  /* cache_put_ref: gives the caller's bytes back */
    void *release_arg;
    unsigned char own[];
};
enum cache_item_state { ITEM_TODO, ITEM_SKIP, ITEM_WRITTEN, ITEM_FAILED };

struct cache {
    char *dir;
    uint64_t limit;              /* 0: no size limit, only the free-space floor */
    double free_ratio;
    int verify_every_read;
    int trust_after_fill;
    int use_uring;

    int dir_fd, blocks_fd, tmp_fd, sums_fd;    /* -1 when unusable */
    int dir_err;                 /* why dir_fd is -1 */
    int xattr_mode;              /* 1 xattrs, 0 unknown, -1 sidecar files */
    int tmpfile_mode;            /* 1 O_TMPFILE, 0 unknown, -1 named temps */
    int link_mode;               /* 1 AT_EMPTY_PATH, 0 /proc/self/fd */
    int direct_mode;             /* 1 O_DIRECT temps work, 0 unknown, -1 not */
    unsigned dio_mem, dio_off;   /* O_DIRECT alignment of buffers, of lengths */
    int no_noatime;              /* O_NOATIME refused (files of another user) */
    int log_put, log_uring, log_space, log_dir;   /* log_once flags, per process */
    int64_t space_backoff;       /* no reservation before (monotonic s) */

    struct cache_shared *sh;     /* shared page, or `priv` when there is none */
    struct cache_shared priv;
    int sh_mapped;
    uint64_t ctr[CTR_COUNT];     /* this process */

    uint64_t *seen;              /* verified keys, see cache_seen.c */

    /* put queue and writer thread (cache_queue.c) */
    pthread_mutex_t qmu;
    pthread_cond_t qcv, qdone;
    struct cache_item *qhead, *qtail, *inflight;
    size_t qbytes, qmax; /* queued bytes, and their bound */
    int qitems, stop, writer_started;
    pthread_t writer;
    int lock_fd;                 /* the writer's own description of dir/lock */
    struct cache_ring wring;     /* the writer's ring */
    struct cache_ring rring;     /* cache_read_many's ring */
    uint64_t pending;            /* bytes the writer has reserved */
};

/* cache_path.c */
int cache_key_check(const char *key);
uint64_t cache_key_len(const char *key);
uint64_t cache_key_hash(const char *key);
int cache_mkdirs(int dirfd, const char *rel);
int cache_mkdir_p(const char *path);
uint64_t cache_cost(const struct cache *c, uint64_t size);

/* cache_sum.c */
uint64_t cache_sum(const void *p, size_t n);
int cache_sum_store(struct cache *c, int fd, const char *key, uint64_t sum);
/* cache_piece.c: the sums of a block's 128 KiB pieces (written with it),
 * and a first-use read checked piece by piece in the caller's buffer
 * (CACHE_PIECE_NO: not possible here, take the whole-block path). */
void cache_piece_sums_store(int fd, const void *data, size_t len, uint64_t sum);
/* cache_sum.c: the sums of data's pieces into sums[], and the whole sum. */
uint64_t cache_sum_pieces(const void *p, size_t len, size_t piece, uint64_t *sums);
ssize_t cache_piece_read(struct cache *c, int fd, uint64_t kh, uint64_t size, void *buf,
                         size_t len, uint64_t off);
void cache_piece_after_fork(void);
int cache_sum_load(struct cache *c, int fd, const char *key, uint64_t *sum);
int cache_sum_file(int fd, uint64_t size, uint64_t *sum);
void cache_sum_unlink(struct cache *c, const char *key);
void cache_sum_probe(struct cache *c);

/* cache_xxh.c: XXH3 built for AVX2 (state: CACHE_XXH_STATE bytes, 64-aligned) */
#define CACHE_XXH_STATE 640
uint64_t cache_xxh_avx2(const void *p, size_t n);
void cache_xxh_avx2_reset(void *st);
void cache_xxh_avx2_update(void *st, const void *p, size_t n);
uint64_t cache_xxh_avx2_digest(const void *st);
/* cache_xxh512.c: the one-shot XXH3 built for AVX-512 */
uint64_t cache_xxh_avx512(const void *p, size_t n);
/* cache_cpu.c: the best of them this CPU and OS run (asked once) */
enum { CACHE_VEC_NONE, CACHE_VEC_AVX2, CACHE_VEC_AVX512 };
int cache_cpu_vec(void);

/* cache_seen.c */
enum { SEEN_NO, SEEN_FRESH, SEEN_STALE };
int cache_seen_get(struct cache *c, uint64_t kh);
void cache_seen_set(struct cache *c, uint64_t kh);
void cache_seen_forget(struct cache *c, uint64_t kh);
void cache_touch(int fd, const struct stat *st);

/* cache_shared.c */
void cache_shared_open(struct cache *c);
void cache_shared_close(struct cache *c);
void cache_count(struct cache *c, enum cache_ctr i, uint64_t n);
int cache_used_reserve(struct cache *c, uint64_t n, uint64_t limit);
void cache_used_sub(struct cache *c, uint64_t n);
void cache_files_add(struct cache *c, int64_t n);

/* cache_uring.c */
void cache_ring_init(struct cache_ring *r);
struct io_uring *cache_ring_get(struct cache *c, struct cache_ring *r);
void cache_ring_forget(struct cache_ring *r);
void cache_ring_close(struct cache_ring *r);

/* cache_write.c: write, verify and publish a batch (writer thread) */
void cache_write_batch(struct cache *c, struct cache_item **items, int n);
void cache_put_failed(struct cache *c, const char *key, int err);

/* cache_space.c */
uint64_t cache_space_deficit(struct cache *c, uint64_t bytes);
uint64_t cache_space_over(struct cache *c, uint64_t used);
int cache_space_reserve(struct cache *c, uint64_t bytes);
void cache_space_release(struct cache *c, uint64_t unused);
int cache_space_unlink(struct cache *c, const char *key, int fd_hint);

/* cache_scan.c */
void cache_scan(struct cache *c, uint64_t bytes);

/* cache_queue.c */
void cache_queue_init(struct cache *c);
void cache_queue_stop(struct cache *c);
void cache_queue_after_fork(struct cache *c);
void cache_queue_cancel(struct cache *c, const char *key);

/* cache_read.c */
int cache_open_key(struct cache *c, const char *key, int cloexec);
int cache_verify_after(struct cache *c, int fd, const char *key, const struct stat *st,
                       const void *buf, ssize_t n, uint64_t off);
ssize_t cache_verify_read(struct cache *c, int fd, const char *key, const struct stat *st,
                          void *buf, size_t len, uint64_t off);
ssize_t cache_read_fd(struct cache *c, int fd, const char *key, uint64_t kh,
                      void *buf, size_t len, uint64_t off);
ssize_t cache_read_check_short(const char *key, ssize_t n, size_t len, uint64_t off);
ssize_t cache_read_done(struct cache *c, const char *key, uint64_t kh, int fd, ssize_t n);
void cache_drop_corrupt(struct cache *c, const char *key, uint64_t kh, int fd);

#endif

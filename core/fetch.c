/* fetch.c - one GET per block per process, and background prefetch.
 *
 * A block being fetched is a "flight": readers that want it while it is in
 * the air wait on it and copy its bytes, so sixteen threads reading one
 * block cost one GET. Prefetch requests go through a fixed ring to a small
 * pool of threads that land blocks in the node cache; when the ring or the
 * memory budget (SHIMFS_BUFFER_SIZE) is full the hint is dropped rather than
 * blocking the reader that gave it.
 * A landed block is handed to the node cache without a copy (cache_put_ref):
 * the cache holds a reference on the flight until the block is on disk, and
 * the flight's bytes are never written after it landed, so readers copy
 * from them without the lock. Block buffers are reused, and given back to
 * the system when the pool has been idle for a few seconds.
 */
#include "fetch.h"
#include "io.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cache.h"
#include "codec.h"
#include "layout.h"
#include "log.h"
#include "volume.h"
#include "thread.h"

#define FETCH_RING 1024
#define FETCH_BUCKETS 1024      /* flight hash buckets: a few flights each at most */
#define FETCH_MAX_WORKERS 32

struct flight {
    struct flight *next;
    struct flight *recent_next;  /* landed flights kept for late readers */
    struct flight *recent_prev;
    int recent;                  /* on that list */
    int consumed;                /* a reader copied its last byte */
    int cached;                  /* the cache wrote its bytes */
    struct cache *cache;         /* the cache they were offered to */
    char key[LAYOUT_KEY_MAX];
    uint64_t hash;               /* of key: its bucket in fs.flights */
    int done, rc, refs;
    int keep; /* its leader's FETCH_KEEP_* */
    uint32_t blen;
    void *buf;                   /* owned, cap bytes: the object lands at
                                    buf + FETCH_LAND (see fetch_buf_new) */
    size_t cap;
    const void *raw;             /* the block's verified bytes, inside buf */
    uint64_t sum;                /* their XXH3-64 (the codec's, verified) */
};

/* A block to prefetch, or (offer, holding a reference) a landed flight to
 * hand to the cache, waiting for room in its queue. */
struct fetch_job {
    struct volume *v;
    uint64_t id;
    uint32_t index, blen;
    struct flight *offer;
    int put;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* flights landing, jobs arriving, pool idle */
    /* flights in the air and landed ones kept (recent), by key hash: warmup
     * has 50 in the air and up to 512 small ones kept, and a list walk of
     * strcmp over keys that share their first 40 bytes was 5% of its CPU */
    struct flight *flights[FETCH_BUCKETS];
    uint64_t inflight_bytes;
    struct flight *recent_head, *recent_tail;
    uint64_t recent_bytes;
    struct fetch_job ring[FETCH_RING];
    unsigned head, tail, busy;
    int workers, failures;
    int offering;              /* landed blocks waiting for room in the cache's queue */
    struct fetch_stats st;
} fs = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int64_t fetch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t fetch_hash(const char *key) { return XXH3_64bits(key, strlen(key)); }

static struct flight **fetch_bucket(uint64_t hash) { return &fs.flights[hash % FETCH_BUCKETS]; }

static struct flight *fetch_find(const char *key)
{
    uint64_t h = fetch_hash(key);
    for (struct flight *f = *fetch_bucket(h); f; f = f->next)
        if (f->hash == h && strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void fetch_unlink(struct flight *f)
{
    for (struct flight **pp = fetch_bucket(f->hash); *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            return;
        }
}

/* Block buffers are recycled: a fresh one is memory whose pages are
 * faulted in and zeroed as the object lands (and on a VM each page may
 * cost the host a fault too). With 16 spares, warmup of 1.1 GiB took 155k
 * page faults, 90% of them in copying GET bodies into fresh buffers, and
 * a cold 512 MiB read 56k. Spares are kept up to FETCH_SPARE_BYTES, the
 * best fitting one is reused, and when the pool has been idle for
 * FETCH_SPARE_IDLE seconds they, and the landed blocks kept for late
 * readers, are given back to the system (buffers are mappings of their
 * own, so giving back really lowers the process's memory): a host process
 * that read once and then computes for hours does not keep 128 MiB. */
#define FETCH_SPARE 512
#define FETCH_SPARE_BYTES (UINT64_C(64) << 20)
#define FETCH_SPARE_IDLE 5
static struct { void *p[FETCH_SPARE]; size_t cap[FETCH_SPARE]; int n; uint64_t bytes; } spare;

/* The object lands FETCH_LAND bytes into its buffer, so that the block's
 * bytes, which follow the codec's header (volume_fetch_into), start on a
 * page: the cache can then write them to disk directly (CACHE_PUT_DIRECT). */
#define FETCH_LAND (4096 - CODEC_HEADER_SIZE)

static void *fetch_buf_new(size_t len, size_t *cap)
{
    size_t n = (len + FETCH_LAND + 4095) & ~(size_t)4095;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    *cap = n;
    return p;
}

static void fetch_buf_free(void *p, size_t cap) { munmap(p, cap); }

/* Free spares, newest first, until they hold at most `keep` bytes. */
static void fetch_spares_trim_locked(uint64_t keep)
{
    while (spare.n > 0 && spare.bytes > keep) {
        spare.n--;
        spare.bytes -= spare.cap[spare.n];
        fetch_buf_free(spare.p[spare.n], spare.cap[spare.n]);
    }
}

static void *fetch_buf_get_locked(size_t len, size_t *cap)
{
    int best = -1;
    for (int i = 0; i < spare.n; i++)
        if (spare.cap[i] >= len + FETCH_LAND && (best < 0 || spare.cap[i] < spare.cap[best]))
            best = i;
    if (best < 0) {
        /* none fits (small blocks' buffers, and now big blocks): make room
         * for this size to be kept when it comes back, or every big block
         * after a run of small ones gets a fresh buffer */
        size_t want = len + FETCH_LAND;
        fetch_spares_trim_locked(want < FETCH_SPARE_BYTES ? FETCH_SPARE_BYTES - want : 0);
        return NULL;
    }
    void *p = spare.p[best];
    *cap = spare.cap[best];
    spare.bytes -= *cap;
    spare.p[best] = spare.p[--spare.n];
    spare.cap[best] = spare.cap[spare.n];
    return p;
}

static void fetch_buf_put_locked(void *p, size_t cap)
{
    if (spare.n < FETCH_SPARE && spare.bytes + cap <= FETCH_SPARE_BYTES) {
        spare.p[spare.n] = p;
        spare.cap[spare.n++] = cap;
        spare.bytes += cap;
    } else {
        fetch_buf_free(p, cap);
    }
}

static void fetch_drop_locked(struct flight *f)
{
    if (--f->refs == 0) {
        fs.inflight_bytes -= f->blen;
        if (f->buf)
            fetch_buf_put_locked(f->buf, f->cap);
        free(f);
    }
}

static void fetch_drop(struct flight *f)
{
    pthread_mutex_lock(&fs.lock);
    fetch_drop_locked(f);
    pthread_mutex_unlock(&fs.lock);
}

/* cache_put_ref's release: the cache is done with the flight's bytes. */
static void fetch_consumed_locked(struct flight *f);
static void fetch_cache_done(void *arg)
{
    struct flight *f = arg;
    /* a put the cache refused (its queue full: a pool thread offers it
     * again) or dropped leaves the block only here */
    int cached = cache_contains(f->cache, f->key);
    pthread_mutex_lock(&fs.lock);
    f->cached |= cached;
    fetch_consumed_locked(f);
    fetch_drop_locked(f);
    pthread_mutex_unlock(&fs.lock);
}

/* Offer a landed flight's bytes to the cache; the cache holds a reference
 * until they are written (or the put is dropped). Without fs.lock. */
static int fetch_offer(struct volume *v, struct flight *f, int flags)
{
    pthread_mutex_lock(&fs.lock);
    f->refs++;
    f->cache = v->cache;
    pthread_mutex_unlock(&fs.lock);
    return cache_put_ref(v->cache, f->key, f->raw, f->blen, f->sum, flags, fetch_cache_done, f);
}

/* A landed block stays reachable for a while, oldest dropped first: the
 * cache publishes it asynchronously, and a reader that comes between the
 * landing and the publication would otherwise GET it a second time, which
 * is what prefetched blocks were for. A sequential reader's read-ahead runs
 * up to SHIMFS_PREFETCH blocks ahead of it: with only 64 MiB kept, a 128 MiB
 * window's first blocks were gone from memory when the reader came, and it
 * read them back from the cache file (a pread, the first-use check, and for
 * a file written around the page cache a disk read on the reader's path).
 * So half the memory budget (SHIMFS_BUFFER_SIZE), at least 64 MiB, is kept:
 * the reader copies read-ahead blocks from memory. */
#define FETCH_RECENT_MIN (UINT64_C(64) << 20)

static uint64_t fetch_recent_limit(const struct volume *v)
{
    uint64_t half = v->cfg.buffer_size / 2;
    return half > FETCH_RECENT_MIN ? half : FETCH_RECENT_MIN;
}

/* Forget a landed block kept for late readers. */
static void fetch_recent_remove_locked(struct flight *f)
{
    assert(f->recent);
    if (f->recent_prev)
        f->recent_prev->recent_next = f->recent_next;
    else
        fs.recent_head = f->recent_next;
    if (f->recent_next)
        f->recent_next->recent_prev = f->recent_prev;
    else
        fs.recent_tail = f->recent_prev;
    f->recent = 0;
    fs.recent_bytes -= f->blen;
    fetch_unlink(f);
    fetch_drop_locked(f);
}

static void fetch_recent_pop_locked(void) { fetch_recent_remove_locked(fs.recent_head); }

static void fetch_keep_recent_locked(const struct volume *v, struct flight *f)
{
    f->refs++;
    f->recent = 1;
    f->recent_next = NULL;
    f->recent_prev = fs.recent_tail;
    if (fs.recent_tail)
        fs.recent_tail->recent_next = f;
    else
        fs.recent_head = f;
    fs.recent_tail = f;
    fs.recent_bytes += f->blen;
    while (fs.recent_bytes > fetch_recent_limit(v) && fs.recent_head)
        fetch_recent_pop_locked();
}

/* A landed block that a reader copied to its end (a sequential reader is
 * done with it) and that the cache has written (one it refused or dropped
 * stays, or it would be fetched twice) leaves the blocks kept for late
 * readers at once, instead of when half
 * the memory budget has landed after it: its buffer goes back to the
 * spares and a later GET lands in it. Kept until then, a cold 512 MiB
 * read mapped 128 fresh 4 MiB buffers (57k page faults, each page zeroed:
 * a fifth of the reading process's CPU, taken from the server on a shared
 * machine); now about the blocks in flight, read ahead and being written
 * (31). A later reader of the block reads it from the cache. */
static void fetch_consumed_locked(struct flight *f)
{
    if (f->consumed && f->cached && f->recent)
        fetch_recent_remove_locked(f);
}

/* The pool has been idle: landed blocks are long published (or dropped),
 * so late readers need them no more; give their memory and the spares
 * back. Flights still referenced (a reader copying) are freed by it. */
static void fetch_idle_release_locked(void)
{
    while (fs.recent_head)
        fetch_recent_pop_locked();
    fetch_spares_trim_locked(0);
}

static void fetch_grow_pool_locked(struct volume *v);

/* Queue f (a new reference) for a pool thread to offer; 1 if queued. */
static int fetch_handoff_locked(struct volume *v, struct flight *f)
{
    if (fs.head - fs.tail >= FETCH_RING)
        return 0;
    f->refs++;
    fs.ring[fs.head++ % FETCH_RING] = (struct fetch_job){ .v = v, .offer = f };
    fetch_grow_pool_locked(v);
    return 1;
}

/* The pool's side of fetch_handoff_locked. */
static void fetch_reoffer(const struct fetch_job *j)
{
    if (!cache_contains(j->v->cache, j->offer->key))
        (void)fetch_offer(j->v, j->offer, CACHE_PUT_WAIT);
    pthread_mutex_lock(&fs.lock);
    fetch_drop_locked(j->offer);
    fs.offering--;
    pthread_cond_broadcast(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
}

/* Lead a flight: GET, decode, wake the waiters, publish to the cache.
 * Waiters go first: a put that waits for room in the cache's queue
 * (put_flags) must not hold up a reader of the landed bytes. A landed
 * flight stays findable for late readers (recent) unless keep is
 * FETCH_KEEP_NONE (warmup: no reader in the process, and its buffer is
 * better reused). A failed flight stays findable too: a prefetch's
 * (FETCH_KEEP_FAILED) for the reader that comes for the block, which takes
 * the error (fetch_flight) instead of fetching a missing or corrupt block
 * again (that doubled the time to its EIO and logged the block twice); a
 * reader's (FETCH_KEEP_LANDED) for the prefetches of that block still
 * queued, which then fetch nothing (a later read fetches it again). */
enum { FETCH_KEEP_NONE, FETCH_KEEP_LANDED, FETCH_KEEP_FAILED };

static void fetch_lead(struct volume *v, struct flight *f, int put_flags, int keep)
{
    int64_t t0 = fetch_now();
    int rc = f->buf ? volume_fetch_into(v, f->key, f->blen, (char *)f->buf + FETCH_LAND,
                                        f->cap - FETCH_LAND, &f->raw, &f->sum)
                    : -ENOMEM;
    int64_t dt = fetch_now() - t0;
    uint64_t blen = f->blen;
    pthread_mutex_lock(&fs.lock);
    f->done = 1;
    f->rc = rc;
    fs.st.gets++;
    fs.st.get_ns_total += (uint64_t)dt;
    if (rc == 0) {
        fs.st.get_bytes += f->blen;
        if (keep != FETCH_KEEP_NONE)
            fetch_keep_recent_locked(v, f);
        else
            fetch_unlink(f);
    } else {
        fs.st.failures++;
        if (keep != FETCH_KEEP_NONE)
            fetch_keep_recent_locked(v, f);
        else
            fetch_unlink(f);
    }
    if (rc == 0 && v->cache)
        fs.offering++;
    pthread_cond_broadcast(&fs.cond);
    pthread_mutex_unlock(&fs.lock);
    /* the node's GET counters count requests to the bucket: an inline
     * block came from the database */
    if (v->cache && !volume_key_inline(f->key, NULL))
        cache_note_get(v->cache, blen, (uint64_t)dt, rc != 0);
    if (rc == 0 && v->cache) {
        /* the leader's reference keeps f alive; a reader's put the full
         * queue refused goes to a pool thread that waits for room (the
         * reader goes on), still counted as being offered */
        int full = fetch_offer(v, f, put_flags) == -ENOSPC && !(put_flags & CACHE_PUT_WAIT);
        pthread_mutex_lock(&fs.lock);
        if (!full || !fetch_handoff_locked(v, f))
            fs.offering--;
        pthread_cond_broadcast(&fs.cond);
        pthread_mutex_unlock(&fs.lock);
    }
}

/* At exit, before the volume's cache flush (registered earlier, so run
 * later): blocks that landed and wait for room in the cache's queue are
 * queued first, or a reader that got every byte would leave its last
 * prefetched blocks out of the cache. GETs still in flight are not waited
 * for. Bounded: the queue drains at disk speed; 10 s at most. */
static void fetch_exit_settle(void)
{
    struct fetch_stats st;
    fetch_get_stats(&st);
    if (st.gets)
        log_debug("fetch",
                  "%llu GETs, %.1f MiB, %.1f ms each on average; reader pieces: %llu from "
                  "the cache, %llu from memory, %llu stalled for %.3f s in all; %llu block buffers "
                  "mapped",
                  (unsigned long long)st.gets, st.get_bytes / 1048576.0,
                  st.get_ns_total / 1e6 / (double)st.gets, (unsigned long long)st.reader_from_cache,
                  (unsigned long long)st.reader_from_memory, (unsigned long long)st.reader_stalls,
                  st.reader_stall_ns / 1e9, (unsigned long long)st.buffers_mapped);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&fs.lock);
    while (fs.offering > 0 && pthread_cond_timedwait(&fs.cond, &fs.lock, &until) == 0)
        ;
    pthread_mutex_unlock(&fs.lock);
}

/* The cache block a thread read last stays open: a sequential reader of a
 * large file reads each 4 MiB block in many small pieces, and reopening
 * (and re-checking) the cache file for every piece cost more than the
 * copy. One descriptor per thread, closed when the thread ends. */
struct fetch_open {
    int fd, unchecked;
    struct io_file_id id;
    char key[LAYOUT_KEY_MAX];
};
static pthread_key_t fetch_open_key;
static pthread_once_t fetch_open_once = PTHREAD_ONCE_INIT;

/* Whether o's descriptor is still the cache file it opened: the program
 * may have closed the number and reused it (closefrom, close_range), and
 * the program's file is not ours to read or close. Asked of libc, not the
 * shim (io.h). */
static int fetch_open_same(const struct fetch_open *o)
{
    struct io_file_id now;
    return o->fd >= 0 && io_file_id(o->fd, &now) == 0 && now.dev == o->id.dev &&
           now.ino == o->id.ino;
}

static void fetch_open_free(void *p)
{
    struct fetch_open *o = p;
    if (fetch_open_same(o))
        close(o->fd);
    free(o);
}

static void fetch_open_make(void) { (void)pthread_key_create(&fetch_open_key, fetch_open_free); }

static ssize_t fetch_from_cache(struct volume *v, const char *key, void *buf, size_t len, uint32_t off)
{
    pthread_once(&fetch_open_once, fetch_open_make);
    struct fetch_open *o = pthread_getspecific(fetch_open_key);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o)
            return cache_read(v->cache, key, buf, len, off);
        o->fd = -1;
        (void)pthread_setspecific(fetch_open_key, o);
    }
    if (o->fd >= 0 && !fetch_open_same(o))
        o->fd = -1;
    if (o->fd < 0 || strcmp(o->key, key) != 0) {
        uint32_t blen;
        int unchecked = 0;
        /* this process's first use is checked on the reads themselves, in
         * the caller's buffer, instead of reading the block once more */
        /* kept across calls: above the numbers shells pick (io.h) */
        int fd = cache_open_block_unchecked(v->cache, key, O_CLOEXEC, &blen, &unchecked);
        struct io_file_id id;
        if (fd >= 0 && (fd = io_fd_high(fd)) < 0)
            fd = -errno;
        if (fd < 0 || io_file_id(fd, &id) < 0) {
            if (fd >= 0)
                close(fd);
            return fd < 0 ? fd : -EIO;
        }
        if (o->fd >= 0)
            close(o->fd);
        o->fd = fd;
        o->unchecked = unchecked;
        o->id = id;
        strcpy(o->key, key);
    }
    if (o->unchecked) {
        ssize_t n = cache_read_at(v->cache, o->fd, key, buf, len, off);
        if (n < 0) {            /* a corrupt file was dropped: fetch it again */
            close(o->fd);
            o->fd = -1;
        }
        return n;
    }
    ssize_t n = pread(o->fd, buf, len, off);
    return n < 0 ? -errno : n;
}

/* Is key the block this thread has open in the cache (the fast path)? */
static int fetch_open_is(const char *key)
{
    pthread_once(&fetch_open_once, fetch_open_make);
    struct fetch_open *o = pthread_getspecific(fetch_open_key);
    return o && o->fd >= 0 && strcmp(o->key, key) == 0;
}

/* A reader's copy from f is over; at_end: it copied the block's last byte. */
static void fetch_release(struct flight *f, int at_end)
{
    pthread_mutex_lock(&fs.lock);
    if (at_end) {
        f->consumed = 1;
        fetch_consumed_locked(f);
    }
    fetch_drop_locked(f);
    pthread_mutex_unlock(&fs.lock);
}

/* Copy from a landed flight of key still kept in memory; 1 if there was
 * one. Checked once per block a thread moves to, not per read: a
 * sequential reader's read-ahead blocks are copied from memory even once
 * the cache published them (a cache file written around the page cache
 * would be read from disk), and the warm path costs one lookup per block. */
static int fetch_copy_landed(const char *key, void *buf, size_t len, uint32_t off)
{
    pthread_mutex_lock(&fs.lock);
    struct flight *f = fetch_find(key);
    if (!f || !f->done || f->rc != 0) {
        pthread_mutex_unlock(&fs.lock);
        return 0;
    }
    f->refs++;
    fs.st.reader_from_memory++;
    pthread_mutex_unlock(&fs.lock);
    memcpy(buf, (const char *)f->raw + off, len); /* landed bytes never change */
    fetch_release(f, off + len == f->blen);
    return 1;
}

/* The landed flight of key, joined or led (one GET per block however many
 * threads want it; keep: see fetch_lead). Returns it with a reference the
 * caller drops (fetch_drop), or NULL with *rc set. */
static struct flight *fetch_flight(struct volume *v, const char *key, uint32_t blen,
                                   int put_flags, int keep, int *rc)
{
    pthread_mutex_lock(&fs.lock);
    struct flight *f = fetch_find(key);
    /* a reader's own earlier failure is no answer for a new read: it
     * fetches again (a prefetch that comes late takes it, see below) */
    if (f && f->done && f->rc != 0 && f->keep == FETCH_KEEP_LANDED && keep != FETCH_KEEP_FAILED) {
        fetch_unlink(f);
        f = NULL;
    }
    if (f) {
        f->refs++;
        fs.st.shared_waits++;
        while (!f->done)
            pthread_cond_wait(&fs.cond, &fs.lock);
        /* a failure kept for readers (fetch_lead) is taken by the first
         * reader (or warmup) that finds it; a prefetch leaves it there and
         * fetches nothing */
        if (f->rc != 0 && keep != FETCH_KEEP_FAILED)
            fetch_unlink(f);
    } else {
        f = calloc(1, sizeof *f);
        if (!f) {
            pthread_mutex_unlock(&fs.lock);
            *rc = -ENOMEM;
            return NULL;
        }
        strcpy(f->key, key);
        f->blen = blen;
        f->refs = 1;
        f->keep = keep;
        size_t need = codec_bound(blen);
        f->buf = fetch_buf_get_locked(need, &f->cap);
        if (!f->buf && (f->buf = fetch_buf_new(need, &f->cap)))
            fs.st.buffers_mapped++;
        f->hash = fetch_hash(key);
        f->next = *fetch_bucket(f->hash);
        *fetch_bucket(f->hash) = f;
        fs.inflight_bytes += blen;
        pthread_mutex_unlock(&fs.lock);
        fetch_lead(v, f, put_flags, keep);
        pthread_mutex_lock(&fs.lock);
    }
    *rc = f->rc;
    pthread_mutex_unlock(&fs.lock);
    return f;
}

/* fetch_block, with the cache put's flags of a prefetch (buf NULL). */
static ssize_t fetch_block_put(struct volume *v, uint64_t id, uint32_t index, uint32_t blen,
                               void *buf, size_t len, uint32_t off, int prefetch_put)
{
    char key[LAYOUT_KEY_MAX];
    if (off >= blen)
        return 0;
    if (len > blen - off)
        len = blen - off;
    int rc = volume_block_key(v, id, index, blen, key, sizeof key);
    if (rc < 0)
        return rc;
    if (buf && len > 0 && !fetch_open_is(key) && fetch_copy_landed(key, buf, len, off))
        return (ssize_t)len;
    /* a prefetch queued before a reader fetched the block itself, run once
     * the reader was done with it (fetch_consumed_locked): the cache has it */
    if (!buf && v->cache && cache_contains(v->cache, key))
        return 0;
    if (v->cache && len > 0 && fetch_from_cache(v, key, buf, len, off) == (ssize_t)len) {
        if (buf)
            __atomic_add_fetch(&fs.st.reader_from_cache, 1, __ATOMIC_RELAXED);
        return (ssize_t)len;
    }
    int64_t t0 = buf ? fetch_now() : 0;
    /* A prefetch (no buffer: a pool thread) waits for room in the cache's
     * queue rather than have its block dropped: the pool, not the reader,
     * is held back when the disk is slower than the network, and a 512 MiB
     * cold read left 1 to 13 of its 128 blocks uncached when puts that met
     * a full queue were dropped. A reader's own fetch never waits. */
    struct flight *f = fetch_flight(v, key, blen, buf ? 0 : prefetch_put,
                                    buf ? FETCH_KEEP_LANDED : FETCH_KEEP_FAILED, &rc);
    if (f && rc == 0 && len > 0)
        memcpy(buf, (const char *)f->raw + off, len); /* landed bytes never change */
    if (f)
        fetch_release(f, buf && rc == 0 && off + len == f->blen);
    if (buf) {
        /* a wait of more than 1 ms was a GET in the air, not a copy */
        int64_t dt = fetch_now() - t0;
        pthread_mutex_lock(&fs.lock);
        fs.st.reader_from_memory++;
        if (dt > 1000000) {
            fs.st.reader_stalls++;
            fs.st.reader_stall_ns += (uint64_t)dt;
        }
        pthread_mutex_unlock(&fs.lock);
    }
    if (rc == -ENOENT && buf) {
        /* The metadata references it: its bytes are lost, the file is not
         * gone. A reader says so once (prefetches stay quiet: the reader
         * that needs the block comes next); warmup and fsck, which expect
         * to meet such keys, see -ENOENT from their own calls. */
        log_warn("fetch",
                 "block %s is missing from the %s (referenced by the metadata): "
                 "EIO",
                 key, volume_key_inline(key, NULL) ? "database's inline blocks" : "bucket");
        rc = -EIO;
    }
    return rc < 0 ? rc : (ssize_t)len;
}

ssize_t fetch_block(struct volume *v, uint64_t id, uint32_t index, uint32_t blen, void *buf,
                    size_t len, uint32_t off)
{
    return fetch_block_put(v, id, index, blen, buf, len, off, CACHE_PUT_WAIT);
}

int fetch_warm(struct volume *v, uint64_t id, uint32_t index, uint32_t blen, int page_cache)
{
    int put = CACHE_PUT_WAIT | (page_cache ? 0 : CACHE_PUT_DIRECT);
    char key[LAYOUT_KEY_MAX];
    int rc = volume_block_key(v, id, index, blen, key, sizeof key);
    if (rc < 0)
        return rc;
    if (!v->cache)
        return -ENOSPC;
    if (cache_contains(v->cache, key))
        return 1;
    struct flight *f = fetch_flight(v, key, blen, put, FETCH_KEEP_NONE, &rc);
    if (!f)
        return rc;
    /* A flight that landed earlier (a reader's, or one whose put the cache
     * dropped) is offered again from memory rather than fetched again; a
     * put already queued makes this one a no-op. */
    if (rc == 0 && !cache_contains(v->cache, key))
        (void)fetch_offer(v, f, put);
    fetch_drop(f);
    if (rc < 0)
        return rc;
    cache_put_wait(v->cache, key);
    return cache_contains(v->cache, key) ? 0 : -ENOSPC;
}

static void *fetch_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fs.lock);
    for (;;) {
        while (fs.head == fs.tail) {
            if (spare.n == 0 && !fs.recent_head) { /* nothing to give back: no timed wake-ups */
                pthread_cond_wait(&fs.cond, &fs.lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += FETCH_SPARE_IDLE;
            if (pthread_cond_timedwait(&fs.cond, &fs.lock, &until) == ETIMEDOUT &&
                fs.head == fs.tail && fs.busy == 0)
                fetch_idle_release_locked();
        }
        struct fetch_job j = fs.ring[fs.tail++ % FETCH_RING];
        fs.busy++;
        pthread_mutex_unlock(&fs.lock);
        ssize_t n = 0;
        if (j.offer)
            fetch_reoffer(&j);
        else
            n = fetch_block_put(j.v, j.id, j.index, j.blen, NULL, 0, 0, j.put);
        pthread_mutex_lock(&fs.lock);
        if (n < 0)
            fs.failures++;
        fs.busy--;
        pthread_cond_broadcast(&fs.cond);
    }
    return NULL;
}

static void fetch_grow_pool_locked(struct volume *v)
{
    static int settle_registered; /* kept across fork: the child inherits the handler */
    if (!settle_registered && atexit(fetch_exit_settle) == 0)
        settle_registered = 1;
    int want = v->cfg.threads < FETCH_MAX_WORKERS ? v->cfg.threads : FETCH_MAX_WORKERS;
    unsigned queued = fs.head - fs.tail;
    while (fs.workers < want && (unsigned)fs.workers < queued + fs.busy) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 << 10);
        int rc = thread_start(&t, &at, fetch_worker, NULL);
        pthread_attr_destroy(&at);
        if (rc != 0)
            break;
        fs.workers++;
    }
}

int fetch_prefetch(struct volume *v, uint64_t id, uint32_t index, uint32_t blen, int flags)
{
    char key[LAYOUT_KEY_MAX];
    if (!v->cache || volume_block_key(v, id, index, blen, key, sizeof key) < 0)
        return 0;
    if (cache_contains(v->cache, key))
        return 0;
    pthread_mutex_lock(&fs.lock);
    int queued = 0;
    if (fs.head - fs.tail < FETCH_RING && fs.inflight_bytes + blen <= v->cfg.buffer_size &&
        !fetch_find(key)) {
        fs.ring[fs.head++ % FETCH_RING] = (struct fetch_job){
            v,    id,   index,
            blen, NULL, CACHE_PUT_WAIT | ((flags & FETCH_STREAM) ? CACHE_PUT_DIRECT : 0)
        };
        fs.st.prefetch_queued++;
        fetch_grow_pool_locked(v);
        pthread_cond_broadcast(&fs.cond);
        queued = 1;
    } else {
        fs.st.prefetch_dropped++;
    }
    pthread_mutex_unlock(&fs.lock);
    return queued;
}

int fetch_drain(void)
{
    pthread_mutex_lock(&fs.lock);
    while (fs.head != fs.tail || fs.busy)
        pthread_cond_wait(&fs.cond, &fs.lock);
    int failed = fs.failures;
    fs.failures = 0;
    pthread_mutex_unlock(&fs.lock);
    return failed;
}

void fetch_after_fork(void)
{
    /* The parent's flights and workers do not exist here; their memory is
     * left alone (a waiter could be mid-copy in the parent). */
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    fs.lock = m;
    fs.cond = c;
    memset(fs.flights, 0, sizeof fs.flights);
    fs.inflight_bytes = 0;
    fs.recent_head = fs.recent_tail = NULL;
    fs.recent_bytes = 0;
    spare.n = 0; /* the parent's spares may be in use by its threads' flights: leave them */
    spare.bytes = 0;
    fs.head = fs.tail = fs.busy = 0;
    fs.workers = 0;
    fs.offering = 0;
}

void fetch_get_stats(struct fetch_stats *st)
{
    pthread_mutex_lock(&fs.lock);
    *st = fs.st;
    pthread_mutex_unlock(&fs.lock);
}

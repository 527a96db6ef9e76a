/* volume.c - opening a volume and moving whole blocks between memory, the
 * node cache and the object store.
 *
 * Every block that leaves this file toward a caller has been verified: it
 * came from the cache (which verifies) or was decoded by the codec (which
 * verifies). A corrupt object is fetched a second time before the caller
 * gets -EIO, because the usual cause is a damaged transfer, not the object.
 */
#include "volume.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "codec.h"
#include "layout.h"
#include "log.h"
#include "agent.h"
#include "nodeconn.h"
#include "nodemeta.h"
#include "objstore.h"
#include "trust.h"
#include "thread.h"

static uint64_t volume_dev_of(const char *uuid)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: a stable fake st_dev */
    for (const char *p = uuid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (h & 0xffffffffULL) | 0x100000000ULL;
}

static void volume_open_cache(struct volume *v)
{
    if (!v->cfg.cache_dir[0] || v->cfg.cache_size == 0)
        return;
    struct cache_config cc = {
        .dir = v->cfg.cache_dir,
        .size_limit = v->cfg.cache_size,
        .free_space_ratio = v->cfg.free_space_ratio,
        .verify_every_read = v->cfg.cache_verify == CONFIG_VERIFY_ALWAYS,
        .trust_after_fill = v->cfg.cache_verify == CONFIG_VERIFY_ENTRY,
        .use_uring = v->cfg.uring,
        /* blocks waiting for the disk count in the process's memory, which
         * SHIMFS_BUFFER_SIZE bounds: a quarter of it (the cache's default,
         * 64 MiB, at most; 8 MiB, two blocks, at least) */
        .queue_bytes = v->cfg.buffer_size / 4 < (8u << 20) ? (8u << 20) : v->cfg.buffer_size / 4,
    };
    int rc = cache_open(&cc, &v->cache);
    if (rc < 0) {
        log_warn("volume", "cache %s unusable (%s); reading straight from the object store",
                 v->cfg.cache_dir, strerror(-rc));
        v->cache = NULL;
    }
}

/* Every user of the cache folder (cache, node metadata, writeback
 * staging, lock files, mmap working copies) reaches it by the real path
 * checked here; a folder another user could have filled is not used at
 * all (one line, from trust.c) and the volume works without it. */
static void volume_trust_cache_dir(struct volume *v)
{
    if (!v->cfg.cache_dir[0])
        return;     /* (checked with the cache off too: locks and staging live there) */
    int fd = trust_dir_open(v->cfg.cache_dir, sizeof v->cfg.cache_dir);
    if (fd >= 0)
        close(fd);
    else if (fd == -EPERM)
        v->cfg.cache_dir[0] = '\0';
}

/* After a commit: mark the directories it changed for the node's other
 * processes (only their snapshots and cached answers go stale). */
static int64_t volume_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A database round trip of this process, for the node's counters. */
static void volume_observe_query(void *arg, int64_t ns, int failed)
{
    struct volume *v = arg;
    cache_note_query(__atomic_load_n(&v->cache, __ATOMIC_ACQUIRE), ns > 0 ? (uint64_t)ns : 0,
                     failed);
}

static void volume_committed(void *arg)
{
    struct volume *v = arg;
    cache_note_commit(__atomic_load_n(&v->cache, __ATOMIC_ACQUIRE));
    if (!v->marks)
        return;
    uint64_t dirs[6];
    int n = meta_committed_dirs(v->meta, dirs, 6);
    uint64_t before = nodemeta_mark_local(v->marks, dirs, n);
    void (*fn)(uint64_t) = __atomic_load_n(&v->committed, __ATOMIC_ACQUIRE);
    if (fn)
        fn(before);
}

/* The settings: from the node's copy (no connection at all for a process
 * whose metadata the node has), else from the database, then shared with
 * the node. They change only when the volume is formatted again, so the
 * copy serves for VOLUME_SETTINGS_AGE, the way a mount keeps what it read
 * at mount time. Without a cache folder nothing is shared. */
#define VOLUME_SETTINGS_AGE (600LL * 1000000000LL)

/* volume_keep_marks's page; one per process (kept for its life). */
static struct nodemeta *volume_kept_marks;

int volume_keep_marks(const struct shimfs_config *cfg)
{
    assert(cfg);
    if (__atomic_load_n(&volume_kept_marks, __ATOMIC_ACQUIRE) || !cfg->cache_dir[0] ||
        cfg->cache_size == 0 || !cfg->node_meta)
        return 0;
    struct nodemeta *nm;
    int rc = nodemeta_open(cfg->cache_dir, cfg->meta, &nm);
    if (rc < 0)
        return rc;
    struct nodemeta *none = NULL;
    if (!__atomic_compare_exchange_n(&volume_kept_marks, &none, nm, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        nodemeta_close(nm);
    return 0;
}

static int volume_load_settings(struct volume *v)
{
    const struct shimfs_config *c = &v->cfg;
    if (c->cache_dir[0] && c->cache_size > 0 && c->node_meta) {
        int rc = nodemeta_open(c->cache_dir, c->meta, &v->node);
        if (rc < 0)
            log_warn("volume", "%s/meta unusable (%s): metadata is not shared with the node's "
                     "other processes", c->cache_dir, strerror(-rc));
    }
    if (v->node && c->node_conns > 0) {
        /* before the first connection: the settings below may need one */
        if (nodeconn_open(v->node, c->node_conns, 0, &v->conns) == 0)
            meta_set_conn_gate(v->meta, nodeconn_gate(v->conns));
    }
    v->marks = v->node ? v->node : __atomic_load_n(&volume_kept_marks, __ATOMIC_ACQUIRE);
    meta_set_commit_hook(v->meta, volume_committed, v); /* the node's marks, the commit count */
    meta_set_observer(v->meta, volume_observe_query, v);
    int64_t max_age = c->read_only ? -1 : VOLUME_SETTINGS_AGE;
    if (v->node && nodemeta_load_settings(v->node, max_age, &v->settings) == 0)
        return 0;
    /* asked once for the node's processes that start together (nodeconn.h) */
    int waited = 0, tok = v->conns ? nodeconn_flight_begin(v->node, 0x5e771196ULL, &waited) : -1;
    if (waited && nodemeta_load_settings(v->node, max_age, &v->settings) == 0) {
        nodeconn_flight_end(tok);
        return 0;
    }
    struct nodemeta_stamp st = v->node ? nodemeta_stamp(v->node) : (struct nodemeta_stamp){ 0 };
    int rc = meta_load_settings(v->meta, &v->settings);
    if (rc == 0 && v->node) {
        (void)nodemeta_save_settings(v->node, st, &v->settings);
        /* a cold node: its agent now, not at the first listing, so that
         * its chain of polls covers the answers the node's processes
         * share from their first ones (before it, each is used for one
         * TTL only, and a fan-out of cold workers asks it again) */
        agent_ensure(&v->cfg, v->node);
    }
    nodeconn_flight_end(tok);
    return rc;
}

/* The cache writes blocks in the background; at a normal exit, let the
 * queue land (bounded by its size: 64 MiB) so what this process fetched
 * serves the next one. One volume per process is the common case. */
static struct volume *volume_last;

static void volume_exit_flush(void)
{
    struct volume *v = __atomic_load_n(&volume_last, __ATOMIC_ACQUIRE);
    if (v && v->cache)
        (void)cache_flush(v->cache);
}

int volume_open(const struct shimfs_config *cfg, struct volume **out)
{
    struct volume *v = calloc(1, sizeof *v);
    if (!v)
        return -ENOMEM;
    v->cfg = *cfg;
    volume_trust_cache_dir(v);
    int rc = meta_open(cfg->meta, &v->meta);
    if (rc == 0) {
        meta_set_timeout(v->meta, cfg->meta_timeout_ms);
        rc = volume_load_settings(v);
    }
    if (rc == 0) {
        /* the cache folder passed volume_trust_cache_dir: this user's alone */
        struct obj_options oo = { .max_retries = -1,
                                  .deadline_ms = cfg->s3_timeout_ms,
                                  .payload = cfg->s3_payload,
                                  .cred_dir = v->cfg.cache_dir[0] && v->cfg.cache_size
                                                  ? v->cfg.cache_dir
                                                  : NULL };
        rc = obj_open(v->settings.bucket, &oo, &v->store);
        if (rc < 0)
            log_error("volume", "bucket %s of volume %s: %s", v->settings.bucket,
                      v->settings.name, strerror(-rc));
    }
    if (rc < 0) {
        volume_close(v);
        return rc;
    }
    v->dev = volume_dev_of(v->settings.uuid);
    volume_open_cache(v);
    if (v->cache && !__atomic_exchange_n(&volume_last, v, __ATOMIC_ACQ_REL))
        atexit(volume_exit_flush);
    *out = v;
    return 0;
}

void volume_close(struct volume *v)
{
    if (!v)
        return;
    struct volume *expect = v; /* a failed exchange writes into it: not into v */
    __atomic_compare_exchange_n(&volume_last, &expect, NULL, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    if (v->cache)
        cache_close(v->cache);
    if (v->store)
        obj_close(v->store);
    if (v->meta)
        meta_close(v->meta);
    nodeconn_close(v->conns); /* after the connections it bounds */
    nodemeta_close(v->node);
    free(v);
}

void volume_after_fork(struct volume *v)
{
    if (v)
        nodeconn_after_fork(v->conns);
}

void volume_get_parts(struct volume *v, struct volume_parts *out)
{
    assert(v && out);
    *out = (struct volume_parts){ .meta = v->meta, .store = v->store, .cache = v->cache,
                                  .node = v->node, .cfg = &v->cfg, .settings = &v->settings,
                                  .dev = v->dev };
}

void volume_set_committed(struct volume *v, void (*fn)(uint64_t before))
{
    __atomic_store_n(&v->committed, fn, __ATOMIC_RELEASE);
}

int volume_block_key(const struct volume *v, uint64_t id, uint32_t index,
                     uint32_t len, char *buf, size_t cap)
{
    return layout_block_key(buf, cap, v->settings.uuid, id, index, len);
}

/* The encoded object is only a way station: one buffer per thread, kept
 * (a fresh 4 MiB malloc is an mmap whose pages are faulted in and zeroed
 * every time, which cost more than the decode). Freed at thread exit. */
struct volume_scratch { void *p; size_t cap; };
static pthread_key_t volume_scratch_key;
static pthread_once_t volume_scratch_once = PTHREAD_ONCE_INIT;

static void volume_scratch_free(void *p)
{
    struct volume_scratch *s = p;
    free(s->p);
    free(s);
}

static void volume_scratch_make(void) { (void)pthread_key_create(&volume_scratch_key, volume_scratch_free); }

static void *volume_scratch(size_t cap)
{
    pthread_once(&volume_scratch_once, volume_scratch_make);
    struct volume_scratch *s = pthread_getspecific(volume_scratch_key);
    if (!s && (s = calloc(1, sizeof *s)))
        (void)pthread_setspecific(volume_scratch_key, s);
    if (!s)
        return NULL;
    if (s->cap < cap) {
        void *p = realloc(s->p, cap);
        if (!p)
            return NULL;
        s->p = p;
        s->cap = cap;
    }
    return s->p;
}

int volume_key_inline(const char *key, uint64_t *id)
{
    uint64_t x;
    uint32_t index, len;
    if (layout_parse_key(key, NULL, &x, &index, &len) < 0 || !layout_is_inline(x))
        return 0;
    if (id)
        *id = x;
    return 1;
}

/* A block's frame as stored: an inline block's from its row in the
 * database (no request to the bucket), any other from the bucket. Bytes
 * into buf, or -errno (-ENOENT: not there). */
static ssize_t volume_get_frame(struct volume *v, const char *key, void *buf, size_t cap)
{
    uint64_t id;
    if (volume_key_inline(key, &id))
        return meta_inline_get(v->meta, id, buf, cap);
    return obj_get(v->store, key, 0, 0, buf, cap);
}

int volume_fetch_block(struct volume *v, const char *key, uint32_t blen, void *raw)
{
    size_t cap = codec_bound(blen);
    void *enc = volume_scratch(cap);
    if (!enc)
        return -ENOMEM;
    int rc = -EIO;
    for (int attempt = 0; attempt < 2; attempt++) {
        ssize_t n = volume_get_frame(v, key, enc, cap);
        if (n < 0) {
            rc = (int)n;
            break; /* the store already retried and logged */
        }
        long d = codec_decode(enc, (size_t)n, raw, blen);
        if (d == (long)blen) {
            rc = 0;
            break;
        }
        log_warn("volume", "block %s is corrupt or truncated (%zd bytes fetched)%s", key, n,
                 attempt ? "; giving up with EIO" : "; fetching it again");
        rc = -EIO;
    }
    return rc;
}

/* Decode the object held in buf[0, n) within buf. Stored as is: verified
 * where it lies. Compressed: the payload (smaller than the block when
 * compression paid, which is when it is used) moves to this thread's
 * scratch and decompresses back into buf, at the same place a stored
 * block's bytes are (after the header). */
static long volume_decode_in(void *buf, size_t n, uint32_t blen, const void **raw, uint64_t *sum)
{
    char *at = (char *)buf + CODEC_HEADER_SIZE;
    *raw = at;
    if (codec_algo_of(buf, n) == CODEC_NONE)
        return codec_decode_sum(buf, n, at, blen, sum);
    void *enc = volume_scratch(n);
    if (!enc)
        return -ENOMEM;
    memcpy(enc, buf, n);
    return codec_decode_sum(enc, n, at, blen, sum);
}

int volume_fetch_into(struct volume *v, const char *key, uint32_t blen, void *buf, size_t cap,
                      const void **raw, uint64_t *sum)
{
    if (cap < codec_bound(blen))
        return -EINVAL;
    int rc = -EIO;
    for (int attempt = 0; attempt < 2; attempt++) {
        ssize_t n = volume_get_frame(v, key, buf, cap);
        if (n < 0) {
            rc = (int)n;
            break; /* the store already retried and logged */
        }
        long d = volume_decode_in(buf, (size_t)n, blen, raw, sum);
        if (d == (long)blen) {
            rc = 0;
            break;
        }
        if (d == -ENOMEM) {
            rc = -ENOMEM;
            break;
        }
        /* one warn line per block that stays bad: the retry is debug */
        log_msg(attempt ? LOG_WARN : LOG_DEBUG, "volume",
                "block %s is corrupt or truncated (%zd bytes fetched)%s", key, n,
                attempt ? "; giving up with EIO" : "; fetching it again");
        rc = -EIO;
    }
    return rc;
}

/* A block's key and its encoded frame (malloc'd, *n bytes): what goes to
 * the bucket, or inline into the database. */
static int volume_frame(struct volume *v, uint64_t id, uint32_t index, const void *data,
                        uint32_t len, char key[LAYOUT_KEY_MAX], void **enc, long *n)
{
    int rc = volume_block_key(v, id, index, len, key, LAYOUT_KEY_MAX);
    if (rc < 0)
        return rc;
    size_t cap = codec_bound(len);
    if (!(*enc = malloc(cap)))
        return -ENOMEM;
    *n = codec_encode(v->settings.compress_algo, v->settings.compress_level, data, len, *enc, cap);
    if (*n < 0) {
        free(*enc);
        *enc = NULL;
        return (int)*n;
    }
    return 0;
}

int volume_write_block(struct volume *v, uint64_t id, uint32_t index,
                       const void *data, uint32_t len)
{
    char key[LAYOUT_KEY_MAX];
    void *enc;
    long n;
    int rc = volume_frame(v, id, index, data, len, key, &enc, &n);
    if (rc < 0)
        return rc;
    int64_t t0 = volume_now_ns();
    rc = obj_put(v->store, key, enc, (size_t)n);
    cache_note_put(v->cache, 1, (uint64_t)n, (uint64_t)(volume_now_ns() - t0), rc != 0);
    free(enc);
    if (rc == 0 && v->cache)
        (void)cache_put(v->cache, key, data, len);
    return rc;
}

int volume_encode_inline(struct volume *v, uint64_t id, const void *data, uint32_t len,
                         void **frame, uint32_t *flen)
{
    assert(v && layout_is_inline(id) && len > 0 && len <= LAYOUT_MIN_BLOCK && frame && flen);
    char key[LAYOUT_KEY_MAX];
    void *enc;
    long n;
    int rc = volume_frame(v, id, 0, data, len, key, &enc, &n);
    if (rc < 0)
        return rc;
    /* the writer's node reads it back locally, as an uploaded slice's */
    if (v->cache)
        (void)cache_put(v->cache, key, data, len);
    *frame = enc;
    *flen = (uint32_t)n;
    return 0;
}

struct volume_upload {
    struct obj_request *reqs;
    char (*keys)[LAYOUT_KEY_MAX];
    int n;
};

static void volume_upload_free(struct volume_upload *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->reqs[i].buf);
    free(u->reqs);
    free(u->keys);
}

/* Encoding one block of a slice (the unit of the parallel encode). */
struct volume_enc_job {
    struct volume *v;
    const char *data;
    uint32_t len, bs;
    struct volume_upload *u;
    uint32_t next;          /* next block to take (atomic) */
    int rc;
};

static void *volume_enc_worker(void *arg)
{
    struct volume_enc_job *j = arg;
    for (;;) {
        uint32_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= (uint32_t)j->u->n)
            return NULL;
        uint32_t blen = layout_block_len(j->len, j->bs, i);
        struct obj_request *r = &j->u->reqs[i];
        long n = codec_encode(j->v->settings.compress_algo, j->v->settings.compress_level,
                              j->data + (size_t)i * j->bs, blen, r->buf, codec_bound(blen));
        if (n < 0)
            __atomic_store_n(&j->rc, (int)n, __ATOMIC_RELAXED);
        else
            r->len = (size_t)n;
    }
}

/* Compressing 16 blocks one after another held the writer for ~0.15 s per
 * 64 MiB before the first byte went out: encode on every core instead. */
static int volume_encode_all(struct volume *v, const void *data, uint32_t len, struct volume_upload *u)
{
    struct volume_enc_job j = { v, data, len, v->settings.block_size, u, 0, 0 };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int helpers = u->n > 1 ? (int)(cores > 1 ? cores - 1 : 0) : 0;
    pthread_t t[8];
    int started = 0;
    for (; started < helpers && started < 8; started++)
        if (thread_start(&t[started], NULL, volume_enc_worker, &j) != 0)
            break;
    volume_enc_worker(&j);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    return j.rc;
}

/* Blocks a writer uploads are also offered to the node cache, so the
 * node reads back what it wrote without a GET; for large slices that copy
 * cost a quarter of the writer's CPU, and a big checkpoint is mostly read
 * elsewhere after a failure, so only slices up to this size are cached. */
#define VOLUME_CACHE_WRITES_MAX (UINT32_C(16) << 20)

int volume_write_slice(struct volume *v, uint64_t id, const void *data, uint32_t len)
{
    uint32_t bs = v->settings.block_size;
    uint32_t nb = layout_block_count(len, bs);
    struct volume_upload u = { calloc(nb ? nb : 1, sizeof *u.reqs), calloc(nb ? nb : 1, LAYOUT_KEY_MAX), 0 };
    int rc = (u.reqs && u.keys) ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < nb; i++) {
        uint32_t blen = layout_block_len(len, bs, i);
        void *enc = malloc(codec_bound(blen));
        if (!enc) {
            rc = -ENOMEM;
            break;
        }
        u.reqs[u.n++] = (struct obj_request){ .op = OBJ_PUT, .key = u.keys[i], .buf = enc };
        int klen = volume_block_key(v, id, i, blen, u.keys[i], LAYOUT_KEY_MAX);
        if (klen < 0)
            rc = klen;
    }
    if (rc == 0 && u.n > 0)
        rc = volume_encode_all(v, data, len, &u);
    if (rc == 0 && u.n > 0) {
        int64_t t0 = volume_now_ns();
        rc = obj_batch(v->store, u.reqs, u.n);
        uint64_t sent = 0;
        for (int i = 0; i < u.n; i++)
            sent += u.reqs[i].len;
        cache_note_put(v->cache, (uint32_t)u.n, sent, (uint64_t)(volume_now_ns() - t0), rc != 0);
    }
    if (rc == 0 && v->cache && len <= VOLUME_CACHE_WRITES_MAX)
        for (uint32_t i = 0; i < nb; i++)
            (void)cache_put(v->cache, u.keys[i], (const char *)data + (size_t)i * bs,
                            layout_block_len(len, bs, i));
    volume_upload_free(&u);
    return rc;
}

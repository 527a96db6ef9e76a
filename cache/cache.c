/* cache.c - opening, closing and forking the node cache; its statistics.
 *
 * Promises: cache_open succeeds whenever the configuration is sane, even
 * when the directory cannot be created or written (logged once): such a
 * cache misses every read and drops every put, so callers never need a
 * second code path. Nothing is started here: the writer thread, its ring
 * and the read ring are made on first use, so a process that never touches
 * the cache pays for a few directory descriptors and one shared page.
 * The on-disk layout is described in cache_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache_internal.h"
#include "log.h"
#include "trust.h"

static int open_subdir(int at, const char *name)
{
    int fd = trust_subdir_open(at, name, 1);
    if (fd == -EROFS || fd == -EACCES)
        fd = trust_subdir_open(at, name, 0);     /* a read-only cache still serves */
    return fd;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Only a folder of ours that nobody else can write is used: another
 * user's planted block with a matching checksum would otherwise be read
 * as volume data (trust.h). A refusal is logged there, once. */
static void cache_dirs_open(struct cache *c)
{
    int fd = trust_dir_open(c->dir, PATH_MAX);
    int blocks = fd >= 0 ? open_subdir(fd, "blocks") : -ENOENT;
    int tmp = fd >= 0 ? open_subdir(fd, "tmp") : -ENOENT;
    int sums = fd >= 0 ? trust_subdir_open(fd, "sums", 0) : -ENOENT;
    if (blocks == -EPERM || tmp == -EPERM || sums == -EPERM) {
        close_fd(&fd);
        fd = -EPERM;
    }
    c->blocks_fd = fd >= 0 && blocks >= 0 ? blocks : (close_fd(&blocks), -1);
    c->tmp_fd = fd >= 0 && tmp >= 0 ? tmp : (close_fd(&tmp), -1);
    c->sums_fd = fd >= 0 && sums >= 0 ? sums : (close_fd(&sums), -1);
    if (fd < 0) {
        c->dir_err = -fd;
        if (fd == -EPERM)
            c->log_dir = 1; /* trust.c said why */
        log_once(&c->log_dir, LOG_WARN, CACHE_MOD, "%s: cannot use cache directory: %s: every read misses",
                 c->dir, strerror(c->dir_err));
        return;
    }
    c->dir_fd = fd;
    int lk = trust_file_open(fd, "lock", O_RDONLY | O_CREAT, 0600);
    if (lk >= 0)
        close(lk);
}

int cache_open(const struct cache_config *cfg, struct cache **out)
{
    if (!cfg || !cfg->dir || !*cfg->dir || !out)
        return -EINVAL;
    struct cache *c = calloc(1, sizeof *c);
    if (!c || strlen(cfg->dir) >= PATH_MAX || !(c->dir = calloc(1, PATH_MAX))) {
        free(c);
        return -ENOMEM;
    }
    strcpy(c->dir, cfg->dir);
    c->limit = cfg->size_limit;
    c->free_ratio = isfinite(cfg->free_space_ratio) && cfg->free_space_ratio > 0
                  ? fmin(cfg->free_space_ratio, 0.99) : 0;
    c->verify_every_read = cfg->verify_every_read;
    c->trust_after_fill = cfg->trust_after_fill;
    c->use_uring = cfg->use_uring;
    c->qmax = cfg->queue_bytes && cfg->queue_bytes < CACHE_QUEUE_BYTES ? (size_t)cfg->queue_bytes
                                                                       : CACHE_QUEUE_BYTES;
    c->dir_fd = c->blocks_fd = c->tmp_fd = c->sums_fd = c->lock_fd = -1;
    cache_queue_init(c);
    cache_ring_init(&c->wring);
    cache_ring_init(&c->rring);
    cache_dirs_open(c);
    cache_shared_open(c);
    *out = c;
    return 0;
}

void cache_after_fork(struct cache *c)
{
    if (!c)
        return;
    cache_queue_after_fork(c);
    cache_piece_after_fork();
    cache_ring_forget(&c->wring);
    cache_ring_forget(&c->rring);
    pthread_mutex_init(&c->rring.mu, NULL);
    c->log_put = c->log_uring = c->log_space = c->log_dir = 0;
    memset(c->ctr, 0, sizeof c->ctr);
}

void cache_close(struct cache *c)
{
    if (!c)
        return;
    cache_queue_stop(c);
    cache_ring_close(&c->wring);
    cache_ring_close(&c->rring);
    close_fd(&c->dir_fd);
    close_fd(&c->blocks_fd);
    close_fd(&c->tmp_fd);
    close_fd(&c->sums_fd);
    cache_shared_close(c);
    pthread_mutex_destroy(&c->qmu);
    pthread_cond_destroy(&c->qcv);
    pthread_cond_destroy(&c->qdone);
    free(c->seen);
    free(c->dir);
    free(c);
}

static const struct { enum cache_ctr ctr; size_t off; } stat_fields[] = {
    { CTR_HITS, offsetof(struct cache_stats, hits) },
    { CTR_MISSES, offsetof(struct cache_stats, misses) },
    { CTR_BYTES_HIT, offsetof(struct cache_stats, bytes_hit) },
    { CTR_PUTS, offsetof(struct cache_stats, puts) },
    { CTR_BYTES_PUT, offsetof(struct cache_stats, bytes_put) },
    { CTR_EVICTIONS, offsetof(struct cache_stats, evictions) },
    { CTR_CORRUPT, offsetof(struct cache_stats, corrupt) },
    { CTR_DROPPED, offsetof(struct cache_stats, dropped) },
    { CTR_PUT_ERRORS, offsetof(struct cache_stats, put_errors) },
    { CTR_GETS, offsetof(struct cache_stats, gets) },
    { CTR_GET_BYTES, offsetof(struct cache_stats, get_bytes) },
    { CTR_GET_NS, offsetof(struct cache_stats, get_ns) },
    { CTR_GET_ERRORS, offsetof(struct cache_stats, get_errors) },
    { CTR_OPUTS, offsetof(struct cache_stats, obj_puts) },
    { CTR_OPUT_BYTES, offsetof(struct cache_stats, obj_put_bytes) },
    { CTR_OPUT_NS, offsetof(struct cache_stats, obj_put_ns) },
    { CTR_OPUT_ERRORS, offsetof(struct cache_stats, obj_put_errors) },
    { CTR_QUERIES, offsetof(struct cache_stats, queries) },
    { CTR_QUERY_NS, offsetof(struct cache_stats, query_ns) },
    { CTR_QUERY_ERRORS, offsetof(struct cache_stats, query_errors) },
    { CTR_COMMITS, offsetof(struct cache_stats, commits) },
    { CTR_WARM_BYTES, offsetof(struct cache_stats, warm_bytes) },
    { CTR_WARM_BLOCKS, offsetof(struct cache_stats, warm_blocks) },
};

static int stats_fill(struct cache *c, const uint64_t *ctr, struct cache_stats *st)
{
    if (!c || !st)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < sizeof stat_fields / sizeof stat_fields[0]; i++)
        *(uint64_t *)((char *)st + stat_fields[i].off) =
            __atomic_load_n(&ctr[stat_fields[i].ctr], __ATOMIC_RELAXED);
    for (int i = 0; i < CACHE_HIST_N; i++) {
        st->get_hist[i] = __atomic_load_n(&ctr[CTR_GET_HIST + i], __ATOMIC_RELAXED);
        st->put_hist[i] = __atomic_load_n(&ctr[CTR_PUT_HIST + i], __ATOMIC_RELAXED);
        st->query_hist[i] = __atomic_load_n(&ctr[CTR_QUERY_HIST + i], __ATOMIC_RELAXED);
    }
    st->used_bytes = __atomic_load_n(&c->sh->used, __ATOMIC_RELAXED);
    st->files = __atomic_load_n(&c->sh->files, __ATOMIC_RELAXED);
    st->limit_bytes = c->limit;
    return 0;
}

int cache_get_stats(struct cache *c, struct cache_stats *st)
{
    return stats_fill(c, c ? c->ctr : NULL, st);
}

int cache_get_node_stats(struct cache *c, struct cache_stats *st)
{
    return stats_fill(c, c ? c->sh->ctr : NULL, st);
}

/* cli_warmup.c - `shimfs warmup [--threads N] [--[no-]page-cache] [--check|--evict] PATH...`:
 * fill the node cache with a tree's blocks before a job, tell how much of
 * it is cached, or drop it again.
 *
 * Promises: volume paths name files or directories; directories are walked
 * recursively without following the symlinks inside them (like find(1)),
 * and listing them loads the metadata caches (readdir-plus) on the way. The
 * walk runs on the main thread and hands every block of every file to N
 * worker threads through a bounded queue: memory stays bounded by the queue
 * and one file's block list, whatever the tree's size. A block already in
 * the cache costs a stat, never a GET. A missing path or an unreadable
 * directory is one line on stderr; blocks that fail are counted and
 * reported in one line at the end; either makes the exit status 1. Queued
 * cache writes are on disk before the command returns. Blocks are written
 * through the page cache or around it as --page-cache / --no-page-cache
 * say, else as the tree's size fits in memory (cli_warm_memory.c: the tree
 * is counted by one more walk first); the choice is one line on stdout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "vfs.h"

#define CLI_WARM_THREADS 50
#define CLI_WARM_THREADS_MAX 256
#define CLI_WARM_QUEUE_PER_THREAD 4
#define CLI_WARM_PATH_MAX 4096
#define CLI_WARM_ATTEMPTS 3          /* GETs of a block the cache dropped */
#define CLI_WARM_UNLANDED (128u << 20) /* blocks fetched, not yet on disk */

static const char cli_warm_usage[] =
    "usage: shimfs warmup [--threads N] [--page-cache | --no-page-cache] [--check | --evict]\n"
    "                     [--meta URL] PATH...\n"
    "\n"
    "Bring the blocks of volume files and directory trees (recursively) into\n"
    "this node's cache, so that a job reads them at local-disk speed. Listing\n"
    "the directories warms the metadata too. Blocks already cached are skipped.\n"
    "\n"
    "  --threads N  blocks fetched in parallel (default 50, at most 256)\n"
    "  --page-cache write the blocks through the page cache, so that they stay\n"
    "               in memory too and the job's first epoch reads from memory\n"
    "  --no-page-cache\n"
    "               write them to the cache disk directly (around the page\n"
    "               cache), so that a dataset larger than memory does not push\n"
    "               out the node's page cache, and the copy into it is saved\n"
    "  --check      only report how much of the tree is cached\n"
    "  --evict      drop the tree's blocks from the cache\n"
    "  --meta URL   database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help   this help\n"
    "\n"
    "Without either, through the page cache when the paths' files take at most\n"
    "SHIMFS_WARMUP_MEMORY_SHARE (0.5) of the memory free for it (MemAvailable,\n"
    "or the room under the container's memory limit), around it otherwise; a\n"
    "line says which and why.\n"
    "\n"
    "A progress bar is drawn when stderr is a terminal; a summary line is\n"
    "printed at the end. Exit status 1 if a path is missing or a block could\n"
    "not be fetched.\n";

enum cli_warm_mode { CLI_WARM_FETCH, CLI_WARM_CHECK, CLI_WARM_EVICT };

/* One file whose blocks are in the queue; freed by whoever finishes last
 * (the walk holds one extra count while it queues). */
struct cli_warm_file {
    _Atomic int pending;
    _Atomic int incomplete;     /* blocks failed (fetch) or not cached (check) */
    char path[];
};

struct cli_warm_task {
    struct cli_warm_file *file;
    struct vfs_block b;
};

struct cli_warm {
    int mode, threads;
    int page_cache;             /* 1 through the page cache, 0 around it, -1 by size */
    int counting;               /* the bar's pre-walk: totals only, quiet */
    uint64_t count_files, count_bytes;

    pthread_mutex_t qlock;
    pthread_cond_t qnot_empty, qnot_full;
    struct cli_warm_task *ring;
    int qcap, qhead, qcount, qclosed;
    pthread_t *workers;
    int nworkers;

    pthread_mutex_t blk_lock;   /* bytes fetched, not yet on disk */
    pthread_cond_t blk_room;
    uint64_t unlanded;

    struct vfs_block *blk;      /* the current file's blocks (walk thread) */
    size_t nblk, blk_cap;

    _Atomic uint64_t complete, fetched, cached, evicted, failed;
    uint64_t errors;            /* paths that failed (walk thread) */
    pthread_mutex_t elock;      /* the first failed block, for the report */
    int first_err;
    char first_path[CLI_WARM_PATH_MAX], first_key[sizeof(((struct vfs_block *)0)->key)];
    struct cli_progress progress;
};

/* ---- fetching ----
 * vfs_warm_block hands the block to the cache's write queue (64 MiB per
 * process) without a copy, waiting for room there rather than being dropped
 * as a reader's put would be, and returns once that block is on disk.
 * Memory is bounded here: at most CLI_WARM_UNLANDED bytes are fetched and
 * not yet on disk at a time (32 blocks of 4 MiB: with 32 MiB, only 8 of 50
 * threads could fetch big blocks at once, and the big file went at a sixth
 * of the server's parallelism). A block the cache would not keep (full
 * disk) is offered again, a bounded number of times. */
static void cli_warm_budget(struct cli_warm *w, int64_t delta)
{
    pthread_mutex_lock(&w->blk_lock);
    while (delta > 0 && w->unlanded > 0 && w->unlanded + (uint64_t)delta > CLI_WARM_UNLANDED)
        pthread_cond_wait(&w->blk_room, &w->blk_lock);
    w->unlanded += (uint64_t)delta;     /* modular: a negative delta subtracts */
    if (delta < 0)
        pthread_cond_broadcast(&w->blk_room);
    pthread_mutex_unlock(&w->blk_lock);
}

static int cli_warm_landed(const struct vfs_block *b)
{
    if (vfs_block_cached(b) > 0)
        return 1;
    vfs_cache_flush();
    return vfs_block_cached(b) > 0;
}

/* 1 already cached, 0 fetched and on disk, -ENOSPC dropped, or -errno. */
static int cli_warm_fetch_once(const struct cli_warm *w, const struct vfs_block *b)
{
    int rc = vfs_warm_block(b, w->page_cache);

    return rc == 0 && !cli_warm_landed(b) ? -ENOSPC : rc;
}

/* ---- what each mode does to one block ----
 * 0: the block is as the mode wants it (cached; for evict, gone),
 * 1: it is not cached (check), or -errno. */
static int cli_warm_fetch(struct cli_warm *w, const struct vfs_block *b)
{
    int rc = vfs_block_cached(b) > 0 ? 1 : -ENOSPC;

    if (rc == -ENOSPC) {
        cli_warm_budget(w, b->len);
        for (int attempt = 0; rc == -ENOSPC && attempt < CLI_WARM_ATTEMPTS; attempt++)
            rc = cli_warm_fetch_once(w, b);
        cli_warm_budget(w, -(int64_t)b->len);
    }
    if (rc >= 0)
        atomic_fetch_add(rc == 1 ? &w->cached : &w->fetched, b->len);
    return rc < 0 ? rc : 0;     /* -ENOSPC: fetched, but the cache would not keep it */
}

static int cli_warm_check(struct cli_warm *w, const struct vfs_block *b)
{
    if (vfs_block_cached(b) <= 0)
        return 1;
    atomic_fetch_add(&w->cached, b->len);
    return 0;
}

static int cli_warm_evict(struct cli_warm *w, const struct vfs_block *b)
{
    if (vfs_block_cached(b) <= 0)
        return 0;
    int rc = vfs_evict_block(b);
    if (rc == 0)
        atomic_fetch_add(&w->evicted, b->len);
    return rc;
}

static int (*const cli_warm_ops[])(struct cli_warm *, const struct vfs_block *) = {
    [CLI_WARM_FETCH] = cli_warm_fetch,
    [CLI_WARM_CHECK] = cli_warm_check,
    [CLI_WARM_EVICT] = cli_warm_evict,
};

/* ---- messages ---- */
/* One line on stderr, erasing the bar first so the two never mix. */
static void cli_warm_say(struct cli_warm *w, const char *path, const char *why)
{
    struct cli_progress *p = &w->progress;

    pthread_mutex_lock(&p->lock);
    if (p->tty && p->running)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "shimfs warmup: %s: %s\n", path, why);
    fflush(stderr);
    pthread_mutex_unlock(&p->lock);
}

static void cli_warm_path_error(struct cli_warm *w, const char *path, int rc, const char *host)
{
    char why[CLI_WARM_PATH_MAX + 64];

    if (w->counting)
        return;     /* the real walk reports it */
    if (rc == VFS_ESCAPED)
        snprintf(why, sizeof why, "leads outside the volume (to %s)", host);
    else
        snprintf(why, sizeof why, "%s", strerror(rc < 0 ? -rc : rc));
    cli_warm_say(w, path, why);
    w->errors++;
}

static void cli_warm_block_failed(struct cli_warm *w, struct cli_warm_file *f,
                                  const struct vfs_block *b, int err)
{
    if (atomic_fetch_add(&w->failed, 1) != 0)
        return;
    pthread_mutex_lock(&w->elock);
    w->first_err = err;
    snprintf(w->first_path, sizeof w->first_path, "%s", f->path);
    snprintf(w->first_key, sizeof w->first_key, "%s", b->key);
    pthread_mutex_unlock(&w->elock);
}

/* ---- workers ---- */
static void cli_warm_file_release(struct cli_warm *w, struct cli_warm_file *f)
{
    if (atomic_fetch_sub(&f->pending, 1) != 1)
        return;
    atomic_fetch_add(&w->progress.items, 1);
    if (atomic_load(&f->incomplete) == 0)
        atomic_fetch_add(&w->complete, 1);
    free(f);
}

static void cli_warm_run_task(struct cli_warm *w, struct cli_warm_task *t)
{
    int rc = cli_warm_ops[w->mode](w, &t->b);

    if (rc != 0)
        atomic_fetch_add(&t->file->incomplete, 1);
    if (rc < 0)
        cli_warm_block_failed(w, t->file, &t->b, rc);
    atomic_fetch_add(&w->progress.bytes, t->b.len);
    cli_warm_file_release(w, t->file);
}

static void *cli_warm_worker(void *arg)
{
    struct cli_warm *w = arg;
    struct cli_warm_task t;

    for (;;) {
        pthread_mutex_lock(&w->qlock);
        while (w->qcount == 0 && !w->qclosed)
            pthread_cond_wait(&w->qnot_empty, &w->qlock);
        if (w->qcount == 0) {
            pthread_mutex_unlock(&w->qlock);
            return NULL;
        }
        t = w->ring[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qcount--;
        pthread_cond_signal(&w->qnot_full);
        pthread_mutex_unlock(&w->qlock);
        cli_warm_run_task(w, &t);
    }
}

static void cli_warm_push(struct cli_warm *w, struct cli_warm_file *f, const struct vfs_block *b)
{
    pthread_mutex_lock(&w->qlock);
    while (w->qcount == w->qcap)
        pthread_cond_wait(&w->qnot_full, &w->qlock);
    struct cli_warm_task *t = &w->ring[(w->qhead + w->qcount) % w->qcap];
    t->file = f;
    t->b = *b;
    w->qcount++;
    pthread_cond_signal(&w->qnot_empty);
    pthread_mutex_unlock(&w->qlock);
}

static int cli_warm_pool_start(struct cli_warm *w)
{
    pthread_mutex_init(&w->qlock, NULL);
    pthread_cond_init(&w->qnot_empty, NULL);
    pthread_cond_init(&w->qnot_full, NULL);
    w->qcap = w->threads * CLI_WARM_QUEUE_PER_THREAD;
    w->ring = calloc((size_t)w->qcap, sizeof *w->ring);
    w->workers = calloc((size_t)w->threads, sizeof *w->workers);
    if (!w->ring || !w->workers)
        return -ENOMEM;
    for (; w->nworkers < w->threads; w->nworkers++) {
        int rc = pthread_create(&w->workers[w->nworkers], NULL, cli_warm_worker, w);
        if (rc != 0)
            return w->nworkers > 0 ? 0 : -rc;   /* fewer threads still work */
    }
    return 0;
}

static void cli_warm_pool_finish(struct cli_warm *w)
{
    pthread_mutex_lock(&w->qlock);
    w->qclosed = 1;
    pthread_cond_broadcast(&w->qnot_empty);
    pthread_mutex_unlock(&w->qlock);
    for (int i = 0; i < w->nworkers; i++)
        pthread_join(w->workers[i], NULL);
}

/* ---- the walk ---- */
static int cli_warm_collect(void *arg, const struct vfs_block *b)
{
    struct cli_warm *w = arg;

    if (w->nblk == w->blk_cap) {
        size_t cap = w->blk_cap ? 2 * w->blk_cap : 64;
        struct vfs_block *n = realloc(w->blk, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        w->blk = n;
        w->blk_cap = cap;
    }
    w->blk[w->nblk++] = *b;
    return 0;
}

/* The blocks of one file opened with `flags` into w->blk. They are
 * collected first and queued after the file is released, so no vfs state
 * is held while the walk waits for room in the queue. *size: its size. */
static int cli_warm_open_blocks(struct cli_warm *w, const char *path, int flags, uint64_t *size,
                                char *host, size_t hcap)
{
    struct vfs_file *f;
    struct stat st;
    int rc = vfs_open(path, flags | O_CLOEXEC, 0, &f, host, hcap);

    if (rc != 0)
        return rc;
    w->nblk = 0;
    rc = vfs_fstat(f, &st);
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = -EISDIR;
    if (rc == 0) {
        *size = (uint64_t)st.st_size;
        rc = vfs_file_blocks(f, cli_warm_collect, w);
    }
    int fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    return rc;
}

/* O_PATH first: reading opens of a small uncached file copy its content
 * (a GET, on this thread) before vfs_file_blocks is ever asked, which
 * would serialise warmup and make --check fetch what it only looks at.
 * An engine that lists no blocks of an O_PATH file gets a read open. */
static int cli_warm_file_blocks(struct cli_warm *w, const char *path, char *host, size_t hcap)
{
    uint64_t size = 0;
    int rc = cli_warm_open_blocks(w, path, O_PATH, &size, host, hcap);

    if (rc == 0 && w->nblk == 0 && size > 0)
        rc = cli_warm_open_blocks(w, path, O_RDONLY, &size, host, hcap);
    return rc;
}

static int cli_warm_count_file(struct cli_warm *w, const char *path)
{
    char host[VFS_HOST_MAX];
    struct stat st;

    if (vfs_stat(path, 0, &st, host, sizeof host) == 0 && S_ISREG(st.st_mode)) {
        w->count_files++;
        w->count_bytes += (uint64_t)st.st_size;
    }
    return 0;
}

static int cli_warm_file(struct cli_warm *w, const char *path)
{
    char host[VFS_HOST_MAX];
    size_t plen = strlen(path);

    if (w->counting)
        return cli_warm_count_file(w, path);
    int rc = cli_warm_file_blocks(w, path, host, sizeof host);
    if (rc != 0) {
        cli_warm_path_error(w, path, rc, host);
        return 0;
    }
    struct cli_warm_file *f = malloc(sizeof *f + plen + 1);
    if (!f)
        return -ENOMEM;
    atomic_init(&f->pending, (int)w->nblk + 1);
    atomic_init(&f->incomplete, 0);
    memcpy(f->path, path, plen + 1);
    for (size_t i = 0; i < w->nblk; i++)
        cli_warm_push(w, f, &w->blk[i]);
    cli_warm_file_release(w, f);
    return 0;
}

/* Directories still to list: a stack of paths, so depth costs heap, not
 * the C stack. */
struct cli_warm_stack {
    char **v;
    size_t n, cap;
};

static int cli_warm_stack_push(struct cli_warm_stack *s, const char *path)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **n = realloc(s->v, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        s->v = n;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(path)))
        return -ENOMEM;
    s->n++;
    return 0;
}

/* What an entry is, when the listing did not say. */
static unsigned char cli_warm_type(const char *path, unsigned char type)
{
    char host[VFS_HOST_MAX];
    struct stat st;

    if (type != DT_UNKNOWN)
        return type;
    if (vfs_stat(path, VFS_NOFOLLOW, &st, host, sizeof host) != 0)
        return DT_UNKNOWN;
    return S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
}

static int cli_warm_entry(struct cli_warm *w, struct cli_warm_stack *s, const char *dir,
                          const struct vfs_dirent *e)
{
    char path[CLI_WARM_PATH_MAX];

    if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
        return 0;
    if (cli_path_join(dir, e->name, path, sizeof path) < 0) {
        cli_warm_path_error(w, e->name, -ENAMETOOLONG, NULL);
        return 0;
    }
    switch (cli_warm_type(path, e->type)) {
    case DT_DIR:
        return cli_warm_stack_push(s, path);
    case DT_REG:
        return cli_warm_file(w, path);
    default:
        return 0;   /* symlinks are not followed; devices have no blocks */
    }
}

/* List one directory: files are warmed now, subdirectories stacked. */
static int cli_warm_list(struct cli_warm *w, struct cli_warm_stack *s, const char *dir)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f;
    struct vfs_dir *d;
    struct vfs_dirent e;
    int rc = vfs_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &f, host, sizeof host);

    if (rc != 0) {
        cli_warm_path_error(w, dir, rc, host);
        return 0;
    }
    rc = vfs_dir_open(f, &d);
    if (rc == 0) {
        while (rc == 0 && (rc = vfs_dir_next(d, &e)) > 0)
            rc = cli_warm_entry(w, s, dir, &e);
        vfs_dir_close(d);
    }
    int fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        cli_warm_path_error(w, dir, rc, NULL);
    return 0;
}

static int cli_warm_tree(struct cli_warm *w, const char *root)
{
    struct cli_warm_stack s = { 0 };
    int rc = cli_warm_stack_push(&s, root);

    while (rc == 0 && s.n > 0) {
        char *dir = s.v[--s.n];
        rc = cli_warm_list(w, &s, dir);
        free(dir);
    }
    while (s.n > 0)
        free(s.v[--s.n]);
    free(s.v);
    return rc;
}

/* One command-line path: a file, or a directory to walk. */
static int cli_warm_arg(struct cli_warm *w, const char *arg)
{
    char path[CLI_WARM_PATH_MAX], host[VFS_HOST_MAX];
    struct stat st;
    int rc;

    if (cli_volume_path(arg, path, sizeof path) < 0) {
        cli_warm_path_error(w, arg, -ENAMETOOLONG, NULL);
        return 0;
    }
    rc = vfs_stat(path, 0, &st, host, sizeof host);
    if (rc != 0) {
        cli_warm_path_error(w, arg, rc, host);
        return 0;
    }
    if (S_ISDIR(st.st_mode))
        return cli_warm_tree(w, path);
    if (S_ISREG(st.st_mode))
        return cli_warm_file(w, path);
    return 0;
}

static int cli_warm_walk(struct cli_warm *w, char **paths, int n)
{
    int rc = 0;

    for (int i = 0; rc == 0 && i < n; i++)
        rc = cli_warm_arg(w, paths[i]);
    return rc;
}

/* ---- the command ---- */
static void cli_warm_summary(struct cli_warm *w, double secs)
{
    double mib = atomic_load(&w->progress.bytes) / 1048576.0;
    double cached = atomic_load(&w->cached) / 1048576.0;
    unsigned long long files = atomic_load(&w->progress.items);

    if (secs <= 0)
        secs = 1e-9;
    if (w->mode == CLI_WARM_FETCH) {
        printf("warmed %llu files, %.1f MiB (%.1f MiB fetched, %.1f MiB already cached) "
               "in %.2f s (%.1f MiB/s)\n", files, mib, atomic_load(&w->fetched) / 1048576.0,
               cached, secs, mib / secs);
    } else if (w->mode == CLI_WARM_CHECK) {
        uint64_t total = atomic_load(&w->progress.bytes);
        /* Rounded down: "100.0%" must mean every byte. */
        double pct = total ? (double)(uint64_t)(1000.0 * atomic_load(&w->cached) / total) / 10
                           : 100.0;
        printf("%llu of %llu files fully cached, %.1f of %.1f MiB cached (%.1f%%)\n",
               (unsigned long long)atomic_load(&w->complete), files, cached, mib, pct);
    } else {
        printf("evicted %.1f MiB of %llu files (%.1f MiB in the tree) in %.2f s\n",
               atomic_load(&w->evicted) / 1048576.0, files, mib, secs);
    }
    fflush(stdout);
}

static int cli_warm_report_failures(struct cli_warm *w)
{
    unsigned long long n = atomic_load(&w->failed);

    if (n == 0)
        return CLI_OK;
    return cli_fail("warmup", w->first_path, "%llu block%s failed; first %s: %s", n,
                    n == 1 ? "" : "s", w->first_key, strerror(-w->first_err));
}

/* Warming needs a cache to warm; say why there is none in one line. */
static int cli_warm_need_cache(void)
{
    struct vfs_stats st;
    int rc = vfs_get_stats(&st);

    if (rc < 0)
        return cli_fail("warmup", "cache", "%s", strerror(-rc));
    if (!st.cache_on)
        return cli_fail("warmup", "cache", "the node cache is off (SHIMFS_CACHE_SIZE=0, or "
                        "SHIMFS_CACHE_DIR unusable: run with -v to see why)");
    return CLI_OK;
}

/* Settle through or around the page cache and say which, and why. */
static void cli_warm_page_cache(struct cli_warm *w)
{
    char why[256];

    if (w->page_cache < 0) {
        struct shimfs_config cfg;
        config_load(&cfg);
        w->page_cache = cli_warm_choose(&cfg, w->count_bytes, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "%s it (--%spage-cache)", w->page_cache ? "through" : "around",
                 w->page_cache ? "" : "no-");
    }
    printf("page cache: %s\n", why);
    fflush(stdout);
}

static int cli_warm_run(struct cli_warm *w, char **paths, int n)
{
    const char *label = w->mode == CLI_WARM_FETCH ? "files" : "files checked";
    double t0 = cli_mono_s();
    int rc;

    int choose = w->mode == CLI_WARM_FETCH && w->page_cache < 0;
    if (choose || isatty(STDERR_FILENO)) {
        /* Totals for the page-cache choice and the bar's ETA; only worth a
         * second listing for those (the first one fills the metadata
         * caches). */
        w->counting = 1;
        cli_warm_walk(w, paths, n);
        w->counting = 0;
    }
    if (w->mode == CLI_WARM_FETCH)
        cli_warm_page_cache(w);
    cli_progress_start(&w->progress, label, w->count_files, w->count_bytes);
    rc = cli_warm_pool_start(w);
    if (rc == 0)
        rc = cli_warm_walk(w, paths, n);
    cli_warm_pool_finish(w);
    cli_progress_stop(&w->progress);
    if (rc < 0)
        return cli_fail("warmup", "walk", "%s", strerror(-rc));
    int frc = vfs_cache_flush();
    if (frc < 0)
        cli_fail("warmup", "cache", "flushing cache writes: %s", strerror(-frc));
    cli_warm_summary(w, cli_mono_s() - t0);
    rc = cli_warm_report_failures(w);
    return rc != CLI_OK || frc < 0 || w->errors ? CLI_FAIL : CLI_OK;
}

int cli_cmd_warmup(int argc, char **argv)
{
    struct cli_warm *w = calloc(1, sizeof *w);
    int code = CLI_OK;

    if (!w)
        return cli_fail("warmup", "memory", "%s", strerror(ENOMEM));
    w->threads = CLI_WARM_THREADS;
    w->page_cache = -1;
    pthread_mutex_init(&w->elock, NULL);
    pthread_mutex_init(&w->blk_lock, NULL);
    pthread_cond_init(&w->blk_room, NULL);
    const struct cli_opt opts[] = {
        { "threads", CLI_OPT_INT, &w->threads, 1, CLI_WARM_THREADS_MAX },
        { "check", CLI_OPT_CHOICE, &w->mode, CLI_WARM_CHECK, 0 },
        { "evict", CLI_OPT_CHOICE, &w->mode, CLI_WARM_EVICT, 0 },
        { "page-cache", CLI_OPT_CHOICE, &w->page_cache, 1, 0 },
        { "no-page-cache", CLI_OPT_CHOICE, &w->page_cache, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };
    if (cli_parse_options(argc, argv, "warmup", cli_warm_usage, opts, "PATH", &code) == 0) {
        if (cli_vfs_init("warmup") != 0 || cli_warm_need_cache() != CLI_OK)
            code = CLI_FAIL;
        else
            code = cli_warm_run(w, argv + optind, argc - optind);
    }
    free(w->ring);
    free(w->workers);
    free(w->blk);
    free(w);
    return code;
}

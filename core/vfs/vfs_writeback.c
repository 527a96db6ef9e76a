/* vfs_writeback.c - SHIMFS_WRITEBACK=1: close and fsync return once the
 * data is durable on local disk; uploads and commits follow in the
 * background.
 *
 * A flush writes the dirty pieces into a journal under
 * $SHIMFS_CACHE_DIR/staging/ (header, piece table, bytes), fsyncs it and
 * queues it; the journal's descriptor holds an exclusive flock until the
 * commit is done and the journal unlinked. If the process dies first, the
 * lock dies with it, and the next shim process on the node that touches the
 * volume (or `shimfs flush`) finds an unlocked journal, takes the lock and
 * commits it. Nothing is lost, at worst committed twice (the same bytes,
 * new slices: harmless; an append journal committed twice appends twice,
 * the price of never losing one). Journals are named <uuid>-<ino>-<ns>-<pid>-<seq>
 * so sorting by name keeps each file's commits in order. A process that
 * exits normally waits (bounded) for its queue. Namespace changes and
 * truncates in this process first wait for the queue, so a rename never
 * overtakes the data it publishes.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "trust.h"
#include "vfs_internal.h"
#include "thread.h"

#define WB_MAGIC "SHMFSWB1"
#define WB_QUEUE VFS_WB_QUEUE
#define WB_EXIT_WAIT_S 60

struct wb_header {
    char magic[8];
    uint64_t ino, size;
    int64_t mtime_ns;
    uint32_t n, flags;
};
/* The pieces are appends: offsets are relative to the appended run and the
 * commit places them at the file's end then (meta_append). */
#define WB_APPEND 1u
struct wb_piece { uint64_t off; uint32_t len, pad; };

static struct vfs_wb_state *const wb = &vfs_eng.wb;

static int wb_enabled(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->cfg.writeback;
}

static int wb_dir(char *buf, size_t cap)
{
    const char *dir = vfs_eng.cfg.cache_dir;
    if (!dir[0])
        return -ENOENT;     /* no cache folder we trust (volume_open): write through */
    int n = snprintf(buf, cap, "%s/staging", dir);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    (void)mkdir(dir, 0700);
    (void)mkdir(buf, 0700);
    /* journals are replayed as writes: only ours (trust.h) */
    int fd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd < 0 ? (errno == ELOOP ? -EPERM : -errno) : trust_fd_check(fd, buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int wb_read_all(int fd, void *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        p = (char *)p + r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* The journal's header and piece table, checked against the file's size:
 * every piece inside one chunk, the bytes exactly filling the rest of the
 * file. A torn or corrupt journal is -EIO, never a huge allocation nor a
 * read past its end. *pcp: h->n pieces (malloc'd, at least one slot). */
static int wb_read_table(int fd, struct wb_header *h, struct wb_piece **pcp)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int rc = wb_read_all(fd, h, sizeof *h, 0);
    if (rc < 0)
        return rc;
    uint64_t table = sizeof *h + (uint64_t)h->n * sizeof(struct wb_piece);
    if (memcmp(h->magic, WB_MAGIC, 8) != 0 || h->n > (1u << 20) || (uint64_t)st.st_size < table)
        return -EIO;
    struct wb_piece *pc = malloc((h->n ? h->n : 1) * sizeof *pc);
    if (!pc)
        return -ENOMEM;
    rc = wb_read_all(fd, pc, h->n * sizeof *pc, sizeof *h);
    uint64_t bytes = 0;
    for (uint32_t i = 0; rc == 0 && i < h->n; i++) {
        /* an append's offsets are relative, its pieces one after the other
         * from 0 (meta_append refuses anything else): it is cut at chunk
         * boundaries where the commit places it, so only its slice must
         * fit a chunk */
        uint64_t room = (h->flags & WB_APPEND) ? LAYOUT_CHUNK_SIZE
                                               : LAYOUT_CHUNK_SIZE - layout_chunk_offset(pc[i].off);
        if (pc[i].len > room || ((h->flags & WB_APPEND) && pc[i].off != bytes))
            rc = -EIO;
        bytes += pc[i].len;
    }
    if (rc == 0 && bytes != (uint64_t)st.st_size - table)
        rc = -EIO;
    if (rc < 0) {
        free(pc);
        return rc;
    }
    *pcp = pc;
    return 0;
}

/* Upload and commit one journal. -ENOENT (the file is gone): drop it. */
static int wb_commit(int fd)
{
    struct wb_header h;
    struct wb_piece *pc = NULL;
    int rc = wb_read_table(fd, &h, &pc);
    if (rc < 0)
        return rc;
    struct meta_slice_rec *recs = calloc(h.n ? h.n : 1, sizeof *recs);
    struct meta_append_rec *ar = calloc(h.n ? h.n : 1, sizeof *ar);
    if (!recs || !ar)
        rc = -ENOMEM;
    off_t at = (off_t)(sizeof h + h.n * sizeof *pc);
    for (uint32_t i = 0; rc == 0 && i < h.n; i++) {
        char *data = malloc(pc[i].len ? pc[i].len : 1);
        uint64_t id = 0;
        rc = data ? wb_read_all(fd, data, pc[i].len, at) : -ENOMEM;
        if (rc == 0)
            rc = vfs_next_slice_id(&id);
        if (rc == 0)
            rc = volume_write_slice(vfs_eng.vol, id, data, pc[i].len);
        free(data);
        recs[i] = (struct meta_slice_rec){ layout_chunk_index(pc[i].off),
                                           { layout_chunk_offset(pc[i].off), id, pc[i].len, 0, pc[i].len } };
        ar[i] = (struct meta_append_rec){ pc[i].off, id, pc[i].len, 0, pc[i].len };
        at += pc[i].len;
    }
    struct meta_attr a;
    if (rc == 0 && (h.flags & WB_APPEND))
        rc = meta_append(vfs_eng.meta, h.ino, ar, (int)h.n, h.mtime_ns, &a, NULL);
    else if (rc == 0)
        rc = meta_write(vfs_eng.meta, h.ino, recs, (int)h.n, h.size, 0, h.mtime_ns, &a);
    if (rc == 0)
        mcache_put_attr(&a);
    if (rc == 0)
        vfs_compact_check(&a);
    if (rc == -ESTALE)
        vfs_slice_ids_stale();  /* the journal is kept and uploaded again */
    free(pc);
    free(recs);
    free(ar);
    return rc;
}

/* Commit, then unlink and unlock; keep the journal on a retryable failure. */
static int wb_finish(int fd, const char *path)
{
    int rc = wb_commit(fd);
    if (rc == 0 || rc == -ENOENT || rc == -EIO) {
        if (rc)
            log_error("writeback", "journal %s cannot be committed (%s); dropped", path, strerror(-rc));
        unlink(path);
    } else {
        log_warn("writeback", "journal %s: %s; kept for a later retry", path, strerror(-rc));
    }
    close(fd);
    return rc;
}

static void *wb_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wb->lock);
    for (;;) {
        while (wb->head == wb->tail)
            pthread_cond_wait(&wb->cond, &wb->lock);
        struct vfs_wb_job j = wb->q[wb->tail % WB_QUEUE];
        wb->busy = 1;
        pthread_mutex_unlock(&wb->lock);
        int rc = wb_finish(j.fd, j.path);
        pthread_mutex_lock(&wb->lock);
        if (rc < 0 && rc != -ENOENT && rc != -EIO)
            wb->failures++;
        wb->tail++;
        wb->busy = 0;
        pthread_cond_broadcast(&wb->cond);
    }
    return NULL;
}

static void wb_atexit(void)
{
    vfs_wb_exit_wait();
}

void vfs_wb_exit_wait(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WB_EXIT_WAIT_S;
    pthread_mutex_lock(&wb->lock);
    while ((wb->head != wb->tail || wb->busy) &&
           pthread_cond_timedwait(&wb->cond, &wb->lock, &until) == 0)
        ;
    if (wb->head != wb->tail)
        log_warn("writeback", "exiting with %u journals not yet uploaded; the next shimfs process "
                 "on this node (or shimfs flush) commits them", wb->head - wb->tail);
    pthread_mutex_unlock(&wb->lock);
}

static int wb_enqueue(int fd, const char *path)
{
    pthread_mutex_lock(&wb->lock);
    while (wb->head - wb->tail >= WB_QUEUE)
        pthread_cond_wait(&wb->cond, &wb->lock);
    if (!wb->thread) {
        pthread_t t;
        if (thread_start(&t, NULL, wb_thread, NULL) == 0) {
            pthread_detach(t);
            wb->thread = 1;
            atexit(wb_atexit);
        }
    }
    struct vfs_wb_job *j = &wb->q[wb->head % WB_QUEUE];
    j->fd = fd;
    snprintf(j->path, sizeof j->path, "%s", path);
    wb->head++;
    pthread_cond_broadcast(&wb->cond);
    int ok = wb->thread;
    pthread_mutex_unlock(&wb->lock);
    return ok ? 0 : -EAGAIN;
}

static int wb_write_journal(int fd, const struct vfs_file *f)
{
    struct wb_header h = { WB_MAGIC, f->attr.ino, f->size, f->mtime_ns, (uint32_t)f->ndirty,
                           f->append_dirty ? WB_APPEND : 0 };
    uint64_t base = f->append_dirty ? f->append_base : 0;
    int rc = io_write_all(fd, &h, sizeof h);
    for (int i = 0; rc == 0 && i < f->ndirty; i++) {
        struct wb_piece p = { f->dirty[i].off - base, f->dirty[i].len, 0 };
        rc = io_write_all(fd, &p, sizeof p);
    }
    for (int i = 0; rc == 0 && i < f->ndirty; i++)
        rc = io_write_all(fd, f->dirty[i].data, f->dirty[i].len);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    return rc;
}

int vfs_wb_stage_locked(struct vfs_file *f)
{
    assert(f->ndirty >= 0 && (f->ndirty == 0 || f->dirty));
    char dir[4200], path[4400];
    int rc = wb_dir(dir, sizeof dir);
    if (rc < 0)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int seq = __atomic_add_fetch(&wb->seq, 1, __ATOMIC_RELAXED);
    snprintf(path, sizeof path, "%s/%s-%020llu-%lld%09ld-%d-%d.wb", dir, vfs_eng.settings.uuid,
             (unsigned long long)f->attr.ino, (long long)ts.tv_sec, ts.tv_nsec, (int)getpid(), seq);
    /* queued while the program runs on, read by the writeback thread: above
     * the numbers a shell dup2s onto (io.h) */
    int fd = io_fd_high(open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd < 0)
        return -errno;
    rc = flock(fd, LOCK_EX) < 0 ? -errno : wb_write_journal(fd, f);
    if (rc == 0)
        rc = wb_enqueue(fd, path);
    if (rc < 0) {
        log_error("writeback", "staging %s failed: %s; writing through instead", f->path, strerror(-rc));
        unlink(path);
        close(fd);
        return rc;
    }
    return 0;
}

int vfs_wb_drain(void)
{
    if (!wb_enabled())
        return 0;
    pthread_mutex_lock(&wb->lock);
    while (wb->head != wb->tail || wb->busy)
        pthread_cond_wait(&wb->cond, &wb->lock);
    int failed = wb->failures;
    wb->failures = 0;
    pthread_mutex_unlock(&wb->lock);
    return failed ? -EIO : 0;
}

static int wb_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Commit every journal of this volume whose writer is gone. One scan at
 * a time in the process: a journal the scan started at volume open
 * (vfs_wb_recover_async) holds locked is committed when a second scan (shimfs
 * flush, vfs_flush_journals) returns, not skipped as another writer's. */
static int wb_recover_locked(int *committed)
{
    char dir[4200];
    int rc = wb_dir(dir, sizeof dir), n = 0, cap = 0, done = 0;
    if (rc < 0)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    char **names = NULL;
    const char *uuid = vfs_eng.settings.uuid;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, uuid, strlen(uuid)) != 0 || !strstr(e->d_name, ".wb"))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if (!p)
                break;
            names = p;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n > 1) /* none: names is NULL, and qsort(NULL) is undefined */
        qsort(names, (size_t)n, sizeof *names, wb_name_cmp);
    for (int i = 0; i < n; i++) {
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
        int fd = names[i] ? io_fd_high(open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) : -1;
        if (fd >= 0 && trust_fd_check(fd, path) < 0) {
            close(fd);
            fd = -1;
        }
        struct stat st;
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0) {
            if (wb_finish(fd, path) == 0)
                done++;
            else
                rc = -EIO;
        } else if (fd >= 0) {
            close(fd);
        }
        free(names[i]);
    }
    free(names);
    if (committed)
        *committed = done;
    if (done)
        log_info("writeback", "committed %d journals left by processes that did not finish", done);
    return rc;
}

int vfs_wb_recover(int *committed)
{
    pthread_mutex_lock(&wb->recover);
    int rc = wb_recover_locked(committed);
    pthread_mutex_unlock(&wb->recover);
    return rc;
}

static void *wb_recover_thread(void *arg)
{
    (void)arg;
    (void)vfs_wb_recover(NULL);
    return NULL;
}

/* At volume open: if journals of this volume are lying around, commit them
 * in the background. The common case (none) costs one directory read. */
void vfs_wb_recover_async(void)
{
    char dir[4200];
    if (wb_dir(dir, sizeof dir) < 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    const char *uuid = vfs_eng.settings.uuid;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        found = strncmp(e->d_name, uuid, strlen(uuid)) == 0;
    closedir(d);
    pthread_t t;
    if (found && thread_start(&t, NULL, wb_recover_thread, NULL) == 0)
        pthread_detach(t);
}

void vfs_wb_after_fork(struct vfs_engine *e)
{
    /* the uploader thread stays in the parent; the child's queue starts
     * empty (the parent's journals stay locked by the parent) */
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    e->wb.cond = c;
    e->wb.recover = m;  /* a parent's recovery thread may hold it */
    e->wb.head = e->wb.tail = e->wb.busy = 0;
    e->wb.thread = 0;
}

int vfs_flush_journals(int *committed)
{
    int rc = vfs_init();
    return rc < 0 ? rc : vfs_wb_recover(committed);
}

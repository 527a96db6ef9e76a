/* vfs_upload.c - the write pipeline: a big write's full buffers are
 * uploaded in the background while the writer goes on.
 *
 * When a descriptor's positioned writes fill a batch (VFS_UPLOAD_BATCH
 * bytes), its dirty pieces leave the descriptor as a batch: slice ids are
 * reserved (the session keeps gc away from them), and a thread of the
 * batch's own encodes and PUTs them. The writer continues into an empty
 * buffer. Memory is bounded by about SHIMFS_BUFFER_SIZE: batches whose
 * bytes are still held (not yet uploaded) count twice (the bytes and their
 * encoded copy) against what it leaves beside the buffer being filled and
 * two spare buffers (at least two batches' worth), and a writer that would
 * exceed it waits for the oldest. A batch's bytes are freed once it
 * is uploaded; only its pieces' places and ids are kept for the commit.
 * Nothing is committed here: the descriptor's next flush (fsync, close, a
 * read through it, a truncate) waits for every batch and commits them,
 * in write order, with what is still buffered, in one transaction
 * (vfs_write.c). A batch whose upload failed is uploaded again by that
 * flush, in the flushing thread (new ids); if that fails too, the flush
 * returns the error and keeps the bytes, so nothing is lost silently.
 * While the store fails, failed batches keep their bytes: once they hold
 * more than the bound, the writer's next full batch uploads them again
 * itself and that write returns the error, so a writer that goes on
 * writing into a dead store does not grow without bound.
 * A forked child does not have the parent's upload threads: it uploads a
 * batch it finds unfinished itself, from its copy of the bytes.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vfs_internal.h"
#include "thread.h"

struct vfs_batch {
    struct vfs_batch *next;   /* the descriptor's batches, oldest first */
    struct vfs_dirty *pieces; /* their data is freed once uploaded */
    uint64_t *ids;
    struct vfs_placed *placed; /* where each piece went (vu_upload) */
    int n;
    uint64_t bytes;
    int done, rc;
    int warned; /* its background failure was logged */
    pid_t pid;  /* the process whose thread uploads it */
    struct volume *vol;
};

/* One lock for every batch's done/rc and the held bytes (a few batches
 * per writer at a time: no contention worth a finer lock). */
static pthread_mutex_t vu_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vu_cond = PTHREAD_COND_INITIALIZER;

void vfs_upload_after_fork(struct vfs_engine *e)
{
    (void)e;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    vu_lock = m;
    vu_cond = c;
}

static int vu_upload(struct volume *v, struct vfs_batch *b)
{
    return vfs_pack_upload(v, b->pieces, b->n, b->ids, b->placed);
}

static void *vu_thread(void *arg)
{
    struct vfs_batch *b = arg;
    int rc = vu_upload(b->vol, b);
    /* the encoded copies were freed into this thread's malloc arena, which
     * outlives the thread: without this, the arenas of a writer's batch
     * threads kept their last copies (a 48 MiB dd with SHIMFS_BUFFER_SIZE=8M
     * peaked at 53 MiB of RSS, 34 MiB with it) */
    malloc_trim(0);
    pthread_mutex_lock(&vu_lock);
    b->rc = rc;
    b->done = 1;
    pthread_cond_broadcast(&vu_cond);
    pthread_mutex_unlock(&vu_lock);
    return NULL;
}

/* An uploaded batch's buffers are kept for the descriptor's next batches
 * (VFS_UPLOAD_SPARES of them): a fresh 32 MiB buffer is 8,192 page faults
 * as the writer fills it, and those were a sixth of a 256 MiB cp's CPU. */
static void vu_free_data_to(struct vfs_batch *b, struct vfs_file *f)
{
    for (int i = 0; i < b->n; i++) {
        struct vfs_dirty *d = &b->pieces[i];
        int k = 0;
        while (f && k < VFS_UPLOAD_SPARES && f->spare[k])
            k++;
        if (f && k < VFS_UPLOAD_SPARES && d->cap >= (1u << 20)) {
            f->spare[k] = d->data;
            f->spare_cap[k] = d->cap;
        } else {
            free(d->data);
        }
        d->data = NULL;
        d->cap = 0;
    }
}

static void vu_free_data(struct vfs_batch *b)
{
    vu_free_data_to(b, NULL);
}

void *vfs_upload_spare_take(struct vfs_file *f, uint32_t need, uint32_t *cap)
{
    for (int k = 0; k < VFS_UPLOAD_SPARES; k++)
        if (f->spare[k] && f->spare_cap[k] >= need) {
            void *p = f->spare[k];
            *cap = f->spare_cap[k];
            f->spare[k] = NULL;
            return p;
        }
    return NULL;
}

static void vu_free(struct vfs_batch *b)
{
    vu_free_data(b);
    free(b->pieces);
    free(b->ids);
    free(b->placed);
    free(b);
}

/* Bytes of f's batches still held in memory; frees those uploaded. */
static uint64_t vu_held_locked(struct vfs_file *f)
{
    uint64_t held = 0;
    for (struct vfs_batch *b = f->batches; b; b = b->next) {
        if (b->done && b->rc == 0 && b->bytes) {
            vu_free_data_to(b, f);
            b->bytes = 0;
        }
        held += 2 * b->bytes; /* its bytes and their encoded copy while it uploads */
    }
    return held;
}

static int vu_settle_locked(struct vfs_file *f);

uint64_t vfs_upload_batch_size(void)
{
    /* 32 MiB: eight 4 MiB blocks PUT in parallel per batch, and slices above
     * VOLUME_CACHE_WRITES_MAX, so the upload does not also copy them into
     * the node cache */
    uint64_t quarter = vfs_eng.cfg.buffer_size / 4;
    return quarter < VFS_UPLOAD_BATCH ? (quarter ? quarter : 1) : VFS_UPLOAD_BATCH;
}

int vfs_upload_start_locked(struct vfs_file *f)
{
    struct vfs_engine *e = vfs_opened();
    if (f->ndirty == 0)
        return 0;
    int rc = vfs_inline_move_locked(f); /* a tiny file grown big: its bytes go up first */
    if (rc < 0)
        return rc;
    vfs_dirty_flatten(f); /* a batch's pieces go up as few objects (vfs_pack.c) */
    struct vfs_batch *b = calloc(1, sizeof *b);
    uint64_t *ids = calloc((size_t)f->ndirty, sizeof *ids);
    struct vfs_placed *placed = calloc((size_t)f->ndirty, sizeof *placed);
    if (!b || !ids || !placed) {
        free(b);
        free(ids);
        free(placed);
        return -ENOMEM;
    }
    for (int i = 0; rc == 0 && i < f->ndirty; i++)
        rc = vfs_next_slice_id(&ids[i]);
    if (rc < 0) {
        free(b);
        free(ids);
        free(placed);
        return rc;
    }
    *b = (struct vfs_batch){ .pieces = f->dirty,
                             .ids = ids,
                             .placed = placed,
                             .n = f->ndirty,
                             .bytes = f->dirty_bytes,
                             .pid = getpid(),
                             .vol = e->vol };
    f->dirty = NULL;
    f->ndirty = f->dirty_cap = 0;
    f->dirty_bytes = 0;
    struct vfs_batch **tail = &f->batches;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 << 10);
    int started = thread_start(&t, &at, vu_thread, b) == 0;
    pthread_attr_destroy(&at);
    if (!started) {
        /* no thread: upload here, the writer waits as it used to */
        b->rc = vu_upload(e->vol, b);
        b->done = 1;
    }
    /* memory bound: wait while the batches held exceed what the budget
     * leaves beside the buffer being filled and the spares; two batches
     * in flight at least (a smaller budget would make the pipeline a
     * queue of one) */
    uint64_t bs = vfs_upload_batch_size(), limit = 4 * bs;
    if (e->cfg.buffer_size > 3 * bs && e->cfg.buffer_size - 3 * bs > limit)
        limit = e->cfg.buffer_size - 3 * bs;
    pthread_mutex_lock(&vu_lock);
    for (;;) {
        uint64_t held = vu_held_locked(f);
        int waitable = 0;
        for (struct vfs_batch *x = f->batches; x; x = x->next)
            waitable |= !x->done && x->pid == getpid();
        if (held <= limit || !waitable)
            break;
        pthread_cond_wait(&vu_cond, &vu_lock);
    }
    uint64_t held = vu_held_locked(f);
    pthread_mutex_unlock(&vu_lock);
    /* still over: failed batches hold it. The writer uploads them again
     * itself, and a failure is this write's error (its bytes are kept,
     * like every failed batch's), so memory stays bounded while the store
     * is down */
    return held > limit ? vu_settle_locked(f) : 0;
}

/* Wait for f's batches uploading in this process, then upload again,
 * here and under new ids, those that failed (or, in a forked child, the
 * parent's unfinished ones, from the bytes kept). 0 or the first error. */
static int vu_settle_locked(struct vfs_file *f)
{
    pid_t me = getpid();
    pthread_mutex_lock(&vu_lock);
    for (struct vfs_batch *b = f->batches; b; b = b->next)
        while (!b->done && b->pid == me)
            pthread_cond_wait(&vu_cond, &vu_lock);
    (void)vu_held_locked(f);
    pthread_mutex_unlock(&vu_lock);
    int rc = 0;
    for (struct vfs_batch *b = f->batches; rc == 0 && b; b = b->next) {
        if (b->done && b->rc == 0)
            continue;
        if (b->done && !b->warned++)
            log_warn("vfs",
                     "uploading part of %s (inode %llu) failed in the background: %s; "
                     "retrying it in the writer",
                     f->path, (unsigned long long)f->attr.ino, strerror(b->rc < 0 ? -b->rc : EIO));
        for (int i = 0; rc == 0 && i < b->n; i++)
            rc = vfs_next_slice_id(&b->ids[i]);
        if (rc == 0)
            rc = vu_upload(vfs_opened()->vol, b);
        pthread_mutex_lock(&vu_lock);
        b->done = 1;
        b->pid = me;
        b->rc = rc;
        pthread_mutex_unlock(&vu_lock);
        if (rc == 0) {
            vu_free_data(b);
            b->bytes = 0;
        }
    }
    return rc;
}

int vfs_upload_finish_locked(struct vfs_file *f, struct vfs_upiece **out, int *nout)
{
    *out = NULL;
    *nout = 0;
    if (!f->batches)
        return 0;
    int rc = vu_settle_locked(f);
    if (rc < 0)
        return rc;
    int n = 0;
    for (struct vfs_batch *b = f->batches; b; b = b->next)
        n += b->n;
    struct vfs_upiece *p = calloc((size_t)n, sizeof *p);
    if (!p)
        return -ENOMEM;
    int k = 0;
    for (struct vfs_batch *b = f->batches; b; b = b->next)
        for (int i = 0; i < b->n; i++)
            p[k++] = (struct vfs_upiece){ b->pieces[i].off, b->pieces[i].len, b->placed[i] };
    *out = p;
    *nout = n;
    return 0;
}

void vfs_upload_discard_locked(struct vfs_file *f)
{
    pid_t me = getpid();
    pthread_mutex_lock(&vu_lock);
    /* a thread still uploading owns its batch until done */
    for (struct vfs_batch *b = f->batches; b; b = b->next)
        while (!b->done && b->pid == me)
            pthread_cond_wait(&vu_cond, &vu_lock);
    pthread_mutex_unlock(&vu_lock);
    while (f->batches) {
        struct vfs_batch *b = f->batches;
        f->batches = b->next;
        vu_free(b);
    }
    for (int k = 0; k < VFS_UPLOAD_SPARES; k++) {
        free(f->spare[k]);
        f->spare[k] = NULL;
    }
}

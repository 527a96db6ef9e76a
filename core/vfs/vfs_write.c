/* vfs_write.c - the write path: buffered writes, slices, commit.
 *
 * Writes land in memory as dirty pieces (each inside one 64 MiB chunk; an
 * append to the last piece extends it). fsync, close, a full buffer or a
 * truncate uploads every piece as a new immutable slice and commits all of
 * them to PostgreSQL in one transaction (meta_write): until that commit,
 * other processes see the old file; after it, the new one (close-to-open).
 * Appends (O_APPEND, RWF_APPEND) are buffered the same way but their place
 * is decided by the commit (meta_append): the end of the file as committed
 * then, so appenders in many processes and nodes never overwrite one
 * another. Until then this descriptor sees them at its own end. A buffer
 * holds appends or positioned writes, never both: switching commits first,
 * which keeps each commit's placement rule simple.
 * A failed upload or commit keeps the data in memory and reports the error
 * at that write, fsync or close; nothing is dropped silently. Reads through
 * a writer's descriptor see its own unflushed writes (overlay).
 *
 * Slice ids are reserved by this process's session (vfs_session.c), so gc
 * never deletes their blocks while it lives. If the session was reaped
 * (the process was stopped longer than SHIMFS_SESSION_TIMEOUT), the commit
 * is refused with EIO: gc may have deleted the uploaded blocks. The data
 * stays buffered; a later fsync uploads it again under a new session.
 * A commit that leaves a chunk with more than SHIMFS_COMPACT_SLICES slices
 * queues it for compaction on the session thread.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "vfs_internal.h"

#define VFS_ID_BATCH 64
#define VFS_FLUSH_MAX (UINT64_C(64) << 20)

static struct vfs_ids_state *const vw_ids = &vfs_eng.ids;

static int64_t vfs_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A new batch for the process's session (started if need be); one
 * session restart when the database says the session was reaped. */
static int vfs_reserve_locked(struct meta *m)
{
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((rc = vfs_session_ensure()) < 0)
            return rc;
        uint64_t sid = meta_session_id(m), first;
        rc = meta_next_ids(m, META_ID_SLICE, VFS_ID_BATCH, &first);
        if (rc == 0) {
            vw_ids->next = first;
            vw_ids->end = first + VFS_ID_BATCH;
            vw_ids->sid = sid;
            return 0;
        }
        if (rc != -ESTALE)
            return rc;
        meta_session_forget(m, sid);
    }
    return rc;
}

/* Slice ids come from the database in batches, one round trip per 64. A
 * batch of a session that is no longer the process's is not used. */
int vfs_next_slice_id(uint64_t *id)
{
    struct meta *m = vfs_eng.meta;
    pthread_mutex_lock(&vw_ids->lock);
    int rc = 0;
    if (vw_ids->next == vw_ids->end || vw_ids->sid != meta_session_id(m))
        rc = vfs_reserve_locked(m);
    if (rc == 0)
        *id = vw_ids->next++;
    pthread_mutex_unlock(&vw_ids->lock);
    return rc;
}

void vfs_slice_ids_stale(void)
{
    pthread_mutex_lock(&vw_ids->lock);
    vw_ids->next = vw_ids->end = 0;
    pthread_mutex_unlock(&vw_ids->lock);
}

void vfs_ids_after_fork(struct vfs_engine *e)
{
    /* the parent keeps using its batch: the child must not reuse it */
    e->ids.next = e->ids.end = 0;
    e->ids.sid = 0;
}

int vfs_is_writer(const struct vfs_file *f)
{
    return (f->flags & O_ACCMODE) != O_RDONLY && S_ISREG(f->attr.mode);
}

uint64_t vfs_flush_threshold(void)
{
    uint64_t half = vfs_eng.cfg.buffer_size / 2;
    return half < VFS_FLUSH_MAX ? (half ? half : 1) : VFS_FLUSH_MAX;
}

static int vfs_dirty_grow(struct vfs_file *f, struct vfs_dirty *d, uint32_t need)
{
    if (need <= d->cap)
        return 0;
    uint32_t scap;
    void *sp = f->spare[0] || f->spare[1] ? vfs_upload_spare_take(f, need, &scap) : NULL;
    if (sp) {
        if (d->len) /* a new piece has no buffer yet (memcpy from NULL is undefined) */
            memcpy(sp, d->data, d->len);
        free(d->data);
        d->data = sp;
        d->cap = scap;
        return 0;
    }
    uint64_t cap = d->cap ? d->cap : 64 * 1024;
    while (cap < need)
        cap *= 2;
    if (cap > LAYOUT_CHUNK_SIZE)
        cap = LAYOUT_CHUNK_SIZE;
    char *p = realloc(d->data, cap);
    if (!p)
        return -ENOMEM;
    d->data = p;
    d->cap = (uint32_t)cap;
    return 0;
}

/* Add one piece that lies inside a single chunk. */
static int vfs_dirty_add(struct vfs_file *f, uint64_t off, const char *buf, uint32_t len)
{
    struct vfs_dirty *last = f->ndirty ? &f->dirty[f->ndirty - 1] : NULL;
    if (!last || last->off + last->len != off ||
        layout_chunk_index(last->off) != layout_chunk_index(off)) {
        if (f->ndirty == f->dirty_cap) {
            int cap = f->dirty_cap ? 2 * f->dirty_cap : 8;
            struct vfs_dirty *d = realloc(f->dirty, (size_t)cap * sizeof *d);
            if (!d)
                return -ENOMEM;
            f->dirty = d;
            f->dirty_cap = cap;
        }
        last = &f->dirty[f->ndirty++];
        *last = (struct vfs_dirty){ .off = off };
    }
    int rc = vfs_dirty_grow(f, last, last->len + len);
    if (rc < 0) {
        if (last->len == 0)
            f->ndirty--;
        return rc;
    }
    memcpy(last->data + last->len, buf, len);
    last->len += len;
    f->dirty_bytes += len;
    return 0;
}

void vfs_dirty_clear(struct vfs_file *f)
{
    for (int i = 0; i < f->ndirty; i++)
        free(f->dirty[i].data);
    f->ndirty = 0;
    f->dirty_bytes = 0;
}

/* After a commit the committed map changed: load the new one. */
int vfs_reload(struct vfs_file *f, const struct meta_attr *a)
{
    f->attr = *a;
    f->inline_moved = 0; /* the new map says whether inline bytes are left */
    mcache_put_attr(a);
    struct vfs_smap *m = NULL;
    int rc = vfs_load_smap(&f->attr, &m);
    if (rc < 0)
        return rc;
    vfs_smap_put(f->smap);
    f->smap = m;
    if (f->ndirty == 0)
        f->size = m->size; /* the version loaded may be newer than *a */
    return 0;
}

/* A commit's records as its file's whole map (META_WRITE_SOLE), or n < 0
 * when that is not known. Known: this thread holds the node's patch lock
 * (vfs_snap_hold) until the patch went in. */
struct vfs_sole {
    struct meta_slice_rec *map;
    int n;
    int locked; /* the patch lock is held: the node's snapshot may take it */
};

/* Chunk order, each chunk's records in commit order (later ones overlay
 * earlier ones, as the database lists them): a stable insertion sort, n is
 * at most META_CHANGE_MAP_MAX. */
static void vfs_sole_sort(struct meta_slice_rec *r, int n)
{
    for (int i = 1; i < n; i++) {
        struct meta_slice_rec x = r[i];
        int j = i;
        for (; j > 0 && r[j - 1].chunk > x.chunk; j--)
            r[j] = r[j - 1];
        r[j] = x;
    }
}

/* Commit uploaded pieces by the rule of their kind: the pipeline's (up,
 * oldest first) and then the buffered ones (ids[i] holds dirty[i]), in
 * write order, so a later write overlays an earlier one. Appends never go
 * through the pipeline. */
static int vfs_commit_locked(struct vfs_file *f, const struct vfs_upiece *up, int nup,
                             const struct vfs_placed *at, const struct meta_inline *blob, int lazy,
                             struct meta_attr *a, struct vfs_sole *sole)
{
    struct vfs_engine *e = vfs_opened();
    int rc;
    if (f->append_dirty) {
        assert(nup == 0);
        struct meta_append_rec *ar = calloc((size_t)f->ndirty, sizeof *ar);
        if (!ar)
            return -ENOMEM;
        for (int i = 0; i < f->ndirty; i++) {
            const struct vfs_dirty *d = &f->dirty[i];
            ar[i] = (struct meta_append_rec){ d->off - f->append_base, at[i].id, at[i].size,
                                              at[i].soff, d->len };
        }
        rc = meta_append(e->meta, f->attr.ino, ar, f->ndirty, f->mtime_ns, a, NULL);
        free(ar);
        return rc;
    }
    int n = nup + f->ndirty;
    struct meta_slice_rec *recs = calloc((size_t)n, sizeof *recs);
    if (!recs)
        return -ENOMEM;
    for (int i = 0; i < nup; i++)
        recs[i] = (struct meta_slice_rec){ layout_chunk_index(up[i].off),
                                           { layout_chunk_offset(up[i].off), up[i].at.id,
                                             up[i].at.size, up[i].at.soff, up[i].len } };
    for (int i = 0; i < f->ndirty; i++) {
        const struct vfs_dirty *d = &f->dirty[i];
        recs[nup + i] =
            (struct meta_slice_rec){ layout_chunk_index(d->off),
                                     { layout_chunk_offset(d->off), at[i].id, at[i].size,
                                       at[i].soff, d->len } };
    }
    /* the node's snapshot of the folder can take the file's new map with
     * its attributes when the map is exactly what this commit wrote: asked
     * in the commit's round trip, and only when there is a snapshot. Not
     * for a tiny file's commit (its bytes in the statement): asking cost a
     * writer of 4 KiB files into a listed folder 5-8% of its rate, and the
     * node's reader of many tiny files asks their folder's maps in one
     * question anyway */
    int snap = !blob && f->attr.nlink == 1 && n <= META_CHANGE_MAP_MAX &&
               vfs_snap_held(f->parent) && vfs_snap_hold() == 0;
    /* a closing descriptor's process keeps the file's map (for st_blocks
     * and its next open): asked in the same round trip, it need not be
     * read back after the commit (a round trip per file tar or git wrote) */
    int ask = snap || (f->closing && !blob && n <= META_CHANGE_MAP_MAX);
    rc = meta_write_inline(e->meta, f->attr.ino, recs, n, blob, f->size,
                           (lazy ? META_WRITE_LAZY : 0) | (ask ? META_WRITE_SOLE : 0), f->mtime_ns,
                           f->pending.fields ? &f->pending : NULL, a);
    if (rc == 1) {
        /* the lock stays held until the patch went in (vfs_patch_data) */
        vfs_sole_sort(recs, n);
        sole->map = recs;
        sole->n = n;
        sole->locked = snap;
        return 0;
    }
    if (snap)
        vfs_snap_release();
    free(recs);
    return rc;
}

/* The node's snapshot of the folder the file was opened in takes its new
 * attributes (size, times), so a file written on the node does not make
 * its folder stale for the node's other processes. By inode: the name
 * the descriptor was opened by may have gone or changed hands since, and
 * then the record is moot (nodemeta.h). A file of several links is left
 * out: the folder holding the name may not be the one it was opened in. */
static void vfs_patch_data(const struct vfs_file *f, const struct meta_attr *a,
                           const struct vfs_sole *sole)
{
    uint64_t seq = mcache_take_commit();
    int known = sole->n >= 0 && sole->locked;
    if (a->nlink == 1)
        vfs_snap_patch_name(seq, f->parent, f->path, a, 2, known ? sole->map : NULL,
                            known ? sole->n : -1);
    if (known)
        vfs_snap_release();
}

/* Attributes left waiting with no bytes to commit them (an empty new
 * file, or a shared mapping's sync that found nothing to commit): a round
 * trip of their own. */
static int vfs_pending_apply_locked(struct vfs_file *f)
{
    if (!f->pending.fields)
        return 0;
    struct meta_attr a = f->pending.a;
    a.ino = f->attr.ino;
    int rc = vfs_attr_commit(&a, f->pending.fields);
    if (rc < 0)
        return vfs_errno(rc);
    f->pending.fields = 0;
    return 0;
}

/* Everything the descriptor holds committed: its bytes (through its
 * shared mapping's copy when it has one) and the attributes waiting for
 * them. */
static int vfs_commit_all_locked(struct vfs_file *f)
{
    int rc = f->mo ? vfs_map_sync_locked(f) : vfs_flush_locked(f);
    return rc == 0 ? vfs_pending_apply_locked(f) : rc;
}

int vfs_flush_locked(struct vfs_file *f)
{
    if (f->ndirty == 0 && !f->batches)
        return vfs_pending_apply_locked(f);
    struct vfs_engine *e = vfs_opened();
    int rc = vfs_inline_move_locked(f); /* grown past SHIMFS_INLINE_MAX: to the bucket */
    if (rc < 0)
        return rc;
    vfs_dirty_flatten(f);
    if (e->cfg.writeback && !f->batches && vfs_wb_stage_locked(f) == 0) {
        vfs_map_committed(f);
        vfs_dirty_clear(f);
        f->wb_stale = 1;
        return 0;
    }
    /* the pipeline's batches first: uploaded (again, if one failed) or
     * the flush fails here with every byte kept */
    struct vfs_upiece *up = NULL;
    int nup = 0;
    rc = vfs_upload_finish_locked(f, &up, &nup);
    size_t nd = (size_t)(f->ndirty ? f->ndirty : 1);
    uint64_t *ids = calloc(nd, sizeof *ids);
    struct vfs_placed *at = calloc(nd, sizeof *at);
    struct meta_inline blob = { 0 };
    struct meta_attr a;
    struct vfs_sole sole = { NULL, -1, 0 };
    uint64_t gen = vfs_node_gen();
    (void)mcache_take_commit(); /* the commit's own sequence only, for vfs_patch_data */
    if (rc == 0 && (!ids || !at))
        rc = -ENOMEM;
    /* group commit: a close's commit is visible at once but not waited
     * for; fsync and sync wait (vfs_session_sync), and so does exit */
    int lazy = f->closing && !e->cfg.sync_close && !f->append_dirty;
    /* a tiny file: its bytes go in the commit's statement, no PUT */
    int inl = rc == 0 && vfs_inline_wanted(f);
    if (inl && (rc = vfs_next_slice_id(&ids[0])) == 0 &&
        (rc = vfs_inline_pack(e->vol, f->dirty, f->ndirty, ids[0], at, &blob)) == 0) {
        rc = vfs_commit_locked(f, up, nup, at, &blob, lazy, &a, &sole);
        free((void *)blob.data);
        if (rc == -EOPNOTSUPP) /* a volume older than schema 4: the bucket */
            inl = rc = 0;
    }
    for (int i = 0; !inl && rc == 0 && i < f->ndirty; i++)
        rc = vfs_next_slice_id(&ids[i]);
    if (!inl && rc == 0)
        rc = vfs_pack_upload(e->vol, f->dirty, f->ndirty, ids, at);
    if (!inl && rc == 0)
        rc = vfs_commit_locked(f, up, nup, at, NULL, lazy, &a, &sole);
    /* the ids a moved file's commit placed, for vfs_inline_settle_locked */
    int moved = f->inline_moved, nmine = 0, ncommitted = nup + f->ndirty;
    uint64_t *mine = moved && rc == 0 ? calloc((size_t)(nup + f->ndirty + 1), sizeof *mine) : NULL;
    for (int i = 0; mine && i < nup; i++)
        mine[nmine++] = up[i].at.id;
    for (int i = 0; mine && i < f->ndirty; i++)
        mine[nmine++] = at[i].id;
    free(ids);
    free(at);
    free(up);
    if (rc < 0)
        free(mine);
    if (rc == -ESTALE) {
        vfs_slice_ids_stale();
        return -EIO;    /* the fence refused it and said so; the data stays buffered */
    }
    if (rc < 0) {
        log_error("vfs", "committing writes to %s (inode %llu) failed: %s; the data stays buffered",
                  f->path, (unsigned long long)f->attr.ino, strerror(-vfs_errno(rc) == 0 ? EIO : -rc));
        return vfs_errno(rc);
    }
    vfs_upload_discard_locked(f);
    vfs_map_committed(f);
    vfs_dirty_clear(f);
    f->pending.fields = 0; /* (they went in with the commit) */
    f->committed = 1;
    if (lazy)
        vfs_session_lazy();
    /* nothing is buffered now: the descriptor's end is the committed one
     * (after an append commit, others' appends may precede ours) */
    f->size = a.size;
    vfs_patch_data(f, &a, &sole);
    /* the commit's records are the file's whole map: no read back */
    struct vfs_smap *known =
        f->closing && !moved && sole.n >= 0 ? vfs_smap_from_recs(&a, sole.map, sole.n) : NULL;
    free(sole.map);
    if (known) {
        f->attr = a;
        mcache_put_attr(&a);
        vfs_smap_put(f->smap);
        f->smap = known;
        vfs_writer_seen_locked(f, gen, 1);
        vfs_compact_scan(f->smap);
        return 0;
    }
    if (f->closing && inl) {
        /* a tiny file's descriptor goes: nobody reads the new map through
         * it, so it is not loaded (a round trip per tiny file; a bigger
         * file's map is worth it: stat's st_blocks counts its holes);
         * compaction is looked at only when the commit may have crossed
         * its limit */
        int most = 0, limit = e->cfg.compact_slices;
        for (int i = 0; f->smap && i < f->smap->nchunks; i++)
            most = f->smap->chunks[i].n > most ? f->smap->chunks[i].n : most;
        f->attr = a;
        mcache_put_attr(&a);
        vfs_writer_seen_locked(f, gen, 1);
        if (limit > 0 && most + ncommitted > limit)
            vfs_compact_check(&a);
        return 0;
    }
    rc = vfs_reload(f, &a);
    if (rc == 0 && mine)
        vfs_inline_settle_locked(f, mine, nmine);
    free(mine);
    if (rc == 0) {
        vfs_writer_seen_locked(f, gen, 1);
        vfs_compact_scan(f->smap);
    }
    return rc;
}

/* Split at chunk boundaries so every piece becomes a slice of one chunk. */
int vfs_buffer_write(struct vfs_file *f, const char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        uint64_t room = LAYOUT_CHUNK_SIZE - layout_chunk_offset(off);
        uint32_t take = (uint32_t)(len < room ? len : room);
        int rc = vfs_dirty_add(f, off, buf, take);
        if (rc < 0)
            return rc;
        buf += take;
        off += take;
        len -= take;
    }
    return 0;
}

ssize_t vfs_pwrite(struct vfs_file *f, const void *buf, size_t len, uint64_t off)
{
    if (!vfs_is_writer(f))
        return S_ISDIR(f->attr.mode) ? -EISDIR : -EBADF;
    if (__builtin_expect((f->attr.mode & (S_ISUID | S_ISGID)) != 0, 0)) {
        int krc = vfs_write_kill_privs(f);
        if (krc < 0)
            return krc;
    }
    pthread_mutex_lock(&f->wlock);
    int append = (f->flags & O_APPEND) || off == VFS_APPEND;
    int rc = vfs_map_join_locked(f);
    if (rc < 0 || f->mo) {
        ssize_t n = rc < 0 ? rc : vfs_map_pwrite_locked(f, buf, len, append ? VFS_APPEND : off);
        pthread_mutex_unlock(&f->wlock);
        return n;
    }
    if ((f->ndirty || f->batches) && append != f->append_dirty)
        rc = vfs_flush_locked(f);
    if (append) {
        off = f->size;
        if (f->ndirty == 0)
            f->append_base = off;
    }
    if (rc == 0 && (off + len < off || off + len > (UINT64_C(1) << 50)))
        rc = -EFBIG;
    if (rc == 0) {
        f->append_dirty = append;
        rc = vfs_buffer_write(f, buf, len, off);
    }
    if (rc == 0) {
        if (off + len > f->size)
            f->size = off + len;
        f->mtime_ns = vfs_wall_ns();
        f->pending.fields &= ~(unsigned)META_SET_MTIME; /* a write after utimens */
        if (!append && f->ndirty >= (f->flatten_at ? f->flatten_at : 1024))
            vfs_dirty_flatten(f); /* bounded pieces between flushes */
        /* positioned writes are pipelined: a full batch uploads in the
         * background while the writer goes on (vfs_upload.c); appends, whose
         * place the commit decides, and writeback's journals flush whole */
        if (!append && !vfs_opened()->cfg.writeback && f->dirty_bytes >= vfs_upload_batch_size())
            rc = vfs_upload_start_locked(f);
        else if (f->dirty_bytes >= vfs_flush_threshold())
            rc = vfs_flush_locked(f);
    }
    pthread_mutex_unlock(&f->wlock);
    /* a background upload's failure surfaces here as fsync's and close's
     * do: EIO, not the transport's ETIMEDOUT or ECONNREFUSED */
    return rc < 0 ? vfs_errno(rc) : (ssize_t)len;
}

/* Writeback staged some of this file's data: it is readable again once the
 * uploader committed it. */
int vfs_wb_catch_up(struct vfs_file *f)
{
    if (!f->wb_stale)
        return 0;
    int rc = vfs_wb_drain();
    struct meta_attr a;
    if (rc == 0)
        rc = meta_getattr(vfs_eng.meta, f->attr.ino, &a);
    if (rc == 0)
        rc = vfs_reload(f, &a);
    /* (vfs_reload took the size: staged appends were placed after others') */
    if (rc == 0)
        f->wb_stale = 0;
    return vfs_errno(rc);
}

ssize_t vfs_pread_writer(struct vfs_file *f, void *buf, size_t len, uint64_t off)
{
    pthread_mutex_lock(&f->wlock);
    if (vfs_map_join_locked(f) == 0 && f->mo) {
        ssize_t n = vfs_map_pread_locked(f, buf, len, off);
        pthread_mutex_unlock(&f->wlock);
        return n;
    }
    ssize_t rc = vfs_wb_catch_up(f);
    if (rc == 0 && f->batches)
        rc = vfs_flush_locked(f); /* the overlay below covers only what is buffered */
    if (rc == 0)
        vfs_writer_follow_locked(f);
    if (rc == 0 && off < f->size) {
        if (len > f->size - off)
            len = (size_t)(f->size - off);
        memset(buf, 0, len);
        if (f->smap && off < f->smap->size)
            rc = vfs_read_data(f->smap, buf, len, off);
        for (int i = 0; rc >= 0 && i < f->ndirty; i++) {
            const struct vfs_dirty *d = &f->dirty[i];
            uint64_t a = d->off > off ? d->off : off;
            uint64_t b = d->off + d->len < off + len ? d->off + d->len : off + len;
            if (a < b)
                memcpy((char *)buf + (a - off), d->data + (a - d->off), (size_t)(b - a));
        }
        if (rc >= 0)
            rc = (ssize_t)len;
    }
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

/* fsync: what the descriptor buffered commits synchronously, and the
 * process's lazy commits (a create, earlier closes: this file's included)
 * are made durable with it (one round trip more only if that commit did
 * not already cover them). A synchronous commit flushes the WAL up to its
 * own record, so it also covers every other process's commit acknowledged
 * before it; a descriptor that may commit nothing here (a reader, a clean
 * writer, a map, writeback that only stages) cannot know whether another
 * process's close of the file is still unflushed, so VFS_FSYNC_FILE then
 * flushes the WAL for all. */
int vfs_writer_commit(struct vfs_file *f)
{
    if (!vfs_is_writer(f))
        return 0;
    pthread_mutex_lock(&f->wlock);
    int rc = vfs_commit_all_locked(f);
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

int vfs_fsync(struct vfs_file *f, int flags)
{
    int all = (flags & VFS_FSYNC_FILE) ? META_SYNC_ALL : 0;
    if (!vfs_is_writer(f))
        return vfs_session_sync(all);
    pthread_mutex_lock(&f->wlock);
    int clean = f->mo || (f->ndirty == 0 && !f->batches) || vfs_eng.cfg.writeback;
    int rc = vfs_commit_all_locked(f);
    if (rc == 0)
        rc = vfs_session_sync(clean ? all : 0);
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

int vfs_sync_volume(void)
{
    return vfs_session_sync(META_SYNC_ALL);
}

/* Truncate or extend an inode, by inode; used by ftruncate and truncate. */
int vfs_set_size(uint64_t ino, uint64_t size, struct meta_attr *out)
{
    struct meta_attr a = { .size = size, .mtime_ns = vfs_wall_ns() };
    int rc = vfs_wb_drain(); /* staged writes land first, then the size */
    if (rc < 0)
        return rc;
    rc = meta_setattr(vfs_eng.meta, ino, META_SET_SIZE | META_SET_MTIME | META_SET_CTIME_NOW, &a);
    if (rc == 0) {
        mcache_put_attr(&a);
        if (out)
            *out = a;
    }
    return vfs_errno(rc);
}

int vfs_ftruncate(struct vfs_file *f, uint64_t size)
{
    if (!vfs_is_writer(f))
        return S_ISDIR(f->attr.mode) ? -EISDIR : -EINVAL;
    if (size > (UINT64_C(1) << 50))
        return -EFBIG;
    pthread_mutex_lock(&f->wlock);
    struct meta_attr a;
    int rc = vfs_map_join_locked(f);
    if (rc == 0)
        rc = f->mo ? vfs_map_sync_locked(f) : vfs_flush_locked(f);
    if (rc == 0)
        rc = vfs_wb_drain(); /* staged writes must land before the size changes */
    if (rc == 0)
        rc = vfs_set_size(f->attr.ino, size, &a);
    if (rc == 0 && f->mo)
        rc = vfs_map_truncate(f->mo, size); /* the maps see it, as the kernel's do */
    if (rc == 0) {
        f->size = size;
        rc = vfs_reload(f, &a);
    }
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

int vfs_fallocate(struct vfs_file *f, int mode, uint64_t off, uint64_t len)
{
    if (!vfs_is_writer(f))
        return -EBADF;
    if (mode & ~FALLOC_FL_KEEP_SIZE)
        return -EOPNOTSUPP; /* holes and ranges need no reservation in an object store */
    if (mode & FALLOC_FL_KEEP_SIZE)
        return 0;
    uint64_t end = off + len;
    return end > vfs_file_size(f) ? vfs_ftruncate(f, end) : 0;
}

uint64_t vfs_file_size(struct vfs_file *f)
{
    if (!vfs_is_writer(f)) {
        if (!f->smap)
            return f->attr.size;
        struct vfs_smap *m = vfs_file_smap_ref(f); /* a follower may switch it */
        uint64_t s = m->size;
        vfs_smap_put(m);
        return s;
    }
    pthread_mutex_lock(&f->wlock);
    (void)vfs_map_join_locked(f);
    vfs_writer_follow_locked(f);
    uint64_t s = f->mo ? vfs_map_size(f->mo) : f->size;
    pthread_mutex_unlock(&f->wlock);
    return s;
}

/* Release-time commit; the caller frees the file whatever this returns.
 * Not waited for (group commit) unless SHIMFS_SYNC_CLOSE=1, which waits
 * for this commit and the process's earlier lazy ones (a lazy create). */
int vfs_writer_close(struct vfs_file *f)
{
    int sync_close = vfs_eng.cfg.sync_close;
    if (!vfs_is_writer(f))
        return sync_close ? vfs_session_sync(0) : 0;
    pthread_mutex_lock(&f->wlock);
    f->closing = 1;
    int rc = vfs_commit_all_locked(f);
    if (rc == 0 && sync_close)
        rc = vfs_session_sync(0);
    vfs_upload_discard_locked(f);
    vfs_map_leave(f);
    vfs_dirty_clear(f);
    free(f->dirty);
    f->dirty = NULL;
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

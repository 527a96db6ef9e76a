/* vfs_compact.c - merging a chunk's long slice list into one slice, so
 * that reads of files written by appends, small random writes or
 * checkpoints rewritten in place do not slow down with age.
 *
 * Runs on the session thread (vfs_session.c), never on a writer's call.
 * Bounded: one chunk (at most 64 MiB of memory and one upload) per job.
 * Correct against concurrent writers and truncates: the merged slice is
 * the chunk's visible bytes (holes read as zeros) from its first to its
 * last covered byte, and meta_compact installs it only if the list is
 * still exactly the one read (else -EAGAIN; the orphaned upload is an
 * unreferenced id that gc collects once this session ends). The new id is
 * reserved by this process's session and fenced like any commit.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfs_internal.h"

struct vc_list { struct layout_slice *s; int n; };

static int vc_list_cb(void *arg, uint64_t chunk, const struct layout_slice *s, int n)
{
    struct vc_list *l = arg;
    (void)chunk;
    free(l->s);
    l->s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!l->s)
        return -ENOMEM;
    memcpy(l->s, s, (size_t)n * sizeof *s);
    l->n = n;
    return 0;
}

/* The chunk's visible bytes [lo, hi) (chunk offsets) into a new slice. */
static int vc_merge(struct vfs_engine *e, uint64_t ino, uint64_t chunk, const struct vc_list *l,
                    struct layout_slice *out)
{
    uint32_t lo = LAYOUT_CHUNK_SIZE, hi = 0;
    for (int i = 0; i < l->n; i++) {
        if (l->s[i].pos < lo)
            lo = l->s[i].pos;
        if (l->s[i].pos + l->s[i].len > hi)
            hi = l->s[i].pos + l->s[i].len;
    }
    if (hi <= lo)
        return -EAGAIN;
    struct vfs_chunk c = { chunk, l->n, l->s };
    uint64_t base = chunk * LAYOUT_CHUNK_SIZE;
    struct vfs_smap m = { .refs = 1, .ino = ino, .size = base + hi, .nchunks = 1, .chunks = &c };
    char *buf = malloc(hi - lo);
    if (!buf)
        return -ENOMEM;
    ssize_t got = vfs_read_data(&m, buf, hi - lo, base + lo);
    int rc = got < 0 ? (int)got : got != (ssize_t)(hi - lo) ? -EIO : 0;
    uint64_t id = 0;
    if (rc == 0)
        rc = vfs_next_slice_id(&id);
    if (rc == 0)
        rc = volume_write_slice(e->vol, id, buf, hi - lo);
    free(buf);
    *out = (struct layout_slice){ .pos = lo, .id = id, .size = hi - lo, .off = 0, .len = hi - lo };
    return rc;
}

void vfs_compact_scan(const struct vfs_smap *m)
{
    int limit = vfs_eng.cfg.compact_slices;
    for (int i = 0; m && limit > 0 && i < m->nchunks; i++)
        if (m->chunks[i].n > limit)
            vfs_compact_queue(m->ino, m->chunks[i].index);
}

void vfs_compact_check(const struct meta_attr *a)
{
    struct vfs_smap *m = NULL;
    struct meta_attr version = *a;
    if (vfs_eng.cfg.compact_slices > 0 && vfs_load_smap(&version, &m) == 0) {
        vfs_compact_scan(m);
        vfs_smap_put(m);
    }
}

int vfs_compact_chunk(uint64_t ino, uint64_t chunk)
{
    struct vfs_engine *e = vfs_opened();
    assert(e);                  /* queued by a commit: the volume is open */
    struct vc_list l = { 0 };
    int rc = meta_read_chunks(e->meta, ino, chunk, 1, vc_list_cb, &l);
    struct layout_slice merged;
    if (rc == 0 && l.n > e->cfg.compact_slices && e->cfg.compact_slices > 0)
        rc = vc_merge(e, ino, chunk, &l, &merged);
    else
        l.n = 0;
    if (rc == 0 && l.n)
        rc = meta_compact(e->meta, ino, chunk, l.s, l.n, &merged, 1);
    if (rc == 0 && l.n)
        mcache_forget(ino);
    free(l.s);
    return rc;
}

/* vfs_inline.c - tiny files keep their bytes in the metadata database.
 *
 * A commit that leaves a file no larger than SHIMFS_INLINE_MAX (at most
 * one block, LAYOUT_MIN_BLOCK) packs its dirty pieces into one slice whose
 * id carries LAYOUT_INLINE_BIT, encodes its one block as it would be
 * stored in the bucket (codec frame: checksums included), and hands the
 * frame to meta_write_inline, which stores it in the statement that
 * records the slice: one round trip, no PUT. Readers fetch such a block
 * from the database through fetch.c's single flight and the node cache
 * (volume.c routes it), verified by the codec like any block.
 *
 * A file that grows past the threshold is moved to the bucket by its next
 * commit: the committed bytes of its inline slices join the commit as its
 * oldest piece (the file is small: at most a block is read), so the new
 * version references no inline block and the database holds at most
 * SHIMFS_INLINE_MAX bytes per live file. Appends, writeback journals and
 * compaction store in the bucket as before.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfs_internal.h"

static uint64_t vfs_inline_max(void)
{
    uint64_t max = vfs_eng.cfg.inline_max;
    return max < LAYOUT_MIN_BLOCK ? max : LAYOUT_MIN_BLOCK;
}

int vfs_inline_wanted(const struct vfs_file *f)
{
    return f->ndirty > 0 && !f->batches && !f->append_dirty && f->size > 0 &&
           f->size <= vfs_inline_max() && f->dirty_bytes <= vfs_inline_max();
}

int vfs_inline_pack(struct volume *v, const struct vfs_dirty *p, int n, uint64_t id,
                    struct vfs_placed *out, struct meta_inline *blob)
{
    assert(v && n > 0 && p && out && blob && !layout_is_inline(id));
    uint64_t size = 0;
    for (int i = 0; i < n; i++)
        size += p[i].len;
    if (size == 0 || size > LAYOUT_MIN_BLOCK)
        return -EINVAL;
    char *buf = malloc(size);
    if (!buf)
        return -ENOMEM;
    uint32_t at = 0;
    id |= LAYOUT_INLINE_BIT;
    for (int i = 0; i < n; i++) {
        memcpy(buf + at, p[i].data, p[i].len);
        out[i] = (struct vfs_placed){ id, (uint32_t)size, at };
        at += p[i].len;
    }
    void *frame = NULL;
    uint32_t flen = 0;
    int rc = volume_encode_inline(v, id, buf, (uint32_t)size, &frame, &flen);
    free(buf);
    if (rc == 0)
        *blob = (struct meta_inline){ id, frame, flen };
    return rc;
}

/* Does the committed map reference an inline block? (an inline file has
 * one chunk: look at chunk 0 only) */
static int vfs_inline_in(const struct vfs_smap *m)
{
    if (!m || m->nchunks == 0 || m->chunks[0].index != 0)
        return 0;
    for (int i = 0; i < m->chunks[0].n; i++)
        if (layout_is_inline(m->chunks[0].s[i].id))
            return 1;
    return 0;
}

int vfs_inline_move_locked(struct vfs_file *f)
{
    if (f->inline_moved || f->append_dirty || f->size <= vfs_inline_max() ||
        !vfs_inline_in(f->smap))
        return 0;
    uint64_t len = f->smap->size < LAYOUT_MIN_BLOCK ? f->smap->size : LAYOUT_MIN_BLOCK;
    if (len == 0)
        return 0;
    char *data = malloc(len);
    if (!data)
        return -ENOMEM;
    memset(data, 0, len);
    ssize_t r = vfs_read_data(f->smap, data, len, 0);
    if (r < 0) {
        free(data);
        return (int)r;
    }
    /* the oldest piece: every write of this descriptor overlays it */
    if (f->ndirty == f->dirty_cap) {
        int cap = f->dirty_cap ? 2 * f->dirty_cap : 8;
        struct vfs_dirty *d = realloc(f->dirty, (size_t)cap * sizeof *d);
        if (!d) {
            free(data);
            return -ENOMEM;
        }
        f->dirty = d;
        f->dirty_cap = cap;
    }
    memmove(f->dirty + 1, f->dirty, (size_t)f->ndirty * sizeof *f->dirty);
    f->dirty[0] =
        (struct vfs_dirty){ .off = 0, .len = (uint32_t)len, .cap = (uint32_t)len, .data = data };
    f->ndirty++;
    f->dirty_bytes += len;
    f->inline_moved = 1;
    return 0;
}

/* Is record i of s[0..n) wholly inside one later record? (then it shows
 * no byte) */
static int vfs_inline_covered(const struct layout_slice *s, int n, int i)
{
    for (int j = i + 1; j < n; j++)
        if (s[j].pos <= s[i].pos && s[j].pos + s[j].len >= s[i].pos + s[i].len)
            return 1;
    return 0;
}

static int vfs_inline_id_in(const uint64_t *ids, int nids, uint64_t id)
{
    for (int i = 0; i < nids; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

void vfs_inline_settle_locked(struct vfs_file *f, const uint64_t *ids, int nids)
{
    const struct vfs_smap *m = f->smap;
    if (!vfs_inline_in(m))
        return;
    const struct vfs_chunk *c = &m->chunks[0];
    struct layout_slice *keep = malloc((size_t)c->n * sizeof *keep);
    if (!keep)
        return;
    int k = 0, ok = 1;
    for (int i = 0; ok && i < c->n; i++) {
        if (layout_is_inline(c->s[i].id) && vfs_inline_covered(c->s, c->n, i))
            continue;
        /* what stays must be this commit's own (the fence of meta_compact
         * holds them) and no inline block */
        ok = !layout_is_inline(c->s[i].id) && vfs_inline_id_in(ids, nids, c->s[i].id);
        keep[k++] = c->s[i];
    }
    if (ok && k < c->n) {
        struct meta_attr a;
        int rc = meta_compact(vfs_eng.meta, f->attr.ino, 0, c->s, c->n, keep, k);
        /* not done (-EAGAIN: someone wrote meanwhile): the inline records
         * stay, covered, until compaction; nothing is wrong */
        if (rc == 0 && meta_getattr(vfs_eng.meta, f->attr.ino, &a) == 0)
            (void)vfs_reload(f, &a);
    }
    free(keep);
}

/* vfs_read.c - a file's bytes: slice maps and the read path.
 *
 * A slice map is loaded once per file version (size, mtime) and shared
 * through the metadata cache, so reopening an unchanged file costs no round
 * trip. Reads flatten a chunk's slices into extents (layout_resolve) and
 * copy each block range from the node cache or the store; holes are zeros.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "vfs_internal.h"

struct vfs_load { struct vfs_smap *m; int cap; int err; };

static int vfs_load_cb(void *arg, uint64_t chunk, const struct layout_slice *s, int n)
{
    struct vfs_load *l = arg;
    struct vfs_smap *m = l->m;
    if (m->nchunks == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        struct vfs_chunk *c = realloc(m->chunks, (size_t)cap * sizeof *c);
        if (!c)
            return l->err = -ENOMEM;
        m->chunks = c;
        l->cap = cap;
    }
    struct layout_slice *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
    if (!copy)
        return l->err = -ENOMEM;
    memcpy(copy, s, (size_t)n * sizeof *copy);
    m->chunks[m->nchunks++] = (struct vfs_chunk){ chunk, n, copy };
    return 0;
}

static struct vfs_smap *vfs_smap_new(const struct meta_attr *a)
{
    struct vfs_smap *m = calloc(1, sizeof *m);
    if (m) {
        m->refs = 1;
        m->ino = a->ino;
        m->size = a->size;
        m->mtime_ns = a->mtime_ns;
        m->ctime_ns = a->ctime_ns;
    }
    return m;
}

/* Block maps of a whole directory's files in one round trip, so opening
 * each of them afterwards costs none. The maps are also kept in name order
 * per directory (a few recent directories), for directory read-ahead. */
static struct vfs_dirseq_state *const vds = &vfs_eng.dirseq;

static void vfs_dirseq_clear(struct vfs_dirseq *d)
{
    for (int i = 0; i < d->n; i++)
        vfs_smap_put(d->maps[i]);
    free(d->maps);
    *d = (struct vfs_dirseq){ 0 };
}

struct vfs_dirmaps { struct vfs_load l; struct vfs_dirseq seq; };

static void vfs_dirmaps_finish(struct vfs_dirmaps *d)
{
    if (d->l.m && !d->l.err) {
        mcache_put_smap(d->l.m);
        if (d->seq.n == d->seq.cap) {
            int cap = d->seq.cap ? 2 * d->seq.cap : 64;
            struct vfs_smap **p = realloc(d->seq.maps, (size_t)cap * sizeof *p);
            if (p) {
                d->seq.maps = p;
                d->seq.cap = cap;
            }
        }
        if (d->seq.n < d->seq.cap)
            d->seq.maps[d->seq.n++] = vfs_smap_get(d->l.m);
    }
    vfs_smap_put(d->l.m);
    d->l = (struct vfs_load){ NULL, 0, 0 };
}

static int vfs_dirmaps_cb(void *arg, const struct meta_attr *a, uint64_t chunk,
                          const struct layout_slice *s, int n)
{
    struct vfs_dirmaps *d = arg;
    if (!d->l.m || d->l.m->ino != a->ino) {
        vfs_dirmaps_finish(d);
        d->l.m = vfs_smap_new(a);
        if (!d->l.m)
            return -ENOMEM;
    }
    return n > 0 ? vfs_load_cb(&d->l, chunk, s, n) : 0;
}

struct vfs_dirmaps *vfs_dirmaps_new(void)
{
    return calloc(1, sizeof(struct vfs_dirmaps));
}

int vfs_dirmaps_add(struct vfs_dirmaps *d, const struct meta_attr *a, uint64_t chunk,
                    const struct layout_slice *s, int n)
{
    return vfs_dirmaps_cb(d, a, chunk, s, n);
}

void vfs_dirmaps_install(struct vfs_dirmaps *d, uint64_t dir, int ok)
{
    if (!d)
        return;
    vfs_dirmaps_finish(d);
    if (!ok) {
        vfs_dirseq_clear(&d->seq);
        free(d);
        return;
    }
    d->seq.dir = dir;
    pthread_mutex_lock(&vds->lock);
    struct vfs_dirseq *slot = &vds->slot[(dir * 0x9E3779B97F4A7C15ULL) >> 58];
    vfs_dirseq_clear(slot);
    *slot = d->seq;
    pthread_mutex_unlock(&vds->lock);
    free(d);
}

/* The key a window of maps starts after, so that `name` is the window's
 * first file: name with its last byte one less, then 0xff (names have no
 * NUL). A few names between that key and `name` may come too: harmless,
 * the window is a hint. */
static size_t vfs_window_key(const char *name, size_t nlen, char *key)
{
    assert(nlen > 0 && nlen <= META_NAME_MAX);
    memcpy(key, name, nlen);
    key[nlen - 1] = (char)((unsigned char)key[nlen - 1] - 1);
    if (nlen < META_NAME_MAX)
        key[nlen++] = (char)0xff;
    return nlen;
}

int vfs_load_dir_smaps(uint64_t dir, const char *name, size_t nlen)
{
    struct vfs_dirmaps *d = vfs_dirmaps_new();
    if (!d)
        return -ENOMEM;
    int rc;
    if (mcache_dir_more(dir, 0) >= VFS_SNAP_FIRST && nlen > 0 && nlen <= META_NAME_MAX) {
        /* a folder known to be big: the maps of the files from `name` on
         * (a sequential reader's next ones, its read-ahead), not all of
         * them: each process reading a few files of a 100,000-entry folder
         * read every map of it */
        char key[META_NAME_MAX + 1];
        size_t klen = vfs_window_key(name, nlen, key);
        rc = meta_read_dir_page(vfs_eng.meta, dir, key, klen, VFS_SNAP_FIRST, NULL, vfs_dirmaps_cb,
                                d, NULL);
    } else {
        rc = meta_read_dir_page(vfs_eng.meta, dir, NULL, 0, VFS_SNAP_MAX, NULL, vfs_dirmaps_cb, d,
                                NULL);
        if (rc == VFS_SNAP_MAX)
            (void)mcache_dir_more(dir, VFS_SNAP_MAX);
    }
    vfs_dirmaps_install(d, dir, rc >= 0);
    return rc < 0 ? vfs_errno(rc) : 0;
}

/* The position of ino in a directory's name-ordered maps (searching from
 * where the reader was last), or -1. */
static int vfs_dirseq_find(struct vfs_dirseq *d, uint64_t ino)
{
    int i = d->last < d->n ? d->last : 0, tries = 0;
    while (d->maps[i]->ino != ino && ++tries < d->n)
        i = (i + 1) % d->n;
    return d->maps[i]->ino == ino ? i : -1;
}

/* Take refs on the maps of the files after i, up to window of them past
 * *ahead (which advances), once the reader has used half of the window
 * (or at once when force). */
static int vfs_dirseq_next(struct vfs_dirseq *d, int i, int window, int force, int *ahead,
                           struct vfs_smap **todo, int cap)
{
    int n = 0;
    if (!force && *ahead - i > window / 2)
        return 0;
    int from = i + 1 > *ahead ? i + 1 : *ahead;
    int to = i + 1 + window < d->n ? i + 1 + window : d->n;
    for (int k = from; k < to && n < cap; k++)
        todo[n++] = vfs_smap_get(d->maps[k]);
    if (from + n > *ahead)
        *ahead = from + n;
    return n;
}

/* Files of dir are being opened: once one missed the cache, keep the files
 * that follow it in the directory fetching in the background, the window
 * refilled whenever the reader has used half of it, the way a sequential
 * reader of a big file gets read-ahead. Training readers and
 * `find | xargs cat` walk a directory's files; fetching them one GET at a
 * time is what made a cold epoch slow. A directory that never missed costs
 * nothing here. Bounded by the window (files) and the memory budget. */
void vfs_dir_readahead(uint64_t dir, uint64_t ino, int missed)
{
    struct vfs_engine *e = vfs_opened();
    int window = 4 * e->cfg.prefetch;
    if (window <= 0 || !dir)
        return;
    struct vfs_smap *todo[256];
    int n = 0;
    pthread_mutex_lock(&vds->lock);
    struct vfs_dirseq *d = &vds->slot[(dir * 0x9E3779B97F4A7C15ULL) >> 58];
    int i = d->dir == dir && d->n > 0 && (missed || d->cold) ? vfs_dirseq_find(d, ino) : -1;
    if (i >= 0) {
        d->last = i;
        d->cold = 1;
        n = vfs_dirseq_next(d, i, window, missed, &d->ahead, todo, 256);
    }
    pthread_mutex_unlock(&vds->lock);
    int queued = 0;
    for (int k = 0; k < n; k++) {
        queued += vfs_prefetch_range(todo[k], 0, 0, 0);
        vfs_smap_put(todo[k]);
    }
    if (n)
        log_debug("vfs", "directory read-ahead in %llu after inode %llu: %d files, %d blocks queued",
                  (unsigned long long)dir, (unsigned long long)ino, n, queued);
}

struct vfs_smap *vfs_smap_from_recs(const struct meta_attr *a, const struct meta_slice_rec *r,
                                    int n)
{
    struct vfs_smap *m = vfs_smap_new(a);
    if (!m)
        return NULL;
    struct vfs_load l = { m, 0, 0 };
    for (int i = 0; i < n;) {
        int k = i;
        while (k < n && r[k].chunk == r[i].chunk)
            k++;
        struct layout_slice s[k - i];
        for (int j = i; j < k; j++)
            s[j - i] = r[j].s;
        if (i > 0 && r[i].chunk <= r[i - 1].chunk)
            l.err = -EINVAL; /* not in chunk order */
        if (l.err || vfs_load_cb(&l, r[i].chunk, s, k - i) < 0) {
            vfs_smap_put(m);
            return NULL;
        }
        i = k;
    }
    mcache_put_smap(m);
    return m;
}

struct vfs_smap *vfs_smap_empty(const struct meta_attr *a)
{
    struct vfs_smap *m = vfs_smap_new(a);
    if (m)
        mcache_put_smap(m);
    return m;
}

/* The block map of the version `a` names, or, when another commit landed
 * between our getattr and our slices, of the version the database has now
 * (what an open a moment later would have seen; *a is updated): the
 * second read takes the version and its slices in one snapshot (the other
 * attributes stay as read, and the attribute cache as it was), so a file
 * that other processes commit to many times a second (stress-ng iomix)
 * never starves its reader (four re-reads of attributes, then slices, used
 * to end in EIO). */
int vfs_load_smap(struct meta_attr *a, struct vfs_smap **out)
{
    struct meta *meta = vfs_eng.meta;
    for (int adopt = 0; adopt < 2; adopt++) {
        struct vfs_smap *m = mcache_get_smap(a);
        if (m) {
            *out = m;
            return 0;
        }
        m = vfs_smap_new(a);
        if (!m)
            return -ENOMEM;
        struct vfs_load l = { m, 0, 0 };
        uint64_t nchunks = (a->size + LAYOUT_CHUNK_SIZE - 1) / LAYOUT_CHUNK_SIZE;
        /* an empty file has no chunk to read but must still exist, in the
         * version the attributes say, like any other */
        struct meta_attr seen = *a;
        int rc = adopt ? meta_read_version_chunks(meta, &seen, META_VERSION_ADOPT, 0, UINT64_MAX,
                                                  vfs_load_cb, &l)
                       : meta_read_version_chunks(meta, &seen, META_VERSION_CHECK, 0,
                                                  nchunks ? nchunks : 1, vfs_load_cb, &l);
        if (rc >= 0 && l.err)
            rc = l.err;
        if (rc >= 0) {
            if (adopt) {
                a->size = m->size = seen.size;
                a->mtime_ns = m->mtime_ns = seen.mtime_ns;
                a->ctime_ns = m->ctime_ns = seen.ctime_ns;
            }
            mcache_put_smap(m);
            *out = m;
            return 0;
        }
        vfs_smap_put(m);
        if (rc != -ESTALE)
            return vfs_errno(rc);
    }
    return -EIO; /* not reached: an adopting read never answers ESTALE */
}

static const struct vfs_chunk *vfs_find_chunk(const struct vfs_smap *m, uint64_t index)
{
    int lo = 0, hi = m->nchunks - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (m->chunks[mid].index == index)
            return &m->chunks[mid];
        if (m->chunks[mid].index < index)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* Copy [soff, soff+len) of slice (id, size) into buf, block by block. */
static int vfs_read_slice(uint64_t id, uint32_t size, uint32_t soff, char *buf, uint32_t len)
{
    struct vfs_engine *e = vfs_opened();
    uint32_t bs = e->settings.block_size;
    while (len > 0) {
        uint32_t index = soff / bs, boff = soff % bs;
        uint32_t blen = layout_block_len(size, bs, index);
        uint32_t take = blen - boff < len ? blen - boff : len;
        if (blen == 0)
            return -EIO; /* slice record points past its slice: metadata damage */
        ssize_t n = fetch_block(e->vol, id, index, blen, buf, take, boff);
        if (n < 0)
            return (int)n;
        if ((uint32_t)n != take)
            return -EIO;
        buf += take;
        soff += take;
        len -= take;
    }
    return 0;
}

static int vfs_read_chunk(const struct vfs_chunk *c, uint32_t coff, char *buf, uint32_t len)
{
    if (!c) {
        memset(buf, 0, len);
        return 0;
    }
    int cap = 2 * c->n + 2;
    struct layout_extent *ext = malloc((size_t)cap * sizeof *ext);
    if (!ext)
        return -ENOMEM;
    int n = layout_resolve(c->s, c->n, coff, len, ext, cap);
    int rc = n < 0 ? n : 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        char *dst = buf + (ext[i].pos - coff);
        if (ext[i].id == 0)
            memset(dst, 0, ext[i].len);
        else
            rc = vfs_read_slice(ext[i].id, ext[i].size, ext[i].off, dst, ext[i].len);
    }
    free(ext);
    return rc;
}

ssize_t vfs_read_data(struct vfs_smap *m, void *buf, size_t len, uint64_t off)
{
    if (off >= m->size)
        return 0;
    if (len > m->size - off)
        len = (size_t)(m->size - off);
    size_t done = 0;
    while (done < len) {
        uint64_t pos = off + done;
        uint32_t coff = layout_chunk_offset(pos);
        size_t take = LAYOUT_CHUNK_SIZE - coff;
        if (take > len - done)
            take = len - done;
        int rc = vfs_read_chunk(vfs_find_chunk(m, layout_chunk_index(pos)), coff,
                                (char *)buf + done, (uint32_t)take);
        if (rc < 0) {
            if (done > 0)
                break; /* a short read first; the error comes on the next call */
            return vfs_errno(rc);
        }
        done += take;
    }
    return (ssize_t)done;
}

uint64_t vfs_smap_stored(const struct vfs_smap *m)
{
    uint64_t n = 0;
    for (int i = 0; i < m->nchunks; i++)
        for (int k = 0; k < m->chunks[i].n; k++)
            if (m->chunks[i].s[k].id)
                n += m->chunks[i].s[k].len;
    return n;
}

/* The newest slice of a file of at most a block, when it holds the whole
 * file by itself, from its start (older slices are then invisible). */
static const struct layout_slice *vfs_sole_slice(const struct vfs_smap *m)
{
    struct vfs_engine *e = vfs_opened();
    if (m->size == 0 || m->size > e->settings.block_size || m->nchunks != 1 ||
        m->chunks[0].index != 0)
        return NULL;
    const struct vfs_chunk *c = &m->chunks[0];
    const struct layout_slice *s = &c->s[c->n - 1];
    return s->id != 0 && s->pos == 0 && s->len == m->size ? s : NULL;
}

int vfs_single_block_key(const struct vfs_smap *m, char *key, size_t cap, uint32_t *blen,
                         uint64_t *id)
{
    const struct layout_slice *s = vfs_sole_slice(m);
    if (!s || s->off != 0 || s->size != m->size)
        return -ENOENT;
    *blen = (uint32_t)m->size;
    *id = s->id;
    int rc = volume_block_key(vfs_eng.vol, s->id, 0, *blen, key, cap);
    return rc < 0 ? rc : 0;
}

int vfs_pack_key(const struct vfs_smap *m, char *key, size_t cap)
{
    const struct layout_slice *s = vfs_sole_slice(m);
    /* a range of a bigger slice that is one object (at most a block) */
    if (!s || s->size <= m->size || s->size > vfs_eng.settings.block_size ||
        (uint64_t)s->off + s->len > s->size)
        return -ENOENT;
    int rc = volume_block_key(vfs_eng.vol, s->id, 0, s->size, key, cap);
    return rc < 0 ? rc : 0;
}

/* Queue every block overlapping [off, off+len) for background fetch.
 * Returns how many were queued (already cached or in flight ones are not).
 * stream: the read-ahead of a sequential reader; its blocks past
 * SHIMFS_STREAM_PAGE_CACHE are cached around the page cache (FETCH_STREAM). */
int vfs_prefetch_range(struct vfs_smap *m, uint64_t off, uint64_t len, int stream)
{
    struct vfs_engine *e = vfs_opened();
    uint32_t bs = e->settings.block_size;
    int queued = 0;
    if (off >= m->size)
        return 0;
    if (len == 0 || len > m->size - off)
        len = m->size - off;
    for (uint64_t pos = off; pos < off + len; ) {
        uint32_t coff = layout_chunk_offset(pos);
        uint64_t take = LAYOUT_CHUNK_SIZE - coff;
        if (take > off + len - pos)
            take = off + len - pos;
        const struct vfs_chunk *c = vfs_find_chunk(m, layout_chunk_index(pos));
        struct layout_extent ext[64];
        int n = c ? layout_resolve(c->s, c->n, coff, (uint32_t)take, ext, 64) : 0;
        for (int i = 0; i < n; i++) {
            if (!ext[i].id)
                continue;
            for (uint32_t b = ext[i].off / bs; (uint64_t)b * bs < (uint64_t)ext[i].off + ext[i].len; b++)
                queued +=
                    fetch_prefetch(e->vol, ext[i].id, b, layout_block_len(ext[i].size, bs, b),
                                   stream && pos >= e->cfg.stream_page_cache ? FETCH_STREAM : 0);
        }
        pos += take;
    }
    return queued;
}

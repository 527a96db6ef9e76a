/* vfs_warm.c - the node cache seen from the engine: enumerate an open
 * file's blocks, fetch, check and evict them (warmup), and the counters
 * behind `shimfs stats`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fetch.h"
#include "vfs_internal.h"

/* Visible blocks of one chunk: each (id, index) reported once per chunk;
 * a block shared by two extents (rare: overwrites) may repeat across
 * chunks, which warmup handles by finding it cached the second time. */
static int vfs_chunk_blocks(const struct vfs_chunk *c, vfs_block_cb cb, void *arg)
{
    struct vfs_engine *e = vfs_opened();
    uint32_t bs = e->settings.block_size;
    int cap = 2 * c->n + 2;
    struct layout_extent *ext = malloc((size_t)cap * sizeof *ext);
    if (!ext)
        return -ENOMEM;
    int n = layout_resolve(c->s, c->n, 0, (uint32_t)LAYOUT_CHUNK_SIZE, ext, cap);
    int rc = n < 0 ? n : 0;
    uint64_t last_id = 0;
    uint32_t last_index = UINT32_MAX;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (!ext[i].id)
            continue;
        for (uint32_t b = ext[i].off / bs; rc == 0 && (uint64_t)b * bs < (uint64_t)ext[i].off + ext[i].len; b++) {
            if (ext[i].id == last_id && b == last_index)
                continue;
            struct vfs_block blk = { ext[i].id, b, layout_block_len(ext[i].size, bs, b), "" };
            rc = volume_block_key(e->vol, blk.id, b, blk.len, blk.key, sizeof blk.key);
            if (rc >= 0)
                rc = cb(arg, &blk);
            last_id = ext[i].id;
            last_index = b;
        }
    }
    free(ext);
    return rc;
}

int vfs_file_blocks(struct vfs_file *f, vfs_block_cb cb, void *arg)
{
    if (S_ISDIR(f->attr.mode))
        return -EISDIR;
    if (!S_ISREG(f->attr.mode))
        return 0;
    /* an O_PATH open (what warmup uses) does not load the map: do it now */
    if (!f->smap) {
        int rc = vfs_load_smap(&f->attr, &f->smap);
        if (rc < 0)
            return rc;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < f->smap->nchunks; i++)
        rc = vfs_chunk_blocks(&f->smap->chunks[i], cb, arg);
    return rc;
}

int vfs_block_cached(const struct vfs_block *b)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->cache ? cache_contains(e->cache, b->key) : 0;
}

int vfs_warm_block(const struct vfs_block *b, int page_cache)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->cache)
        return -ENOSPC; /* no cache to warm */
    int rc = fetch_warm(e->vol, b->id, b->index, b->len, page_cache);
    if (rc == 0)
        cache_note_warm(e->cache, b->len, 1); /* warmup's progress, node-wide (metrics) */
    return rc;
}

int vfs_evict_block(const struct vfs_block *b)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->cache)
        return 0;
    int rc = cache_remove(e->cache, b->key);
    return rc == -ENOENT ? 0 : rc;
}

int vfs_cache_flush(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->cache ? cache_flush(e->cache) : 0;
}

int vfs_get_stats(struct vfs_stats *st)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    struct vfs_engine *e = vfs_opened();
    memset(st, 0, sizeof *st);
    struct fetch_stats fsx;
    fetch_get_stats(&fsx);
    st->gets = fsx.gets;
    st->get_bytes = fsx.get_bytes;
    st->get_ns_total = fsx.get_ns_total;
    st->shared_waits = fsx.shared_waits;
    st->prefetched = fsx.prefetch_queued;
    if (e->cache) {
        struct cache_stats cs;
        if (cache_get_node_stats(e->cache, &cs) == 0) {
            st->cache_on = 1;
            st->cache_hits = cs.hits;
            st->cache_misses = cs.misses;
            st->cache_bytes_hit = cs.bytes_hit;
            st->cache_used = cs.used_bytes;
            st->cache_limit = cs.limit_bytes;
            st->cache_files = cs.files;
            st->cache_evictions = cs.evictions;
            st->cache_corrupt = cs.corrupt;
        }
    }
    return 0;
}

/* vfs_listing.c - a large directory listed whole, kept as the records of
 * its node snapshot (nodemeta.h) with an index in name order.
 *
 * Why: putting every entry of a 100,000-entry directory into the caches
 * (two allocations and two hash inserts each, and a block map per file)
 * cost more than reading it; a listing is one buffer and one array of
 * offsets, built in one pass. Lookups by name are a binary search in it
 * (the cache takes only the names asked, vfs_mcache.c) and directory
 * streams read it by position (vfs_dir.c), so `ls -f` of a big directory
 * makes no query and no allocation per entry.
 *
 * Promises: a listing is immutable once built and refcounted (a stream
 * keeps reading the one it started with while the cache moves on); names
 * are in the byte order the database listed them in (the snapshot's
 * order), which the binary search relies on and vfs_listing_build checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfs_internal.h"

static int vfs_listing_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

int vfs_listing_build(uint64_t dir, int64_t at, struct nodemeta_snap *s, struct vfs_listing **out)
{
    struct vfs_listing *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->refs = 1;
    l->dir = dir;
    l->at = at;
    size_t start = s->pos, cap = 0;
    const char *name, *prev = NULL;
    size_t nlen, plen = 0;
    struct meta_attr a;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n, k;
    for (;;) {
        size_t pos = s->pos;
        k = nodemeta_snap_next(s, &name, &nlen, &a, &chunk, &sl, &n);
        if (k <= 0)
            break;
        if (k != 1)
            continue; /* a block map: files opened later ask for theirs */
        if (prev && vfs_listing_cmp(prev, plen, name, nlen) >= 0) {
            k = -EBADMSG; /* not in order: no binary search over it */
            break;
        }
        if (l->n == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            size_t *p = realloc(l->off, ncap * sizeof *p);
            if (!p) {
                k = -ENOMEM;
                break;
            }
            l->off = p;
            cap = ncap;
        }
        l->off[l->n++] = pos;
        prev = name;
        plen = nlen;
    }
    if (k < 0) {
        free(l->off);
        free(l);
        return k;
    }
    s->pos = start;
    l->snap = *s;       /* the listing owns the records now */
    s->p = NULL;
    *out = l;
    return 0;
}

void vfs_listing_entry(const struct vfs_listing *l, uint32_t i, const char **name, size_t *nlen,
                       struct meta_attr *a)
{
    struct nodemeta_snap s = l->snap;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n;
    s.pos = l->off[i];
    /* checked whole by vfs_listing_build: an entry record */
    (void)nodemeta_snap_next(&s, name, nlen, a, &chunk, &sl, &n);
}

int vfs_listing_find(const struct vfs_listing *l, const char *name, size_t nlen,
                     struct meta_attr *a)
{
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *mn;
        size_t ml;
        vfs_listing_entry(l, mid, &mn, &ml, a);
        int c = vfs_listing_cmp(mn, ml, name, nlen);
        if (c == 0)
            return 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

size_t vfs_listing_bytes(const struct vfs_listing *l)
{
    return l->snap.len + (size_t)l->n * sizeof *l->off;
}

struct vfs_listing *vfs_listing_get(struct vfs_listing *l)
{
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    return l;
}

void vfs_listing_put(struct vfs_listing *l)
{
    if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    nodemeta_snap_free(&l->snap);
    free(l->off);
    free(l);
}

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
 * A snapshot the node's processes patched with their own changes
 * (nodemeta_dir_patch) comes with a delta: the index then merges it in
 * (a name set there replaces or adds an entry, a name gone leaves the
 * index), so its readers see those changes without reading the folder
 * again.
 *
 * Promises: a listing is immutable once built and refcounted (a stream
 * keeps reading the one it started with while the cache moves on); names
 * are in the byte order the database listed them in (the snapshot's
 * order), which the binary search relies on and vfs_listing_build checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vfs_internal.h"

/* An index position in the delta's records rather than the snapshot's. */
#define VFS_LISTING_DELTA ((size_t)1 << 63)

static int vfs_listing_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* kind: 1 name set, 2 gone, 3 touched, 4 set if the same inode
 * (nodemeta_delta_next) */
struct vfs_delta_rec {
    size_t pos;
    const char *name;
    size_t nlen;
    int kind;
    uint32_t seq;
    struct meta_attr a;
};

/* A touched entry: its new times on the attributes it had; an entry set
 * if it is the same inode: the new attributes, or moot (0: the entry
 * stays as it was). */
static int vfs_delta_fold(struct nodemeta_snap *s, struct vfs_delta_rec *r,
                          const struct meta_attr *had)
{
    if (r->kind == 4 && had->ino != r->a.ino)
        return 0;
    struct meta_attr a = r->kind == 4 ? r->a : *had;
    if (r->kind == 3) {
        a.mtime_ns = r->a.mtime_ns;
        a.ctime_ns = r->a.ctime_ns;
    }
    nodemeta_delta_set(s, r->pos, &a);
    r->a = a;
    r->kind = 1;
    return 1;
}

static int vfs_delta_rec_cmp(const void *x, const void *y)
{
    const struct vfs_delta_rec *a = x, *b = y;
    int c = vfs_listing_cmp(a->name, a->nlen, b->name, b->nlen);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* The delta's records, in name order, the last word on each name only. */
static int vfs_delta_sorted(struct nodemeta_snap *s, struct vfs_delta_rec **out, size_t *count)
{
    struct vfs_delta_rec *r = NULL;
    size_t n = 0, cap = 0;
    const char *name;
    size_t nlen;
    struct meta_attr a;
    int k;
    for (;;) {
        size_t pos = s->delta_pos;
        k = nodemeta_delta_next(s, &name, &nlen, &a);
        if (k <= 0)
            break;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            struct vfs_delta_rec *p = realloc(r, ncap * sizeof *p);
            if (!p) {
                k = -ENOMEM;
                break;
            }
            r = p;
            cap = ncap;
        }
        r[n] = (struct vfs_delta_rec){ pos, name, nlen, k, (uint32_t)n, a };
        n++;
    }
    if (k < 0) {
        free(r);
        return k;
    }
    if (n)
        qsort(r, n, sizeof *r, vfs_delta_rec_cmp);
    size_t m = 0, i;
    for (i = 0; i < n; i++) {
        if (m && vfs_listing_cmp(r[m - 1].name, r[m - 1].nlen, r[i].name, r[i].nlen) == 0) {
            if (r[i].kind >= 3 && r[m - 1].kind < 3) {
                /* a touch (or a same-inode set) after a set folds into
                 * it, a touch after a removal is moot; a same-inode set
                 * that finds another inode or none means the inode's name
                 * changed in a way this delta cannot place: not used */
                struct vfs_delta_rec f = r[i];
                f.pos = r[m - 1].pos;
                if (r[m - 1].kind == 1 && vfs_delta_fold(s, &f, &r[m - 1].a)) {
                    r[m - 1].a = f.a;
                    /* a later version of the file: its map (or none) */
                    if (r[i].kind == 4)
                        nodemeta_delta_take_map(s, r[m - 1].pos, r[i].pos);
                } else if (r[i].kind == 4) {
                    break;
                }
                continue;
            }
            if (r[i].kind == 4 && r[m - 1].kind == 4 && r[i].a.ino != r[m - 1].a.ino)
                break; /* two inodes by one name: as above */
            if (r[i].kind == 3 && r[m - 1].kind == 4) {
                /* a touch after a same-inode set: its times on it (the
                 * fold writes r->a into the record) */
                r[m - 1].a.mtime_ns = r[i].a.mtime_ns;
                r[m - 1].a.ctime_ns = r[i].a.ctime_ns;
                continue;
            }
            m--;
        }
        r[m++] = r[i];
    }
    if (i < n) {
        free(r);
        return -ESTALE;
    }
    *out = r;
    *count = m;
    return 0;
}

static int vfs_listing_push(struct vfs_listing *l, size_t *cap, size_t pos)
{
    if (l->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 4096;
        size_t *p = realloc(l->off, ncap * sizeof *p);
        if (!p)
            return -ENOMEM;
        l->off = p;
        *cap = ncap;
    }
    l->off[l->n++] = pos;
    return 0;
}

int vfs_listing_build(uint64_t dir, int64_t at, struct nodemeta_snap *s, struct vfs_listing **out)
{
    struct vfs_listing *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->refs = 1;
    l->dir = dir;
    l->at = at;
    size_t start = s->pos, cap = 0, nd = 0, di = 0;
    const char *name, *prev = NULL;
    size_t nlen, plen = 0;
    struct meta_attr a;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n, k = 0;
    struct vfs_delta_rec *d = NULL;
    if (s->delta)
        k = vfs_delta_sorted(s, &d, &nd);
    while (k == 0) {
        size_t pos = s->pos;
        int r = nodemeta_snap_next(s, &name, &nlen, &a, &chunk, &sl, &n);
        if (r <= 0) {
            k = r;
            break;
        }
        if (r != 1)
            continue; /* a block map: files opened later ask for theirs */
        if (prev && vfs_listing_cmp(prev, plen, name, nlen) >= 0) {
            k = -EBADMSG; /* not in order: no binary search over it */
            break;
        }
        prev = name;
        plen = nlen;
        /* the delta's names before this one, then this one unless the
         * delta has the last word on it */
        int c = 1;
        while (k == 0 && di < nd && (c = vfs_listing_cmp(d[di].name, d[di].nlen, name, nlen)) < 0) {
            k = d[di].kind == 1   ? vfs_listing_push(l, &cap, d[di].pos | VFS_LISTING_DELTA)
                : d[di].kind == 4 ? -ESTALE /* a same-inode set of a name not there */
                                  : 0;
            di++;
        }
        if (k == 0 && di < nd && c == 0) {
            if (d[di].kind == 4 && !vfs_delta_fold(s, &d[di], &a))
                k = -ESTALE; /* the name is another inode's now */
            else if (d[di].kind == 3)
                (void)vfs_delta_fold(s, &d[di], &a);
            if (k == 0 && d[di].kind == 1)
                k = vfs_listing_push(l, &cap, d[di].pos | VFS_LISTING_DELTA);
            di++;
        } else if (k == 0) {
            k = vfs_listing_push(l, &cap, pos);
        }
        if (k < 0)
            break;
    }
    for (; k == 0 && di < nd; di++)
        k = d[di].kind == 1   ? vfs_listing_push(l, &cap, d[di].pos | VFS_LISTING_DELTA)
            : d[di].kind == 4 ? -ESTALE
                              : 0;
    free(d);
    if (k < 0) {
        free(l->off);
        free(l);
        return k;
    }
    s->pos = start;
    l->snap = *s; /* the listing owns the records now */
    s->p = s->delta = s->delta_maps = NULL;
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
    /* checked whole by vfs_listing_build: an entry record */
    if (l->off[i] & VFS_LISTING_DELTA) {
        s.delta_pos = l->off[i] & ~VFS_LISTING_DELTA;
        (void)nodemeta_delta_next(&s, name, nlen, a);
    } else {
        s.pos = l->off[i];
        (void)nodemeta_snap_next(&s, name, nlen, a, &chunk, &sl, &n);
    }
}

/* The index of name (binary search), or -1. */
static long vfs_listing_index(const struct vfs_listing *l, const char *name, size_t nlen,
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
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int vfs_listing_find(const struct vfs_listing *l, const char *name, size_t nlen,
                     struct meta_attr *a)
{
    return vfs_listing_index(l, name, nlen, a) < 0 ? -ENOENT : 0;
}

/* The chunk records at s's position (a map's) into d as file a's. 1 when
 * some came. */
static int vfs_listing_chunks(struct nodemeta_snap *s, const struct meta_attr *a,
                              struct vfs_dirmaps *d)
{
    const char *name;
    size_t nlen;
    struct meta_attr next;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n, maps = 0;
    while (nodemeta_snap_next(s, &name, &nlen, &next, &chunk, &sl, &n) == 2) {
        int rc = vfs_dirmaps_add(d, a, chunk, sl, n);
        if (rc < 0)
            return rc;
        maps = 1;
    }
    return maps;
}

/* Entry i: its name, attributes and, when its record holds its file's
 * block map (the snapshot's, or a delta record's that carries one), a
 * view *m of its chunk records: 1 then, 0 when it holds none (its opens
 * ask), -EBADMSG when the index does not lead to an entry. */
static int vfs_listing_record(const struct vfs_listing *l, uint32_t i, const char **name,
                              size_t *nlen, struct meta_attr *a, struct nodemeta_snap *m)
{
    *m = l->snap;
    if (l->off[i] & VFS_LISTING_DELTA) {
        size_t pos = l->off[i] & ~VFS_LISTING_DELTA;
        m->delta_pos = pos;
        if (nodemeta_delta_next(m, name, nlen, a) != 1)
            return -EBADMSG; /* the index holds name sets only */
        return S_ISREG(a->mode) && nodemeta_delta_map(&l->snap, pos, m);
    }
    uint64_t chunk;
    const struct layout_slice *sl;
    int n;
    m->pos = l->off[i];
    if (nodemeta_snap_next(m, name, nlen, a, &chunk, &sl, &n) != 1)
        return -EBADMSG;
    return S_ISREG(a->mode); /* its chunk records follow (an entry without any: none known) */
}

/* Entry i's block maps into d when its record holds them (the agent's
 * records of others' changes do, and this node's own data commits when
 * they wrote the whole map). 1 when maps came. */
static int vfs_listing_entry_maps(const struct vfs_listing *l, uint32_t i, struct vfs_dirmaps *d)
{
    const char *name;
    size_t nlen;
    struct meta_attr a;
    struct nodemeta_snap m;
    return vfs_listing_record(l, i, &name, &nlen, &a, &m) > 0 ? vfs_listing_chunks(&m, &a, d) : 0;
}

int vfs_listing_write(const struct vfs_listing *l, struct nodemeta_buf *b)
{
    for (uint32_t i = 0; i < l->n && !b->err; i++) {
        const char *name, *cname;
        size_t nlen, clen;
        struct meta_attr a, next;
        struct nodemeta_snap m;
        int has = vfs_listing_record(l, i, &name, &nlen, &a, &m);
        if (has < 0)
            return has;
        nodemeta_dir_entry(b, name, nlen, &a);
        uint64_t chunk;
        const struct layout_slice *sl;
        int n;
        while (has && nodemeta_snap_next(&m, &cname, &clen, &next, &chunk, &sl, &n) == 2)
            nodemeta_dir_chunk(b, chunk, sl, n);
    }
    return b->err;
}

int vfs_listing_maps(const struct vfs_listing *l, const char *name, size_t nlen, uint32_t count)
{
    struct meta_attr a;
    long i = vfs_listing_index(l, name, nlen, &a);
    if (i < 0)
        return -ENOENT;
    struct vfs_dirmaps *d = vfs_dirmaps_new();
    if (!d)
        return -ENOMEM;
    int rc = 0, first = 0;
    for (uint32_t k = 0; rc >= 0 && k < count && (uint32_t)i + k < l->n; k++) {
        rc = vfs_listing_entry_maps(l, (uint32_t)i + k, d);
        if (k == 0)
            first = rc;
    }
    vfs_dirmaps_install(d, l->dir, rc >= 0);
    return rc < 0 ? rc : first ? 0 : -ENOENT;
}

size_t vfs_listing_bytes(const struct vfs_listing *l)
{
    return l->snap.len + l->snap.delta_len + l->snap.delta_maps_len + (size_t)l->n * sizeof *l->off;
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

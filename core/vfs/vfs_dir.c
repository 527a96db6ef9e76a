/* vfs_dir.c - directory streams: ".", "..", then the entries in name
 * order, fetched a page at a time with readdir-plus and keyset pagination,
 * so a directory of millions of entries streams in bounded memory and
 * every entry's attributes land in the cache for the lstat that follows.
 * Where metadata is shared with the node, the first page is the whole
 * directory with its block maps (vfs_snap.c): the files a lister opens next
 * need no round trip, in this process or its neighbours. A directory over
 * VFS_SNAP_MAX entries is read whole too, in keyset pages, and kept as a
 * listing (vfs_listing.c) that the stream reads by position: the next
 * lister of the node reads it from the node's snapshot with no query. One
 * too big for the node's snapshot file is read by pages only.
 *
 * Positions are ordinals (0 ".", 1 "..", 2 the first entry ...). Seeking
 * backwards restarts the scan and skips forward: rare (seekdir to a telldir
 * cookie), and always correct.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vfs_internal.h"

#define VFS_DIR_PAGE 1000
/* A long listing's pages grow to this many entries (about 2 MiB): a
 * 100,000-entry directory is 15 round trips, not 100 */
#define VFS_DIR_PAGE_MAX 8192

struct vfs_dir {
    uint64_t ino, parent;
    long pos;                  /* ordinal of the next entry to deliver */
    int page_n, page_i, page_cap, eof, more;
    size_t last_len;
    char last[META_NAME_MAX + 1];
    struct vfs_dirent *page;
    struct vfs_listing *lst; /* reading a listing: entry pos - 2 is next */
};

static unsigned char vfs_dtype(uint32_t mode)
{
    static const struct { uint32_t fmt; unsigned char dt; } map[] = {
        { S_IFREG, DT_REG }, { S_IFDIR, DT_DIR }, { S_IFLNK, DT_LNK }, { S_IFIFO, DT_FIFO },
        { S_IFSOCK, DT_SOCK }, { S_IFCHR, DT_CHR }, { S_IFBLK, DT_BLK },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if ((mode & S_IFMT) == map[i].fmt)
            return map[i].dt;
    return DT_UNKNOWN;
}

int vfs_dir_open(struct vfs_file *f, struct vfs_dir **out)
{
    if (!vfs_file_isdir(f))
        return -ENOTDIR;
    struct vfs_dir *d = calloc(1, sizeof *d);
    if (d)
        d->page = malloc(VFS_DIR_PAGE * sizeof *d->page);
    if (d)
        d->page_cap = VFS_DIR_PAGE;
    if (!d || !d->page) {
        free(d);
        return -ENOMEM;
    }
    struct stat st;
    vfs_fstat(f, &st);
    d->ino = st.st_ino;
    struct meta_attr a;
    d->parent = d->ino;
    if (mcache_getattr(d->ino, &a) == 0 || meta_getattr(vfs_eng.meta, d->ino, &a) == 0)
        d->parent = a.parent ? a.parent : d->ino;
    *out = d;
    return 0;
}

static void vfs_dir_page_add(struct vfs_dir *d, const char *name, size_t nlen,
                             const struct meta_attr *a)
{
    struct vfs_dirent *e = &d->page[d->page_n++];
    e->ino = a->ino;
    e->type = vfs_dtype(a->mode);
    e->namelen = (uint16_t)nlen;
    memcpy(e->name, name, nlen);
    e->name[nlen] = '\0';
    memcpy(d->last, name, nlen);
    d->last_len = nlen;
}

static int vfs_dir_page_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    struct vfs_dir *d = arg;
    vfs_dir_page_add(d, name, nlen, a);
    mcache_put_entry(d->ino, name, nlen, a);
    return 0;
}

/* Whole-directory fills put entries in the caches themselves. */
static int vfs_dir_snap_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    struct vfs_dir *d = arg;
    if (d->page_n < d->page_cap)
        vfs_dir_page_add(d, name, nlen, a);
    else
        d->more = 1;
    return 0;
}

/* The first page of a process that shares metadata with its node: the
 * whole directory (entries, attributes, block maps) from the node's
 * snapshot or one query; what does not fit the page follows by readdir
 * pages after the page's last name. A directory that did not fit
 * VFS_SNAP_MAX is marked big, and is then read by pages only. */
static int vfs_dir_fill_whole(struct vfs_dir *d)
{
    d->more = 0;
    d->lst = mcache_dir_listing(d->ino);
    if (d->lst)
        return 0;
    int rc = vfs_snap_fill(d->ino, VFS_SNAP_ALL, vfs_dir_snap_cb, d);
    if (rc < 0)
        return vfs_errno(rc);
    if (rc == 1 && (d->lst = mcache_dir_listing(d->ino))) {
        d->page_n = 0; /* the listing has these too, from the start */
        return 0;
    }
    /* more than a page (a dataset's class folder of 1,300 images) whose
     * snapshot the node has: the rest from it, as a listing, not from the
     * database by pages (each reader of the node asked them, connected) */
    if (rc == 1 && d->more && vfs_snap_listing(d->ino) && (d->lst = mcache_dir_listing(d->ino))) {
        d->page_n = 0;
        return 0;
    }
    if (rc == 1 && d->page_n == 0 && !d->more && !mcache_dir_listed(d->ino)) {
        /* the node's listing went to the caches, and a commit another
         * process made in the folder dropped it again before it was
         * taken (nothing came through the callback): not an empty
         * folder, read it by pages from the start */
        mcache_dir_set_listed(d->ino, 0);
        rc = meta_readdir(vfs_eng.meta, d->ino, NULL, 0, d->page_cap, vfs_dir_page_cb, d);
        if (rc < 0)
            return vfs_errno(rc);
        d->eof = rc < d->page_cap;
        return 0;
    }
    if (rc == 0)
        mcache_dir_set_listed(d->ino, 0);
    if (rc == 1 && !d->more)
        d->eof = 1;
    return 0;
}

/* The next entry of the listing being read (1), or its end (0). */
static int vfs_dir_next_listed(struct vfs_dir *d, struct vfs_dirent *e)
{
    if (d->pos - 2 >= (long)d->lst->n)
        return 0;
    const char *name;
    size_t nlen;
    struct meta_attr a;
    vfs_listing_entry(d->lst, (uint32_t)(d->pos - 2), &name, &nlen, &a);
    e->ino = a.ino;
    e->type = vfs_dtype(a.mode);
    e->namelen = (uint16_t)nlen;
    memcpy(e->name, name, nlen);
    e->name[nlen] = '\0';
    d->pos++;
    return 1;
}

static int vfs_dir_fill(struct vfs_dir *d)
{
    int first = d->pos == 2 && d->last_len == 0;
    /* a full page before: the listing is long, take bigger pages (a failed
     * allocation keeps the page as it is) */
    if (!first && d->page_n == d->page_cap && d->page_cap < VFS_DIR_PAGE_MAX) {
        int cap = d->page_cap * 2 < VFS_DIR_PAGE_MAX ? d->page_cap * 2 : VFS_DIR_PAGE_MAX;
        struct vfs_dirent *p = realloc(d->page, (size_t)cap * sizeof *p);
        if (p) {
            d->page = p;
            d->page_cap = cap;
        }
    }
    d->page_n = d->page_i = 0;
    if (first && vfs_snap_shared() && !mcache_dir_huge(d->ino))
        return vfs_dir_fill_whole(d);
    int rc = meta_readdir(vfs_eng.meta, d->ino, first ? NULL : d->last, d->last_len,
                          d->page_cap, vfs_dir_page_cb, d);
    if (rc < 0)
        return vfs_errno(rc);
    if (rc < d->page_cap)
        d->eof = 1;
    return 0;
}

int vfs_dir_next(struct vfs_dir *d, struct vfs_dirent *e)
{
    if (d->pos < 2) {
        e->ino = d->pos == 0 ? d->ino : d->parent;
        e->type = DT_DIR;
        e->namelen = (uint16_t)(d->pos + 1);
        memcpy(e->name, "..", (size_t)d->pos + 1);
        e->name[d->pos + 1] = '\0';
        d->pos++;
        return 1;
    }
    if (d->lst)
        return vfs_dir_next_listed(d, e);
    if (d->page_i >= d->page_n) {
        if (d->eof)
            return 0;
        int rc = vfs_dir_fill(d);
        if (rc < 0)
            return rc;
        if (d->lst)
            return vfs_dir_next_listed(d, e);
        if (d->page_n == 0)
            return 0;
    }
    *e = d->page[d->page_i++];
    d->pos++;
    return 1;
}

long vfs_dir_tell(struct vfs_dir *d) { return d->pos; }

int vfs_dir_seek(struct vfs_dir *d, long pos)
{
    if (pos < 0)
        return -EINVAL;
    if (d->lst && pos >= 2) {
        d->pos = pos; /* a listing is read by position */
        return 0;
    }
    vfs_listing_put(d->lst); /* a rewind reads the directory afresh */
    d->lst = NULL;
    long start = d->pos - d->page_i; /* ordinal of the page's first entry */
    if (d->pos >= 2 && pos >= start && pos <= start + d->page_n && pos >= 2) {
        d->page_i = (int)(pos - start);
        d->pos = pos;
        return 0;
    }
    d->pos = 0;
    d->page_n = d->page_i = d->eof = 0;
    d->last_len = 0;
    struct vfs_dirent e;
    while (d->pos < pos) {
        int rc = vfs_dir_next(d, &e);
        if (rc <= 0)
            return rc;
    }
    return 0;
}

void vfs_dir_close(struct vfs_dir *d)
{
    if (!d)
        return;
    vfs_listing_put(d->lst);
    free(d->page);
    free(d);
}

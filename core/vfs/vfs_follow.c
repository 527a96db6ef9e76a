/* vfs_follow.c - followers: a reader holding a descriptor sees what other
 * processes committed since it opened the file (tail -f, less +F, log
 * shippers), the way NFS clients revalidate an open file's attributes.
 *
 * Promise: at fstat and at a read at end of file, once the descriptor's
 * view is older than SHIMFS_ATTR_TTL, its attributes are asked again (the
 * cache's when another open revalidated within the TTL, else one round
 * trip); if size or mtime changed, the descriptor reads the new version
 * from then on. A native descriptor (the kernel holds the bytes) gets a
 * replacement that the shim puts in its place. Within the TTL nothing is
 * asked. Writers keep their own view (close-to-open); read-only volumes
 * never change. A failed revalidation keeps the old view until the next
 * TTL (one debug line): a follower never fails because the database
 * blinked.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "vfs_internal.h"

/* Switch f to the version a describes; f->wlock held (followers). */
static int vfs_follow_switch(struct vfs_file *f, const struct meta_attr *now, int *newfd)
{
    struct vfs_smap *m = NULL;
    struct meta_attr version = *now; /* a newer one may land meanwhile: take it */
    const struct meta_attr *a = &version;
    int rc = vfs_load_smap(&version, &m);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&f->lock);
    struct vfs_smap *old = f->smap;
    struct meta_attr was = f->attr;
    f->smap = m;
    f->attr = *a;
    f->ra_next = f->ra_until = 0;
    f->ra_window = 0;
    if (f->native) {
        int fd = vfs_file_descriptor(f);
        if (fd < 0) {
            f->smap = old;
            f->attr = was;
            f->native = 1;
            pthread_mutex_unlock(&f->lock);
            vfs_smap_put(m);
            return fd;
        }
        *newfd = fd;
    }
    pthread_mutex_unlock(&f->lock);
    vfs_smap_put(old);
    return 1;
}

int vfs_file_follow(struct vfs_file *f, int *newfd)
{
    *newfd = -1;
    struct vfs_engine *e = vfs_opened();
    if (vfs_is_writer(f) || !S_ISREG(f->attr.mode) || (f->flags & O_PATH) || !f->smap ||
        e->cfg.read_only)
        return 0;
    int64_t ttl = e->cfg.attr_ttl_ns, now = vfs_now_ns();
    if (now - __atomic_load_n(&f->fresh_ns, __ATOMIC_ACQUIRE) < ttl)
        return 0;
    pthread_mutex_lock(&f->wlock); /* a reader's wlock: one follower at a time */
    int rc = 0;
    if (now - f->fresh_ns >= ttl) {
        struct meta_attr a;
        int64_t at;
        if (mcache_getattr_at(f->attr.ino, &a, &at) != 0 || now - at >= ttl) {
            rc = meta_getattr(e->meta, f->attr.ino, &a);
            if (rc == 0)
                mcache_put_attr(&a);
        }
        if (rc == 0 && (a.size != f->smap->size || a.mtime_ns != f->smap->mtime_ns) &&
            S_ISREG(a.mode))
            rc = vfs_follow_switch(f, &a, newfd);
        if (rc < 0)
            log_debug("vfs", "revalidating open %s (inode %llu): %s; its view stays",
                      f->path, (unsigned long long)f->attr.ino, strerror(-rc));
        __atomic_store_n(&f->fresh_ns, now, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&f->wlock);
    return rc > 0 ? 1 : 0;
}

/* Writers follow the node. A descriptor open for writing with nothing
 * buffered reads what the node's other processes committed, at once: at
 * its reads and size queries, when the node's commit sequence moved since
 * its view was taken, it asks the database for the attributes (one round
 * trip per move) and, if the file changed, reads the new version. Programs
 * whose processes share a file through the node's locks and commit with
 * fsync (sqlite's database and -wal in WAL and rollback modes) then read
 * each other's committed pages as on a local disk. One load when nothing
 * was committed. Other nodes' commits reach it at its next fsync or open
 * (close-to-open). f->wlock held. */
void vfs_writer_follow_locked(struct vfs_file *f)
{
    struct vfs_engine *e = vfs_opened();
    if (!e->node || f->ndirty || f->mo || f->wb_stale || !f->smap || e->cfg.read_only)
        return;
    uint64_t g = nodemeta_gen(e->node);
    if (g == f->node_gen)
        return;
    f->node_gen = g;
    struct meta_attr a;
    int rc = meta_getattr(e->meta, f->attr.ino, &a);
    if (rc == 0 && (a.size != f->smap->size || a.mtime_ns != f->smap->mtime_ns) &&
        S_ISREG(a.mode)) {
        rc = vfs_reload(f, &a); /* the size with it */
    }
    if (rc < 0)
        log_debug("vfs", "following the node's commits to %s: %s; its view stays", f->path,
                  strerror(-vfs_errno(rc)));
}

/* The node's commit sequence now: taken before a view is read from the
 * database, so that a commit landing in between is followed later. */
uint64_t vfs_node_gen(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node ? nodemeta_gen(e->node) : 0;
}

/* This descriptor's view was read from the database after the node's
 * sequence was `before`; own: the view is its own commit's, which stepped
 * the sequence once (no other commit in between: the view is current). */
void vfs_writer_seen_locked(struct vfs_file *f, uint64_t before, int own)
{
    uint64_t now = vfs_node_gen();
    f->node_gen = own && now == before + 1 ? now : before;
}

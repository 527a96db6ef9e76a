/* vfs.c - the path-based calls that need no open file: stat, access,
 * readlink, realpath, statvfs, xattrs; and the small helpers every vfs
 * file uses (clock, errno mapping). The engine they run on, and opening
 * its volume, are vfs_engine.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nodemeta.h"
#include "vfs_internal.h"

int64_t vfs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int vfs_writable(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->cfg.read_only ? -EROFS : 0;
}

int vfs_errno(int rc)
{
    switch (rc) {
    case -ECONNREFUSED: case -EHOSTUNREACH: case -ETIMEDOUT: case -ENODEV:
    case -EPROTO: case -ECONNRESET: case -ENOTCONN:
        return -EIO;
    default:
        return rc;
    }
}

/* Bytes a file keeps in the bucket, for st_blocks (du, tar --sparse, cp
 * --sparse=auto judge holes by it): its slices' visible lengths, capped by
 * its size, when its block map is in memory (a directory listing or an
 * open brought it); else its size, as before: a stat never costs a round
 * trip for it. */
static uint64_t vfs_stored_bytes(const struct meta_attr *a)
{
    if (!S_ISREG(a->mode) || a->size == 0)
        return a->size;
    struct vfs_smap *m = mcache_get_smap(a);
    if (!m)
        return a->size;
    uint64_t n = vfs_smap_stored(m);
    vfs_smap_put(m);
    return n < a->size ? n : a->size;
}

void vfs_attr_to_stat(const struct meta_attr *a, struct stat *st)
{
    struct vfs_engine *e = vfs_opened();
    memset(st, 0, sizeof *st);
    st->st_dev = e ? e->dev : 0;
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_rdev = a->rdev;
    st->st_size = (off_t)a->size;
    /* the preferred I/O size, not the block size: programs size their
     * buffers by it (cp, cat), and 128 KiB is what they use on local disks */
    st->st_blksize = 128 * 1024;
    st->st_blocks = S_ISDIR(a->mode) ? 8 : (blkcnt_t)((vfs_stored_bytes(a) + 511) / 512);
    st->st_atim.tv_sec = a->atime_ns / 1000000000; st->st_atim.tv_nsec = a->atime_ns % 1000000000;
    st->st_mtim.tv_sec = a->mtime_ns / 1000000000; st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
    st->st_ctim.tv_sec = a->ctime_ns / 1000000000; st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
}

/* The prologue of every path call: the volume open, then the walk. */
static int vfs_lookup_path(const char *vpath, int flags, struct meta_attr *a, char *host, size_t hcap)
{
    int rc = vfs_init();
    return rc < 0 ? rc : vfs_resolve(vpath, flags, a, NULL, host, hcap);
}

int vfs_stat(const char *vpath, int flags, struct stat *st, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_lookup_path(vpath, flags, &a, host, hcap);
    if (rc == 0)
        vfs_attr_to_stat(&a, st);
    return rc;
}

/* access(2) rules: root passes R and W, and X if any x bit is set. */
int vfs_check_access(const struct meta_attr *a, int mode, int eaccess)
{
    uid_t uid = eaccess ? geteuid() : getuid();
    gid_t gid = eaccess ? getegid() : getgid();
    mode &= R_OK | W_OK | X_OK;
    if (uid == 0)
        return (mode & X_OK) && !S_ISDIR(a->mode) && !(a->mode & 0111) ? -EACCES : 0;
    unsigned bits = a->mode & 07;
    if (uid == a->uid)
        bits = (a->mode >> 6) & 07;
    else if (gid == a->gid || group_member((gid_t)a->gid))
        bits = (a->mode >> 3) & 07;
    return ((unsigned)mode & ~bits) ? -EACCES : 0;
}

int vfs_access(const char *vpath, int mode, int flags, int eaccess, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_lookup_path(vpath, flags, &a, host, hcap);
    if (rc != 0)
        return rc;
    if ((mode & W_OK) && vfs_writable() < 0)
        return -EROFS;
    return vfs_check_access(&a, mode, eaccess);
}

int vfs_readlink(const char *vpath, char *buf, size_t cap, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_lookup_path(vpath, VFS_NOFOLLOW, &a, host, hcap);
    if (rc != 0)
        return rc;
    if (!S_ISLNK(a.mode))
        return -EINVAL;
    return vfs_errno(meta_readlink(vfs_eng.meta, a.ino, buf, cap));
}

int vfs_realpath(const char *vpath, char *out, size_t cap, char *host, size_t hcap)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    char canon[VFS_PATH_MAX];
    struct meta_attr a;
    rc = vfs_resolve(vpath, 0, &a, canon, host, hcap);
    if (rc != 0)
        return rc;
    if (strlen(canon) >= cap)
        return -ENAMETOOLONG;
    strcpy(out, canon);
    return 0;
}

/* Usage figures (df, and every find's fstatfs) are counts over the whole
 * volume: asked at most once a minute per node, shared through the node's
 * metadata folder and kept by the process, so a find or a cp does not pay
 * a connection and a table scan for a number nobody reads closely. */
#define VFS_STATS_AGE (60LL * 1000000000LL)

static int vfs_volume_stats(struct vfs_engine *e, struct meta_stats *ms)
{
    struct vfs_stats_state *s = &e->stats;
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    struct nodemeta_stamp st = e->node ? nodemeta_stamp(e->node) : (struct nodemeta_stamp){ 0 };
    if (s->kept_at && now - s->kept_at < VFS_STATS_AGE) {
        *ms = s->kept;
    } else if (e->node && nodemeta_load_blob(e->node, "statvfs", VFS_STATS_AGE, 0, ms, sizeof *ms) == 0) {
        s->kept = *ms;
        s->kept_at = now;
    } else if ((rc = meta_stats(e->meta, ms)) == 0) {
        s->kept = *ms;
        s->kept_at = now;
        if (e->node)
            (void)nodemeta_save_blob(e->node, "statvfs", st, ms, sizeof *ms);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int vfs_statvfs(struct statvfs *st)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    struct vfs_engine *e = vfs_opened();
    struct meta_stats ms = { 0 };
    rc = vfs_volume_stats(e, &ms);
    if (rc < 0)
        return vfs_errno(rc);
    /* Object stores have no capacity: report 1 PiB, like other S3 file systems. */
    uint64_t bs = e->settings.block_size, total = (UINT64_C(1) << 50) / bs;
    uint64_t used = (ms.bytes + bs - 1) / bs;
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = bs;
    st->f_blocks = total;
    st->f_bfree = st->f_bavail = total > used ? total - used : 0;
    st->f_files = UINT64_C(1) << 40;
    st->f_ffree = st->f_favail = st->f_files - ms.inodes;
    st->f_fsid = (unsigned long)e->dev;
    st->f_namemax = META_NAME_MAX;
    st->f_flag = ST_NOSUID | ST_NODEV | (e->cfg.read_only ? ST_RDONLY : 0);
    return 0;
}

/* Whether the volume has any xattr, asked at most once per attribute TTL:
 * `ls -l` asks two attributes of every file, and most datasets have none. */
static int vfs_xattrs_exist(void)
{
    int64_t *until = &vfs_eng.stats.xattr_until;
    int *known = &vfs_eng.stats.xattr_known;
    int64_t now = vfs_now_ns();
    if (__atomic_load_n(until, __ATOMIC_ACQUIRE) > now)
        return __atomic_load_n(known, __ATOMIC_RELAXED);
    struct vfs_engine *e = vfs_opened();
    int32_t shared;
    int64_t max_age = e->cfg.read_only ? -1 : e->cfg.attr_ttl_ns;
    if (e->node && nodemeta_load_blob(e->node, "xattr-any", max_age, 1, &shared, sizeof shared) == 0) {
        __atomic_store_n(known, (int)shared, __ATOMIC_RELAXED);
        __atomic_store_n(until, e->cfg.read_only ? INT64_MAX : now + e->cfg.attr_ttl_ns / 2,
                         __ATOMIC_RELEASE);
        return (int)shared;
    }
    struct nodemeta_stamp st = e->node ? nodemeta_stamp(e->node) : (struct nodemeta_stamp){ 0 };
    int rc = meta_xattr_any(e->meta);
    if (rc < 0)
        return 1; /* unknown: ask the real question */
    shared = rc;
    if (e->node)
        (void)nodemeta_save_blob(e->node, "xattr-any", st, &shared, sizeof shared);
    __atomic_store_n(known, rc, __ATOMIC_RELAXED);
    __atomic_store_n(until, e->cfg.read_only ? INT64_MAX : now + e->cfg.attr_ttl_ns, __ATOMIC_RELEASE);
    return rc;
}

/* This process set an xattr: the volume has one now. */
void vfs_xattrs_changed(void)
{
    __atomic_store_n(&vfs_eng.stats.xattr_known, 1, __ATOMIC_RELAXED);
}

int vfs_getxattr(const char *vpath, int flags, const char *name, void *buf, size_t cap,
                 char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_lookup_path(vpath, flags, &a, host, hcap);
    if (rc != 0)
        return rc;
    if (!vfs_xattrs_exist())
        return -ENODATA;
    return vfs_errno(meta_getxattr(vfs_eng.meta, a.ino, name, buf, cap));
}

int vfs_listxattr(const char *vpath, int flags, char *buf, size_t cap, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_lookup_path(vpath, flags, &a, host, hcap);
    if (rc != 0)
        return rc;
    if (!vfs_xattrs_exist())
        return 0;
    return vfs_errno(meta_listxattr(vfs_eng.meta, a.ino, buf, cap));
}

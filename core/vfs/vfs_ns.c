/* vfs_ns.c - namespace changes by path: create, mkdir, unlink, rmdir,
 * rename, link, symlink, mknod, and attribute changes (chmod, chown,
 * utimens, truncate, xattrs), with the kernel's permission rules and errors.
 *
 * Each change is one PostgreSQL transaction (metadata-sql). Afterwards the
 * caches forget exactly what changed, so this process sees its own change
 * at once; other processes see it when their TTL runs out (close-to-open).
 * A file unlinked (or renamed over) while this process still has it open
 * stays readable: it becomes an orphan owned by this process's session,
 * deleted when the last descriptor here closes, or by the reaper once the
 * session expired if the process died first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vfs_internal.h"

/* ---- inodes open in this process (for unlink-while-open) ---- */
struct vfs_open_ino { struct vfs_open_ino *next; uint64_t ino; int count, orphan; };
static struct vfs_opens_state *const vo = &vfs_eng.opens;

static struct vfs_open_ino **vfs_open_slot(uint64_t ino)
{
    struct vfs_open_ino **pp = &vo->b[(ino * 0x9E3779B97F4A7C15ULL) >> 54];
    while (*pp && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

void vfs_open_ref(uint64_t ino)
{
    pthread_mutex_lock(&vo->lock);
    struct vfs_open_ino **pp = vfs_open_slot(ino);
    if (!*pp && (*pp = calloc(1, sizeof **pp)))
        (*pp)->ino = ino;
    if (*pp)
        (*pp)->count++;
    pthread_mutex_unlock(&vo->lock);
}

/* Returns 1 when this was the last descriptor of an orphaned inode. */
int vfs_open_unref(uint64_t ino)
{
    int drop = 0;
    pthread_mutex_lock(&vo->lock);
    struct vfs_open_ino **pp = vfs_open_slot(ino), *o = *pp;
    if (o && --o->count == 0) {
        drop = o->orphan;
        if (drop)
            __atomic_sub_fetch(&vo->orphans, 1, __ATOMIC_RELAXED);
        *pp = o->next;
        free(o);
    }
    pthread_mutex_unlock(&vo->lock);
    return drop;
}

static int vfs_open_mark_orphan(uint64_t ino)
{
    pthread_mutex_lock(&vo->lock);
    struct vfs_open_ino *o = *vfs_open_slot(ino);
    if (o && !o->orphan) {
        o->orphan = 1;
        __atomic_add_fetch(&vo->orphans, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&vo->lock);
    return o != NULL;
}

int vfs_open_is_orphan(uint64_t ino)
{
    if (__atomic_load_n(&vo->orphans, __ATOMIC_RELAXED) == 0)
        return 0; /* the common case: one load */
    pthread_mutex_lock(&vo->lock);
    struct vfs_open_ino *o = *vfs_open_slot(ino);
    int orphan = o && o->orphan;
    pthread_mutex_unlock(&vo->lock);
    return orphan;
}

static int vfs_is_open(uint64_t ino)
{
    pthread_mutex_lock(&vo->lock);
    int open = *vfs_open_slot(ino) != NULL;
    pthread_mutex_unlock(&vo->lock);
    return open;
}

/* ---- helpers ---- */
static mode_t vfs_umask(void)
{
    if (!vo->umask_known) {
        /* reading it through /proc does not change it (umask(2) would) */
        FILE *fp = fopen("/proc/self/status", "re");
        char line[128];
        unsigned m;
        mode_t mask = 022;      /* when /proc does not say */
        while (fp && fgets(line, sizeof line, fp))
            if (sscanf(line, "Umask: %o", &m) == 1) {
                mask = (mode_t)m;
                break;
            }
        if (fp)
            fclose(fp);
        vo->umask = mask;
        vo->umask_known = 1;
    }
    return vo->umask;
}

int64_t vfs_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct vfs_parent {
    struct meta_attr dir;
    char name[META_NAME_MAX + 1];
    size_t nlen;
    char canon[VFS_PATH_MAX];   /* canonical path of the parent */
};

/* Split off the last component and resolve the directory holding it. */
static int vfs_resolve_parent(const char *vpath, struct vfs_parent *p, char *host, size_t hcap)
{
    size_t len = strlen(vpath);
    while (len > 1 && vpath[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && vpath[start - 1] != '/')
        start--;
    p->nlen = len - start;
    if (p->nlen == 0)
        return -EBUSY;        /* the volume root itself */
    if (p->nlen > META_NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(p->name, vpath + start, p->nlen);
    p->name[p->nlen] = '\0';
    char dir[VFS_PATH_MAX];
    if (start >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, vpath, start);
    dir[start ? start : 0] = '\0';
    if (start == 0)
        strcpy(dir, "/");
    int rc = vfs_resolve(dir, 0, &p->dir, p->canon, host, hcap);
    if (rc == VFS_ESCAPED) {
        size_t h = strlen(host);
        if (h + 1 + p->nlen >= hcap)
            return -ENAMETOOLONG;
        snprintf(host + h, hcap - h, "%s%s", (h && host[h - 1] == '/') ? "" : "/", p->name);
        return VFS_ESCAPED;
    }
    if (rc < 0)
        return rc;
    if (!S_ISDIR(p->dir.mode))
        return -ENOTDIR;
    return 0;
}

/* The prologue of every change by path: the volume open, then the parent. */
static int vfs_open_parent(const char *vpath, struct vfs_parent *p, char *host, size_t hcap)
{
    int rc = vfs_init();
    return rc < 0 ? rc : vfs_resolve_parent(vpath, p, host, hcap);
}

static int vfs_is_dot(const struct vfs_parent *p)
{
    return (p->nlen == 1 && p->name[0] == '.') || (p->nlen == 2 && p->name[0] == '.' && p->name[1] == '.');
}

/* Write + search permission on the directory, as every name change needs. */
static int vfs_may_change(const struct meta_attr *dir)
{
    return vfs_check_access(dir, W_OK | X_OK, 1);
}

/* Sticky directories: only the owner of the entry or the directory (or
 * root) may remove or rename it. */
static int vfs_sticky_ok(const struct meta_attr *dir, const struct meta_attr *victim)
{
    uid_t uid = geteuid();
    if (!(dir->mode & S_ISVTX) || uid == 0 || uid == dir->uid || uid == victim->uid)
        return 0;
    return -EPERM;
}

/* A change of this process in dir (rc: its result): the caller has put
 * the names it changed in the caches; the folder's listing stays valid
 * (re-listing a large folder after every change cost its size in rows)
 * and its attributes take what the commit wrote (time_ns 0: unknown). A
 * failed change may still have raced with others': the folder is asked
 * again then. */
static void vfs_changed_dir(uint64_t dir, int rc, int nlink_delta, int64_t time_ns)
{
    if (rc == 0)
        mcache_dir_changed(dir, nlink_delta, time_ns);
    else
        mcache_forget(dir);
}

/* A commit (seq) that changed names in p->dir also wrote the folder's own
 * times (time_ns): its entry in its parent's node snapshot takes them, or
 * that snapshot would go stale with every change in the folder. Not for
 * changes of the folder's link count (subfolders made or removed): that
 * snapshot goes stale then. */
static void vfs_patch_parent(uint64_t seq, const struct vfs_parent *p, int64_t time_ns)
{
    const char *slash = strrchr(p->canon, '/');
    if (!seq || !time_ns || p->dir.ino == META_ROOT_INO || !p->dir.parent || !slash || !slash[1])
        return;
    struct meta_attr a = p->dir;
    a.mtime_ns = a.ctime_ns = time_ns;
    struct nodemeta_change c = {
        .name = slash + 1, .nlen = strlen(slash + 1), .a = &a, .touch = 1
    };
    vfs_snap_patch(seq, p->dir.parent, &c, 1);
}

/* A name this thread just created in p->dir (inode *a, committed): the
 * node's snapshots of the folder and of its parent take it, and the
 * process's caches. */
static void vfs_created(struct vfs_parent *p, const struct meta_attr *a)
{
    struct nodemeta_change c = { .name = p->name, .nlen = p->nlen, .a = a, .touch = 0 };
    uint64_t seq = mcache_take_commit();
    vfs_snap_patch(seq, p->dir.ino, &c, 1);
    if (!S_ISDIR(a->mode))
        vfs_patch_parent(seq, p, a->ctime_ns);
    mcache_put_entry(p->dir.ino, p->name, p->nlen, a);
    vfs_changed_dir(p->dir.ino, 0, S_ISDIR(a->mode) ? 1 : 0, a->ctime_ns);
}

/* The owner of a new inode in p->dir. */
static void vfs_new_owner(const struct vfs_parent *p, struct meta_attr *a)
{
    a->uid = geteuid();
    a->gid = (p->dir.mode & S_ISGID) ? p->dir.gid : getegid();
}

static int vfs_new_inode(struct vfs_parent *p, mode_t mode, dev_t rdev, const char *target,
                         int excl, struct meta_attr *out)
{
    struct meta_attr a = { 0 };
    /* like the kernel, an existing name is EEXIST even on a read-only mount */
    if (vfs_writable() < 0)
        return excl && vfs_lookup_name(p->dir.ino, p->name, p->nlen, &a) == 0 ? -EEXIST : -EROFS;
    a.mode = mode;
    vfs_new_owner(p, &a);
    if (S_ISDIR(mode) && (p->dir.mode & S_ISGID))
        a.mode |= S_ISGID;
    a.rdev = rdev;
    (void)mcache_take_commit();
    int rc = meta_create(vfs_eng.meta, p->dir.ino, p->name, p->nlen, &a, target, excl);
    if (rc == 0) {
        vfs_created(p, &a);
        *out = a;
    }
    return vfs_errno(rc);
}

/* open(O_CREAT): the new regular file, or the inode already at the name,
 * in one round trip (meta_create_open: the create and the open's fresh
 * lookup of the final name in one statement); *created says which, and
 * *parent is the folder. `first`: the name was not looked up before (the
 * open creates first, instead of a lookup and then a create); then
 * VFS_LOOKUP asks for the walk first where one statement cannot answer as
 * the kernel would: a symlink at the name (followed), a folder the caller
 * may not write or a read-only volume (an existing file still opens
 * there), ".", "..", a trailing "/". After a walk (first 0) that found no
 * name, an existing name met now is the file it opens if it is a regular
 * file (another process created it meanwhile), else -EEXIST. */
int vfs_create_file(const char *vpath, mode_t mode, int flags, int first, struct meta_attr *out,
                    int *created, uint64_t *parent, char *canon, char *host, size_t hcap)
{
    struct vfs_parent p;
    *created = 0;
    size_t len = strlen(vpath);
    if (len > 0 && vpath[len - 1] == '/')
        return first ? VFS_LOOKUP : -EISDIR; /* as the kernel: "name/" is no file to create */
    int rc = vfs_resolve_parent(vpath, &p, host, hcap);
    if (rc != 0)
        return rc;
    rc = vfs_writable();
    if (rc == 0 && vfs_is_dot(&p))
        rc = -EISDIR;
    if (rc == 0)
        rc = vfs_may_change(&p.dir);
    if (rc < 0)
        return first ? VFS_LOOKUP : rc;
    struct meta_attr a = { 0 };
    a.mode = S_IFREG | (mode & 07777 & ~vfs_umask());
    vfs_new_owner(&p, &a);
    (void)mcache_take_commit();
    /* lazy: durable with the process's next synchronous commit (fsync,
     * sync, exit: vfs_session_sync) */
    rc = meta_create_open(vfs_eng.meta, p.dir.ino, p.name, p.nlen, &a,
                          ((flags & O_EXCL) ? 1 : 0) | META_CREATE_LAZY, created);
    if (rc < 0)
        return vfs_errno(rc);
    if (*created) {
        vfs_created(&p, &a);
        vfs_session_lazy();
    } else if (S_ISLNK(a.mode) && !(flags & O_NOFOLLOW)) {
        /* (O_EXCL answered EEXIST above) */
        mcache_put_entry(p.dir.ino, p.name, p.nlen, &a);
        return first ? VFS_LOOKUP : -EEXIST;
    } else if (!first && !S_ISREG(a.mode)) {
        return -EEXIST;
    } else {
        mcache_put_entry(p.dir.ino, p.name, p.nlen, &a); /* read now, as a fresh lookup */
    }
    *out = a;
    *parent = p.dir.ino;
    if (snprintf(canon, VFS_PATH_MAX, "%s%s%.255s", p.canon, strcmp(p.canon, "/") ? "/" : "",
                 p.name) >= VFS_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int vfs_mkdir(const char *vpath, mode_t mode, char *host, size_t hcap)
{
    struct vfs_parent p;
    int rc = vfs_open_parent(vpath, &p, host, hcap);
    if (rc != 0)
        return rc;
    if (vfs_is_dot(&p))
        return -EEXIST;
    struct meta_attr a;
    rc = vfs_may_change(&p.dir);
    return rc ? rc : vfs_new_inode(&p, S_IFDIR | (mode & 07777 & ~vfs_umask()), 0, NULL, 1, &a);
}

int vfs_symlink(const char *target, const char *vpath, char *host, size_t hcap)
{
    struct vfs_parent p;
    int rc = vfs_open_parent(vpath, &p, host, hcap);
    if (rc != 0)
        return rc;
    if (!*target)
        return -ENOENT;
    if (strlen(target) >= PATH_MAX)
        return -ENAMETOOLONG;
    struct meta_attr a;
    rc = vfs_is_dot(&p) ? -EEXIST : vfs_may_change(&p.dir);
    return rc ? rc : vfs_new_inode(&p, S_IFLNK | 0777, 0, target, 1, &a);
}

int vfs_mknod(const char *vpath, mode_t mode, dev_t dev, char *host, size_t hcap)
{
    struct vfs_parent p;
    int rc = vfs_open_parent(vpath, &p, host, hcap);
    if (rc != 0)
        return rc;
    mode_t type = mode & S_IFMT;
    if (type != 0 && type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    struct meta_attr a;
    rc = vfs_is_dot(&p) ? -EEXIST : vfs_may_change(&p.dir);
    /* Device nodes are metadata entries with st_rdev, as on NFS: creating
     * one takes CAP_MKNOD (root) as on a local disk; opening one answers
     * ENXIO (vfs_file.c), so a volume never reaches a node's devices. */
    if (rc == 0 && (type == S_IFCHR || type == S_IFBLK) && geteuid() != 0)
        rc = vfs_lookup_name(p.dir.ino, p.name, p.nlen, &a) == 0 ? -EEXIST : -EPERM;
    if (rc == 0 && type != S_IFCHR && type != S_IFBLK)
        dev = 0;
    return rc ? rc : vfs_new_inode(&p, (type ? type : S_IFREG) | (mode & 07777 & ~vfs_umask()),
                                   dev, NULL, 1, &a);
}

static int vfs_remove(const char *vpath, int dir, char *host, size_t hcap)
{
    int rc = vfs_init();
    if (rc == 0)
        rc = vfs_wb_drain();
    struct vfs_parent p;
    if (rc == 0)
        rc = vfs_resolve_parent(vpath, &p, host, hcap);
    if (rc == 0)
        rc = vfs_writable();
    if (rc != 0)
        return rc;
    if (vfs_is_dot(&p))
        return dir ? (p.nlen == 1 ? -EINVAL : -ENOTEMPTY) : -EISDIR;
    struct meta_attr victim;
    rc = vfs_may_change(&p.dir);
    if (rc == 0)
        rc = vfs_lookup_name(p.dir.ino, p.name, p.nlen, &victim);
    if (rc == 0)
        rc = vfs_sticky_ok(&p.dir, &victim);
    if (rc != 0)
        return rc;
    struct meta_attr removed;
    int keep = !dir && vfs_is_open(victim.ino);
    if (keep)
        (void)vfs_session_ensure(); /* the orphan is owned by it (else the reaper's grace) */
    (void)mcache_take_commit();
    /* an unlink: the name as the caches know it, checked in the same
     * round trip as the change */
    rc = dir ? meta_unlink(vfs_eng.meta, p.dir.ino, p.name, p.nlen, 1, 0, &removed)
             : meta_unlink_guess(vfs_eng.meta, p.dir.ino, p.name, p.nlen, &victim, keep, &removed);
    if (rc == 0) { /* a failed unlink (ENOTEMPTY ...) left the name there */
        struct nodemeta_change c = { .name = p.name, .nlen = p.nlen, .a = NULL, .touch = 0 };
        uint64_t seq = mcache_take_commit();
        vfs_snap_patch(seq, p.dir.ino, &c, 1);
        if (!dir)
            vfs_patch_parent(seq, &p, removed.ctime_ns);
        mcache_put_negative(p.dir.ino, p.name, p.nlen);
    }
    vfs_changed_dir(p.dir.ino, rc, dir ? -1 : 0, rc == 0 ? removed.ctime_ns : 0);
    mcache_forget(victim.ino);
    if (rc == 0 && keep && removed.nlink == 0)
        vfs_open_mark_orphan(victim.ino);
    if (rc == 0 && S_ISFIFO(victim.mode) && removed.nlink == 0)
        vfs_fifo_forget(victim.ino);
    return vfs_errno(rc);
}

int vfs_unlink(const char *vpath, char *host, size_t hcap) { return vfs_remove(vpath, 0, host, hcap); }
int vfs_rmdir(const char *vpath, char *host, size_t hcap) { return vfs_remove(vpath, 1, host, hcap); }

/* Both ends of rename/link must be in the volume: the shim answers EXDEV
 * itself when one is not, so an escape here is EXDEV too. */
static int vfs_parent_in_volume(const char *vpath, struct vfs_parent *p)
{
    char host[VFS_HOST_MAX];
    int rc = vfs_resolve_parent(vpath, p, host, sizeof host);
    return rc == VFS_ESCAPED ? -EXDEV : rc == 0 ? vfs_writable() : rc;
}

/* The node's snapshots of both folders take a rename of this thread's
 * (the one it just committed): the moved inode is in b now, its ctime that
 * of the commit. */
static void vfs_rename_patch(const struct vfs_parent *a, const struct vfs_parent *b,
                             const struct meta_attr *src, int64_t ctime_ns)
{
    uint64_t seq = mcache_take_commit();
    struct meta_attr moved = *src;
    moved.ctime_ns = ctime_ns;
    if (moved.parent)
        moved.parent = b->dir.ino;
    struct nodemeta_change c[2] = { { .name = a->name, .nlen = a->nlen },
                                    { .name = b->name, .nlen = b->nlen, .a = &moved } };
    if (a->dir.ino == b->dir.ino && a->nlen == b->nlen && memcmp(a->name, b->name, a->nlen) == 0)
        return; /* nothing moved */
    if (a->dir.ino == b->dir.ino) {
        vfs_snap_patch(seq, a->dir.ino, c, 2);
        vfs_patch_parent(seq, a, ctime_ns);
        return;
    }
    vfs_snap_patch(seq, a->dir.ino, &c[0], 1);
    vfs_snap_patch(seq, b->dir.ino, &c[1], 1);
    if (!S_ISDIR(src->mode)) { /* a folder moving changes both link counts */
        vfs_patch_parent(seq, a, ctime_ns);
        vfs_patch_parent(seq, b, ctime_ns);
    }
}

int vfs_rename(const char *from, const char *to, unsigned flags)
{
    int rc = vfs_init();
    if (rc == 0)
        rc = vfs_wb_drain(); /* a rename must not publish a name before its data */
    struct vfs_parent a, b;
    if (rc == 0)
        rc = vfs_parent_in_volume(from, &a);
    if (rc == 0)
        rc = vfs_parent_in_volume(to, &b);
    if (rc != 0)
        return rc;
    if (vfs_is_dot(&a) || vfs_is_dot(&b))
        return -EBUSY;
    struct meta_attr src, dst;
    rc = vfs_may_change(&a.dir);
    if (rc == 0)
        rc = vfs_may_change(&b.dir);
    if (rc == 0)
        rc = vfs_lookup_name(a.dir.ino, a.name, a.nlen, &src);
    if (rc == 0)
        rc = vfs_sticky_ok(&a.dir, &src);
    int has_dst = rc == 0 && vfs_lookup_name(b.dir.ino, b.name, b.nlen, &dst) == 0;
    if (rc == 0 && has_dst)
        rc = vfs_sticky_ok(&b.dir, &dst);
    /* as the kernel's vfs_rename: a directory moving to another parent
     * rewrites its "..", so it must be writable too */
    if (rc == 0 && a.dir.ino != b.dir.ino && S_ISDIR(src.mode))
        rc = vfs_check_access(&src, W_OK, 1);
    if (rc == 0 && a.dir.ino != b.dir.ino && has_dst && S_ISDIR(dst.mode) &&
        (flags & RENAME_EXCHANGE))
        rc = vfs_check_access(&dst, W_OK, 1);
    if (rc != 0)
        return rc;
    /* a replaced file still open here survives as this session's orphan */
    int keep = has_dst && !S_ISDIR(dst.mode) && dst.ino != src.ino && vfs_is_open(dst.ino);
    if (keep)
        (void)vfs_session_ensure();
    struct meta_attr replaced = { 0 };
    (void)mcache_take_commit();
    /* the names as the caches know them, checked in the same round trip
     * as the change (a directory's rename goes the long way by itself) */
    rc = meta_rename_guess(vfs_eng.meta, a.dir.ino, a.name, a.nlen, b.dir.ino, b.name, b.nlen,
                           flags | (keep ? META_RENAME_ORPHAN : 0), &src, has_dst ? &dst : NULL,
                           &replaced);
    /* two names of one inode: the rename changed nothing */
    if (rc == 0 && !(flags & RENAME_EXCHANGE) && !(has_dst && dst.ino == src.ino))
        vfs_rename_patch(&a, &b, &src, replaced.ctime_ns);
    if (rc == 0 && keep && replaced.ino == dst.ino && replaced.nlink == 0)
        vfs_open_mark_orphan(dst.ino);
    /* the names now point where the rename put them (a failed rename
     * changed nothing); the inodes' attributes are refetched on next use */
    if (rc == 0 && (flags & RENAME_EXCHANGE))
        mcache_put_entry(a.dir.ino, a.name, a.nlen, &dst);
    else if (rc == 0)
        mcache_put_negative(a.dir.ino, a.name, a.nlen);
    if (rc == 0)
        mcache_put_entry(b.dir.ino, b.name, b.nlen, &src);
    /* a file renamed (not exchanged): the commit wrote both folders' times
     * and the file's parent and ctime, all at replaced.ctime_ns, and no
     * link count: the caches take them (a checkpoint writer's next open
     * and rename asked for both again). Else the folders' attributes and
     * the inodes' are refetched on next use. */
    int known = rc == 0 && !S_ISDIR(src.mode) && !(flags & RENAME_EXCHANGE) &&
                !(has_dst && dst.ino == src.ino) && replaced.ctime_ns;
    vfs_changed_dir(a.dir.ino, rc, 0, known ? replaced.ctime_ns : 0);
    vfs_changed_dir(b.dir.ino, rc, 0, known ? replaced.ctime_ns : 0);
    if (known)
        mcache_attr_moved(src.ino, b.dir.ino, replaced.ctime_ns);
    else
        mcache_forget(src.ino);
    if (has_dst)
        mcache_forget(dst.ino);
    return vfs_errno(rc);
}

int vfs_link(const char *from, const char *to, int follow)
{
    int rc = vfs_init();
    if (rc == 0)
        rc = vfs_wb_drain();
    if (rc < 0)
        return rc;
    char host[VFS_HOST_MAX];
    struct meta_attr src, a;
    rc = vfs_resolve(from, follow ? 0 : VFS_NOFOLLOW, &src, NULL, host, sizeof host);
    if (rc == VFS_ESCAPED)
        return -EXDEV;
    struct vfs_parent p;
    if (rc == 0)
        rc = vfs_parent_in_volume(to, &p);
    if (rc != 0)
        return rc;
    if (S_ISDIR(src.mode))
        return -EPERM;
    if (vfs_is_dot(&p))
        return -EEXIST;
    rc = vfs_may_change(&p.dir);
    if (rc == 0)
        rc = meta_link(vfs_eng.meta, src.ino, p.dir.ino, p.name, p.nlen, &a);
    if (rc == 0) {
        mcache_put_entry(p.dir.ino, p.name, p.nlen, &a);
        vfs_changed_dir(p.dir.ino, 0, 0, a.ctime_ns);
    }
    return vfs_errno(rc);
}

/* ---- attributes ---- */
/* The inode a change of attributes is for; canon (optional, VFS_PATH_MAX)
 * gets its canonical path when it was named by one (else ""). */
static int vfs_target(const char *vpath, struct vfs_file *f, int flags, struct meta_attr *a,
                      char *canon, char *host, size_t hcap)
{
    int rc = vfs_init();
    if (canon)
        canon[0] = '\0';
    if (rc < 0)
        return rc;
    if (f) {
        if (mcache_getattr(f->attr.ino, a) != 0)
            *a = f->attr;
        return vfs_writable();
    }
    rc = vfs_resolve(vpath, flags, a, canon, host, hcap);
    return rc == 0 ? vfs_writable() : rc;
}

/* The new attributes of an inode named by canon (from vfs_target; "" or
 * NULL: not known by name) go into its folder's node snapshot too, as a
 * name set (one folder lists it: parent known), so setting a new file's
 * times or mode (touch, cp -p, tar) does not make the folder stale. */
static void vfs_patch_attr(uint64_t seq, const char *canon, const struct meta_attr *a)
{
    if (a->ino != META_ROOT_INO)
        vfs_snap_patch_name(seq, a->parent, canon, a, 0, NULL, -1);
}

/* chmod, utimens and a root's chown that changes no owner, through a
 * descriptor that created its file and holds bytes not yet committed, or
 * has committed none (tar and cp -p: write, futimens, fchown, fchmod,
 * close): the change waits for the descriptor's next commit (close,
 * fsync) and goes in its transaction, instead of a round trip of its own
 * each. Until then nobody else sees the file's new bytes either (an empty
 * new file has none); and only a change that takes nothing away waits (times, mode
 * bits added): one that removes a permission, or gives the file another
 * owner or group, applies at once, as does any change through another
 * descriptor. The mode goes in only if nobody changed it meanwhile
 * (struct meta_attr_set). 1: deferred (the descriptor and the process's
 * caches show it), 0: apply it now. */
static int vfs_defer_attrs(struct vfs_file *f, const struct meta_attr *a, unsigned fields)
{
    if (!f || !f->created || vfs_eng.cfg.writeback || (f->flags & O_APPEND) || !vfs_is_writer(f) ||
        (fields & ~(unsigned)(META_SET_MODE | META_SET_ATIME | META_SET_MTIME)))
        return 0;
    pthread_mutex_lock(&f->wlock);
    int ok = !f->mo && !f->append_dirty && !f->werr &&
             (f->ndirty > 0 || f->batches || !f->committed) &&
             (!(fields & META_SET_MODE) || (f->attr.mode & 07777 & ~a->mode) == 0);
    if (ok) {
        if ((fields & META_SET_MODE) && !(f->pending.fields & META_SET_MODE))
            f->pending.mode_was = (int)(f->attr.mode & 07777);
        f->pending.fields |= fields;
        if (fields & META_SET_MODE)
            f->pending.a.mode = f->attr.mode = a->mode;
        if (fields & META_SET_ATIME)
            f->pending.a.atime_ns = f->attr.atime_ns = a->atime_ns;
        if (fields & META_SET_MTIME)
            f->pending.a.mtime_ns = f->attr.mtime_ns = f->mtime_ns = a->mtime_ns;
        f->attr.ctime_ns = vfs_wall_now();
        struct meta_attr shown = f->attr;
        shown.size = f->size;
        shown.mtime_ns = f->mtime_ns;
        mcache_put_attr(&shown);
    }
    pthread_mutex_unlock(&f->wlock);
    return ok;
}

int vfs_attr_commit(struct meta_attr *a, unsigned fields)
{
    /* lazy: durable with the process's next synchronous commit, as a
     * close's (fsync, sync, exit: vfs_session_sync) */
    int lazy = !vfs_eng.cfg.sync_close;
    int rc = meta_setattr(vfs_eng.meta, a->ino,
                          fields | META_SET_CTIME_NOW | (lazy ? META_SET_LAZY : 0), a);
    if (rc < 0)
        return rc;
    if (lazy)
        vfs_session_lazy();
    mcache_put_attr(a);
    return 0;
}

static int vfs_apply(struct meta_attr *a, unsigned fields, struct vfs_file *f, const char *canon)
{
    int rc = vfs_wb_drain();
    if (rc < 0)
        return rc;
    if (vfs_defer_attrs(f, a, fields))
        return 0;
    /* times set through a descriptor with bytes it has not committed:
     * those bytes first, or their commit's own mtime would have the last
     * word (cp -p and tar set times before close) */
    if (f && (fields & (META_SET_ATIME | META_SET_MTIME)) && (rc = vfs_writer_commit(f)) < 0)
        return rc;
    (void)mcache_take_commit();
    rc = vfs_attr_commit(a, fields);
    if (rc == 0) {
        vfs_patch_attr(mcache_take_commit(), canon, a);
        if (f) {
            pthread_mutex_lock(&f->wlock);
            uint64_t size = f->size;
            f->attr = *a;
            f->attr.size = size > a->size ? size : a->size;
            if (fields & META_SET_MTIME)
                f->mtime_ns = a->mtime_ns; /* what a writer's fstat shows */
            pthread_mutex_unlock(&f->wlock);
        }
    }
    return vfs_errno(rc);
}

/* A write by anyone but root clears setuid, and setgid when the group may
 * execute (else it marks mandatory locking), as the kernel's
 * file_remove_privs: a file changed by another user must not keep running
 * with its owner's rights. */
int vfs_write_kill_privs(struct vfs_file *f)
{
    mode_t kill = S_ISUID;
    if ((f->attr.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
        kill |= S_ISGID;
    if (!(f->attr.mode & kill) || geteuid() == 0)
        return 0;
    struct meta_attr a = f->attr;
    a.mode &= ~kill;
    return vfs_apply(&a, META_SET_MODE, f, NULL);
}

int vfs_chmod(const char *vpath, struct vfs_file *f, mode_t mode, int flags, char *host, size_t hcap)
{
    struct meta_attr a;
    char canon[VFS_PATH_MAX];
    int rc = vfs_target(vpath, f, flags, &a, canon, host, hcap);
    if (rc != 0)
        return rc;
    uid_t uid = geteuid();
    if (uid != 0 && uid != a.uid)
        return -EPERM;
    if (S_ISLNK(a.mode))
        return -EOPNOTSUPP;
    /* like the kernel: a non-member cannot set the group's setgid bit */
    if (uid != 0 && (mode & S_ISGID) && a.gid != getegid() && !group_member((gid_t)a.gid))
        mode &= ~(mode_t)S_ISGID;
    a.mode = (a.mode & S_IFMT) | (mode & 07777);
    return vfs_apply(&a, META_SET_MODE, f, canon);
}

int vfs_chown(const char *vpath, struct vfs_file *f, uid_t uid, gid_t gid, int flags, char *host, size_t hcap)
{
    struct meta_attr a;
    char canon[VFS_PATH_MAX];
    int rc = vfs_target(vpath, f, flags, &a, canon, host, hcap);
    if (rc != 0)
        return rc;
    uid_t me = geteuid();
    unsigned fields = 0;
    /* the kernel's chown_ok and chgrp_ok: without root, only the owner may
     * name the owner (unchanged) or a group it is in (or the file's own);
     * a no-op by anyone else is EPERM too */
    if (uid != (uid_t)-1) {
        if (me != 0 && (me != a.uid || uid != a.uid))
            return -EPERM;
        if (uid != a.uid) {
            a.uid = uid;
            fields |= META_SET_UID;
        }
    }
    if (gid != (gid_t)-1) {
        if (me != 0 && (me != a.uid || (gid != a.gid && gid != getegid() && !group_member(gid))))
            return -EPERM;
        if (gid != a.gid) {
            a.gid = gid;
            fields |= META_SET_GID;
        }
    }
    if (fields && !S_ISDIR(a.mode) && me != 0) {
        a.mode &= ~(mode_t)(S_ISUID | S_ISGID);
        fields |= META_SET_MODE;
    }
    return vfs_apply(&a, fields, f, canon);
}

static int64_t vfs_ts_ns(const struct timespec *t, int64_t now)
{
    return t->tv_nsec == UTIME_NOW ? now : (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int vfs_utimens(const char *vpath, struct vfs_file *f, const struct timespec times[2], int flags,
                char *host, size_t hcap)
{
    struct meta_attr a;
    char canon[VFS_PATH_MAX];
    int rc = vfs_target(vpath, f, flags, &a, canon, host, hcap);
    if (rc != 0)
        return rc;
    int64_t now = vfs_wall_now();
    int explicit = times && !(times[0].tv_nsec == UTIME_NOW && times[1].tv_nsec == UTIME_NOW);
    uid_t me = geteuid();
    if (me != 0 && me != a.uid) {
        if (explicit)
            return -EPERM;
        if (vfs_check_access(&a, W_OK, 1) < 0)
            return -EACCES;
    }
    unsigned fields = 0;
    for (int i = 0; i < 2; i++) {
        if (times && (times[i].tv_nsec == UTIME_OMIT))
            continue;
        if (times && times[i].tv_nsec != UTIME_NOW && (times[i].tv_nsec < 0 || times[i].tv_nsec > 999999999))
            return -EINVAL;
        int64_t ns = times ? vfs_ts_ns(&times[i], now) : now;
        if (i == 0)
            a.atime_ns = ns, fields |= META_SET_ATIME;
        else
            a.mtime_ns = ns, fields |= META_SET_MTIME;
    }
    return fields ? vfs_apply(&a, fields, f, canon) : 0;
}

int vfs_truncate(const char *vpath, uint64_t size, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_target(vpath, NULL, 0, &a, NULL, host, hcap);
    if (rc != 0)
        return rc;
    if (S_ISDIR(a.mode))
        return -EISDIR;
    if (!S_ISREG(a.mode))
        return -EINVAL;
    rc = vfs_check_access(&a, W_OK, 1);
    return rc ? rc : vfs_set_size(a.ino, size, NULL);
}

static int vfs_xattr_target(const char *vpath, struct vfs_file *f, int flags, struct meta_attr *a,
                            char *host, size_t hcap)
{
    int rc = vfs_target(vpath, f, flags, a, NULL, host, hcap);
    if (rc != 0)
        return rc;
    uid_t me = geteuid();
    if (me != 0 && me != a->uid && vfs_check_access(a, W_OK, 1) < 0)
        return -EACCES;
    return 0;
}

int vfs_setxattr(const char *vpath, struct vfs_file *f, const char *name, const void *val, size_t len,
                 int xflags, int flags, char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_xattr_target(vpath, f, flags, &a, host, hcap);
    if (rc == 0)
        rc = vfs_errno(meta_setxattr(vfs_eng.meta, a.ino, name, val, len, xflags));
    if (rc == 0)
        vfs_xattrs_changed();
    return rc;
}

int vfs_removexattr(const char *vpath, struct vfs_file *f, const char *name, int flags,
                    char *host, size_t hcap)
{
    struct meta_attr a;
    int rc = vfs_xattr_target(vpath, f, flags, &a, host, hcap);
    return rc ? rc : vfs_errno(meta_removexattr(vfs_eng.meta, a.ino, name));
}

int vfs_fgetxattr(struct vfs_file *f, const char *name, void *buf, size_t cap)
{
    return vfs_errno(meta_getxattr(vfs_eng.meta, f->attr.ino, name, buf, cap));
}

int vfs_flistxattr(struct vfs_file *f, char *buf, size_t cap)
{
    return vfs_errno(meta_listxattr(vfs_eng.meta, f->attr.ino, buf, cap));
}

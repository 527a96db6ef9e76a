/* shim_namespace.c - namespace changes: mkdir, mkdirat, rmdir, unlink,
 * unlinkat, rename, renameat, renameat2, link, linkat, symlink, symlinkat,
 * mknod, mknodat, __xmknod, __xmknodat, mkfifo, mkfifoat.
 *
 * A volume path goes to the engine (one PostgreSQL transaction per change,
 * the kernel's errors); a host path to libc. rename and link need both
 * names on the same side: one in the volume and one on the host is EXDEV,
 * as between two mounts, so mv and rsync fall back to copy and delete.
 */
#include "shim.h"

#include <stdio.h>
#include <unistd.h>

#include "shim_mem.h"
#include "shim_ns.h"
#include "shim_core.h"

SHIM_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 0, SHIM_VFS_LOAD(mkdir, ns.t.vpath, mode, ns.host, sizeof ns.host),
                 REAL(mkdirat)(ns.dirfd, ns.path, mode));
}

SHIM_EXPORT int mkdir(const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_VFS_LOAD(mkdir, ns.t.vpath, mode, ns.host, sizeof ns.host),
                 REAL(mkdir)(ns.path, mode));
}

SHIM_EXPORT int rmdir(const char *path)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_VFS_LOAD(rmdir, ns.t.vpath, ns.host, sizeof ns.host),
                 REAL(rmdir)(ns.path));
}

SHIM_EXPORT int unlink(const char *path)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_VFS_LOAD(unlink, ns.t.vpath, ns.host, sizeof ns.host),
                 REAL(unlink)(ns.path));
}

static int shim_unlinkat_vfs(struct shim_ns *ns, int flags)
{
    if (flags & ~AT_REMOVEDIR)
        return -EINVAL;
    return (flags & AT_REMOVEDIR) ? SHIM_VFS_LOAD(rmdir, ns->t.vpath, ns->host, sizeof ns->host)
                                  : SHIM_VFS_LOAD(unlink, ns->t.vpath, ns->host, sizeof ns->host);
}

SHIM_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 0, shim_unlinkat_vfs(&ns, flags),
                 REAL(unlinkat)(ns.dirfd, ns.path, flags));
}

/* ---- two names: rename and link ---- */
struct shim_pair {
    struct shim_ns from, to;
};

/* Both names resolved: 1 both in the volume, 0 both on the host, -errno
 * (EXDEV when they are on different sides). */
static int shim_pair_resolve(struct shim_pair *p, int olddirfd, const char *oldpath,
                             int newdirfd, const char *newpath, int alias)
{
    int a = shim_ns_resolve(olddirfd, oldpath, alias, &p->from);
    if (a < 0)
        return a;
    int b = shim_ns_resolve(newdirfd, newpath, 0, &p->to);
    if (b < 0)
        return b;
    if (a != b && (shim_str_is_null(oldpath) || shim_str_is_null(newpath)))
        return -EFAULT; /* NULL resolves to the host, but the kernel reads it first */
    return a == b ? a : -EXDEV;
}

static int shim_rename_any(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                           unsigned flags, int *ret)
{
    struct shim_pair p;
    int c = shim_pair_resolve(&p, olddirfd, oldpath, newdirfd, newpath, 0);
    if (c == 0)
        return 0;
    if (c > 0)
        c = (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
                ? -EINVAL
                : SHIM_VFS_LOAD(rename, p.from.t.vpath, p.to.t.vpath, flags);
    *ret = c < 0 ? shim_fail(c) : 0;
    return 1;
}

SHIM_EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                          unsigned flags)
{
    int r;
    if (shim_rename_any(olddirfd, oldpath, newdirfd, newpath, flags, &r))
        return r;
    return REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
}

SHIM_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    int r;
    if (shim_rename_any(olddirfd, oldpath, newdirfd, newpath, 0, &r))
        return r;
    return REAL(renameat)(olddirfd, oldpath, newdirfd, newpath);
}

SHIM_EXPORT int rename(const char *oldpath, const char *newpath)
{
    int r;
    if (shim_rename_any(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, &r))
        return r;
    return REAL(rename)(oldpath, newpath);
}

/* linkat(fd, "", ..., AT_EMPTY_PATH) of a volume descriptor: its path. */
static int shim_link_empty(int olddirfd, struct shim_ns *from)
{
    struct shim_ofd *o;
    struct vfs_file *f;
    int c = shim_ns_fd(olddirfd, &o, &f);
    if (c <= 0)
        return c;
    const char *vp = shim_vfs->file_path(f);
    c = vp[0] != '/' ? -ENOENT /* adopted across exec: no path known */
        : snprintf(from->t.vpath, sizeof from->t.vpath, "%s", vp) >= (int)sizeof from->t.vpath
            ? -ENAMETOOLONG : 1;
    shim_ofd_put(o);
    return c;
}

static int shim_link_any(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                         int flags, int *ret)
{
    struct shim_pair p;
    int c;
    if ((flags & AT_EMPTY_PATH) && shim_str_is_empty(oldpath)) {
        c = shim_link_empty(olddirfd, &p.from);
        int b = c < 0 ? c : shim_ns_resolve(newdirfd, newpath, 0, &p.to);
        c = c < 0 ? c : b < 0 ? b : c == b ? c : shim_str_is_null(newpath) ? -EFAULT : -EXDEV;
    } else {
        c = shim_pair_resolve(&p, olddirfd, oldpath, newdirfd, newpath,
                              (flags & AT_SYMLINK_FOLLOW) != 0);
    }
    if (c == 0)
        return 0;
    if (c > 0)
        c = (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
                ? -EINVAL
                : SHIM_VFS_LOAD(link, p.from.t.vpath, p.to.t.vpath, (flags & AT_SYMLINK_FOLLOW) != 0);
    *ret = c < 0 ? shim_fail(c) : 0;
    return 1;
}

SHIM_EXPORT int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                       int flags)
{
    int r;
    if (shim_link_any(olddirfd, oldpath, newdirfd, newpath, flags, &r))
        return r;
    return REAL(linkat)(olddirfd, oldpath, newdirfd, newpath, flags);
}

SHIM_EXPORT int link(const char *oldpath, const char *newpath)
{
    int r;
    if (shim_link_any(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, &r))
        return r;
    return REAL(link)(oldpath, newpath);
}

/* ---- new names of other kinds ---- */
static int shim_symlink_vfs(const char *target, struct shim_ns *ns)
{
    if (!shim_mem_str_ok(target))
        return -EFAULT;
    return SHIM_VFS_LOAD(symlink, target, ns->t.vpath, ns->host, sizeof ns->host);
}

SHIM_EXPORT int symlinkat(const char *target, int dirfd, const char *linkpath)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, linkpath, 0, shim_symlink_vfs(target, &ns),
                 REAL(symlinkat)(target, ns.dirfd, ns.path));
}

SHIM_EXPORT int symlink(const char *target, const char *linkpath)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, linkpath, 0, shim_symlink_vfs(target, &ns),
                 REAL(symlink)(target, ns.path));
}

#define SHIM_MKNOD_VFS(ns, mode, dev) \
    SHIM_VFS_LOAD(mknod, (ns).t.vpath, mode, dev, (ns).host, sizeof (ns).host)

SHIM_EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 0, SHIM_MKNOD_VFS(ns, mode, dev),
                 REAL(mknodat)(ns.dirfd, ns.path, mode, dev));
}

SHIM_EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_MKNOD_VFS(ns, mode, dev),
                 REAL(mknod)(ns.path, mode, dev));
}

SHIM_EXPORT int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 0, dev ? SHIM_MKNOD_VFS(ns, mode, *dev) : -EFAULT,
                 REAL(__xmknodat)(ver, ns.dirfd, ns.path, mode, dev));
}

SHIM_EXPORT int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, dev ? SHIM_MKNOD_VFS(ns, mode, *dev) : -EFAULT,
                 REAL(__xmknod)(ver, ns.path, mode, dev));
}

SHIM_EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 0, SHIM_MKNOD_VFS(ns, S_IFIFO | (mode & 07777), 0),
                 REAL(mkfifoat)(ns.dirfd, ns.path, mode));
}

SHIM_EXPORT int mkfifo(const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_MKNOD_VFS(ns, S_IFIFO | (mode & 07777), 0),
                 REAL(mkfifo)(ns.path, mode));
}

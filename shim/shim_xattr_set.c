/* shim_xattr_set.c - changing extended attributes: setxattr, lsetxattr,
 * fsetxattr, removexattr, lremovexattr, fremovexattr. (Reading them is
 * shim_xattr.c.) The engine keeps them in the volume's xattr table with
 * the kernel's XATTR_CREATE / XATTR_REPLACE answers.
 */
#include "shim.h"

#include <string.h>
#include <sys/xattr.h>

#include "shim_mem.h"
#include "shim_ns.h"
#include "shim_core.h"

/* POSIX ACLs live in system.posix_acl_* on Linux, and the kernel turns
 * them into mode bits; the volume keeps no ACLs, so it answers as a file
 * system mounted without them, and cp -a, rsync -A and tar fall back to
 * chmod (stored as a plain xattr, the mode would silently stay wrong). */
static int shim_xset_acl(const char *name)
{
    if (!shim_mem_str_ok(name))
        return -EFAULT; /* the kernel reads the name first */
    return strncmp(name, "system.posix_acl_", 17) == 0 ? -EOPNOTSUPP : 0;
}

/* Descriptor call: body with f on a volume descriptor, else libc; an
 * O_PATH descriptor changes nothing (EBADF). */
#define SHIM_XSET_FD(fd, f, body, pass_call) \
    SHIM_NS_FD_CALL(fd, o_, f, (o_->flags & O_PATH) ? -EBADF : (body), pass_call)

#define SHIM_SETX_VFS(ns, name, value, size, xflags, vflags)                            \
    (shim_xset_acl(name) ?: SHIM_VFS_LOAD(setxattr, (ns).t.vpath, NULL, name, value, size, xflags, \
                                              vflags, (ns).host, sizeof (ns).host))
#define SHIM_REMOVEX_VFS(ns, name, vflags)                                       \
    (shim_mem_path(name) ?: SHIM_VFS_LOAD(removexattr, (ns).t.vpath, NULL, name, vflags, \
                                          (ns).host, sizeof (ns).host))

SHIM_EXPORT int setxattr(const char *path, const char *name, const void *value, size_t size,
                         int flags)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, SHIM_SETX_VFS(ns, name, value, size, flags, 0),
                 REAL(setxattr)(ns.path, name, value, size, flags));
}

/* The kernel keeps user.* attributes off symlinks (their permission bits
 * mean nothing): EPERM, as lsetxattr answers on local disk. */
static int shim_xset_link(struct shim_ns *ns, const char *name)
{
    if (!shim_mem_str_ok(name) || strncmp(name, "user.", 5) != 0) /* a bad name: EFAULT below */
        return 0;
    struct stat st;
    int rc = SHIM_VFS_LOAD(stat, ns->t.vpath, VFS_NOFOLLOW, &st, ns->host, sizeof ns->host);
    return rc == 0 && S_ISLNK(st.st_mode) ? -EPERM : rc < 0 ? rc : 0;
}

SHIM_EXPORT int lsetxattr(const char *path, const char *name, const void *value, size_t size,
                          int flags)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0,
                 shim_xset_link(&ns, name)
                     ?: SHIM_SETX_VFS(ns, name, value, size, flags, VFS_NOFOLLOW),
                 REAL(lsetxattr)(ns.path, name, value, size, flags));
}

SHIM_EXPORT int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
    SHIM_XSET_FD(fd, f,
                 shim_xset_acl(name)
                     ?: SHIM_VFS_LOAD(setxattr, NULL, f, name, value, size, flags, 0, NULL, 0),
                 REAL(fsetxattr)(fd, name, value, size, flags));
}

SHIM_EXPORT int removexattr(const char *path, const char *name)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, SHIM_REMOVEX_VFS(ns, name, 0),
                 REAL(removexattr)(ns.path, name));
}

SHIM_EXPORT int lremovexattr(const char *path, const char *name)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_REMOVEX_VFS(ns, name, VFS_NOFOLLOW),
                 REAL(lremovexattr)(ns.path, name));
}

SHIM_EXPORT int fremovexattr(int fd, const char *name)
{
    SHIM_XSET_FD(fd, f, shim_mem_path(name) ?: SHIM_VFS_LOAD(removexattr, NULL, f, name, 0, NULL, 0),
                 REAL(fremovexattr)(fd, name));
}

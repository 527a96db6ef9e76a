/* shim_xattr.c - reading extended attributes: getxattr, lgetxattr,
 * fgetxattr, listxattr, llistxattr, flistxattr. (Setting and removing are
 * in shim_xattr_set.c.) ls -l and cp --preserve ask for these on every file;
 * the engine answers from the volume's xattr table.
 */
#include "shim.h"

#include <sys/xattr.h>

#include "shim_core.h"
#include "shim_fd.h"
#include "shim_mem.h"
#include "shim_resolve.h"

/* A descriptor call on a volume file: 1 when handled (*ret), 0: libc.
 * list != 0: flistxattr, else fgetxattr. */
static int shim_xattr_fd(int fd, int list, const char *name, void *buf, size_t size, ssize_t *ret)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    ssize_t rc = shim_ofd_file(o, fd, &f);
    if (rc == 0)
        rc = list                      ? SHIM_VFS(flistxattr, f, buf, size)
             : !shim_mem_str_ok(name) ? -EFAULT
                                      : SHIM_VFS(fgetxattr, f, name, buf, size);
    shim_ofd_put(o);
    *ret = rc < 0 ? shim_fail((int)rc) : rc;
    return 1;
}

/* Resolve a path to a volume path; 1 volume, 0 host, -errno. */
static int shim_xattr_target(const char *path, int nofollow, struct shim_target *t)
{
    return shim_resolve(AT_FDCWD, path, nofollow ? 0 : SHIM_RESOLVE_ALIAS, t);
}

/* The call on the host, where the volume path led (an escape). */
static ssize_t shim_xattr_host(const char *host, int nofollow, int list, const char *name,
                               void *buf, size_t size)
{
    if (list)
        return nofollow ? REAL(llistxattr)(host, buf, size) : REAL(listxattr)(host, buf, size);
    return nofollow ? REAL(lgetxattr)(host, name, buf, size) : REAL(getxattr)(host, name, buf, size);
}

/* The getxattr and listxattr families by path (list != 0: listxattr): 1
 * when handled (*ret), 0: ask libc. */
static int shim_xattr_path(const char *path, int nofollow, int list, const char *name, void *buf,
                           size_t size, ssize_t *ret)
{
    struct shim_target t;
    int c = shim_xattr_target(path, nofollow, &t);
    if (c == 0)
        return 0;
    if (c < 0) {
        *ret = shim_fail(c);
        return 1;
    }
    char host[VFS_HOST_MAX];
    host[0] = '\0';
    int vflags = nofollow ? VFS_NOFOLLOW : 0;
    int n = list ? SHIM_VFS_LOAD(listxattr, t.vpath, vflags, buf, size, host, sizeof host)
          : !shim_mem_str_ok(name) ? -EFAULT /* the kernel reads the name first */
          : SHIM_VFS_LOAD(getxattr, t.vpath, vflags, name, buf, size, host, sizeof host);
    if (shim_vfs_escaped(n, host))
        *ret = shim_xattr_host(host, nofollow, list, name, buf, size);
    else
        *ret = n < 0 ? shim_fail(n) : n;
    return 1;
}

SHIM_EXPORT ssize_t getxattr(const char *path, const char *name, void *buf, size_t size)
{
    ssize_t r;
    return shim_xattr_path(path, 0, 0, name, buf, size, &r) ? r
                                                            : REAL(getxattr)(path, name, buf, size);
}

SHIM_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *buf, size_t size)
{
    ssize_t r;
    return shim_xattr_path(path, 1, 0, name, buf, size, &r) ? r
                                                            : REAL(lgetxattr)(path, name, buf, size);
}

SHIM_EXPORT ssize_t fgetxattr(int fd, const char *name, void *buf, size_t size)
{
    ssize_t r;
    if (shim_xattr_fd(fd, 0, name, buf, size, &r))
        return r;
    return REAL(fgetxattr)(fd, name, buf, size);
}

SHIM_EXPORT ssize_t listxattr(const char *path, char *buf, size_t size)
{
    ssize_t r;
    return shim_xattr_path(path, 0, 1, NULL, buf, size, &r) ? r : REAL(listxattr)(path, buf, size);
}

SHIM_EXPORT ssize_t llistxattr(const char *path, char *buf, size_t size)
{
    ssize_t r;
    return shim_xattr_path(path, 1, 1, NULL, buf, size, &r) ? r : REAL(llistxattr)(path, buf, size);
}

SHIM_EXPORT ssize_t flistxattr(int fd, char *buf, size_t size)
{
    ssize_t r;
    if (shim_xattr_fd(fd, 1, NULL, buf, size, &r))
        return r;
    return REAL(flistxattr)(fd, buf, size);
}

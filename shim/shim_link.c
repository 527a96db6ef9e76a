/* shim_link.c - symlinks and canonical names: readlink, readlinkat, their
 * FORTIFY twins, realpath, __realpath_chk, canonicalize_file_name.
 *
 * glibc's realpath walks with its internal lstat/readlink, which the shim
 * cannot see, so volume paths are canonicalised by the engine in one call.
 * readlink("/proc/self/fd/N") of a volume descriptor answers the volume
 * path (the kernel would name the memfd or the cache file).
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

#include "shim_cwd.h"
#include "shim_fd.h"
#include "shim_mem.h"
#include "shim_path.h"
#include "shim_resolve.h"
#include "shim_core.h"

/* prefix + vpath into out; -ENAMETOOLONG. */
static int shim_link_full(const char *vpath, char *out, size_t cap)
{
    const char *v = strcmp(vpath, "/") ? vpath : "";
    int n = snprintf(out, cap, "%s%s", shim_cfg.prefix, v);
    return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : n;
}

static ssize_t shim_link_copy(const char *src, size_t n, char *buf, size_t len)
{
    if (n > len)
        n = len;
    memcpy(buf, src, n);
    return (ssize_t)n;
}

/* readlink("/proc/self/cwd") in a volume directory: the virtual path,
 * not the marker directory. 0 if not that case. */
static int shim_link_proc_cwd(const char *path, char *buf, size_t len, ssize_t *ret)
{
    char self[64], full[SHIM_PATH_MAX];
    size_t n;
    snprintf(self, sizeof self, "/proc/%d/cwd", (int)shim_cfg.pid);
    if (strcmp(path, "/proc/self/cwd") != 0 && strcmp(path, "/proc/thread-self/cwd") != 0 &&
        strcmp(path, self) != 0)
        return 0;
    if (shim_cwd_virtual(full, sizeof full, &n) != 0)
        return 0;
    *ret = shim_link_copy(full, n, buf, len);
    return 1;
}

/* readlink of /proc/self/fd/N for a volume descriptor; 0 if not one. */
static int shim_link_alias(const char *path, char *buf, size_t len, ssize_t *ret)
{
    if (path[0] != '/' || (path[1] != 'p' && path[1] != 'd'))
        return 0;
    if (path[1] == 'p' && shim_link_proc_cwd(path, buf, len, ret))
        return 1;
    if (!shim_fd_dir)
        return 0;
    int fd = shim_path_fd_alias(path, shim_cfg.pid);
    struct shim_ofd *o = fd >= 0 ? shim_fd_get(fd, 1) : NULL;
    if (!o)
        return 0;
    struct vfs_file *f;
    char full[SHIM_PATH_MAX];
    int rc = shim_ofd_file(o, fd, &f);
    if (rc == 0 && shim_vfs->file_path(f)[0] != '/') {
        shim_ofd_put(o); /* adopted across exec: only the kernel's name is known */
        return 0;
    }
    if (rc == 0)
        rc = shim_link_full(shim_vfs->file_path(f), full, sizeof full);
    shim_ofd_put(o);
    *ret = rc < 0 ? shim_fail(rc) : shim_link_copy(full, (size_t)rc, buf, len);
    return 1;
}

/* 1 when handled (*ret), 0: ask libc. */
static int shim_link_read(int dirfd, const char *path, char *buf, size_t len, ssize_t *ret)
{
    if (shim_bypass() || shim_str_is_null(path))
        return 0;
    if (SHIM_UNLIKELY(!shim_mem_str_ok(path))) {
        *ret = shim_fail(-EFAULT);
        return 1;
    }
    if (shim_link_alias(path, buf, len, ret))
        return 1;
    struct shim_target t;
    int c = shim_resolve(dirfd, path, SHIM_RESOLVE_CHECKED, &t);
    if (c == 0)
        return 0;
    if (c < 0) {
        *ret = shim_fail(c);
        return 1;
    }
    char target[SHIM_PATH_MAX], host[VFS_HOST_MAX];
    host[0] = '\0';
    int n = SHIM_VFS_LOAD(readlink, t.vpath, target, sizeof target, host, sizeof host);
    if (shim_vfs_escaped(n, host))
        *ret = REAL(readlinkat)(AT_FDCWD, host, buf, len);
    else if (n < 0)
        *ret = shim_fail((int)n);
    else
        *ret = shim_link_copy(target, (size_t)n, buf, len);
    return 1;
}

SHIM_EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
    ssize_t r;
    return shim_link_read(AT_FDCWD, path, buf, len, &r) ? r : REAL(readlink)(path, buf, len);
}

SHIM_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
    ssize_t r;
    return shim_link_read(dirfd, path, buf, len, &r) ? r : REAL(readlinkat)(dirfd, path, buf, len);
}

SHIM_EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        REAL(__chk_fail)();
    return readlink(path, buf, len);
}

SHIM_EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len,
                                     size_t buflen)
{
    if (len > buflen)
        REAL(__chk_fail)();
    return readlinkat(dirfd, path, buf, len);
}

/* 1 when handled (*ret), 0: ask libc. */
static int shim_link_realpath(const char *path, char *resolved, char **ret)
{
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0)
        return 0;
    *ret = NULL;
    if (c < 0) {
        errno = -c;
        return 1;
    }
    char canon[SHIM_PATH_MAX], host[VFS_HOST_MAX], full[SHIM_PATH_MAX];
    int rc = SHIM_VFS_LOAD(realpath, t.vpath, canon, sizeof canon, host, sizeof host);
    if (rc == VFS_ESCAPED) {
        *ret = REAL(realpath)(host, resolved);
        return 1;
    }
    if (rc == 0)
        rc = shim_link_full(canon, full, sizeof full);
    if (rc >= 0 && rc >= PATH_MAX)
        rc = -ENAMETOOLONG;
    if (rc < 0) {
        errno = -rc;
        return 1;
    }
    *ret = resolved ? strcpy(resolved, full) : strdup(full);
    if (!*ret)
        errno = ENOMEM;
    return 1;
}

SHIM_EXPORT char *realpath(const char *path, char *resolved)
{
    char *r;
    return shim_link_realpath(path, resolved, &r) ? r : REAL(realpath)(path, resolved);
}

SHIM_EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
    if (resolved && resolvedlen < PATH_MAX)
        REAL(__chk_fail)();
    return realpath(path, resolved);
}

SHIM_EXPORT char *canonicalize_file_name(const char *path)
{
    char *r;
    return shim_link_realpath(path, NULL, &r) ? r : REAL(canonicalize_file_name)(path);
}

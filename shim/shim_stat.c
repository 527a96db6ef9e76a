/* shim_stat.c - attributes: stat, lstat, fstat, fstatat (and 64-bit
 * twins), the pre-2.33 __xstat family that older binaries still call, and
 * statx. A volume answer comes from the engine's attribute cache (no round
 * trip when fresh); a descriptor answers with the volume file's attributes,
 * not the memfd's, and a reader's fstat follows others' commits once its
 * view is older than the attribute TTL (shim_follow).
 */
#include "shim.h"

#include <string.h>
#include <sys/sysmacros.h>

#include "shim_fd.h"
#include "shim_mem.h"
#include "shim_read.h"
#include "shim_resolve.h"
#include "shim_stat.h"
#include "shim_core.h"

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat64 is stat on this ABI");

int shim_stat_fd(int fd, struct stat *st, int *ret)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int rc = shim_ofd_file(o, fd, &f);
    if (rc == 0)
        (void)shim_follow(fd, o, f); /* tail -f polls fstat: others' commits count */
    if (rc == 0)
        rc = SHIM_VFS(fstat, f, st);
    shim_ofd_put(o);
    *ret = rc < 0 ? shim_fail(rc) : 0;
    return 1;
}

int shim_stat_path(int dirfd, const char *path, struct stat *st, int flags, int *ret)
{
    if (!shim_str_is_null(path) && !shim_bypass() && SHIM_UNLIKELY(!shim_mem_str_ok(path))) {
        *ret = shim_fail(-EFAULT);
        return 1;
    }
    if ((flags & AT_EMPTY_PATH) && !shim_str_is_null(path) && path[0] == '\0') {
        if (dirfd != AT_FDCWD)
            return shim_stat_fd(dirfd, st, ret);
        path = ".";
    }
    int nofollow = flags & AT_SYMLINK_NOFOLLOW;
    int afd;
    struct shim_ofd *alias = nofollow ? NULL : shim_resolve_alias_ofd(path, &afd);
    if (alias) { /* stat("/dev/stdin") is fstat(0), path known or not */
        shim_ofd_put(alias);
        return shim_stat_fd(afd, st, ret);
    }
    struct shim_target t;
    int c = shim_resolve(dirfd, path, (nofollow ? 0 : SHIM_RESOLVE_ALIAS) | SHIM_RESOLVE_CHECKED, &t);
    if (c == 0)
        return 0;
    if (c < 0) {
        *ret = shim_fail(c);
        return 1;
    }
    char host[VFS_HOST_MAX];
    int rc = SHIM_VFS_LOAD(stat, t.vpath, nofollow ? VFS_NOFOLLOW : 0, st, host, sizeof host);
    if (rc == VFS_ESCAPED)
        *ret = REAL(fstatat)(AT_FDCWD, host, st, nofollow);
    else
        *ret = rc < 0 ? shim_fail(rc) : 0;
    return 1;
}

SHIM_EXPORT int stat(const char *path, struct stat *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, st, 0, &r) ? r : REAL(stat)(path, st);
}

SHIM_EXPORT int stat64(const char *path, struct stat64 *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, (struct stat *)st, 0, &r) ? r : REAL(stat64)(path, st);
}

SHIM_EXPORT int lstat(const char *path, struct stat *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, &r) ? r : REAL(lstat)(path, st);
}

SHIM_EXPORT int lstat64(const char *path, struct stat64 *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW, &r)
               ? r
               : REAL(lstat64)(path, st);
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
    int r;
    return shim_stat_fd(fd, st, &r) ? r : REAL(fstat)(fd, st);
}

SHIM_EXPORT int fstat64(int fd, struct stat64 *st)
{
    int r;
    return shim_stat_fd(fd, (struct stat *)st, &r) ? r : REAL(fstat64)(fd, st);
}

SHIM_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    int r;
    return shim_stat_path(dirfd, path, st, flags, &r) ? r : REAL(fstatat)(dirfd, path, st, flags);
}

SHIM_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    int r;
    return shim_stat_path(dirfd, path, (struct stat *)st, flags, &r)
               ? r
               : REAL(fstatat64)(dirfd, path, st, flags);
}

/* The __xstat family: `ver` names the struct layout, which on this ABI is
 * always struct stat. */
SHIM_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, st, 0, &r) ? r : REAL(__xstat)(ver, path, st);
}

SHIM_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, (struct stat *)st, 0, &r)
               ? r
               : REAL(__xstat64)(ver, path, st);
}

SHIM_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, &r)
               ? r
               : REAL(__lxstat)(ver, path, st);
}

SHIM_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
    int r;
    return shim_stat_path(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW, &r)
               ? r
               : REAL(__lxstat64)(ver, path, st);
}

SHIM_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    int r;
    return shim_stat_fd(fd, st, &r) ? r : REAL(__fxstat)(ver, fd, st);
}

SHIM_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    int r;
    return shim_stat_fd(fd, (struct stat *)st, &r) ? r : REAL(__fxstat64)(ver, fd, st);
}

SHIM_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
    int r;
    return shim_stat_path(dirfd, path, st, flags, &r)
               ? r
               : REAL(__fxstatat)(ver, dirfd, path, st, flags);
}

SHIM_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
    int r;
    return shim_stat_path(dirfd, path, (struct stat *)st, flags, &r)
               ? r
               : REAL(__fxstatat64)(ver, dirfd, path, st, flags);
}

static void shim_statx_time(struct statx_timestamp *t, const struct timespec *ts)
{
    t->tv_sec = ts->tv_sec;
    t->tv_nsec = (uint32_t)ts->tv_nsec;
}

void shim_stat_to_statx(const struct stat *st, struct statx *sx)
{
    memset(sx, 0, sizeof *sx);
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_blksize = (uint32_t)st->st_blksize;
    sx->stx_nlink = (uint32_t)st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = (uint16_t)st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = (uint64_t)st->st_size;
    sx->stx_blocks = (uint64_t)st->st_blocks;
    shim_statx_time(&sx->stx_atime, &st->st_atim);
    shim_statx_time(&sx->stx_mtime, &st->st_mtim);
    shim_statx_time(&sx->stx_ctime, &st->st_ctim);
    sx->stx_rdev_major = major(st->st_rdev);
    sx->stx_rdev_minor = minor(st->st_rdev);
    sx->stx_dev_major = major(st->st_dev);
    sx->stx_dev_minor = minor(st->st_dev);
}

SHIM_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    struct stat st;
    int r;
    if (!shim_stat_path(dirfd, path, &st, flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW), &r))
        return REAL(statx)(dirfd, path, flags, mask, sx);
    if (r == 0)
        shim_stat_to_statx(&st, sx);
    return r;
}

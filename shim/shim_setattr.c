/* shim_setattr.c - attribute changes: chmod, fchmod, fchmodat, lchmod,
 * chown, lchown, fchown, fchownat, truncate(64), ftruncate(64), utimensat,
 * futimens, utimes, lutimes, futimes, futimesat, utime, and the setxattr /
 * removexattr families. On the volume: ENOENT for a missing object, else
 * EROFS, until the write path fills them in.
 */
#include "shim.h"

#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "shim_ns.h"

/* Path call: volume answer, or libc with (ns_.dirfd, ns_.path). */
#define SHIM_SETATTR_GATE(dirfd, path, nofollow)                                         \
    struct shim_ns ns_;                                                                  \
    do {                                                                                 \
        int g_ = shim_ns_check(dirfd, path, SHIM_NS_EXISTING, nofollow, &ns_);           \
        if (g_ < 0)                                                                      \
            return shim_fail(g_);                                                        \
    } while (0)

#define SHIM_SETATTR_FD_GATE(fd)            \
    do {                                    \
        int g_ = shim_ns_fd(fd, 0);         \
        if (g_ < 0)                         \
            return shim_fail(g_);           \
    } while (0)

SHIM_EXPORT int chmod(const char *path, mode_t mode)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(chmod)(ns_.path, mode);
}

SHIM_EXPORT int lchmod(const char *path, mode_t mode)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 1);
    return REAL(lchmod)(ns_.path, mode);
}

SHIM_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    SHIM_SETATTR_GATE(dirfd, path, flags & AT_SYMLINK_NOFOLLOW);
    return REAL(fchmodat)(ns_.dirfd, ns_.path, mode, flags);
}

SHIM_EXPORT int fchmod(int fd, mode_t mode)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(fchmod)(fd, mode);
}

SHIM_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(chown)(ns_.path, uid, gid);
}

SHIM_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 1);
    return REAL(lchown)(ns_.path, uid, gid);
}

SHIM_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    if (shim_str_is_empty(path) && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) {
        SHIM_SETATTR_FD_GATE(dirfd);
        return REAL(fchownat)(dirfd, path, uid, gid, flags);
    }
    SHIM_SETATTR_GATE(dirfd, path, flags & AT_SYMLINK_NOFOLLOW);
    return REAL(fchownat)(ns_.dirfd, ns_.path, uid, gid, flags);
}

SHIM_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(fchown)(fd, uid, gid);
}

SHIM_EXPORT int truncate(const char *path, off_t len)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(truncate)(ns_.path, len);
}

SHIM_EXPORT int truncate64(const char *path, off64_t len)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(truncate64)(ns_.path, len);
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(ftruncate)(fd, len);
}

SHIM_EXPORT int ftruncate64(int fd, off64_t len)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(ftruncate64)(fd, len);
}

SHIM_EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    /* a NULL path is Linux's futimens */
    if (shim_str_is_null(path) || (shim_str_is_empty(path) && (flags & AT_EMPTY_PATH))) {
        SHIM_SETATTR_FD_GATE(dirfd);
        return REAL(utimensat)(dirfd, path, times, flags);
    }
    SHIM_SETATTR_GATE(dirfd, path, flags & AT_SYMLINK_NOFOLLOW);
    return REAL(utimensat)(ns_.dirfd, ns_.path, times, flags);
}

SHIM_EXPORT int futimens(int fd, const struct timespec times[2])
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(futimens)(fd, times);
}

SHIM_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(utimes)(ns_.path, tv);
}

SHIM_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 1);
    return REAL(lutimes)(ns_.path, tv);
}

SHIM_EXPORT int futimes(int fd, const struct timeval tv[2])
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(futimes)(fd, tv);
}

SHIM_EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
    if (shim_str_is_null(path)) {
        SHIM_SETATTR_FD_GATE(dirfd);
        return REAL(futimesat)(dirfd, path, tv);
    }
    SHIM_SETATTR_GATE(dirfd, path, 0);
    return REAL(futimesat)(ns_.dirfd, ns_.path, tv);
}

SHIM_EXPORT int utime(const char *path, const struct utimbuf *times)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(utime)(ns_.path, times);
}

SHIM_EXPORT int setxattr(const char *path, const char *name, const void *value, size_t size,
                         int flags)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(setxattr)(ns_.path, name, value, size, flags);
}

SHIM_EXPORT int lsetxattr(const char *path, const char *name, const void *value, size_t size,
                          int flags)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 1);
    return REAL(lsetxattr)(ns_.path, name, value, size, flags);
}

SHIM_EXPORT int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(fsetxattr)(fd, name, value, size, flags);
}

SHIM_EXPORT int removexattr(const char *path, const char *name)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 0);
    return REAL(removexattr)(ns_.path, name);
}

SHIM_EXPORT int lremovexattr(const char *path, const char *name)
{
    SHIM_SETATTR_GATE(AT_FDCWD, path, 1);
    return REAL(lremovexattr)(ns_.path, name);
}

SHIM_EXPORT int fremovexattr(int fd, const char *name)
{
    SHIM_SETATTR_FD_GATE(fd);
    return REAL(fremovexattr)(fd, name);
}

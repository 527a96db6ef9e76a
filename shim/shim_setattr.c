/* shim_setattr.c - attribute changes: chmod, fchmod, fchmodat, lchmod,
 * chown, lchown, fchown, fchownat, utimensat, futimens, utimes, lutimes,
 * futimes, futimesat, utime. (Sizes are in shim_sync.c, extended
 * attributes in shim_xattr_set.c.)
 *
 * By path or on an open volume file, the engine applies the kernel's
 * permission rules and commits the change (vfs_ns.c: through a descriptor
 * with uncommitted bytes, with those bytes, so that their commit's own
 * modification time cannot overwrite the times the program set: cp -p
 * and tar set them before close).
 */
#include "shim.h"

#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

#include "shim_mem.h"
#include "shim_ns.h"
#include "shim_core.h"

/* Descriptor call: body with (o, f) on a volume descriptor, else libc;
 * an O_PATH descriptor changes nothing (EBADF, as the kernel answers). */
#define SHIM_SETATTR_FD(fd, o, f, body, pass_call) \
    SHIM_NS_FD_CALL(fd, o, f, (o->flags & O_PATH) ? -EBADF : (body), pass_call)

#define SHIM_NOFOLLOW(flags) (((flags) & AT_SYMLINK_NOFOLLOW) ? VFS_NOFOLLOW : 0)

/* ---- mode ---- */
#define SHIM_CHMOD_VFS(ns, mode, vflags) \
    SHIM_VFS_LOAD(chmod, (ns).t.vpath, NULL, mode, vflags, (ns).host, sizeof (ns).host)

SHIM_EXPORT int chmod(const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, SHIM_CHMOD_VFS(ns, mode, 0), REAL(chmod)(ns.path, mode));
}

SHIM_EXPORT int lchmod(const char *path, mode_t mode)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_CHMOD_VFS(ns, mode, VFS_NOFOLLOW),
                 REAL(lchmod)(ns.path, mode));
}

SHIM_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW),
                 (flags & ~AT_SYMLINK_NOFOLLOW) ? -EINVAL
                                                : SHIM_CHMOD_VFS(ns, mode, SHIM_NOFOLLOW(flags)),
                 REAL(fchmodat)(ns.dirfd, ns.path, mode, flags));
}

SHIM_EXPORT int fchmod(int fd, mode_t mode)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fchmod)(fd, mode);
    SHIM_SETATTR_FD(fd, o, f, SHIM_VFS_LOAD(chmod, NULL, f, mode, 0, NULL, 0), REAL(fchmod)(fd, mode));
}

/* ---- owner ---- */
#define SHIM_CHOWN_VFS(ns, uid, gid, vflags) \
    SHIM_VFS_LOAD(chown, (ns).t.vpath, NULL, uid, gid, vflags, (ns).host, sizeof (ns).host)

SHIM_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, SHIM_CHOWN_VFS(ns, uid, gid, 0),
                 REAL(chown)(ns.path, uid, gid));
}

SHIM_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, SHIM_CHOWN_VFS(ns, uid, gid, VFS_NOFOLLOW),
                 REAL(lchown)(ns.path, uid, gid));
}

SHIM_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fchown)(fd, uid, gid);
    SHIM_SETATTR_FD(fd, o, f, SHIM_VFS_LOAD(chown, NULL, f, uid, gid, 0, NULL, 0),
                    REAL(fchown)(fd, uid, gid));
}

SHIM_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    if (shim_str_is_empty(path) && (flags & AT_EMPTY_PATH)) {
        if (SHIM_LIKELY(!shim_ns_fd_candidate(dirfd)))
            return REAL(fchownat)(dirfd, path, uid, gid, flags);
        SHIM_SETATTR_FD(dirfd, o, f, SHIM_VFS_LOAD(chown, NULL, f, uid, gid, 0, NULL, 0),
                        REAL(fchownat)(dirfd, path, uid, gid, flags));
    }
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW),
                 (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
                     ? -EINVAL
                     : SHIM_CHOWN_VFS(ns, uid, gid, SHIM_NOFOLLOW(flags)),
                 REAL(fchownat)(ns.dirfd, ns.path, uid, gid, flags));
}

/* ---- times ---- */
/* timeval pair to timespec pair (NULL stays NULL: now). */
static int shim_tv_to_ts(const struct timeval tv[2], struct timespec ts[2],
                         const struct timespec **out)
{
    if (!tv) {
        *out = NULL;
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
            return -EINVAL;
        ts[i].tv_sec = tv[i].tv_sec;
        ts[i].tv_nsec = tv[i].tv_usec * 1000;
    }
    *out = ts;
    return 0;
}

/* Times on an open file (its buffered data: see the top). */
static int shim_futimens_vfs(struct vfs_file *f, const struct timespec *ts)
{
    return SHIM_VFS_LOAD(utimens, NULL, f, ts, 0, NULL, 0);
}

#define SHIM_UTIMENS_VFS(ns, ts, vflags) \
    SHIM_VFS_LOAD(utimens, (ns).t.vpath, NULL, ts, vflags, (ns).host, sizeof (ns).host)

SHIM_EXPORT int futimens(int fd, const struct timespec times[2])
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(futimens)(fd, times);
    SHIM_SETATTR_FD(fd, o, f, shim_futimens_vfs(f, times), REAL(futimens)(fd, times));
}

SHIM_EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    /* a NULL path is Linux's futimens */
    if (shim_str_is_null(path) || (shim_str_is_empty(path) && (flags & AT_EMPTY_PATH))) {
        if (SHIM_LIKELY(!shim_ns_fd_candidate(dirfd)))
            return REAL(utimensat)(dirfd, path, times, flags);
        SHIM_SETATTR_FD(dirfd, o, f, shim_futimens_vfs(f, times),
                        REAL(utimensat)(dirfd, path, times, flags));
    }
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW),
                 (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
                     ? -EINVAL
                     : SHIM_UTIMENS_VFS(ns, times, SHIM_NOFOLLOW(flags)),
                 REAL(utimensat)(ns.dirfd, ns.path, times, flags));
}

static int shim_utimes_vfs(struct shim_ns *ns, const struct timeval tv[2], int vflags)
{
    struct timespec ts[2];
    const struct timespec *tp;
    int rc = shim_tv_to_ts(tv, ts, &tp);
    return rc < 0 ? rc : SHIM_UTIMENS_VFS(*ns, tp, vflags);
}

SHIM_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, shim_utimes_vfs(&ns, tv, 0), REAL(utimes)(ns.path, tv));
}

SHIM_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 0, shim_utimes_vfs(&ns, tv, VFS_NOFOLLOW),
                 REAL(lutimes)(ns.path, tv));
}

static int shim_futimes_vfs(struct vfs_file *f, const struct timeval tv[2])
{
    struct timespec ts[2];
    const struct timespec *tp;
    int rc = shim_tv_to_ts(tv, ts, &tp);
    return rc < 0 ? rc : shim_futimens_vfs(f, tp);
}

SHIM_EXPORT int futimes(int fd, const struct timeval tv[2])
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(futimes)(fd, tv);
    SHIM_SETATTR_FD(fd, o, f, shim_futimes_vfs(f, tv), REAL(futimes)(fd, tv));
}

SHIM_EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
    if (shim_str_is_null(path)) {
        if (SHIM_LIKELY(!shim_ns_fd_candidate(dirfd)))
            return REAL(futimesat)(dirfd, path, tv);
        SHIM_SETATTR_FD(dirfd, o, f, shim_futimes_vfs(f, tv), REAL(futimesat)(dirfd, path, tv));
    }
    struct shim_ns ns;
    SHIM_NS_CALL(ns, dirfd, path, 1, shim_utimes_vfs(&ns, tv, 0),
                 REAL(futimesat)(ns.dirfd, ns.path, tv));
}

static int shim_utime_vfs(struct shim_ns *ns, const struct utimbuf *times)
{
    struct timespec ts[2];
    if (times) {
        ts[0] = (struct timespec){ .tv_sec = times->actime };
        ts[1] = (struct timespec){ .tv_sec = times->modtime };
    }
    return SHIM_UTIMENS_VFS(*ns, times ? ts : NULL, 0);
}

SHIM_EXPORT int utime(const char *path, const struct utimbuf *times)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, shim_utime_vfs(&ns, times), REAL(utime)(ns.path, times));
}

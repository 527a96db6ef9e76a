/* shim_open.c - the open family: open, open64, openat, openat64, creat,
 * creat64 and the FORTIFY __open*_2 entry points.
 *
 * A volume path opens through vfs_open, whose kernel descriptor (a cache
 * file, a memfd with the bytes, or an empty placeholder) is what the
 * program gets; the descriptor table remembers which volume file it is.
 * Host paths go to libc untouched, except that a fresh descriptor clears a
 * stale table entry and a host directory above the prefix is remembered.
 */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>

#include "shim_fd.h"
#include "shim_mem.h"
#include "shim_open.h"
#include "shim_resolve.h"
#include "shim_sync.h"
#include "shim_core.h"

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
#define SHIM_VA_MODE(flags, last)                           \
    ({                                                      \
        mode_t shim_m_ = 0;                                 \
        if (shim_open_wants_mode(flags)) {                  \
            va_list shim_ap_;                               \
            va_start(shim_ap_, last);                       \
            shim_m_ = (mode_t)va_arg(shim_ap_, int);        \
            va_end(shim_ap_);                               \
        }                                                   \
        shim_m_;                                            \
    })

int shim_open_host_done(int dirfd, const char *path, int flags, int fd)
{
    if (fd >= 0) {
        shim_fd_fresh(fd);
        if (flags & O_DIRECTORY)
            shim_resolve_track_dir(dirfd, path, fd);
    }
    return fd;
}

int shim_open_file(const char *vpath, int flags, mode_t mode, struct vfs_file **out)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f;
    int rc = SHIM_VFS_LOAD(open, vpath, flags, mode, &f, host, sizeof host);
    if (rc == VFS_ESCAPED) {
        int fd = REAL(openat)(AT_FDCWD, host, flags, mode);
        if (fd < 0)
            return -errno;
        return shim_open_host_done(AT_FDCWD, host, flags, fd);
    }
    if (rc < 0)
        return rc;
    int fd = shim_vfs->file_fd(f);
    if ((flags & O_APPEND) && (flags & O_ACCMODE) != O_RDONLY)
        REAL(fcntl)(fd, F_SETFL, O_APPEND); /* F_GETFL and exec children see it */
    struct shim_ofd *o = shim_ofd_new(f, fd, flags);
    if (!o) {
        REAL(close)(fd);
        SHIM_VFS(release, f);
        return -ENOMEM;
    }
    rc = shim_fd_install(fd, o); /* on failure the ofd released f */
    if (rc < 0) {
        REAL(close)(fd);
        return rc;
    }
    if ((flags & O_ACCMODE) != O_RDONLY)
        shim_sync_exit_commit(); /* a writer never closed still commits at exit() */
    if (out)
        *out = f;
    return fd;
}

int shim_open_volume(const char *vpath, int flags, mode_t mode)
{
    int fd = shim_open_file(vpath, flags, mode, NULL);
    return fd < 0 ? shim_fail(fd) : fd;
}

static int shim_open_alias_flags(int flags)
{
    return (flags & O_NOFOLLOW) ? 0 : SHIM_RESOLVE_ALIAS;
}

/* A new open file description of an adopted placeholder's inode: a fresh
 * memfd of the same kind, adopted by the engine (its own position). */
static int shim_open_clone(struct shim_ofd *o, int flags)
{
    char name[64];
    snprintf(name, sizeof name, "%s:%llu", o->isdir ? "shimfs-dir" : "shimfs",
             (unsigned long long)o->adopt_ino);
    int fd = memfd_create(name, MFD_ALLOW_SEALING | ((flags & O_CLOEXEC) ? MFD_CLOEXEC : 0));
    if (fd < 0)
        return -errno;
    struct vfs_file *f;
    int writer = (flags & O_ACCMODE) != O_RDONLY;
    int rc = SHIM_VFS_LOAD(adopt, fd, o->adopt_ino, flags & ~(O_CLOEXEC | O_CREAT | O_EXCL | O_TRUNC), &f);
    /* `echo x > /dev/stderr` in a child whose stderr is a volume file */
    if (rc == 0 && writer && (flags & O_TRUNC) && (rc = SHIM_VFS(ftruncate, f, 0)) < 0)
        SHIM_VFS(release, f);
    if (rc == 0 && writer && (flags & O_APPEND))
        REAL(fcntl)(fd, F_SETFL, O_APPEND);
    struct shim_ofd *n = rc == 0 ? shim_ofd_new(f, fd, flags) : NULL;
    if (rc == 0 && !n) {
        SHIM_VFS(release, f);
        rc = -ENOMEM;
    }
    if (rc == 0) {
        n->adopt_ino = o->adopt_ino;
        rc = shim_fd_install(fd, n);
    }
    if (rc < 0) {
        REAL(close)(fd);
        return rc;
    }
    if (writer)
        shim_sync_exit_commit();
    return fd;
}

/* open("/dev/fd/N") of an inherited placeholder, whose volume path is
 * unknown: a clone. 1 when handled (*ret), 0: resolve as usual. */
static int shim_open_alias(const char *path, int flags, int *ret)
{
    int afd;
    struct shim_ofd *o = (flags & O_NOFOLLOW) ? NULL : shim_resolve_alias_ofd(path, &afd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int handled = 0;
    if (!o->native && shim_ofd_file(o, afd, &f) == 0 && shim_vfs->file_path(f)[0] != '/') {
        int fd = shim_open_clone(o, flags);
        *ret = fd < 0 ? shim_fail(fd) : fd;
        handled = 1;
    }
    shim_ofd_put(o);
    return handled;
}

/* Shared body: resolve, then the volume, or the host through `host_call`. */
#define SHIM_OPEN_BODY(dirfd, path, flags, mode, host_call)                        \
    do {                                                                           \
        struct shim_target t_;                                                     \
        int a_, ck_ = 0;                                                           \
        if (SHIM_UNLIKELY(shim_fd_dir != NULL) && !shim_str_is_null(path) &&        \
            !shim_bypass()) {                                                      \
            if (SHIM_UNLIKELY(!shim_mem_str_ok(path)))                              \
                return shim_fail(-EFAULT); /* the alias test reads it first */     \
            if (shim_open_alias(path, flags, &a_))                                 \
                return a_;                                                         \
            ck_ = SHIM_RESOLVE_CHECKED;                                            \
        }                                                                          \
        int c_ = shim_resolve(dirfd, path, shim_open_alias_flags(flags) | ck_, &t_); \
        if (c_ == 0)                                                               \
            return shim_open_host_done(dirfd, path, flags, host_call);             \
        if (c_ < 0)                                                                \
            return shim_fail(c_);                                                  \
        return shim_open_volume(t_.vpath, flags, mode);                            \
    } while (0)

SHIM_EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = SHIM_VA_MODE(flags, flags);
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, mode, REAL(open)(path, flags, mode));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
    mode_t mode = SHIM_VA_MODE(flags, flags);
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, mode, REAL(open64)(path, flags, mode));
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = SHIM_VA_MODE(flags, flags);
    SHIM_OPEN_BODY(dirfd, path, flags, mode, REAL(openat)(dirfd, path, flags, mode));
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = SHIM_VA_MODE(flags, flags);
    SHIM_OPEN_BODY(dirfd, path, flags, mode, REAL(openat64)(dirfd, path, flags, mode));
}

SHIM_EXPORT int creat(const char *path, mode_t mode)
{
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, mode, REAL(creat)(path, mode));
}

SHIM_EXPORT int creat64(const char *path, mode_t mode)
{
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, mode, REAL(creat64)(path, mode));
}

SHIM_EXPORT int __open_2(const char *path, int flags)
{
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, 0, REAL(__open_2)(path, flags));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
    SHIM_OPEN_BODY(AT_FDCWD, path, flags, 0, REAL(__open64_2)(path, flags));
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    SHIM_OPEN_BODY(dirfd, path, flags, 0, REAL(__openat_2)(dirfd, path, flags));
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    SHIM_OPEN_BODY(dirfd, path, flags, 0, REAL(__openat64_2)(dirfd, path, flags));
}

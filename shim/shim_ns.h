/* shim_ns.h - what every modifying call shares (namespace changes,
 * attribute changes, data writes): where a path points, the volume
 * descriptor behind a number, and the edge back to libc.
 *
 * A path call resolves once: host paths go to libc untouched; volume paths
 * go to the engine, which may answer VFS_ESCAPED (a symlink or ".." left
 * the volume) with the host path to continue with, which libc then gets.
 */
#ifndef SHIM_NS_H
#define SHIM_NS_H

#include "shim.h"
#include "shim_fd.h"
#include "shim_resolve.h"
#include "vfs.h"

struct shim_ns {
    int dirfd;                 /* the host call's directory and path */
    const char *path;
    struct shim_target t;      /* t.vpath: the volume path (after a 1 from resolve) */
    char host[VFS_HOST_MAX];   /* where an escaped volume path continues */
};

/* 1: the volume (ns->t.vpath), 0: the host (call libc with ns->dirfd,
 * ns->path), -errno. alias: follow /proc/self/fd/N of volume descriptors. */
int shim_ns_resolve(int dirfd, const char *path, int alias, struct shim_ns *ns);

/* The engine answered VFS_ESCAPED: aim the host call at ns->host. */
static inline void shim_ns_escape(struct shim_ns *ns)
{
    ns->dirfd = AT_FDCWD;
    ns->path = ns->host;
}

/* A path call in one statement: resolve, run vfs_expr (which may use
 * ns.t.vpath and ns.host) on the volume, else host_expr (with ns.dirfd and
 * ns.path). vfs_expr returns 0, -errno or VFS_ESCAPED. */
#define SHIM_NS_CALL(ns, dirfd, path, alias, vfs_expr, host_expr)   \
    do {                                                            \
        int c_ = shim_ns_resolve(dirfd, path, alias, &(ns));        \
        if (c_ > 0) {                                               \
            c_ = (vfs_expr);                                        \
            if (c_ != VFS_ESCAPED)                                  \
                return c_ < 0 ? shim_fail(c_) : 0;                  \
            shim_ns_escape(&(ns));                                  \
        } else if (c_ < 0) {                                        \
            return shim_fail(c_);                                   \
        }                                                           \
        return host_expr;                                           \
    } while (0)

/* A volume descriptor for a modifying call, pinned: 1 (*o, *f; put *o
 * when done), 0 when fd is not a volume file (libc answers), -errno. Under
 * the recursion guard a verified volume descriptor answers -EBADF: the
 * engine's own descriptor of that number was closed and reused by the
 * program, and the program's file must not be touched. */
int shim_ns_fd(int fd, struct shim_ofd **o, struct vfs_file **f);


/* Cheap pre-test for shim_ns_fd: one load for descriptors the table does
 * not know. */
static inline int shim_ns_fd_candidate(int fd)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    return SHIM_UNLIKELY(p != NULL) && p->kind == SHIM_OFD_VOLUME;
}

/* The access mode a data write needs: -EBADF unless opened for writing,
 * -EISDIR never (directories are never open for writing). */
static inline int shim_ns_writable(const struct shim_ofd *o)
{
    return ((o->flags & O_ACCMODE) == O_RDONLY || (o->flags & O_PATH)) ? -EBADF : 0;
}

/* A call on a descriptor: on a volume descriptor, run body (0 or -errno)
 * with (o, f) held and answer 0 or -1/errno; else return pass_call. */
#define SHIM_NS_FD_CALL(fd, o, f, body, pass_call)               \
    do {                                                         \
        if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))              \
            return pass_call; /* a host descriptor: one load */  \
        struct shim_ofd *o;                                      \
        struct vfs_file *f;                                      \
        int c_ = shim_ns_fd(fd, &o, &f);                         \
        if (c_ == 0)                                             \
            return pass_call;                                    \
        if (c_ < 0)                                              \
            return shim_fail(c_);                                \
        c_ = (body);                                             \
        shim_ofd_put(o);                                         \
        return c_ < 0 ? shim_fail(c_) : 0;                       \
    } while (0)

#endif

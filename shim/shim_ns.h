/* shim_ns.h - the shared gate of every call that would modify the volume
 * (namespace changes, attribute changes, data writes). Until the write path
 * exists these answer exactly what a read-only file system answers -
 * ENOENT/ENOTDIR/EEXIST where the kernel checks those first, then EROFS -
 * and never pretend to succeed. The write-path work replaces the EROFS
 * answers family by family (shim_namespace.c, shim_setattr.c, shim_write.c).
 */
#ifndef SHIM_NS_H
#define SHIM_NS_H

#include "vfs.h"

enum shim_ns_want {
    SHIM_NS_EXISTING = 0,   /* the object must exist (chmod, unlink ...) */
    SHIM_NS_CREATE = 1,     /* the object must not exist; its parent must (mkdir ...) */
    SHIM_NS_PARENT = 2,     /* only the parent must exist (rename target) */
};

struct shim_ns {
    int dirfd;                 /* for the host call */
    const char *path;          /* for the host call (original or escaped) */
    char host[VFS_HOST_MAX];
};

/* 0: the host handles it, call libc with (ns->dirfd, ns->path); -errno:
 * the volume's answer. nofollow: do not follow a final symlink. */
int shim_ns_check(int dirfd, const char *path, int want, int nofollow, struct shim_ns *ns);
/* A name to create at vpath, which does not exist: the parent's answer
 * (-ENOENT, -ENOTDIR, -EXDEV when it is on the host) or -EROFS. */
int shim_ns_parent_check(const char *vpath);
/* A descriptor call that would modify: -EROFS (or -EBADF when badf) for a
 * volume descriptor, 0 otherwise. */
int shim_ns_fd(int fd, int badf);

#endif

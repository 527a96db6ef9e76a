/* shim_resolve.h - where a path a program passes really points: the host
 * (the call goes to libc untouched) or the volume (a volume path for vfs).
 *
 * Nearly free for paths outside the prefix: one comparison for absolute
 * paths, a flag test for relative ones while the cwd is unrelated to the
 * prefix. *at() calls with a volume directory descriptor join its path;
 * with a host directory that is an ancestor of the prefix, its host path.
 */
#ifndef SHIM_RESOLVE_H
#define SHIM_RESOLVE_H

#include "shim.h"

struct shim_target {
    char vpath[SHIM_VPATH_MAX];
};

/* Follow /proc/self/fd/N and /dev/fd/N of volume descriptors (for calls
 * that follow the final symlink). */
#define SHIM_RESOLVE_ALIAS 0x1

/* The caller checked the path is readable (shim_mem_path). */
#define SHIM_RESOLVE_CHECKED 0x2

/* 1 volume (t->vpath), 0 host, -errno (EFAULT for a path that cannot be
 * read, ENAMETOOLONG, ENOTDIR, EIO). NULL is the host's (libc and the
 * kernel answer it as without the shim). */
int shim_resolve(int dirfd, const char *path, int flags, struct shim_target *t);

/* The volume descriptor that "/proc/self/fd/N", "/dev/fd/N" or
 * "/dev/stdin" names, pinned (*fd set); NULL if none. */
struct shim_ofd *shim_resolve_alias_ofd(const char *path, int *fd);

/* After the host opened a directory: remember it if it is an ancestor of
 * the prefix. */
void shim_resolve_track_dir(int dirfd, const char *path, int fd);

#endif

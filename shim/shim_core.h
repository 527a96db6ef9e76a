/* shim_core.h - the shim's only door to the engine: libshimfs-core.so,
 * loaded on the first touch of the prefix, whose table of vfs calls
 * (struct vfs_ops, core/vfs/vfs.h) is resolved once (one dlsym) into shim_vfs.
 *
 * Calls go through that table in one of two ways, both under the recursion
 * guard (the engine's libc calls on this thread then pass through the
 * shim's exports to libc; its own threads run without the guard, so what
 * they call on a descriptor that may be the program's goes to libc by
 * name: core/io.h) with errno kept:
 * SHIM_VFS_LOAD for calls by path, which may be a process's first touch of
 * the volume (they load the engine first and answer -EIO when it cannot be
 * loaded or initialised), and SHIM_VFS on an open file or directory (the
 * engine is loaded: the file came from it; SHIM_VFS_VOID for a call that
 * returns nothing). Accessors that only read an
 * open file's fields (file_fd, file_native, file_path ...) are called as
 * shim_vfs->NAME(f), without the guard.
 */
#ifndef SHIM_CORE_H
#define SHIM_CORE_H

#include "vfs.h"

/* The engine's table: set once the engine is loaded and vfs_init succeeded. */
extern const struct vfs_ops *shim_vfs;

/* 0 once the engine is loaded and vfs_init succeeded, else -errno. */
int shim_core_load(void);
int shim_core_loaded(void);
void shim_core_after_fork(void);

/* vfs_NAME(...) on the loaded engine; evaluates to what it returns. */
#define SHIM_VFS(name, ...)                                            \
    ({                                                                 \
        int shim_saved_errno_ = errno;                                 \
        shim_guard++;                                                  \
        __typeof__(shim_vfs->name(__VA_ARGS__)) shim_r_ = shim_vfs->name(__VA_ARGS__); \
        shim_guard--;                                                  \
        errno = shim_saved_errno_;                                     \
        shim_r_;                                                       \
    })

/* The same for a call that returns nothing (dir_close). */
#define SHIM_VFS_VOID(name, ...)                                       \
    do {                                                               \
        int shim_saved_errno_ = errno;                                 \
        shim_guard++;                                                  \
        shim_vfs->name(__VA_ARGS__);                                   \
        shim_guard--;                                                  \
        errno = shim_saved_errno_;                                     \
    } while (0)

/* vfs_NAME(...), loading the engine first if needed (-EIO if it cannot). */
#define SHIM_VFS_LOAD(name, ...)                                       \
    ({                                                                 \
        int shim_load_ = shim_core_load();                             \
        shim_load_ < 0 ? (__typeof__(shim_vfs->name(__VA_ARGS__)))shim_load_ \
                       : SHIM_VFS(name, __VA_ARGS__);                  \
    })

/* The answer of a length-returning call (readlink, getxattr, listxattr)
 * whose host buffer was cleared before it: VFS_ESCAPED means an escape
 * only when the engine wrote a host path (else it is a length of 1). */
static inline int shim_vfs_escaped(long r, const char *host)
{
    return r == VFS_ESCAPED && host[0] == '/';
}

#endif

/* vfs_ops.c - the engine's table of vfs calls (vfs.h), the one symbol the
 * shim resolves in libshimfs-core.so. Filled from VFS_CALLS: nothing to
 * edit here when a call is added.
 */
#include "vfs.h"

const struct vfs_ops vfs_ops = {
    .size = sizeof(struct vfs_ops),
#define VFS_ENTRY_(ret, name, params) .name = vfs_##name,
    VFS_CALLS(VFS_ENTRY_)
#undef VFS_ENTRY_
};

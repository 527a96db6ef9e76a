/* shim_dir.h - directory entries in the kernel's layout, shared by the
 * directory streams and getdents64.
 */
#ifndef SHIM_DIR_H
#define SHIM_DIR_H

#include <dirent.h>

#include "vfs.h"

/* Fill d from e; next is the position cookie after e (d_off). */
void shim_dir_fill(struct dirent64 *d, const struct vfs_dirent *e, long next);

#endif

/* shim_open.h - opening volume files for the other families (stdio,
 * directory streams, freopen): the same path as open(2).
 */
#ifndef SHIM_OPEN_H
#define SHIM_OPEN_H

#include <sys/types.h>

struct vfs_file;

/* Open a volume path; the descriptor is in the table. Returns it (and the
 * file in *out when out != NULL; NULL-safe when the open escaped to the
 * host, *out is then left untouched) or -errno. */
int shim_open_file(const char *vpath, int flags, mode_t mode, struct vfs_file **out);
/* Same, at the errno edge (fd or -1). */
int shim_open_volume(const char *vpath, int flags, mode_t mode);
/* Bookkeeping after a host open returned fd (any value). */
int shim_open_host_done(int dirfd, const char *path, int flags, int fd);

/* fopen-style mode string to open(2) flags; -EINVAL if malformed. */
int shim_open_mode_flags(const char *mode);

#endif

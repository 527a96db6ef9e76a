/* shim_cwd.h - the working directory when it is inside the volume.
 *
 * chdir into a volume directory keeps a virtual cwd (a volume path) and
 * moves the kernel cwd to an empty marker directory on the host,
 * $SHIMFS_CACHE_DIR/cwd<prefix><vpath>: a relative call the shim misses
 * then fails with ENOENT instead of touching a stranger's file, and an
 * exec'ed child recovers the virtual cwd from getcwd(). chdir out of the
 * volume restores the host behaviour.
 */
#ifndef SHIM_CWD_H
#define SHIM_CWD_H

#include <stddef.h>

void shim_cwd_init(void);
void shim_cwd_after_fork(void);

/* A relative path against the cwd: 1 volume (vpath written), 0 host,
 * -errno. */
int shim_cwd_resolve(const char *rel, char *vpath, size_t cap);
/* The absolute host path of a relative host path (for ancestor tracking):
 * 0, or -errno when the host cwd is unknown. */
int shim_cwd_host_abs(const char *rel, char *out, size_t cap);
/* The virtual cwd as an absolute path into out (*len its length): 0, or 1
 * when the cwd is not in the volume (ask the kernel), -ERANGE. */
int shim_cwd_virtual(char *out, size_t cap, size_t *len);
/* Enter a volume directory (chdir, fchdir): 0 or -errno. */
int shim_cwd_enter(const char *vpath);

#endif

/* shim_path.h - pure path arithmetic for the shim: prefix normalisation,
 * inside/outside classification, joins. No system calls, no globals, so it
 * is unit-tested directly (tests/unit/test_shim_path.c).
 *
 * A volume path ("vpath") is the part after the prefix, starting with "/".
 */
#ifndef SHIM_PATH_H
#define SHIM_PATH_H

#include <stddef.h>

/* Normalise an absolute prefix: collapse "//", drop "." and a trailing "/".
 * 0, or -EINVAL (relative, "..", the root itself), -ENAMETOOLONG. */
int shim_path_prefix(const char *in, char *out, size_t cap);

/* Lexical normalisation of an absolute path ("//", ".", ".." collapsed,
 * no trailing "/"); 0, -EINVAL (relative), -ENAMETOOLONG. */
int shim_path_normalize(const char *in, char *out, size_t cap);

/* The volume part of abs if abs is the prefix or below it ("" for the
 * prefix itself), else NULL. Literal comparison, no normalisation. */
const char *shim_path_under(const char *prefix, size_t plen, const char *abs);

/* The volume part of abs when abs is a working-directory marker of the
 * default per-user cache folder of any user (root "/var/tmp/shimfs-<uid>"
 * + "/cwd" + prefix, or below): a program started in a volume directory by
 * a process of another user (sudo -u, runuser) then still starts there.
 * NULL otherwise. */
const char *shim_path_default_marker(const char *root, const char *prefix, size_t plen,
                                     const char *abs);

/* True when abs has a part the kernel collapses: "//", "." or "..". */
int shim_path_irregular(const char *abs);

/* Classify an absolute path: 1 inside (vpath written), 0 outside,
 * -ENAMETOOLONG. An irregular path is normalised lexically only until it
 * enters the prefix; the rest goes to the engine raw, so ".." and symlinks
 * inside the volume resolve as the kernel would. */
int shim_path_classify(const char *prefix, size_t plen, const char *abs, char *vpath,
                       size_t cap);

/* out = base + "/" + rel (base "/" gives "/rel"); -ENAMETOOLONG. */
int shim_path_join(const char *base, const char *rel, char *out, size_t cap);

/* True if rel has a ".." component. */
int shim_path_has_dotdot(const char *rel);

/* True when dir (absolute, normalised) is a proper ancestor of prefix. */
int shim_path_is_ancestor(const char *dir, const char *prefix, size_t plen);

/* Parse the descriptor number of "/proc/self/fd/N", "/proc/PID/fd/N" (PID
 * == pid), "/dev/fd/N", "/dev/stdin|stdout|stderr"; -1 if not one. */
int shim_path_fd_alias(const char *abs, int pid);

#endif

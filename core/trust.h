/* trust.h - folders and files this process may take bytes from: the node
 * cache, its meta/ folder, the writeback staging folder, the node agent's
 * files. Another local user must never be able to plant bytes there that
 * this process (perhaps root) then serves as volume data.
 *
 * The rule (docs/design.md, "What the node cache shares between users"):
 *  - the folder is a directory (not a symlink), owned by the effective uid
 *    and not writable by group or others;
 *  - every folder above it (symlinks resolved) is owned by root or the
 *    effective uid, and is not writable by group or others unless sticky
 *    (/tmp, /var/tmp): nobody else can rename it away and put theirs in
 *    its place;
 *  - inside it, names are opened relative to its descriptor with
 *    O_NOFOLLOW, and files and sub-folders are checked the same way.
 * A refusal is -EPERM with one warn line per process (what and why); other
 * failures (cannot create, no such folder) are the plain -errno, unlogged.
 * Folders made here are 0700. Names, stats and output buffers passed in
 * are non-NULL (asserted; trust_dir_open answers -EINVAL for a NULL path).
 */
#ifndef SHIMFS_TRUST_H
#define SHIMFS_TRUST_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Create path (and missing parents, 0700) when absent, resolve it to its
 * real path (written back into path, so later uses by name take the
 * checked route) and check it and its ancestors by the rule above.
 * Returns an O_DIRECTORY|O_CLOEXEC descriptor, -EPERM, or -errno. */
int trust_dir_open(char *path, size_t cap);

/* Sub-folder name of the trusted folder at (created 0700 when create).
 * Returns its descriptor, -EPERM, or -errno. */
int trust_subdir_open(int at, const char *name, int create);

/* openat(at, name, flags | O_NOFOLLOW | O_CLOEXEC, mode), then the owner
 * and mode check: the descriptor, -EPERM, or -errno. */
int trust_file_open(int at, const char *name, int flags, mode_t mode);

/* 0 when the open file or folder fd is the effective uid's and not
 * writable by group or others; else -EPERM, logged once per process with
 * what (a name for the line). */
int trust_fd_check(int fd, const char *what);

/* The same for a stat already at hand: 0 or -EPERM, not logged (a hot
 * path's quiet check, e.g. a cache file's first use). */
int trust_stat_ok(const struct stat *st);

#endif

/* shim_stat.h - volume attributes for the other families (ftw, statfs,
 * access on descriptors).
 */
#ifndef SHIM_STAT_H
#define SHIM_STAT_H

#include <sys/stat.h>

/* 1 when handled (*ret is the call's return, errno set), 0: ask libc. */
int shim_stat_fd(int fd, struct stat *st, int *ret);
/* flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. */
int shim_stat_path(int dirfd, const char *path, struct stat *st, int flags, int *ret);
void shim_stat_to_statx(const struct stat *st, struct statx *sx);

#endif

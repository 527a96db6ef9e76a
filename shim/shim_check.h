/* shim_check.h - the first-use check of cache files handed to programs as
 * their own descriptors ("native", shim_fd.h), done on the program's first
 * read where the bytes landed, or before anything else could let the
 * program (or a child) see them unchecked: mmap, sendfile and friends,
 * stdio, dup, and fork.
 */
#ifndef SHIM_CHECK_H
#define SHIM_CHECK_H

#include <sys/types.h>
#include <sys/uio.h>

struct shim_ofd;

/* Check descriptor fd if it is an unchecked native one; 0 when the program
 * may use the kernel file behind fd (checked, or replaced by the right
 * bytes), -errno otherwise. One load for any other descriptor. */
int shim_check_fd(int fd);

/* A read of an unchecked native descriptor (o pinned): the kernel read,
 * then the check of what it delivered (read again if the cache file was
 * corrupt). off < 0: at the file position. Returns bytes or -errno. */
ssize_t shim_check_read(int fd, struct shim_ofd *o, const struct iovec *iov, int cnt, off_t off);

/* Put newfd in fd's place (same number, position and close-on-exec flag;
 * newfd is closed) and record the new kernel file as o's. 0 or -errno. */
int shim_check_replace(int fd, int newfd, struct shim_ofd *o);

/* Before a fork (in the parent, whose locks are sound): descriptors the
 * child could pass on through exec are checked now. vfork and posix_spawn
 * run no fork handlers: a descriptor opened and not yet read that such a
 * child inherits is read unchecked there (its bytes were checked when they
 * entered the cache; docs/design.md). */
void shim_check_before_fork(void);

#endif

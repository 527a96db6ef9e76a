/* shim_write.h - writing to volume descriptors, for the other families
 * (stdio cookies, sendfile and copy_file_range into the volume).
 */
#ifndef SHIM_WRITE_H
#define SHIM_WRITE_H

#include <sys/types.h>
#include <sys/uio.h>

/* "Not a volume descriptor: let libc do it" (below every -errno). */
#define SHIM_WRITE_PASS (-100001)

/* Write to volume descriptor fd at off, or at (and advancing) its file
 * position when off < 0; O_APPEND descriptors write at the end. Bytes
 * written, -errno, or SHIM_WRITE_PASS. */
ssize_t shim_write_fd(int fd, const struct iovec *iov, int cnt, off_t off, int rwf);
ssize_t shim_write_buf(int fd, const void *buf, size_t n, off_t off);

#endif

/* io.h - whole transfers on a descriptor: the loops around read/write that
 * every module needs (short counts, EINTR), written once.
 *
 * Promises: io_pread_full returns the bytes read (fewer only at end of
 * file) or -errno; io_pwrite_full the bytes written (all of them) or
 * -errno; io_write_all 0 or -errno. A write that makes no progress is
 * -EIO. No allocation, no logging. buf is non-NULL unless len is 0
 * (asserted).
 */
#ifndef SHIMFS_IO_H
#define SHIMFS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);
ssize_t io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int io_write_all(int fd, const void *buf, size_t len);

#endif

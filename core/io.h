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

/* Descriptors the engine holds sit at IO_FD_FLOOR or above: shells and
 * programs pick small numbers by hand (`exec 4> file` dup2s onto 4), which
 * would silently replace one of ours, and the next write to it would land
 * in the program's file. io_fd_high moves fd there (close-on-exec; the old
 * number closed) and returns the new one; fd itself when it is already
 * there or negative; -1 (errno set, fd closed) when no number is free.
 * Threads of the engine that open while the program runs move at once:
 * the low number is held for one call, not for a transfer. */
#define IO_FD_FLOOR 10
int io_fd_high(int fd);
/* For a library that makes descriptors we cannot move (libpq's socket,
 * libcurl's wakeup socketpair): fill the free numbers below IO_FD_FLOOR
 * with /dev/null into held[] (returns how many) while it makes them, then
 * io_release_low. A program thread opening meanwhile just gets a higher
 * number. */
int io_hold_low(int held[IO_FD_FLOOR]);
void io_release_low(const int held[IO_FD_FLOOR], int n);

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);
ssize_t io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int io_write_all(int fd, const void *buf, size_t len);

#endif

/* io.h - whole transfers on a descriptor: the loops around read/write that
 * every module needs (short counts, EINTR), written once; the descriptor
 * floor; and libc's own calls for descriptors that may be the program's.
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

/* libc's own, never the shim's: the engine sits in the preloaded library,
 * where fstat, write, syscall() and the rest are the shim's exports, and on
 * a program's volume descriptor they enter the file system and take the
 * file's lock, which the thread the engine works for may hold (a writer
 * waiting on its upload, whose failure is logged: deadlock). For a
 * descriptor that may be the program's (a number kept across calls, the
 * log's descriptor 2), ask these.
 * io_file_id: fd's device and inode (0, or -errno); the others behave as
 * libc's functions of their names. */
struct io_file_id {
    dev_t dev;
    ino_t ino;
};
int io_file_id(int fd, struct io_file_id *id);
ssize_t io_libc_write(int fd, const void *buf, size_t len);
int io_libc_openat(int dirfd, const char *path, int flags, mode_t mode);
/* libc's syscall(), for code that may not resolve symbols (a vfork child) */
typedef long (*io_syscall_fn)(long, ...);
io_syscall_fn io_libc_syscall(void);

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
 * libcurl's wakeup socketpair, io_uring's ring): io_hold_low fills the free
 * numbers below IO_FD_FLOOR with /dev/null while it makes them, then
 * io_release_low. The hold is the process's, counted: concurrent holders
 * share it and the last one lets go, so two threads' holds cannot
 * interleave. A program thread opening meanwhile just gets a higher
 * number; a fork child starts with no hold.
 * A number the program closes during the hold is free again, and the
 * library may take it: io_release_low returns 1 when any number below the
 * floor changed while held (was records them), and the caller whose
 * descriptors may be there makes them again (IO_LOW_TRIES in all). */
#define IO_LOW_TRIES 3
struct io_low {
    struct io_file_id id[IO_FD_FLOOR];
};
void io_hold_low(struct io_low *was);
int io_release_low(const struct io_low *was);

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);
ssize_t io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int io_write_all(int fd, const void *buf, size_t len);

#endif

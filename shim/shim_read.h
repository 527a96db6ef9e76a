/* shim_read.h - reading placeholder descriptors, for the other families
 * (stdio cookies, sendfile and copy_file_range emulation).
 */
#ifndef SHIM_READ_H
#define SHIM_READ_H

#include <sys/types.h>
#include <sys/uio.h>

/* "Not a placeholder: let libc do it" (below every -errno). */
#define SHIM_READ_PASS (-100000)

/* Read from placeholder fd at off, or at (and advancing) its position when
 * off < 0. Bytes read, -errno, or SHIM_READ_PASS. */
ssize_t shim_read_fd(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t shim_read_buf(int fd, void *buf, size_t n, off_t off);
/* lseek of SEEK_END/SEEK_DATA/SEEK_HOLE against the volume size; the new
 * offset, -errno, or SHIM_READ_PASS (the kernel answers the rest). */
off_t shim_read_lseek(int fd, off_t off, int whence);
/* A reader following others' commits (o, f pinned; fstat and reads at
 * end of file call it): once its view is older than the attribute TTL the
 * engine revalidates; a native descriptor that changed is replaced in
 * place (same number, position, close-on-exec). 1 when fd now reads a new
 * version, 0 not, -errno. */
struct shim_ofd;
struct vfs_file;
int shim_follow(int fd, struct shim_ofd *o, struct vfs_file *f);
/* Transfer an iovec at off through the engine (write != 0: pwrite), one
 * buffer after another; bytes moved or -errno. */
struct vfs_file;
ssize_t shim_iov_xfer(struct vfs_file *f, const struct iovec *iov, int cnt, uint64_t off,
                      int write);

#endif

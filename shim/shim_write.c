/* shim_write.c - data writes on descriptors: write, pwrite, writev,
 * pwritev, pwritev2 (and 64-bit twins). A volume descriptor answers EBADF,
 * as a descriptor open read-only does (the memfd behind it would accept the
 * bytes). Everything else costs one table load. The write path replaces
 * these answers when it lands.
 */
#include "shim.h"

#include <sys/uio.h>
#include <unistd.h>

#include "shim_ns.h"

#define SHIM_WRITE_GATE(fd)                 \
    do {                                    \
        int g_ = shim_ns_fd(fd, 1);         \
        if (SHIM_UNLIKELY(g_ < 0))          \
            return shim_fail(g_);           \
    } while (0)

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    SHIM_WRITE_GATE(fd);
    return REAL(write)(fd, buf, n);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwrite)(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwrite64)(fd, buf, n, off);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    SHIM_WRITE_GATE(fd);
    return REAL(writev)(fd, iov, cnt);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwritev)(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwritev64)(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwritev2)(fd, iov, cnt, off, flags);
}

SHIM_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    SHIM_WRITE_GATE(fd);
    return REAL(pwritev64v2)(fd, iov, cnt, off, flags);
}

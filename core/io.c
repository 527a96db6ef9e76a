/* io.c - see io.h. */
#include "io.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    assert(buf || len == 0);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    assert(buf || len == 0);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int io_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    assert(buf || len == 0);
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int io_fd_high(int fd)
{
    if (fd < 0 || fd >= IO_FD_FLOOR)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, IO_FD_FLOOR);
    int err = errno;
    close(fd);
    errno = err;
    return high;
}

int io_hold_low(int held[IO_FD_FLOOR])
{
    int n = 0;
    while (n < IO_FD_FLOOR) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (fd >= IO_FD_FLOOR) {
            close(fd);
            break;
        }
        held[n++] = fd;
    }
    return n;
}

void io_release_low(const int held[IO_FD_FLOOR], int n)
{
    while (n > 0)
        close(held[--n]);
}

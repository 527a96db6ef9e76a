/* shim_write.c - data writes on volume descriptors: write, pwrite,
 * pwrite64, writev, pwritev, pwritev64, pwritev2, pwritev64v2.
 *
 * A file open for writing is a placeholder memfd whose kernel offset is
 * the file position (dup, fork and exec share it as the kernel would): a
 * write is lseek(fd, 0, SEEK_CUR) -> vfs_pwrite -> lseek(fd, pos + n). The
 * engine buffers the bytes and commits them at fsync and close
 * (close-to-open), so the promise here is only POSIX's: the bytes are in
 * the file as this descriptor sees it. Appends (O_APPEND, RWF_APPEND) land
 * at the end of the file as committed, after every append committed
 * before them by any process. A volume descriptor not open for
 * writing answers EBADF (the memfd behind it would take the bytes).
 * Everything else costs one table load.
 */
#include "shim.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim_ns.h"
#include "shim_read.h"
#include "shim_settle.h"
#include "shim_sync.h"
#include "shim_core.h"
#include "shim_write.h"

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14 */
#endif
/* RWF_DONTCACHE is a page-cache hint: preadv2 takes it, so pwritev2 must
 * too (fsx probes one and then uses both). */
#define SHIM_RWF_KNOWN (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_DONTCACHE)

static int shim_iov_check(const struct iovec *iov, int cnt)
{
    if (cnt < 0 || cnt > IOV_MAX)
        return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    return 0;
}

/* An append of several buffers is one record: gathered into one engine
 * write, so a commit between them cannot let another appender's record
 * in. Up to SHIM_APPEND_GATHER bytes (more goes buffer by buffer). */
#define SHIM_APPEND_GATHER (64u << 20)

static ssize_t shim_append_iov(struct vfs_file *f, const struct iovec *iov, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    char *buf = cnt > 1 && total <= SHIM_APPEND_GATHER ? malloc(total ? total : 1) : NULL;
    if (!buf)
        return shim_iov_xfer(f, iov, cnt, VFS_APPEND, 1);
    size_t at = 0;
    for (int i = 0; i < cnt; i++) {
        memcpy(buf + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    struct iovec one = { buf, total };
    ssize_t rc = shim_iov_xfer(f, &one, 1, VFS_APPEND, 1);
    free(buf);
    return rc;
}

/* At the file position (or the end, for appends), then move it past the
 * bytes. The ofd lock makes write-and-advance atomic in this process;
 * bytes that arrived behind the shim's back go first, in order. */
static ssize_t shim_write_at_pos(struct shim_ofd *o, int fd, struct vfs_file *f,
                                 const struct iovec *iov, int cnt, int append)
{
    pthread_mutex_lock(&o->lock);
    ssize_t rc = shim_settle_locked(o, fd, f);
    if (rc < 0) {
        pthread_mutex_unlock(&o->lock);
        return rc;
    }
    /* an append's place is decided when it is committed (vfs_pwrite) */
    off_t pos = append ? 0 : REAL(lseek)(fd, 0, SEEK_CUR);
    if (pos < 0) {
        rc = -errno;
    } else {
        rc = append ? shim_append_iov(f, iov, cnt) : shim_iov_xfer(f, iov, cnt, (uint64_t)pos, 1);
        if (rc > 0) {
            off_t end = append ? (off_t)SHIM_VFS(file_size, f) : pos + rc;
            if (REAL(lseek)(fd, end, SEEK_SET) < 0)
                rc = -errno;
        }
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}

ssize_t shim_write_fd(int fd, const struct iovec *iov, int cnt, off_t off, int rwf)
{
    struct shim_ofd *o;
    struct vfs_file *f;
    ssize_t rc = shim_ns_fd(fd, &o, &f);
    if (rc == 0)
        return SHIM_WRITE_PASS;
    if (rc < 0)
        return rc;
    rc = shim_ns_writable(o);
    if (rc == 0 && (rwf & ~SHIM_RWF_KNOWN))
        rc = -EOPNOTSUPP;
    if (rc == 0)
        rc = shim_iov_check(iov, cnt);
    if (rc == 0) {
        /* O_APPEND writes go to the end even with an offset, as Linux's */
        int append = (o->flags & O_APPEND) || (rwf & RWF_APPEND);
        if (off < 0 || append)
            rc = shim_write_at_pos(o, fd, f, iov, cnt, append);
        else
            rc = shim_iov_xfer(f, iov, cnt, (uint64_t)off, 1);
    }
    if (rc > 0)
        shim_sync_exit_commit();
    /* O_SYNC, O_DSYNC, RWF_SYNC: durable (committed) before returning */
    if (rc > 0 && ((o->flags & O_DSYNC) || (rwf & (RWF_DSYNC | RWF_SYNC)))) {
        int s = SHIM_VFS(fsync, f, 0); /* this write's bytes: its commit */
        if (s < 0)
            rc = s;
    }
    shim_ofd_put(o);
    return rc;
}

ssize_t shim_write_buf(int fd, const void *buf, size_t n, off_t off)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
    return shim_write_fd(fd, &iov, 1, off, 0);
}

/* The edge: SHIM_WRITE_PASS -> libc, -errno -> errno. */
#define SHIM_WRITE_EDGE(expr, pass_call)             \
    do {                                             \
        ssize_t r_ = (expr);                         \
        if (r_ == SHIM_WRITE_PASS)                   \
            return pass_call;                        \
        return r_ < 0 ? shim_fail((int)r_) : r_;     \
    } while (0)

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(write)(fd, buf, n);
    SHIM_WRITE_EDGE(shim_write_buf(fd, buf, n, -1), REAL(write)(fd, buf, n));
}

static ssize_t shim_pwrite_common(int fd, const void *buf, size_t n, off_t off)
{
    if (off < 0)
        return shim_ns_fd_candidate(fd) ? -EINVAL : SHIM_WRITE_PASS;
    return shim_write_buf(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwrite)(fd, buf, n, off);
    SHIM_WRITE_EDGE(shim_pwrite_common(fd, buf, n, off), REAL(pwrite)(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwrite64)(fd, buf, n, off);
    SHIM_WRITE_EDGE(shim_pwrite_common(fd, buf, n, off), REAL(pwrite64)(fd, buf, n, off));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(writev)(fd, iov, cnt);
    SHIM_WRITE_EDGE(shim_write_fd(fd, iov, cnt, -1, 0), REAL(writev)(fd, iov, cnt));
}

/* any: pwritev2's offset -1 means the file position. */
static ssize_t shim_pwritev_common(int fd, const struct iovec *iov, int cnt, off_t off, int any,
                                   int rwf)
{
    if (off < 0 && !(any && off == -1))
        return -EINVAL;
    return shim_write_fd(fd, iov, cnt, off, rwf);
}

SHIM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwritev)(fd, iov, cnt, off);
    SHIM_WRITE_EDGE(shim_pwritev_common(fd, iov, cnt, off, 0, 0), REAL(pwritev)(fd, iov, cnt, off));
}

SHIM_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwritev64)(fd, iov, cnt, off);
    SHIM_WRITE_EDGE(shim_pwritev_common(fd, iov, cnt, off, 0, 0),
                    REAL(pwritev64)(fd, iov, cnt, off));
}

SHIM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwritev2)(fd, iov, cnt, off, flags);
    SHIM_WRITE_EDGE(shim_pwritev_common(fd, iov, cnt, off, 1, flags),
                    REAL(pwritev2)(fd, iov, cnt, off, flags));
}

SHIM_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(pwritev64v2)(fd, iov, cnt, off, flags);
    SHIM_WRITE_EDGE(shim_pwritev_common(fd, iov, cnt, off, 1, flags),
                    REAL(pwritev64v2)(fd, iov, cnt, off, flags));
}

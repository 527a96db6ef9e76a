/* shim_read.c - reads and seeks on placeholder descriptors: read, pread,
 * readv, preadv, preadv2 (and 64-bit, FORTIFY twins), lseek.
 *
 * A placeholder is an empty memfd whose kernel offset IS the file position
 * (so dup, fork and exec children share it as the kernel would): a read is
 * lseek(fd, 0, SEEK_CUR) -> vfs_pread -> lseek(fd, pos + n, SEEK_SET).
 * Native descriptors hold the bytes and everything goes to libc (but the
 * first read of a cache file this process has not checked: shim_check.c);
 * so does any descriptor the table does not know, after one load. A read
 * at end of file lets a reader follow others' commits (shim_follow).
 */
#include "shim.h"

#include <string.h>
#include <unistd.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_read.h"
#include "shim_core.h"

/* Is fd a placeholder worth a closer look? One load for everything else. */
static inline int shim_read_candidate(int fd)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    return SHIM_UNLIKELY(p != NULL) && p->kind == SHIM_OFD_VOLUME &&
           (!p->native || __atomic_load_n(&p->unchecked, __ATOMIC_RELAXED)) && !shim_bypass();
}

/* Walk an iovec through the engine, one buffer after another, stopping at
 * the first short transfer; reads and writes share it. */
ssize_t shim_iov_xfer(struct vfs_file *f, const struct iovec *iov, int cnt, uint64_t off,
                      int write)
{
    ssize_t done = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        uint64_t at = off == VFS_APPEND ? off : off + (uint64_t)done; /* appends keep appending */
        ssize_t r = write ? SHIM_VFS(pwrite, f, iov[i].iov_base, iov[i].iov_len, at)
                          : SHIM_VFS(pread, f, iov[i].iov_base, iov[i].iov_len, at);
        if (r < 0)
            return done > 0 ? done : r;
        done += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return done;
}

int shim_follow(int fd, struct shim_ofd *o, struct vfs_file *f)
{
    if (o->isdir || (o->flags & O_ACCMODE) != O_RDONLY || (o->flags & O_PATH))
        return 0; /* writers keep their own view */
    int newfd = -1;
    int rc = SHIM_VFS(file_follow, f, &newfd);
    if (rc <= 0 || newfd < 0)
        return rc;
    pthread_mutex_lock(&o->lock);
    int r = shim_check_replace(fd, newfd, o);
    if (r == 0) {
        __atomic_store_n(&o->unchecked, shim_vfs->file_unchecked(f), __ATOMIC_RELEASE);
        __atomic_store_n(&o->native, shim_vfs->file_native(f), __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&o->lock);
    return r < 0 ? r : 1;
}

static int shim_iov_wants(const struct iovec *iov, int cnt)
{
    for (int i = 0; i < cnt; i++)
        if (iov[i].iov_len > 0)
            return 1;
    return 0;
}

#define SHIM_READ_UNCHECKED (-100001)

/* Pin a placeholder and its file; SHIM_READ_PASS when it is not one,
 * SHIM_READ_UNCHECKED (pinned in *po) for a native descriptor whose
 * first-use check is due. */
static ssize_t shim_read_open(int fd, struct shim_ofd **po, struct vfs_file **f)
{
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return SHIM_READ_PASS;
    if (o->native) {
        if (__atomic_load_n(&o->unchecked, __ATOMIC_ACQUIRE)) {
            *po = o;
            return SHIM_READ_UNCHECKED;
        }
        shim_ofd_put(o);
        return SHIM_READ_PASS;
    }
    ssize_t rc = shim_ofd_file(o, fd, f);
    if (rc == 0 && o->isdir)
        rc = -EISDIR;
    if (rc == 0 && ((o->flags & O_ACCMODE) == O_WRONLY || (o->flags & O_PATH)))
        rc = -EBADF;
    if (rc < 0) {
        shim_ofd_put(o);
        return rc;
    }
    *po = o;
    return 0;
}

ssize_t shim_read_fd(int fd, const struct iovec *iov, int cnt, off_t off)
{
    struct shim_ofd *o = NULL;
    struct vfs_file *f;
    if (cnt < 0 || cnt > IOV_MAX)
        return -EINVAL;
    ssize_t rc = shim_read_open(fd, &o, &f);
    if (rc == SHIM_READ_UNCHECKED) {
        rc = shim_check_read(fd, o, iov, cnt, off);
        shim_ofd_put(o);
        return rc;
    }
    if (rc != 0)
        return rc;
    for (int tries = 0;; tries++) {
        if (off >= 0) {
            rc = shim_iov_xfer(f, iov, cnt, (uint64_t)off, 0);
        } else {
            /* the ofd lock makes read-and-advance atomic for this process */
            pthread_mutex_lock(&o->lock);
            off_t pos = REAL(lseek)(fd, 0, SEEK_CUR);
            if (pos < 0) {
                rc = -errno;
            } else {
                rc = shim_iov_xfer(f, iov, cnt, (uint64_t)pos, 0);
                if (rc > 0 && REAL(lseek)(fd, pos + rc, SEEK_SET) < 0)
                    rc = -errno;
            }
            pthread_mutex_unlock(&o->lock);
        }
        /* end of file: others may have committed more (tail -f) */
        if (rc != 0 || tries > 0 || !shim_iov_wants(iov, cnt) || shim_follow(fd, o, f) != 1)
            break;
        if (__atomic_load_n(&o->native, __ATOMIC_ACQUIRE)) {
            shim_ofd_put(o);
            return SHIM_READ_PASS; /* the new version is in the kernel's hands */
        }
    }
    shim_ofd_put(o);
    return rc;
}

ssize_t shim_read_buf(int fd, void *buf, size_t n, off_t off)
{
    struct iovec iov = { .iov_base = buf, .iov_len = n };
    return shim_read_fd(fd, &iov, 1, off);
}

off_t shim_read_lseek(int fd, off_t off, int whence)
{
    struct shim_ofd *o = shim_fd_get(fd, 0);
    if (!o || o->native || (whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE)) {
        shim_ofd_put(o);
        return SHIM_READ_PASS;
    }
    struct vfs_file *f;
    struct stat st;
    off_t rc = shim_ofd_file(o, fd, &f);
    if (rc == 0)
        rc = SHIM_VFS(fstat, f, &st);
    shim_ofd_put(o);
    if (rc < 0)
        return rc;
    off_t target;
    if (whence == SEEK_END)
        target = st.st_size + off;
    else if (off < 0)
        return -ENXIO;
    else if (off >= st.st_size)
        return -ENXIO;
    else
        target = whence == SEEK_DATA ? off : st.st_size; /* no holes in the volume's view */
    if (target < 0)
        return -EINVAL;
    off_t r = REAL(lseek)(fd, target, SEEK_SET);
    return r < 0 ? -errno : r;
}

/* The edge: SHIM_READ_PASS -> libc, -errno -> errno. */
/* The kernel read a native volume descriptor to its end: follow others'
 * commits; 1 when fd now holds a newer version (read again). */
static int shim_read_native_eof(int fd)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int rc = __atomic_load_n(&o->native, __ATOMIC_ACQUIRE) && shim_ofd_file(o, fd, &f) == 0
                 ? shim_follow(fd, o, f) : 0;
    shim_ofd_put(o);
    return rc == 1;
}

#define SHIM_READ_EDGE_1(expr, pass_call)            \
    do {                                             \
        ssize_t r_ = (expr);                         \
        if (r_ == SHIM_READ_PASS)                    \
            return pass_call;                        \
        return r_ < 0 ? shim_fail((int)r_) : r_;     \
    } while (0)

/* A checked native descriptor (or any other) read by the kernel: at its
 * end, one load decides whether it is a volume file to follow; `again`
 * reads once more when it was replaced by a newer version. */
#define SHIM_READ_HOST(n, pass_call, again)                           \
    do {                                                              \
        ssize_t h_ = (pass_call);                                     \
        if (SHIM_UNLIKELY(h_ == 0) && (n) > 0 && shim_read_native_eof(fd)) \
            return (again);                                           \
        return h_;                                                    \
    } while (0)

/* Reads: at the end of a native descriptor, once more if it was replaced
 * by a newer version (through the shim again: it may need its check). */
#define SHIM_READ_EDGE(expr, pass_call)                          \
    do {                                                         \
        ssize_t r_ = (expr);                                     \
        if (r_ == SHIM_READ_PASS) {                              \
            r_ = pass_call;                                      \
            if (r_ != 0 || !shim_read_native_eof(fd))            \
                return r_;                                       \
            SHIM_READ_EDGE_1(expr, pass_call);                   \
        }                                                        \
        return r_ < 0 ? shim_fail((int)r_) : r_;                 \
    } while (0)

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        SHIM_READ_HOST(n, REAL(read)(fd, buf, n), read(fd, buf, n));
    SHIM_READ_EDGE(shim_read_buf(fd, buf, n, -1), REAL(read)(fd, buf, n));
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        REAL(__chk_fail)();
    return read(fd, buf, n);
}

static ssize_t shim_pread_common(int fd, void *buf, size_t n, off_t off)
{
    if (off < 0)
        return -EINVAL;
    return shim_read_buf(fd, buf, n, off);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        SHIM_READ_HOST(n, REAL(pread)(fd, buf, n, off), pread(fd, buf, n, off));
    SHIM_READ_EDGE(shim_pread_common(fd, buf, n, off), REAL(pread)(fd, buf, n, off));
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        SHIM_READ_HOST(n, REAL(pread64)(fd, buf, n, off), pread64(fd, buf, n, off));
    SHIM_READ_EDGE(shim_pread_common(fd, buf, n, off), REAL(pread64)(fd, buf, n, off));
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    if (n > buflen)
        REAL(__chk_fail)();
    return pread(fd, buf, n, off);
}

SHIM_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    if (n > buflen)
        REAL(__chk_fail)();
    return pread64(fd, buf, n, off);
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        SHIM_READ_HOST(cnt > 0 && shim_iov_wants(iov, cnt), REAL(readv)(fd, iov, cnt),
                       readv(fd, iov, cnt));
    SHIM_READ_EDGE(shim_read_fd(fd, iov, cnt, -1), REAL(readv)(fd, iov, cnt));
}

static ssize_t shim_preadv_common(int fd, const struct iovec *iov, int cnt, off_t off, int any)
{
    if (off < 0 && !(any && off == -1))
        return -EINVAL;
    return shim_read_fd(fd, iov, cnt, off);
}

SHIM_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(preadv)(fd, iov, cnt, off);
    SHIM_READ_EDGE(shim_preadv_common(fd, iov, cnt, off, 0), REAL(preadv)(fd, iov, cnt, off));
}

SHIM_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(preadv64)(fd, iov, cnt, off);
    SHIM_READ_EDGE(shim_preadv_common(fd, iov, cnt, off, 0), REAL(preadv64)(fd, iov, cnt, off));
}

/* preadv2: offset -1 means the file position; the RWF_* hints do not
 * change what a read-only volume returns. */
SHIM_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(preadv2)(fd, iov, cnt, off, flags);
    SHIM_READ_EDGE(shim_preadv_common(fd, iov, cnt, off, 1),
                   REAL(preadv2)(fd, iov, cnt, off, flags));
}

SHIM_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(preadv64v2)(fd, iov, cnt, off, flags);
    SHIM_READ_EDGE(shim_preadv_common(fd, iov, cnt, off, 1),
                   REAL(preadv64v2)(fd, iov, cnt, off, flags));
}

SHIM_EXPORT off_t lseek(int fd, off_t off, int whence)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(lseek)(fd, off, whence);
    SHIM_READ_EDGE_1(shim_read_lseek(fd, off, whence), REAL(lseek)(fd, off, whence));
}

SHIM_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
    if (SHIM_LIKELY(!shim_read_candidate(fd)))
        return REAL(lseek64)(fd, off, whence);
    SHIM_READ_EDGE_1(shim_read_lseek(fd, off, whence), REAL(lseek64)(fd, off, whence));
}

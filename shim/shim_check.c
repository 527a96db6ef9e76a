/* shim_check.c - see shim_check.h.
 *
 * Every process checks each cached block once before using it. For a cache
 * file handed over as the program's descriptor, checking at open meant
 * reading the file twice (once to hash, once by the program): a fifth of a
 * warm small-file epoch. Instead the program's first read is hashed in its
 * own buffer before read() returns; only a first read that is not the
 * whole file from offset 0 makes the engine read the file. Where the
 * program could see the bytes without a read through here (mmap, sendfile,
 * a FILE, a duplicate descriptor, a forked child that may exec), the check
 * runs first. A corrupt cache file is dropped and a descriptor holding the
 * right bytes (fetched again) takes its number, so wrong bytes never reach
 * the program.
 */
#include "shim.h"

#include <fcntl.h>
#include <unistd.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_core.h"

int shim_check_replace(int fd, int newfd, struct shim_ofd *o)
{
    int fdflags = REAL(fcntl)(fd, F_GETFD);
    off_t pos = REAL(lseek)(fd, 0, SEEK_CUR);
    int rc = REAL(dup3)(newfd, fd, fdflags > 0 && (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0 ? -errno : 0;
    REAL(close)(newfd);
    if (rc == 0 && pos > 0)
        REAL(lseek)(fd, pos, SEEK_SET);
    if (rc == 0)
        shim_ofd_reidentify(o, fd);
    return rc;
}

/* 0 checked, 1 replaced (bytes read before must be read again), -errno. */
static int shim_check_ofd(int fd, struct shim_ofd *o, const void *buf, size_t n, off_t off)
{
    if (!__atomic_load_n(&o->unchecked, __ATOMIC_ACQUIRE))
        return 0;
    struct vfs_file *f;
    int rc = shim_ofd_file(o, fd, &f);
    int newfd = -1;
    if (rc == 0)
        rc = SHIM_VFS(file_check, f, buf, n, off < 0 ? 0 : (uint64_t)off, &newfd);
    if (rc == 1)
        rc = shim_check_replace(fd, newfd, o) == 0 ? 1 : -EIO;
    if (rc >= 0)
        __atomic_store_n(&o->unchecked, 0, __ATOMIC_RELEASE);
    return rc;
}

int shim_check_fd(int fd)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    if (SHIM_LIKELY(!p) || !__atomic_load_n(&p->unchecked, __ATOMIC_ACQUIRE) || shim_bypass())
        return 0;
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return 0;
    int rc = shim_check_ofd(fd, o, NULL, 0, 0);
    shim_ofd_put(o);
    return rc < 0 ? rc : 0;
}

ssize_t shim_check_read(int fd, struct shim_ofd *o, const struct iovec *iov, int cnt, off_t off)
{
    off_t pos = off >= 0 ? off : REAL(lseek)(fd, 0, SEEK_CUR);
    if (pos < 0)
        return -errno;
    ssize_t n = off >= 0 ? REAL(preadv)(fd, iov, cnt, off) : REAL(readv)(fd, iov, cnt);
    if (n < 0)
        return -errno;
    /* one buffer holding the file from its start is checked where it is */
    const void *buf = cnt == 1 && pos == 0 ? iov[0].iov_base : NULL;
    int rc = shim_check_ofd(fd, o, buf, buf ? (size_t)n : 0, pos);
    if (rc <= 0)
        return rc < 0 ? rc : n;
    n = REAL(preadv)(fd, iov, cnt, pos);  /* the program's buffer holds wrong bytes */
    if (n < 0)
        return -errno;
    if (off < 0)
        REAL(lseek)(fd, pos + n, SEEK_SET);
    return n;
}

void shim_check_before_fork(void)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (SHIM_LIKELY(!dir) || shim_bypass())
        return; /* no volume descriptor ever; or the engine's own doing */
    for (unsigned base = 0; base < shim_fd_cap; base += 1u << SHIM_FD_PAGE_SHIFT) {
        if (!__atomic_load_n(&dir[base >> SHIM_FD_PAGE_SHIFT], __ATOMIC_ACQUIRE))
            continue;
        for (unsigned i = 0; i < (1u << SHIM_FD_PAGE_SHIFT) && base + i < shim_fd_cap; i++) {
            int fd = (int)(base + i);
            struct shim_ofd *p = shim_fd_peek(fd);
            if (SHIM_LIKELY(!p) || !__atomic_load_n(&p->unchecked, __ATOMIC_ACQUIRE))
                continue;
            int fl = REAL(fcntl)(fd, F_GETFD);
            if (fl >= 0 && !(fl & FD_CLOEXEC))
                (void)shim_check_fd(fd); /* an exec in the child would pass it on */
        }
    }
}

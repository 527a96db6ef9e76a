/* shim_lock.c - advisory locks on volume files: flock, lockf, lockf64,
 * and fcntl's record locks (F_GETLK, F_SETLK, F_SETLKW and the F_OFD_*
 * twins, routed here by shim_close.c).
 *
 * Locks are node-local: each volume inode has a lock file in the node
 * cache (vfs_lock_fd, one open file per open volume file) and the kernel
 * applies the lock there, so every process on the node gets the kernel's
 * exact semantics (blocking, deadlock detection, release at close and at
 * exit, flock per open file, POSIX locks per process). Ranges relative to
 * the file position or the end are made absolute first, since the lock
 * file's own position and size mean nothing.
 */
#include "shim.h"

#include <sys/file.h>
#include <unistd.h>

#include "shim_lock.h"
#include "shim_ns.h"
#include "shim_core.h"

/* The lock descriptor of a volume descriptor: 1 (*lfd, and *o pinned:
 * put it after the lock call), 0 not one, -errno. */
static int shim_lock_target(int fd, struct shim_ofd **o, int *lfd)
{
    struct vfs_file *f;
    int c = shim_ns_fd(fd, o, &f);
    if (c <= 0)
        return c;
    c = ((*o)->flags & O_PATH) ? -EBADF : SHIM_VFS(lock_fd, f);
    if (c < 0) {
        shim_ofd_put(*o);
        return c;
    }
    *lfd = c;
    return 1;
}

SHIM_EXPORT int flock(int fd, int op)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(flock)(fd, op);
    struct shim_ofd *o;
    int lfd;
    int c = shim_lock_target(fd, &o, &lfd);
    if (c == 0)
        return REAL(flock)(fd, op);
    if (c < 0)
        return shim_fail(c);
    int r = REAL(flock)(lfd, op);
    shim_ofd_put(o);
    return r;
}

/* The range as SEEK_SET (the lock file's position and size are not the
 * volume file's). */
static int shim_lock_absolute(int fd, struct shim_ofd *o, struct flock *fl)
{
    off_t base = 0;
    if (fl->l_whence == SEEK_CUR) {
        base = REAL(lseek)(fd, 0, SEEK_CUR);
        if (base < 0)
            return -errno;
    } else if (fl->l_whence == SEEK_END) {
        struct vfs_file *f;
        int rc = shim_ofd_file(o, fd, &f);
        if (rc < 0)
            return rc;
        base = (off_t)SHIM_VFS(file_size, f);
    } else if (fl->l_whence != SEEK_SET) {
        return -EINVAL;
    }
    if ((base > 0 && fl->l_start > INT64_MAX - base) || base + fl->l_start < 0)
        return -EINVAL;
    fl->l_start += base;
    fl->l_whence = SEEK_SET;
    return 0;
}

/* A read lock needs a descriptor open for reading, a write lock one open
 * for writing (the lock file is open read-write whatever the file is). */
static int shim_lock_mode_ok(const struct shim_ofd *o, short type)
{
    int acc = o->flags & O_ACCMODE;
    if (type == F_RDLCK && acc == O_WRONLY)
        return -EBADF;
    if (type == F_WRLCK && acc == O_RDONLY)
        return -EBADF;
    return 0;
}

static int shim_lock_is_cmd(int cmd)
{
    switch (cmd) {
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
        return 1;
    default:
        return 0;
    }
}

static int shim_lock_apply(int fd, struct shim_ofd *o, int lfd, int cmd, struct flock *user)
{
    struct flock fl = *user;
    int get = cmd == F_GETLK || cmd == F_OFD_GETLK;
    int rc = shim_lock_absolute(fd, o, &fl);
    if (rc == 0 && !get && fl.l_type != F_UNLCK)
        rc = shim_lock_mode_ok(o, fl.l_type);
    if (rc < 0)
        return rc;
    if (REAL(fcntl)(lfd, cmd, &fl) < 0)
        return -errno;
    if (get)
        *user = fl;
    return 0;
}

int shim_lock_fcntl(int fd, int cmd, void *arg, int *ret)
{
    if (SHIM_LIKELY(!shim_lock_is_cmd(cmd)) || SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return 0;
    struct shim_ofd *o;
    int lfd;
    int c = shim_lock_target(fd, &o, &lfd);
    if (c == 0)
        return 0;
    if (c > 0) {
        c = arg ? shim_lock_apply(fd, o, lfd, cmd, arg) : -EFAULT;
        shim_ofd_put(o);
    }
    *ret = c < 0 ? shim_fail(c) : 0;
    return 1;
}

/* lockf as glibc defines it, on the lock file: a range from the file
 * position, F_TEST answering EACCES when another process holds it. */
static int shim_lockf(int fd, int cmd, off64_t len, int *ret)
{
    struct flock fl = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
    int fcmd;
    switch (cmd) {
    case F_TEST: fl.l_type = F_RDLCK; fcmd = F_GETLK; break;
    case F_ULOCK: fl.l_type = F_UNLCK; fcmd = F_SETLK; break;
    case F_LOCK: fl.l_type = F_WRLCK; fcmd = F_SETLKW; break;
    case F_TLOCK: fl.l_type = F_WRLCK; fcmd = F_SETLK; break;
    default:
        *ret = shim_fail(-EINVAL);
        return 1;
    }
    int r;
    if (!shim_lock_fcntl(fd, fcmd, &fl, &r))
        return 0;
    if (r == 0 && cmd == F_TEST && fl.l_type != F_UNLCK && fl.l_pid != getpid())
        r = shim_fail(-EACCES);
    *ret = r;
    return 1;
}

SHIM_EXPORT int lockf(int fd, int cmd, off_t len)
{
    int r;
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)) || !shim_lockf(fd, cmd, len, &r))
        return REAL(lockf)(fd, cmd, len);
    return r;
}

SHIM_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
    int r;
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)) || !shim_lockf(fd, cmd, len, &r))
        return REAL(lockf64)(fd, cmd, len);
    return r;
}

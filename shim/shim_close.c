/* shim_close.c - descriptor lifetime: close, close_range, closefrom, dup,
 * dup2, dup3 and fcntl (F_DUPFD*, F_GETFL; record locks go to shim_lock.c).
 *
 * The table follows the kernel: a dup shares the open file (one refcount),
 * the last close releases the volume file. Entries are dropped before the
 * kernel close, so the number cannot be handed out again while an entry
 * still names it.
 */
#include "shim.h"

#include <linux/close_range.h>
#include <stdarg.h>
#include <limits.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_lock.h"
#include "shim_settle.h"

/* The engine (under the guard) touching a descriptor the table says is a
 * volume file: its own descriptor of that number was replaced behind its
 * back (a shell's `exec 3< file` dup2s onto whatever holds 3). It must not
 * clobber the program's file: refuse, as for a closed descriptor. */
static int shim_close_engine_collision(int fd)
{
    if (SHIM_LIKELY(!shim_bypass()) || !shim_fd_peek(fd))
        return 0;
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return 0;
    shim_ofd_put(o);
    static int warned;
    shim_log_once(&warned, SHIM_LOG_WARN,
                  "the engine's descriptor %d was replaced by the program; not touching it", fd);
    return 1;
}

SHIM_EXPORT int close(int fd)
{
    if (SHIM_LIKELY(!shim_fd_peek(fd)))
        return REAL(close)(fd);
    if (shim_close_engine_collision(fd))
        return shim_fail(-EBADF);
    int set = shim_settle(fd); /* stdio bytes that went around the shim */
    int rel = shim_fd_forget(fd);
    if (rel == 0)
        rel = set;
    int r = REAL(close)(fd);
    return (r == 0 && rel < 0) ? shim_fail(rel) : r; /* close reports a failed commit */
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (first <= last && !(flags & CLOSE_RANGE_CLOEXEC))
        shim_fd_forget_range(first, last);
    return REAL(close_range)(first, last, flags);
}

SHIM_EXPORT void closefrom(int lowfd)
{
    if (lowfd >= 0)
        shim_fd_forget_range((unsigned)lowfd, UINT_MAX);
    REAL(closefrom)(lowfd);
}

/* A duplicate of an unchecked cache file could reach a program the shim
 * does not see (a shell's `cat < file` dup2s it onto 0, then execs):
 * check it first. One load for other descriptors. */
static int shim_dup_check(int oldfd)
{
    int rc = shim_check_fd(oldfd);
    return rc < 0 ? shim_fail(rc) : 0;
}

SHIM_EXPORT int dup(int oldfd)
{
    if (shim_dup_check(oldfd) < 0)
        return -1;
    int fd = REAL(dup)(oldfd);
    if (fd >= 0)
        shim_fd_dup(oldfd, fd);
    return fd;
}

/* What dup2 and dup3 do before the kernel's: -1 (errno set) to refuse. */
static int shim_dup_onto(int oldfd, int newfd)
{
    if (shim_close_engine_collision(newfd))
        return shim_fail(-EBADF);
    if (shim_dup_check(oldfd) < 0)
        return -1;
    if (oldfd != newfd)
        shim_settle(newfd); /* before the kernel closes it */
    return 0;
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
    if (shim_dup_onto(oldfd, newfd) < 0)
        return -1;
    int fd = REAL(dup2)(oldfd, newfd);
    if (fd >= 0 && oldfd != newfd)
        shim_fd_dup(oldfd, fd);
    return fd;
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (shim_dup_onto(oldfd, newfd) < 0)
        return -1;
    int fd = REAL(dup3)(oldfd, newfd, flags);
    if (fd >= 0)
        shim_fd_dup(oldfd, fd);
    return fd;
}

/* F_GETFL of a volume descriptor: the access mode it was opened with (the
 * memfd behind it is read-write), the status flags from the kernel. */
static int shim_fcntl_getfl(int fd, int kflags)
{
    struct shim_ofd *o = shim_fd_get(fd, 0);
    if (!o)
        return kflags;
    kflags = (kflags & ~O_ACCMODE) | (o->flags & (O_ACCMODE | O_PATH));
    shim_ofd_put(o);
    return kflags;
}

static int shim_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    int r;
    if (SHIM_UNLIKELY(shim_lock_fcntl(fd, cmd, arg, &r)))
        return r; /* a record lock on a volume file: its node lock file */
    /* a duplicate, or a descriptor made inheritable, could reach an exec */
    if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC || cmd == F_SETFD) && shim_dup_check(fd) < 0)
        return -1;
    r = real(fd, cmd, arg);
    if (r < 0 || shim_bypass())
        return r;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        shim_fd_dup(fd, r);
        break;
    case F_GETFL:
        r = shim_fcntl_getfl(fd, r);
        break;
    default:
        break;
    }
    return r;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return shim_fcntl(REAL(fcntl), fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return shim_fcntl(REAL(fcntl64), fd, cmd, arg);
}

/* shim_syscall.c - the libc syscall() entry point, for the raw system
 * calls real programs use on files: statx (libuv stats every path and
 * descriptor with syscall(__NR_statx, ...), which would otherwise see the
 * memfd or miss the volume), and the in-kernel copies copy_file_range,
 * sendfile and splice (cp-like tools call them raw; on a placeholder the
 * kernel copies its empty memfd and answers 0 forever). Every other number
 * goes to libc untouched (raw syscalls stay outside the shim, as
 * documented); the copies cost one descriptor-table load when no volume
 * descriptor is involved.
 */
#include "shim.h"

#include <stdarg.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_stat.h"

SHIM_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_statx && !shim_bypass()) {
        struct stat st;
        int r;
        int flags = (int)a3 & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
        if (shim_stat_path((int)a1, (const char *)a2, &st, flags, &r)) {
            if (r == 0)
                shim_stat_to_statx(&st, (struct statx *)a5);
            return r;
        }
    }
    switch (number) {
    case SYS_copy_file_range:
        return copy_file_range((int)a1, (off64_t *)a2, (int)a3, (off64_t *)a4, (size_t)a5,
                               (unsigned)a6);
    case SYS_sendfile:
        return sendfile64((int)a1, (int)a2, (off64_t *)a3, (size_t)a4);
    case SYS_splice:
        return splice((int)a1, (off64_t *)a2, (int)a3, (off64_t *)a4, (size_t)a5, (unsigned)a6);
    }
    return REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
}

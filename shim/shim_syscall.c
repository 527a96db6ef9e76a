/* shim_syscall.c - the libc syscall() entry point, for the one raw system
 * call that real programs use on files: statx. libuv (Node.js) stats every
 * path and descriptor with syscall(__NR_statx, ...), which would otherwise
 * see the memfd or miss the volume. Every other number goes to libc
 * untouched (raw syscalls stay outside the shim, as documented).
 */
#include "shim.h"

#include <stdarg.h>
#include <sys/syscall.h>

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
    return REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
}

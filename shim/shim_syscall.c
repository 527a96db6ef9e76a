/* shim_syscall.c - the libc syscall() entry point, for the raw system
 * calls real programs use on files: statx (libuv stats every path and
 * descriptor with syscall(__NR_statx, ...), which would otherwise see the
 * memfd or miss the volume), and the in-kernel copies copy_file_range,
 * sendfile and splice (cp-like tools call them raw; on a placeholder the
 * kernel copies its empty memfd and answers 0 forever), and the path and
 * descriptor calls programs make raw (open, stat, unlink, rename, mkdir,
 * readlink, chdir, close, the utime family, read/write/lseek/fsync/ftruncate on volume
 * descriptors, sync and syncfs...; Go-style runtimes and sandboxes do): each goes
 * to the interposed libc function of the same meaning, which answers -1
 * and errno as syscall() does and costs one prefix test outside the
 * volume. Every other number goes to libc untouched.
 */
#include "shim.h"

#include <stdarg.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <utime.h>
#include <unistd.h>

#include "shim_fd.h"
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
    if (shim_bypass())
        return REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
    /* data calls on a volume descriptor (one table load for the others) */
    if (number <= SYS_pwrite64 && shim_fd_peek((int)a1)) {
        switch (number) {
        case SYS_read:
            return read((int)a1, (void *)a2, (size_t)a3);
        case SYS_write:
            return write((int)a1, (const void *)a2, (size_t)a3);
        case SYS_pread64:
            return pread((int)a1, (void *)a2, (size_t)a3, (off_t)a4);
        case SYS_pwrite64:
            return pwrite((int)a1, (const void *)a2, (size_t)a3, (off_t)a4);
        case SYS_lseek:
            return lseek((int)a1, (off_t)a2, (int)a3);
        }
    }
    switch (number) {
    case SYS_fsync:
        return fsync((int)a1);
    case SYS_fdatasync:
        return fdatasync((int)a1);
    case SYS_sync:
        sync();
        return 0;
    case SYS_syncfs:
        return syncfs((int)a1);
    case SYS_ftruncate:
        return ftruncate((int)a1, (off_t)a2);
    case SYS_open:
        return open((const char *)a1, (int)a2, (mode_t)a3);
    case SYS_openat:
        return openat((int)a1, (const char *)a2, (int)a3, (mode_t)a4);
    case SYS_creat:
        return creat((const char *)a1, (mode_t)a2);
    case SYS_stat:
        return stat((const char *)a1, (struct stat *)a2);
    case SYS_lstat:
        return lstat((const char *)a1, (struct stat *)a2);
    case SYS_newfstatat:
        return fstatat((int)a1, (const char *)a2, (struct stat *)a3, (int)a4);
    case SYS_fstat:
        return fstat((int)a1, (struct stat *)a2);
    case SYS_access:
        return access((const char *)a1, (int)a2);
    case SYS_faccessat:
        return faccessat((int)a1, (const char *)a2, (int)a3, 0);
    case SYS_faccessat2:
        return faccessat((int)a1, (const char *)a2, (int)a3, (int)a4);
    case SYS_mkdir:
        return mkdir((const char *)a1, (mode_t)a2);
    case SYS_mkdirat:
        return mkdirat((int)a1, (const char *)a2, (mode_t)a3);
    case SYS_rmdir:
        return rmdir((const char *)a1);
    case SYS_unlink:
        return unlink((const char *)a1);
    case SYS_unlinkat:
        return unlinkat((int)a1, (const char *)a2, (int)a3);
    case SYS_rename:
        return rename((const char *)a1, (const char *)a2);
    case SYS_renameat:
        return renameat((int)a1, (const char *)a2, (int)a3, (const char *)a4);
    case SYS_renameat2:
        return renameat2((int)a1, (const char *)a2, (int)a3, (const char *)a4, (unsigned)a5);
    case SYS_readlink:
        return readlink((const char *)a1, (char *)a2, (size_t)a3);
    case SYS_readlinkat:
        return readlinkat((int)a1, (const char *)a2, (char *)a3, (size_t)a4);
    case SYS_symlink:
        return symlink((const char *)a1, (const char *)a2);
    case SYS_symlinkat:
        return symlinkat((const char *)a1, (int)a2, (const char *)a3);
    case SYS_link:
        return link((const char *)a1, (const char *)a2);
    case SYS_linkat:
        return linkat((int)a1, (const char *)a2, (int)a3, (const char *)a4, (int)a5);
    case SYS_chmod:
        return chmod((const char *)a1, (mode_t)a2);
    case SYS_fchmodat:
        return fchmodat((int)a1, (const char *)a2, (mode_t)a3, 0);
    case SYS_chown:
        return chown((const char *)a1, (uid_t)a2, (gid_t)a3);
    case SYS_lchown:
        return lchown((const char *)a1, (uid_t)a2, (gid_t)a3);
    case SYS_fchownat:
        return fchownat((int)a1, (const char *)a2, (uid_t)a3, (gid_t)a4, (int)a5);
    case SYS_utime:
        return utime((const char *)a1, (const struct utimbuf *)a2);
    case SYS_utimes:
        return utimes((const char *)a1, (const struct timeval *)a2);
    case SYS_futimesat:
        return futimesat((int)a1, (const char *)a2, (const struct timeval *)a3);
    case SYS_utimensat:
        /* the kernel's utimensat(fd, NULL, ...) is futimens(fd) */
        if (!a2)
            return futimens((int)a1, (const struct timespec *)a3);
        return utimensat((int)a1, (const char *)a2, (const struct timespec *)a3, (int)a4);
    case SYS_truncate:
        return truncate((const char *)a1, (off_t)a2);
    case SYS_chdir:
        return chdir((const char *)a1);
    case SYS_fchdir:
        return fchdir((int)a1);
    case SYS_close:
        return close((int)a1);
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

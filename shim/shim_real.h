/* shim_real.h - the real libc functions behind every interposed symbol,
 * resolved with dlsym(RTLD_NEXT) once, early (shim_real_init runs from the
 * constructor, and from the first interposed call if another library's
 * constructor calls in before ours ran). REAL(name) is the real function.
 *
 * One line per symbol in SHIM_REAL_LIST: add a function here, then define
 * the interposed version in the file that owns its family.
 */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H

#include <dirent.h>
#include <glob.h>
#include <spawn.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <utime.h>

struct timeval;
struct timespec;

/* Old glibc entry points that 2.33+ headers no longer declare. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev);
int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen);
ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t len, size_t buflen);
char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
char *__getwd_chk(char *buf, size_t buflen);
void __chk_fail(void) __attribute__((noreturn));

typedef int (*shim_nftw_fn)(const char *, const struct stat *, int, struct FTW *);
typedef int (*shim_nftw64_fn)(const char *, const struct stat64 *, int, struct FTW *);
typedef int (*shim_ftw_fn)(const char *, const struct stat *, int);
typedef int (*shim_ftw64_fn)(const char *, const struct stat64 *, int);
typedef int (*shim_filter_fn)(const struct dirent *);
typedef int (*shim_compar_fn)(const struct dirent **, const struct dirent **);
typedef int (*shim_filter64_fn)(const struct dirent64 *);
typedef int (*shim_compar64_fn)(const struct dirent64 **, const struct dirent64 **);

#define SHIM_REAL_LIST(X) \
    X(int, open, (const char *, int, ...)) \
    X(int, open64, (const char *, int, ...)) \
    X(int, openat, (int, const char *, int, ...)) \
    X(int, openat64, (int, const char *, int, ...)) \
    X(int, creat, (const char *, mode_t)) \
    X(int, creat64, (const char *, mode_t)) \
    X(int, __open_2, (const char *, int)) \
    X(int, __open64_2, (const char *, int)) \
    X(int, __openat_2, (int, const char *, int)) \
    X(int, __openat64_2, (int, const char *, int)) \
    X(int, close, (int)) \
    X(int, close_range, (unsigned, unsigned, int)) \
    X(void, closefrom, (int)) \
    X(ssize_t, read, (int, void *, size_t)) \
    X(ssize_t, pread, (int, void *, size_t, off_t)) \
    X(ssize_t, pread64, (int, void *, size_t, off64_t)) \
    X(ssize_t, readv, (int, const struct iovec *, int)) \
    X(ssize_t, preadv, (int, const struct iovec *, int, off_t)) \
    X(ssize_t, preadv64, (int, const struct iovec *, int, off64_t)) \
    X(ssize_t, preadv2, (int, const struct iovec *, int, off_t, int)) \
    X(ssize_t, preadv64v2, (int, const struct iovec *, int, off64_t, int)) \
    X(ssize_t, __read_chk, (int, void *, size_t, size_t)) \
    X(ssize_t, __pread_chk, (int, void *, size_t, off_t, size_t)) \
    X(ssize_t, __pread64_chk, (int, void *, size_t, off64_t, size_t)) \
    X(off_t, lseek, (int, off_t, int)) \
    X(off64_t, lseek64, (int, off64_t, int)) \
    X(int, stat, (const char *, struct stat *)) \
    X(int, stat64, (const char *, struct stat64 *)) \
    X(int, lstat, (const char *, struct stat *)) \
    X(int, lstat64, (const char *, struct stat64 *)) \
    X(int, fstat, (int, struct stat *)) \
    X(int, fstat64, (int, struct stat64 *)) \
    X(int, fstatat, (int, const char *, struct stat *, int)) \
    X(int, fstatat64, (int, const char *, struct stat64 *, int)) \
    X(int, __xstat, (int, const char *, struct stat *)) \
    X(int, __xstat64, (int, const char *, struct stat64 *)) \
    X(int, __lxstat, (int, const char *, struct stat *)) \
    X(int, __lxstat64, (int, const char *, struct stat64 *)) \
    X(int, __fxstat, (int, int, struct stat *)) \
    X(int, __fxstat64, (int, int, struct stat64 *)) \
    X(int, __fxstatat, (int, int, const char *, struct stat *, int)) \
    X(int, __fxstatat64, (int, int, const char *, struct stat64 *, int)) \
    X(int, statx, (int, const char *, int, unsigned, struct statx *)) \
    X(int, access, (const char *, int)) \
    X(int, faccessat, (int, const char *, int, int)) \
    X(int, euidaccess, (const char *, int)) \
    X(int, eaccess, (const char *, int)) \
    X(DIR *, opendir, (const char *)) \
    X(DIR *, fdopendir, (int)) \
    X(struct dirent *, readdir, (DIR *)) \
    X(struct dirent64 *, readdir64, (DIR *)) \
    X(int, readdir_r, (DIR *, struct dirent *, struct dirent **)) \
    X(int, readdir64_r, (DIR *, struct dirent64 *, struct dirent64 **)) \
    X(int, closedir, (DIR *)) \
    X(void, rewinddir, (DIR *)) \
    X(void, seekdir, (DIR *, long)) \
    X(long, telldir, (DIR *)) \
    X(int, dirfd, (DIR *)) \
    X(int, scandir, (const char *, struct dirent ***, shim_filter_fn, shim_compar_fn)) \
    X(int, scandir64, (const char *, struct dirent64 ***, shim_filter64_fn, shim_compar64_fn)) \
    X(int, scandirat, (int, const char *, struct dirent ***, shim_filter_fn, shim_compar_fn)) \
    X(int, scandirat64, \
      (int, const char *, struct dirent64 ***, shim_filter64_fn, shim_compar64_fn)) \
    X(ssize_t, getdents64, (int, void *, size_t)) \
    X(ssize_t, readlink, (const char *, char *, size_t)) \
    X(ssize_t, readlinkat, (int, const char *, char *, size_t)) \
    X(ssize_t, __readlink_chk, (const char *, char *, size_t, size_t)) \
    X(ssize_t, __readlinkat_chk, (int, const char *, char *, size_t, size_t)) \
    X(char *, realpath, (const char *, char *)) \
    X(char *, __realpath_chk, (const char *, char *, size_t)) \
    X(char *, canonicalize_file_name, (const char *)) \
    X(int, chdir, (const char *)) \
    X(int, fchdir, (int)) \
    X(char *, getcwd, (char *, size_t)) \
    X(char *, getwd, (char *)) \
    X(char *, get_current_dir_name, (void)) \
    X(char *, __getcwd_chk, (char *, size_t, size_t)) \
    X(char *, __getwd_chk, (char *, size_t)) \
    X(FILE *, fopen, (const char *, const char *)) \
    X(FILE *, fopen64, (const char *, const char *)) \
    X(FILE *, freopen, (const char *, const char *, FILE *)) \
    X(FILE *, freopen64, (const char *, const char *, FILE *)) \
    X(FILE *, fdopen, (int, const char *)) \
    X(int, fileno, (FILE *)) \
    X(int, fileno_unlocked, (FILE *)) \
    X(int, fclose, (FILE *)) \
    X(void *, mmap, (void *, size_t, int, int, int, off_t)) \
    X(void *, mmap64, (void *, size_t, int, int, int, off64_t)) \
    X(int, dup, (int)) \
    X(int, dup2, (int, int)) \
    X(int, dup3, (int, int, int)) \
    X(int, fcntl, (int, int, ...)) \
    X(int, fcntl64, (int, int, ...)) \
    X(int, statfs, (const char *, struct statfs *)) \
    X(int, statfs64, (const char *, struct statfs64 *)) \
    X(int, fstatfs, (int, struct statfs *)) \
    X(int, fstatfs64, (int, struct statfs64 *)) \
    X(int, statvfs, (const char *, struct statvfs *)) \
    X(int, statvfs64, (const char *, struct statvfs64 *)) \
    X(int, fstatvfs, (int, struct statvfs *)) \
    X(int, fstatvfs64, (int, struct statvfs64 *)) \
    X(long, pathconf, (const char *, int)) \
    X(int, remove, (const char *)) \
    X(int, glob, (const char *, int, int (*)(const char *, int), glob_t *)) \
    X(int, glob64, (const char *, int, int (*)(const char *, int), glob64_t *)) \
    X(int, posix_fadvise, (int, off_t, off_t, int)) \
    X(int, posix_fadvise64, (int, off64_t, off64_t, int)) \
    X(ssize_t, readahead, (int, off64_t, size_t)) \
    X(ssize_t, sendfile, (int, int, off_t *, size_t)) \
    X(ssize_t, sendfile64, (int, int, off64_t *, size_t)) \
    X(ssize_t, copy_file_range, (int, off64_t *, int, off64_t *, size_t, unsigned)) \
    X(ssize_t, splice, (int, off64_t *, int, off64_t *, size_t, unsigned)) \
    X(int, munmap, (void *, size_t)) \
    X(int, msync, (void *, size_t, int)) \
    X(int, mprotect, (void *, size_t, int)) \
    X(ssize_t, getxattr, (const char *, const char *, void *, size_t)) \
    X(ssize_t, lgetxattr, (const char *, const char *, void *, size_t)) \
    X(ssize_t, fgetxattr, (int, const char *, void *, size_t)) \
    X(ssize_t, listxattr, (const char *, char *, size_t)) \
    X(ssize_t, llistxattr, (const char *, char *, size_t)) \
    X(ssize_t, flistxattr, (int, char *, size_t)) \
    X(int, nftw, (const char *, shim_nftw_fn, int, int)) \
    X(int, nftw64, (const char *, shim_nftw64_fn, int, int)) \
    X(int, ftw, (const char *, shim_ftw_fn, int)) \
    X(int, ftw64, (const char *, shim_ftw64_fn, int)) \
    X(ssize_t, write, (int, const void *, size_t)) \
    X(ssize_t, pwrite, (int, const void *, size_t, off_t)) \
    X(ssize_t, pwrite64, (int, const void *, size_t, off64_t)) \
    X(ssize_t, writev, (int, const struct iovec *, int)) \
    X(ssize_t, pwritev, (int, const struct iovec *, int, off_t)) \
    X(ssize_t, pwritev64, (int, const struct iovec *, int, off64_t)) \
    X(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int)) \
    X(ssize_t, pwritev64v2, (int, const struct iovec *, int, off64_t, int)) \
    X(int, mkdir, (const char *, mode_t)) \
    X(int, mkdirat, (int, const char *, mode_t)) \
    X(int, rmdir, (const char *)) \
    X(int, unlink, (const char *)) \
    X(int, unlinkat, (int, const char *, int)) \
    X(int, rename, (const char *, const char *)) \
    X(int, renameat, (int, const char *, int, const char *)) \
    X(int, renameat2, (int, const char *, int, const char *, unsigned)) \
    X(int, link, (const char *, const char *)) \
    X(int, linkat, (int, const char *, int, const char *, int)) \
    X(int, symlink, (const char *, const char *)) \
    X(int, symlinkat, (const char *, int, const char *)) \
    X(int, mknod, (const char *, mode_t, dev_t)) \
    X(int, mknodat, (int, const char *, mode_t, dev_t)) \
    X(int, __xmknod, (int, const char *, mode_t, dev_t *)) \
    X(int, __xmknodat, (int, int, const char *, mode_t, dev_t *)) \
    X(int, mkfifo, (const char *, mode_t)) \
    X(int, mkfifoat, (int, const char *, mode_t)) \
    X(int, bind, (int, const struct sockaddr *, socklen_t)) \
    X(void *, dlopen, (const char *, int)) \
    X(void *, dlmopen, (long, const char *, int)) \
    X(int, setuid, (uid_t)) \
    X(int, seteuid, (uid_t)) \
    X(int, setreuid, (uid_t, uid_t)) \
    X(int, setresuid, (uid_t, uid_t, uid_t)) \
    X(int, connect, (int, const struct sockaddr *, socklen_t)) \
    X(int, mkstemp, (char *)) \
    X(int, mkstemp64, (char *)) \
    X(int, mkostemp, (char *, int)) \
    X(int, mkostemp64, (char *, int)) \
    X(int, mkstemps, (char *, int)) \
    X(int, mkstemps64, (char *, int)) \
    X(int, mkostemps, (char *, int, int)) \
    X(int, mkostemps64, (char *, int, int)) \
    X(char *, mkdtemp, (char *)) \
    X(int, chmod, (const char *, mode_t)) \
    X(int, fchmod, (int, mode_t)) \
    X(int, fchmodat, (int, const char *, mode_t, int)) \
    X(int, lchmod, (const char *, mode_t)) \
    X(int, chown, (const char *, uid_t, gid_t)) \
    X(int, lchown, (const char *, uid_t, gid_t)) \
    X(int, fchown, (int, uid_t, gid_t)) \
    X(int, fchownat, (int, const char *, uid_t, gid_t, int)) \
    X(int, truncate, (const char *, off_t)) \
    X(int, truncate64, (const char *, off64_t)) \
    X(int, ftruncate, (int, off_t)) \
    X(int, ftruncate64, (int, off64_t)) \
    X(int, utimensat, (int, const char *, const struct timespec *, int)) \
    X(int, futimens, (int, const struct timespec *)) \
    X(int, utimes, (const char *, const struct timeval *)) \
    X(int, lutimes, (const char *, const struct timeval *)) \
    X(int, futimes, (int, const struct timeval *)) \
    X(int, futimesat, (int, const char *, const struct timeval *)) \
    X(int, utime, (const char *, const struct utimbuf *)) \
    X(int, setxattr, (const char *, const char *, const void *, size_t, int)) \
    X(int, lsetxattr, (const char *, const char *, const void *, size_t, int)) \
    X(int, fsetxattr, (int, const char *, const void *, size_t, int)) \
    X(int, removexattr, (const char *, const char *)) \
    X(int, lremovexattr, (const char *, const char *)) \
    X(int, fremovexattr, (int, const char *)) \
    X(int, fsync, (int)) \
    X(int, fdatasync, (int)) \
    X(int, syncfs, (int)) \
    X(void, sync, (void)) \
    X(int, sync_file_range, (int, off64_t, off64_t, unsigned)) \
    X(int, fallocate, (int, int, off_t, off_t)) \
    X(int, fallocate64, (int, int, off64_t, off64_t)) \
    X(int, posix_fallocate, (int, off_t, off_t)) \
    X(int, posix_fallocate64, (int, off64_t, off64_t)) \
    X(int, flock, (int, int)) \
    X(int, lockf, (int, int, off_t)) \
    X(int, lockf64, (int, int, off64_t)) \
    X(void, __chk_fail, (void)) \
    X(int, execve, (const char *, char *const[], char *const[])) \
    X(int, execv, (const char *, char *const[])) \
    X(int, execvp, (const char *, char *const[])) \
    X(int, execvpe, (const char *, char *const[], char *const[])) \
    X(int, fexecve, (int, char *const[], char *const[])) \
    X(int, execveat, (int, const char *, char *const[], char *const[], int)) \
    X(int, posix_spawn, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, \
       char *const[], char *const[])) \
    X(int, posix_spawnp, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, \
       char *const[], char *const[])) \
    X(long, syscall, (long, ...))

#define SHIM_REAL_DECLARE(ret, name, params) extern ret (*shim_real_##name) params;
SHIM_REAL_LIST(SHIM_REAL_DECLARE)
#undef SHIM_REAL_DECLARE

void shim_real_init(void);

/* The real function; resolves everything on first use if the constructor
 * has not run yet. */
#define REAL(name) \
    (__builtin_expect(shim_real_##name != NULL, 1) ? shim_real_##name \
                                                   : (shim_real_init(), shim_real_##name))

#endif

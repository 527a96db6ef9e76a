/* shim_badpath.c - every path-taking call the shim intercepts, given a NULL
 * and an unmapped (0xdeadc0de) pointer in each of its path (and xattr
 * name) arguments, the other arguments valid. Each call runs in a child;
 * one line per case: "name arg ptr -> ret errno" or "name arg ptr -> signal N".
 *
 *   shim_badpath DIR     DIR holds a file "f" and a directory "d"
 *
 * Run natively on a local DIR and under the shim on a volume DIR (cwd
 * inside or outside the prefix): the outputs must be equal, and under the
 * shim no line may say "signal" where the native run did not
 * (tests/integration/test_badpath.sh).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

/* glibc's compatibility and fortify entry points (exported, not declared). */
extern int __xstat(int, const char *, struct stat *);
extern int __lxstat(int, const char *, struct stat *);
extern int __fxstatat(int, int, const char *, struct stat *, int);
extern int __xstat64(int, const char *, struct stat64 *);
extern int __lxstat64(int, const char *, struct stat64 *);
extern int __fxstatat64(int, int, const char *, struct stat64 *, int);
extern int __xmknod(int, const char *, mode_t, dev_t *);
extern int __xmknodat(int, int, const char *, mode_t, dev_t *);
extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);
extern int __openat_2(int, const char *, int);
extern int __openat64_2(int, const char *, int);
extern ssize_t __readlink_chk(const char *, char *, size_t, size_t);
extern ssize_t __readlinkat_chk(int, const char *, char *, size_t, size_t);
extern char *__realpath_chk(const char *, char *, size_t);

static const char *g_dir;
static char g_f[4096], g_d[4096], g_new[4096];

/* a: the argument under test (bad), the rest valid; returns the result
 * as a long (pointer results: -1 for NULL, 1 otherwise). */
typedef long (*bp_fn)(const char *a);

static int nftw_cb(const char *p, const struct stat *s, int t, struct FTW *f)
{
    (void)p; (void)s; (void)t; (void)f;
    return 0;
}
static int ftw_cb(const char *p, const struct stat *s, int t)
{
    (void)p; (void)s; (void)t;
    return 0;
}

static struct stat st;
static struct stat64 st64;
static struct statfs sfs;
static struct statvfs svfs;
static struct statx stx;
static char buf[4096];
static struct timeval tv[2];
static struct timespec ts[2];

#define P(x) ((x) != NULL ? 1 : -1)
/* Handing libc NULL where it declares nonnull is this tool's subject, not
 * a finding: UBSan (make check SANITIZE=1) is told not to check these. */
#define BP(name, expr) \
    __attribute__((no_sanitize_undefined)) static long bp_##name(const char *a) { return (long)(expr); }
BP(access, access(a, F_OK))
BP(eaccess, eaccess(a, F_OK))
BP(euidaccess, euidaccess(a, F_OK))
BP(faccessat, faccessat(AT_FDCWD, a, F_OK, 0))
BP(chdir, chdir(a))
BP(chmod, chmod(a, 0644))
BP(fchmodat, fchmodat(AT_FDCWD, a, 0644, 0))
BP(lchmod, lchmod(a, 0644))
BP(chown, chown(a, (uid_t)-1, (gid_t)-1))
BP(lchown, lchown(a, (uid_t)-1, (gid_t)-1))
BP(fchownat, fchownat(AT_FDCWD, a, (uid_t)-1, (gid_t)-1, 0))
BP(creat, creat(a, 0644))
BP(creat64, creat64(a, 0644))
BP(open, open(a, O_RDONLY))
BP(open64, open64(a, O_RDONLY))
BP(openat, openat(AT_FDCWD, a, O_RDONLY))
BP(openat64, openat64(AT_FDCWD, a, O_RDONLY))
BP(__open_2, __open_2(a, O_RDONLY))
BP(__open64_2, __open64_2(a, O_RDONLY))
BP(__openat_2, __openat_2(AT_FDCWD, a, O_RDONLY))
BP(__openat64_2, __openat64_2(AT_FDCWD, a, O_RDONLY))
BP(fopen, P(fopen(a, "r")))
BP(fopen64, P(fopen64(a, "r")))
BP(freopen, P(freopen(a, "r", fopen(g_f, "r"))))
BP(freopen64, P(freopen64(a, "r", fopen(g_f, "r"))))
BP(stat, stat(a, &st))
BP(stat64, stat64(a, &st64))
BP(lstat, lstat(a, &st))
BP(lstat64, lstat64(a, &st64))
BP(fstatat, fstatat(AT_FDCWD, a, &st, 0))
BP(fstatat64, fstatat64(AT_FDCWD, a, &st64, 0))
BP(__xstat, __xstat(1, a, &st))
BP(__lxstat, __lxstat(1, a, &st))
BP(__fxstatat, __fxstatat(1, AT_FDCWD, a, &st, 0))
BP(__xstat64, __xstat64(1, a, &st64))
BP(__lxstat64, __lxstat64(1, a, &st64))
BP(__fxstatat64, __fxstatat64(1, AT_FDCWD, a, &st64, 0))
BP(statx, statx(AT_FDCWD, a, 0, STATX_BASIC_STATS, &stx))
BP(sys_statx, syscall(SYS_statx, AT_FDCWD, a, 0, STATX_BASIC_STATS, &stx))
BP(statfs, statfs(a, &sfs))
BP(statfs64, statfs64(a, (struct statfs64 *)&sfs))
BP(statvfs, statvfs(a, &svfs))
BP(statvfs64, statvfs64(a, (struct statvfs64 *)&svfs))
BP(mkdir, mkdir(a, 0755))
BP(mkdirat, mkdirat(AT_FDCWD, a, 0755))
BP(mkfifo, mkfifo(a, 0644))
BP(mkfifoat, mkfifoat(AT_FDCWD, a, 0644))
BP(mknod, mknod(a, S_IFREG | 0644, 0))
BP(mknodat, mknodat(AT_FDCWD, a, S_IFREG | 0644, 0))
static dev_t dev0;
BP(__xmknod, __xmknod(0, a, S_IFREG | 0644, &dev0))
BP(__xmknodat, __xmknodat(0, AT_FDCWD, a, S_IFREG | 0644, &dev0))
BP(rmdir, rmdir(a))
BP(unlink, unlink(a))
BP(unlinkat, unlinkat(AT_FDCWD, a, 0))
BP(truncate, truncate(a, 0))
BP(truncate64, truncate64(a, 0))
BP(utime, utime(a, NULL))
BP(utimes, utimes(a, tv))
BP(lutimes, lutimes(a, tv))
BP(utimensat, utimensat(AT_FDCWD, a, ts, 0))
BP(futimesat, futimesat(AT_FDCWD, a, tv))
BP(readlink, readlink(a, buf, sizeof buf))
BP(readlinkat, readlinkat(AT_FDCWD, a, buf, sizeof buf))
BP(__readlink_chk, __readlink_chk(a, buf, sizeof buf, sizeof buf))
BP(__readlinkat_chk, __readlinkat_chk(AT_FDCWD, a, buf, sizeof buf, sizeof buf))
BP(realpath, P(realpath(a, buf)))
BP(__realpath_chk, P(__realpath_chk(a, buf, sizeof buf)))
BP(canonicalize_file_name, P(canonicalize_file_name(a)))
BP(opendir, P(opendir(a)))
BP(nftw, nftw(a, nftw_cb, 4, FTW_PHYS))
BP(ftw, ftw(a, ftw_cb, 4))
BP(getxattr, getxattr(a, "user.x", buf, sizeof buf))
BP(lgetxattr, lgetxattr(a, "user.x", buf, sizeof buf))
BP(setxattr, setxattr(a, "user.x", "v", 1, 0))
BP(lsetxattr, lsetxattr(a, "user.x", "v", 1, 0))
BP(listxattr, listxattr(a, buf, sizeof buf))
BP(llistxattr, llistxattr(a, buf, sizeof buf))
BP(removexattr, removexattr(a, "user.x"))
BP(lremovexattr, lremovexattr(a, "user.x"))
/* second argument: an xattr name */
BP(getxattr_name, getxattr(g_f, a, buf, sizeof buf))
BP(setxattr_name, setxattr(g_f, a, "v", 1, 0))
BP(removexattr_name, removexattr(g_f, a))
/* two paths: the bad one first, then second */
BP(rename_1, rename(a, g_new))
BP(rename_2, rename(g_f, a))
BP(renameat_1, renameat(AT_FDCWD, a, AT_FDCWD, g_new))
BP(renameat_2, renameat(AT_FDCWD, g_f, AT_FDCWD, a))
BP(renameat2_1, renameat2(AT_FDCWD, a, AT_FDCWD, g_new, 0))
BP(renameat2_2, renameat2(AT_FDCWD, g_f, AT_FDCWD, a, 0))
BP(link_1, link(a, g_new))
BP(link_2, link(g_f, a))
BP(linkat_1, linkat(AT_FDCWD, a, AT_FDCWD, g_new, 0))
BP(linkat_2, linkat(AT_FDCWD, g_f, AT_FDCWD, a, 0))
BP(symlink_1, symlink(a, g_new))
BP(symlink_2, symlink(g_f, a))
BP(symlinkat_1, symlinkat(a, AT_FDCWD, g_new))
BP(symlinkat_2, symlinkat(g_f, AT_FDCWD, a))

#define E(name) { #name, bp_##name }
static const struct { const char *name; bp_fn fn; } bp_calls[] = {
    E(access), E(eaccess), E(euidaccess), E(faccessat), E(chdir), E(chmod), E(fchmodat),
    E(lchmod), E(chown), E(lchown), E(fchownat), E(creat), E(creat64), E(open), E(open64),
    E(openat), E(openat64), E(__open_2), E(__open64_2), E(__openat_2), E(__openat64_2),
    E(fopen), E(fopen64), E(freopen), E(freopen64), E(stat), E(stat64), E(lstat), E(lstat64),
    E(fstatat), E(fstatat64), E(__xstat), E(__lxstat), E(__fxstatat), E(__xstat64),
    E(__lxstat64), E(__fxstatat64), E(statx), E(sys_statx), E(statfs), E(statfs64),
    E(statvfs), E(statvfs64), E(mkdir), E(mkdirat), E(mkfifo), E(mkfifoat), E(mknod),
    E(mknodat), E(__xmknod), E(__xmknodat), E(rmdir), E(unlink), E(unlinkat), E(truncate),
    E(truncate64), E(utime), E(utimes), E(lutimes), E(utimensat), E(futimesat), E(readlink),
    E(readlinkat), E(__readlink_chk), E(__readlinkat_chk), E(realpath), E(__realpath_chk),
    E(canonicalize_file_name), E(opendir), E(nftw), E(ftw), E(getxattr), E(lgetxattr),
    E(setxattr), E(lsetxattr), E(listxattr), E(llistxattr), E(removexattr), E(lremovexattr),
    E(getxattr_name), E(setxattr_name), E(removexattr_name), E(rename_1), E(rename_2),
    E(renameat_1), E(renameat_2), E(renameat2_1), E(renameat2_2), E(link_1), E(link_2),
    E(linkat_1), E(linkat_2), E(symlink_1), E(symlink_2), E(symlinkat_1), E(symlinkat_2),
};

static void bp_run(const char *name, bp_fn fn, const char *ptr, const char *label)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        errno = 0;
        long r = fn(ptr);
        const char *e = errno ? strerrorname_np(errno) : "0";
        printf("%s %s -> %ld %s\n", name, label, r < 0 ? -1L : r > 0 ? 1L : 0L, r < 0 ? e : "-");
        fflush(stdout);
        _exit(0);
    }
    int s = 0;
    waitpid(pid, &s, 0);
    if (WIFSIGNALED(s))
        printf("%s %s -> signal %d\n", name, label, WTERMSIG(s));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    snprintf(g_f, sizeof g_f, "%s/f", g_dir);
    snprintf(g_d, sizeof g_d, "%s/d", g_dir);
    snprintf(g_new, sizeof g_new, "%s/new", g_dir);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    for (size_t i = 0; i < sizeof bp_calls / sizeof bp_calls[0]; i++) {
        bp_run(bp_calls[i].name, bp_calls[i].fn, NULL, "NULL");
        bp_run(bp_calls[i].name, bp_calls[i].fn, (const char *)0xdeadc0deUL, "0xdeadc0de");
    }
    return 0;
}

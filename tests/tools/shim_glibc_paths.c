/* shim_glibc_paths.c - the file calls glibc makes internally and programs
 * make raw, on a volume folder (issue 12: remove, pathconf and glob went
 * through glibc's own unlink/statfs/opendir and answered ENOENT; raw
 * syscall(SYS_openat, ...) and friends missed the volume).
 *
 *   shim_glibc_paths DIR
 *
 * DIR is an empty volume folder. One line per check: name and result.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utime.h>

static const char *err(long r) { return r < 0 ? strerrorname_np(errno) : "0"; }

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char p[4096], q[4096];
    snprintf(p, sizeof p, "%s/a.txt", argv[1]);
    FILE *f = fopen(p, "w");
    if (!f || fputs("abc", f) < 0 || fclose(f) != 0)
        return 3;
    snprintf(q, sizeof q, "%s/b.txt", argv[1]);
    if ((f = fopen(q, "w")) == NULL || fclose(f) != 0)
        return 3;

    char pat[4096];
    glob_t g;
    snprintf(pat, sizeof pat, "%s/*.txt", argv[1]);
    int r = glob(pat, 0, NULL, &g);
    printf("glob %d %zu\n", r, r == 0 ? g.gl_pathc : 0);
    if (r == 0)
        globfree(&g);
    if (chdir(argv[1]) == 0) {
        r = glob("?.txt", 0, NULL, &g);
        printf("glob-relative %d %zu\n", r, r == 0 ? g.gl_pathc : 0);
        if (r == 0)
            globfree(&g);
        r = chdir("/");
    }
    snprintf(pat, sizeof pat, "%s/*.none", argv[1]);
    printf("glob-nomatch %d\n", glob(pat, 0, NULL, &g));

    errno = 0;
    long v = pathconf(p, _PC_NAME_MAX);
    printf("pathconf %ld %s\n", v, v < 0 ? strerrorname_np(errno) : "0");
    snprintf(pat, sizeof pat, "%s/missing", argv[1]);
    errno = 0;
    v = pathconf(pat, _PC_NAME_MAX);
    printf("pathconf-missing %ld %s\n", v, v < 0 ? strerrorname_np(errno) : "0");

    long fd = syscall(SYS_openat, AT_FDCWD, p, O_RDONLY);
    char buf[8] = "";
    long n = fd >= 0 ? syscall(SYS_read, fd, buf, sizeof buf - 1) : -1;
    printf("raw-openat %s %ld %s\n", err(fd), n, buf);
    struct stat st;
    memset(&st, 0, sizeof st);
    long sr = syscall(SYS_newfstatat, AT_FDCWD, p, &st, 0);
    printf("raw-newfstatat %s %lld\n", err(sr), (long long)st.st_size);
    long wfd = syscall(SYS_openat, AT_FDCWD, q, O_RDWR);
    long w = wfd >= 0 ? syscall(SYS_pwrite64, wfd, "12345", 5, 0) : -1;
    long t = wfd >= 0 ? syscall(SYS_ftruncate, wfd, 4) : -1;
    long s = wfd >= 0 ? syscall(SYS_fsync, wfd) : -1;
    long o = wfd >= 0 ? syscall(SYS_lseek, wfd, 0, SEEK_END) : -1;
    memset(buf, 0, sizeof buf);
    long rn = wfd >= 0 ? syscall(SYS_pread64, wfd, buf, sizeof buf - 1, 0) : -1;
    printf("raw-data %ld %ld %ld %ld %ld %s\n", w, t, s, o, rn, buf);
    if (wfd >= 0)
        close((int)wfd);
    struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };
    long ur = syscall(SYS_utimensat, AT_FDCWD, q, ts, 0);
    struct stat ust;
    memset(&ust, 0, sizeof ust);
    stat(q, &ust);
    struct utimbuf ub = { 3000, 4000 };
    long ur2 = syscall(SYS_utime, q, &ub);
    struct stat ust2;
    memset(&ust2, 0, sizeof ust2);
    stat(q, &ust2);
    printf("raw-utime %s %lld %s %lld\n", err(ur), (long long)ust.st_mtime, err(ur2),
           (long long)ust2.st_mtime);
    printf("raw-close %s\n", err(fd >= 0 ? syscall(SYS_close, fd) : -1));
    snprintf(pat, sizeof pat, "%s/sub", argv[1]);
    printf("raw-mkdirat %s\n", err(syscall(SYS_mkdirat, AT_FDCWD, pat, 0755)));
    snprintf(buf, sizeof buf, "c.txt");
    snprintf(pat, sizeof pat, "%s/c.txt", argv[1]);
    printf("raw-renameat2 %s\n", err(syscall(SYS_renameat2, AT_FDCWD, q, AT_FDCWD, pat, 0)));
    printf("raw-unlinkat %s\n", err(syscall(SYS_unlinkat, AT_FDCWD, pat, 0)));

    printf("remove-file %s\n", err(remove(p)));
    snprintf(pat, sizeof pat, "%s/sub", argv[1]);
    printf("remove-dir %s\n", err(remove(pat)));
    printf("remove-missing %s\n", err(remove(p)));
    return 0;
}

/* shim_calls.c - one call of every interposed family on a tree, for the
 * shim's integration test: run it once on the volume under the shim and once
 * on the local copy of the tree; the reports must be equal.
 *
 *   shim_calls ROOT          ROOT holds the test tree (see test_shim_read.sh):
 *                            one-byte, four-mib-plus-1, seventy-mib, rel-link,
 *                            loop-a, dir/, dir/sub/ (t1.txt ... t40.txt)
 *
 * Prints "family: result" lines with the root replaced by "ROOT" and file
 * contents as hashes. Covers stdio (fopen, fdopen, freopen, fileno, fseek),
 * directory streams (readdir, readdir_r, telldir/seekdir, rewinddir,
 * fdopendir, scandir, scandirat), nftw/ftw, realpath, readlink(at),
 * access, the stat family (incl. __xstat and statx), *at() calls with a
 * directory descriptor, fchdir/getcwd, dup/dup2/dup3/fcntl, lseek
 * (SEEK_END, SEEK_DATA, SEEK_HOLE), pread/readv/preadv/preadv2, sendfile,
 * copy_file_range, mmap, posix_fadvise/readahead, getdents64, and errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int __xstat(int ver, const char *path, struct stat *st);

static const char *root;
static size_t root_len;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static const char *P(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", root, rel);
    return buf[i];
}

/* A path as printed: the root replaced. */
static const char *R(const char *path)
{
    static char buf[PATH_MAX];
    if (path && strncmp(path, root, root_len) == 0)
        snprintf(buf, sizeof buf, "ROOT%s", path + root_len);
    else
        snprintf(buf, sizeof buf, "%s", path ? path : "(null)");
    return buf;
}

static void say(const char *family, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *family, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", family);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static const char *E(int rc) { return rc < 0 ? strerror(errno) : "ok"; }

static void t_stdio(void)
{
    FILE *f = fopen(P("seventy-mib"), "re");
    if (!f) {
        say("fopen", "%s", strerror(errno));
        return;
    }
    char buf[65536];
    uint64_t h = 0xcbf29ce484222325ull;
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = fnv(h, buf, n);
        total += n;
    }
    say("fread", "%zu %016llx", total, (unsigned long long)h);
    struct stat st = { 0 };
    int fd = fileno(f);
    int rc = fd >= 0 ? fstat(fd, &st) : -1;
    say("fileno+fstat", "%s %lld", E(rc), (long long)st.st_size);
    fseek(f, -10, SEEK_END);
    long at = ftell(f);
    n = fread(buf, 1, 100, f);
    say("fseek/ftell", "%ld %zu %016llx", at, n, (unsigned long long)fnv(0, buf, n));
    rewind(f);
    n = fread(buf, 1, 7, f);
    say("rewind", "%016llx", (unsigned long long)fnv(0, buf, n));
    say("fclose", "%d", fclose(f));

    f = fopen(P("dir/sub/t7.txt"), "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lines = 0;
    while (f && (len = getline(&line, &cap, f)) > 0)
        lines++;
    say("getline", "%d %s", lines, line ? line : "");
    free(line);
    if (f)
        fclose(f);

    int ofd = open(P("four-mib-plus-1"), O_RDONLY);
    f = fdopen(ofd, "r");
    n = f ? fread(buf, 1, sizeof buf, f) : 0;
    say("fdopen", "%zu %016llx fileno-same=%d", n, (unsigned long long)fnv(0, buf, n),
        f ? fileno(f) == ofd : -1);
    if (f)
        fclose(f);
    say("fopen missing", "%s", fopen(P("no-such"), "r") ? "opened" : strerror(errno));
}

/* freopen on stdin in a child: stdio and read(0) both see the file. */
static void t_freopen(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char buf[4096];
        FILE *f = freopen(P("four-mib-plus-1"), "r", stdin);
        size_t n = f ? fread(buf, 1, 100, stdin) : 0;
        ssize_t m = f ? read(0, buf + 100, 100) : -1;
        say("freopen stdin", "%s %d %zu %zd %016llx", f ? "ok" : strerror(errno),
            f ? fileno(f) : -1, n, m, (unsigned long long)fnv(0, buf, 100));
        f = freopen(P("dir/sub/t9.txt"), "r", stdin);
        n = f ? fread(buf, 1, sizeof buf, stdin) : 0;
        say("freopen again", "%zu %.*s", n, (int)(n > 0 ? n - 1 : 0), buf);
        exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void t_dirs(void)
{
    DIR *d = opendir(P("dir/sub"));
    if (!d) {
        say("opendir", "%s", strerror(errno));
        return;
    }
    char *names[128];
    int n = 0;
    long third = -1;
    char third_name[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) && n < 128) {
        if (n == 3) {
            third = telldir(d);
        }
        if (n == 4)
            snprintf(third_name, sizeof third_name, "%s", e->d_name);
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%s:%d", e->d_name, e->d_type);
        names[n++] = strdup(tmp);
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    printf("readdir:");
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
    seekdir(d, third);
    e = readdir(d);
    say("telldir/seekdir", "%d", e && strcmp(e->d_name, third_name) == 0);
    rewinddir(d);
    int again = 0;
    while (readdir(d))
        again++;
    say("rewinddir", "%d", again == n);
    struct stat st = { 0 };
    int rc = fstat(dirfd(d), &st);
    say("dirfd+fstat", "%s dir=%d", E(rc), S_ISDIR(st.st_mode));
    int sub = openat(dirfd(d), "deeper", O_RDONLY | O_DIRECTORY);
    DIR *d2 = sub >= 0 ? fdopendir(sub) : NULL;
    struct dirent ent, *res;
    int cnt = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    while (d2 && readdir_r(d2, &ent, &res) == 0 && res)
        cnt++;
#pragma GCC diagnostic pop
    say("openat+fdopendir+readdir_r", "%d", cnt);
    if (d2)
        closedir(d2);
    say("closedir", "%d", closedir(d));

    struct dirent **list;
    int k = scandir(P("dir/sub"), &list, NULL, alphasort);
    say("scandir", "%d %s %s", k, k > 2 ? list[2]->d_name : "", k > 0 ? list[k - 1]->d_name : "");
    for (int i = 0; i < k; i++)
        free(list[i]);
    if (k >= 0)
        free(list);
    int dfd = open(P("dir"), O_RDONLY | O_DIRECTORY);
    k = scandirat(dfd, "sub", &list, NULL, versionsort);
    say("scandirat", "%d %s", k, k > 5 ? list[5]->d_name : "");
    for (int i = 0; i < k; i++)
        free(list[i]);
    if (k >= 0)
        free(list);
    close(dfd);
    say("opendir of a file", "%s", opendir(P("one-byte")) ? "opened" : strerror(errno));
}

static int walk_count, walk_levels;
static uint64_t walk_hash;
static int walk_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
    walk_count++;
    walk_levels += f->level;
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "%s %d %lld %d", R(path), type,
                     S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size, f->base - (int)root_len);
    walk_hash += fnv(0xcbf29ce484222325ull, line, (size_t)n); /* any visiting order */
    return 0;
}

static int walk_chdir_ok;
static int walk_chdir_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)type;
    struct stat a, b;
    /* the object is reachable by its base name from the cwd */
    if (lstat(path + f->base, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino)
        walk_chdir_ok++;
    return 0;
}

static int ftw_count;
static int ftw_fn(const char *path, const struct stat *st, int type)
{
    (void)path;
    (void)st;
    ftw_count += type + 1;
    return 0;
}

static int walk_stop_fn(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    walk_count++;
    if (type == FTW_D && strstr(path, "/sub"))
        return FTW_SKIP_SUBTREE;
    return 0;
}

static void t_walk(void)
{
    static const int flag_sets[] = { 0, FTW_PHYS, FTW_PHYS | FTW_DEPTH, FTW_MOUNT };
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        walk_count = walk_levels = 0;
        walk_hash = 0;
        int rc = nftw(P("dir"), walk_fn, 4, flag_sets[i]);
        say("nftw", "flags %d: %d %d %d %016llx", flag_sets[i], rc, walk_count, walk_levels,
            (unsigned long long)walk_hash);
    }
    walk_chdir_ok = 0;
    char before[PATH_MAX], after[PATH_MAX];
    getcwd(before, sizeof before);
    int rc = nftw(P("dir"), walk_chdir_fn, 4, FTW_PHYS | FTW_CHDIR);
    getcwd(after, sizeof after);
    say("nftw FTW_CHDIR", "%d %d cwd-restored=%d", rc, walk_chdir_ok, strcmp(before, after) == 0);
    walk_count = 0;
    rc = nftw(P("dir"), walk_stop_fn, 4, FTW_ACTIONRETVAL);
    say("nftw FTW_ACTIONRETVAL", "%d %d", rc, walk_count);
    ftw_count = 0;
    rc = ftw(P("dir"), ftw_fn, 4);
    say("ftw", "%d %d", rc, ftw_count);
    rc = nftw(P("no-such"), walk_fn, 4, 0);
    say("nftw missing", "%d %s", rc, strerror(errno));
}

static void t_paths(void)
{
    char buf[PATH_MAX];
    char *r = realpath(P("rel-link"), buf);
    say("realpath", "%s", r ? R(r) : strerror(errno));
    r = realpath(P("dir/sub/../sub/./t1.txt"), NULL);
    say("realpath ..", "%s", r ? R(r) : strerror(errno));
    free(r);
    r = canonicalize_file_name(P("dir/sub/up-link"));
    say("canonicalize_file_name", "%s", r ? R(r) : strerror(errno));
    free(r);
    say("realpath missing", "%s", realpath(P("dir/none"), buf) ? "found" : strerror(errno));
    ssize_t n = readlink(P("rel-link"), buf, sizeof buf);
    say("readlink", "%zd %.*s", n, (int)(n > 0 ? n : 0), buf);
    n = readlink(P("rel-link"), buf, 3);
    say("readlink short", "%zd %.*s", n, (int)(n > 0 ? n : 0), buf);
    int dfd = open(P("dir/sub"), O_RDONLY | O_DIRECTORY);
    n = readlinkat(dfd, "up-link", buf, sizeof buf);
    say("readlinkat", "%zd %.*s", n, (int)(n > 0 ? n : 0), buf);
    say("readlink of a file", "%s", E((int)readlink(P("one-byte"), buf, sizeof buf)));
    say("access", "%s %s %s %s", E(access(P("one-byte"), R_OK)), E(access(P("one-byte"), X_OK)),
        E(access(P("dir"), X_OK)), E(access(P("none"), F_OK)));
    say("faccessat", "%s %s", E(faccessat(dfd, "t1.txt", R_OK, AT_EACCESS)),
        E(faccessat(dfd, "up-link", F_OK, AT_SYMLINK_NOFOLLOW)));
    say("euidaccess", "%s", E(euidaccess(P("dir/sub/t2.txt"), X_OK)));
    struct stat st = { 0 }, lst = { 0 }, xst = { 0 };
    int r1 = stat(P("rel-link"), &st), r2 = lstat(P("rel-link"), &lst);
    say("stat/lstat", "%s %lld %s %d", E(r1), (long long)st.st_size, E(r2), S_ISLNK(lst.st_mode));
    r1 = fstatat(dfd, "t2.txt", &st, 0);
    r2 = fstatat(dfd, "up-link", &lst, AT_SYMLINK_NOFOLLOW);
    say("fstatat", "%s %o %s %d", E(r1), st.st_mode & 07777, E(r2), S_ISLNK(lst.st_mode));
    r1 = __xstat(1, P("four-mib-plus-1"), &xst);
    say("__xstat", "%s %lld", E(r1), (long long)xst.st_size);
    struct statx sx = { 0 };
    int rc = statx(dfd, "t3.txt", 0, STATX_BASIC_STATS, &sx);
    say("statx", "%s %llu %lld", E(rc), (unsigned long long)sx.stx_size, (long long)sx.stx_mtime.tv_sec);
    rc = statx(dfd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx);
    say("statx AT_EMPTY_PATH", "%s dir=%d", E(rc), S_ISDIR(sx.stx_mode));
    close(dfd);
}

static void t_cwd(void)
{
    char cwd[PATH_MAX], saved[PATH_MAX];
    getcwd(saved, sizeof saved);
    int dfd = open(P("dir/sub"), O_RDONLY | O_DIRECTORY);
    int rc = fchdir(dfd);
    char *got = getcwd(cwd, sizeof cwd);
    say("fchdir+getcwd", "%s %s", E(rc), R(got));
    int fd = open("t11.txt", O_RDONLY);
    char buf[64];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    say("relative open in a volume cwd", "%zd %.*s", n, (int)(n > 0 ? n - 1 : 0), buf);
    close(fd);
    rc = chdir("deeper");
    char *dn = get_current_dir_name();
    say("chdir relative+get_current_dir_name", "%s %s", E(rc), R(dn));
    free(dn);
    rc = chdir("../..");
    got = getcwd(cwd, sizeof cwd);
    say("chdir ..", "%s %s", E(rc), R(got));
    got = getcwd(cwd, 3);
    say("getcwd ERANGE", "%s", got ? "fits" : strerror(errno));
    rc = chdir(P("one-byte"));
    say("chdir into a file", "%s", E(rc));
    rc = chdir(saved);
    got = getcwd(cwd, sizeof cwd);
    say("chdir back", "%s %d", E(rc), got && strcmp(got, saved) == 0);
    close(dfd);
}

static void t_fds(void)
{
    int fd = open(P("four-mib-plus-1"), O_RDONLY);
    char a[1000], b[1000];
    read(fd, a, 10);
    int d1 = dup(fd);
    read(d1, a, 10);
    int d2 = dup2(fd, 100);
    int d3 = dup3(fd, 101, O_CLOEXEC);
    int d4 = fcntl(fd, F_DUPFD_CLOEXEC, 50);
    read(d4, b, 10);
    off_t shared = lseek(d3, 0, SEEK_CUR);
    say("dup family share the position", "%d %d %d %lld", d2, d3, d4 >= 50, (long long)shared);
    say("F_GETFL", "%o", fcntl(d2, F_GETFL) & O_ACCMODE);
    close(d1);
    close(d2);
    close(d3);
    close(d4);
    say("lseek SEEK_END", "%lld", (long long)lseek(fd, -5, SEEK_END));
    off_t data = lseek(fd, 100, SEEK_DATA), hole = lseek(fd, 100, SEEK_HOLE);
    int beyond = (int)lseek(fd, 1 << 30, SEEK_DATA);
    say("lseek SEEK_DATA/HOLE", "%lld %lld %s", (long long)data, (long long)hole, E(beyond));
    off_t pos;
    ssize_t n = pread(fd, a, sizeof a, 4194300);
    say("pread at the block edge", "%zd %016llx", n, (unsigned long long)fnv(0, a, (size_t)(n > 0 ? n : 0)));
    lseek(fd, 4194000, SEEK_SET);
    struct iovec iov[2] = { { a, 300 }, { b, 700 } };
    n = readv(fd, iov, 2);
    pos = lseek(fd, 0, SEEK_CUR);
    say("readv", "%zd %016llx %016llx %lld", n, (unsigned long long)fnv(0, a, 300),
        (unsigned long long)fnv(0, b, 7), (long long)pos);
    n = preadv(fd, iov, 2, 17);
    say("preadv", "%zd %016llx", n, (unsigned long long)fnv(0, a, 300));
    lseek(fd, 5, SEEK_SET);
    n = preadv2(fd, iov, 1, -1, 0);
    pos = lseek(fd, 0, SEEK_CUR);
    say("preadv2 -1", "%zd %lld", n, (long long)pos);
    int adv1 = posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED), adv2 = posix_fadvise(fd, 0, 0, 99);
    say("posix_fadvise", "%d %d", adv1, adv2);
    say("readahead", "%s", E((int)readahead(fd, 0, 1 << 20)));

    char tmpl[] = "/tmp/shim_calls.XXXXXX";
    int out = mkstemp(tmpl);
    unlink(tmpl);
    off_t off = 1000;
    n = sendfile(out, fd, &off, 3 << 20);
    lseek(fd, 4194300, SEEK_SET);
    ssize_t m = sendfile(out, fd, NULL, 100);
    pos = lseek(fd, 0, SEEK_CUR);
    say("sendfile", "%zd %lld %zd %lld", n, (long long)off, m, (long long)pos);
    loff_t in_off = 2, out_off = 0;
    ssize_t c = copy_file_range(fd, &in_off, out, &out_off, 5000000, 0);
    /* a native or local source may copy in the kernel or refuse (EXDEV) */
    say("copy_file_range", "%s", c == 4194303 || (c < 0 && errno == EXDEV) ? "ok" : strerror(errno));
    close(out);

    void *map = mmap(NULL, 4194305, PROT_READ, MAP_PRIVATE, fd, 0);
    say("mmap", "%s %016llx", map == MAP_FAILED ? strerror(errno) : "ok",
        map == MAP_FAILED ? 0ULL : (unsigned long long)fnv(0, (char *)map + 4194000, 305));
    if (map != MAP_FAILED)
        munmap(map, 4194305);
    map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    say("mmap shared writable", "%s", map == MAP_FAILED ? strerror(errno) : "mapped");
    close(fd);

    fd = open(P("one-byte"), O_RDONLY);
    map = mmap(NULL, 1, PROT_READ, MAP_SHARED, fd, 0);
    say("mmap of a small file", "%s %c", map == MAP_FAILED ? strerror(errno) : "ok",
        map == MAP_FAILED ? '-' : *(char *)map);
    close(fd);
}

static void t_errors(void)
{
    static const struct { const char *what, *rel; int flags; } cases[] = {
        { "ENOENT", "no-such-file", O_RDONLY },
        { "ENOTDIR", "one-byte/x", O_RDONLY },
        { "ELOOP", "loop-a", O_RDONLY },
        { "O_NOFOLLOW", "rel-link", O_RDONLY | O_NOFOLLOW },
        { "O_DIRECTORY on a file", "one-byte", O_RDONLY | O_DIRECTORY },
        { "EISDIR", "dir", O_WRONLY },
        { "O_CREAT|O_EXCL on an existing file", "one-byte", O_RDONLY | O_CREAT | O_EXCL },
        { "O_CREAT on an existing file, read-only", "one-byte", O_RDONLY | O_CREAT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = open(P(cases[i].rel), cases[i].flags, 0644);
        say("open", "%s: %s", cases[i].what, fd >= 0 ? "opened" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    int fd = open(P("dir"), O_RDONLY | O_DIRECTORY);
    char buf[16];
    say("read of a directory", "%s", E((int)read(fd, buf, sizeof buf)));
    close(fd);
    say("write to stdin-like fd", "%s", E((int)write(-1, buf, 1)));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: shim_calls ROOT\n");
        return 2;
    }
    root = argv[1];
    root_len = strlen(root);
    t_stdio();
    t_freopen();
    t_dirs();
    t_walk();
    t_paths();
    t_cwd();
    t_fds();
    t_errors();
    return 0;
}

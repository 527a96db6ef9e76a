/* shim_write_calls.c - the write-side C API, step by step, with one line
 * of output per call: its result or its errno's name. Run once in an empty
 * local directory and once in an empty volume directory under the shim,
 * the two outputs must be equal (tests/integration/test_write_calls.sh).
 *
 *   shim_write_calls DIR            the portable steps
 *   shim_write_calls --volume DIR   what only the volume answers (EOPNOTSUPP
 *                                   for O_TMPFILE and ACLs; the page-cache
 *                                   hint RWF_DONTCACHE, which preadv2 takes,
 *                                   taken by pwritev2 too), with the
 *                                   expected values inline
 * Nothing here prints inode numbers, device numbers or times except as
 * comparisons, so the outputs do not depend on the file system.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14 */
#endif
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

static const char *calls_err(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* "what: value" for rc >= 0, "what: ENAME" otherwise (errno). */
static long say(const char *what, long rc)
{
    if (rc < 0)
        printf("%s: %s\n", what, calls_err(errno));
    else
        printf("%s: %ld\n", what, rc);
    return rc;
}

/* posix_* style: the error number is the return value. */
static void say_err(const char *what, int err)
{
    printf("%s: %s\n", what, err ? calls_err(err) : "0");
}

static void say_str(const char *what, const char *s)
{
    printf("%s: %s\n", what, s);
}

static long size_of(const char *p)
{
    struct stat st;
    return stat(p, &st) < 0 ? -1 : (long)st.st_size;
}

/* The file's bytes, non-printing ones as \ooo. */
static void say_content(const char *what, const char *p)
{
    char buf[512], out[2048];
    int fd = open(p, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        say(what, -1);
        return;
    }
    size_t o = 0;
    for (ssize_t i = 0; i < n && o < sizeof out - 5; i++) {
        unsigned char c = (unsigned char)buf[i];
        o += (size_t)(c >= 32 && c < 127 ? snprintf(out + o, 2, "%c", c)
                                         : snprintf(out + o, 5, "\\%03o", c));
    }
    out[o] = '\0';
    printf("%s: [%s]\n", what, out);
}

static int xopen(const char *p, int flags, mode_t mode) { return open(p, flags, mode); }

/* ---- data ---- */
static void step_write(void)
{
    int fd = say("open creat", xopen("f", O_CREAT | O_WRONLY | O_TRUNC, 0644) >= 0 ? 0 : -1);
    fd = open("f", O_WRONLY);
    say("write", write(fd, "hello", 5));
    say("pwrite hole", pwrite(fd, "X", 1, 10));
    say("pos after pwrite", lseek(fd, 0, SEEK_CUR));
    say("seek end", lseek(fd, 0, SEEK_END));
    struct stat st;
    fstat(fd, &st);
    say("fstat size", st.st_size);
    struct iovec iov[2] = { { "ab", 2 }, { "cd", 2 } };
    say("writev", writev(fd, iov, 2));
    say("pwritev", pwritev(fd, iov, 2, 1));
    say("pwritev2 at pos", pwritev2(fd, iov, 1, -1, 0));
    say("pwrite64", pwrite64(fd, "Z", 1, 3));
    char one[1];
    say("read on O_WRONLY", read(fd, one, 1));
    say("pwrite negative", pwrite(fd, "Z", 1, -1));
    say("close", close(fd));
    say_content("content", "f");
    say("stat size", size_of("f"));
}

static void step_rdwr(void)
{
    int fd = open("f", O_RDWR);
    char buf[64] = { 0 };
    say("read rdwr", read(fd, buf, 4));
    say("write rdwr", write(fd, "WXYZ", 4));
    say("pread own write", pread(fd, buf, 4, 4));
    say_str("pread bytes", buf);
    say("seek set", lseek(fd, 100, SEEK_SET));
    say("write past end", write(fd, "E", 1));
    say("size", lseek(fd, 0, SEEK_END));
    say("ftruncate", ftruncate(fd, 8));
    say("seek end after", lseek(fd, 0, SEEK_END));
    say("fsync", fsync(fd));
    say("fdatasync", fdatasync(fd));
    say("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    say("close", close(fd));
    say_content("content", "f");
    fd = open("f", O_RDONLY);
    say("write on O_RDONLY", write(fd, "x", 1));
    say("ftruncate on O_RDONLY", ftruncate(fd, 0));
    say("fallocate on O_RDONLY", fallocate(fd, 0, 0, 10));
    close(fd);
}

static void step_append(void)
{
    int fd = open("f", O_WRONLY | O_APPEND);
    say("append write", write(fd, "A1", 2));
    say("append pos", lseek(fd, 0, SEEK_CUR));
    say("append pwrite ignores offset", pwrite(fd, "A2", 2, 0));
    say("getfl append", (fcntl(fd, F_GETFL) & O_APPEND) != 0);
    say("getfl accmode", fcntl(fd, F_GETFL) & O_ACCMODE);
    say("close", close(fd));
    say_content("content", "f");
    FILE *fp = fopen("f", "a");
    say("fopen a", fp ? 0 : -1);
    fprintf(fp, "[%d]", 42);
    say("fclose a", fclose(fp));
    say_content("content", "f");
}

static void step_size(void)
{
    int fd = open("g", O_CREAT | O_RDWR, 0644);
    say("fallocate", fallocate(fd, 0, 0, 100));
    say("size after fallocate", size_of("g"));
    say("fallocate keep size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1000));
    say("size after keep", size_of("g"));
    say_err("posix_fallocate", posix_fallocate(fd, 50, 200));
    say("size after posix_fallocate", size_of("g"));
    say_err("posix_fallocate bad", posix_fallocate(fd, -1, 10));
    say("ftruncate negative", ftruncate(fd, -1));
    close(fd);
    say("truncate", truncate("g", 20));
    say("size after truncate", size_of("g"));
    say("truncate dir", truncate(".", 0));
    say("truncate missing", truncate("nope", 0));
    say("truncate negative", truncate("g", -1));
    say("creat", (fd = creat("c", 0600)) >= 0 ? 0 : -1);
    say("creat write", write(fd, "cc", 2));
    say("creat close", close(fd));
    say("creat size", size_of("c"));
}

/* ---- open errors ---- */
static void step_open_errors(void)
{
    mkdir("od", 0755);
    say("O_EXCL existing", open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
    say("O_CREAT on dir", open("od", O_CREAT | O_WRONLY, 0644));
    say("O_WRONLY on dir", open("od", O_WRONLY));
    say("missing", open("nope", O_RDONLY));
    say("O_CREAT in missing dir", open("nodir/x", O_CREAT | O_WRONLY, 0644));
    say("O_CREAT under a file", open("f/x", O_CREAT | O_WRONLY, 0644));
    say("O_DIRECTORY on file", open("f", O_RDONLY | O_DIRECTORY));
    int fd = open("od", O_RDONLY | O_DIRECTORY);
    say("write on dir", write(fd, "x", 1));
    say("fsync dir", fsync(fd));
    close(fd);
    say("O_TRUNC", (fd = open("c", O_WRONLY | O_TRUNC)) >= 0 ? 0 : -1);
    close(fd);
    say("size after O_TRUNC", size_of("c"));
    say("access W_OK", access("c", W_OK));
    say("access W_OK missing", access("nope", W_OK));
}

/* ---- O_CREAT of names that exist (the shim creates first: meta_create_open) ---- */
static void step_creat_existing(void)
{
    char buf[16] = { 0 };
    struct stat st;
    mkdir("ce", 0755);
    mkdir("ce/od", 0755);
    int fd = open("ce/f", O_CREAT | O_WRONLY, 0644);
    say("ce write", write(fd, "hello", 5));
    close(fd);
    say("O_CREAT|O_RDONLY on dir", open("ce/od", O_CREAT | O_RDONLY, 0644));
    say("O_CREAT|O_EXCL on dir", open("ce/od", O_CREAT | O_EXCL | O_RDONLY, 0644));
    say("O_CREAT on dot", open("ce/.", O_CREAT | O_WRONLY, 0644));
    say("O_CREAT on dotdot", open("ce/od/..", O_CREAT | O_WRONLY, 0644));
    fd = say("O_CREAT existing", open("ce/f", O_CREAT | O_RDWR, 0600));
    say("O_CREAT existing read", read(fd, buf, sizeof buf - 1));
    say_str("O_CREAT existing bytes", buf);
    close(fd);
    stat("ce/f", &st);
    say("O_CREAT existing keeps its mode", st.st_mode & 07777);
    fd = say("O_CREAT through dotdot", open("ce/od/../f", O_CREAT | O_WRONLY | O_TRUNC, 0644));
    close(fd);
    say("size after O_CREAT|O_TRUNC", size_of("ce/f"));
    say("symlink to file", symlink("f", "ce/sf"));
    fd = say("O_CREAT on symlink", open("ce/sf", O_CREAT | O_WRONLY | O_APPEND, 0644));
    say("write through symlink", write(fd, "xy", 2));
    close(fd);
    say("target size", size_of("ce/f"));
    lstat("ce/sf", &st);
    say("still a symlink", S_ISLNK(st.st_mode));
    say("O_CREAT|O_NOFOLLOW on symlink", open("ce/sf", O_CREAT | O_NOFOLLOW | O_WRONLY, 0644));
    say("O_CREAT|O_EXCL on symlink", open("ce/sf", O_CREAT | O_EXCL | O_WRONLY, 0644));
    say("symlink to dir", symlink("od", "ce/sd"));
    say("O_CREAT on symlink to dir", open("ce/sd", O_CREAT | O_WRONLY, 0644));
    say("O_CREAT trailing slash", open("ce/new/", O_CREAT | O_WRONLY, 0644));
    say("trailing slash made nothing", access("ce/new", F_OK));
    say("O_CREAT trailing slash on dir", open("ce/od/", O_CREAT | O_RDONLY, 0644));
    fd = say("O_CREAT|O_EXCL new", open("ce/x", O_CREAT | O_EXCL | O_WRONLY, 0640));
    close(fd);
    say("O_CREAT|O_EXCL again", open("ce/x", O_CREAT | O_EXCL | O_WRONLY, 0640));
    stat("ce/x", &st);
    say("new file's mode", st.st_mode & 07777);
}

/* ---- namespace ---- */
static void step_namespace(void)
{
    say("mkdir", mkdir("d", 0755));
    say("mkdir again", mkdir("d", 0755));
    say("mkdir under file", mkdir("f/x", 0755));
    say("mkdir missing parent", mkdir("nodir/x", 0755));
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    say("mkdirat", mkdirat(dfd, "d/sub", 0700));
    int fd = openat(dfd, "d/sub/file", O_CREAT | O_WRONLY, 0644);
    say("openat create", fd >= 0 ? 0 : -1);
    close(fd);
    say("rmdir non-empty", rmdir("d"));
    say("rmdir file", rmdir("f"));
    say("unlink dir", unlink("d"));
    say("unlink missing", unlink("nope"));
    say("unlinkat file", unlinkat(dfd, "d/sub/file", 0));
    say("unlinkat AT_REMOVEDIR", unlinkat(dfd, "d/sub", AT_REMOVEDIR));
    say("unlinkat bad flag", unlinkat(dfd, "d", 0x1000));
    say("rmdir missing", rmdir("d/sub"));
    close(dfd);
    int w = open("r1", O_CREAT | O_WRONLY, 0644);
    write(w, "one", 3);
    close(w);
    w = open("r2", O_CREAT | O_WRONLY, 0644);
    write(w, "two", 3);
    close(w);
    say("rename", rename("r1", "r3"));
    say("rename missing", rename("r1", "r4"));
    say("renameat2 noreplace", renameat2(AT_FDCWD, "r3", AT_FDCWD, "r2", RENAME_NOREPLACE));
    say("renameat2 exchange", renameat2(AT_FDCWD, "r3", AT_FDCWD, "r2", RENAME_EXCHANGE));
    say_content("r2 after exchange", "r2");
    say_content("r3 after exchange", "r3");
    say("renameat2 both flags", renameat2(AT_FDCWD, "r3", AT_FDCWD, "r2",
                                          RENAME_EXCHANGE | RENAME_NOREPLACE));
    say("rename over file", renameat(AT_FDCWD, "r3", AT_FDCWD, "r2"));
    say_content("r2 after replace", "r2");
    mkdir("e1", 0755);
    mkdir("e2", 0755);
    close(open("e2/x", O_CREAT | O_WRONLY, 0644));
    say("rename dir onto non-empty", rename("e1", "e2"));
    say("rename file onto dir", rename("r2", "e1"));
    say("rename dir onto file", rename("e1", "r2"));
    say("rename dir into itself", rename("e2", "e2/in"));
    say("rename dir", rename("e1", "e3"));
    say("link", link("r2", "l2"));
    struct stat st;
    stat("r2", &st);
    say("nlink", st.st_nlink);
    say("link existing", link("r2", "l2"));
    say("link dir", link("e3", "l3"));
    say("link missing", link("nope", "l4"));
    say("symlink", symlink("r2", "s2"));
    say("symlink existing", symlink("r2", "s2"));
    char buf[64] = { 0 };
    say("readlink", readlink("s2", buf, sizeof buf));
    say_str("readlink target", buf);
    say("symlinkat", symlinkat("dangling", AT_FDCWD, "s3"));
    say("linkat follow", linkat(AT_FDCWD, "s2", AT_FDCWD, "l5", AT_SYMLINK_FOLLOW));
    lstat("l5", &st);
    say("linkat follow made a file", S_ISREG(st.st_mode));
    say("linkat nofollow", linkat(AT_FDCWD, "s2", AT_FDCWD, "l6", 0));
    lstat("l6", &st);
    say("linkat nofollow made a link", S_ISLNK(st.st_mode));
    say("mkfifo", mkfifo("fifo", 0644));
    lstat("fifo", &st);
    say("fifo type", S_ISFIFO(st.st_mode));
    say("mknod reg", mknod("node", S_IFREG | 0600, 0));
    lstat("node", &st);
    say("node type", S_ISREG(st.st_mode));
    say("mknod existing", mknod("node", S_IFREG | 0600, 0));
}

/* ---- attributes ---- */
static void say_mode(const char *what, const char *p, int follow)
{
    struct stat st;
    int rc = follow ? stat(p, &st) : lstat(p, &st);
    if (rc < 0)
        say(what, -1);
    else
        printf("%s: %o\n", what, (unsigned)(st.st_mode & 07777));
}

static void say_times(const char *what, const char *p, int follow)
{
    struct stat st;
    int rc = follow ? stat(p, &st) : lstat(p, &st);
    if (rc < 0)
        say(what, -1);
    else
        printf("%s: a=%ld.%09ld m=%ld.%09ld\n", what, (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
               (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void step_attrs(void)
{
    say("chmod", chmod("r2", 0640));
    say_mode("mode", "r2", 1);
    int fd = open("r2", O_RDONLY);
    say("fchmod", fchmod(fd, 0604));
    say_mode("mode", "r2", 1);
    say("fchmodat", fchmodat(AT_FDCWD, "r2", 0611, 0));
    say_mode("mode", "r2", 1);
    say("chmod through symlink", chmod("s2", 0644));
    say_mode("mode", "r2", 1);
    say("chmod missing", chmod("nope", 0644));
    say("chown same", chown("r2", (uid_t)-1, (gid_t)-1));
    say("fchown same", fchown(fd, getuid(), getgid()));
    say("lchown", lchown("s2", (uid_t)-1, (gid_t)-1));
    say("fchownat empty path", fchownat(fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH));
    struct timespec ts[2] = { { 1000000000, 123456789 }, { 1100000000, 987654321 } };
    say("utimensat", utimensat(AT_FDCWD, "r2", ts, 0));
    say_times("times", "r2", 1);
    struct timespec omit[2] = { { 0, UTIME_OMIT }, { 1200000000, 5 } };
    say("utimensat omit atime", utimensat(AT_FDCWD, "r2", omit, 0));
    say_times("times", "r2", 1);
    say("futimens", futimens(fd, ts));
    say_times("times", "r2", 1);
    struct timeval tv[2] = { { 1300000000, 1 }, { 1300000001, 2 } };
    say("utimes", utimes("r2", tv));
    say_times("times", "r2", 1);
    say("futimes", futimes(fd, tv));
    say("lutimes", lutimes("s2", tv));
    say_times("link times", "s2", 0);
    struct utimbuf ub = { 1400000000, 1400000001 };
    say("utime", utime("r2", &ub));
    say_times("times", "r2", 1);
    struct timespec bad[2] = { { 0, -5 }, { 0, 0 } };
    say("utimensat bad nsec", utimensat(AT_FDCWD, "r2", bad, 0));
    time_t now = time(NULL);
    say("utime now", utime("r2", NULL));
    struct stat st;
    stat("r2", &st);
    say("mtime is now", st.st_mtime >= now - 5 && st.st_mtime <= now + 5);
    close(fd);
    /* times set on a file still open for writing survive its close */
    fd = open("tw", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    write(fd, "data", 4);
    say("futimens on writer", futimens(fd, ts));
    say("close writer", close(fd));
    say_times("writer times", "tw", 1);
    say_content("writer content", "tw");
}

static void step_xattrs(void)
{
    char buf[128];
    say("setxattr", setxattr("r2", "user.a", "1", 1, 0));
    say("getxattr", getxattr("r2", "user.a", buf, sizeof buf));
    say("setxattr create existing", setxattr("r2", "user.a", "2", 1, XATTR_CREATE));
    say("setxattr replace missing", setxattr("r2", "user.b", "2", 1, XATTR_REPLACE));
    say("setxattr replace", setxattr("r2", "user.a", "22", 2, XATTR_REPLACE));
    say("getxattr size", getxattr("r2", "user.a", NULL, 0));
    int fd = open("r2", O_RDONLY);
    say("fsetxattr", fsetxattr(fd, "user.c", "333", 3, 0));
    say("fgetxattr", fgetxattr(fd, "user.c", buf, sizeof buf));
    ssize_t n = flistxattr(fd, buf, sizeof buf);
    say("flistxattr", n);
    say("fremovexattr", fremovexattr(fd, "user.c"));
    say("fremovexattr again", fremovexattr(fd, "user.c"));
    close(fd);
    say("removexattr", removexattr("r2", "user.a"));
    say("removexattr missing", removexattr("r2", "user.a"));
    say("listxattr empty", listxattr("r2", buf, sizeof buf));
    say("setxattr missing file", setxattr("nope", "user.a", "1", 1, 0));
    say("lsetxattr on symlink", lsetxattr("s2", "user.a", "1", 1, 0));
}

/* ---- temporary names ---- */
static void step_tmp(void)
{
    char t1[] = "tmpXXXXXX";
    int fd = mkstemp(t1);
    say("mkstemp", fd >= 0 ? 0 : -1);
    say("mkstemp renamed", strcmp(t1, "tmpXXXXXX") != 0);
    say_mode("mkstemp mode", t1, 1);
    say("mkstemp write", write(fd, "tmp", 3));
    say("mkstemp read back", pread(fd, (char[4]){ 0 }, 3, 0));
    close(fd);
    say("mkstemp size", size_of(t1));
    char t2[] = "tmpXXXXXX.txt";
    fd = mkstemps(t2, 4);
    say("mkstemps suffix kept", fd >= 0 && strcmp(t2 + 9, ".txt") == 0);
    close(fd);
    char t3[] = "tmpXXXXXX";
    fd = mkostemp(t3, O_CLOEXEC);
    say("mkostemp cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    char bad[] = "tmpXXXX";
    say("mkstemp bad template", mkstemp(bad));
    char t4[] = "dirXXXXXX";
    say("mkdtemp", mkdtemp(t4) ? 0 : -1);
    say_mode("mkdtemp mode", t4, 1);
    char t5[] = "nodir/tmpXXXXXX";
    say("mkstemp missing dir", mkstemp(t5));
}

/* ---- stdio ---- */
static void step_stdio(void)
{
    FILE *fp = fopen("s", "w");
    say("fopen w", fp ? 0 : -1);
    say("fileno", fileno(fp) > 2);
    fprintf(fp, "line %d\n", 1);
    fputs("line 2\n", fp);
    say("fflush", fflush(fp));
    say("fclose w", fclose(fp));
    say_content("content", "s");
    fp = fopen("s", "r+");
    char buf[32] = { 0 };
    say("fgets", fgets(buf, sizeof buf, fp) ? (long)strlen(buf) : -1);
    say("fseek", fseek(fp, 5, SEEK_SET));
    fputc('X', fp);
    say("fclose r+", fclose(fp));
    say_content("content", "s");
    fp = fopen("s2", "w+");
    fputs("abc", fp);
    rewind(fp);
    say("w+ read back", fread(buf, 1, 3, fp));
    say("ftell", ftell(fp));
    say("fclose w+", fclose(fp));
    say("fopen wx existing", fopen("s2", "wx") ? 0 : -1);
    fp = fdopen(open("s4", O_CREAT | O_WRONLY, 0644), "w");
    say("fdopen w", fp ? 0 : -1);
    if (fp) {
        fprintf(fp, "fd");
        say("fclose fdopen", fclose(fp));
    }
    say_content("content", "s4");
}

/* ---- copies into the volume ---- */
static void step_copy(const char *host_src)
{
    int in = open(host_src, O_RDONLY);
    int out = open("cp", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    say("copy_file_range", copy_file_range(in, NULL, out, NULL, 1 << 20, 0));
    off_t off = 0;
    say("sendfile", sendfile(out, in, &off, 3));
    say("close", close(out));
    close(in);
    say("copied size", size_of("cp"));
}

/* ---- locks ---- */
static int child_run(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

/* In a child: is the byte range 0..9 of "lk" write-locked by someone? */
static int child_getlk(void)
{
    int fd = open("lk", O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    if (fcntl(fd, F_GETLK, &fl) < 0)
        return 90;
    if (fl.l_type == F_UNLCK)
        return 0;
    return fl.l_pid == getppid() ? 1 : 2;
}

static int child_setlk(void)
{
    int fd = open("lk", O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
    return fcntl(fd, F_SETLK, &fl) < 0 ? (errno == EAGAIN || errno == EACCES ? 1 : 91) : 0;
}

static int child_lockf_test(void)
{
    int fd = open("lk", O_RDWR);
    return lockf(fd, F_TEST, 10) < 0 ? (errno == EACCES || errno == EAGAIN ? 1 : 92) : 0;
}

static int child_flock(void)
{
    int fd = open("lk", O_RDWR);
    return flock(fd, LOCK_EX | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? 1 : 93) : 0;
}

static void step_locks(void)
{
    int a = open("lk", O_CREAT | O_RDWR, 0644);
    int b = open("lk", O_RDWR);
    say("flock ex", flock(a, LOCK_EX));
    say("flock other open nb", flock(b, LOCK_EX | LOCK_NB));
    say("flock in child", child_run(child_flock));
    say("flock un", flock(a, LOCK_UN));
    say("flock other open now", flock(b, LOCK_EX | LOCK_NB));
    flock(b, LOCK_UN);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    say("fcntl setlk", fcntl(a, F_SETLK, &fl));
    say("child sees the lock", child_run(child_getlk));
    say("child cannot take it", child_run(child_setlk));
    say("child lockf test", child_run(child_lockf_test));
    fl.l_type = F_UNLCK;
    say("fcntl unlock", fcntl(a, F_SETLK, &fl));
    say("child sees none", child_run(child_getlk));
    /* relative ranges: from the position */
    lseek(a, 3, SEEK_SET);
    struct flock cur = { .l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = 2, .l_len = 1 };
    say("setlk seek_cur", fcntl(a, F_SETLK, &cur));
    say("child blocked at 5", child_run(child_setlk));
    cur.l_type = F_UNLCK;
    fcntl(a, F_SETLK, &cur);
    struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
    say("ofd setlk", fcntl(a, F_OFD_SETLK, &ofd));
    say("ofd conflict other open", fcntl(b, F_OFD_SETLK, &ofd));
    struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
    say("ofd getlk", fcntl(b, F_OFD_GETLK, &q));
    say("ofd getlk type", q.l_type == F_WRLCK);
    ofd.l_type = F_UNLCK;
    say("ofd unlock", fcntl(a, F_OFD_SETLK, &ofd));
    lseek(a, 0, SEEK_SET);
    say("lockf tlock", lockf(a, F_TLOCK, 10));
    say("child sees lockf", child_run(child_getlk));
    say("lockf ulock", lockf(a, F_ULOCK, 10));
    int r = open("lk", O_RDONLY);
    struct flock wr = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    say("write lock on O_RDONLY", fcntl(r, F_SETLK, &wr));
    say("flock on O_RDONLY", flock(r, LOCK_SH));
    close(r);
    close(a);
    close(b);
}

/* ---- directory listing after the changes ---- */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void step_listing(void)
{
    DIR *d = opendir(".");
    char *names[256];
    int n = 0;
    struct dirent *e;
    while (d && n < 256 && (e = readdir(d))) {
        if (strncmp(e->d_name, "tmp", 3) && strncmp(e->d_name, "dir", 3))
            names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof names[0], name_cmp);
    printf("listing:");
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

/* ---- volume only ---- */
static void step_volume_only(void)
{
    int fd = open(".", O_TMPFILE | O_RDWR, 0600);
    printf("O_TMPFILE: %s (want EOPNOTSUPP)\n", fd < 0 ? calls_err(errno) : "opened");
    close(open("acl", O_CREAT | O_WRONLY, 0600));
    int rc = setxattr("acl", "system.posix_acl_access", "\2\0\0\0", 4, 0);
    printf("ACL setxattr: %s (want EOPNOTSUPP)\n", rc < 0 ? calls_err(errno) : "0");
    fd = open("dontcache", O_CREAT | O_RDWR, 0600);
    struct iovec iov = { .iov_base = "ab", .iov_len = 2 };
    ssize_t n = pwritev2(fd, &iov, 1, 0, RWF_DONTCACHE);
    char got[16];
    snprintf(got, sizeof got, "%zd", n);
    printf("pwritev2 RWF_DONTCACHE: %s (want 2)\n", n < 0 ? calls_err(errno) : got);
    close(fd);
}

int main(int argc, char **argv)
{
    int volume_only = argc == 3 && strcmp(argv[1], "--volume") == 0;
    const char *dir = argv[argc - 1];
    if (argc < 2 || chdir(dir) < 0) {
        fprintf(stderr, "usage: shim_write_calls [--volume] DIR (%s)\n", strerror(errno));
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (volume_only) {
        step_volume_only();
        return 0;
    }
    step_write();
    step_rdwr();
    step_append();
    step_size();
    step_open_errors();
    step_creat_existing();
    step_namespace();
    step_attrs();
    step_xattrs();
    step_tmp();
    step_stdio();
    step_copy("/proc/self/exe");
    step_locks();
    step_listing();
    return 0;
}

/* test_vfs_write.c - the engine's write path against real PostgreSQL and a
 * file:// bucket, without the shim: buffered writes and their overlay,
 * commit at fsync/close, visibility to a fresh process (close-to-open),
 * overwrites and holes, truncate, rename over a file, unlink while open,
 * permissions, and writeback journals recovered after a crash.
 * Needs SHIMFS_META (a database it may format). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "meta.h"
#include "vfs.h"
#include "vfs_fixture.h"

static char scratch[256];

static void format_volume(void)
{
    struct meta *m;
    ck_assert_int_eq(meta_open(getenv("SHIMFS_META"), &m), 0);
    struct meta_settings s = { .block_size = 64 * 1024, .compress_algo = 1, .compress_level = 1,
                               .schema_version = META_SCHEMA_VERSION };
    snprintf(s.name, sizeof s.name, "vfswrite");
    snprintf(s.uuid, sizeof s.uuid, "0f0e0d0c-0b0a-4908-8706-050403020100");
    snprintf(s.bucket, sizeof s.bucket, "file://%s/bucket", scratch);
    ck_assert_int_eq(meta_format(m, &s, 1), 0);
    meta_close(m);
}

static void setup(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/shimfs-vfswrite-%d", (int)getpid());
    mkdir(scratch, 0700);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", scratch);
    setenv("SHIMFS_CACHE_DIR", cache, 1);
    setenv("SHIMFS_ATTR_TTL", "0", 1);
    setenv("SHIMFS_ENTRY_TTL", "0", 1);
    setenv("SHIMFS_NEGATIVE_TTL", "0", 1);
    setenv("SHIMFS_LOG", "error", 1);
    format_volume();
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "test_vfs_write: could not remove %s\n", scratch);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

static struct vfs_file *open_ok(const char *path, int flags)
{
    struct vfs_file *f = NULL;
    char host[VFS_HOST_MAX];
    int rc = vfs_open(path, flags, 0644, &f, host, sizeof host);
    ck_assert_msg(rc == 0, "open %s: %s", path, strerror(-rc));
    return f;
}

static void close_ok(struct vfs_file *f)
{
    int fd = vfs_file_fd(f);
    ck_assert_int_eq(vfs_release(f), 0);
    close(fd);
}

/* Read the file back in a fresh child process: a new engine, empty caches. */
static void check_in_child(const char *path, const char *want, size_t n)
{
    pid_t pid = fork();
    if (pid == 0) {
        vfs_after_fork();
        struct vfs_file *f = NULL;
        char host[VFS_HOST_MAX];
        if (vfs_open(path, O_RDONLY, 0, &f, host, sizeof host) != 0)
            _exit(2);
        char *got = malloc(n + 16);
        ssize_t r = vfs_pread(f, got, n + 16, 0);
        if (r == (ssize_t)n && memcmp(got, want, n) == 0)
            _exit(0);
        size_t i = 0;
        while (r > 0 && i < (size_t)r && i < n && got[i] == want[i])
            i++;
        fprintf(stderr, "%s: read %zd of %zu bytes, first difference at %zu\n", path, r, n, i);
        _exit(3);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child read of %s failed (%d)", path,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

START_TEST(test_write_commit_read)
{
    const size_t n = 300 * 1024 + 17;   /* several 64 KiB blocks, odd tail */
    char *data = malloc(n), *back = malloc(n);
    fill(data, n, 1);
    struct vfs_file *f = open_ok("/a.bin", O_WRONLY | O_CREAT | O_EXCL);
    for (size_t off = 0; off < n; off += 4096)
        ck_assert_int_eq(vfs_pwrite(f, data + off, off + 4096 > n ? n - off : 4096, off),
                         (long)(off + 4096 > n ? n - off : 4096));
    struct stat st;
    vfs_fstat(f, &st);
    ck_assert_int_eq(st.st_size, (off_t)n);
    close_ok(f);
    check_in_child("/a.bin", data, n);
    /* read-write: overlay of unflushed bytes over committed ones */
    f = open_ok("/a.bin", O_RDWR);
    ck_assert_int_eq(vfs_pwrite(f, "XYZ", 3, 1000), 3);
    ck_assert_int_eq(vfs_pread(f, back, n, 0), (long)n);
    memcpy(data + 1000, "XYZ", 3);
    ck_assert(memcmp(back, data, n) == 0);
    ck_assert_int_eq(vfs_fsync(f, 0), 0);
    check_in_child("/a.bin", data, n);
    close_ok(f);
    free(data);
    free(back);
}
END_TEST

START_TEST(test_holes_append_truncate)
{
    struct vfs_file *f = open_ok("/h.bin", O_RDWR | O_CREAT);
    ck_assert_int_eq(vfs_pwrite(f, "end", 3, 200000), 3);    /* a hole before */
    close_ok(f);
    char *want = calloc(1, 200003);
    memcpy(want + 200000, "end", 3);
    check_in_child("/h.bin", want, 200003);
    f = open_ok("/h.bin", O_WRONLY | O_APPEND);
    ck_assert_int_eq(vfs_pwrite(f, "++", 2, 0), 2);          /* O_APPEND ignores off */
    close_ok(f);
    want = realloc(want, 200005);
    memcpy(want + 200003, "++", 2);
    check_in_child("/h.bin", want, 200005);
    char host[VFS_HOST_MAX];
    ck_assert_int_eq(vfs_truncate("/h.bin", 10, host, sizeof host), 0);
    check_in_child("/h.bin", want, 10);
    f = open_ok("/h.bin", O_WRONLY | O_TRUNC);
    close_ok(f);
    struct stat st;
    ck_assert_int_eq(vfs_stat("/h.bin", 0, &st, host, sizeof host), 0);
    ck_assert_int_eq(st.st_size, 0);
    free(want);
}
END_TEST

START_TEST(test_namespace)
{
    char host[VFS_HOST_MAX];
    struct stat st;
    ck_assert_int_eq(vfs_mkdir("/d", 0755, host, sizeof host), 0);
    ck_assert_int_eq(vfs_mkdir("/d", 0755, host, sizeof host), -EEXIST);
    struct vfs_file *f = open_ok("/d/new", O_WRONLY | O_CREAT);
    ck_assert_int_eq(vfs_pwrite(f, "new", 3, 0), 3);
    close_ok(f);
    f = open_ok("/d/old", O_WRONLY | O_CREAT);
    ck_assert_int_eq(vfs_pwrite(f, "old", 3, 0), 3);
    close_ok(f);
    ck_assert_int_eq(vfs_rename("/d/new", "/d/old", 0), 0);        /* atomic replace */
    check_in_child("/d/old", "new", 3);
    ck_assert_int_eq(vfs_stat("/d/new", 0, &st, host, sizeof host), -ENOENT);
    ck_assert_int_eq(vfs_rmdir("/d", host, sizeof host), -ENOTEMPTY);
    ck_assert_int_eq(vfs_unlink("/d", host, sizeof host), -EISDIR);
    ck_assert_int_eq(vfs_symlink("old", "/d/link", host, sizeof host), 0);
    check_in_child("/d/link", "new", 3);
    ck_assert_int_eq(vfs_link("/d/old", "/d/hard", 0), 0);
    ck_assert_int_eq(vfs_stat("/d/old", 0, &st, host, sizeof host), 0);
    ck_assert_int_eq(st.st_nlink, 2);
    ck_assert_int_eq(vfs_chmod("/d/old", NULL, 0600, 0, host, sizeof host), 0);
    ck_assert_int_eq(vfs_stat("/d/hard", 0, &st, host, sizeof host), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    struct timespec ts[2] = { { 1000, 5 }, { 2000, 7 } };
    ck_assert_int_eq(vfs_utimens("/d/old", NULL, ts, 0, host, sizeof host), 0);
    ck_assert_int_eq(vfs_stat("/d/old", 0, &st, host, sizeof host), 0);
    ck_assert_int_eq(st.st_mtim.tv_sec, 2000);
    ck_assert_int_eq(st.st_mtim.tv_nsec, 7);
    ck_assert_int_eq(vfs_rename("/d/old", "/d/hard", RENAME_NOREPLACE), -EEXIST);
    /* unlinked while open: still readable through the open file */
    f = open_ok("/d/old", O_RDONLY);
    ck_assert_int_eq(vfs_unlink("/d/old", host, sizeof host), 0);
    ck_assert_int_eq(vfs_unlink("/d/hard", host, sizeof host), 0);
    char buf[8];
    ck_assert_int_eq(vfs_pread(f, buf, sizeof buf, 0), 3);
    ck_assert(memcmp(buf, "new", 3) == 0);
    close_ok(f);
    ck_assert_int_eq(vfs_unlink("/d/link", host, sizeof host), 0);
    ck_assert_int_eq(vfs_rmdir("/d", host, sizeof host), 0);
}
END_TEST

START_TEST(test_permissions)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f = open_ok("/ro", O_WRONLY | O_CREAT);
    close_ok(f);
    ck_assert_int_eq(vfs_chmod("/ro", NULL, 0400, 0, host, sizeof host), 0);
    pid_t pid = fork();
    if (pid == 0) {
        vfs_after_fork();
        if (setgid(65534) || setuid(65534))
            _exit(9);
        struct vfs_file *g;
        int w = vfs_open("/ro", O_WRONLY, 0, &g, host, sizeof host);
        int r = vfs_open("/ro", O_RDONLY, 0, &g, host, sizeof host);
        int m = vfs_mkdir("/nope", 0755, host, sizeof host);
        _exit(w == -EACCES && r == -EACCES && m == -EACCES ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nobody was not refused (%d)", WEXITSTATUS(st));
}
END_TEST

START_TEST(test_writeback_recovery)
{
    setenv("SHIMFS_WRITEBACK", "1", 1);
    pid_t pid = fork();
    if (pid == 0) {
        /* a writer that stages its data and dies before uploading it */
        vfs_after_fork();
        struct vfs_file *f;
        char host[VFS_HOST_MAX];
        if (vfs_open("/wb.bin", O_WRONLY | O_CREAT, 0644, &f, host, sizeof host))
            _exit(2);
        char data[5000];
        fill(data, sizeof data, 9);
        vfs_pwrite(f, data, sizeof data, 0);
        if (vfs_fsync(f, 0) != 0)
            _exit(3);
        _exit(0); /* like os._exit: no atexit, the upload may not have run */
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    int done = -1;
    ck_assert_int_eq(vfs_flush_journals(&done), 0);
    ck_assert_int_ge(done, 0);
    char want[5000];
    fill(want, sizeof want, 9);
    check_in_child("/wb.bin", want, sizeof want);
    unsetenv("SHIMFS_WRITEBACK");
}
END_TEST

/* The same when the volume's opening already started recovering that
 * journal in the background: vfs_flush_journals (shimfs flush) returns
 * once it is committed, not having skipped it as locked by a writer. */
START_TEST(test_writeback_recovery_at_open)
{
    setenv("SHIMFS_WRITEBACK", "1", 1);
    pid_t pid = fork();
    if (pid == 0) {
        vfs_after_fork();
        struct vfs_file *f;
        char host[VFS_HOST_MAX];
        if (vfs_open("/wb2.bin", O_WRONLY | O_CREAT, 0644, &f, host, sizeof host))
            _exit(2);
        char data[5000];
        fill(data, sizeof data, 11);
        vfs_pwrite(f, data, sizeof data, 0);
        _exit(vfs_fsync(f, 0) == 0 ? 0 : 3);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    ck_assert_int_eq(vfs_init(), 0);        /* finds the journal: a background scan */
    usleep(1000);   /* by now that scan holds the journal, committing it */
    int done = -1;
    ck_assert_int_eq(vfs_flush_journals(&done), 0);
    char want[5000];
    fill(want, sizeof want, 11);
    check_in_child("/wb2.bin", want, sizeof want);
    unsetenv("SHIMFS_WRITEBACK");
}
END_TEST

/* A journal as a dying writer, a full disk or a bit flip may leave it:
 * each must be dropped with an error, never committed as the file's
 * contents nor kept to be retried forever. */
static void put_journal(const char *name, uint64_t ino, uint64_t off, uint32_t len, size_t data)
{
    struct { char magic[8]; uint64_t ino, size; int64_t mtime; uint32_t n, pad; } h = {
        "SHMFSWB1", ino, off + len, 1, 1, 0 };
    struct { uint64_t off; uint32_t len, pad; } pc = { off, len, 0 };
    char path[512];
    snprintf(path, sizeof path, "%s/cache/staging", scratch);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/cache/staging/0f0e0d0c-0b0a-4908-8706-050403020100-%s.wb",
             scratch, name);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fwrite(&h, sizeof h, 1, fp);
    fwrite(&pc, sizeof pc, 1, fp);
    for (size_t i = 0; i < data; i++)
        fputc('x', fp);
    ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_writeback_corrupt_journals)
{
    struct vfs_file *f = open_ok("/torn.bin", O_WRONLY | O_CREAT);
    close_ok(f);
    struct stat st;
    char host[VFS_HOST_MAX];
    ck_assert_int_eq(vfs_stat("/torn.bin", 0, &st, host, sizeof host), 0);
    /* a piece across a chunk boundary (64 MiB) */
    put_journal("1", st.st_ino, (64u << 20) - 10, 20, 20);
    /* a length far beyond the file (4 GiB asked for) */
    put_journal("2", st.st_ino, 0, 0xfffffff0u, 3);
    /* bytes missing at the end */
    put_journal("3", st.st_ino, 0, 100, 99);
    int done = -1;
    ck_assert_int_eq(vfs_flush_journals(&done), -EIO);
    ck_assert_int_eq(done, 0);
    char staging[300];
    snprintf(staging, sizeof staging, "%s/cache/staging", scratch);
    DIR *d = opendir(staging);
    ck_assert_ptr_nonnull(d);
    int left = 0;
    for (struct dirent *e; (e = readdir(d));)
        left += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(left, 0);
    check_in_child("/torn.bin", "", 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_write_commit_read,
        test_holes_append_truncate,
        test_namespace,
        test_permissions,
        test_writeback_recovery,
        test_writeback_recovery_at_open,
        test_writeback_corrupt_journals,
    };
    return vfs_fixture_main("vfs_write", setup, teardown, tests, (int)(sizeof tests / sizeof *tests));
}

/* test_vfs_materialize.c - vfs_materialize: node-local copies of volume
 * files for execve and the loader. Engine only (no shim), real PostgreSQL
 * and a file:// bucket. Needs SHIMFS_META (a database it may format).
 *
 * A copy sits at the mirror root + the canonical volume path, with 0700
 * folders and a 0500/0400 file owned by us; a second call reads nothing
 * (same inode, no GET); a changed file is copied afresh by rename while a
 * descriptor of the old copy keeps the old bytes; processes copying the
 * same file at once each get a whole, right copy.
 */
#include <check.h>
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

#define MAT_UUID "3a0e0d0c-0b0a-4908-8706-050403020177"

static void setup(void)
{
    setenv("SHIMFS_ATTR_TTL", "0", 1);
    setenv("SHIMFS_ENTRY_TTL", "0", 1);
    setenv("SHIMFS_NEGATIVE_TTL", "0", 1);
    setenv("SHIMFS_NODE_META", "0", 1);
    setenv("SHIMFS_AGENT", "0", 1);
    vfs_fixture_setup("vfsmat", MAT_UUID);
}

static void teardown(void)
{
    vfs_fixture_teardown();
}

static void put_file(const char *path, unsigned seed, size_t n, mode_t mode)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f;
    char *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(vfs_open(path, O_WRONLY | O_CREAT | O_TRUNC, mode, &f, host, sizeof host), 0);
    vfs_fixture_fill(data, n, seed);
    ck_assert_int_eq(vfs_pwrite(f, data, n, 0), (ssize_t)n);
    ck_assert_int_eq(vfs_release(f), 0);
    ck_assert_int_eq(vfs_chmod(path, NULL, mode, 0, host, sizeof host), 0);
    free(data);
}

/* The bytes of fd are version seed of n bytes. */
static void check_bytes(int fd, unsigned seed, size_t n)
{
    char *want = malloc(n), *got = malloc(n + 1);
    vfs_fixture_fill(want, n, seed);
    ssize_t r = pread(fd, got, n + 1, 0);
    ck_assert_int_eq(r, (ssize_t)n);
    ck_assert_int_eq(memcmp(want, got, n), 0);
    free(want);
    free(got);
}

static uint64_t gets(void)
{
    struct vfs_stats st;
    ck_assert_int_eq(vfs_get_stats(&st), 0);
    return st.gets;
}

START_TEST(test_copy_layout_and_reuse)
{
    char host[VFS_HOST_MAX], out[VFS_HOST_MAX], root[VFS_HOST_MAX], want[VFS_HOST_MAX * 2];
    ck_assert_int_eq(vfs_mkdir("/tools", 0755, host, sizeof host), 0);
    ck_assert_int_eq(vfs_mkdir("/tools/bin", 0755, host, sizeof host), 0);
    put_file("/tools/bin/prog", 1, 200000, 0755); /* four 64 KiB blocks */
    ck_assert_int_eq(vfs_materialize_root(root, sizeof root), 0);
    ck_assert_ptr_nonnull(strstr(root, "/exec/" MAT_UUID));
    ck_assert_int_eq(vfs_materialize("/tools/bin/prog", out, sizeof out, host, sizeof host), 0);
    snprintf(want, sizeof want, "%s/tools/bin/prog", root);
    ck_assert_str_eq(out, want);

    struct stat st, dst;
    ck_assert_int_eq(lstat(out, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0500);
    ck_assert_int_eq(st.st_uid, geteuid());
    ck_assert_int_eq(st.st_size, 200000);
    snprintf(want, sizeof want, "%s/tools/bin", root);
    ck_assert_int_eq(stat(want, &dst), 0);
    ck_assert_int_eq(dst.st_mode & 07777, 0700);
    ck_assert_int_eq(stat(root, &dst), 0);
    ck_assert_int_eq(dst.st_mode & 07777, 0700);
    int fd = open(out, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    check_bytes(fd, 1, 200000);
    close(fd);

    /* unchanged: the same copy, nothing fetched */
    uint64_t g = gets();
    char again[VFS_HOST_MAX];
    ck_assert_int_eq(vfs_materialize("/tools/bin/prog", again, sizeof again, host, sizeof host), 0);
    ck_assert_str_eq(again, out);
    struct stat st2;
    ck_assert_int_eq(lstat(out, &st2), 0);
    ck_assert_uint_eq(st2.st_ino, st.st_ino);
    ck_assert_uint_eq(gets(), g);

    /* a symlink names the canonical copy; a file without x bits is 0400 */
    ck_assert_int_eq(vfs_symlink("tools/bin/prog", "/link", host, sizeof host), 0);
    ck_assert_int_eq(vfs_materialize("/link", again, sizeof again, host, sizeof host), 0);
    ck_assert_str_eq(again, out);
    put_file("/tools/data.so", 2, 1000, 0644);
    ck_assert_int_eq(vfs_materialize("/tools/data.so", again, sizeof again, host, sizeof host), 0);
    ck_assert_int_eq(lstat(again, &st2), 0);
    ck_assert_int_eq(st2.st_mode & 07777, 0400);
    /* a chmod is followed */
    ck_assert_int_eq(vfs_chmod("/tools/data.so", NULL, 0755, 0, host, sizeof host), 0);
    ck_assert_int_eq(vfs_materialize("/tools/data.so", again, sizeof again, host, sizeof host), 0);
    ck_assert_int_eq(lstat(again, &st2), 0);
    ck_assert_int_eq(st2.st_mode & 07777, 0500);
}
END_TEST

/* The volume turned a file into a folder and a folder into a file: the
 * mirror follows. */
START_TEST(test_type_changes)
{
    char host[VFS_HOST_MAX], out[VFS_HOST_MAX];
    put_file("/x", 8, 100, 0755);
    ck_assert_int_eq(vfs_mkdir("/y", 0755, host, sizeof host), 0);
    put_file("/y/f", 9, 100, 0755);
    ck_assert_int_eq(vfs_materialize("/x", out, sizeof out, host, sizeof host), 0);
    ck_assert_int_eq(vfs_materialize("/y/f", out, sizeof out, host, sizeof host), 0);
    ck_assert_int_eq(vfs_unlink("/x", host, sizeof host), 0);
    ck_assert_int_eq(vfs_mkdir("/x", 0755, host, sizeof host), 0);
    put_file("/x/f", 10, 200, 0755);
    ck_assert_int_eq(vfs_unlink("/y/f", host, sizeof host), 0);
    ck_assert_int_eq(vfs_rmdir("/y", host, sizeof host), 0);
    put_file("/y", 11, 300, 0755);
    ck_assert_int_eq(vfs_materialize("/x/f", out, sizeof out, host, sizeof host), 0);
    int fd = open(out, O_RDONLY);
    check_bytes(fd, 10, 200);
    close(fd);
    ck_assert_int_eq(vfs_materialize("/y", out, sizeof out, host, sizeof host), 0);
    fd = open(out, O_RDONLY);
    check_bytes(fd, 11, 300);
    close(fd);
}
END_TEST

START_TEST(test_errors)
{
    char host[VFS_HOST_MAX], out[VFS_HOST_MAX];
    ck_assert_int_eq(vfs_mkdir("/d", 0755, host, sizeof host), 0);
    ck_assert_int_eq(vfs_materialize("/nope", out, sizeof out, host, sizeof host), -ENOENT);
    ck_assert_int_eq(vfs_materialize("/d", out, sizeof out, host, sizeof host), -EACCES);
    ck_assert_int_eq(vfs_materialize("/d/x/y", out, sizeof out, host, sizeof host), -ENOENT);
    put_file("/f", 3, 10, 0755);
    ck_assert_int_eq(vfs_materialize("/f/x", out, sizeof out, host, sizeof host), -ENOTDIR);
    /* a symlink leaving the volume: the host path to use instead */
    ck_assert_int_eq(vfs_symlink("/bin/true", "/out", host, sizeof host), 0);
    ck_assert_int_eq(vfs_materialize("/out", out, sizeof out, host, sizeof host), VFS_ESCAPED);
    ck_assert_str_eq(host, "/bin/true");
}
END_TEST

/* Replaced on the volume: the old copy's inode keeps the old bytes for
 * whoever runs or maps it; the next call gives the new ones. */
START_TEST(test_replaced)
{
    char host[VFS_HOST_MAX], out[VFS_HOST_MAX];
    put_file("/p", 4, 70000, 0755);
    ck_assert_int_eq(vfs_materialize("/p", out, sizeof out, host, sizeof host), 0);
    int old = open(out, O_RDONLY);
    ck_assert_int_ge(old, 0);
    put_file("/p.new", 5, 90000, 0755);
    ck_assert_int_eq(vfs_rename("/p.new", "/p", 0), 0);
    ck_assert_int_eq(vfs_materialize("/p", out, sizeof out, host, sizeof host), 0);
    int fresh = open(out, O_RDONLY);
    ck_assert_int_ge(fresh, 0);
    check_bytes(fresh, 5, 90000);
    check_bytes(old, 4, 70000);
    close(fresh);
    /* rewritten in place, same size: a new mtime, a new copy */
    usleep(2000);
    put_file("/p", 6, 90000, 0755);
    ck_assert_int_eq(vfs_materialize("/p", out, sizeof out, host, sizeof host), 0);
    fresh = open(out, O_RDONLY);
    check_bytes(fresh, 6, 90000);
    close(fresh);
    close(old);
}
END_TEST

/* Several processes copy the same new file at once. */
START_TEST(test_concurrent)
{
    char host[VFS_HOST_MAX], out[VFS_HOST_MAX];
    put_file("/big", 7, 600000, 0755);
    pid_t kids[6];
    for (int i = 0; i < 6; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            vfs_after_fork();
            int rc = 0;
            for (int k = 0; k < 5 && rc == 0; k++) {
                char o[VFS_HOST_MAX], h[VFS_HOST_MAX];
                rc = vfs_materialize("/big", o, sizeof o, h, sizeof h);
                struct stat st;
                if (rc == 0 && (stat(o, &st) < 0 || st.st_size != 600000))
                    rc = 1;
            }
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 6; i++) {
        int status;
        ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(vfs_materialize("/big", out, sizeof out, host, sizeof host), 0);
    int fd = open(out, O_RDONLY);
    check_bytes(fd, 7, 600000);
    close(fd);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_copy_layout_and_reuse,
        test_errors,
        test_type_changes,
        test_replaced,
        test_concurrent,
    };
    return vfs_fixture_main("vfs_materialize", setup, teardown, tests, (int)(sizeof tests / sizeof *tests));
}

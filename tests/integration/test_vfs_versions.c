/* test_vfs_versions.c - an open reads one whole committed version of a
 * file, or fails; never bytes no writer wrote (the soak's whole files of
 * zeros). Engine only (no shim), real PostgreSQL and a file:// bucket.
 *
 * This process caches a file's attributes (a stat, TTLs of a minute, no
 * metadata shared with the node, so the walk loads no block map); another
 * process then replaces the file behind those caches: a checkpoint renamed
 * over it (the old inode is deleted with its slices) or a rewrite in place
 * with O_TRUNC and another size. The next open must read the old or the new
 * bytes exactly: a block map read for the cached version gave the old size
 * over no slices (zeros) or over the new slices (zeros past the new end).
 * Needs SHIMFS_META (a database it may format).
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


static void setup(void)
{
    /* attributes trusted long enough to be older than the file */
    setenv("SHIMFS_ATTR_TTL", "60", 1);
    setenv("SHIMFS_ENTRY_TTL", "60", 1);
    setenv("SHIMFS_NODE_META", "0", 1);
    setenv("SHIMFS_AGENT", "0", 1);
    vfs_fixture_setup("vfsversions", "1f0e0d0c-0b0a-4908-8706-050403020101");
}

static void teardown(void)
{
    vfs_fixture_teardown();
}

/* Another process writes n bytes of seed to path (O_TRUNC), fsyncs, closes
 * and, with `to`, renames it there: the way a checkpoint is saved. */
static void other_process_writes(const char *path, unsigned seed, size_t n, const char *to)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        vfs_after_fork();
        char host[VFS_HOST_MAX];
        struct vfs_file *f;
        char *data = malloc(n);
        if (!data || vfs_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f, host, sizeof host))
            _exit(2);
        vfs_fixture_fill(data, n, seed);
        if (vfs_pwrite(f, data, n, 0) != (ssize_t)n || vfs_fsync(f, 0) || vfs_release(f))
            _exit(3);
        _exit(to && vfs_rename(path, to, 0) ? 4 : 0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer of %s failed (%d)", path,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void stat_size(const char *path, off_t want)
{
    char host[VFS_HOST_MAX];
    struct stat st;
    ck_assert_int_eq(vfs_stat(path, 0, &st, host, sizeof host), 0);
    ck_assert_int_eq(st.st_size, want);
}

static int is_version(const char *got, ssize_t n, unsigned seed, size_t size)
{
    if (n != (ssize_t)size)
        return 0;
    char *want = malloc(size);
    vfs_fixture_fill(want, size, seed);
    int same = memcmp(got, want, size) == 0;
    free(want);
    return same;
}

/* Open path, read it whole, and require one of the two versions. Returns
 * which: 1 old, 2 new. */
static int read_one_version(const char *path, unsigned old_seed, size_t old_size,
                            unsigned new_seed, size_t new_size)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f = NULL;
    int rc = vfs_open(path, O_RDONLY, 0, &f, host, sizeof host);
    ck_assert_msg(rc == 0, "open %s: %s", path, strerror(-rc));
    size_t cap = (old_size > new_size ? old_size : new_size) + 4096;
    char *got = calloc(1, cap);
    ssize_t n = vfs_pread(f, got, cap, 0);
    struct stat st;
    ck_assert_int_eq(vfs_fstat(f, &st), 0);
    int fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    size_t zeros = 0;
    for (ssize_t i = 0; i < n; i++)
        zeros += got[i] == 0;
    int which = is_version(got, n, old_seed, old_size) ? 1 : is_version(got, n, new_seed, new_size) ? 2 : 0;
    free(got);
    ck_assert_msg(which, "%s: read %zd bytes (%zu of them zero), neither the old version (%zu bytes) "
                  "nor the new one (%zu bytes)", path, n, zeros, old_size, new_size);
    ck_assert_int_eq(st.st_size, (off_t)(which == 1 ? old_size : new_size));
    return which;
}

/* A checkpoint renamed over the file: the inode this process's caches name
 * is deleted, slices and all. */
START_TEST(test_renamed_over_after_stat)
{
    other_process_writes("/ckpt", 1, 3000, NULL);
    stat_size("/ckpt", 3000);
    other_process_writes("/ckpt.tmp", 2, 5000, "/ckpt");
    /* the old inode is gone: only the new version can be read */
    ck_assert_int_eq(read_one_version("/ckpt", 1, 3000, 2, 5000), 2);
}
END_TEST

/* The same inode written again, shorter: its cached size is the old one. */
START_TEST(test_rewritten_after_stat)
{
    other_process_writes("/inplace", 3, 150000, NULL);    /* three 64 KiB blocks */
    stat_size("/inplace", 150000);
    other_process_writes("/inplace", 4, 1000, NULL);
    read_one_version("/inplace", 3, 150000, 4, 1000);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_renamed_over_after_stat,
        test_rewritten_after_stat,
    };
    return vfs_fixture_main("vfs_versions", setup, teardown, tests, (int)(sizeof tests / sizeof *tests));
}

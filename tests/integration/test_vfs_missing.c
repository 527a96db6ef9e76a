/* test_vfs_missing.c - a file whose block is gone from the object store
 * (deleted while still referenced) reads as EIO, never as ENOENT (its
 * name exists), never as a hole of zeros or any other bytes; also when the
 * node's cached copy fails its check and the refetch finds no object.
 * Engine only (no shim), real PostgreSQL and a file:// bucket.
 * Needs SHIMFS_META (a database it may format).
 */
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

#define BLOCK VFS_FX_BLOCK


static void setup(void)
{
    setenv("SHIMFS_NODE_META", "0", 1);
    setenv("SHIMFS_AGENT", "0", 1);
    setenv("SHIMFS_PREFETCH", "0", 1);
    setenv("SHIMFS_INLINE_MAX", "0", 1); /* small files' objects, not inline blocks */
    vfs_fixture_setup("vfsmissing", "2f0e0d0c-0b0a-4908-8706-050403020102");
}

static void teardown(void)
{
    vfs_fixture_teardown();
}

/* Another process writes n bytes of seed to path, its blocks on the
 * node's cache disk before it exits. */
static void other_process_writes(const char *path, unsigned seed, size_t n)
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
        _exit(vfs_cache_flush() ? 4 : 0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer of %s failed (%d)", path,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Run `what` on every regular file under dir whose name ends with suffix
 * ("" for all); returns how many. */
static int each_file(const char *dir, const char *suffix, void (*what)(const char *path))
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        size_t nl = strlen(e->d_name), sl = strlen(suffix);
        if (S_ISDIR(st.st_mode))
            n += each_file(path, suffix, what);
        else if (S_ISREG(st.st_mode) && nl >= sl && strcmp(e->d_name + nl - sl, suffix) == 0) {
            what(path);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void remove_file(const char *path) { ck_assert_int_eq(unlink(path), 0); }

/* Flip a byte in the middle of a cached block (its checksum xattr stays). */
static void damage_file(const char *path)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    char b;
    ck_assert_int_eq(pread(fd, &b, 1, st.st_size / 2), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, st.st_size / 2), 1);
    close(fd);
}

/* Delete the objects whose key ends with suffix from the bucket ("": all). */
static void objects_deleted(const char *suffix)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/bucket", vfs_fx_scratch);
    ck_assert_int_ge(each_file(dir, suffix, remove_file), 1);
}

/* The node's cache emptied: the next read must go to the store. */
static void cache_emptied(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cache/blocks", vfs_fx_scratch);
    ck_assert_int_ge(each_file(dir, "", remove_file), 1);
}

/* Open and read path whole: the open or the read fails with EIO, and no
 * byte that is not the file's reaches the caller. */
static void read_fails_eio(const char *path, unsigned seed, size_t size)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f = NULL;
    int rc = vfs_open(path, O_RDONLY, 0, &f, host, sizeof host);
    if (rc < 0) {
        ck_assert_msg(rc == -EIO, "open %s: %s, not EIO", path, strerror(-rc));
        return;
    }
    char *got = calloc(1, size + 4096), *want = malloc(size);
    vfs_fixture_fill(want, size, seed);
    ssize_t n = 0, r = 0;
    while (n < (ssize_t)size && (r = vfs_pread(f, got + n, size + 4096 - (size_t)n, (uint64_t)n)) > 0)
        n += r;
    int fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    ck_assert_msg(memcmp(got, want, (size_t)n) == 0, "%s: wrong bytes among the %zd read", path, n);
    free(got);
    free(want);
    ck_assert_msg(r == -EIO, "%s: read %zd of %zu bytes, then %s, not EIO", path, n, size,
                  r < 0 ? strerror((int)-r) : "end of file");
}

/* A file of one block, cold on this node: its object is gone. */
START_TEST(test_small_file_missing_object)
{
    other_process_writes("/small", 1, 3000);
    objects_deleted("_0_3000");
    cache_emptied();
    read_fails_eio("/small", 1, 3000);
}
END_TEST

/* A file of three blocks: the middle one is gone. */
START_TEST(test_large_file_missing_block)
{
    other_process_writes("/large", 2, 2 * BLOCK + 5000);
    objects_deleted("_1_65536");
    cache_emptied();
    read_fails_eio("/large", 2, 2 * BLOCK + 5000);
}
END_TEST

/* A one-block file handed over as the cache file itself: the program's
 * first read is checked, fails, and the refetch finds no object. */
START_TEST(test_damaged_cache_file_missing_object)
{
    other_process_writes("/cached", 3, 5000);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cache/blocks", vfs_fx_scratch);
    ck_assert_int_eq(each_file(dir, "_0_5000", damage_file), 1);
    objects_deleted("_0_5000");
    char host[VFS_HOST_MAX];
    struct vfs_file *f = NULL;
    ck_assert_int_eq(vfs_open("/cached", O_RDONLY, 0, &f, host, sizeof host), 0);
    ck_assert_msg(vfs_file_native(f) && vfs_file_unchecked(f), "not the unchecked cache file");
    char buf[8192];
    int fd = vfs_file_fd(f), newfd = -1;
    ssize_t n = pread(fd, buf, sizeof buf, 0);   /* what the program's read got */
    ck_assert_int_eq(n, 5000);
    int rc = vfs_file_check(f, buf, (size_t)n, 0, &newfd);
    ck_assert_msg(rc == -EIO, "check of a damaged block without its object: %d (%s), not EIO", rc,
                  rc < 0 ? strerror(-rc) : "accepted");
    ck_assert_int_eq(newfd, -1);
    vfs_release(f);
    close(fd);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        test_small_file_missing_object,
        test_large_file_missing_block,
        test_damaged_cache_file_missing_object,
    };
    return vfs_fixture_main("vfs_missing", setup, teardown, tests, (int)(sizeof tests / sizeof *tests));
}

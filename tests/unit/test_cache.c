/* test_cache.c - the node cache on a real temporary directory (cache/):
 * put/read/ranges, the file as the block, checksums and corruption, atomic
 * publication, read_many, removal, queue accounting, puts without a copy
 * (cache_put_ref), direct puts (CACHE_PUT_DIRECT), io_uring vs pwrite,
 * sidecar checksums (ramfs has no user xattrs) and named temps. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "cache.h"
#include "cache_internal.h"
#include "codec.h"

#define UUID "6f1c2b7e-0000-4000-8000-00000000cafe"

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    remove(p);
    return 0;
}

static void rm_rf(const char *d)
{
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Mounts made by a test live in the test process's own mount namespace,
 * so they vanish with it even when an assertion ends the test early. */
static void private_mounts(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/shimfs-tcache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static void mkkey(char *k, size_t cap, int id, size_t len)
{
    snprintf(k, cap, UUID "/chunks/0/%d/%d_0_%zu", id / 1000, id, len);
}

static unsigned char *pattern(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static struct cache *copen(const char *dir, uint64_t limit, int every, int uring)
{
    struct cache_config cfg = { .dir = dir, .size_limit = limit, .free_space_ratio = 0,
                                .verify_every_read = every, .use_uring = uring };
    struct cache *c = NULL;
    ck_assert_int_eq(cache_open(&cfg, &c), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void bpath(char *out, size_t cap, const char *dir, const char *key)
{
    snprintf(out, cap, "%s/blocks/%s", dir, key);
}

static void put_block(struct cache *c, int id, size_t len)
{
    char key[256];
    mkkey(key, sizeof key, id, len);
    unsigned char *d = pattern(len, (unsigned)id);
    int r = cache_put(c, key, d, len);
    if (r == -ENOSPC) {
        /* The put queue was full (the writer is slower than the test on a
         * busy disk): a drop is the promised answer; once drained it fits. */
        ck_assert_int_eq(cache_flush(c), 0);
        r = cache_put(c, key, d, len);
    }
    ck_assert_int_eq(r, 0);
    free(d);
}

/* Reads the whole block and compares it with its pattern: 1 hit, 0 miss. */
static int check_block(struct cache *c, int id, size_t len)
{
    char key[256];
    mkkey(key, sizeof key, id, len);
    unsigned char *want = pattern(len, (unsigned)id), *got = malloc(len + 16);
    ssize_t n = cache_read(c, key, got, len + 16, 0);
    int hit = n >= 0;
    if (hit) {
        ck_assert_int_eq(n, (ssize_t)len);
        ck_assert(memcmp(want, got, len) == 0);
    } else {
        ck_assert_int_eq(n, -ENOENT);
    }
    free(want);
    free(got);
    return hit;
}

static int count_files(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "find '%s' -type f | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    ck_assert_int_eq(fscanf(f, "%d", &n), 1);
    pclose(f);
    return n;
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char b;
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

START_TEST(test_put_read_ranges)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    size_t lens[] = { 0, 1, 4095, 4096, 131072, 4u << 20 };
    for (int i = 0; i < 6; i++)
        put_block(c, i, lens[i]);
    ck_assert_int_eq(cache_flush(c), 0);
    for (int i = 0; i < 6; i++) {
        char key[256];
        mkkey(key, sizeof key, i, lens[i]);
        ck_assert_int_eq(cache_contains(c, key), 1);
        ck_assert_int_eq(check_block(c, i, lens[i]), 1);
        if (lens[i] < 100)
            continue;
        unsigned char *want = pattern(lens[i], (unsigned)i), buf[300];
        uint64_t offs[] = { 1, lens[i] / 2, lens[i] - 100 };
        for (int k = 0; k < 3; k++) {   /* ranges, first use and warm */
            ck_assert_int_eq(cache_read(c, key, buf, 100, offs[k]), 100);
            ck_assert(memcmp(buf, want + offs[k], 100) == 0);
        }
        ck_assert_int_eq(cache_read(c, key, buf, 300, lens[i] - 10), 10);  /* tail */
        ck_assert(memcmp(buf, want + lens[i] - 10, 10) == 0);
        ck_assert_int_eq(cache_read(c, key, buf, 300, lens[i] + 5), 0);    /* past the end */
        free(want);
    }
    /* a second handle (like another process) verifies on first use */
    struct cache *c2 = copen(dir, 1ull << 30, 0, 1);
    ck_assert_int_eq(check_block(c2, 4, 131072), 1);
    unsigned char b[16];
    char key[256];
    mkkey(key, sizeof key, 4, 131072);
    ck_assert_int_eq(cache_read(c2, key, b, 16, 1000), 16);
    mkkey(key, sizeof key, 99, 10);
    ck_assert_int_eq(cache_read(c, key, b, 10, 0), -ENOENT);
    ck_assert_int_eq(cache_contains(c, key), 0);
    struct cache_stats st;
    ck_assert_int_eq(cache_get_stats(c, &st), 0);
    ck_assert_uint_eq(st.puts, 6);
    ck_assert_uint_eq(st.files, 6);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_ge(st.hits, 6 + 5 * 4);
    ck_assert_uint_eq(st.corrupt, 0);
    ck_assert_uint_eq(st.limit_bytes, 1ull << 30);
    /* used: whole 4 KiB pages (the empty block costs one) */
    ck_assert_uint_eq(st.used_bytes, 4096 + 4096 + 4096 + 4096 + 131072 + (4u << 20));
    cache_close(c2);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_bad_keys)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 1 << 20, 0, 1);
    const char *bad[] = { "", "/abs/x_0_1", "a//b_0_1", "a/../b_0_1", "..", "a/./b", "a/b/", "." };
    unsigned char b[4] = "abc";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(cache_put(c, bad[i], b, 3), -EINVAL);
        ck_assert_int_eq(cache_read(c, bad[i], b, 3, 0), -ENOENT);
        ck_assert_int_eq(cache_contains(c, bad[i]), 0);
    }
    char key[256];
    mkkey(key, sizeof key, 7, 10);             /* the key names 10 bytes */
    ck_assert_int_eq(cache_put(c, key, b, 3), -EINVAL);
    ck_assert_int_eq(cache_put(c, "x", NULL, 3), -EINVAL);
    ck_assert_int_eq(cache_flush(c), 0);
    ck_assert_int_eq(count_files(dir), 2);     /* lock and stats only */
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* The cache file is the block: exact bytes, 0600, checksum in the xattr. */
START_TEST(test_file_is_the_block)
{
    char *dir = tmpdir(), key[256], path[512];
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    put_block(c, 7, 131072);
    cache_flush(c);
    mkkey(key, sizeof key, 7, 131072);
    bpath(path, sizeof path, dir, key);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 131072);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    unsigned char *want = pattern(131072, 7), *got = malloc(131072), x[8];
    int fd = open(path, O_RDONLY);
    ck_assert_int_eq(read(fd, got, 131072), 131072);
    close(fd);
    ck_assert(memcmp(want, got, 131072) == 0);
    ck_assert_int_eq(getxattr(path, "user.shimfs.xxh3", x, 8), 8);
    uint64_t h = XXH3_64bits(want, 131072), v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | x[i];
    ck_assert_uint_eq(v, h);
    /* open_block: a descriptor of the file itself */
    uint32_t len = 0;
    fd = cache_open_block(c, key, O_CLOEXEC, &len);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(len, 131072);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 131072);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(pread(fd, got, 131072, 0), 131072);
    ck_assert(memcmp(want, got, 131072) == 0);
    close(fd);
    fd = cache_open_block(c, key, 0, &len);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    close(fd);
    mkkey(key, sizeof key, 8, 10);
    ck_assert_int_eq(cache_open_block(c, key, 0, &len), -ENOENT);
    ck_assert_int_eq(count_files(dir) - 2, 1);      /* tmp/ holds nothing */
    free(want);
    free(got);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_corrupt_detected)
{
    char *dir = tmpdir(), key[256], path[512];
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    for (int i = 0; i < 4; i++)
        put_block(c, i, 65536);
    cache_flush(c);
    unsigned char buf[65536];
    /* 0: flipped byte, seen by a fresh process (first use verifies) */
    mkkey(key, sizeof key, 0, 65536);
    bpath(path, sizeof path, dir, key);
    flip_byte(path, 12345);
    struct cache *c2 = copen(dir, 1ull << 30, 0, 1);
    ck_assert_int_eq(cache_read(c2, key, buf, 100, 0), -ENOENT);   /* a range still checks all */
    ck_assert_int_eq(access(path, F_OK), -1);
    /* 1: flipped after this process verified it: only verify_every_read sees it */
    mkkey(key, sizeof key, 1, 65536);
    bpath(path, sizeof path, dir, key);
    ck_assert_int_eq(cache_read(c2, key, buf, sizeof buf, 0), 65536);
    flip_byte(path, 0);
    ck_assert_int_eq(cache_read(c2, key, buf, sizeof buf, 0), 65536);
    struct cache *c3 = copen(dir, 1ull << 30, 1, 1);
    ck_assert_int_eq(cache_read(c3, key, buf, sizeof buf, 0), -ENOENT);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* 2: truncated: open_block refuses it */
    mkkey(key, sizeof key, 2, 65536);
    bpath(path, sizeof path, dir, key);
    ck_assert_int_eq(truncate(path, 4096), 0);
    uint32_t len;
    ck_assert_int_eq(cache_open_block(c2, key, 0, &len), -ENOENT);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* 3: checksum xattr lost: cannot be verified, so it is dropped */
    mkkey(key, sizeof key, 3, 65536);
    bpath(path, sizeof path, dir, key);
    ck_assert_int_eq(removexattr(path, "user.shimfs.xxh3"), 0);
    ck_assert_int_eq(cache_read(c2, key, buf, sizeof buf, 0), -ENOENT);
    ck_assert_int_eq(access(path, F_OK), -1);
    struct cache_stats st, node;
    cache_get_stats(c2, &st);
    ck_assert_uint_eq(st.corrupt, 3);
    cache_get_node_stats(c2, &node);
    ck_assert_uint_eq(node.corrupt, 4);
    ck_assert_uint_eq(node.files, 0);
    ck_assert_uint_eq(node.used_bytes, 0);
    /* the caller refetches: a new put lands again */
    put_block(c2, 0, 65536);
    cache_flush(c2);
    ck_assert_int_eq(check_block(c2, 0, 65536), 1);
    cache_close(c3);
    cache_close(c2);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* A big block is checked 128 KiB piece by piece in the reader's buffer:
 * its pieces' sums are stored with it; a fresh process reads a good piece
 * of a damaged block, and the damaged piece is caught (and the file
 * dropped); an unaligned first read checks the block whole; and the sums
 * are not stored when the bytes do not match the block's checksum. */
START_TEST(test_piece_checks)
{
    enum { BIG = 4u << 20, PIECE = 128u << 10 };
    char *dir = tmpdir(), key[256], path[512], sums[1024];
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    put_block(c, 7, BIG);
    put_block(c, 8, BIG);
    cache_flush(c);
    mkkey(key, sizeof key, 7, BIG);
    bpath(path, sizeof path, dir, key);
    ck_assert_int_eq(getxattr(path, "user.shimfs.xxh3p", sums, sizeof sums), 32 * 8);
    unsigned char *want = pattern(BIG, 7), *buf = malloc(BIG);
    flip_byte(path, 10 * PIECE + 77);
    struct cache *c2 = copen(dir, 1ull << 30, 0, 1);
    ck_assert_int_eq(cache_read(c2, key, buf, PIECE, 3 * PIECE), PIECE); /* a good piece */
    ck_assert(memcmp(buf, want + 3 * PIECE, PIECE) == 0);
    ck_assert_int_eq(cache_read(c2, key, buf, 2 * PIECE, 10 * PIECE), -ENOENT);
    ck_assert_int_eq(access(path, F_OK), -1);
    /* unaligned: the whole block is checked (here: good) */
    mkkey(key, sizeof key, 8, BIG);
    unsigned char *want8 = pattern(BIG, 8);
    ck_assert_int_eq(cache_read(c2, key, buf, 1000, PIECE + 5), 1000);
    ck_assert(memcmp(buf, want8 + PIECE + 5, 1000) == 0);
    /* a put whose bytes do not match its checksum gets no piece sums */
    struct cache_stats st;
    mkkey(key, sizeof key, 9, BIG);
    ck_assert_int_eq(cache_put_ref(c, key, want, BIG, 12345, 0, NULL, NULL), 0);
    cache_put_wait(c, key);
    bpath(path, sizeof path, dir, key);
    ck_assert_int_eq(getxattr(path, "user.shimfs.xxh3p", sums, sizeof sums), -1);
    cache_get_stats(c2, &st);
    ck_assert_uint_eq(st.corrupt, 1);
    free(want);
    free(want8);
    free(buf);
    cache_close(c2);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* A reader process never sees part of a block while 4 MiB blocks land. */
START_TEST(test_atomic_publish)
{
    char *dir = tmpdir();
    enum { N = 24, LEN = 4 << 20 };
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(go[1]);
        struct cache *c = copen(dir, 1ull << 32, 1, 1);
        unsigned char *buf = malloc(LEN);
        char key[256], path[512];
        int bad = 0, seen = 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int it = 0; it < 100000 && seen < N; it++) {
            seen = 0;
            for (int i = 0; i < N; i++) {
                mkkey(key, sizeof key, i, LEN);
                bpath(path, sizeof path, dir, key);
                struct stat st;
                if (stat(path, &st) == 0 && st.st_size != LEN)
                    bad++;
                ssize_t n = cache_read(c, key, buf, LEN, 0);
                if (n >= 0 && n != LEN)
                    bad++;
                seen += n == LEN;
            }
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 60)
                break;
        }
        struct cache_stats s;
        cache_get_stats(c, &s);
        _exit(bad || s.corrupt || seen != N ? 1 : 0);
    }
    close(go[0]);
    struct cache *c = copen(dir, 1ull << 32, 0, 1);
    for (int i = 0; i < N; i++)
        put_block(c, i, LEN);
    cache_flush(c);
    close(go[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(check_block(c, i, LEN), 1);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_read_many)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    enum { N = 80 };       /* more than one ring's worth */
    for (int i = 0; i < N; i += 2)
        put_block(c, i, 8192 + (size_t)i * 100);
    cache_flush(c);
    for (int round = 0; round < 2; round++) {      /* first use, then warm */
        struct cache_io io[N];
        char keys[N][256];
        unsigned char *bufs[N];
        for (int i = 0; i < N; i++) {
            mkkey(keys[i], sizeof keys[i], i, 8192 + (size_t)i * 100);
            bufs[i] = malloc(4096);
            io[i] = (struct cache_io){ .key = keys[i], .buf = bufs[i], .len = 4096,
                                       .off = (uint64_t)i * 50, .result = 12345 };
        }
        ck_assert_int_eq(cache_read_many(c, io, N), 0);
        for (int i = 0; i < N; i++) {
            if (i % 2) {
                ck_assert_int_eq(io[i].result, -ENOENT);
            } else {
                unsigned char *want = pattern(8192 + (size_t)i * 100, (unsigned)i);
                ck_assert_int_eq(io[i].result, 4096);
                ck_assert(memcmp(bufs[i], want + i * 50, 4096) == 0);
                free(want);
            }
            free(bufs[i]);
        }
    }
    ck_assert_int_eq(cache_read_many(c, NULL, 0), 0);
    /* a fresh process verifies what the batch read: a damaged block misses */
    char key[256], path[512];
    mkkey(key, sizeof key, 4, 8192 + 400);
    bpath(path, sizeof path, dir, key);
    flip_byte(path, 8000);
    struct cache *c2 = copen(dir, 1ull << 30, 0, 1);
    struct cache_io io[3];
    char keys[3][256];
    unsigned char bufs[3][8600];
    for (int i = 0; i < 3; i++) {
        mkkey(keys[i], sizeof keys[i], 2 * (i + 1), 8192 + (size_t)(i + 1) * 200);
        io[i] = (struct cache_io){ .key = keys[i], .buf = bufs[i], .len = sizeof bufs[i] };
    }
    ck_assert_int_eq(cache_read_many(c2, io, 3), 0);
    ck_assert_int_eq(io[0].result, 8392);
    ck_assert_int_eq(io[1].result, -ENOENT);
    ck_assert_int_eq(io[2].result, 8600);          /* part of it: the file is checked */
    unsigned char *want = pattern(8792, 6);
    ck_assert(memcmp(bufs[2], want, 8600) == 0);
    free(want);
    ck_assert_int_eq(access(path, F_OK), -1);
    cache_close(c2);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_remove_and_duplicates)
{
    char *dir = tmpdir(), key[256];
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    for (int k = 0; k < 3; k++)          /* the same block three times */
        put_block(c, 5, 100000);
    cache_flush(c);
    put_block(c, 5, 100000);             /* already on disk */
    cache_flush(c);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.puts, 1);
    ck_assert_uint_eq(st.files, 1);
    ck_assert_uint_eq(st.used_bytes, 102400);
    mkkey(key, sizeof key, 5, 100000);
    ck_assert_int_eq(cache_remove(c, key), 0);
    ck_assert_int_eq(cache_remove(c, key), -ENOENT);
    ck_assert_int_eq(cache_contains(c, key), 0);
    ck_assert_int_eq(check_block(c, 5, 100000), 0);
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.files, 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* Every put is accounted: stored, or dropped because the queue was full,
 * and then the caller is told (-ENOSPC). */
START_TEST(test_queue_accounting)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 1ull << 32, 0, 1);
    enum { N = 120, LEN = 2 << 20 };
    unsigned char *d = pattern(LEN, 1);
    char key[256];
    unsigned refused = 0;
    for (int i = 0; i < N; i++) {
        mkkey(key, sizeof key, i, LEN);
        int r = cache_put(c, key, d, LEN);
        ck_assert(r == 0 || r == -ENOSPC);
        refused += r == -ENOSPC;
    }
    mkkey(key, sizeof key, 1000, 65u << 20);   /* bigger than the whole queue */
    unsigned char *big = calloc(1, 65u << 20);
    ck_assert_int_eq(cache_put(c, key, big, 65u << 20), -ENOSPC);
    free(big);
    cache_flush(c);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.puts + st.dropped, N + 1);
    ck_assert_uint_eq(st.dropped, refused + 1);  /* the caller was told of each drop */
    ck_assert_uint_eq(st.put_errors, 0);
    ck_assert_int_eq(count_files(dir) - 2, (int)st.puts);
    free(d);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* cache_put_ref: the cache keeps the caller's bytes (no copy), hands them
 * back exactly once whatever happens to the put, stores the given checksum,
 * and CACHE_PUT_WAIT waits for room instead of dropping. */
struct ref_count { int released; };

static void ref_release(void *arg)
{
    __atomic_fetch_add(&((struct ref_count *)arg)->released, 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_put_ref)
{
    char *dir = tmpdir(), key[256];
    struct cache *c = copen(dir, 1ull << 32, 0, 1);
    enum { N = 40, LEN = 2 << 20 };          /* 80 MiB: more than the queue holds */
    unsigned char *d[N];
    struct ref_count rc[N];
    for (int i = 0; i < N; i++) {
        d[i] = pattern(LEN, (unsigned)i);
        rc[i].released = 0;
        mkkey(key, sizeof key, i, LEN);
        ck_assert_int_eq(cache_put_ref(c, key, d[i], LEN, XXH3_64bits(d[i], LEN), CACHE_PUT_WAIT,
                                       ref_release, &rc[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        mkkey(key, sizeof key, i, LEN);
        cache_put_wait(c, key);
        ck_assert_int_eq(rc[i].released, 1);  /* back once the block is on disk */
        ck_assert_int_eq(cache_contains(c, key), 1);
        ck_assert_int_eq(check_block(c, i, LEN), 1);
    }
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.puts, N);            /* waited for room: nothing dropped */
    ck_assert_uint_eq(st.dropped, 0);

    /* refused and duplicate puts give the bytes back at once */
    struct ref_count bad = { 0 }, dup = { 0 };
    mkkey(key, sizeof key, 1, LEN);
    ck_assert_int_eq(cache_put_ref(c, key, d[1], LEN - 1, 0, 0, ref_release, &bad), -EINVAL);
    ck_assert_int_eq(bad.released, 1);
    ck_assert_int_eq(cache_put_ref(c, key, d[1], LEN, XXH3_64bits(d[1], LEN), 0, ref_release, &dup), 0);
    cache_flush(c);
    ck_assert_int_eq(dup.released, 1);

    /* the stored checksum is the one given: a wrong one reads back as corrupt */
    struct ref_count wrong = { 0 };
    mkkey(key, sizeof key, 100, LEN);
    ck_assert_int_eq(cache_put_ref(c, key, d[0], LEN, XXH3_64bits(d[0], LEN) ^ 1, 0, ref_release,
                                   &wrong), 0);
    cache_put_wait(c, key);
    ck_assert_int_eq(wrong.released, 1);
    unsigned char *got = malloc(LEN);
    ck_assert_int_eq(cache_read(c, key, got, LEN, 0), -ENOENT);
    free(got);
    for (int i = 0; i < N; i++)
        free(d[i]);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* cache_config.queue_bytes bounds what waits for the disk: a block bigger
 * than it is refused, and no more than it is ever held (cache_put_ref's
 * bytes stay the cache's until released). */
START_TEST(test_queue_bound)
{
    char *dir = tmpdir();
    struct cache_config cfg = {
        .dir = dir, .size_limit = 1ull << 32, .use_uring = 1, .queue_bytes = 8u << 20
    };
    struct cache *c = NULL;
    ck_assert_int_eq(cache_open(&cfg, &c), 0);
    enum { N = 40, LEN = 4 << 20 };
    char key[256];
    unsigned char *big = calloc(1, 12u << 20);
    mkkey(key, sizeof key, 500, 12u << 20);
    ck_assert_int_eq(cache_put(c, key, big, 12u << 20), -ENOSPC); /* bigger than the queue */
    unsigned char *d[N];
    struct ref_count h = { 0 };
    int taken = 0, most = 0;
    for (int i = 0; i < N; i++) {
        d[i] = pattern(LEN, (unsigned)i);
        mkkey(key, sizeof key, i, LEN);
        int r = cache_put_ref(c, key, d[i], LEN, XXH3_64bits(d[i], LEN), 0, ref_release, &h);
        ck_assert(r == 0 || r == -ENOSPC);
        taken += r == 0;
        int now = taken - __atomic_load_n(&h.released, __ATOMIC_SEQ_CST);
        most = now > most ? now : most;
    }
    ck_assert_int_le(most, 2); /* never more than 8 MiB held */
    cache_flush(c);
    cache_close(c);
    /* the default (64 MiB) takes the 12 MiB block */
    c = copen(dir, 1ull << 32, 0, 1);
    mkkey(key, sizeof key, 501, 12u << 20);
    ck_assert_int_eq(cache_put(c, key, big, 12u << 20), 0);
    cache_flush(c);
    cache_close(c);
    for (int i = 0; i < N; i++)
        free(d[i]);
    free(big);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* With SHIMFS_CACHE_VERIFY=always the writer reads back into its buffer:
 * a ref put is copied, and the caller's bytes come back at once. */
START_TEST(test_put_ref_verify_always)
{
    char *dir = tmpdir(), key[256];
    struct cache *c = copen(dir, 1ull << 32, 1, 1);
    enum { LEN = 300000 };
    unsigned char *d = pattern(LEN, 7);
    struct ref_count rc = { 0 };
    mkkey(key, sizeof key, 7, LEN);
    ck_assert_int_eq(cache_put_ref(c, key, d, LEN, XXH3_64bits(d, LEN), 0, ref_release, &rc), 0);
    ck_assert_int_eq(rc.released, 1);
    memset(d, 0, LEN);                        /* ours again: the cache copied them */
    cache_put_wait(c, key);
    ck_assert_int_eq(check_block(c, 7, LEN), 1);
    free(d);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* Puts a fixed scenario; returns a digest of what reads return. */
static uint64_t scenario(const char *dir, int uring)
{
    struct cache *c = copen(dir, 1ull << 30, 0, uring);
    size_t lens[] = { 0, 1, 5000, 131072, 1 << 20, 3000000 };
    for (int i = 0; i < 6; i++)
        put_block(c, i + 10, lens[i]);
    cache_flush(c);
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    unsigned char *buf = malloc(3000000);
    char key[256];
    for (int i = 0; i < 7; i++) {
        mkkey(key, sizeof key, i + 10, i < 6 ? lens[i] : 7);
        ssize_t n = cache_read(c, key, buf, 3000000, 0);
        XXH3_64bits_update(h, &n, sizeof n);
        if (n > 0)
            XXH3_64bits_update(h, buf, (size_t)n);
        n = cache_read(c, key, buf, 777, 333);
        XXH3_64bits_update(h, &n, sizeof n);
        if (n > 0)
            XXH3_64bits_update(h, buf, (size_t)n);
    }
    struct cache_io io[7];
    char keys[7][256];
    for (int i = 0; i < 7; i++) {
        mkkey(keys[i], sizeof keys[i], i + 10, i < 6 ? lens[i] : 7);
        io[i] = (struct cache_io){ .key = keys[i], .buf = buf + i * 1000, .len = 1000, .off = 0 };
    }
    cache_read_many(c, io, 7);
    for (int i = 0; i < 7; i++)
        XXH3_64bits_update(h, &io[i].result, sizeof io[i].result);
    XXH3_64bits_update(h, buf, 7000);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.puts, 6);
    ck_assert_uint_eq(st.put_errors, 0);
    uint64_t r = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    free(buf);
    cache_close(c);
    return r;
}

/* Pages of a cache file that are in the page cache (mincore on a map). */
static long resident_pages(const char *path)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = ((size_t)st.st_size + pg - 1) / pg;
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    unsigned char *vec = malloc(n);
    ck_assert_int_eq(mincore(m, (size_t)st.st_size, vec), 0);
    long in = 0;
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(m, (size_t)st.st_size);
    close(fd);
    return in;
}

/* One CACHE_PUT_DIRECT put of len bytes at buf + shift (a page-aligned
 * buffer); returns the published file's resident pages before any read. */
static long put_direct(struct cache *c, const char *dir, int id, size_t len, size_t shift)
{
    char key[256], path[512];
    unsigned char *buf = NULL, *want = pattern(len, (unsigned)id);
    ck_assert_int_eq(posix_memalign((void **)&buf, 4096, len + shift), 0);
    memcpy(buf + shift, want, len);
    struct ref_count rc = { 0 };
    mkkey(key, sizeof key, id, len);
    ck_assert_int_eq(cache_put_ref(c, key, buf + shift, len, XXH3_64bits(want, len),
                                   CACHE_PUT_WAIT | CACHE_PUT_DIRECT, ref_release, &rc), 0);
    cache_put_wait(c, key);
    ck_assert_int_eq(rc.released, 1);
    bpath(path, sizeof path, dir, key);
    long in = resident_pages(path);
    ck_assert_int_eq(check_block(c, id, len), 1);   /* the bytes, checked */
    free(buf);
    free(want);
    return in;
}

/* CACHE_PUT_DIRECT (warmup): aligned blocks go to disk around the page
 * cache; a misaligned buffer or a short length is written normally; a file
 * system without O_DIRECT (ramfs) writes normally too. Same bytes always. */
START_TEST(test_put_direct)
{
    char *dir = tmpdir();
    struct statfs sf;
    ck_assert_int_eq(statfs(dir, &sf), 0);
    struct cache *c = copen(dir, 1ull << 32, 0, 1);
    long in = put_direct(c, dir, 1, 4u << 20, 0);
    if (c->direct_mode > 0 && sf.f_type != TMPFS_MAGIC) {
        ck_assert_int_eq(in, 0);                        /* not in the page cache */
        ck_assert_int_eq(put_direct(c, dir, 2, 4u << 20, 32), 1024);  /* misaligned */
        ck_assert_int_eq(put_direct(c, dir, 3, 70000, 0), 18);         /* short tail */
        ck_assert_int_eq(put_direct(c, dir, 4, 131072, 0), 0);
        /* a direct write the kernel refuses (a length off the sector size,
         * let through by a wrong alignment) is redone normally, and the
         * process stops asking for direct writes */
        c->dio_off = 1;
        ck_assert_int_eq(put_direct(c, dir, 6, 70000, 0), 18);
        ck_assert_int_eq(c->direct_mode, -1);
        struct cache_stats st;
        cache_get_stats(c, &st);
        ck_assert_uint_eq(st.put_errors, 0);
    } else {
        printf("SKIP test_put_direct residency: %s has no O_DIRECT\n", dir);
    }
    cache_close(c);
    rm_rf(dir);

    private_mounts();
    if (mount("ramfs", dir, "ramfs", 0, NULL) == 0) {
        c = copen(dir, 1ull << 30, 0, 1);
        put_direct(c, dir, 5, 1u << 20, 0);
        ck_assert_int_eq(c->direct_mode, -1);           /* probed, refused, fell back */
        cache_close(c);
        ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
    }
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(test_uring_and_pwrite_agree)
{
    char *a = tmpdir(), *b = tmpdir(), cmd[512];
    uint64_t ha = scenario(a, 1), hb = scenario(b, 0);
    ck_assert_uint_eq(ha, hb);
    snprintf(cmd, sizeof cmd, "diff -r '%s/blocks' '%s/blocks' >/dev/null", a, b);
    ck_assert_int_eq(system(cmd), 0);
    rm_rf(a); rm_rf(b);
    free(a); free(b);
}
END_TEST

/* Named temps (no O_TMPFILE) publish the same way and leave nothing. */
START_TEST(test_named_temps)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 1ull << 30, 0, 0);
    c->tmpfile_mode = -1;
    for (int i = 0; i < 5; i++)
        put_block(c, i, 70000);
    put_block(c, 0, 70000);
    cache_flush(c);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(check_block(c, i, 70000), 1);
    ck_assert_int_eq(count_files(dir), 5 + 2);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ramfs takes no user xattrs: checksums go to sidecar files, which are
 * verified, accounted and removed with their blocks. */
START_TEST(test_sidecar_checksums)
{
    char *dir = tmpdir(), key[256], path[512];
    private_mounts();
    if (mount("ramfs", dir, "ramfs", 0, NULL) < 0) {
        printf("SKIP test_sidecar_checksums: cannot mount ramfs: %s\n", strerror(errno));
        rmdir(dir);
        free(dir);
        return;
    }
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    for (int i = 0; i < 4; i++)
        put_block(c, i, 10000);
    cache_flush(c);
    ck_assert_int_eq(c->xattr_mode, -1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(check_block(c, i, 10000), 1);
    mkkey(key, sizeof key, 2, 10000);
    snprintf(path, sizeof path, "%s/sums/%s", dir, key);
    ck_assert_int_eq(access(path, F_OK), 0);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.used_bytes, 4 * (12288 + 4096));
    bpath(path, sizeof path, dir, key);
    flip_byte(path, 9999);
    struct cache *c2 = copen(dir, 1ull << 30, 0, 1);
    ck_assert_int_eq(check_block(c2, 2, 10000), 0);
    ck_assert_int_eq(check_block(c2, 3, 10000), 1);
    snprintf(path, sizeof path, "%s/sums/%s", dir, key);
    ck_assert_int_eq(access(path, F_OK), -1);
    mkkey(key, sizeof key, 1, 10000);
    ck_assert_int_eq(cache_remove(c2, key), 0);
    snprintf(path, sizeof path, "%s/sums/%s", dir, key);
    ck_assert_int_eq(access(path, F_OK), -1);
    cache_close(c2);
    cache_close(c);
    ck_assert_int_eq(umount2(dir, MNT_DETACH), 0);
    rmdir(dir);
    free(dir);
}
END_TEST

/* The cache's XXH3 (AVX-512 or AVX2 where available, streamed for files)
 * is the codec's checksum, bit for bit. */
START_TEST(test_checksum_paths)
{
    size_t sizes[] = { 0, 1, 16, 63, 64, 240, 241, 1000, 1024, 131072, 262143, 262144,
                       300001, (4u << 20) + 7 };
    char path[] = "/tmp/shimfs-tcache-sum-XXXXXX";
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = pattern(sizes[i], (unsigned)i);
        uint64_t want = codec_checksum(p, sizes[i]), got = 0;
        ck_assert_uint_eq(XXH3_64bits(p, sizes[i]), want);
        ck_assert_uint_eq(cache_sum(p, sizes[i]), want);
        /* each vector build where this CPU has it (cache_sum picks one) */
        if (cache_cpu_vec() >= CACHE_VEC_AVX512)
            ck_assert_uint_eq(cache_xxh_avx512(p, sizes[i]), want);
        if (cache_cpu_vec() >= CACHE_VEC_AVX2)
            ck_assert_uint_eq(cache_xxh_avx2(p, sizes[i]), want);
        int fd = mkstemp(path);
        ck_assert_int_eq(write(fd, p, sizes[i]), (ssize_t)sizes[i]);
        ck_assert_int_eq(cache_sum_file(fd, sizes[i], &got), 0);
        ck_assert_uint_eq(got, want);
        if (sizes[i])
            ck_assert_int_eq(cache_sum_file(fd, sizes[i] - 1, &got), -EBADMSG);
        ck_assert_int_eq(cache_sum_file(fd, sizes[i] + 1, &got), -EBADMSG);
        close(fd);
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
        free(p);
    }
}
END_TEST

/* A symlink inside the cache tree is never followed, at the end of a key
 * or in its middle: a valid block (ours, right checksum) reached through
 * one is a miss. */
START_TEST(test_no_symlinks_in_tree)
{
    char *a = tmpdir(), *b = tmpdir(), p[512], t[512];
    struct cache *ca = copen(a, 0, 0, 0);
    put_block(ca, 3, 5000);
    ck_assert_int_eq(cache_flush(ca), 0);
    ck_assert_int_eq(check_block(ca, 3, 5000), 1);
    struct cache *cb = copen(b, 0, 0, 0);
    snprintf(p, sizeof p, "%s/blocks/" UUID, b);
    snprintf(t, sizeof t, "%s/blocks/" UUID, a);
    ck_assert_int_eq(symlink(t, p), 0);           /* in the middle of the key */
    ck_assert_int_eq(check_block(cb, 3, 5000), 0);
    ck_assert_int_eq(unlink(p), 0);
    char key[256];
    mkkey(key, sizeof key, 3, 5000);
    snprintf(p, sizeof p, "%s/blocks/" UUID "/chunks/0/0", b);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    ck_assert_int_eq(system(cmd), 0);
    bpath(p, sizeof p, b, key);
    bpath(t, sizeof t, a, key);
    ck_assert_int_eq(symlink(t, p), 0);           /* at its end */
    ck_assert_int_eq(check_block(cb, 3, 5000), 0);
    cache_close(cb);
    cache_close(ca);
    rm_rf(a);
    rm_rf(b);
    free(a);
    free(b);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_checksum_paths);
    tcase_add_test(t, test_put_read_ranges);
    tcase_add_test(t, test_bad_keys);
    tcase_add_test(t, test_file_is_the_block);
    tcase_add_test(t, test_corrupt_detected);
    tcase_add_test(t, test_piece_checks);
    tcase_add_test(t, test_atomic_publish);
    tcase_add_test(t, test_read_many);
    tcase_add_test(t, test_remove_and_duplicates);
    tcase_add_test(t, test_queue_accounting);
    tcase_add_test(t, test_queue_bound);
    tcase_add_test(t, test_put_ref);
    tcase_add_test(t, test_put_ref_verify_always);
    tcase_add_test(t, test_uring_and_pwrite_agree);
    tcase_add_test(t, test_named_temps);
    tcase_add_test(t, test_sidecar_checksums);
    tcase_add_test(t, test_put_direct);
    tcase_add_test(t, test_no_symlinks_in_tree);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(cache_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_cache_policy.c - the cache's promises about space, processes and
 * bad disks (cache/): size limit and LRU eviction, free-space floor, several
 * processes putting at once, fork with puts in flight, io_uring refused by
 * seccomp, full and read-only file systems (small tmpfs mounts; skipped with
 * a message where mount is not permitted), node-wide stats. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cache.h"
#include "cache_internal.h"
#include "log.h"

#define UUID "0b5e7d1a-1111-4222-8333-444455556666"

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

static char *tmpdir(void)
{
    char *d = strdup("/tmp/shimfs-tpolicy-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

/* Mounts made by a test live in the test process's own mount namespace,
 * so they vanish with it even when an assertion ends the test early. */
static void private_mounts(void)
{
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* Mount a tmpfs of `size` on a new directory; NULL (and a SKIP line) when
 * this process may not mount. */
static char *tmpfs_dir(const char *size, const char *test)
{
    char *d = tmpdir(), opt[64];
    /* mode: a tmpfs root is 1777 by default, a folder the cache refuses
     * (others could have planted files in it, core/trust.h) */
    snprintf(opt, sizeof opt, "size=%s,mode=0700", size);
    private_mounts();
    if (mount("tmpfs", d, "tmpfs", 0, opt) < 0) {
        printf("SKIP %s: cannot mount a tmpfs (%s): needs root or CAP_SYS_ADMIN\n", test, strerror(errno));
        rmdir(d);
        free(d);
        return NULL;
    }
    return d;
}

static void tmpfs_done(char *d)
{
    ck_assert_int_eq(umount2(d, MNT_DETACH), 0);
    rmdir(d);
    free(d);
}

static void mkkey(char *k, size_t cap, int id, size_t len)
{
    snprintf(k, cap, UUID "/chunks/0/%d/%d_0_%zu", id / 1000, id, len);
}

static unsigned char *pattern(size_t len, unsigned seed)
{
    unsigned char *p = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 7;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (unsigned char)x;
    }
    return p;
}

static struct cache *copen(const char *dir, uint64_t limit, double ratio, int uring)
{
    struct cache_config cfg = { .dir = dir, .size_limit = limit, .free_space_ratio = ratio,
                                .verify_every_read = 0, .use_uring = uring };
    struct cache *c = NULL;
    ck_assert_int_eq(cache_open(&cfg, &c), 0);
    return c;
}

static void put_block(struct cache *c, int id, size_t len)
{
    char key[256];
    mkkey(key, sizeof key, id, len);
    unsigned char *d = pattern(len, (unsigned)id);
    ck_assert_int_eq(cache_put(c, key, d, len), 0);
    free(d);
}

/* 1 hit with the right bytes, 0 miss; anything else fails the test. */
static int check_block(struct cache *c, int id, size_t len)
{
    char key[256];
    mkkey(key, sizeof key, id, len);
    unsigned char *want = pattern(len, (unsigned)id), *got = malloc(len + 1);
    ssize_t n = cache_read(c, key, got, len + 1, 0);
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

/* What blocks/ really holds, counted the way the cache accounts it. */
static uint64_t du_bytes, du_files;
static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p; (void)f;
    if (flag == FTW_F) {
        du_bytes += st->st_size ? ((uint64_t)st->st_size + 4095) / 4096 * 4096 : 4096;
        du_files++;
    }
    return 0;
}

static uint64_t actual_usage(const char *dir, uint64_t *files)
{
    char p[512];
    snprintf(p, sizeof p, "%s/blocks", dir);
    du_bytes = du_files = 0;
    nftw(p, du_cb, 16, FTW_PHYS);
    if (files)
        *files = du_files;
    return du_bytes;
}

static int tmp_entries(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/tmp", dir);
    du_bytes = du_files = 0;
    nftw(p, du_cb, 4, FTW_PHYS);
    return (int)du_files;
}

static void assert_accounting_exact(struct cache *c, const char *dir)
{
    uint64_t files, used = actual_usage(dir, &files);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.used_bytes, used);
    ck_assert_uint_eq(st.files, files);
}

START_TEST(test_eviction_limit)
{
    char *dir = tmpdir();
    const uint64_t limit = 1 << 20;
    struct cache *c = copen(dir, limit, 0, 1);
    for (int g = 0; g < 8; g++) {          /* one directory per group */
        for (int i = 0; i < 8; i++)
            put_block(c, g * 1000 + i, 65536);
        cache_flush(c);
        ck_assert_uint_le(actual_usage(dir, NULL), limit);
        assert_accounting_exact(c, dir);
    }
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_eq(st.puts, 64);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_le(st.used_bytes, limit);
    ck_assert_uint_ge(st.used_bytes, limit / 2);     /* it still caches */
    for (int i = 7000; i < 7008; i++)               /* the newest are there */
        ck_assert_int_eq(check_block(c, i, 65536), 1);
    char p[512];                                    /* emptied directories go */
    snprintf(p, sizeof p, "%s/blocks/" UUID "/chunks/0/0", dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    put_block(c, 999, 2 << 20);                      /* bigger than the cache */
    cache_flush(c);
    ck_assert_int_eq(check_block(c, 999, 2 << 20), 0);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

static void set_mtime(const char *dir, int id, size_t len, time_t t)
{
    char key[256], p[512];
    mkkey(key, sizeof key, id, len);
    snprintf(p, sizeof p, "%s/blocks/%s", dir, key);
    struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = t } };
    ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static time_t get_mtime(const char *dir, int id, size_t len)
{
    char key[256], p[512];
    struct stat st;
    mkkey(key, sizeof key, id, len);
    snprintf(p, sizeof p, "%s/blocks/%s", dir, key);
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_mtime;
}

/* The least recently used go first; a read refreshes a block's age. */
START_TEST(test_eviction_lru)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 10 * 65536, 0, 1);
    for (int i = 0; i < 8; i++)
        put_block(c, i, 65536);
    cache_flush(c);
    time_t t0 = time(NULL) - 10000;
    for (int i = 0; i < 8; i++)
        set_mtime(dir, i, 65536, t0 + i);
    /* a fresh process reads block 0: its mtime is refreshed */
    struct cache *r = copen(dir, 10 * 65536, 0, 1);
    ck_assert_int_eq(check_block(r, 0, 65536), 1);
    ck_assert_int_ge(get_mtime(dir, 0, 65536), time(NULL) - 5);
    /* within the minute, hits in that process cost no syscall: no refresh */
    set_mtime(dir, 0, 65536, t0 + 100);
    ck_assert_int_eq(check_block(r, 0, 65536), 1);
    ck_assert_int_eq(get_mtime(dir, 0, 65536), t0 + 100);
    cache_close(r);
    for (int i = 8; i < 12; i++)
        put_block(c, i, 65536);
    cache_flush(c);
    int gone = 0;
    for (int i = 1; i < 8; i++) {
        if (!check_block(c, i, 65536)) {
            ck_assert_int_eq(gone, i - 1);   /* evicted: a prefix of the oldest */
            gone = i;
        }
    }
    ck_assert_int_ge(gone, 2);
    ck_assert_int_eq(check_block(c, 0, 65536), 1);
    for (int i = 8; i < 12; i++)
        ck_assert_int_eq(check_block(c, i, 65536), 1);
    assert_accounting_exact(c, dir);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_free_space_floor)
{
    char *dir = tmpfs_dir("4m", "test_free_space_floor");
    if (!dir)
        return;
    struct cache *c = copen(dir, 0, 0.5, 1);
    for (int g = 0; g < 6; g++) {
        for (int i = 0; i < 8; i++)
            put_block(c, g * 8 + i, 131072);
        cache_flush(c);
        struct statvfs v;
        ck_assert_int_eq(statvfs(dir, &v), 0);
        ck_assert_uint_ge((uint64_t)v.f_bavail * 2, (uint64_t)v.f_blocks);
    }
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_gt(st.files, 4);
    ck_assert_uint_eq(st.put_errors, 0);
    ck_assert_int_eq(check_block(c, 47, 131072), 1);
    assert_accounting_exact(c, dir);
    cache_close(c);
    tmpfs_done(dir);
}
END_TEST

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Disk full: puts fail quietly (one log line), reads miss or are whole. */
START_TEST(test_full_fs)
{
    char *dir = tmpfs_dir("2m", "test_full_fs");
    if (!dir)
        return;
    char logf[] = "/tmp/shimfs-tpolicy-log-XXXXXX";
    int lfd = mkstemp(logf);
    close(lfd);
    char spec[128];
    snprintf(spec, sizeof spec, "warn,file=%s", logf);
    log_configure(spec);
    struct cache *c = copen(dir, 1ull << 30, 0, 1);
    for (int i = 0; i < 40; i++)
        put_block(c, i, 131072);
    ck_assert_int_eq(cache_flush(c), 0);
    int hits = 0;
    for (int i = 0; i < 40; i++)
        hits += check_block(c, i, 131072);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_int_gt(hits, 0);
    ck_assert_int_lt(hits, 40);
    ck_assert_uint_eq(st.puts, (uint64_t)hits);
    ck_assert_uint_gt(st.put_errors, 0);
    ck_assert_int_eq(count_lines(logf, "cannot store"), 1);
    ck_assert_int_eq(tmp_entries(dir), 0);
    assert_accounting_exact(c, dir);
    cache_close(c);
    unlink(logf);
    tmpfs_done(dir);
}
END_TEST

START_TEST(test_read_only_dir)
{
    char *dir = tmpfs_dir("8m", "test_read_only_dir");
    if (!dir)
        return;
    struct cache *c = copen(dir, 1ull << 30, 0.1, 1);
    for (int i = 0; i < 4; i++)
        put_block(c, i, 50000);
    cache_flush(c);
    cache_close(c);
    ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
    c = copen(dir, 1ull << 30, 0.1, 1);
    for (int i = 0; i < 4; i++)                 /* hits, verified */
        ck_assert_int_eq(check_block(c, i, 50000), 1);
    put_block(c, 9, 50000);
    ck_assert_int_eq(cache_flush(c), 0);
    ck_assert_int_eq(check_block(c, 9, 50000), 0);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.put_errors, 1);
    ck_assert_uint_eq(st.hits, 4);
    cache_close(c);
    tmpfs_done(dir);
}
END_TEST

/* A directory that cannot even be created: everything misses, quietly. */
START_TEST(test_unusable_dir)
{
    struct cache *c = copen("/proc/self/no/such/cache", 1 << 20, 0.1, 1);
    put_block(c, 1, 1000);
    ck_assert_int_eq(cache_flush(c), 0);
    ck_assert_int_eq(check_block(c, 1, 1000), 0);
    uint32_t len;
    char key[256];
    mkkey(key, sizeof key, 1, 1000);
    ck_assert_int_eq(cache_open_block(c, key, 0, &len), -ENOENT);
    ck_assert_int_eq(cache_remove(c, key), -ENOENT);
    struct cache_stats st;
    ck_assert_int_eq(cache_get_stats(c, &st), 0);
    ck_assert_uint_eq(st.put_errors, 1);
    ck_assert_uint_eq(st.misses, 2);
    cache_close(c);
}
END_TEST

static pid_t spawn_putter(const char *dir, uint64_t limit, int first, int n, const int go[2])
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid)
        return pid;
    char c0;
    close(go[1]);
    if (read(go[0], &c0, 1) != 0)       /* wait for the start signal (EOF) */
        _exit(3);
    struct cache *c = copen(dir, limit, 0, 1);
    for (int i = first; i < first + n; i++)
        put_block(c, i, 20000 + (size_t)(i % 7) * 10000);
    cache_flush(c);
    int bad = 0;
    for (int i = first; i < first + n && !limit; i++)
        bad += check_block(c, i, 20000 + (size_t)(i % 7) * 10000) != 1;
    struct cache_stats st;
    cache_get_stats(c, &st);
    cache_close(c);
    _exit(bad || st.put_errors || st.corrupt ? 1 : 0);
}

static void wait_ok(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* Two processes put the same blocks at once: both succeed, one file each. */
START_TEST(test_two_processes_same_blocks)
{
    char *dir = tmpdir();
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t a = spawn_putter(dir, 0, 0, 60, go), b = spawn_putter(dir, 0, 0, 60, go);
    close(go[0]);
    close(go[1]);
    wait_ok(a);
    wait_ok(b);
    struct cache *c = copen(dir, 0, 0, 1);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(check_block(c, i, 20000 + (size_t)(i % 7) * 10000), 1);
    struct cache_stats node;
    cache_get_node_stats(c, &node);
    ck_assert_uint_eq(node.files, 60);
    ck_assert_uint_ge(node.puts, 60);          /* a lost race is not a put */
    ck_assert_uint_le(node.puts, 120);
    ck_assert_int_eq(tmp_entries(dir), 0);
    assert_accounting_exact(c, dir);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* Three processes evict from one small cache: the shared count never
 * passes the limit (sampled all along), and ends equal to the disk. */
START_TEST(test_processes_share_limit)
{
    char *dir = tmpdir(), sp[512];
    const uint64_t limit = 1 << 20;
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t p[3];
    for (int k = 0; k < 3; k++)
        p[k] = spawn_putter(dir, limit, 1000 * (k + 1), 80, go);
    struct cache *c = copen(dir, limit, 0, 1);      /* creates dir/stats */
    snprintf(sp, sizeof sp, "%s/stats", dir);
    int sfd = open(sp, O_RDONLY);
    ck_assert_int_ge(sfd, 0);
    const struct cache_shared *sh = mmap(NULL, 4096, PROT_READ, MAP_SHARED, sfd, 0);
    ck_assert(sh != MAP_FAILED);
    close(go[0]);
    close(go[1]);
    uint64_t max = 0;
    int alive = 3;
    for (int t = 0; t < 200000 && alive; t++) {
        uint64_t u = __atomic_load_n(&sh->used, __ATOMIC_ACQUIRE);
        max = u > max ? u : max;
        alive = 0;
        for (int k = 0; k < 3; k++)
            alive += p[k] && waitpid(p[k], NULL, WNOHANG) == 0;
        usleep(100);
    }
    ck_assert_int_eq(alive, 0);
    ck_assert_uint_le(max, limit);
    ck_assert_uint_gt(max, limit / 2);
    ck_assert_uint_le(actual_usage(dir, NULL), limit);
    assert_accounting_exact(c, dir);
    struct cache_stats node;
    cache_get_node_stats(c, &node);
    ck_assert_uint_gt(node.evictions, 0);
    ck_assert_uint_eq(node.put_errors, 0);
    munmap((void *)sh, 4096);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* fork with puts queued: the parent's all land; each child, after
 * cache_after_fork (the engine's fork handler calls it; the cache itself
 * does not check the pid), has its own writer and can use the cache, two
 * children and the parent writing at once. */
START_TEST(test_fork_with_puts_in_flight)
{
    char *dir = tmpdir();
    struct cache *c = copen(dir, 0, 0, 1);
    for (int i = 0; i < 64; i++)
        put_block(c, i, 262144);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            cache_after_fork(c);
            for (int i = 0; i < 8; i++)
                put_block(c, 100 * (k + 1) + i, 100000);
            cache_flush(c);
            int bad = 0;
            for (int i = 0; i < 8; i++)
                bad += check_block(c, 100 * (k + 1) + i, 100000) != 1;
            for (int i = 0; i < 64; i++)
                check_block(c, i, 262144);       /* hit (right bytes) or miss */
            struct cache_stats st;
            cache_get_stats(c, &st);
            bad += st.puts != 8;
            cache_close(c);
            _exit(bad ? 1 : 0);
        }
    }
    cache_flush(c);
    for (int k = 0; k < 2; k++)
        wait_ok(kids[k]);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.puts, 64);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(check_block(c, i, 262144), 1);
    ck_assert_int_eq(tmp_entries(dir), 0);
    assert_accounting_exact(c, dir);
    cache_close(c);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* seccomp refuses io_uring_setup (as in many containers): same results
 * through pread/pwrite, one log line. */
START_TEST(test_uring_refused)
{
    char *dir = tmpdir();
    char logf[] = "/tmp/shimfs-tpolicy-log-XXXXXX";
    int lfd = mkstemp(logf);
    close(lfd);
    char spec[128];
    snprintf(spec, sizeof spec, "warn,file=%s", logf);
    log_configure(spec);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = 4, .filter = f };
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog), 0);
    struct cache *c = copen(dir, 0, 0, 1);
    for (int i = 0; i < 20; i++)
        put_block(c, i, 90000);
    cache_flush(c);
    struct cache_io io[20];
    char keys[20][256];
    unsigned char bufs[20][1000];
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(check_block(c, i, 90000), 1);
        mkkey(keys[i], sizeof keys[i], i, 90000);
        io[i] = (struct cache_io){ .key = keys[i], .buf = bufs[i], .len = 1000, .off = 5 };
    }
    ck_assert_int_eq(cache_read_many(c, io, 20), 0);
    for (int i = 0; i < 20; i++) {
        unsigned char *want = pattern(90000, (unsigned)i);
        ck_assert_int_eq(io[i].result, 1000);
        ck_assert(memcmp(bufs[i], want + 5, 1000) == 0);
        free(want);
    }
    ck_assert_int_eq(count_lines(logf, "io_uring unavailable"), 1);
    cache_close(c);
    unlink(logf);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* Counters of every process add up in dir/stats; a lost stats file is
 * rebuilt by a scan, which also clears temps left by a crash. */
START_TEST(test_node_stats_and_rescan)
{
    char *dir = tmpdir(), p[512];
    struct cache *a = copen(dir, 0, 0, 1), *b = copen(dir, 0, 0, 1);
    for (int i = 0; i < 5; i++)
        put_block(a, i, 30000);
    cache_flush(a);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(check_block(b, i, 30000), 1);
    ck_assert_int_eq(check_block(b, 77, 10), 0);
    struct cache_stats sa, sb, node;
    cache_get_stats(a, &sa);
    cache_get_stats(b, &sb);
    cache_get_node_stats(b, &node);
    ck_assert_uint_eq(sa.puts, 5);
    ck_assert_uint_eq(sb.hits, 5);
    ck_assert_uint_eq(node.puts, 5);
    ck_assert_uint_eq(node.hits, 5);
    ck_assert_uint_eq(node.misses, 1);
    ck_assert_uint_eq(node.bytes_hit, 5 * 30000);
    /* a block opened to be read through its fd counts its bytes too */
    char key[256];
    uint32_t blen = 0;
    mkkey(key, sizeof key, 3, 30000);
    int bfd = cache_open_block(b, key, O_CLOEXEC, &blen);
    ck_assert_int_ge(bfd, 0);
    close(bfd);
    ck_assert_uint_eq(blen, 30000);
    cache_get_node_stats(a, &node);
    ck_assert_uint_eq(node.hits, 6);
    ck_assert_uint_eq(node.bytes_hit, 6 * 30000);
    /* object-store GETs of any process are the node's */
    cache_note_get(a, 1000, 2000000, 0);
    cache_note_get(b, 500, 3000000, 1);
    cache_get_node_stats(b, &node);
    ck_assert_uint_eq(node.gets, 2);
    ck_assert_uint_eq(node.get_bytes, 1000);
    ck_assert_uint_eq(node.get_ns, 5000000);
    ck_assert_uint_eq(node.get_errors, 1);
    cache_get_stats(a, &sa);
    ck_assert_uint_eq(sa.gets, 1);
    snprintf(p, sizeof p, "%s/stats", dir);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_size, 4096);
    cache_close(a);
    cache_close(b);
    ck_assert_int_eq(unlink(p), 0);
    snprintf(p, sizeof p, "%s/tmp/b.999999.1", dir);       /* a crashed writer's temp */
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, "partial", 7), 7);
    close(fd);
    a = copen(dir, 0, 0, 1);
    put_block(a, 5, 30000);
    cache_flush(a);
    cache_get_node_stats(a, &node);
    ck_assert_uint_eq(node.files, 6);
    ck_assert_uint_eq(node.hits, 0);
    ck_assert_int_eq(access(p, F_OK), -1);
    assert_accounting_exact(a, dir);
    cache_close(a);
    rm_rf(dir);
    free(dir);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("cache_policy");
    TCase *t = tcase_create("policy");
    tcase_set_timeout(t, 180);
    tcase_add_test(t, test_eviction_limit);
    tcase_add_test(t, test_eviction_lru);
    tcase_add_test(t, test_free_space_floor);
    tcase_add_test(t, test_full_fs);
    tcase_add_test(t, test_read_only_dir);
    tcase_add_test(t, test_unusable_dir);
    tcase_add_test(t, test_two_processes_same_blocks);
    tcase_add_test(t, test_processes_share_limit);
    tcase_add_test(t, test_fork_with_puts_in_flight);
    tcase_add_test(t, test_uring_refused);
    tcase_add_test(t, test_node_stats_and_rescan);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(policy_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

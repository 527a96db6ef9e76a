/* test_nodemeta.c - the node's shared metadata files (core/agent/nodemeta.c):
 * a directory snapshot round-trips exactly (entries, attributes, block
 * maps, the directory's own attributes); a snapshot taken before a local
 * commit (generation bump), an old one, a damaged or truncated one, one
 * of another directory and one of another volume key are all refused;
 * settings and blobs round-trip and age out; the folder name does not
 * contain the connection string. Local marks: a commit marking another
 * directory leaves a snapshot valid, one marking its directory (or
 * everything) does not, and the marks of a range of commits read back
 * (or "unknown" when they cannot be told). The node agent's words: a poll
 * of a chain begun before the question makes a snapshot as fresh as the
 * poll unless the agent marked its directory (or everything) since; a
 * snapshot asked before the chain began, or without a token, never is;
 * one spawn claim per period; one agent holds the lock; a wiped folder is
 * noticed. Deltas: a snapshot patched by the node's own commits stays
 * valid with their records (names set, gone, touched); a patch after a
 * local commit it does not cover, or with a commit that marked everything,
 * is refused and the snapshot goes stale; a torn group is not taken. The
 * agent's sweep removes old walk answers only. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "nodemeta.h"

#define CONN "postgresql://u:secret-pw@127.0.0.1:5432/db"
#define TOKEN 0x5eedULL

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    remove(p);
    return 0;
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/shimfs-tnodemeta-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

static struct meta_attr attr(uint64_t ino, uint32_t mode, uint64_t size)
{
    struct meta_attr a = { .ino = ino, .mode = mode, .uid = 1000, .gid = 100, .nlink = 1,
                           .size = size, .atime_ns = 1, .mtime_ns = 2000000007, .ctime_ns = 3,
                           .parent = 0, .rdev = 0 };
    return a;
}

/* A snapshot of directory dir with one entry, asked at wall time when. */
static void put_dir(struct nodemeta *nm, uint64_t dir, int64_t when, uint64_t token)
{
    struct nodemeta_buf b;
    struct meta_attr d = attr(dir, 040755, 0);
    struct nodemeta_stamp st = nodemeta_stamp(nm);
    st.wall = when;
    nodemeta_dir_begin(&b, dir, st, &d, when);
    struct meta_attr f = attr(dir + 1000, 0100644, 0);
    nodemeta_dir_entry(&b, "f", 1, &f);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, token), 0);
    nodemeta_buf_free(&b);
}

/* The agent's sweep of folder snapshots: old ones the chain does not vouch
 * for go with their deltas; vouched-for and young ones stay; a delta
 * without its snapshot goes; other files stay; at most max a sweep. */
START_TEST(test_sweep_dirs)
{
    char *dir = tmpdir();
    struct nodemeta *nm, *agent;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    ck_assert_int_eq(nodemeta_open(dir, CONN, &agent), 0);
    const int64_t sec = 1000000000LL;
    int64_t old = nodemeta_now() - 600 * sec, cut = nodemeta_now() - 60 * sec;
    put_dir(nm, 0x21, old, TOKEN);          /* before any chain, another state */
    nodemeta_chain_start(agent, TOKEN + 1);
    put_dir(nm, 0x22, old, TOKEN);          /* after it: vouched for */
    put_dir(nm, 0x23, old, TOKEN);          /* after it, then changed */
    put_dir(nm, 0x24, nodemeta_now(), TOKEN); /* young, then changed */
    uint64_t changed[2] = { 0x23, 0x24 };
    nodemeta_mark_remote(agent, changed, 2);
    int fd = nodemeta_dirfd(nm);
    struct timespec t[2] = { { 1000, 0 }, { 1000, 0 } };
    const char *files[] = { "d21", "d22", "d23", "x21", "x99", "w0000000000000001" };
    uint64_t v = 7;
    for (int i = 3; i < 6; i++)
        ck_assert_int_eq(nodemeta_save_blob(nm, files[i], nodemeta_stamp(nm), &v, sizeof v), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(utimensat(fd, files[i], t, 0), 0);
    int n1 = nodemeta_sweep_dirs(nm, cut, 1);
    ck_assert_int_eq(n1, 1);                                /* the bound */
    int n2 = nodemeta_sweep_dirs(nm, cut, 100);
    ck_assert_int_eq(n1 + n2, 3);       /* d21 (and x21 with it), d23, x99 */
    ck_assert_int_eq(nodemeta_sweep_dirs(nm, cut, 100), 0);
    ck_assert_int_eq(faccessat(fd, "d21", F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, "x21", F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, "d23", F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, "x99", F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, "d22", F_OK, 0), 0);     /* vouched for */
    ck_assert_int_eq(faccessat(fd, "d24", F_OK, 0), 0);     /* young */
    ck_assert_int_eq(faccessat(fd, files[5], F_OK, 0), 0);  /* another kind */
    ck_assert_int_eq(faccessat(fd, "gen", F_OK, 0), 0);
    /* a new chain that does not share its state: d22 goes too */
    nodemeta_chain_start(agent, TOKEN + 2);
    ck_assert_int_eq(nodemeta_sweep_dirs(nm, cut, 100), 1);
    ck_assert_int_eq(faccessat(fd, "d22", F_OK, 0), -1);
    nodemeta_close(agent);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

/* A directory of three entries: a file with two chunks, a subdirectory, a
 * file with no data. */
static void build(struct nodemeta *nm, uint64_t gen, int64_t when, struct nodemeta_buf *b)
{
    struct meta_attr d = attr(7, 040755, 0);
    struct nodemeta_stamp st = nodemeta_stamp(nm);
    st.gen = gen;
    st.wall = when;
    nodemeta_dir_begin(b, 7, st, &d, when - 5);
    struct meta_attr f1 = attr(10, 0100644, 70u << 20);
    nodemeta_dir_entry(b, "alpha.bin", 9, &f1);
    struct layout_slice s0[2] = { { 0, 101, 4096, 0, 4096 }, { 100, 102, 8192, 4, 50 } };
    nodemeta_dir_chunk(b, 0, s0, 2);
    struct layout_slice s1[1] = { { 0, 103, 1 << 20, 0, 1 << 20 } };
    nodemeta_dir_chunk(b, 1, s1, 1);
    struct meta_attr sub = attr(11, 040700, 0);
    nodemeta_dir_entry(b, "sub", 3, &sub);
    struct meta_attr f2 = attr(12, 0100600, 0);
    nodemeta_dir_entry(b, "z", 1, &f2);
    nodemeta_dir_chunk(b, 0, NULL, 0);
}

START_TEST(test_dir_round_trip)
{
    char *dir = tmpdir();
    struct nodemeta *nm;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    struct nodemeta_buf b;
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);

    struct nodemeta_snap s;
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, 10LL * 1000000000, &s), 0);
    ck_assert(s.has_dir_attr);
    ck_assert_uint_eq(s.dir_attr.ino, 7);
    ck_assert_uint_eq(s.dir_attr.mode, 040755);
    const char *name;
    size_t nlen;
    struct meta_attr a;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n;
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 1);
    ck_assert_uint_eq(nlen, 9);
    ck_assert(memcmp(name, "alpha.bin", 9) == 0);
    ck_assert_uint_eq(a.size, 70u << 20);
    ck_assert_int_eq(a.mtime_ns, 2000000007);
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 2);
    ck_assert_uint_eq(chunk, 0);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(sl[1].id, 102);
    ck_assert_uint_eq(sl[1].pos, 100);
    ck_assert_uint_eq(sl[1].len, 50);
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 2);
    ck_assert_uint_eq(chunk, 1);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(sl[0].size, 1 << 20);
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 1);
    ck_assert(nlen == 3 && memcmp(name, "sub", 3) == 0);
    ck_assert_uint_eq(a.mode, 040700);
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 1);
    ck_assert(nlen == 1 && name[0] == 'z');
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 2);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &sl, &n), 0);
    nodemeta_snap_free(&s);
    ck_assert_int_eq(nodemeta_dir_load(nm, 8, -1, &s), -ENOENT);
    /* what the node holds, as the agent asks before patching */
    ck_assert_int_eq(nodemeta_dir_held(nm, 7), 3);
    ck_assert_int_eq(nodemeta_dir_held(nm, 8), -ENOENT);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

START_TEST(test_dir_refused)
{
    char *dir = tmpdir();
    struct nodemeta *nm, *other;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    struct nodemeta_buf b;
    struct nodemeta_snap s;

    /* taken 3 s ago: fine for a 10 s TTL, too old for 1 s; any age for -1 */
    build(nm, nodemeta_gen(nm), nodemeta_now() - 3000000000LL, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, 1000000000LL, &s), -ESTALE);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, 10000000000LL, &s), 0);
    nodemeta_snap_free(&s);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    nodemeta_snap_free(&s);

    /* a commit on the node (through another handle: another process) */
    ck_assert_int_eq(nodemeta_open(dir, CONN, &other), 0);
    nodemeta_bump(other);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_dir_load(other, 7, -1, &s), 0);
    nodemeta_snap_free(&s);
    nodemeta_close(other);

    /* another volume (connection string) has its own folder */
    ck_assert_int_eq(nodemeta_open(dir, "postgresql://u@127.0.0.1/otherdb", &other), 0);
    ck_assert_int_eq(nodemeta_dir_load(other, 7, -1, &s), -ENOENT);
    nodemeta_close(other);

    /* damaged: one byte of the payload flipped, then a truncation */
    char path[512];
    DIR *md = NULL;
    snprintf(path, sizeof path, "%s/meta", dir);
    md = opendir(path);
    ck_assert_ptr_nonnull(md);
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(md))) {
        snprintf(path, sizeof path, "%s/meta/%s/d7", dir, e->d_name);
        found = e->d_name[0] != '.' && access(path, F_OK) == 0;
    }
    closedir(md);
    ck_assert(found);
    ck_assert(strstr(path, "secret") == NULL);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    char c;
    ck_assert_int_eq(pread(fd, &c, 1, st.st_size - 20), 1);
    c ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &c, 1, st.st_size - 20), 1);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    c ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &c, 1, st.st_size - 20), 1);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    nodemeta_snap_free(&s);
    ck_assert_int_eq(ftruncate(fd, st.st_size - 8), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    ck_assert_int_eq(ftruncate(fd, 10), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    close(fd);

    /* a file renamed to another directory's name is refused */
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    char to[512];
    snprintf(to, sizeof to, "%.*s/d9", (int)(strrchr(path, '/') - path), path);
    ck_assert_int_eq(rename(path, to), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 9, -1, &s), -ESTALE);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

START_TEST(test_local_marks)
{
    char *dir = tmpdir();
    struct nodemeta *nm, *other;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    ck_assert_int_eq(nodemeta_open(dir, CONN, &other), 0);
    struct nodemeta_buf b;
    struct nodemeta_snap s;
    uint64_t g0 = nodemeta_gen(nm);
    build(nm, g0, nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);

    /* another process commits in directories 8 and 9: 7 stays valid */
    uint64_t d89[2] = { 8, 9 };
    ck_assert_uint_eq(nodemeta_mark_local(other, d89, 2), g0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    nodemeta_snap_free(&s);
    /* then in 7 */
    uint64_t d7 = 7;
    ck_assert_uint_eq(nodemeta_mark_local(other, &d7, 1), g0 + 1);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    /* asked again after it: valid; then a commit that marks everything */
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    nodemeta_snap_free(&s);
    ck_assert_uint_eq(nodemeta_bump(other), g0 + 2);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    /* more than a ring slot holds: everything */
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    uint64_t many[7] = { 100, 101, 102, 103, 104, 105, 106 };
    nodemeta_mark_local(other, many, 7);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);

    /* the marks read back, distinct, per range of steps */
    uint64_t got[8];
    ck_assert_int_eq(nodemeta_local_changes(nm, g0, g0 + 1, got, 8), 2);
    ck_assert(got[0] == 8 && got[1] == 9);
    ck_assert_int_eq(nodemeta_local_changes(nm, g0, g0 + 2, got, 8), 3);
    ck_assert_uint_eq(got[2], 7);
    ck_assert_int_eq(nodemeta_local_changes(nm, g0, g0 + 2, got, 2), -1);  /* more than cap */
    ck_assert_int_eq(nodemeta_local_changes(nm, g0, g0 + 3, got, 8), -1);  /* everything */
    ck_assert_int_eq(nodemeta_local_changes(nm, g0 + 4, g0 + 4, got, 8), 0);
    ck_assert_int_eq(nodemeta_local_changes(nm, g0, g0 + 2000, got, 8), -1); /* past the ring */
    /* a step an older build took (no slot written) is unknown */
    uint64_t g = nodemeta_gen(nm);
    ck_assert_int_eq(nodemeta_local_changes(nm, g, g + 1, got, 8), -1);
    nodemeta_close(other);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

START_TEST(test_agent_vouches)
{
    char *dir = tmpdir();
    struct nodemeta *nm, *agent;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    ck_assert_int_eq(nodemeta_open(dir, CONN, &agent), 0);
    const int64_t sec = 1000000000LL;
    struct nodemeta_buf b;
    struct nodemeta_snap s;

    /* asked before any chain of polls: never vouched for */
    int64_t taken = nodemeta_now() - 3 * sec;
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    nodemeta_chain_start(agent, 0);
    int64_t polled = nodemeta_now() - sec / 10;
    nodemeta_set_verified(agent, polled, 42, 1);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);

    /* 3 s old, asked after the chain began: as fresh as the last poll */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_agent_pid(nm), 42);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    ck_assert_int_eq(s.fetched_ns, polled);
    ck_assert_int_eq(s.dir_attr_ns, polled);
    nodemeta_snap_free(&s);
    /* the database changed other directories: still vouched for */
    uint64_t others[3] = { 8, 9, 1 };
    nodemeta_mark_remote(agent, others, 3);
    nodemeta_set_verified(agent, polled, 42, 2);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    nodemeta_snap_free(&s);
    /* the poll is itself older than the TTL: nothing to extend */
    nodemeta_set_verified(agent, nodemeta_now() - 2 * sec, 42, 2);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* it changed directory 7: no more; a TTL-young one is served with its
     * own time (a change elsewhere only ends the vouching) */
    uint64_t d7 = 7;
    nodemeta_mark_remote(agent, &d7, 1);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 3);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    int64_t young = nodemeta_now() - sec / 2;
    build(nm, nodemeta_gen(nm), young, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_mark_remote(agent, &d7, 1);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 4);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    ck_assert_int_eq(s.fetched_ns, young);
    nodemeta_snap_free(&s);
    /* "everything changed" ends the vouching of all */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 5);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    nodemeta_snap_free(&s);
    nodemeta_mark_remote(agent, NULL, -1);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 6);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* a new chain (an agent restarted) vouches only for what is asked after it */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_chain_start(agent, 0);
    nodemeta_set_verified(agent, nodemeta_now(), 43, 7);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* asked before the chain began, of the very state its first poll saw
     * (the token the agent read after it): vouched for; another state's
     * answer, or one a later mark of its folder or of everything follows,
     * is not */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_chain_start(agent, TOKEN + 1);
    nodemeta_set_verified(agent, nodemeta_now(), 43, 7);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    nodemeta_chain_start(agent, TOKEN);
    int64_t first = nodemeta_now();
    nodemeta_set_verified(agent, first, 43, 7);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    ck_assert_int_eq(s.fetched_ns, first);
    nodemeta_snap_free(&s);
    nodemeta_mark_remote(agent, others, 3);
    nodemeta_set_verified(agent, nodemeta_now(), 43, 8);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    nodemeta_snap_free(&s);
    nodemeta_mark_remote(agent, &d7, 1);
    nodemeta_set_verified(agent, nodemeta_now(), 43, 9);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_chain_start(agent, TOKEN);
    nodemeta_mark_remote(agent, NULL, -1);
    nodemeta_set_verified(agent, nodemeta_now(), 44, 10);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* a chain restarted by an agent that sets no token (an older build):
     * the token of the chain before it does not carry over */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    nodemeta_chain_start(agent, TOKEN);
    nodemeta_set_verified(agent, nodemeta_now(), 44, 11);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    nodemeta_snap_free(&s);
    nodemeta_chain_start(agent, 0);
    nodemeta_set_verified(agent, nodemeta_now(), 45, 12);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* an answer that came without a token is never vouched for */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, 0), 0);
    nodemeta_buf_free(&b);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 8);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);
    /* a local commit to it: refused whatever the agent says */
    build(nm, nodemeta_gen(nm), taken, &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), 0);
    nodemeta_snap_free(&s);
    nodemeta_mark_local(agent, &d7, 1);
    nodemeta_set_verified(agent, nodemeta_now(), 42, 9);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, sec, &s), -ESTALE);

    /* a load counts as a use; one spawn claim per period */
    ck_assert(nodemeta_now() - nodemeta_used(agent) < 5 * sec);
    int64_t now = nodemeta_now();
    ck_assert_int_eq(nodemeta_claim_spawn(nm, now, 10 * sec), 1);
    ck_assert_int_eq(nodemeta_claim_spawn(agent, now + sec, 10 * sec), 0);
    ck_assert_int_eq(nodemeta_claim_spawn(agent, now + 11 * sec, 10 * sec), 1);

    /* one agent holds the lock at a time */
    int fd = nodemeta_agent_lock(agent);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(nodemeta_agent_lock(nm), -EBUSY);
    close(fd);
    fd = nodemeta_agent_lock(nm);
    ck_assert_int_ge(fd, 0);
    close(fd);

    /* the folder wiped and made again: the old mapping knows */
    ck_assert_int_eq(nodemeta_replaced(agent), 0);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    ck_assert_int_eq(nodemeta_replaced(agent), 1);
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    ck_assert_int_eq(nodemeta_replaced(agent), 1);
    ck_assert_int_eq(nodemeta_replaced(nm), 0);
    nodemeta_close(nm);
    nodemeta_close(agent);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

START_TEST(test_settings_and_blobs)
{
    char *dir = tmpdir();
    struct nodemeta *nm;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    struct meta_settings s = { .block_size = 4 << 20, .compress_algo = 1, .compress_level = 3 };
    snprintf(s.uuid, sizeof s.uuid, "0b5e7d1a-1111-4222-8333-444455556666");
    snprintf(s.bucket, sizeof s.bucket, "http://127.0.0.1:9/b");
    struct meta_settings got;
    ck_assert_int_eq(nodemeta_load_settings(nm, -1, &got), -ENOENT);
    ck_assert_int_eq(nodemeta_save_settings(nm, nodemeta_stamp(nm), &s), 0);
    nodemeta_bump(nm); /* a commit does not invalidate the settings */
    ck_assert_int_eq(nodemeta_load_settings(nm, 1000000000LL, &got), 0);
    ck_assert_str_eq(got.uuid, s.uuid);
    ck_assert_str_eq(got.bucket, s.bucket);
    ck_assert_uint_eq(got.block_size, 4 << 20);
    usleep(30000);
    ck_assert_int_eq(nodemeta_load_settings(nm, 10000000LL, &got), -ESTALE); /* 10 ms */

    uint64_t v[3] = { 1, 2, 3 }, w[3] = { 0 };
    struct nodemeta_stamp before = nodemeta_stamp(nm);
    nodemeta_bump(nm); /* a commit while the question was out: the answer is stale at once */
    ck_assert_int_eq(nodemeta_save_blob(nm, "statvfs", before, v, sizeof v), 0);
    ck_assert_int_eq(nodemeta_load_blob(nm, "statvfs", -1, 1, w, sizeof w), -ESTALE);
    ck_assert_int_eq(nodemeta_save_blob(nm, "statvfs", nodemeta_stamp(nm), v, sizeof v), 0);
    ck_assert_int_eq(nodemeta_load_blob(nm, "statvfs", -1, 1, w, sizeof w), 0);
    ck_assert_uint_eq(w[2], 3);
    ck_assert_int_eq(nodemeta_load_blob(nm, "statvfs", -1, 1, w, 2 * sizeof w[0]), -ESTALE);
    nodemeta_bump(nm);
    ck_assert_int_eq(nodemeta_load_blob(nm, "statvfs", -1, 1, w, sizeof w), -ESTALE);
    ck_assert_int_eq(nodemeta_load_blob(nm, "statvfs", -1, 0, w, sizeof w), 0);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

/* The delta's records of s: "+name" set, "-name" gone, "~name" touched. */
static void delta_str(struct nodemeta_snap *s, char *out, size_t cap)
{
    const char *name;
    size_t nlen, used = 0;
    struct meta_attr a;
    int k;
    out[0] = '\0';
    while ((k = nodemeta_delta_next(s, &name, &nlen, &a)) > 0)
        used += (size_t)snprintf(out + used, cap - used, "%c%.*s ",
                                 k == 1   ? '+'
                                 : k == 2 ? '-'
                                          : '~',
                                 (int)nlen, name);
    ck_assert_int_eq(k, 0);
}

/* The x7 delta file of the node folder under dir. */
static void delta_path(const char *dir, char *path, size_t cap)
{
    char m[512];
    snprintf(m, sizeof m, "%s/meta", dir);
    DIR *md = opendir(m);
    ck_assert_ptr_nonnull(md);
    struct dirent *de;
    while ((de = readdir(md)))
        if (de->d_name[0] != '.')
            snprintf(path, cap, "%s/meta/%s/x7", dir, de->d_name);
    closedir(md);
}

/* A node folder under dir with a fresh snapshot of folder 7 (build). */
static struct nodemeta *open_with_snapshot(const char *dir)
{
    struct nodemeta *nm;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    struct nodemeta_buf b;
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    return nm;
}

START_TEST(test_dir_delta)
{
    char *dir = tmpdir();
    struct nodemeta *nm = open_with_snapshot(dir);
    struct nodemeta_buf b;
    struct nodemeta_snap s;
    char got[256];

    /* commit 1 in 7 creates "new", commit 2 renames "z" to "zz" */
    uint64_t d7 = 7, d8 = 8, d78[2] = { 7, 8 };
    struct meta_attr nw = attr(20, 0100644, 0), zz = attr(12, 0100600, 0);
    uint64_t seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE); /* not patched yet */
    struct nodemeta_change c1 = { .name = "new", .nlen = 3, .a = &nw, .touch = 0 };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c1, 1), 0);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    struct nodemeta_change c2[2] = { { .name = "z", .nlen = 1 },
                                     { .name = "zz", .nlen = 2, .a = &zz } };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, c2, 2), 0);
    /* a commit in another folder needs nothing; one touching "sub" is taken */
    nodemeta_mark_local(nm, &d8, 1);
    seq = nodemeta_mark_local(nm, d78, 2) + 1;
    struct meta_attr sub = attr(11, 040700, 0);
    struct nodemeta_change c3 = { .name = "sub", .nlen = 3, .a = &sub, .touch = 1 };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c3, 1), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    ck_assert_ptr_nonnull(s.delta);
    ck_assert(!s.has_dir_attr); /* names changed: the folder's own times did */
    delta_str(&s, got, sizeof got);
    ck_assert_str_eq(got, "+new -z +zz ~sub ");
    /* a record can be rewritten by its reader (a touch folded into an entry) */
    s.delta_pos = 0;
    nodemeta_delta_set(&s, 3 * (s.delta_len / 4), &sub);
    delta_str(&s, got, sizeof got);
    ck_assert_str_eq(got, "+new -z +zz +sub ");
    nodemeta_snap_free(&s);

    /* a commit in 7 nobody patched: a later patch is refused, the
     * snapshot is stale */
    nodemeta_mark_local(nm, &d7, 1);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c1, 1), -ESTALE);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);

    /* a fresh snapshot starts a fresh delta; a torn last group is not taken */
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c1, 1), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    delta_str(&s, got, sizeof got);
    ck_assert_str_eq(got, "+new ");
    nodemeta_snap_free(&s);
    char path[512];
    delta_path(dir, path, sizeof path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 10), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    /* and a commit marking everything is never covered */
    build(nm, nodemeta_gen(nm), nodemeta_now(), &b);
    ck_assert_int_eq(nodemeta_dir_commit(nm, &b, TOKEN), 0);
    nodemeta_buf_free(&b);
    seq = nodemeta_mark_local(nm, NULL, -1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c1, 1), -ESTALE);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

/* The chunks and slice ids of the map record pos carries: "c0:1,2 c3:9 ",
 * or "none". */
static void map_str(struct nodemeta_snap *s, size_t pos, char *out, size_t cap)
{
    struct nodemeta_snap m;
    if (!nodemeta_delta_map(s, pos, &m)) {
        snprintf(out, cap, "none");
        return;
    }
    const char *name;
    size_t nlen, used = 0;
    struct meta_attr a;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n, k;
    out[0] = '\0';
    while ((k = nodemeta_snap_next(&m, &name, &nlen, &a, &chunk, &sl, &n)) == 2) {
        used += (size_t)snprintf(out + used, cap - used, "c%llu:", (unsigned long long)chunk);
        for (int i = 0; i < n; i++)
            used += (size_t)snprintf(out + used, cap - used, "%s%llu", i ? "," : "",
                                     (unsigned long long)sl[i].id);
        used += (size_t)snprintf(out + used, cap - used, " ");
    }
    ck_assert_int_eq(k, 0);
}

/* Records may carry their files' block maps (the agent's patches of other
 * nodes' changes): a reader gets each record's own, a fold moves a later
 * version's onto the record it folds into, and a damaged map byte spoils
 * its group as a damaged name would. */
START_TEST(test_dir_delta_maps)
{
    char *dir = tmpdir();
    struct nodemeta *nm = open_with_snapshot(dir);
    uint64_t d7 = 7;
    struct meta_attr f = attr(30, 0100644, 300), g = attr(31, 0100644, 0),
                     f2 = attr(30, 0100644, 400);
    struct meta_slice_rec map[3] = { { 0, { 0, 201, 100, 0, 100 } },
                                     { 0, { 100, 202, 100, 0, 100 } },
                                     { 3, { 0, 209, 100, 0, 100 } } };
    /* group 1: "f" with its map, "g" with none; group 2: "g2" with an
     * empty map (a file with no slices), "u" whose map is out of chunk
     * order (not taken); group 3: "f" again, same inode, a new map */
    uint64_t seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    struct nodemeta_change c1[2] = {
        { .name = "f", .nlen = 1, .a = &f, .map = map, .nmap = 3, .with_map = 1 },
        { .name = "g", .nlen = 1, .a = &g },
    };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, c1, 2), 0);
    struct meta_slice_rec back[2] = { map[2], map[0] };
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    struct nodemeta_change c2[2] = {
        { .name = "g2", .nlen = 2, .a = &g, .map = NULL, .nmap = 0, .with_map = 1 },
        { .name = "u", .nlen = 1, .a = &g, .map = back, .nmap = 2, .with_map = 1 },
    };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, c2, 2), 0);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    struct nodemeta_change c3 = {
        .name = "f", .nlen = 1, .a = &f2, .touch = 2, .map = map + 2, .nmap = 1, .with_map = 1
    };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c3, 1), 0);

    struct nodemeta_snap s;
    char got[256];
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    size_t rec = s.delta_len / 5; /* records are of one size in memory */
    ck_assert_uint_eq(s.delta_len % 5, 0);
    map_str(&s, 0, got, sizeof got);
    ck_assert_str_eq(got, "c0:201,202 c3:209 ");
    map_str(&s, rec, got, sizeof got);
    ck_assert_str_eq(got, "none");
    map_str(&s, 2 * rec, got, sizeof got);
    ck_assert_str_eq(got, "");
    map_str(&s, 3 * rec, got, sizeof got);
    ck_assert_str_eq(got, "none");
    map_str(&s, 4 * rec, got, sizeof got);
    ck_assert_str_eq(got, "c3:209 ");
    /* the later version folded into the first record takes its map */
    nodemeta_delta_set(&s, 0, &f2);
    nodemeta_delta_take_map(&s, 0, 4 * rec);
    map_str(&s, 0, got, sizeof got);
    ck_assert_str_eq(got, "c3:209 ");
    nodemeta_delta_take_map(&s, 0, rec);
    map_str(&s, 0, got, sizeof got);
    ck_assert_str_eq(got, "none");

    /* the folder's own row, as the agent patches it after names: the
     * snapshot's own attributes again, until names change once more */
    ck_assert(!s.has_dir_attr);
    nodemeta_snap_free(&s);
    struct meta_attr self = attr(7, 040755, 0);
    self.mtime_ns = 77;
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    struct nodemeta_change cs = { .a = &self, .self = 1, .at_ns = nodemeta_now() };
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &cs, 1), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    ck_assert(s.has_dir_attr);
    ck_assert_int_eq(s.dir_attr.mtime_ns, 77);
    ck_assert_uint_eq(s.delta_len, 5 * rec); /* not a record of a name */
    nodemeta_snap_free(&s);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c1[1], 1), 0);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), 0);
    ck_assert(!s.has_dir_attr);
    nodemeta_snap_free(&s);
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c3, 1), 0);

    /* a byte of the last group's map damaged: that group is not taken, and
     * the commit it recorded leaves the snapshot stale */
    char path[512];
    delta_path(dir, path, sizeof path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *fp = fopen(path, "r+");
    ck_assert_ptr_nonnull(fp);
    /* the map's slice id, just before the group's 16-byte tail */
    ck_assert_int_eq(fseek(fp, st.st_size - 16 - 24, SEEK_SET), 0);
    ck_assert_int_eq(fputc(0x77, fp), 0x77);
    fclose(fp);
    ck_assert_int_eq(nodemeta_dir_load(nm, 7, -1, &s), -ESTALE);
    /* and no patch goes after a damaged group */
    seq = nodemeta_mark_local(nm, &d7, 1) + 1;
    ck_assert_int_eq(nodemeta_dir_patch(nm, 7, seq, &c3, 1), -ESTALE);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

/* The agent's sweep of walk answers: old ones of the kind go, young ones
 * and every other file of the folder stay, at most max a sweep. */
START_TEST(test_sweep)
{
    char *dir = tmpdir();
    struct nodemeta *nm;
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
    uint64_t v = 7;
    const char *names[] = { "w0000000000000001", "w0000000000000002", "w0000000000000003",
                            "d0000000000000004", "statvfs" };
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(nodemeta_save_blob(nm, names[i], nodemeta_stamp(nm), &v, sizeof v), 0);
    int fd = nodemeta_dirfd(nm);
    struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
    for (int i = 0; i < 5; i++)
        if (i != 2) /* w...3 stays young */
            ck_assert_int_eq(utimensat(fd, names[i], old, 0), 0);
    int64_t cut = nodemeta_now() - 60 * 1000000000LL;
    ck_assert_int_eq(nodemeta_sweep(nm, 'w', cut, 1), 1);   /* the bound */
    ck_assert_int_eq(nodemeta_sweep(nm, 'w', cut, 100), 1); /* the other old one */
    ck_assert_int_eq(nodemeta_sweep(nm, 'w', cut, 100), 0);
    ck_assert_int_eq(faccessat(fd, names[0], F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, names[1], F_OK, 0), -1);
    ck_assert_int_eq(faccessat(fd, names[2], F_OK, 0), 0);
    ck_assert_int_eq(faccessat(fd, names[3], F_OK, 0), 0); /* another kind */
    ck_assert_int_eq(faccessat(fd, names[4], F_OK, 0), 0);
    ck_assert_int_eq(faccessat(fd, "gen", F_OK, 0), 0);
    nodemeta_close(nm);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nodemeta");
    TCase *t = tcase_create("nodemeta");
    tcase_add_test(t, test_dir_round_trip);
    tcase_add_test(t, test_dir_refused);
    tcase_add_test(t, test_settings_and_blobs);
    tcase_add_test(t, test_local_marks);
    tcase_add_test(t, test_agent_vouches);
    tcase_add_test(t, test_dir_delta);
    tcase_add_test(t, test_dir_delta_maps);
    tcase_add_test(t, test_sweep);
    tcase_add_test(t, test_sweep_dirs);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

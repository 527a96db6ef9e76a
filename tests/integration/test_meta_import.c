/* test_meta_import.c - meta_import_files (batched import) against a real
 * PostgreSQL: SHIMFS_META names the database (scripts/services.sh env).
 * Each test formats its own volume in its own schema ("ti_*"); a plain
 * libpq connection ("admin") checks rows and arranges what the engine
 * cannot (a stale heartbeat).
 *
 * Covered: files, symlinks and empty files in one batch with their
 * attributes, slices and targets; per-file refusals (name taken, parent
 * missing, parent not a directory, bad name) that leave the rest of the
 * batch in; names with any byte; the session fence (a reaped session's
 * ids commit nothing, nothing of the batch is visible); packed files (two
 * files in one slice): the slice becomes garbage only with its last file.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "meta.h"
#include "meta_fixture.h"

static const int64_t MINUTE_NS = 60LL * 1000000000LL;

static struct meta_import_file file(uint64_t parent, const char *name, size_t nlen, uint64_t size,
                                    const struct meta_slice_rec *s, int ns)
{
    return (struct meta_import_file){
        .parent = parent, .name = name, .nlen = nlen, .mode = S_IFREG | 0640, .uid = 1234,
        .gid = 5678, .size = size, .atime_ns = 1000000000123LL, .mtime_ns = 2000000000456LL,
        .slices = s, .nslices = ns, .result = 99, .ino = 99,
    };
}

struct chunks { int calls; uint64_t chunk; struct layout_slice s[4]; int n; };

static int chunk_cb(void *arg, uint64_t chunk, const struct layout_slice *s, int n)
{
    struct chunks *c = arg;
    c->calls++;
    c->chunk = chunk;
    c->n = n;
    for (int i = 0; i < n && i < 4; i++)
        c->s[i] = s[i];
    return 0;
}

START_TEST(test_import_batch)
{
    struct meta *m = volume("ti_batch");
    PGconn *adm = admin("ti_batch");
    uint64_t d1 = mk(m, META_ROOT_INO, "d1", S_IFDIR | 0755);
    uint64_t d2 = mk(m, META_ROOT_INO, "d2", S_IFDIR | 0755);
    uint64_t plain = mk(m, d1, "taken", S_IFREG | 0644);
    ck_assert_int_eq(meta_session_start(m, "node", 1, MINUTE_NS), 0);
    uint64_t id = 0;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 8, &id), 0);
    struct meta_attr before;
    ck_assert_int_eq(meta_getattr(m, d1, &before), 0);

    /* two chunks; a name of every byte value but NUL and '/'; a symlink
     * with an array-literal target; an empty file; four refusals */
    struct meta_slice_rec big[2] = { { 0, { 0, id, 1000, 0, 1000 } },
                                     { 1, { 0, id + 1, 5, 0, 5 } } };
    struct meta_slice_rec small = { 0, { 0, id + 2, 3, 0, 3 } };
    char odd[256];
    size_t on = 0;
    for (int c = 1; c < 256 && on < 255; c++)
        if (c != '/')
            odd[on++] = (char)c;
    char longname[300];
    memset(longname, 'n', sizeof longname);
    struct meta_import_file fs[9] = {
        file(d1, "big", 3, LAYOUT_CHUNK_SIZE + 5, big, 2),
        file(d2, odd, on, 3, &small, 1),
        file(d1, "empty", 5, 0, NULL, 0),
        file(d1, "link", 4, 10, NULL, 0),
        file(d1, "taken", 5, 0, NULL, 0),          /* -EEXIST */
        file(plain, "under-a-file", 12, 0, NULL, 0), /* -ENOTDIR */
        file(999999, "nowhere", 7, 0, NULL, 0),    /* -ENOENT */
        file(d1, longname, 256, 0, NULL, 0),       /* -ENAMETOOLONG */
        file(d2, "", 0, 0, NULL, 0),               /* -ENOENT (empty name) */
    };
    fs[3].mode = S_IFLNK | 0777;
    fs[3].target = "{\"x\",NULL}";
    ck_assert_int_eq(meta_import_files(m, fs, 9), 0);
    int want[9] = { 0, 0, 0, 0, -EEXIST, -ENOTDIR, -ENOENT, -ENAMETOOLONG, -ENOENT };
    for (int i = 0; i < 9; i++) {
        ck_assert_msg(fs[i].result == want[i], "file %d: result %d, want %d", i, fs[i].result,
                      want[i]);
        ck_assert_msg((fs[i].ino != 0) == (want[i] == 0), "file %d: ino %" PRIu64, i, fs[i].ino);
    }

    struct meta_attr a;
    ck_assert_int_eq(meta_lookup(m, d1, "big", 3, &a), 0);
    ck_assert_uint_eq(a.ino, fs[0].ino);
    ck_assert_uint_eq(a.mode, S_IFREG | 0640);
    ck_assert_uint_eq(a.uid, 1234);
    ck_assert_uint_eq(a.gid, 5678);
    ck_assert_uint_eq(a.nlink, 1);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE + 5);
    ck_assert_int_eq(a.atime_ns, 1000000000123LL);
    ck_assert_int_eq(a.mtime_ns, 2000000000456LL);
    ck_assert_uint_eq(a.parent, d1);
    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, a.ino, 1, 1, chunk_cb, &c), 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_uint_eq(c.chunk, 1);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(c.s[0].id, id + 1);
    ck_assert_uint_eq(c.s[0].len, 5);
    ck_assert_int_eq(meta_lookup(m, d2, odd, on, &a), 0);
    ck_assert_uint_eq(a.ino, fs[1].ino);
    ck_assert_int_eq(meta_lookup(m, d1, "link", 4, &a), 0);
    ck_assert_uint_eq(a.mode, S_IFLNK | 0777);
    char target[64];
    int tl = meta_readlink(m, a.ino, target, sizeof target);
    ck_assert_int_eq(tl, 10);
    ck_assert_mem_eq(target, "{\"x\",NULL}", 10);
    ck_assert_int_eq(meta_lookup(m, d1, "empty", 5, &a), 0);
    ck_assert_uint_eq(a.size, 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM entry WHERE parent = %" PRIu64, plain), 0);

    /* the parents were touched, their link counts untouched */
    struct meta_attr after;
    ck_assert_int_eq(meta_getattr(m, d1, &after), 0);
    ck_assert_int_gt(after.mtime_ns, before.mtime_ns);
    ck_assert_uint_eq(after.nlink, before.nlink);
    struct meta_fsck_report r;
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 0);

    /* the same names again: every one refused, nothing changes */
    uint64_t inodes = (uint64_t)intf(adm, "SELECT count(*) FROM inode");
    ck_assert_int_eq(meta_import_files(m, fs, 4), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(fs[i].result, -EEXIST);
    ck_assert_uint_eq((uint64_t)intf(adm, "SELECT count(*) FROM inode"), inodes);
    ck_assert_int_eq(meta_session_end(m), 0);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

START_TEST(test_import_fence)
{
    struct meta *m = volume("ti_fence"), *gc = volume_reopen("ti_fence");
    PGconn *adm = admin("ti_fence");
    ck_assert_int_eq(meta_session_start(m, "node", 1, MINUTE_NS), 0);
    uint64_t sid = meta_session_id(m), id = 0;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 4, &id), 0);
    struct meta_slice_rec held = { 0, { 0, id, 1, 0, 1 } }, stray = { 0, { 0, id + 4, 1, 0, 1 } };

    /* one id nobody reserved: the whole batch stays out */
    struct meta_import_file fs[2] = { file(META_ROOT_INO, "a", 1, 1, &held, 1),
                                      file(META_ROOT_INO, "b", 1, 1, &stray, 1) };
    ck_assert_int_eq(meta_import_files(m, fs, 2), -ESTALE);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM entry"), 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM slice"), 0);

    /* the session reaped (gc may have deleted its blocks): refused too */
    intf(adm, "UPDATE session SET heartbeat = heartbeat - %lld WHERE sid = %" PRIu64,
         (long long)(2 * MINUTE_NS), sid);
    int reaped = 0;
    ck_assert_int_eq(meta_session_reap(gc, 0, &reaped), 0);
    ck_assert_int_eq(reaped, 1);
    ck_assert_int_eq(meta_import_files(m, fs, 1), -ESTALE);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM entry"), 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM inode"), 1);

    /* no slice ids, nothing to fence: a symlink goes in */
    struct meta_import_file l = file(META_ROOT_INO, "l", 1, 1, NULL, 0);
    l.mode = S_IFLNK | 0777;
    l.target = "t";
    ck_assert_int_eq(meta_import_files(m, &l, 1), 0);
    ck_assert_int_eq(l.result, 0);
    PQfinish(adm);
    meta_close(gc);
    meta_close(m);
}
END_TEST

struct ids { int n; uint64_t id[8]; };

static int garbage_cb(void *arg, uint64_t id, uint32_t size, int64_t since)
{
    struct ids *g = arg;
    (void)size;
    (void)since;
    if (g->n < 8)
        g->id[g->n++] = id;
    return 0;
}

START_TEST(test_import_packed)
{
    struct meta *m = volume("ti_packed");
    ck_assert_int_eq(meta_session_start(m, "node", 1, MINUTE_NS), 0);
    uint64_t id = 0;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 1, &id), 0);
    /* one pack of 7 bytes: "abc" is [0, 3), "defg" is [3, 7) */
    struct meta_slice_rec s1 = { 0, { 0, id, 7, 0, 3 } }, s2 = { 0, { 0, id, 7, 3, 4 } };
    struct meta_import_file fs[2] = { file(META_ROOT_INO, "abc", 3, 3, &s1, 1),
                                      file(META_ROOT_INO, "defg", 4, 4, &s2, 1) };
    ck_assert_int_eq(meta_import_files(m, fs, 2), 0);
    ck_assert_int_eq(fs[0].result, 0);
    ck_assert_int_eq(fs[1].result, 0);
    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, fs[1].ino, 0, 1, chunk_cb, &c), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(c.s[0].id, id);
    ck_assert_uint_eq(c.s[0].size, 7);
    ck_assert_uint_eq(c.s[0].off, 3);
    ck_assert_uint_eq(c.s[0].len, 4);

    struct ids g = { 0 };
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "abc", 3, 0, 0, NULL), 0);
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &g), 0);
    ck_assert_int_eq(g.n, 0);            /* "defg" still uses the pack */
    ck_assert_int_eq(meta_slice_referenced(m, id), 1);
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "defg", 4, 0, 0, NULL), 0);
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &g), 0);
    ck_assert_int_eq(g.n, 1);
    ck_assert_uint_eq(g.id[0], id);
    ck_assert_int_eq(meta_session_end(m), 0);
    meta_close(m);
}
END_TEST

START_TEST(test_import_many)
{
    /* a batch of 5,000 in one call: one range of inode ids, in order */
    struct meta *m = volume("ti_many");
    PGconn *adm = admin("ti_many");
    enum { N = 5000 };
    static struct meta_import_file fs[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        int len = snprintf(names[i], sizeof names[i], "f%05d", i);
        fs[i] = file(META_ROOT_INO, names[i], (size_t)len, 0, NULL, 0);
    }
    ck_assert_int_eq(meta_import_files(m, fs, N), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(fs[i].result, 0);
        ck_assert_uint_eq(fs[i].ino, fs[0].ino + (uint64_t)i);
    }
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM entry WHERE parent = 1"), N);
    struct meta_attr a;
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "f04321", 6, &a), 0);
    ck_assert_uint_eq(a.ino, fs[4321].ino);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

static Suite *meta_import_suite(void)
{
    Suite *s = suite_create("meta_import");
    struct { const char *name; const TTest *t; } tests[] = {
        { "batch", test_import_batch },
        { "fence", test_import_fence },
        { "packed", test_import_packed },
        { "many", test_import_many },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, tests[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(meta_import_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

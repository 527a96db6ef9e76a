/* test_meta_more.c - the metadata engine's directory block maps, rename
 * over an open file, sessions and orphans, gc support and fsck, against a
 * real PostgreSQL: SHIMFS_META names the database (scripts/services.sh
 * env). Like test_meta_pg.c, every test formats its own volume in its own
 * schema ("tm_*"), and a plain libpq connection ("admin") arranges what the
 * engine cannot: bulk rows, stale heartbeats, deliberate damage.
 */
/* The engine's own functions and handle, not core's handle (core/meta.h). */
#define SHIMFS_META_IMPL
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "meta.h"
#include "meta_fixture.h"
#include "meta_int.h"
#include "log.h"

/* ---------------------------------------------------------------- helpers */

static long long garbage_count(PGconn *adm, uint64_t id)
{
    return intf(adm, "SELECT count(*) FROM garbage WHERE id = %" PRIu64, id);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ----------------------------------------------------- directory slices */

struct ds_call {
    struct meta_attr a;
    uint64_t chunk;
    int n;
    struct layout_slice s[4];
};

struct ds_log {
    int n, stop_after, ret;
    struct ds_call c[16];
};

static int ds_cb(void *arg, const struct meta_attr *a, uint64_t chunk,
                 const struct layout_slice *s, int n)
{
    struct ds_log *l = arg;
    ck_assert_int_lt(l->n, 16);
    ck_assert_int_le(n, 4);
    struct ds_call *c = &l->c[l->n++];
    c->a = *a;
    c->chunk = chunk;
    c->n = n;
    memcpy(c->s, s, (size_t)n * sizeof *s);
    return l->stop_after && l->n >= l->stop_after ? l->ret : 0;
}

START_TEST(test_dir_slices)
{
    struct meta *m = volume("tm_dirslices");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t empty = mkfile(m, d, "a-empty");
    uint64_t b = mkfile(m, d, "b");
    put_slice(m, b, 0, 0, 101, 10);
    put_slice(m, b, 2, 5, 103, 7);
    put_slice(m, b, 0, 4, 102, 20);              /* newer, same chunk: after 101 */
    mkdir_(m, d, "c-dir");
    mk(m, d, "d-link", S_IFLNK | 0777);
    uint64_t e = mkfile(m, d, "e");
    put_slice(m, e, 1, 0, 104, 3);
    struct meta_attr x;
    ck_assert_int_eq(meta_link(m, e, d, "e2", 2, &x), 0);      /* a second name */

    struct ds_log l = { 0 };
    ck_assert_int_eq(meta_read_dir_slices(m, d, ds_cb, &l), 0);
    ck_assert_int_eq(l.n, 5);
    /* a-empty: one call, n = 0, chunk 0, its attributes. */
    ck_assert_uint_eq(l.c[0].a.ino, empty);
    ck_assert_int_eq(l.c[0].n, 0);
    ck_assert_uint_eq(l.c[0].chunk, 0);
    ck_assert_uint_eq(l.c[0].a.mode, S_IFREG | 0644);
    /* b: chunk 0 oldest first, then chunk 2; attributes as getattr says. */
    struct meta_attr ba = getattr(m, b);
    ck_assert_uint_eq(l.c[1].a.ino, b);
    ck_assert_uint_eq(l.c[1].a.size, ba.size);
    ck_assert_int_eq(l.c[1].a.mtime_ns, ba.mtime_ns);
    ck_assert_uint_eq(l.c[1].a.nlink, 1);
    ck_assert_uint_eq(l.c[1].a.parent, d);
    ck_assert_uint_eq(l.c[1].chunk, 0);
    ck_assert_int_eq(l.c[1].n, 2);
    ck_assert_uint_eq(l.c[1].s[0].id, 101);
    ck_assert_uint_eq(l.c[1].s[1].id, 102);
    ck_assert_uint_eq(l.c[1].s[1].pos, 4);
    ck_assert_uint_eq(l.c[1].s[1].len, 20);
    ck_assert_uint_eq(l.c[1].s[1].size, 20);
    ck_assert_uint_eq(l.c[2].a.ino, b);
    ck_assert_uint_eq(l.c[2].chunk, 2);
    ck_assert_int_eq(l.c[2].n, 1);
    ck_assert_uint_eq(l.c[2].s[0].pos, 5);
    ck_assert_uint_eq(l.c[2].s[0].id, 103);
    /* The directory and the symlink are skipped; e comes once per name. */
    ck_assert_uint_eq(l.c[3].a.ino, e);
    ck_assert_uint_eq(l.c[3].chunk, 1);
    ck_assert_uint_eq(l.c[3].s[0].id, 104);
    ck_assert_uint_eq(l.c[4].a.ino, e);
    ck_assert_uint_eq(l.c[4].a.nlink, 2);

    /* Stop early: a positive answer stops quietly, a negative one is returned. */
    struct ds_log s1 = { .stop_after = 2, .ret = 1 }, s2 = { .stop_after = 1, .ret = -EIO };
    ck_assert_int_eq(meta_read_dir_slices(m, d, ds_cb, &s1), 0);
    ck_assert_int_eq(s1.n, 2);
    ck_assert_int_eq(meta_read_dir_slices(m, d, ds_cb, &s2), -EIO);
    ck_assert_int_eq(s2.n, 1);
    /* Empty, missing, not a directory. */
    struct ds_log z = { 0 };
    uint64_t ed = mkdir_(m, META_ROOT_INO, "empty");
    ck_assert_int_eq(meta_read_dir_slices(m, ed, ds_cb, &z), 0);
    ck_assert_int_eq(meta_read_dir_slices(m, 8888888, ds_cb, &z), -ENOENT);
    ck_assert_int_eq(meta_read_dir_slices(m, b, ds_cb, &z), -ENOTDIR);
    ck_assert_int_eq(z.n, 0);
    meta_close(m);
}
END_TEST

/* Files f000000.. of a bulk directory: ino first+i, size 4096 + i, one
 * slice (id 1000000 + i) in chunk 0, and every 10th a second one in chunk 1. */
static uint64_t bulk_dir(struct meta *m, PGconn *adm, const char *name, int n)
{
    uint64_t d = mkdir_(m, META_ROOT_INO, name), first;
    ck_assert_int_eq(meta_next_ids(m, META_ID_INODE, (uint32_t)n, &first), 0);
    sqlf(adm,
         "INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent) "
         "SELECT %" PRIu64 " + g, 33188, 0, 0, 1, 4096 + g, 1, 1, 1, %" PRIu64 " "
         "FROM generate_series(0, %d) g; "
         "INSERT INTO entry (parent, name, ino) SELECT %" PRIu64 ", "
         "convert_to('f' || lpad(g::text, 6, '0'), 'UTF8'), %" PRIu64 " + g "
         "FROM generate_series(0, %d) g; "
         "INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
         "SELECT %" PRIu64 " + g, 0, 0, %" PRIu64 " + g, 4096 + g, 0, 4096 + g "
         "FROM generate_series(0, %d) g; "
         "INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
         "SELECT %" PRIu64 " + g, 1, 0, 1, 1, 0, 1 FROM generate_series(0, %d, 10) g",
         first, d, n - 1, d, first, n - 1, first, first + 1000000, n - 1, first, n - 1);
    return d;
}

struct ds_check {
    uint64_t first;
    int files, calls, bad;
    uint64_t last_ino;
};

static int ds_check_cb(void *arg, const struct meta_attr *a, uint64_t chunk,
                       const struct layout_slice *s, int n)
{
    struct ds_check *c = arg;
    uint64_t i = a->ino - c->first;
    c->calls++;
    if (a->ino != c->last_ino)
        c->files++;
    if (a->ino < c->last_ino || a->size != 4096 + i || n != 1)
        c->bad++;
    else if (chunk == 0 && (s[0].id != c->first + 1000000 + i || s[0].len != 4096 + i))
        c->bad++;
    else if (chunk == 1 && (i % 10 != 0 || s[0].id != 1))
        c->bad++;
    c->last_ino = a->ino;
    return 0;
}

static double time_dir(struct meta *m, uint64_t d, uint64_t first, int files, int runs)
{
    double t[32];
    ck_assert_int_le(runs, 32);
    for (int r = 0; r < runs; r++) {
        struct ds_check c = { .first = first };
        double t0 = now_ms();
        ck_assert_int_eq(meta_read_dir_slices(m, d, ds_check_cb, &c), 0);
        t[r] = now_ms() - t0;
        ck_assert_int_eq(c.files, files);
        ck_assert_int_eq(c.calls, files + (files + 9) / 10);
        ck_assert_int_eq(c.bad, 0);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_dbl);
    return t[runs / 2];
}

static int chunks_count_cb(void *arg, uint64_t chunk, const struct layout_slice *s, int n)
{
    (void)chunk;
    (void)s;
    *(int *)arg += n;
    return 0;
}

START_TEST(test_dir_slices_plan_and_timing)
{
    struct meta *m = volume("tm_dirbig");
    PGconn *adm = admin("tm_dirbig");
    uint64_t d100 = bulk_dir(m, adm, "d100", 100);
    uint64_t d10k = bulk_dir(m, adm, "d10k", 10000);
    bulk_dir(m, adm, "noise", 50000);              /* so no table is trivially small */
    admin_exec(adm, "ANALYZE inode; ANALYZE entry; ANALYZE slice");
    uint64_t f100 = (uint64_t)intf(adm, "SELECT min(ino) FROM entry WHERE parent = %" PRIu64, d100);
    uint64_t f10k = (uint64_t)intf(adm, "SELECT min(ino) FROM entry WHERE parent = %" PRIu64, d10k);

    /* Index probes all the way, never a whole-table scan. */
    sqlf(adm, "SET jit = off; PREPARE ds(bigint, bytea, bigint) AS %s", meta_stmts[MS_DIR_SLICES].sql);
    char plan[16384] = "";
    for (int generic = 0; generic < 2; generic++) {
        if (generic)
            admin_exec(adm, "SET plan_cache_mode = force_generic_plan");
        char sql[128];
        snprintf(sql, sizeof sql, "EXPLAIN EXECUTE ds(%" PRIu64 ", '', 16384)", d10k);
        PGresult *r = PQexec(adm, sql);
        ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
        plan[0] = '\0';
        for (int i = 0; i < PQntuples(r); i++) {
            strncat(plan, PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
            strcat(plan, "\n");
        }
        PQclear(r);
        ck_assert_msg(strstr(plan, "entry_pkey"), "no entry key:\n%s", plan);
        ck_assert_msg(strstr(plan, "inode_pkey on inode i"), "no inode key:\n%s", plan);
        ck_assert_msg(strstr(plan, "slice_pkey"), "no slice key:\n%s", plan);
        ck_assert_msg(!strstr(plan, "Seq Scan"), "a table scan:\n%s", plan);
    }
    printf("dir_slices plan (10,000-file directory):\n%s", plan);

    /* First call outside the measurements: connection and statements. */
    struct ds_check warm = { .first = f100 };
    ck_assert_int_eq(meta_read_dir_slices(m, d100, ds_check_cb, &warm), 0);
    double t100 = time_dir(m, d100, f100, 100, 31);
    double t10k = time_dir(m, d10k, f10k, 10000, 11);
    /* For scale: the same block maps one file at a time. */
    double t0 = now_ms();
    int slices = 0;
    for (uint64_t i = 0; i < 100; i++)
        ck_assert_int_eq(meta_read_chunks(m, f100 + i, 0, 1u << 20, chunks_count_cb, &slices), 0);
    double per_file = now_ms() - t0;
    ck_assert_int_eq(slices, 110);
    printf("dir_slices: 100 files %.2f ms (%.1f us/file); 10,000 files %.1f ms (%.2f us/file); "
           "100 x meta_read_chunks %.2f ms\n", t100, t100 * 10, t10k, t10k / 10, per_file);
    /* Generous bounds: one round trip, not one per file. */
    ck_assert_double_lt(t100, per_file);
    ck_assert_double_lt(t10k, 2000.0);
    PQfinish(adm);
    meta_close(m);
    adm = admin("public");
    admin_exec(adm, "DROP SCHEMA tm_dirbig CASCADE");
    PQfinish(adm);
}
END_TEST

START_TEST(test_dir_slices_pages)
{
    /* More entries than one page: every file once, in name order. */
    const int N = 16384 + 300;
    struct meta *m = volume("tm_dirpages");
    PGconn *adm = admin("tm_dirpages");
    uint64_t d = bulk_dir(m, adm, "big", N);
    /* Non-files right at the page boundary are counted as entries, skipped. */
    sqlf(adm, "UPDATE inode SET mode = 16877 WHERE ino IN (SELECT ino FROM entry WHERE parent = "
              "%" PRIu64 " AND name IN ('f016383', 'f016384'))", d);
    sqlf(adm, "DELETE FROM slice WHERE ino IN (SELECT ino FROM entry WHERE parent = %" PRIu64
              " AND name IN ('f016383', 'f016384'))", d);
    uint64_t first = (uint64_t)intf(adm, "SELECT min(ino) FROM entry WHERE parent = %" PRIu64, d);
    struct ds_check c = { .first = first };
    ck_assert_int_eq(meta_read_dir_slices(m, d, ds_check_cb, &c), 0);
    ck_assert_int_eq(c.files, N - 2);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_uint_eq(c.last_ino, first + (uint64_t)N - 1);
    PQfinish(adm);
    meta_close(m);
    adm = admin("public");
    admin_exec(adm, "DROP SCHEMA tm_dirpages CASCADE");
    PQfinish(adm);
}
END_TEST

/* ---------------------------------------------------------------- rename */

static int ren2(struct meta *m, uint64_t sp, const char *s, uint64_t dp, const char *d,
                unsigned fl, struct meta_attr *rep)
{
    return meta_rename2(m, sp, s, strlen(s), dp, d, strlen(d), fl, rep);
}

START_TEST(test_rename_orphan)
{
    struct meta *m = volume("tm_renorphan");
    PGconn *adm = admin("tm_renorphan");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t src = mkfile(m, d, "new"), old = mkfile(m, d, "cfg");
    put_slice(m, old, 0, 0, 7001, 100);
    struct meta_attr rep, a;

    /* The classic atomic save: write "new", rename over "cfg" that a reader
     * still has open. The old inode stays, nameless, with its data. */
    ck_assert_int_eq(ren2(m, d, "new", d, "cfg", META_RENAME_ORPHAN, &rep), 0);
    ck_assert_uint_eq(rep.ino, old);
    ck_assert_uint_eq(rep.nlink, 0);
    ck_assert_uint_eq(rep.size, 100);
    ck_assert_int_eq(lookup(m, d, "cfg", &a), 0);
    ck_assert_uint_eq(a.ino, src);
    a = getattr(m, old);
    ck_assert_uint_eq(a.nlink, 0);
    ck_assert_int_eq(intf(adm, "SELECT orphan::int FROM inode WHERE ino = %" PRIu64, old), 1);
    ck_assert_int_eq(garbage_count(adm, 7001), 0);
    ck_assert_int_eq(meta_drop_orphan(m, old), 0);
    ck_assert_int_eq(garbage_count(adm, 7001), 1);

    /* Without the flag the replaced inode is deleted, and still reported. */
    uint64_t v2 = mkfile(m, d, "v2");
    ck_assert_int_eq(ren2(m, d, "v2", d, "cfg", 0, &rep), 0);
    ck_assert_uint_eq(rep.ino, src);
    ck_assert_uint_eq(rep.nlink, 0);
    ck_assert_int_eq(meta_getattr(m, src, &a), -ENOENT);
    /* Not the last link: one link less, no orphan. */
    uint64_t v3 = mkfile(m, d, "v3");
    ck_assert_int_eq(meta_link(m, v2, META_ROOT_INO, "other-name", 10, &a), 0);
    ck_assert_int_eq(ren2(m, d, "v3", d, "cfg", META_RENAME_ORPHAN, &rep), 0);
    ck_assert_uint_eq(rep.ino, v2);
    ck_assert_uint_eq(rep.nlink, 1);
    ck_assert_int_eq(intf(adm, "SELECT orphan::int FROM inode WHERE ino = %" PRIu64, v2), 0);
    /* A replaced (empty) directory is deleted even with the flag. */
    uint64_t e1 = mkdir_(m, d, "e1"), e2 = mkdir_(m, d, "e2");
    ck_assert_int_eq(ren2(m, d, "e1", d, "e2", META_RENAME_ORPHAN, &rep), 0);
    ck_assert_uint_eq(rep.ino, e2);
    ck_assert_int_eq(meta_getattr(m, e2, &a), -ENOENT);
    ck_assert_uint_eq(getattr(m, e1).parent, d);
    /* Nothing replaced: no target, an exchange, two names of one inode. */
    rep.ino = 99;
    ck_assert_int_eq(ren2(m, d, "cfg", d, "fresh", META_RENAME_ORPHAN, &rep), 0);
    ck_assert_uint_eq(rep.ino, 0);
    rep.ino = 99;
    ck_assert_int_eq(ren2(m, d, "fresh", META_ROOT_INO, "other-name", RENAME_EXCHANGE, &rep), 0);
    ck_assert_uint_eq(rep.ino, 0);
    ck_assert_int_eq(lookup(m, d, "fresh", &a), 0);
    ck_assert_uint_eq(a.ino, v2);
    ck_assert_int_eq(meta_link(m, v2, d, "alias", 5, &a), 0);
    rep.ino = 99;
    ck_assert_int_eq(ren2(m, d, "fresh", d, "alias", META_RENAME_ORPHAN, &rep), 0);
    ck_assert_uint_eq(rep.ino, 0);
    /* Errors report nothing; meta_rename accepts the flag, not others. */
    rep.ino = 99;
    ck_assert_int_eq(ren2(m, d, "nothing", d, "x", META_RENAME_ORPHAN, &rep), -ENOENT);
    ck_assert_uint_eq(rep.ino, 0);
    ck_assert_int_eq(ren2(m, d, "alias", d, "x", RENAME_WHITEOUT, NULL), -EINVAL);
    ck_assert_int_eq(ren2(m, d, "alias", d, "x", 1u << 29, NULL), -EINVAL);
    ck_assert_int_eq(meta_rename(m, d, "alias", 5, META_ROOT_INO, "other-name", 10,
                                 META_RENAME_ORPHAN), 0);
    ck_assert_uint_eq(getattr(m, v3).nlink, 0);          /* v3 was open: kept */
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM inode WHERE orphan"), 1);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

/* -------------------------------------------------------------- sessions */

/* A file with one slice, unlinked while open: an orphan. */
static uint64_t orphan(struct meta *m, const char *name, uint64_t id)
{
    uint64_t f = mkfile(m, META_ROOT_INO, name);
    put_slice(m, f, 0, 0, id, 10);
    struct meta_attr rm;
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, name, strlen(name), 0, 1, &rm), 0);
    ck_assert_uint_eq(rm.nlink, 0);
    return f;
}

static int exists(struct meta *m, uint64_t ino)
{
    struct meta_attr a;
    int rc = meta_getattr(m, ino, &a);
    ck_assert(rc == 0 || rc == -ENOENT);
    return rc == 0;
}

static const int64_t MINUTE_NS = 60LL * 1000000000LL;

START_TEST(test_sessions_reap)
{
    struct meta *m = volume("tm_sessions");
    PGconn *adm = admin("tm_sessions");
    uint64_t A, B, C;
    ck_assert_int_eq(meta_session_open(m, "node-a", 1, &A), 0);
    ck_assert_int_eq(meta_session_open(m, "node-b", 2, &B), 0);
    ck_assert_int_eq(meta_session_open(m, "node-c", 3, &C), 0);
    int64_t hb0 = intf(adm, "SELECT heartbeat FROM session WHERE sid = %" PRIu64, B);
    ck_assert_int_eq(meta_session_heartbeat(m, B), 0);
    ck_assert_int_gt(intf(adm, "SELECT heartbeat FROM session WHERE sid = %" PRIu64, B), hb0);
    ck_assert_int_eq(meta_session_heartbeat(m, 999999), -ENOENT);

    uint64_t o1 = orphan(m, "o1", 8001);   /* A only: A dies, o1 goes */
    uint64_t o2 = orphan(m, "o2", 8002);   /* A and B: B lives, o2 stays */
    uint64_t o3 = orphan(m, "o3", 8003);   /* nobody, just now: grace period */
    uint64_t o4 = orphan(m, "o4", 8004);   /* nobody, long ago: goes */
    uint64_t o5 = orphan(m, "o5", 8005);   /* C, closed normally: goes */
    uint64_t f = mkfile(m, META_ROOT_INO, "linked");
    ck_assert_int_eq(meta_orphan_own(m, o1, A), 0);
    ck_assert_int_eq(meta_orphan_own(m, o1, A), 0);      /* idempotent */
    ck_assert_int_eq(meta_orphan_own(m, o2, A), 0);
    ck_assert_int_eq(meta_orphan_own(m, o2, B), 0);
    ck_assert_int_eq(meta_orphan_own(m, o5, C), 0);
    ck_assert_int_eq(meta_orphan_own(m, f, A), -ENOENT);  /* not an orphan */
    ck_assert_int_eq(meta_orphan_own(m, 7777777, A), -ENOENT);
    ck_assert_int_eq(meta_orphan_own(m, o3, 999999), -ENOENT);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM orphan_owner"), 4);
    ck_assert_int_eq(meta_session_close(m, C), 0);
    sqlf(adm, "UPDATE session SET heartbeat = heartbeat - %lld WHERE sid = %" PRIu64,
         (long long)(10 * MINUTE_NS), A);
    sqlf(adm, "UPDATE inode SET ctime = ctime - %lld WHERE ino = %" PRIu64,
         (long long)(10 * MINUTE_NS), o4);

    /* fsck sees the orphans no existing session keeps: o3, o4, o5. */
    struct meta_fsck_report r;
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 3);
    ck_assert_uint_eq(r.orphans, 3);

    int reaped = -1;
    ck_assert_int_eq(meta_session_reap(m, MINUTE_NS, &reaped), 3);
    ck_assert_int_eq(reaped, 1);
    ck_assert(!exists(m, o1));
    ck_assert(exists(m, o2));
    ck_assert(exists(m, o3));
    ck_assert(!exists(m, o4));
    ck_assert(!exists(m, o5));
    ck_assert(exists(m, f));
    ck_assert_int_eq(garbage_count(adm, 8001), 1);
    ck_assert_int_eq(garbage_count(adm, 8002), 0);
    ck_assert_int_eq(garbage_count(adm, 8004), 1);
    ck_assert_int_eq(garbage_count(adm, 8005), 1);
    ck_assert_int_eq(meta_session_heartbeat(m, A), -ENOENT);
    ck_assert_int_eq(meta_session_heartbeat(m, B), 0);
    /* Only B's claim on o2 is left. */
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM orphan_owner"), 1);
    ck_assert_int_eq(intf(adm, "SELECT sid FROM orphan_owner WHERE ino = %" PRIu64, o2), (long long)B);
    /* Nothing more to do; then B dies too. */
    ck_assert_int_eq(meta_session_reap(m, MINUTE_NS, &reaped), 0);
    ck_assert_int_eq(reaped, 0);
    sqlf(adm, "UPDATE session SET heartbeat = heartbeat - %lld WHERE sid = %" PRIu64,
         (long long)(10 * MINUTE_NS), B);
    ck_assert_int_eq(meta_session_reap(m, MINUTE_NS, NULL), 1);
    ck_assert(!exists(m, o2));
    ck_assert(exists(m, o3));
    ck_assert_int_eq(garbage_count(adm, 8002), 1);
    ck_assert_int_eq(meta_session_reap(m, -1, NULL), -EINVAL);
    /* Once o3 is old enough it goes as well; fsck is then clean. */
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 1);
    ck_assert_int_eq(meta_session_reap(m, 0, NULL), 1);
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM orphan_owner"), 0);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

/* -------------------------------------------------------------------- gc */

/* ------------------------------------------- reservations and the fence */

static int range_cb(void *arg, uint64_t first, uint32_t n)
{
    uint64_t *r = arg;
    r[0]++;
    r[1] = first;
    r[2] = n;
    return 0;
}

static long long slice_count(PGconn *adm, uint64_t ino)
{
    return intf(adm, "SELECT count(*) FROM slice WHERE ino = %" PRIu64, ino);
}

/* Slice ids drawn with a session are its reservation; commits of ids no
 * live session holds are refused in the committing statement, and nothing
 * of them is committed; a reaped session's reservations go with it. */
START_TEST(test_reservation_fence)
{
    struct meta *m = volume("tm_fence"), *gc = volume_reopen("tm_fence");
    PGconn *adm = admin("tm_fence");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), first = 0, first2 = 0;
    ck_assert_uint_eq(meta_session_id(m), 0);
    ck_assert_int_eq(meta_session_start(m, "node", 7, MINUTE_NS), 0);
    uint64_t sid = meta_session_id(m);
    ck_assert_uint_ne(sid, 0);
    ck_assert_int_eq(meta_session_start(m, "node", 7, MINUTE_NS), 0);   /* no-op */
    ck_assert_uint_eq(meta_session_id(m), sid);
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 64, &first), 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM reservation WHERE sid = %" PRIu64
                          " AND first = %" PRIu64 " AND n = 64", sid, first), 1);
    uint64_t r[3] = { 0 };
    ck_assert_int_eq(meta_list_reservations(gc, -1, range_cb, r), 0);
    ck_assert_uint_eq(r[0], 1);
    ck_assert_uint_eq(r[1], first);
    ck_assert_uint_eq(r[2], 64);

    /* held ids commit; an id nobody reserved does not, nor its partner */
    struct meta_slice_rec ok = { 0, { 0, first, 10, 0, 10 } };
    ck_assert_int_eq(meta_write(m, f, &ok, 1, 10, 0, 0, NULL), 0);
    struct meta_slice_rec mixed[2] = { { 0, { 0, first + 1, 10, 0, 10 } },
                                       { 0, { 10, first + 64, 10, 0, 10 } } };
    capture_log();
    ck_assert_int_eq(meta_write(m, f, mixed, 2, 20, 0, 0, NULL), -ESTALE);
    char log[4096];
    read_log(log, sizeof log);
    ck_assert_msg(strstr(log, "commit refused"), "log: %s", log);
    ck_assert_int_eq(slice_count(adm, f), 1);

    /* reaped: its reservations go, its commits and reservations fail */
    sqlf(adm, "UPDATE session SET heartbeat = heartbeat - %lld WHERE sid = %" PRIu64,
         (long long)(2 * MINUTE_NS), sid);
    int reaped = 0;
    ck_assert_int_eq(meta_session_reap(gc, 0, &reaped), 0);
    ck_assert_int_eq(reaped, 1);
    ck_assert_int_eq(admin_int(adm, "SELECT count(*) FROM reservation"), 0);
    struct meta_slice_rec late = { 0, { 0, first + 2, 10, 0, 10 } };
    ck_assert_int_eq(meta_write(m, f, &late, 1, 10, 0, 0, NULL), -ESTALE);
    ck_assert_int_eq(slice_count(adm, f), 1);
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 64, &first2), -ESTALE);
    ck_assert_int_eq(meta_session_heartbeat(m, sid), -ENOENT);
    /* an inline-only commit is not fenced: no object of its can have gone,
     * its bytes go in with it */
    uint64_t g = mkfile(m, META_ROOT_INO, "g"), iid = (first + 4) | LAYOUT_INLINE_BIT;
    struct meta_slice_rec inl = { 0, { 0, iid, 5, 0, 5 } };
    struct meta_inline blob = { iid, "SHMB-frame-stand-in", 19 };
    ck_assert_int_eq(meta_write_inline(m, g, &inl, 1, &blob, 5, 0, 0, NULL, NULL), 0);
    ck_assert_int_eq(slice_count(adm, g), 1);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM inline_block WHERE id = %" PRIu64, iid), 1);
    /* but one that also carries an uploaded slice is */
    struct meta_slice_rec both[2] = { inl, { 0, { 5, first + 5, 5, 0, 5 } } };
    ck_assert_int_eq(meta_write_inline(m, g, both, 2, &blob, 10, 0, 0, NULL, NULL), -ESTALE);
    ck_assert_int_eq(slice_count(adm, g), 1);

    /* a new session: its ids commit; the old session's still do not */
    meta_session_forget(m, sid + 1000);             /* not ours: ignored */
    ck_assert_uint_eq(meta_session_id(m), sid);
    meta_session_forget(m, sid);
    ck_assert_uint_eq(meta_session_id(m), 0);
    ck_assert_int_eq(meta_write(m, f, &late, 1, 10, 0, 0, NULL), -ESTALE);  /* still fenced */
    ck_assert_int_eq(meta_session_start(m, "node", 7, MINUTE_NS), 0);
    ck_assert_uint_ne(meta_session_id(m), sid);
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 64, &first2), 0);
    ck_assert_uint_gt(first2, first + 63);
    struct meta_slice_rec fresh = { 0, { 0, first2, 10, 0, 10 } };
    ck_assert_int_eq(meta_write(m, f, &fresh, 1, 10, 0, 0, NULL), 0);
    ck_assert_int_eq(meta_write(m, f, &late, 1, 10, 0, 0, NULL), -ESTALE);

    /* compaction is fenced too, and checks the whole list, not its length */
    struct layout_slice was[2] = { { 0, first, 10, 0, 10 }, { 0, first2, 10, 0, 10 } };
    struct layout_slice bad = { 0, first + 3, 10, 0, 10 }, good = { 0, first2 + 1, 10, 0, 10 };
    ck_assert_int_eq(meta_compact(m, f, 0, was, 2, &bad, 1), -ESTALE);
    ck_assert_int_eq(slice_count(adm, f), 2);
    ck_assert_int_eq(meta_compact(m, f, 0, was, 1, &good, 1), -EAGAIN);
    ck_assert_int_eq(meta_compact(m, f, 0, was, 2, &good, 1), 0);
    ck_assert_int_eq(slice_count(adm, f), 1);

    /* ending the session drops its reservations */
    ck_assert_int_eq(meta_session_end(m), 0);
    ck_assert_uint_eq(meta_session_id(m), 0);
    ck_assert_int_eq(admin_int(adm, "SELECT count(*) FROM reservation"), 0);
    ck_assert_int_eq(admin_int(adm, "SELECT count(*) FROM session"), 0);
    PQfinish(adm);
    meta_close(gc);
    meta_close(m);
}
END_TEST

struct garbage_list {
    int n, stop_at;
    uint64_t ids[64];
    uint32_t sizes[64];
    int64_t since[64];
};

static int garbage_cb(void *arg, uint64_t id, uint32_t size, int64_t since)
{
    struct garbage_list *g = arg;
    ck_assert_int_lt(g->n, 64);
    g->ids[g->n] = id;
    g->sizes[g->n] = size;
    g->since[g->n] = since;
    g->n++;
    return g->stop_at && g->n >= g->stop_at;
}

struct garbage_count {
    long n;
    uint64_t last;
    int bad;
};

static int garbage_count_cb(void *arg, uint64_t id, uint32_t size, int64_t since)
{
    struct garbage_count *g = arg;
    if (id <= g->last || size != 64 || since != 42)
        g->bad++;
    g->last = id;
    g->n++;
    return 0;
}

static int64_t wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

START_TEST(test_gc)
{
    struct meta *m = volume("tm_gc");
    PGconn *adm = admin("tm_gc");
    int64_t t0 = wall_ns();
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), g = mkfile(m, META_ROOT_INO, "g");
    put_slice(m, f, 0, 0, 30, 300);
    put_slice(m, f, 1, 0, 10, 100);
    put_slice(m, g, 0, 0, 20, 200);
    put_slice(m, g, 0, 200, 21, 50);
    ck_assert_int_eq(meta_slice_referenced(m, 10), 1);
    ck_assert_int_eq(meta_slice_referenced(m, 11), 0);
    struct garbage_list l = { 0 };
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &l), 0);
    ck_assert_int_eq(l.n, 0);

    /* Unlink, truncate and compaction release slices. */
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "f", 1, 0, 0, NULL), 0);
    struct meta_attr a;
    memset(&a, 0, sizeof a);
    a.size = 200;
    ck_assert_int_eq(meta_setattr(m, g, META_SET_SIZE, &a), 0);
    struct layout_slice merged = { 0, 22, 200, 0, 200 }, was = { 0, 20, 200, 0, 200 };
    ck_assert_int_eq(meta_compact(m, g, 0, &was, 1, &merged, 1), 0);
    int64_t t1 = wall_ns();
    /* A duplicate release of one id is listed once. */
    admin_exec(adm, "INSERT INTO garbage (id, size, released) SELECT id, size, released + 5 "
                    "FROM garbage WHERE id = 10");
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &l), 0);
    ck_assert_int_eq(l.n, 4);
    uint64_t want[4] = { 10, 20, 21, 30 };
    uint32_t wsize[4] = { 100, 200, 50, 300 };
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(l.ids[i], want[i]);
        ck_assert_uint_eq(l.sizes[i], wsize[i]);
        ck_assert_int_ge(l.since[i], t0);
        ck_assert_int_le(l.since[i], t1 + 5);
    }
    ck_assert_int_eq(l.since[0], intf(adm, "SELECT max(released) FROM garbage WHERE id = 10"));
    ck_assert_int_eq(meta_slice_referenced(m, 30), 0);

    /* An id in use again is neither listed nor forgotten. */
    uint64_t h = mkfile(m, META_ROOT_INO, "h");
    put_slice(m, h, 0, 0, 20, 200);
    ck_assert_int_eq(meta_slice_referenced(m, 20), 1);
    struct garbage_list l2 = { 0 };
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &l2), 0);
    ck_assert_int_eq(l2.n, 3);
    ck_assert_uint_eq(l2.ids[1], 21);
    struct garbage_list l3 = { .stop_at = 2 };
    ck_assert_int_eq(meta_list_garbage(m, garbage_cb, &l3), 0);
    ck_assert_int_eq(l3.n, 2);
    uint64_t forget[4] = { 10, 20, 30, 999 };
    ck_assert_int_eq(meta_forget_garbage(m, forget, 4), 2);
    ck_assert_int_eq(garbage_count(adm, 10), 0);
    ck_assert_int_eq(garbage_count(adm, 20), 1);
    ck_assert_int_eq(garbage_count(adm, 30), 0);
    ck_assert_int_eq(meta_forget_garbage(m, forget, 0), 0);

    /* Many: pages of the listing and of forgetting. */
    admin_exec(adm, "DELETE FROM garbage; INSERT INTO garbage (id, size, released) "
                    "SELECT 100000 + g, 64, 42 FROM generate_series(1, 25000) g");
    struct garbage_count gc = { 0 };
    ck_assert_int_eq(meta_list_garbage(m, garbage_count_cb, &gc), 0);
    ck_assert_int_eq(gc.n, 25000);
    ck_assert_int_eq(gc.bad, 0);
    static uint64_t many[25000];
    for (int i = 0; i < 25000; i++)
        many[i] = 100001 + (uint64_t)i;
    ck_assert_int_eq(meta_forget_garbage(m, many, 25000), 25000);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM garbage"), 0);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

/* ------------------------------------------------------------------ fsck */

struct lines {
    int n;
    char text[64][512];
};

static void lines_cb(void *arg, const char *problem)
{
    struct lines *l = arg;
    if (l->n < 64)
        snprintf(l->text[l->n], sizeof l->text[0], "%s", problem);
    l->n++;
}

static int has_line(const struct lines *l, const char *needle)
{
    for (int i = 0; i < l->n && i < 64; i++)
        if (strstr(l->text[i], needle))
            return 1;
    return 0;
}

static void report_zero(const struct meta_fsck_report *r)
{
    ck_assert_uint_eq(r->dangling_entries, 0);
    ck_assert_uint_eq(r->missing_parents, 0);
    ck_assert_uint_eq(r->bad_nlink, 0);
    ck_assert_uint_eq(r->orphans, 0);
    ck_assert_uint_eq(r->bad_dir_parent, 0);
    ck_assert_uint_eq(r->slices_of_missing_inodes, 0);
    ck_assert_uint_eq(r->bad_sizes, 0);
}

static int txn_fsck(struct meta *m, void *arg)
{
    return meta_fsck(m, 1, arg, NULL, NULL);
}

START_TEST(test_fsck_clean)
{
    struct meta *m = volume("tm_fsck_clean");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d"), s = mkdir_(m, d, "s");
    uint64_t f = mkfile(m, s, "f");
    put_slice(m, f, 0, 0, 1, 100);
    put_slice(m, f, 3, 10, 2, 100);
    struct meta_attr a;
    ck_assert_int_eq(meta_link(m, f, d, "f2", 2, &a), 0);
    mk(m, d, "l", S_IFLNK | 0777);
    ck_assert_int_eq(meta_rename(m, d, "s", 1, META_ROOT_INO, "s", 1, 0), 0);
    memset(&a, 0, sizeof a);
    a.size = 3 * LAYOUT_CHUNK_SIZE + 50;                     /* cuts the chunk 3 slice */
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE, &a), 0);
    uint64_t sid;
    ck_assert_int_eq(meta_session_open(m, "n", 1, &sid), 0);
    uint64_t o = orphan(m, "open", 3);
    ck_assert_int_eq(meta_orphan_own(m, o, sid), 0);          /* kept open: no problem */

    struct lines l = { 0 };
    struct meta_fsck_report r;
    ck_assert_int_eq(meta_fsck(m, 0, &r, lines_cb, &l), 0);
    report_zero(&r);
    ck_assert_int_eq(l.n, 0);
    ck_assert_int_eq(meta_fsck(m, 1, &r, lines_cb, &l), 0);
    ck_assert_int_eq(l.n, 0);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "lost+found", NULL), -ENOENT);  /* on demand */
    ck_assert_int_eq(meta_txn(m, txn_fsck, &r), -EINVAL);
    meta_close(m);
}
END_TEST

START_TEST(test_fsck_damaged)
{
    struct meta *m = volume("tm_fsck");
    PGconn *adm = admin("tm_fsck");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t sub = mkdir_(m, d, "sub");
    uint64_t f1 = mkfile(m, d, "f1"), f2 = mkfile(m, d, "f2"), f3 = mkfile(m, d, "f3");
    uint64_t f7 = mkfile(m, d, "f7");
    put_slice(m, f3, 0, 0, 6001, 40);
    put_slice(m, f3, 0, 30, 6002, 40);
    put_slice(m, f3, 0, 60, 6003, 40);
    uint64_t sid;
    ck_assert_int_eq(meta_session_open(m, "n", 1, &sid), 0);
    uint64_t o = orphan(m, "open", 6100);
    ck_assert_int_eq(meta_orphan_own(m, o, sid), 0);

    /* The damage, as a crashed tool or a hand-edited database leaves it. */
    admin_exec(adm, "INSERT INTO entry VALUES (1, 'ghost', 999999)");           /* dangling */
    sqlf(adm, "INSERT INTO entry VALUES (%" PRIu64 ", 'weird', %" PRIu64 ")", f2, f2); /* in a file */
    sqlf(adm, "UPDATE entry SET parent = 888888 WHERE ino = %" PRIu64, f7);      /* lost parent */
    sqlf(adm, "DELETE FROM entry WHERE ino = %" PRIu64, f1);                     /* nameless */
    sqlf(adm, "UPDATE inode SET nlink = 3 WHERE ino = %" PRIu64, f2);
    sqlf(adm, "UPDATE inode SET nlink = 7 WHERE ino = %" PRIu64, d);
    sqlf(adm, "UPDATE inode SET parent = 1 WHERE ino = %" PRIu64, sub);
    admin_exec(adm, "INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
                    "VALUES (777777, 0, 0, 5001, 10, 0, 10), (777777, 1, 0, 5002, 10, 0, 10)");
    sqlf(adm, "UPDATE inode SET size = 50 WHERE ino = %" PRIu64, f3);

    struct lines l = { 0 };
    struct meta_fsck_report r;
    int found = meta_fsck(m, 0, &r, lines_cb, &l);
    for (int i = 0; i < l.n && found != 11; i++)
        printf("fsck: %s\n", l.text[i]), fflush(stdout);
    ck_assert_int_eq(found, 11);
    ck_assert_uint_eq(r.dangling_entries, 3);
    ck_assert_uint_eq(r.missing_parents, 1);
    ck_assert_uint_eq(r.bad_nlink, 2);
    ck_assert_uint_eq(r.orphans, 0);
    ck_assert_uint_eq(r.bad_dir_parent, 1);
    ck_assert_uint_eq(r.slices_of_missing_inodes, 2);
    ck_assert_uint_eq(r.bad_sizes, 2);
    ck_assert_int_eq(l.n, 11);
    char want[128];
    ck_assert(has_line(&l, "entry 'ghost' in directory 1 points to missing inode 999999"));
    snprintf(want, sizeof want, "entry 'weird' (inode %" PRIu64 ") is in %" PRIu64 ", a file", f2, f2);
    ck_assert_msg(has_line(&l, want), "no line: %s", want);
    ck_assert(has_line(&l, "is in missing directory 888888"));
    snprintf(want, sizeof want, "inode %" PRIu64 " (file, nlink 1, 0 bytes) has no name", f1);
    ck_assert_msg(has_line(&l, want), "no line: %s", want);
    snprintf(want, sizeof want, "inode %" PRIu64 " (directory): nlink 7, expected 3", d);
    ck_assert_msg(has_line(&l, want), "no line: %s", want);
    snprintf(want, sizeof want, "directory %" PRIu64 " ('sub' in %" PRIu64 ") records parent 1",
             sub, d);
    ck_assert_msg(has_line(&l, want), "no line: %s", want);
    ck_assert(has_line(&l, "slice record of missing inode 777777: chunk 1, slice 5002"));
    ck_assert(has_line(&l, "(slice 6003) ends at byte 100, past the size 50"));
    /* Checking changed nothing. */
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 11);

    /* Repair reports what it found, then a second fsck is clean. */
    ck_assert_int_eq(meta_fsck(m, 1, &r, NULL, NULL), 11);
    ck_assert_uint_eq(r.bad_sizes, 2);
    struct lines l2 = { 0 };
    ck_assert_int_eq(meta_fsck(m, 0, &r, lines_cb, &l2), 0);
    report_zero(&r);
    ck_assert_msg(l2.n == 0, "still: %s", l2.text[0]);

    /* What the repairs did. */
    struct meta_attr a, lf;
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "ghost", NULL), -ENOENT);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "lost+found", &lf), 0);
    ck_assert_uint_eq(lf.mode & S_IFMT, S_IFDIR);
    char name[32];
    snprintf(name, sizeof name, "#%" PRIu64, f1);
    ck_assert_int_eq(lookup(m, lf.ino, name, &a), 0);
    ck_assert_uint_eq(a.ino, f1);
    ck_assert_uint_eq(a.nlink, 1);
    snprintf(name, sizeof name, "#%" PRIu64, f7);                /* its entry was dangling */
    ck_assert_int_eq(lookup(m, lf.ino, name, &a), 0);
    ck_assert_uint_eq(a.ino, f7);
    ck_assert_uint_eq(getattr(m, f2).nlink, 1);
    ck_assert_uint_eq(getattr(m, sub).parent, d);
    ck_assert_uint_eq(getattr(m, d).nlink, 3);
    ck_assert_uint_eq(getattr(m, META_ROOT_INO).nlink, 4);      /* d and lost+found */
    ck_assert_uint_eq(lf.nlink, 2);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM slice WHERE ino = 777777"), 0);
    ck_assert_int_eq(garbage_count(adm, 5001), 1);
    ck_assert_int_eq(garbage_count(adm, 5002), 1);
    ck_assert(exists(m, o));                                     /* kept open: untouched */
    ck_assert_int_eq(getattr(m, f3).size, 50);
    ck_assert_int_eq(intf(adm, "SELECT (string_agg(id || ':' || pos || '+' || len, ' ' ORDER BY seq) "
                               "= '6001:0+40 6002:30+20')::int FROM slice WHERE ino = %" PRIu64, f3),
                     1);
    ck_assert_int_eq(garbage_count(adm, 6003), 1);
    ck_assert_int_eq(garbage_count(adm, 6002), 0);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

START_TEST(test_fsck_many)
{
    /* 1,500 problems: counts exact, lines capped, repair in one go. */
    struct meta *m = volume("tm_fsck_many");
    PGconn *adm = admin("tm_fsck_many");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    sqlf(adm, "INSERT INTO entry SELECT %" PRIu64 ", convert_to('g' || g, 'UTF8'), 5000000 + g "
              "FROM generate_series(1, 1500) g", d);
    admin_exec(adm, "INSERT INTO entry VALUES (1, '\\x0a7e27ff'::bytea, 4999999)");  /* odd bytes */
    struct lines l = { 0 };
    struct meta_fsck_report r;
    ck_assert_int_eq(meta_fsck(m, 0, &r, lines_cb, &l), 1501);
    ck_assert_uint_eq(r.dangling_entries, 1501);
    ck_assert_int_eq(l.n, META_FSCK_MAX_LINES);
    ck_assert_msg(has_line(&l, "entry '\\x0a~\\x27\\xff' in directory 1"), "%s", l.text[0]);
    ck_assert_int_eq(meta_fsck(m, 1, &r, NULL, NULL), 1501);
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 0);
    ck_assert_int_eq(intf(adm, "SELECT count(*) FROM entry"), 1);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

struct fsck_thread { struct meta *m; int rc; struct meta_fsck_report r; };

static void *fsck_thread_main(void *arg)
{
    struct fsck_thread *t = arg;
    t->rc = meta_fsck(t->m, 1, &t->r, NULL, NULL);
    return NULL;
}

START_TEST(test_fsck_concurrent)
{
    /* A client links a file whose nlink is damaged while the repair is
     * about to recount it: the repair must not write the count it made
     * before the link committed (READ COMMITTED would: 1 instead of 2). */
    struct meta *m = volume("tm_fsck_conc");
    PGconn *adm = admin("tm_fsck_conc"), *client = admin("tm_fsck_conc");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d"), x = mkfile(m, d, "x");
    sqlf(adm, "UPDATE inode SET nlink = 5 WHERE ino = %" PRIu64, x);
    /* The client's link, open: it holds x's row lock. */
    admin_exec(client, "BEGIN");
    sqlf(client, "INSERT INTO entry VALUES (%" PRIu64 ", 'x2', %" PRIu64 "); "
                 "UPDATE inode SET nlink = nlink + 1 WHERE ino = %" PRIu64, d, x, x);
    struct fsck_thread t = { .m = m };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, fsck_thread_main, &t), 0);
    /* Wait (bounded) until the repair waits on that lock, then commit. */
    int waited = 0;
    for (int i = 0; i < 500 && !waited; i++) {
        waited = intf(adm, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database() AND query LIKE '%%nlink%%'") > 0;
        if (!waited)
            usleep(10000);
    }
    admin_exec(client, "COMMIT");
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(waited, "the repair never waited for the client's lock");
    ck_assert_int_eq(t.rc, 1);
    ck_assert_uint_eq(t.r.bad_nlink, 1);
    ck_assert_uint_eq(getattr(m, x).nlink, 2);
    struct meta_fsck_report r;
    ck_assert_int_eq(meta_fsck(m, 0, &r, NULL, NULL), 0);
    PQfinish(client);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

static Suite *meta_more_suite(void)
{
    Suite *s = suite_create("meta_more");
    struct { const char *name; const TTest *t; int timeout; } tests[] = {
        { "dir_slices", test_dir_slices, 30 },
        { "dir_slices_plan_and_timing", test_dir_slices_plan_and_timing, 300 },
        { "dir_slices_pages", test_dir_slices_pages, 120 },
        { "rename_orphan", test_rename_orphan, 30 },
        { "sessions_reap", test_sessions_reap, 30 },
        { "reservation_fence", test_reservation_fence, 30 },
        { "gc", test_gc, 60 },
        { "fsck_clean", test_fsck_clean, 30 },
        { "fsck_damaged", test_fsck_damaged, 30 },
        { "fsck_many", test_fsck_many, 60 },
        { "fsck_concurrent", test_fsck_concurrent, 60 },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_set_timeout(tc, tests[i].timeout);
        tcase_add_test(tc, tests[i].t);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(meta_more_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

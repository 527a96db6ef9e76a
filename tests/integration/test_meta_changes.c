/* test_meta_changes.c - precise invalidation in the metadata engine
 * (metadata-sql/meta_changes.c, schema 3) against a real PostgreSQL
 * (SHIMFS_META, from scripts/services.sh env):
 *  - meta_committed_dirs, from the commit hook, names exactly the
 *    directories a write, a create, a mkdir, a rename and an unlink
 *    changed, and "everything" (-1) for a hard link and an xattr;
 *  - the change log: a transaction that took its id before a poll and
 *    committed after it is in the next poll's answer (the horizon is the
 *    previous snapshot's xmin); a commit in another volume (another schema
 *    of the same server) is not in it; a file with two names has parent
 *    0; a removed directory leaves a tombstone; too many rows say so;
 *  - the names of one directory changed since a horizon (schema 5): names
 *    created, renamed, chmod'ed and replaced with their rows, names removed
 *    or renamed away as removals, a name removed and made again as a set
 *    after its removal; too many say so; tombstones past an hour go.
 * Each test formats its own volume in its own schema.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "meta.h"
#include "meta_fixture.h"

/* ---- what the commit hook is told ---- */

static struct { struct meta *m; int n; uint64_t dirs[16]; int calls; } hooked;

static void hook(void *arg)
{
    (void)arg;
    hooked.n = meta_committed_dirs(hooked.m, hooked.dirs, 16);
    hooked.calls++;
}

/* The last commit named exactly dirs[0..n) (any order). */
static void expect_dirs(const char *what, const uint64_t *dirs, int n)
{
    ck_assert_msg(hooked.calls > 0, "%s: no commit hook call", what);
    ck_assert_msg(hooked.n == n, "%s: %d directories named, want %d", what, hooked.n, n);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int k = 0; k < hooked.n; k++)
            found |= hooked.dirs[k] == dirs[i];
        ck_assert_msg(found, "%s: directory %" PRIu64 " not named", what, dirs[i]);
    }
    hooked.calls = 0;
}

START_TEST(test_committed_dirs)
{
    struct meta *m = volume("t_chg_dirs");
    uint64_t a = mk(m, 1, "a", S_IFDIR | 0755), b = mk(m, 1, "b", S_IFDIR | 0755);
    uint64_t f = mk(m, a, "f", S_IFREG | 0644);
    hooked.m = m;
    hooked.calls = 0;
    meta_set_commit_hook(m, hook, NULL);

    struct meta_slice_rec r = { 0, { 0, 7, 100, 0, 100 } };
    ck_assert_int_eq(meta_write(m, f, &r, 1, 100, 0, 0, NULL), 0);
    expect_dirs("a write", (uint64_t[]){ a }, 1);
    struct meta_attr at;
    memset(&at, 0, sizeof at);
    at.size = 10;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE, &at), 0);
    expect_dirs("a truncation", (uint64_t[]){ a }, 1);
    uint64_t g = mk(m, b, "g", S_IFREG | 0644);
    expect_dirs("a create", (uint64_t[]){ b, 1 }, 2);  /* b's mtime: / lists it */
    uint64_t s = mk(m, a, "s", S_IFDIR | 0755);
    expect_dirs("a mkdir", (uint64_t[]){ a, 1, s }, 3);
    ck_assert_int_eq(meta_rename(m, a, "f", 1, b, "f", 1, 0), 0);
    expect_dirs("a rename across directories", (uint64_t[]){ a, b, 1 }, 3);
    ck_assert_int_eq(meta_unlink(m, b, "f", 1, 0, 0, NULL), 0);
    expect_dirs("an unlink", (uint64_t[]){ b, 1 }, 2);
    ck_assert_int_eq(meta_unlink(m, a, "s", 1, 1, 0, NULL), 0);
    expect_dirs("an rmdir", (uint64_t[]){ a, 1, s }, 3);

    ck_assert_int_eq(meta_link(m, g, a, "h", 1, &at), 0);
    ck_assert_int_eq(hooked.n, -1);  /* a file with two names: everything */
    ck_assert_uint_eq(at.parent, 0); /* (schema 3 says so in its row) */
    hooked.calls = 0;
    ck_assert_int_eq(meta_write(m, g, &r, 1, 100, 0, 0, NULL), 0);
    ck_assert_int_eq(hooked.n, -1);
    hooked.calls = 0;
    ck_assert_int_eq(meta_setxattr(m, b, "user.k", "v", 1, 0), 0);
    ck_assert_int_gt(hooked.calls, 0);
    ck_assert_int_eq(hooked.n, -1);  /* xattrs: whether any exists is shared */
    meta_set_commit_hook(m, NULL, NULL);
    meta_close(m);
}
END_TEST

/* ---- the change log ---- */

struct seen { int n, gone; uint64_t ino[64], parent[64]; };

static void seen_cb(void *arg, const struct meta_change *c)
{
    struct seen *s = arg;
    if (s->n < 64) {
        s->ino[s->n] = c->ino;
        s->parent[s->n] = c->parent;
        s->n++;
    }
    s->gone += c->gone;
}

static int seen_has(const struct seen *s, uint64_t ino, uint64_t *parent)
{
    for (int i = 0; i < s->n; i++)
        if (s->ino[i] == ino) {
            if (parent)
                *parent = s->parent[i];
            return 1;
        }
    return 0;
}

/* A horizon is the oldest transaction with an id still running anywhere
 * on the server (a writer in another database, another test's agent
 * reaping sessions): the checks that want one past this test's own
 * changes hold only while none runs, so wait (at most 10 s) until none
 * does. CI's first pass once saw a change of this test reported after
 * such a horizon. */
static void quiet_server(void)
{
    PGconn *c = admin(NULL);
    for (int i = 0; i < 200; i++) {
        if (admin_int(c, "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
                         "AND pid <> pg_backend_pid()") == 0)
            break;
        usleep(50000);
    }
    PQfinish(c);
}

START_TEST(test_change_log)
{
    struct meta *m = volume("t_chg_log");
    struct meta *other = volume("t_chg_other");
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755), f = mk(m, d, "f", S_IFREG | 0644);
    uint64_t of = mk(other, 1, "x", S_IFREG | 0644);

    uint64_t h0 = 0, h1 = 0, h2 = 0, h3 = 0;
    struct seen s = { 0 };
    quiet_server();
    ck_assert_int_eq(meta_changes_since(m, 0, 100, &h0, seen_cb, &s), 0); /* the horizon alone */
    ck_assert_uint_gt(h0, 0);

    /* a transaction takes its id, then a poll, then it commits */
    PGconn *w = admin("t_chg_log");
    admin_exec(w, "BEGIN");
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE inode SET mtime = mtime + 1 WHERE ino = %" PRIu64, f);
    admin_exec(w, sql);
    /* a later transaction (a greater id) completes first: the poll's xmax
     * is past w's id, its xmin is not */
    PGconn *later = admin(NULL);
    admin_exec(later, "SELECT pg_current_xact_id()");
    PQfinish(later);
    memset(&s, 0, sizeof s);
    ck_assert_int_ge(meta_changes_since(m, h0, 100, &h1, seen_cb, &s), 0);
    ck_assert_msg(!seen_has(&s, f, NULL), "a change not committed yet was reported");
    admin_exec(w, "COMMIT");
    PQfinish(w);
    memset(&s, 0, sizeof s);
    ck_assert_int_ge(meta_changes_since(m, h1, 100, &h2, seen_cb, &s), 1);
    uint64_t parent = 0;
    ck_assert_msg(seen_has(&s, f, &parent),
                  "a transaction that took its id before a poll and committed after it was missed");
    ck_assert_uint_eq(parent, d);

    /* another volume of the same server commits: nothing here */
    struct meta_slice_rec r = { 0, { 0, 7, 100, 0, 100 } };
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(meta_write(other, of, &r, 1, 100, 0, 0, NULL), 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_ge(meta_changes_since(m, h2, 100, &h3, seen_cb, &s), 0);
    ck_assert_msg(!seen_has(&s, of, NULL), "another volume's commit was reported");
    for (int i = 0; i < s.n; i++)
        ck_assert_msg(s.ino[i] == f || s.ino[i] == d || s.ino[i] == 1,
                      "an inode nobody changed since was reported: %" PRIu64, s.ino[i]);

    /* a hard link: parent 0; an rmdir: a tombstone */
    struct meta_attr a;
    ck_assert_int_eq(meta_link(m, f, 1, "f2", 2, &a), 0);
    uint64_t sub = mk(m, d, "sub", S_IFDIR | 0755);
    ck_assert_int_eq(meta_unlink(m, d, "sub", 3, 1, 0, NULL), 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_ge(meta_changes_since(m, h3, 100, &h0, seen_cb, &s), 2);
    ck_assert(seen_has(&s, f, &parent));
    ck_assert_uint_eq(parent, 0);
    ck_assert(seen_has(&s, sub, NULL));
    ck_assert_int_ge(s.gone, 1);

    /* more rows than asked for: said so, with the horizon */
    uint64_t h = 0;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(meta_changes_since(m, h3, 1, &h, seen_cb, &s), -E2BIG);
    ck_assert_uint_gt(h, 0);
    meta_close(other);
    meta_close(m);
}
END_TEST

/* ---- the names of one directory (schema 5) ---- */

struct names {
    int n;
    char name[16][16];
    int gone[16];
    struct meta_attr a[16];
    int nmap[16];
    struct meta_slice_rec map[16][2];
};

static void names_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a,
                     const struct meta_slice_rec *map, int nmap)
{
    struct names *s = arg;
    ck_assert_int_lt(s->n, 16);
    s->nmap[s->n] = nmap;
    for (int i = 0; i < nmap && i < 2; i++)
        s->map[s->n][i] = map[i];
    ck_assert_uint_lt(nlen, 16);
    memcpy(s->name[s->n], name, nlen);
    s->name[s->n][nlen] = 0;
    s->gone[s->n] = a == NULL;
    if (a)
        s->a[s->n] = *a;
    s->n++;
}

/* The index of name in s (-1: none); gone: what it says. */
static int names_find(const struct names *s, const char *name, int gone)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (strcmp(s->name[i], name) == 0 && s->gone[i] == gone)
            return i;
    return -1;
}

START_TEST(test_dir_changes)
{
    struct meta *m = volume("t_chg_names");
    uint64_t d = mk(m, 1, "d", S_IFDIR | 0755);
    mk(m, d, "f1", S_IFREG | 0644);
    mk(m, d, "f2", S_IFREG | 0644);
    mk(m, d, "f4", S_IFREG | 0644);
    uint64_t f5 = mk(m, d, "f5", S_IFREG | 0644);
    uint64_t f6 = mk(m, d, "f6", S_IFREG | 0644);
    mk(m, d, "f7", S_IFREG | 0644);
    uint64_t h0 = 0;
    struct seen s0 = { 0 };
    quiet_server();
    ck_assert_int_ge(meta_changes_since(m, 0, 100, &h0, seen_cb, &s0), 0);
    struct names s = { 0 };
    ck_assert_int_eq(meta_dir_changes(m, d, h0, 100, names_cb, &s, NULL), 0);

    uint64_t f3 = mk(m, d, "f3", S_IFREG | 0644);                          /* a create */
    ck_assert_int_eq(meta_rename(m, d, "f1", 2, d, "g1", 2, 0), 0);          /* a rename */
    ck_assert_int_eq(meta_unlink(m, d, "f2", 2, 0, 0, NULL), 0);            /* an unlink */
    struct meta_attr at = { .mode = 0600 };
    ck_assert_int_eq(meta_setattr(m, f5, META_SET_MODE, &at), 0);          /* a chmod */
    ck_assert_int_eq(meta_rename(m, d, "f6", 2, d, "f7", 2, 0), 0);          /* over a name */
    ck_assert_int_eq(meta_unlink(m, d, "f4", 2, 0, 0, NULL), 0);            /* gone, then back */
    uint64_t f4b = mk(m, d, "f4", S_IFREG | 0644);
    /* data written to a file: its map comes with its row (two slices of
     * two chunks, in chunk order) */
    struct meta_slice_rec w[2] = { { 1, { 0, 77, 100, 0, 100 } }, { 0, { 5, 78, 50, 0, 50 } } };
    ck_assert_int_eq(meta_write(m, f3, w, 2, (UINT64_C(1) << 26) + 100, 1, 0, NULL), 0);
    /* one of more slices than a map may carry: no map (readers ask) */
    struct meta_slice_rec many[META_CHANGE_MAP_MAX + 1];
    for (int i = 0; i <= META_CHANGE_MAP_MAX; i++)
        many[i] = (struct meta_slice_rec){ 0, { (uint32_t)i, 1000 + (uint64_t)i, 1, 0, 1 } };
    ck_assert_int_eq(meta_write(m, f6, many, META_CHANGE_MAP_MAX + 1, 300, 1, 0, NULL), 0);
    memset(&s, 0, sizeof s);
    struct meta_attr self;
    ck_assert_int_eq(meta_dir_changes(m, d, h0, 100, names_cb, &s, &self), 8);
    /* the folder's own row comes with its names: its times moved with them */
    ck_assert_uint_eq(self.ino, d);
    ck_assert(S_ISDIR(self.mode));
    ck_assert_int_gt(self.mtime_ns, 0);
    ck_assert_int_ge(names_find(&s, "f1", 1), 0);
    ck_assert_int_ge(names_find(&s, "f2", 1), 0);
    ck_assert_int_ge(names_find(&s, "f6", 1), 0);
    int i3 = names_find(&s, "f3", 0), i5 = names_find(&s, "f5", 0), i4 = names_find(&s, "f4", 0);
    ck_assert_int_ge(names_find(&s, "g1", 0), 0);
    ck_assert_int_ge(names_find(&s, "f7", 0), 0);
    ck_assert_int_ge(i3, 0);
    ck_assert_uint_eq(s.a[i3].ino, f3);
    ck_assert_uint_eq(s.a[i3].parent, d);
    ck_assert_int_eq(s.nmap[i3], 2);
    ck_assert_uint_eq(s.map[i3][0].chunk, 0);
    ck_assert_uint_eq(s.map[i3][0].s.id, 78);
    ck_assert_uint_eq(s.map[i3][0].s.pos, 5);
    ck_assert_uint_eq(s.map[i3][1].chunk, 1);
    ck_assert_uint_eq(s.map[i3][1].s.id, 77);
    ck_assert_uint_eq(s.map[i3][1].s.len, 100);
    /* a file with no slices: an empty map; a name gone: none */
    ck_assert_int_eq(s.nmap[i5], 0);
    ck_assert_int_eq(s.nmap[names_find(&s, "f2", 1)], -1);
    ck_assert_int_eq(s.nmap[names_find(&s, "f7", 0)], -1);
    ck_assert_int_ge(i5, 0);
    ck_assert_uint_eq(s.a[i5].mode & 07777, 0600);
    /* a name removed and made again: its row, and no removal after it */
    ck_assert_int_ge(i4, 0);
    ck_assert_uint_eq(s.a[i4].ino, f4b);
    ck_assert_int_lt(names_find(&s, "f4", 1), i4);
    for (int i = 1; i < s.n; i++)
        ck_assert_msg(s.gone[i - 1] || !s.gone[i], "a removal after a set");

    /* past the limit: said so, no callback */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(meta_dir_changes(m, d, h0, 2, names_cb, &s, NULL), -E2BIG);
    ck_assert_int_eq(s.n, 0);
    /* a later horizon: nothing new. The horizon is the oldest transaction
     * still running anywhere on the server (pg_snapshot_xmin): while one
     * runs (another database's, an agent's poll) changes at or after it
     * are reported again, never lost; so at most the 8 above, each a name
     * seen there (CI's first pass once saw 1 where this said 0) */
    uint64_t h1 = 0;
    quiet_server();
    ck_assert_int_ge(meta_changes_since(m, h0, 100, &h1, seen_cb, &s0), 0);
    ck_assert_uint_ge(h1, h0);
    struct names again;
    memset(&again, 0, sizeof again);
    int k = meta_dir_changes(m, d, h1, 100, names_cb, &again, NULL);
    ck_assert_int_ge(k, 0);
    ck_assert_int_le(k, 8);
    for (int i = 0; i < again.n; i++)
        ck_assert_int_ge(names_find(&s, again.name[i], again.gone[i]), 0);

    /* tombstones older than an hour go as names are removed (one removal
     * in 64 prunes: 600 renames miss it with a chance of 1 in 10,000) */
    PGconn *c = admin("t_chg_names");
    admin_exec(c, "INSERT INTO entry_gone (parent, name, chg, at) SELECT 99, 'x', "
                  "pg_current_xact_id(), now() - interval '2 hours' FROM generate_series(1, 20)");
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(meta_rename(m, d, "g1", 2, d, "h1", 2, 0), 0);
        ck_assert_int_eq(meta_rename(m, d, "h1", 2, d, "g1", 2, 0), 0);
    }
    ck_assert_int_eq(admin_int(c, "SELECT count(*) FROM entry_gone WHERE parent = 99"), 0);
    PQfinish(c);
    meta_close(m);
}
END_TEST

static Suite *changes_suite(void)
{
    Suite *s = suite_create("meta_changes");
    TCase *tc = tcase_create("changes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_committed_dirs);
    tcase_add_test(tc, test_change_log);
    tcase_add_test(tc, test_dir_changes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(changes_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

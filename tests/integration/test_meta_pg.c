/* test_meta_pg.c - the metadata engine (metadata-sql/) against a real
 * PostgreSQL: SHIMFS_META names the database (scripts/services.sh env).
 * Every test formats its own volume in its own schema (search_path in the
 * conninfo's options), so tests never see each other's rows. A separate
 * plain libpq connection ("admin") arranges what the engine cannot (bulk
 * rows, a newer schema version, killing a backend) and checks rows the API
 * does not expose (garbage).
 */
/* The engine's own functions and handle, not core's handle (core/meta.h). */
#define SHIMFS_META_IMPL
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "meta.h"
#include "meta_fixture.h"
#include "meta_int.h"

/* ---------------------------------------------------------------- helpers */

static long long garbage_count(const char *schema, uint64_t id)
{
    PGconn *adm = admin(NULL);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.garbage WHERE id = %" PRIu64, schema, id);
    long long n = admin_int(adm, sql);
    PQfinish(adm);
    return n;
}

static long vm_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n))
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

/* ------------------------------------------------------- volume lifecycle */

START_TEST(test_format_and_settings)
{
    struct meta *m = volume("t_format");
    struct meta_settings in = test_settings(), s;
    ck_assert_int_eq(meta_load_settings(m, &s), 0);
    ck_assert_str_eq(s.name, in.name);
    ck_assert_str_eq(s.uuid, in.uuid);
    ck_assert_str_eq(s.bucket, in.bucket);
    ck_assert_uint_eq(s.block_size, in.block_size);
    ck_assert_int_eq(s.compress_algo, 1);
    ck_assert_int_eq(s.compress_level, 3);
    ck_assert_int_eq(s.created_ns, in.created_ns);
    ck_assert_int_eq(s.schema_version, META_SCHEMA_VERSION);

    struct meta_attr root = getattr(m, META_ROOT_INO);
    ck_assert_uint_eq(root.mode, S_IFDIR | 0755);
    ck_assert_uint_eq(root.nlink, 2);
    ck_assert_uint_eq(root.uid, geteuid());
    ck_assert_uint_eq(root.parent, META_ROOT_INO);

    /* A second format is refused; force starts over. */
    mkfile(m, META_ROOT_INO, "before");
    ck_assert_int_eq(meta_format(m, &in, 0), -EEXIST);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "before", NULL), 0);
    in.block_size = 1u << 20;
    in.uuid[0] = '\0';                      /* format makes one */
    ck_assert_int_eq(meta_format(m, &in, 1), 0);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "before", NULL), -ENOENT);
    ck_assert_int_eq(meta_load_settings(m, &s), 0);
    ck_assert_uint_eq(s.block_size, 1u << 20);
    ck_assert_int_eq((int)strlen(s.uuid), 36);
    ck_assert_int_eq(s.uuid[14], '4');

    /* Another handle (fresh connections) sees the same volume. */
    struct meta *m2 = volume_reopen("t_format");
    ck_assert_int_eq(meta_load_settings(m2, &s), 0);
    ck_assert_uint_eq(s.block_size, 1u << 20);
    meta_close(m2);
    meta_close(m);
}
END_TEST

START_TEST(test_unformatted)
{
    capture_log();
    PGconn *adm = admin(NULL);
    sqlf(adm, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", "t_unformatted", "t_unformatted");
    PQfinish(adm);
    struct meta *m = volume_reopen("t_unformatted");
    struct meta_settings s;
    struct meta_attr a;
    ck_assert_int_eq(meta_load_settings(m, &s), -ENODEV);
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), -ENODEV);
    meta_close(m);
    char log[4096];
    read_log(log, sizeof log);
    ck_assert_msg(strstr(log, "volume not formatted: run shimfs format"), "log: %s", log);
}
END_TEST

START_TEST(test_schema_newer)
{
    capture_log();
    struct meta *m = volume("t_newer");
    meta_close(m);
    PGconn *adm = admin(NULL);
    admin_exec(adm, "INSERT INTO t_newer.schema_version VALUES (99, 0)");
    PQfinish(adm);
    m = volume_reopen("t_newer");
    struct meta_settings s;
    struct meta_attr a;
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), -EPROTO);
    ck_assert_int_eq(meta_load_settings(m, &s), -EPROTO);
    meta_close(m);
    char log[4096];
    read_log(log, sizeof log);
    char want[128];
    snprintf(want, sizeof want, "schema version 99 is newer than this client (%d); upgrade shimfs",
             META_SCHEMA_VERSION);
    ck_assert_msg(strstr(log, want), "log: %s", log);
}
END_TEST

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);     /* nothing listens there any more */
    return ntohs(a.sin_port);
}

START_TEST(test_unreachable)
{
    capture_log();
    char url[256];
    snprintf(url, sizeof url, "postgresql://someone:Sekr1tPw@127.0.0.1:%d/nodb", free_port());
    struct meta *m;
    ck_assert_int_eq(meta_open(url, &m), 0);   /* lazily: no connection yet */
    ck_assert_ptr_null(strstr(meta_describe(m), "Sekr1tPw"));
    ck_assert_ptr_nonnull(strstr(meta_describe(m), "127.0.0.1"));
    struct meta_attr a;
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), -ECONNREFUSED);
    struct meta_settings s;
    ck_assert_int_eq(meta_load_settings(m, &s), -ECONNREFUSED);
    meta_close(m);
    char log[4096];
    read_log(log, sizeof log);
    ck_assert_msg(strstr(log, "metadata: cannot connect to someone@127.0.0.1:"), "log: %s", log);
    ck_assert_msg(strstr(log, "/nodb: "), "log: %s", log);
    ck_assert_ptr_null(strstr(log, "Sekr1tPw"));
    /* One line for the outage: the second call answers from what the
     * first one learnt, without a connect attempt (issue 14). */
    int lines = 0;
    for (char *p = log; (p = strchr(p, '\n')); p++)
        lines++;
    ck_assert_int_eq(lines, 1);
}
END_TEST

START_TEST(test_wrong_password)
{
    capture_log();
    char ci[4096];
    /* TCP on loopback, where the test cluster asks for a scram password. */
    conninfo_for(ci, sizeof ci, NULL, "password", "definitely-wrong");
    char *host = strstr(ci, "host='");
    ck_assert_msg(host && !strncmp(host, "host='127.0.0.1'", 16),
                  "SHIMFS_META must use TCP on 127.0.0.1 for this test: %s", test_url());
    struct meta *m;
    ck_assert_int_eq(meta_open(ci, &m), 0);
    struct meta_attr a;
    int rc = meta_getattr(m, META_ROOT_INO, &a);
    ck_assert_msg(rc == -EACCES, "wrong password gave %d (does pg_hba trust 127.0.0.1?)", rc);
    meta_close(m);
    char log[4096];
    read_log(log, sizeof log);
    ck_assert_ptr_null(strstr(log, "definitely-wrong"));
    ck_assert_ptr_nonnull(strstr(log, "password authentication failed"));
}
END_TEST

START_TEST(test_bad_conninfo)
{
    capture_log();
    struct meta *m;
    ck_assert_int_eq(meta_open("host=x password=Sekr1tPw bogus_option=1", &m), -EINVAL);
    char log[4096];
    read_log(log, sizeof log);
    ck_assert_ptr_null(strstr(log, "Sekr1tPw"));
    ck_assert_ptr_nonnull(strstr(log, "not a valid"));
}
END_TEST

/* ------------------------------------------------------------- namespace */

START_TEST(test_create_lookup_getattr)
{
    struct meta *m = volume("t_create");
    struct meta_attr root0 = getattr(m, META_ROOT_INO), a, b;
    uint64_t f = mkfile(m, META_ROOT_INO, "file");
    uint64_t d = mkdir_(m, META_ROOT_INO, "dir");
    ck_assert_uint_ne(f, d);
    ck_assert_uint_gt(f, META_ROOT_INO);

    ck_assert_int_eq(lookup(m, META_ROOT_INO, "file", &a), 0);
    ck_assert_uint_eq(a.ino, f);
    ck_assert_uint_eq(a.mode, S_IFREG | 0644);
    ck_assert_uint_eq(a.nlink, 1);
    ck_assert_uint_eq(a.uid, 1000);
    ck_assert_uint_eq(a.size, 0);
    ck_assert_int_gt(a.mtime_ns, 1600000000LL * 1000000000LL);
    b = getattr(m, d);
    ck_assert_uint_eq(b.mode, S_IFDIR | 0755);
    ck_assert_uint_eq(b.nlink, 2);
    ck_assert_uint_eq(b.parent, META_ROOT_INO);
    struct meta_attr root = getattr(m, META_ROOT_INO);
    ck_assert_uint_eq(root.nlink, root0.nlink + 1);      /* the new subdirectory's ".." */
    ck_assert_int_ge(root.mtime_ns, root0.mtime_ns);
    ck_assert_int_ge(root.ctime_ns, a.ctime_ns);

    /* Given times are kept; a device node keeps its rdev. */
    memset(&a, 0, sizeof a);
    a.mode = S_IFCHR | 0600;
    a.rdev = 0x0501;
    a.atime_ns = 11;
    a.mtime_ns = 22;
    a.ctime_ns = 33;
    ck_assert_int_eq(meta_create(m, d, "dev", 3, &a, NULL, 1), 0);
    ck_assert_int_eq(lookup(m, d, "dev", &b), 0);
    ck_assert_uint_eq(b.rdev, 0x0501);
    ck_assert_int_eq(b.atime_ns, 11);
    ck_assert_int_eq(b.mtime_ns, 22);
    ck_assert_int_eq(b.ctime_ns, 33);
    ck_assert_uint_eq(b.mode, S_IFCHR | 0600);

    /* O_EXCL, O_CREAT on an existing file, and on a directory. */
    memset(&a, 0, sizeof a);
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create(m, META_ROOT_INO, "file", 4, &a, NULL, 1), -EEXIST);
    ck_assert_int_eq(meta_create(m, META_ROOT_INO, "file", 4, &a, NULL, 0), 0);
    ck_assert_uint_eq(a.ino, f);
    ck_assert_uint_eq(a.mode, S_IFREG | 0644);           /* the existing file's */
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create(m, META_ROOT_INO, "dir", 3, &a, NULL, 0), -EEXIST);

    /* Missing or non-directory parents, bad names. */
    ck_assert_int_eq(meta_create(m, 999999, "x", 1, &a, NULL, 1), -ENOENT);
    ck_assert_int_eq(meta_create(m, f, "x", 1, &a, NULL, 1), -ENOTDIR);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    ck_assert_int_eq(meta_create(m, d, longname, 256, &a, NULL, 1), -ENAMETOOLONG);
    ck_assert_int_eq(meta_create(m, d, longname, 255, &a, NULL, 1), 0);
    ck_assert_int_eq(meta_lookup(m, d, longname, 255, &b), 0);
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "nope", 4, &b), -ENOENT);
    ck_assert_int_eq(meta_getattr(m, 987654321, &b), -ENOENT);

    /* Names are bytes: quotes, backslashes, newlines, invalid UTF-8. */
    const char weird[] = "a'b\\c\nd\xff\xfe\"e";
    memset(&a, 0, sizeof a);
    a.mode = S_IFREG | 0644;
    ck_assert_int_eq(meta_create(m, d, weird, sizeof weird - 1, &a, NULL, 1), 0);
    ck_assert_int_eq(meta_lookup(m, d, weird, sizeof weird - 1, &b), 0);
    ck_assert_uint_eq(b.ino, a.ino);
    ck_assert_int_eq(meta_lookup(m, d, weird, sizeof weird - 2, &b), -ENOENT);

    /* Symlinks: target stored, size is its length; a link needs a target. */
    memset(&a, 0, sizeof a);
    a.mode = S_IFLNK | 0777;
    ck_assert_int_eq(meta_create(m, d, "ln", 2, &a, "../file", 1), 0);
    ck_assert_uint_eq(a.size, 7);
    ck_assert_int_eq(meta_create(m, d, "ln2", 3, &a, NULL, 1), -EINVAL);
    meta_close(m);
}
END_TEST

START_TEST(test_readlink)
{
    struct meta *m = volume("t_readlink");
    struct meta_attr a;
    memset(&a, 0, sizeof a);
    a.mode = S_IFLNK | 0777;
    const char *target = "some/where/\xc3\xa9 else";
    ck_assert_int_eq(meta_create(m, META_ROOT_INO, "l", 1, &a, target, 1), 0);
    char buf[64];
    int n = meta_readlink(m, a.ino, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(target));
    ck_assert_int_eq(memcmp(buf, target, (size_t)n), 0);
    ck_assert_int_eq(meta_readlink(m, a.ino, buf, 4), 4);
    ck_assert_int_eq(memcmp(buf, "some", 4), 0);
    uint64_t f = mkfile(m, META_ROOT_INO, "f");
    ck_assert_int_eq(meta_readlink(m, f, buf, sizeof buf), -EINVAL);
    ck_assert_int_eq(meta_readlink(m, 424242, buf, sizeof buf), -ENOENT);
    meta_close(m);
}
END_TEST

START_TEST(test_walk)
{
    struct meta *m = volume("t_walk");
    const char *names[8] = { "a", "b", "c", "d", "e", "f", "g", "h" };
    size_t lens[8];
    uint64_t inos[8], cur = META_ROOT_INO;
    for (int i = 0; i < 8; i++) {
        lens[i] = 1;
        cur = inos[i] = (i == 7) ? mkfile(m, cur, names[i]) : mkdir_(m, cur, names[i]);
    }
    struct meta_attr steps[10];
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, names, lens, 8, steps), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(steps[i].ino, inos[i]);
    ck_assert_uint_eq(steps[7].mode & S_IFMT, S_IFREG);
    ck_assert_uint_eq(steps[3].parent, inos[2]);

    /* Missing third component. */
    const char *miss[4] = { "a", "b", "zz", "d" };
    size_t mlens[4] = { 1, 1, 2, 1 };
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, miss, mlens, 4, steps), 2);
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, miss + 2, mlens + 2, 2, steps), 0);

    /* A file that is not last: included, then stop. */
    uint64_t file = mkfile(m, inos[0], "file");
    const char *thru[3] = { "a", "file", "x" };
    size_t tlens[3] = { 1, 4, 1 };
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, thru, tlens, 3, steps), 2);
    ck_assert_uint_eq(steps[1].ino, file);

    /* A symlink: included, then stop for the caller to resolve. */
    struct meta_attr l;
    memset(&l, 0, sizeof l);
    l.mode = S_IFLNK | 0777;
    ck_assert_int_eq(meta_create(m, inos[1], "sl", 2, &l, "c", 1), 0);
    const char *viasl[4] = { "a", "b", "sl", "d" };
    size_t slens[4] = { 1, 1, 2, 1 };
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, viasl, slens, 4, steps), 3);
    ck_assert_uint_eq(steps[2].ino, l.ino);
    ck_assert_uint_eq(steps[2].mode & S_IFMT, S_IFLNK);

    /* From a start other than the root; nothing to walk; a bad name. */
    ck_assert_int_eq(meta_walk(m, inos[3], names + 4, lens + 4, 4, steps), 4);
    ck_assert_uint_eq(steps[3].ino, inos[7]);
    ck_assert_int_eq(meta_walk(m, META_ROOT_INO, names, lens, 0, steps), 0);
    ck_assert_int_eq(meta_walk(m, file, names, lens, 1, steps), 0);
    meta_close(m);
}
END_TEST

struct collect {
    int n, stop_at;
    char names[64][16];
    uint64_t inos[64];
};

static int collect_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    struct collect *c = arg;
    ck_assert_int_lt(c->n, 64);
    ck_assert_uint_lt(nlen, 16);
    memcpy(c->names[c->n], name, nlen);
    c->names[c->n][nlen] = '\0';
    c->inos[c->n] = a->ino;
    c->n++;
    return c->stop_at && c->n >= c->stop_at;
}

START_TEST(test_readdir_small)
{
    struct meta *m = volume("t_readdir");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    const char *names[] = { "b", "a", "\xff", "A", "aa", "a0" };
    const char *sorted[] = { "A", "a", "a0", "aa", "b", "\xff" };   /* byte order */
    uint64_t ino_of_a = 0;
    for (int i = 0; i < 6; i++) {
        uint64_t ino = mkfile(m, d, names[i]);
        if (!strcmp(names[i], "a"))
            ino_of_a = ino;
    }
    struct collect c = { 0 };
    ck_assert_int_eq(meta_readdir(m, d, NULL, 0, 100, collect_cb, &c), 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(c.names[i], sorted[i]);
    ck_assert_uint_eq(c.inos[1], ino_of_a);

    /* Keyset pages of two. */
    struct collect all = { 0 };
    char after[16] = "";
    size_t alen = 0;
    for (int page = 0; page < 10; page++) {
        struct collect p = { 0 };
        int n = meta_readdir(m, d, page ? after : NULL, alen, 2, collect_cb, &p);
        ck_assert_int_ge(n, 0);
        ck_assert_int_le(n, 2);
        for (int i = 0; i < n; i++)
            memcpy(all.names[all.n++], p.names[i], 16);
        if (n < 2)
            break;
        alen = strlen(p.names[n - 1]);
        memcpy(after, p.names[n - 1], alen);
    }
    ck_assert_int_eq(all.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(all.names[i], sorted[i]);

    /* The callback stops early; empty, missing and non-directories. */
    struct collect s = { .stop_at = 2 };
    ck_assert_int_eq(meta_readdir(m, d, NULL, 0, 100, collect_cb, &s), 2);
    uint64_t e = mkdir_(m, META_ROOT_INO, "empty");
    struct collect z = { 0 };
    ck_assert_int_eq(meta_readdir(m, e, NULL, 0, 100, collect_cb, &z), 0);
    ck_assert_int_eq(meta_readdir(m, 777777, NULL, 0, 100, collect_cb, &z), -ENOENT);
    ck_assert_int_eq(meta_readdir(m, c.inos[0], NULL, 0, 100, collect_cb, &z), -ENOTDIR);
    ck_assert_int_eq(z.n, 0);
    meta_close(m);
}
END_TEST

struct stream {
    int n;
    char last[32];
    size_t last_len;
    uint64_t first_ino;
    int bad;
};

static int stream_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    struct stream *s = arg;
    size_t k = nlen < s->last_len ? nlen : s->last_len;
    int cmp = memcmp(s->last, name, k);
    if (s->n && (cmp > 0 || (cmp == 0 && s->last_len >= nlen)))
        s->bad++;                                    /* not strictly ascending */
    if (a->ino != s->first_ino + (uint64_t)atol(name + 1) || (a->mode & S_IFMT) != S_IFREG)
        s->bad++;
    memcpy(s->last, name, nlen);
    s->last_len = nlen;
    s->n++;
    return 0;
}

START_TEST(test_readdir_100k)
{
    const int N = 100000;
    struct meta *m = volume("t_big");
    uint64_t d = mkdir_(m, META_ROOT_INO, "big"), first;
    ck_assert_int_eq(meta_next_ids(m, META_ID_INODE, (uint32_t)N, &first), 0);
    PGconn *adm = admin(NULL);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO t_big.inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent) "
             "SELECT %" PRIu64 " + g, 33188, 0, 0, 1, g, 1, 1, 1, %" PRIu64 " "
             "FROM generate_series(0, %d) g; "
             "INSERT INTO t_big.entry (parent, name, ino) "
             "SELECT %" PRIu64 ", convert_to('f' || lpad(g::text, 6, '0'), 'UTF8'), %" PRIu64 " + g "
             "FROM generate_series(0, %d) g; ANALYZE t_big.entry; ANALYZE t_big.inode",
             first, d, N - 1, d, first, N - 1);
    admin_exec(adm, sql);

    /* The page query walks the primary key, whatever the position. */
    snprintf(sql, sizeof sql, "SET search_path = t_big; PREPARE rd(bigint, bytea, bigint) AS %s",
             meta_stmts[MS_READDIR].sql);
    admin_exec(adm, sql);
    snprintf(sql, sizeof sql, "EXPLAIN EXECUTE rd(%" PRIu64 ", 'f090000', 1000)", d);
    PGresult *r = PQexec(adm, sql);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    char plan[8192] = "";
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(plan, PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    PQclear(r);
    PQfinish(adm);
    ck_assert_msg(strstr(plan, "entry_pkey"), "readdir does not use the entry key:\n%s", plan);
    ck_assert_msg(!strstr(plan, "Seq Scan on entry"), "readdir scans entries:\n%s", plan);

    struct stream s = { .first_ino = first };
    /* First page outside the measurement: connection and statement set-up. */
    ck_assert_int_eq(meta_readdir(m, d, NULL, 0, 1000, stream_cb, &s), 1000);
    long hwm0 = vm_kb("VmHWM:");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int pages = 1;
    for (; pages < 1000; pages++) {
        int n = meta_readdir(m, d, s.last, s.last_len, 1000, stream_cb, &s);
        ck_assert_int_ge(n, 0);
        if (n < 1000)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long grown = vm_kb("VmHWM:") - hwm0;
    ck_assert_int_eq(s.n, N);
    ck_assert_int_eq(s.bad, 0);
    ck_assert_str_eq(s.last, "f099999");
    /* 100,000 rows held at once would take tens of MB in libpq. Not under
     * AddressSanitizer: its quarantine keeps freed memory resident. */
#ifndef __SANITIZE_ADDRESS__
    ck_assert_msg(grown < 4096, "peak RSS grew by %ld KiB while streaming", grown);
#else
    printf("readdir: peak RSS not bounded under AddressSanitizer\n");
#endif
    printf("readdir: %d entries in %d pages of 1000: %.1f ms, peak RSS +%ld KiB\n", s.n, pages + 1,
           ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6), grown);
    struct meta_stats st;
    ck_assert_int_eq(meta_stats(m, &st), 0);
    ck_assert_uint_eq(st.files, (uint64_t)N);
    meta_close(m);
    adm = admin(NULL);
    admin_exec(adm, "DROP SCHEMA t_big CASCADE");   /* the one big schema */
    PQfinish(adm);
}
END_TEST

/* ------------------------------------------------------------------ data */

struct chunks {
    int calls;
    uint64_t chunk[8];
    int n[8];
    struct layout_slice s[8][8];
};

static int chunks_cb(void *arg, uint64_t chunk, const struct layout_slice *s, int n)
{
    struct chunks *c = arg;
    ck_assert_int_lt(c->calls, 8);
    ck_assert_int_le(n, 8);
    c->chunk[c->calls] = chunk;
    c->n[c->calls] = n;
    memcpy(c->s[c->calls], s, (size_t)n * sizeof *s);
    c->calls++;
    return 0;
}

START_TEST(test_write_read_chunks)
{
    struct meta *m = volume("t_write");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), id;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 4, &id), 0);
    struct meta_slice_rec recs[3] = {
        { 0, { 0, id, 1000, 0, 1000 } },
        { 2, { 10, id + 1, 500, 100, 400 } },
        { 0, { 500, id + 2, 300, 0, 300 } },
    };
    struct meta_attr a;
    ck_assert_int_eq(meta_write(m, f, recs, 3, 2 * LAYOUT_CHUNK_SIZE + 410, 0, 12345, &a), 0);
    ck_assert_uint_eq(a.size, 2 * LAYOUT_CHUNK_SIZE + 410);
    ck_assert_int_eq(a.mtime_ns, 12345);
    ck_assert_int_eq(a.ctime_ns, 12345);

    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 3, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_uint_eq(c.chunk[0], 0);
    ck_assert_int_eq(c.n[0], 2);
    ck_assert_uint_eq(c.s[0][0].id, id);             /* oldest first */
    ck_assert_uint_eq(c.s[0][1].id, id + 2);
    ck_assert_uint_eq(c.s[0][1].pos, 500);
    ck_assert_uint_eq(c.chunk[1], 2);
    ck_assert_uint_eq(c.s[1][0].pos, 10);
    ck_assert_uint_eq(c.s[1][0].size, 500);
    ck_assert_uint_eq(c.s[1][0].off, 100);
    ck_assert_uint_eq(c.s[1][0].len, 400);

    /* A later write lands after the earlier ones; size never shrinks. */
    struct meta_slice_rec more = { 0, { 0, id + 3, 10, 0, 10 } };
    ck_assert_int_eq(meta_write(m, f, &more, 1, 10, 0, 0, &a), 0);
    ck_assert_uint_eq(a.size, 2 * LAYOUT_CHUNK_SIZE + 410);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 1, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.n[0], 3);
    ck_assert_uint_eq(c.s[0][2].id, id + 3);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(meta_read_chunks(m, f, 1, 1, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 0);

    /* set_size: exact size; what lay beyond is cut. */
    ck_assert_int_eq(meta_write(m, f, NULL, 0, 600, 1, 0, &a), 0);
    ck_assert_uint_eq(a.size, 600);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 10, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(c.n[0], 3);
    ck_assert_uint_eq(c.s[0][0].len, 600);
    ck_assert_uint_eq(c.s[0][1].len, 100);          /* 500..800 trimmed to 500..600 */

    /* Errors. */
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    ck_assert_int_eq(meta_write(m, d, &more, 1, 10, 0, 0, &a), -EISDIR);
    ck_assert_int_eq(meta_write(m, 5555555, &more, 1, 10, 0, 0, &a), -ENOENT);
    struct meta_slice_rec bad = { 0, { LAYOUT_CHUNK_SIZE - 5, id, 10, 0, 10 } };
    ck_assert_int_eq(meta_write(m, f, &bad, 1, 10, 0, 0, &a), -EINVAL);
    meta_close(m);
}
END_TEST

/* META_WRITE_SOLE: 1 exactly when the file's map is the commit's own
 * records afterwards (what the node's snapshot may take as its map). */
START_TEST(test_write_sole)
{
    struct meta *m = volume("t_sole");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), g = mkfile(m, META_ROOT_INO, "g"), id;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 8, &id), 0);
    struct meta_slice_rec two[2] = { { 0, { 0, id, 100, 0, 100 } },
                                     { 1, { 0, id + 1, 50, 0, 50 } } };
    struct meta_attr a;
    /* a new file's first commit: its map is what it wrote */
    ck_assert_int_eq(
        meta_write_inline(m, f, two, 2, NULL, LAYOUT_CHUNK_SIZE + 50, META_WRITE_SOLE, 0, NULL, &a),
        1);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE + 50);
    /* a second commit: the first one's slices are still there */
    struct meta_slice_rec one = { 0, { 10, id + 2, 10, 0, 10 } };
    ck_assert_int_eq(meta_write_inline(m, f, &one, 1, NULL, 20, META_WRITE_SOLE, 0, NULL, &a), 0);
    /* not asked: 0, as ever */
    ck_assert_int_eq(meta_write_inline(m, f, &one, 1, NULL, 20, 0, 0, NULL, &a), 0);
    /* truncated to nothing (O_TRUNC), then written: its own again */
    ck_assert_int_eq(meta_write(m, f, NULL, 0, 0, 1, 0, &a), 0);
    ck_assert_int_eq(
        meta_write_inline(m, f, &one, 1, NULL, 20, META_WRITE_SOLE | META_WRITE_LAZY, 0, NULL, &a),
        1);
    ck_assert_uint_eq(a.size, 20);
    /* a commit that cuts the file but keeps an older slice: not its own */
    struct meta_slice_rec late = { 0, { 30, id + 3, 10, 0, 10 } };
    ck_assert_int_eq(meta_write_inline(m, f, &late, 1, NULL, 40, 1 | META_WRITE_SOLE, 0, NULL, &a),
                     0);
    /* another file's slices never count */
    ck_assert_int_eq(meta_write_inline(m, g, &late, 1, NULL, 40, META_WRITE_SOLE, 0, NULL, &a), 1);
    /* a failed commit is a failure, asked or not */
    ck_assert_int_eq(meta_write_inline(m, 5555555, &one, 1, NULL, 10, META_WRITE_SOLE, 0, NULL, &a),
                     -ENOENT);
    meta_close(m);
}
END_TEST

/* Appends are placed at the size read under the inode's lock: one piece
 * crossing a chunk boundary becomes two records of one slice. */
/* A data commit that also sets attributes (chmod and utimens through the
 * writing descriptor): they go in after its own mtime, the mode only over
 * the mode it replaced; lazy setattr of times and mode, no size. */
START_TEST(test_write_attrs)
{
    struct meta *m = volume("t_wattrs");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), id;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 5, &id), 0);
    struct meta_slice_rec one = { 0, { 0, id, 10, 0, 10 } };
    struct meta_attr a;
    uint32_t was = getattr(m, f).mode & 07777;
    struct meta_attr_set also = { META_SET_MODE | META_SET_MTIME | META_SET_ATIME,
                                  { 0 },
                                  (int)was };
    also.a.mode = S_IFREG | 0751;
    also.a.mtime_ns = 77;
    also.a.atime_ns = 66;
    ck_assert_int_eq(meta_write_inline(m, f, &one, 1, NULL, 10, META_WRITE_LAZY, 999, &also, &a),
                     0);
    ck_assert_uint_eq(a.mode, S_IFREG | 0751);
    ck_assert_int_eq(a.mtime_ns, 77); /* not the write's 999 */
    ck_assert_int_eq(a.atime_ns, 66);
    ck_assert_uint_eq(a.size, 10);
    struct meta_attr b = getattr(m, f);
    ck_assert_uint_eq(b.mode, S_IFREG | 0751);
    ck_assert_int_eq(b.mtime_ns, 77);
    /* someone changed the mode since: theirs stays, the times still go in */
    also.mode_was = 0600;
    also.a.mode = S_IFREG | 0777;
    also.a.mtime_ns = 88;
    one.s.id = id + 1;
    ck_assert_int_eq(meta_write_inline(m, f, &one, 1, NULL, 10, 0, 999, &also, &a), 0);
    ck_assert_uint_eq(a.mode, S_IFREG | 0751);
    ck_assert_int_eq(a.mtime_ns, 88);
    /* a commit that matches nothing (not a regular file) changes nothing */
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    struct meta_attr da = getattr(m, d);
    also.mode_was = -1;
    one.s.id = id + 3;
    ck_assert_int_eq(meta_write_inline(m, d, &one, 1, NULL, 10, 0, 999, &also, &a), -EISDIR);
    ck_assert_uint_eq(getattr(m, d).mode, da.mode);
    ck_assert_int_eq(getattr(m, d).mtime_ns, da.mtime_ns);
    /* no attributes: the write's own mtime */
    one.s.id = id + 2;
    ck_assert_int_eq(meta_write_inline(m, f, &one, 1, NULL, 10, 0, 999, NULL, &a), 0);
    ck_assert_int_eq(a.mtime_ns, 999);
    /* a lazy setattr without a size: one statement; a lazy size: refused */
    memset(&a, 0, sizeof a);
    a.mode = 0640;
    a.mtime_ns = 55;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_MODE | META_SET_MTIME | META_SET_LAZY, &a), 0);
    ck_assert_uint_eq(a.mode, S_IFREG | 0640);
    ck_assert_int_eq(getattr(m, f).mtime_ns, 55);
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE | META_SET_LAZY, &a), -EINVAL);
    ck_assert_int_eq(meta_setattr(m, 3333333, META_SET_MODE | META_SET_LAZY, &a), -ENOENT);
    meta_close(m);
}
END_TEST

START_TEST(test_append_placement)
{
    struct meta *m = volume("t_append");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), id;
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 4, &id), 0);
    struct meta_attr a;
    ck_assert_int_eq(meta_write(m, f, NULL, 0, LAYOUT_CHUNK_SIZE - 10, 1, 0, &a), 0);
    struct meta_append_rec recs[2] = { { 0, id, 4, 0, 4 }, { 4, id + 1, 30, 0, 30 } };
    uint64_t at = 0;
    ck_assert_int_eq(meta_append(m, f, recs, 2, 777, &a, &at), 0);
    ck_assert_uint_eq(at, LAYOUT_CHUNK_SIZE - 10);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE + 24);
    ck_assert_int_eq(a.mtime_ns, 777);
    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 2, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_int_eq(c.n[0], 2);
    ck_assert_uint_eq(c.s[0][0].pos, LAYOUT_CHUNK_SIZE - 10);
    ck_assert_uint_eq(c.s[0][0].len, 4);
    ck_assert_uint_eq(c.s[0][1].id, id + 1);       /* first 6 bytes of the piece */
    ck_assert_uint_eq(c.s[0][1].pos, LAYOUT_CHUNK_SIZE - 6);
    ck_assert_uint_eq(c.s[0][1].off, 0);
    ck_assert_uint_eq(c.s[0][1].len, 6);
    ck_assert_uint_eq(c.chunk[1], 1);
    ck_assert_int_eq(c.n[1], 1);
    ck_assert_uint_eq(c.s[1][0].id, id + 1);       /* the other 24 */
    ck_assert_uint_eq(c.s[1][0].pos, 0);
    ck_assert_uint_eq(c.s[1][0].off, 6);
    ck_assert_uint_eq(c.s[1][0].len, 24);
    ck_assert_uint_eq(c.s[1][0].size, 30);

    /* the next append goes after it; pieces must tile the run */
    struct meta_append_rec more = { 0, id + 2, 5, 0, 5 };
    ck_assert_int_eq(meta_append(m, f, &more, 1, 0, &a, &at), 0);
    ck_assert_uint_eq(at, LAYOUT_CHUNK_SIZE + 24);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE + 29);
    struct meta_append_rec gap = { 3, id + 3, 5, 0, 5 };
    ck_assert_int_eq(meta_append(m, f, &gap, 1, 0, &a, NULL), -EINVAL);
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    ck_assert_int_eq(meta_append(m, d, &more, 1, 0, &a, NULL), -EISDIR);
    ck_assert_int_eq(meta_append(m, 5555555, &more, 1, 0, &a, NULL), -ENOENT);
    meta_close(m);
}
END_TEST

struct id_run { struct meta *m; uint64_t firsts[200]; int fails; };

static void *id_thread(void *arg)
{
    struct id_run *r = arg;
    for (int i = 0; i < 200; i++)
        if (meta_next_ids(r->m, META_ID_SLICE, 10, &r->firsts[i]) != 0)
            r->fails++;
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int rollback_ids(struct meta *m, void *arg)
{
    ck_assert_int_eq(meta_next_ids(m, META_ID_SLICE, 5, arg), 0);
    return -ECANCELED;
}

START_TEST(test_next_ids)
{
    struct meta *m1 = volume("t_ids");
    struct meta *m2 = volume_reopen("t_ids");
    struct id_run r[2] = { { .m = m1 }, { .m = m2 } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, id_thread, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(r[0].fails + r[1].fails, 0);
    uint64_t all[400];
    memcpy(all, r[0].firsts, sizeof r[0].firsts);
    memcpy(all + 200, r[1].firsts, sizeof r[1].firsts);
    qsort(all, 400, sizeof all[0], cmp_u64);
    for (int i = 1; i < 400; i++)
        ck_assert_uint_ge(all[i], all[i - 1] + 10);   /* batches never overlap */

    /* Ids drawn in a transaction that rolls back are not handed out again. */
    uint64_t lost, next;
    ck_assert_int_eq(meta_txn(m1, rollback_ids, &lost), -ECANCELED);
    ck_assert_int_eq(meta_next_ids(m2, META_ID_SLICE, 1, &next), 0);
    ck_assert_uint_ge(next, lost + 5);
    /* Inode ids and create share one counter. */
    ck_assert_int_eq(meta_next_ids(m1, META_ID_INODE, 3, &next), 0);
    uint64_t f = mkfile(m1, META_ROOT_INO, "after");
    ck_assert_uint_ge(f, next + 3);
    ck_assert_int_eq(meta_next_ids(m1, 7, 1, &next), -EINVAL);
    ck_assert_int_eq(meta_next_ids(m1, META_ID_SLICE, 0, &next), -EINVAL);
    meta_close(m2);
    meta_close(m1);
}
END_TEST

START_TEST(test_unlink_rmdir)
{
    struct meta *m = volume("t_unlink");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t f = mkfile(m, d, "f");
    uint64_t sub = mkdir_(m, d, "sub");
    mkfile(m, sub, "inner");
    put_slice(m, f, 0, 0, 900001, 100);
    struct meta_attr rm;
    ck_assert_int_eq(meta_unlink(m, d, "nope", 4, 0, 0, &rm), -ENOENT);
    ck_assert_int_eq(meta_unlink(m, d, "sub", 3, 0, 0, &rm), -EISDIR);
    ck_assert_int_eq(meta_unlink(m, d, "f", 1, 1, 0, &rm), -ENOTDIR);
    ck_assert_int_eq(meta_unlink(m, d, "sub", 3, 1, 0, &rm), -ENOTEMPTY);
    ck_assert_int_eq(meta_unlink(m, f, "x", 1, 0, 0, &rm), -ENOTDIR);
    ck_assert_int_eq(meta_unlink(m, 8888888, "x", 1, 0, 0, &rm), -ENOENT);

    /* Two links: the first unlink leaves the inode. */
    struct meta_attr l;
    ck_assert_int_eq(meta_link(m, f, META_ROOT_INO, "f2", 2, &l), 0);
    ck_assert_uint_eq(l.nlink, 2);
    ck_assert_int_eq(meta_unlink(m, d, "f", 1, 0, 0, &rm), 0);
    ck_assert_uint_eq(rm.ino, f);
    ck_assert_uint_eq(rm.nlink, 1);
    ck_assert_uint_eq(getattr(m, f).nlink, 1);
    ck_assert_int_eq(garbage_count("t_unlink", 900001), 0);
    /* The last link: inode gone, its slice is garbage. */
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "f2", 2, 0, 0, &rm), 0);
    ck_assert_uint_eq(rm.nlink, 0);
    struct meta_attr a;
    ck_assert_int_eq(meta_getattr(m, f, &a), -ENOENT);
    ck_assert_int_eq(garbage_count("t_unlink", 900001), 1);

    /* rmdir: parent loses the ".." link. */
    uint32_t before = getattr(m, d).nlink;
    ck_assert_int_eq(meta_unlink(m, sub, "inner", 5, 0, 0, &rm), 0);
    ck_assert_int_eq(meta_unlink(m, d, "sub", 3, 1, 0, &rm), 0);
    ck_assert_uint_eq(getattr(m, d).nlink, before - 1);
    ck_assert_int_eq(meta_getattr(m, sub, &a), -ENOENT);
    ck_assert_int_eq(lookup(m, d, "sub", NULL), -ENOENT);

    /* Links: not to directories, not onto existing names. */
    uint64_t g = mkfile(m, d, "g");
    ck_assert_int_eq(meta_link(m, d, META_ROOT_INO, "dl", 2, &l), -EPERM);
    ck_assert_int_eq(meta_link(m, g, d, "g", 1, &l), -EEXIST);
    ck_assert_int_eq(meta_link(m, g, g, "x", 1, &l), -ENOTDIR);
    ck_assert_int_eq(meta_link(m, 7777777, d, "x", 1, &l), -ENOENT);
    meta_close(m);
}
END_TEST

/* meta_unlink_guess: a right guess is one round trip; a wrong ino, link
 * count or type is rerun the long way with the same answers. */
START_TEST(test_unlink_guess)
{
    struct meta *m = volume("t_uguess");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), g = mkfile(m, META_ROOT_INO, "g");
    struct meta_attr a = getattr(m, f), rm;
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "f", 1, &a, 0, &rm), 0);
    ck_assert_uint_eq(rm.ino, f);
    ck_assert_uint_eq(rm.nlink, 0);
    struct meta_attr e;
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "f", 1, &e), -ENOENT);
    /* a wrong inode: the name's own goes */
    struct meta_attr wrong = getattr(m, g);
    wrong.ino = f;
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "g", 1, &wrong, 0, &rm), 0);
    ck_assert_uint_eq(rm.ino, g);
    /* a wrong link count: the real one counts */
    uint64_t h = mkfile(m, META_ROOT_INO, "h");
    struct meta_attr ha = getattr(m, h);
    ck_assert_int_eq(meta_link(m, h, META_ROOT_INO, "h2", 2, &e), 0);
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "h", 1, &ha, 0, &rm), 0);
    ck_assert_uint_eq(rm.nlink, 1);
    ck_assert_uint_eq(getattr(m, h).nlink, 1);
    /* no such name, a directory guessed as a file */
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "nope", 4, &ha, 0, &rm), -ENOENT);
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    struct meta_attr da = getattr(m, d);
    da.mode = S_IFREG | 0644;
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "d", 1, &da, 0, &rm), -EISDIR);
    /* kept open: an orphan */
    ck_assert_int_eq(meta_unlink_guess(m, META_ROOT_INO, "h2", 2, &ha, 1, &rm), 0);
    ck_assert_uint_eq(rm.nlink, 0);
    ck_assert_int_eq(meta_getattr(m, h, &e), 0);
    ck_assert_int_eq(meta_drop_orphan(m, h), 0);
    meta_close(m);
}
END_TEST

/* meta_rename_guess: right guesses (a free target, a file target) are
 * one round trip; wrong ones are rerun with the same answers. */
START_TEST(test_rename_guess)
{
    struct meta *m = volume("t_rguess");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), g = mkfile(m, META_ROOT_INO, "g");
    struct meta_attr fa = getattr(m, f), ga = getattr(m, g), rp, e;
    /* to a free name in another folder */
    ck_assert_int_eq(meta_rename_guess(m, META_ROOT_INO, "f", 1, d, "f2", 2, 0, &fa, NULL, &rp), 0);
    ck_assert_uint_eq(rp.ino, 0);
    ck_assert_int_eq(meta_lookup(m, d, "f2", 2, &e), 0);
    ck_assert_uint_eq(e.ino, f);
    ck_assert_uint_eq(e.parent, d);
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "f", 1, &e), -ENOENT);
    /* over a file: it goes */
    fa = getattr(m, f);
    ck_assert_int_eq(meta_rename_guess(m, d, "f2", 2, META_ROOT_INO, "g", 1, 0, &fa, &ga, &rp), 0);
    ck_assert_uint_eq(rp.ino, g);
    ck_assert_uint_eq(rp.nlink, 0);
    ck_assert_int_eq(meta_getattr(m, g, &e), -ENOENT);
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "g", 1, &e), 0);
    ck_assert_uint_eq(e.ino, f);
    /* a target guessed free that is not: replaced all the same */
    uint64_t h = mkfile(m, META_ROOT_INO, "h");
    fa = getattr(m, f);
    ck_assert_int_eq(
        meta_rename_guess(m, META_ROOT_INO, "g", 1, META_ROOT_INO, "h", 1, 0, &fa, NULL, &rp), 0);
    ck_assert_uint_eq(rp.ino, h);
    /* NOREPLACE onto a name guessed free that is not: EEXIST */
    uint64_t k = mkfile(m, META_ROOT_INO, "k");
    fa = getattr(m, f);
    ck_assert_int_eq(meta_rename_guess(m, META_ROOT_INO, "h", 1, META_ROOT_INO, "k", 1,
                                       RENAME_NOREPLACE, &fa, NULL, &rp),
                     -EEXIST);
    /* a wrong source guess; a source that is gone */
    struct meta_attr wrong = getattr(m, k);
    ck_assert_int_eq(
        meta_rename_guess(m, META_ROOT_INO, "h", 1, META_ROOT_INO, "z", 1, 0, &wrong, NULL, &rp),
        0);
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "z", 1, &e), 0);
    ck_assert_uint_eq(e.ino, f);
    ck_assert_int_eq(
        meta_rename_guess(m, META_ROOT_INO, "h", 1, META_ROOT_INO, "y", 1, 0, &fa, NULL, &rp),
        -ENOENT);
    /* onto a directory guessed a file: EISDIR */
    fa = getattr(m, f);
    struct meta_attr da = getattr(m, d);
    da.mode = S_IFREG | 0644;
    ck_assert_int_eq(
        meta_rename_guess(m, META_ROOT_INO, "z", 1, META_ROOT_INO, "d", 1, 0, &fa, &da, &rp),
        -EISDIR);
    meta_close(m);
}
END_TEST

START_TEST(test_orphans)
{
    struct meta *m = volume("t_orphan");
    uint64_t f = mkfile(m, META_ROOT_INO, "open-file");
    put_slice(m, f, 0, 0, 910001, 64);
    struct meta_attr rm, a, l;
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "open-file", 9, 0, 1, &rm), 0);
    ck_assert_uint_eq(rm.nlink, 0);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "open-file", NULL), -ENOENT);
    a = getattr(m, f);                                /* still readable via fd */
    ck_assert_uint_eq(a.nlink, 0);
    ck_assert_uint_eq(a.size, 64);
    ck_assert_int_eq(meta_link(m, f, META_ROOT_INO, "back", 4, &l), -ENOENT);
    ck_assert_int_eq(garbage_count("t_orphan", 910001), 0);
    /* Writes through the open descriptor still commit. */
    put_slice(m, f, 0, 64, 910002, 64);
    ck_assert_int_eq(meta_drop_orphan(m, f), 0);
    ck_assert_int_eq(meta_getattr(m, f, &a), -ENOENT);
    ck_assert_int_eq(garbage_count("t_orphan", 910001), 1);
    ck_assert_int_eq(garbage_count("t_orphan", 910002), 1);
    ck_assert_int_eq(meta_drop_orphan(m, f), -ENOENT);
    /* A linked file is no orphan. */
    uint64_t g = mkfile(m, META_ROOT_INO, "g");
    ck_assert_int_eq(meta_drop_orphan(m, g), -ENOENT);
    getattr(m, g);
    meta_close(m);
}
END_TEST

/* ---------------------------------------------------------------- rename */

static int ren(struct meta *m, uint64_t sp, const char *s, uint64_t dp, const char *d, unsigned fl)
{
    return meta_rename(m, sp, s, strlen(s), dp, d, strlen(d), fl);
}

START_TEST(test_rename_basic)
{
    struct meta *m = volume("t_ren1");
    uint64_t a = mkdir_(m, META_ROOT_INO, "a"), b = mkdir_(m, META_ROOT_INO, "b");
    uint64_t f = mkfile(m, a, "f");
    struct meta_attr x;
    /* Same directory. */
    ck_assert_int_eq(ren(m, a, "f", a, "g", 0), 0);
    ck_assert_int_eq(lookup(m, a, "f", NULL), -ENOENT);
    ck_assert_int_eq(lookup(m, a, "g", &x), 0);
    ck_assert_uint_eq(x.ino, f);
    /* Across directories: both parents' times move, nlinks stay for a file. */
    struct meta_attr a0 = getattr(m, a), b0 = getattr(m, b);
    ck_assert_int_eq(ren(m, a, "g", b, "f", 0), 0);
    ck_assert_int_eq(lookup(m, b, "f", &x), 0);
    ck_assert_uint_eq(x.ino, f);
    ck_assert_int_ge(x.ctime_ns, b0.ctime_ns);
    struct meta_attr a1 = getattr(m, a), b1 = getattr(m, b);
    ck_assert_int_gt(a1.mtime_ns, a0.mtime_ns);
    ck_assert_int_gt(b1.mtime_ns, b0.mtime_ns);
    ck_assert_uint_eq(a1.nlink, a0.nlink);
    ck_assert_uint_eq(b1.nlink, b0.nlink);
    /* A directory across parents: ".." moves. */
    uint64_t sub = mkdir_(m, a, "sub");
    a0 = getattr(m, a);
    b0 = getattr(m, b);
    ck_assert_int_eq(ren(m, a, "sub", b, "sub2", 0), 0);
    ck_assert_uint_eq(getattr(m, a).nlink, a0.nlink - 1);
    ck_assert_uint_eq(getattr(m, b).nlink, b0.nlink + 1);
    ck_assert_uint_eq(getattr(m, sub).parent, b);
    /* Missing source, bad flags, onto itself. */
    ck_assert_int_eq(ren(m, a, "none", b, "x", 0), -ENOENT);
    ck_assert_int_eq(ren(m, 999999, "none", b, "x", 0), -ENOENT);
    ck_assert_int_eq(ren(m, b, "f", f, "x", 0), -ENOTDIR);
    ck_assert_int_eq(ren(m, b, "f", b, "x", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);
    ck_assert_int_eq(ren(m, b, "f", b, "x", 0x100), -EINVAL);
    ck_assert_int_eq(ren(m, b, "f", b, "f", 0), 0);
    ck_assert_int_eq(lookup(m, b, "f", NULL), 0);
    meta_close(m);
}
END_TEST

START_TEST(test_rename_replace)
{
    struct meta *m = volume("t_ren2");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t src = mkfile(m, d, "src"), dst = mkfile(m, d, "dst");
    put_slice(m, dst, 0, 0, 920001, 10);
    struct meta_attr x;
    /* Replace a file: the old one is gone, its data garbage. */
    ck_assert_int_eq(ren(m, d, "src", d, "dst", 0), 0);
    ck_assert_int_eq(lookup(m, d, "dst", &x), 0);
    ck_assert_uint_eq(x.ino, src);
    ck_assert_int_eq(meta_getattr(m, dst, &x), -ENOENT);
    ck_assert_int_eq(garbage_count("t_ren2", 920001), 1);
    /* Replace a file that has another link: it survives with one link less. */
    uint64_t keep = mkfile(m, d, "keep");
    ck_assert_int_eq(meta_link(m, keep, META_ROOT_INO, "keep2", 5, &x), 0);
    ck_assert_int_eq(ren(m, d, "dst", d, "keep", 0), 0);
    ck_assert_uint_eq(getattr(m, keep).nlink, 1);
    /* Two links of one inode: nothing happens. */
    ck_assert_int_eq(meta_link(m, src, d, "alias", 5, &x), 0);
    ck_assert_int_eq(ren(m, d, "keep", d, "alias", 0), 0);
    ck_assert_int_eq(lookup(m, d, "keep", NULL), 0);
    ck_assert_int_eq(lookup(m, d, "alias", NULL), 0);
    ck_assert_uint_eq(getattr(m, src).nlink, 2);
    /* Replace an empty directory with a directory. */
    uint64_t e1 = mkdir_(m, META_ROOT_INO, "e1"), e2 = mkdir_(m, META_ROOT_INO, "e2");
    uint32_t rootn = getattr(m, META_ROOT_INO).nlink;
    ck_assert_int_eq(ren(m, META_ROOT_INO, "e1", META_ROOT_INO, "e2", 0), 0);
    ck_assert_uint_eq(getattr(m, META_ROOT_INO).nlink, rootn - 1);
    ck_assert_int_eq(meta_getattr(m, e2, &x), -ENOENT);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "e2", &x), 0);
    ck_assert_uint_eq(x.ino, e1);
    /* Non-empty target, and type mismatches. */
    mkdir_(m, META_ROOT_INO, "e3");
    ck_assert_int_eq(ren(m, META_ROOT_INO, "e3", META_ROOT_INO, "d", 0), -ENOTEMPTY);
    ck_assert_int_eq(ren(m, d, "alias", META_ROOT_INO, "e3", 0), -EISDIR);
    ck_assert_int_eq(ren(m, META_ROOT_INO, "e3", d, "alias", 0), -ENOTDIR);
    /* NOREPLACE. */
    ck_assert_int_eq(ren(m, d, "alias", d, "keep", RENAME_NOREPLACE), -EEXIST);
    ck_assert_int_eq(ren(m, d, "alias", d, "fresh", RENAME_NOREPLACE), 0);
    meta_close(m);
}
END_TEST

START_TEST(test_rename_subtree_exchange)
{
    struct meta *m = volume("t_ren3");
    uint64_t a = mkdir_(m, META_ROOT_INO, "a");
    uint64_t b = mkdir_(m, a, "b");
    uint64_t c = mkdir_(m, b, "c");
    /* Into itself or below itself. */
    ck_assert_int_eq(ren(m, META_ROOT_INO, "a", c, "a", 0), -EINVAL);
    ck_assert_int_eq(ren(m, META_ROOT_INO, "a", a, "x", 0), -EINVAL);
    ck_assert_int_eq(ren(m, a, "b", c, "b", 0), -EINVAL);
    /* Onto an ancestor: not empty. */
    ck_assert_int_eq(ren(m, b, "c", META_ROOT_INO, "a", 0), -ENOTEMPTY);
    ck_assert_uint_eq(getattr(m, c).parent, b);

    /* EXCHANGE a file and a directory across parents. */
    uint64_t f = mkfile(m, META_ROOT_INO, "f");
    uint32_t rootn = getattr(m, META_ROOT_INO).nlink, an = getattr(m, a).nlink;
    ck_assert_int_eq(ren(m, META_ROOT_INO, "f", a, "b", RENAME_EXCHANGE), 0);
    struct meta_attr x;
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "f", &x), 0);
    ck_assert_uint_eq(x.ino, b);
    ck_assert_uint_eq(x.parent, META_ROOT_INO);
    ck_assert_int_eq(lookup(m, a, "b", &x), 0);
    ck_assert_uint_eq(x.ino, f);
    ck_assert_uint_eq(getattr(m, META_ROOT_INO).nlink, rootn + 1);
    ck_assert_uint_eq(getattr(m, a).nlink, an - 1);
    /* EXCHANGE needs both; may not put a directory below itself. */
    ck_assert_int_eq(ren(m, a, "b", a, "none", RENAME_EXCHANGE), -ENOENT);
    uint64_t c2 = mkdir_(m, c, "c2");
    (void)c2;
    ck_assert_int_eq(ren(m, META_ROOT_INO, "f", c, "c2", RENAME_EXCHANGE), -EINVAL);
    /* EXCHANGE two files in one directory. */
    uint64_t p = mkfile(m, a, "p"), q = mkfile(m, a, "q");
    ck_assert_int_eq(ren(m, a, "p", a, "q", RENAME_EXCHANGE), 0);
    ck_assert_int_eq(lookup(m, a, "p", &x), 0);
    ck_assert_uint_eq(x.ino, q);
    ck_assert_int_eq(lookup(m, a, "q", &x), 0);
    ck_assert_uint_eq(x.ino, p);
    meta_close(m);
}
END_TEST

struct mover { struct meta *m; uint64_t from, to; const char *name; int fails; };

static void *mover_thread(void *arg)
{
    struct mover *mv = arg;
    for (int i = 0; i < 100; i++) {
        uint64_t s = i % 2 ? mv->to : mv->from, d = i % 2 ? mv->from : mv->to;
        if (ren(mv->m, s, mv->name, d, mv->name, 0) != 0)
            mv->fails++;
    }
    return NULL;
}

/* Crossing directory moves from two clients: never a deadlock error, never
 * a cycle, every move applied. */
START_TEST(test_rename_concurrent)
{
    struct meta *m1 = volume("t_ren4");
    struct meta *m2 = volume_reopen("t_ren4");
    uint64_t x = mkdir_(m1, META_ROOT_INO, "x"), y = mkdir_(m1, META_ROOT_INO, "y");
    mkdir_(m1, x, "dx");
    mkdir_(m1, y, "dy");
    struct mover a = { m1, x, y, "dx", 0 }, b = { m2, y, x, "dy", 0 };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, mover_thread, &a);
    pthread_create(&t2, NULL, mover_thread, &b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ck_assert_int_eq(a.fails, 0);
    ck_assert_int_eq(b.fails, 0);
    ck_assert_int_eq(lookup(m1, x, "dx", NULL), 0);  /* 100 moves: back home */
    ck_assert_int_eq(lookup(m1, y, "dy", NULL), 0);
    ck_assert_uint_eq(getattr(m1, x).nlink, 3);
    ck_assert_uint_eq(getattr(m1, y).nlink, 3);
    meta_close(m2);
    meta_close(m1);
}
END_TEST

/* ------------------------------------------------------------ attributes */

START_TEST(test_setattr_truncate)
{
    struct meta *m = volume("t_trunc");
    uint64_t f = mkfile(m, META_ROOT_INO, "f");
    put_slice(m, f, 0, 0, 930001, 1000);
    put_slice(m, f, 1, 0, 930002, 1000);              /* straddles the cut */
    put_slice(m, f, 1, 2000, 930003, 100);            /* wholly beyond */
    put_slice(m, f, 2, 0, 930004, 100);               /* wholly beyond */
    uint64_t g = mkfile(m, META_ROOT_INO, "g");
    put_slice(m, g, 0, 0, 930004, 100);               /* shares 930004 */
    struct meta_attr a;
    memset(&a, 0, sizeof a);
    a.size = LAYOUT_CHUNK_SIZE + 500;
    int64_t t0 = getattr(m, f).mtime_ns;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE, &a), 0);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE + 500);
    ck_assert_int_gt(a.mtime_ns, t0);
    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 10, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_int_eq(c.n[0], 1);
    ck_assert_uint_eq(c.s[0][0].len, 1000);
    ck_assert_uint_eq(c.chunk[1], 1);
    ck_assert_int_eq(c.n[1], 1);
    ck_assert_uint_eq(c.s[1][0].id, 930002);
    ck_assert_uint_eq(c.s[1][0].len, 500);
    ck_assert_int_eq(garbage_count("t_trunc", 930003), 1);
    ck_assert_int_eq(garbage_count("t_trunc", 930004), 0);  /* g still uses it */
    ck_assert_int_eq(garbage_count("t_trunc", 930002), 0);
    /* Grow again: a hole, no slice comes back. */
    a.size = 3 * LAYOUT_CHUNK_SIZE;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE, &a), 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 10, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 2);
    ck_assert_uint_eq(c.s[1][0].len, 500);
    /* Cut at a chunk boundary drops that chunk whole. */
    a.size = LAYOUT_CHUNK_SIZE;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_SIZE, &a), 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 10, chunks_cb, &c), 0);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_int_eq(garbage_count("t_trunc", 930002), 1);

    /* Mode keeps the type; owner; times; ctime moves. */
    memset(&a, 0, sizeof a);
    a.mode = S_IFDIR | 04711;                         /* type bits ignored */
    a.uid = 42;
    a.gid = 43;
    a.atime_ns = 5;
    a.mtime_ns = 6;
    int64_t c0 = getattr(m, f).ctime_ns;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_MODE | META_SET_UID | META_SET_GID |
                                            META_SET_ATIME | META_SET_MTIME, &a), 0);
    ck_assert_uint_eq(a.mode, S_IFREG | 04711);
    ck_assert_uint_eq(a.uid, 42);
    ck_assert_uint_eq(a.gid, 43);
    ck_assert_int_eq(a.atime_ns, 5);
    ck_assert_int_eq(a.mtime_ns, 6);
    ck_assert_int_gt(a.ctime_ns, c0);
    ck_assert_uint_eq(a.size, LAYOUT_CHUNK_SIZE);
    struct meta_attr b = getattr(m, f);
    ck_assert_int_eq(b.mtime_ns, 6);
    ck_assert_uint_eq(b.uid, 42);
    /* Only uid: the rest stays. */
    memset(&a, 0, sizeof a);
    a.uid = 7;
    ck_assert_int_eq(meta_setattr(m, f, META_SET_UID, &a), 0);
    ck_assert_uint_eq(a.gid, 43);
    ck_assert_uint_eq(a.mode, S_IFREG | 04711);
    /* Errors. */
    a.size = 0;
    ck_assert_int_eq(meta_setattr(m, META_ROOT_INO, META_SET_SIZE, &a), -EISDIR);
    ck_assert_int_eq(meta_setattr(m, 3333333, META_SET_UID, &a), -ENOENT);
    meta_close(m);
}
END_TEST

START_TEST(test_xattr)
{
    struct meta *m = volume("t_xattr");
    uint64_t f = mkfile(m, META_ROOT_INO, "f");
    const char val[] = "v\0al\xff";
    char buf[64];
    int64_t c0 = getattr(m, f).ctime_ns;
    ck_assert_int_eq(meta_setxattr(m, f, "user.a", val, sizeof val, 0), 0);
    ck_assert_int_gt(getattr(m, f).ctime_ns, c0);
    ck_assert_int_eq(meta_getxattr(m, f, "user.a", NULL, 0), (int)sizeof val);
    ck_assert_int_eq(meta_getxattr(m, f, "user.a", buf, sizeof buf), (int)sizeof val);
    ck_assert_int_eq(memcmp(buf, val, sizeof val), 0);
    ck_assert_int_eq(meta_getxattr(m, f, "user.a", buf, 2), -ERANGE);
    ck_assert_int_eq(meta_getxattr(m, f, "user.b", buf, sizeof buf), -ENODATA);
    ck_assert_int_eq(meta_setxattr(m, f, "user.empty", "", 0, 0), 0);
    ck_assert_int_eq(meta_getxattr(m, f, "user.empty", buf, sizeof buf), 0);

    ck_assert_int_eq(meta_setxattr(m, f, "user.a", "x", 1, XATTR_CREATE), -EEXIST);
    ck_assert_int_eq(meta_setxattr(m, f, "user.b", "x", 1, XATTR_REPLACE), -ENODATA);
    ck_assert_int_eq(meta_setxattr(m, f, "user.a", "new", 3, XATTR_REPLACE), 0);
    ck_assert_int_eq(meta_getxattr(m, f, "user.a", buf, sizeof buf), 3);
    ck_assert_int_eq(meta_setxattr(m, f, "user.b", "b", 1, XATTR_CREATE), 0);

    ck_assert_int_eq(meta_listxattr(m, f, NULL, 0), 7 + 7 + 11);
    ck_assert_int_eq(meta_listxattr(m, f, buf, sizeof buf), 25);
    ck_assert_int_eq(memcmp(buf, "user.a\0user.b\0user.empty\0", 25), 0);
    ck_assert_int_eq(meta_listxattr(m, f, buf, 10), -ERANGE);

    ck_assert_int_eq(meta_removexattr(m, f, "user.a"), 0);
    ck_assert_int_eq(meta_removexattr(m, f, "user.a"), -ENODATA);
    ck_assert_int_eq(meta_getxattr(m, f, "user.a", buf, sizeof buf), -ENODATA);
    ck_assert_int_eq(meta_listxattr(m, f, buf, sizeof buf), 18);

    ck_assert_int_eq(meta_setxattr(m, 6666666, "user.a", "x", 1, 0), -ENOENT);
    ck_assert_int_eq(meta_getxattr(m, 6666666, "user.a", buf, sizeof buf), -ENOENT);
    ck_assert_int_eq(meta_listxattr(m, 6666666, buf, sizeof buf), -ENOENT);
    ck_assert_int_eq(meta_removexattr(m, 6666666, "user.a"), -ENOENT);
    uint64_t g = mkfile(m, META_ROOT_INO, "g");
    ck_assert_int_eq(meta_listxattr(m, g, buf, sizeof buf), 0);
    /* Unlinking drops the attributes with the inode. */
    struct meta_attr rm;
    ck_assert_int_eq(meta_unlink(m, META_ROOT_INO, "f", 1, 0, 0, &rm), 0);
    PGconn *adm = admin(NULL);
    ck_assert_int_eq(admin_int(adm, "SELECT count(*) FROM t_xattr.xattr"), 0);
    PQfinish(adm);
    meta_close(m);
}
END_TEST

/* ------------------------------------------------ transactions, sessions */

static int txn_three(struct meta *m, void *arg)
{
    int fail = *(int *)arg;
    const char *names[3] = { "t1", "t2", "t3" };
    for (int i = 0; i < 3; i++) {
        struct meta_attr a;
        memset(&a, 0, sizeof a);
        a.mode = S_IFREG | 0644;
        int rc = meta_create(m, META_ROOT_INO, names[i], 2, &a, NULL, 1);
        if (rc)
            return rc;
        /* Reads inside see the transaction's own writes. */
        struct meta_attr b;
        if (meta_lookup(m, META_ROOT_INO, names[i], 2, &b) || b.ino != a.ino)
            return -EBADMSG;
        if (fail && i == 1)
            return -ECANCELED;
    }
    return 0;
}

static int txn_nested(struct meta *m, void *arg)
{
    return meta_txn(m, txn_three, arg);   /* flattens into the outer one */
}

START_TEST(test_txn)
{
    setenv("SHIMFS_META_CONNS", "1", 1);    /* nested calls must not need a second */
    struct meta *m = volume("t_txn");
    struct meta *other = volume_reopen("t_txn");
    int fail = 1;
    ck_assert_int_eq(meta_txn(m, txn_three, &fail), -ECANCELED);
    ck_assert_int_eq(lookup(other, META_ROOT_INO, "t1", NULL), -ENOENT);
    ck_assert_int_eq(lookup(m, META_ROOT_INO, "t2", NULL), -ENOENT);
    fail = 0;
    ck_assert_int_eq(meta_txn(m, txn_nested, &fail), 0);
    ck_assert_int_eq(lookup(other, META_ROOT_INO, "t1", NULL), 0);
    ck_assert_int_eq(lookup(other, META_ROOT_INO, "t3", NULL), 0);
    /* A failing change inside a batch: the batch sees the error. */
    ck_assert_int_eq(meta_txn(m, txn_three, &fail), -EEXIST);
    meta_close(other);
    meta_close(m);
    unsetenv("SHIMFS_META_CONNS");
}
END_TEST

struct deadlock {
    struct meta *m;
    uint64_t first, second;
    int runs, rc;
    pthread_barrier_t *bar;
};

static int deadlock_fn(struct meta *m, void *arg)
{
    struct deadlock *d = arg;
    struct meta_attr a;
    memset(&a, 0, sizeof a);
    a.uid = (uint32_t)d->first;
    d->runs++;
    int rc = meta_setattr(m, d->first, META_SET_UID, &a);
    if (rc)
        return rc;
    if (d->runs == 1)
        pthread_barrier_wait(d->bar);    /* both hold their first lock */
    return meta_setattr(m, d->second, META_SET_UID, &a);
}

static void *deadlock_thread(void *arg)
{
    struct deadlock *d = arg;
    d->rc = meta_txn(d->m, deadlock_fn, d);
    return NULL;
}

/* Two batches lock two inodes in opposite orders: PostgreSQL breaks the
 * deadlock, the loser's whole batch reruns and both succeed. */
START_TEST(test_txn_deadlock_rerun)
{
    struct meta *m1 = volume("t_deadlock");
    struct meta *m2 = volume_reopen("t_deadlock");
    uint64_t a = mkfile(m1, META_ROOT_INO, "a"), b = mkfile(m1, META_ROOT_INO, "b");
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    struct deadlock d1 = { m1, a, b, 0, -1, &bar }, d2 = { m2, b, a, 0, -1, &bar };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, deadlock_thread, &d1);
    pthread_create(&t2, NULL, deadlock_thread, &d2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&bar);
    ck_assert_int_eq(d1.rc, 0);
    ck_assert_int_eq(d2.rc, 0);
    /* At least the loser ran twice (more only if PostgreSQL aborted both). */
    ck_assert_int_ge(d1.runs + d2.runs, 3);
    ck_assert_int_le(d1.runs + d2.runs, 2 * META_TX_ATTEMPTS);
    /* The batch that ran last set both owners. */
    uint32_t ua = getattr(m1, a).uid, ub = getattr(m1, b).uid;
    ck_assert_uint_eq(ua, ub);
    meta_close(m2);
    meta_close(m1);
}
END_TEST

struct id_list { int n; uint64_t ids[16]; uint32_t sizes[16]; };

static int id_cb(void *arg, uint64_t id, uint32_t size)
{
    struct id_list *l = arg;
    ck_assert_int_lt(l->n, 16);
    l->ids[l->n] = id;
    l->sizes[l->n++] = size;
    return 0;
}

START_TEST(test_list_slices_stats_sessions)
{
    struct meta *m = volume("t_maint");
    uint64_t f = mkfile(m, META_ROOT_INO, "f"), g = mkfile(m, META_ROOT_INO, "g");
    mkdir_(m, META_ROOT_INO, "d");
    struct meta_attr l;
    memset(&l, 0, sizeof l);
    l.mode = S_IFLNK | 0777;
    ck_assert_int_eq(meta_create(m, META_ROOT_INO, "l", 1, &l, "f", 1), 0);
    put_slice(m, f, 0, 0, 9, 900);
    put_slice(m, f, 0, 0, 3, 300);
    put_slice(m, g, 0, 0, 3, 300);
    put_slice(m, g, 1, 0, 5, 500);
    struct meta_slice_rec hole = { 0, { 0, 0, 100, 0, 100 } };
    ck_assert_int_eq(meta_write(m, g, &hole, 1, 100, 0, 0, NULL), 0);
    struct id_list ids = { 0 };
    ck_assert_int_eq(meta_list_slices(m, id_cb, &ids), 0);
    ck_assert_int_eq(ids.n, 3);
    ck_assert_uint_eq(ids.ids[0], 3);
    ck_assert_uint_eq(ids.sizes[0], 300);
    ck_assert_uint_eq(ids.ids[1], 5);
    ck_assert_uint_eq(ids.ids[2], 9);

    struct meta_stats st;
    uint64_t s1, s2;
    ck_assert_int_eq(meta_session_open(m, "node-a", 123, &s1), 0);
    ck_assert_int_eq(meta_session_open(m, "node-b", 456, &s2), 0);
    ck_assert_uint_ne(s1, s2);
    ck_assert_int_eq(meta_stats(m, &st), 0);
    ck_assert_uint_eq(st.inodes, 5);
    ck_assert_uint_eq(st.files, 2);
    ck_assert_uint_eq(st.dirs, 2);
    ck_assert_uint_eq(st.symlinks, 1);
    ck_assert_uint_eq(st.bytes, 900 + LAYOUT_CHUNK_SIZE + 500);
    ck_assert_uint_eq(st.slices, 5);
    ck_assert_uint_eq(st.sessions, 2);
    ck_assert_int_eq(meta_session_close(m, s1), 0);
    ck_assert_int_eq(meta_session_close(m, s1), -ENOENT);
    ck_assert_int_eq(meta_stats(m, &st), 0);
    ck_assert_uint_eq(st.sessions, 1);

    /* Compaction: only if the list is exactly the one merged; old ids
     * become garbage. */
    struct layout_slice merged = { 0, 11, 900, 0, 900 };
    struct layout_slice was[2] = { { 0, 9, 900, 0, 900 }, { 0, 3, 300, 0, 300 } };
    struct layout_slice trimmed[2] = { { 0, 9, 900, 0, 900 }, { 0, 3, 300, 0, 299 } };
    ck_assert_int_eq(meta_compact(m, f, 0, was, 1, &merged, 1), -EAGAIN);
    ck_assert_int_eq(meta_compact(m, f, 0, trimmed, 2, &merged, 1), -EAGAIN);  /* same count */
    ck_assert_int_eq(meta_compact(m, f, 0, was, 2, &merged, 1), 0);
    struct chunks c = { 0 };
    ck_assert_int_eq(meta_read_chunks(m, f, 0, 1, chunks_cb, &c), 0);
    ck_assert_int_eq(c.n[0], 1);
    ck_assert_uint_eq(c.s[0][0].id, 11);
    ck_assert_int_eq(garbage_count("t_maint", 9), 1);
    ck_assert_int_eq(garbage_count("t_maint", 3), 0);  /* g still has it */
    ck_assert_int_eq(meta_compact(m, 4444444, 0, NULL, 0, &merged, 1), -ENOENT);
    meta_close(m);
}
END_TEST

/* ------------------------------------------------ connections and fork */

static int backend_pid(struct meta *m)
{
    for (int i = 0; i < m->nconns; i++)
        if (m->conns[i].pg)
            return PQbackendPID(m->conns[i].pg);
    return 0;
}

START_TEST(test_after_fork)
{
    setenv("SHIMFS_META_CONNS", "1", 1);
    struct meta *m = volume("t_fork");
    unsetenv("SHIMFS_META_CONNS");
    struct meta_attr a;
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), 0);
    int pid0 = backend_pid(m);
    ck_assert_int_gt(pid0, 0);
    pid_t child = fork();
    if (child == 0) {
        meta_after_fork(m);
        int ok = meta_getattr(m, META_ROOT_INO, &a) == 0 && backend_pid(m) != pid0;
        meta_close(m);
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    /* The parent's session was never told to terminate. */
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), 0);
    ck_assert_int_eq(backend_pid(m), pid0);
    meta_close(m);
}
END_TEST

START_TEST(test_reconnect)
{
    setenv("SHIMFS_META_CONNS", "1", 1);
    struct meta *m = volume("t_reconn");
    unsetenv("SHIMFS_META_CONNS");
    struct meta_attr a;
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), 0);
    int pid0 = backend_pid(m);
    PGconn *adm = admin(NULL);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)::int", pid0);
    ck_assert_int_eq(admin_int(adm, sql), 1);
    PQfinish(adm);
    usleep(100000);
    /* A read reconnects once, transparently. */
    ck_assert_int_eq(meta_getattr(m, META_ROOT_INO, &a), 0);
    ck_assert_int_ne(backend_pid(m), pid0);
    ck_assert_int_eq(meta_lookup(m, META_ROOT_INO, "x", 1, &a), -ENOENT);
    meta_close(m);
}
END_TEST

/* ------------------------------------------------------------- timings */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

START_TEST(test_timing)
{
    enum { RUNS = 1000 };
    struct meta *m = volume("t_timing");
    const char *names[8] = { "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8" };
    size_t lens[8];
    uint64_t cur = META_ROOT_INO;
    for (int i = 0; i < 8; i++) {
        lens[i] = 2;
        cur = i == 7 ? mkfile(m, cur, names[i]) : mkdir_(m, cur, names[i]);
    }
    static double t_get[RUNS], t_walk[RUNS], t_create[200];
    struct meta_attr a, steps[8];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        ck_assert_int_eq(meta_getattr(m, cur, &a), 0);
        double t1 = now_us();
        ck_assert_int_eq(meta_walk(m, META_ROOT_INO, names, lens, 8, steps), 8);
        double t2 = now_us();
        t_get[i] = t1 - t0;
        t_walk[i] = t2 - t1;
    }
    for (int i = 0; i < 200; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "c%d", i);
        double t0 = now_us();
        mkfile(m, META_ROOT_INO, nm);
        t_create[i] = now_us() - t0;
    }
    qsort(t_get, RUNS, sizeof(double), cmp_dbl);
    qsort(t_walk, RUNS, sizeof(double), cmp_dbl);
    qsort(t_create, 200, sizeof(double), cmp_dbl);
    printf("timing: meta_getattr median %.1f us (p90 %.1f), meta_walk of 8 components median "
           "%.1f us (p90 %.1f), meta_create median %.1f us\n", t_get[RUNS / 2],
           t_get[RUNS * 9 / 10], t_walk[RUNS / 2], t_walk[RUNS * 9 / 10], t_create[100]);
    /* Generous bounds: a round trip on loopback is tens of microseconds. */
    ck_assert_double_lt(t_get[RUNS / 2], 2000.0);
    ck_assert_double_lt(t_walk[RUNS / 2], 5000.0);
    meta_close(m);
}
END_TEST

/* open(O_CREAT) in one statement: creates a regular file, or answers with
 * whatever is at the name without changing it (no commit hook then). */
static int create_open_commits;
static void create_open_hook(void *arg) { (void)arg; create_open_commits++; }

START_TEST(test_create_open)
{
    struct meta *m = volume("t_create_open");
    uint64_t d = mkdir_(m, META_ROOT_INO, "d");
    uint64_t f = mkfile(m, d, "old");
    struct meta_attr a, b, d0 = getattr(m, d);
    meta_set_commit_hook(m, create_open_hook, NULL);
    int created = -1;
    memset(&a, 0, sizeof a);
    a.mode = S_IFREG | 0640;
    a.uid = 1234;
    a.gid = 5678;
    ck_assert_int_eq(meta_create_open(m, d, "new", 3, &a, META_CREATE_LAZY, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(create_open_commits, 1);
    ck_assert_uint_eq(a.mode, S_IFREG | 0640);
    ck_assert_uint_eq(a.uid, 1234);
    ck_assert_uint_eq(a.gid, 5678);
    ck_assert_uint_eq(a.nlink, 1);
    ck_assert_uint_eq(a.size, 0);
    ck_assert_uint_eq(a.parent, d);
    ck_assert_int_eq(lookup(m, d, "new", &b), 0);
    ck_assert_uint_eq(b.ino, a.ino);
    struct meta_attr d1 = getattr(m, d);
    ck_assert_int_eq(d1.mtime_ns, a.ctime_ns);           /* the folder's times moved */
    ck_assert_int_ge(d1.mtime_ns, d0.mtime_ns);
    ck_assert_uint_eq(d1.nlink, d0.nlink);
    /* an existing name: its inode, nothing written, whatever its type */
    memset(&a, 0, sizeof a);
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create_open(m, d, "old", 3, &a, 0, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_uint_eq(a.ino, f);
    ck_assert_uint_eq(a.mode, S_IFREG | 0644);           /* the existing file's */
    uint64_t sub = mkdir_(m, d, "sub");
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create_open(m, d, "sub", 3, &a, 0, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_uint_eq(a.ino, sub);
    ck_assert(S_ISDIR(a.mode));
    int commits = create_open_commits;
    struct meta_attr d2 = getattr(m, d);
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create_open(m, d, "old", 3, &a, 0, &created), 0);
    ck_assert_int_eq(create_open_commits, commits);      /* no commit hook */
    ck_assert_int_eq(getattr(m, d).mtime_ns, d2.mtime_ns);
    /* O_EXCL, missing and non-directory parents, bad names */
    a.mode = S_IFREG | 0600;
    ck_assert_int_eq(meta_create_open(m, d, "old", 3, &a, 1, &created), -EEXIST);
    ck_assert_int_eq(meta_create_open(m, d, "sub", 3, &a, 1, &created), -EEXIST);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(meta_create_open(m, 999999, "x", 1, &a, 0, &created), -ENOENT);
    ck_assert_int_eq(meta_create_open(m, f, "x", 1, &a, 0, &created), -ENOTDIR);
    char longname[300];
    memset(longname, 'n', sizeof longname);
    ck_assert_int_eq(meta_create_open(m, d, longname, 256, &a, 0, &created), -ENAMETOOLONG);
    ck_assert_int_eq(meta_create_open(m, d, "x", 0, &a, 0, &created), -ENOENT);
    ck_assert_int_eq(meta_create_open(m, d, "fresh", 5, &a, 1, &created), 0);
    ck_assert_int_eq(created, 1);
    meta_close(m);
}
END_TEST

static Suite *meta_suite(void)
{
    Suite *s = suite_create("meta_pg");
    struct {
        const char *name;
        const TTest *t;
        int timeout;
    } tests[] = {
        { "format", test_format_and_settings, 60 },
        { "unformatted", test_unformatted, 30 },
        { "schema_newer", test_schema_newer, 30 },
        { "unreachable", test_unreachable, 30 },
        { "wrong_password", test_wrong_password, 30 },
        { "bad_conninfo", test_bad_conninfo, 10 },
        { "create", test_create_lookup_getattr, 60 },
        { "create_open", test_create_open, 60 },
        { "readlink", test_readlink, 30 },
        { "walk", test_walk, 30 },
        { "readdir_small", test_readdir_small, 30 },
        { "readdir_100k", test_readdir_100k, 300 },
        { "write_read_chunks", test_write_read_chunks, 30 },
        { "write_sole", test_write_sole, 30 },
        { "write_attrs", test_write_attrs, 30 },
        { "append_placement", test_append_placement, 30 },
        { "next_ids", test_next_ids, 60 },
        { "unlink_rmdir", test_unlink_rmdir, 30 },
        { "unlink_guess", test_unlink_guess, 30 },
        { "rename_guess", test_rename_guess, 30 },
        { "orphans", test_orphans, 30 },
        { "rename_basic", test_rename_basic, 30 },
        { "rename_replace", test_rename_replace, 30 },
        { "rename_subtree_exchange", test_rename_subtree_exchange, 30 },
        { "rename_concurrent", test_rename_concurrent, 120 },
        { "setattr_truncate", test_setattr_truncate, 30 },
        { "xattr", test_xattr, 30 },
        { "txn", test_txn, 30 },
        { "txn_deadlock_rerun", test_txn_deadlock_rerun, 60 },
        { "maint", test_list_slices_stats_sessions, 30 },
        { "after_fork", test_after_fork, 30 },
        { "reconnect", test_reconnect, 30 },
        { "timing", test_timing, 120 },
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
    SRunner *sr = srunner_create(meta_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

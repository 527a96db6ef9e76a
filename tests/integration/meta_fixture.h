/* meta_fixture.h - what the metadata Check programs share: the test
 * database (SHIMFS_META, from scripts/services.sh), a conninfo string for a
 * schema of their own, an admin connection into it, a formatted volume in
 * a fresh schema, and the small create/lookup/write helpers every program
 * needs. Header-only (static inline, so a program uses what it wants):
 * each test program is one file. */
#ifndef SHIMFS_META_FIXTURE_H
#define SHIMFS_META_FIXTURE_H

#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "meta.h"

static inline const char *test_url(void)
{
    const char *u = getenv("SHIMFS_META");
    ck_assert_msg(u && *u, "SHIMFS_META is not set: start the services (scripts/services.sh start)");
    return u;
}

/* key='value' appended to a conninfo string, quoted as libpq wants. */
static inline void append_kv(char *buf, size_t cap, const char *k, const char *v)
{
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, cap - n, "%s%s='", n ? " " : "", k);
    for (; *v && n + 3 < cap; v++) {
        if (*v == '\'' || *v == '\\')
            buf[n++] = '\\';
        buf[n++] = *v;
    }
    snprintf(buf + n, cap - n, "'");
}

/* SHIMFS_META as a conninfo string, with a search_path (schema, if not
 * NULL) and optionally one keyword replaced (key = val: password, port,
 * host). */
static inline void conninfo_for(char *buf, size_t cap, const char *schema, const char *key,
                         const char *val)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(test_url(), &err);
    ck_assert_msg(opts != NULL, "SHIMFS_META does not parse");
    buf[0] = '\0';
    int replaced = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (key && !strcmp(o->keyword, key)) {
            append_kv(buf, cap, key, val);
            replaced = 1;
        } else if (o->val && *o->val && strcmp(o->keyword, "options")) {
            append_kv(buf, cap, o->keyword, o->val);
        }
    }
    if (key && !replaced)
        append_kv(buf, cap, key, val);
    if (schema) {
        char opt[200];
        snprintf(opt, sizeof opt, "-c search_path=%s", schema);
        append_kv(buf, cap, "options", opt);
    }
    PQconninfoFree(opts);
}

/* An admin connection, working in `schema` when it is not NULL. */
static inline PGconn *admin(const char *schema)
{
    PGconn *c = PQconnectdb(test_url());
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    if (schema) {
        char sql[128];
        snprintf(sql, sizeof sql, "SET search_path = %s", schema);
        PQclear(PQexec(c, sql));
    }
    return c;
}

/* A statement that must succeed (rows or none). */
static inline void admin_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    PQclear(r);
}

/* A query that must answer exactly one row: its first column. */
static inline long long admin_int(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
                  PQresultErrorMessage(r));
    long long v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static inline void sqlf(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void sqlf(PGconn *c, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    admin_exec(c, sql);
}

/* A statement that must succeed: the first column of its one row, or 0
 * when it answers no row or several (an UPDATE, say). */
static inline long long intf(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline long long intf(PGconn *c, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    long long v = st == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

/* The settings every fixture volume is formatted with. */
static inline struct meta_settings test_settings(void)
{
    struct meta_settings s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "testvol");
    snprintf(s.uuid, sizeof s.uuid, "6f1c2b7e-1111-4a2b-9c3d-000000000001");
    snprintf(s.bucket, sizeof s.bucket, "file:///tmp/shimfs-test-bucket");
    s.block_size = 4u << 20;
    s.compress_algo = 1;
    s.compress_level = 3;
    s.created_ns = 1700000000123456789LL;
    return s;
}

/* Another handle on the volume of `schema` (another process, say gc). */
static inline struct meta *volume_reopen(const char *schema)
{
    char ci[4096];
    conninfo_for(ci, sizeof ci, schema, NULL, NULL);
    struct meta *m;
    ck_assert_int_eq(meta_open(ci, &m), 0);
    return m;
}

/* A formatted volume in a fresh schema. */
static inline struct meta *volume(const char *schema)
{
    PGconn *adm = admin(NULL);
    sqlf(adm, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    PQfinish(adm);
    struct meta *m = volume_reopen(schema);
    struct meta_settings s = test_settings();
    ck_assert_int_eq(meta_format(m, &s, 0), 0);
    return m;
}

/* An entry of uid/gid 1000 (a symlink points at "target"): its inode. */
static inline uint64_t mk(struct meta *m, uint64_t parent, const char *name, uint32_t mode)
{
    struct meta_attr a;
    memset(&a, 0, sizeof a);
    a.mode = mode;
    a.uid = 1000;
    a.gid = 1000;
    int rc = meta_create(m, parent, name, strlen(name), &a, S_ISLNK(mode) ? "target" : NULL, 1);
    ck_assert_msg(rc == 0, "create %s: %d", name, rc);
    return a.ino;
}

static inline uint64_t mkfile(struct meta *m, uint64_t parent, const char *name)
{
    return mk(m, parent, name, S_IFREG | 0644);
}

static inline uint64_t mkdir_(struct meta *m, uint64_t parent, const char *name)
{
    return mk(m, parent, name, S_IFDIR | 0755);
}

static inline struct meta_attr getattr(struct meta *m, uint64_t ino)
{
    struct meta_attr a;
    int rc = meta_getattr(m, ino, &a);
    ck_assert_msg(rc == 0, "getattr %" PRIu64 ": %d", ino, rc);
    return a;
}

static inline int lookup(struct meta *m, uint64_t parent, const char *name, struct meta_attr *a)
{
    struct meta_attr tmp;
    return meta_lookup(m, parent, name, strlen(name), a ? a : &tmp);
}

/* Append one slice of `len` bytes at chunk position pos. */
static inline void put_slice(struct meta *m, uint64_t ino, uint64_t chunk, uint32_t pos,
                             uint64_t id, uint32_t len)
{
    struct meta_slice_rec r = { chunk, { pos, id, len, 0, len } };
    uint64_t end = chunk * LAYOUT_CHUNK_SIZE + pos + len;
    ck_assert_int_eq(meta_write(m, ino, &r, 1, end, 0, 0, NULL), 0);
}

/* This process's warnings go to a file the test reads back (read_log
 * empties it). */
static inline char *fixture_log_path(void)
{
    static char path[256];
    return path;
}

static inline void capture_log(void)
{
    char *path = fixture_log_path();
    snprintf(path, 256, "/tmp/test_meta.%d.log", (int)getpid());
    unlink(path);
    char spec[300];
    snprintf(spec, sizeof spec, "warn,file=%s", path);
    log_configure(spec);
}

static inline void read_log(char *buf, size_t cap)
{
    const char *path = fixture_log_path();
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
}

#endif

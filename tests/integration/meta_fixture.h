/* meta_fixture.h - what the metadata Check programs share: the test
 * database (SHIMFS_META, from scripts/services.sh), a conninfo string for a
 * schema of their own, and an admin connection into it. Header-only: each
 * test program is one file. */
#ifndef SHIMFS_META_FIXTURE_H
#define SHIMFS_META_FIXTURE_H

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif

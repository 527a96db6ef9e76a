/* meta_format.c - a volume's life: formatting, its settings, its schema
 * version, its statistics.
 *
 * Promises: meta_format applies every embedded schema step, the root
 * directory and the settings in one transaction (all or nothing); it
 * refuses an existing volume unless forced, and then drops it first.
 * A client refuses a schema newer than it knows (-EPROTO) and a database
 * without a volume (-ENODEV), each with one log line saying what to do.
 * It reads (and writes without a session) an older one; meta_upgrade
 * brings it up to date in one transaction, under an advisory lock.
 */
#include "meta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "meta_schema.h"

static int meta_version_verdict(struct meta *m, int found, int64_t v)
{
    if (!found || v <= 0) {
        log_error(META_LOG, "%s: volume not formatted: run shimfs format", m->describe);
        return -ENODEV;
    }
    if (v > META_SCHEMA_VERSION) {
        log_error(META_LOG, "%s: schema version %" PRId64 " is newer than this client (%d); "
                  "upgrade shimfs", m->describe, v, META_SCHEMA_VERSION);
        return -EPROTO;
    }
    __atomic_store_n(&m->version, (int)v, __ATOMIC_RELEASE);
    __atomic_store_n(&m->checked, 1, __ATOMIC_RELEASE);
    return 0;
}

int meta_check_version(struct meta_conn *c)
{
    PGresult *r;
    int rc = meta_run1(c, MS_VERSION, NULL, &r);
    if (rc < 0)
        return rc;
    rc = meta_version_verdict(c->m, PQntuples(r) == 1 && !meta_r_isnull(r, 0, 0),
                              meta_r_int(r, 0, 0));
    PQclear(r);
    return rc;
}

/* A random RFC 4122 version 4 uuid, for a caller that gave none. */
static int meta_make_uuid(char *out, size_t cap)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b)
        return -EIO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}

/* The settings rows, as text, with their keys; one table for both ways. */
enum meta_kind { MK_STR, MK_U32, MK_I32, MK_I64 };
struct meta_setting_field {
    const char *key;
    int kind;
    size_t off, size;
};
#define MSF(key, kind, field) { key, kind, offsetof(struct meta_settings, field), \
                                sizeof(((struct meta_settings *)0)->field) }
static const struct meta_setting_field meta_setting_fields[] = {
    MSF("name", MK_STR, name),
    MSF("uuid", MK_STR, uuid),
    MSF("bucket", MK_STR, bucket),
    MSF("block_size", MK_U32, block_size),
    MSF("compress_algo", MK_I32, compress_algo),
    MSF("compress_level", MK_I32, compress_level),
    MSF("created_ns", MK_I64, created_ns),
    MSF("schema_version", MK_I32, schema_version),
};
#define META_NSETTINGS ((int)(sizeof meta_setting_fields / sizeof meta_setting_fields[0]))

static void meta_setting_format(const struct meta_settings *s, const struct meta_setting_field *f,
                                char *buf, size_t cap)
{
    const char *p = (const char *)s + f->off;
    if (f->kind == MK_STR) {
        snprintf(buf, cap, "%.*s", (int)strnlen(p, f->size), p);
        return;
    }
    int64_t v = 0;
    uint32_t u32;
    int32_t i32;
    switch (f->kind) {
    case MK_U32: memcpy(&u32, p, 4); v = u32; break;
    case MK_I32: memcpy(&i32, p, 4); v = i32; break;
    default: memcpy(&v, p, 8); break;
    }
    snprintf(buf, cap, "%" PRId64, v);
}

static void meta_setting_parse(struct meta_settings *s, const char *key, const char *val, size_t vlen)
{
    for (int i = 0; i < META_NSETTINGS; i++) {
        const struct meta_setting_field *f = &meta_setting_fields[i];
        if (strcmp(f->key, key) != 0)
            continue;
        char *p = (char *)s + f->off;
        if (f->kind == MK_STR) {
            size_t n = vlen < f->size - 1 ? vlen : f->size - 1;
            memcpy(p, val, n);
            p[n] = '\0';
        } else {
            char tmp[32];
            size_t n = vlen < sizeof tmp - 1 ? vlen : sizeof tmp - 1;
            memcpy(tmp, val, n);
            tmp[n] = '\0';
            int64_t v = strtoll(tmp, NULL, 10);
            uint32_t u32 = (uint32_t)v;
            int32_t i32 = (int32_t)v;
            switch (f->kind) {
            case MK_U32: memcpy(p, &u32, 4); break;
            case MK_I32: memcpy(p, &i32, 4); break;
            default: memcpy(p, &v, 8); break;
            }
        }
        return;
    }
}

/* Inside the open transaction: root directory and settings, one batch. */
static int meta_format_rows(struct meta_conn *c, const struct meta_settings *s)
{
    char vals[META_NSETTINGS][1100];
    struct meta_params p[META_NSETTINGS + 1];
    struct meta_q q[META_NSETTINGS + 1];
    meta_p_init(&p[0]);
    meta_p_int(&p[0], META_S_IFDIR | 0755);
    meta_p_int(&p[0], geteuid());
    meta_p_int(&p[0], getegid());
    meta_p_int(&p[0], meta_now_ns());
    q[0] = (struct meta_q){ .stmt = MS_ROOT, .p = &p[0] };
    int n = 1;
    for (int i = 0; i < META_NSETTINGS; i++, n++) {
        meta_setting_format(s, &meta_setting_fields[i], vals[i], sizeof vals[i]);
        meta_p_init(&p[n]);
        meta_p_text(&p[n], meta_setting_fields[i].key);
        meta_p_text(&p[n], vals[i]);
        q[n] = (struct meta_q){ .stmt = MS_SETTING_PUT, .p = &p[n] };
    }
    int rc = meta_run(c, q, n, 0);
    meta_q_clear(q, n);
    return rc;
}

static int meta_format_tx(struct meta_conn *c, const struct meta_settings *s, int force)
{
    int rc = meta_exec_simple(c, "BEGIN", "BEGIN");
    if (rc < 0)
        return rc;
    c->in_block = 1;
    PGresult *r;
    rc = meta_run1(c, MS_EXISTS, NULL, &r);
    if (rc < 0)
        return rc;
    int exists = (int)meta_r_int(r, 0, 0);
    PQclear(r);
    if (exists && !force)
        return -EEXIST;
    if (exists && (rc = meta_exec_simple(c, meta_schema_drop, "dropping the volume")) < 0)
        return rc;
    for (int i = 0; i < meta_schema_nsteps && rc == 0; i++)
        rc = meta_exec_simple(c, meta_schema_steps[i].sql, meta_schema_steps[i].name);
    if (rc == 0)
        rc = meta_format_rows(c, s);
    if (rc == 0)
        rc = meta_end(c, 1);
    return rc;
}

int meta_format(struct meta *m, const struct meta_settings *in, int force)
{
    struct meta_settings s = *in;
    s.schema_version = META_SCHEMA_VERSION;
    if (!s.created_ns)
        s.created_ns = meta_now_ns();
    if (!s.uuid[0] && meta_make_uuid(s.uuid, sizeof s.uuid) < 0)
        return -EIO;
    if (meta_conn_owned(m))
        return -EBUSY;          /* DDL has no place inside a caller's batch */
    struct meta_conn *c;
    int rc = meta_conn_get_raw(m, &c);
    if (rc < 0)
        return rc;
    rc = meta_format_tx(c, &s, force);
    if (c->in_block && meta_end(c, 0) < 0)
        meta_conn_drop(c);
    if (rc == 0) {
        __atomic_store_n(&m->version, META_SCHEMA_VERSION, __ATOMIC_RELEASE);
        __atomic_store_n(&m->checked, 1, __ATOMIC_RELEASE);
        log_info(META_LOG, "%s: formatted volume %s (schema version %d)", m->describe,
                 s.uuid, META_SCHEMA_VERSION);
    }
    meta_conn_put(c);
    return rc;
}

/* Inside BEGIN: wait for the upgrade lock, read the version behind it and
 * apply the steps above it. *from: the version found. */
static int meta_upgrade_tx(struct meta_conn *c, int *from)
{
    int rc = meta_exec_simple(c, "BEGIN", "BEGIN");
    if (rc < 0)
        return rc;
    c->in_block = 1;
    struct meta_q q[2] = { { .stmt = MS_UPGRADE_LOCK }, { .stmt = MS_VERSION } };
    if ((rc = meta_run(c, q, 2, 0)) < 0)
        return rc;
    *from = (int)meta_r_int(q[1].res, 0, 0);
    meta_q_clear(q, 2);
    if ((rc = meta_version_verdict(c->m, *from > 0, *from)) < 0)
        return rc;
    for (int i = 0; i < meta_schema_nsteps && rc == 0; i++)
        if (meta_schema_steps[i].version > *from)
            rc = meta_exec_simple(c, meta_schema_steps[i].sql, meta_schema_steps[i].name);
    return rc == 0 ? meta_end(c, 1) : rc;
}

int meta_upgrade(struct meta *m)
{
    if (__atomic_load_n(&m->checked, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&m->version, __ATOMIC_ACQUIRE) == META_SCHEMA_VERSION)
        return META_SCHEMA_VERSION;
    if (meta_conn_owned(m))
        return -EBUSY;          /* DDL has no place inside a caller's batch */
    struct meta_conn *c;
    int rc = meta_conn_get_raw(m, &c), from = 0;
    if (rc < 0)
        return rc;
    rc = meta_upgrade_tx(c, &from);
    if (c->in_block && meta_end(c, 0) < 0)
        meta_conn_drop(c);
    meta_conn_put(c);
    if (rc < 0)
        return rc;
    __atomic_store_n(&m->version, META_SCHEMA_VERSION, __ATOMIC_RELEASE);
    if (from < META_SCHEMA_VERSION)
        log_info(META_LOG, "%s: upgraded the volume's schema from version %d to %d", m->describe,
                 from, META_SCHEMA_VERSION);
    return from;
}

int meta_load_settings(struct meta *m, struct meta_settings *s)
{
    PGresult *r;
    int rc = meta_read_raw(m, MS_SETTINGS, NULL, &r);
    if (rc < 0)
        return rc;
    memset(s, 0, sizeof *s);
    int have_version = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (meta_r_isnull(r, i, 1))
            continue;
        size_t klen, vlen;
        const char *k = meta_r_bytes(r, i, 0, &klen);
        const char *v = meta_r_bytes(r, i, 1, &vlen);
        have_version |= !strcmp(k, "schema_version");
        meta_setting_parse(s, k, v, vlen);
    }
    PQclear(r);
    return meta_version_verdict(m, have_version, s->schema_version);
}

int meta_stats(struct meta *m, struct meta_stats *st)
{
    PGresult *r;
    int rc = meta_read(m, MS_STATS, NULL, &r);
    if (rc < 0)
        return rc;
    st->inodes = (uint64_t)meta_r_int(r, 0, 0);
    st->files = (uint64_t)meta_r_int(r, 0, 1);
    st->dirs = (uint64_t)meta_r_int(r, 0, 2);
    st->symlinks = (uint64_t)meta_r_int(r, 0, 3);
    st->bytes = (uint64_t)meta_r_int(r, 0, 4);
    st->slices = (uint64_t)meta_r_int(r, 0, 5);
    st->sessions = (uint64_t)meta_r_int(r, 0, 6);
    PQclear(r);
    return 0;
}

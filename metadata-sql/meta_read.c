/* meta_read.c - the lookups that answer stat, open and path resolution:
 * getattr, lookup, the one-round-trip walk, readlink and slice lists.
 *
 * Promises: each is one statement and one round trip (reconnecting once
 * if the connection had broken); callbacks run after the connection went
 * back to the pool, so they may call meta_* themselves.
 */
#include "meta_int.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BYTEA_OID 17

int meta_getattr(struct meta *m, uint64_t ino, struct meta_attr *a)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    PGresult *r;
    int rc = meta_read(m, MS_GETATTR, &p, &r);
    if (rc < 0)
        return rc;
    rc = PQntuples(r) == 1 ? 0 : -ENOENT;
    if (rc == 0)
        meta_r_attr(r, 0, 0, a);
    PQclear(r);
    return rc;
}

int meta_lookup(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                struct meta_attr *a)
{
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)parent);
    meta_p_bytes(&p, name, nlen);
    PGresult *r;
    rc = meta_read(m, MS_LOOKUP, &p, &r);
    if (rc < 0)
        return rc;
    rc = PQntuples(r) == 1 ? 0 : -ENOENT;
    if (rc == 0)
        meta_r_attr(r, 0, 0, a);
    PQclear(r);
    return rc;
}

static void meta_put32(unsigned char **w, uint32_t v)
{
    v = htobe32(v);
    memcpy(*w, &v, 4);
    *w += 4;
}

/* A bytea[] in PostgreSQL's binary array format: ndim, has-nulls, element
 * type, then (length, lower bound) per dimension, then (length, bytes) per
 * element. Names go in raw, never escaped. */
static unsigned char *meta_bytea_array(const char *const *names, const size_t *lens, int n,
                                       size_t *out_len)
{
    size_t total = 20;
    for (int i = 0; i < n; i++)
        total += 4 + lens[i];
    unsigned char *buf = malloc(total), *w = buf;
    if (!buf)
        return NULL;
    meta_put32(&w, 1);
    meta_put32(&w, 0);
    meta_put32(&w, BYTEA_OID);
    meta_put32(&w, (uint32_t)n);
    meta_put32(&w, 1);
    for (int i = 0; i < n; i++) {
        meta_put32(&w, (uint32_t)lens[i]);
        memcpy(w, names[i], lens[i]);
        w += lens[i];
    }
    *out_len = total;
    return buf;
}

int meta_walk(struct meta *m, uint64_t start, const char *const *names,
              const size_t *lens, int n, struct meta_attr *steps)
{
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++) {
        int rc = meta_check_name(names[i], lens[i]);
        if (rc < 0)
            return rc;
    }
    size_t alen;
    unsigned char *arr = meta_bytea_array(names, lens, n, &alen);
    if (!arr)
        return -ENOMEM;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)start);
    meta_p_bytes(&p, arr, alen);
    PGresult *r;
    int rc = meta_read(m, MS_WALK, &p, &r);
    free(arr);
    if (rc < 0)
        return rc;
    int k = PQntuples(r);
    if (k > n)
        k = n;
    for (int i = 0; i < k; i++)
        meta_r_attr(r, i, 0, &steps[i]);
    PQclear(r);
    return k;
}

int meta_readlink(struct meta *m, uint64_t ino, char *buf, size_t cap)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    PGresult *r;
    int rc = meta_read(m, MS_READLINK, &p, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        rc = -ENOENT;
    } else if ((meta_r_int(r, 0, 0) & META_S_IFMT) != META_S_IFLNK || meta_r_isnull(r, 0, 1)) {
        rc = -EINVAL;
    } else {
        size_t len;
        const char *t = meta_r_bytes(r, 0, 1, &len);
        if (len > cap)
            len = cap;       /* readlink(2) truncates silently */
        memcpy(buf, t, len);
        rc = (int)len;
    }
    PQclear(r);
    return rc;
}

/* Calls cb for rows [from, to) of r, which all belong to one chunk. */
static int meta_chunk_deliver(const PGresult *r, int from, int to, struct layout_slice *s,
                              meta_chunk_cb cb, void *arg)
{
    for (int i = from; i < to; i++) {
        s[i - from] = (struct layout_slice){
            .pos = (uint32_t)meta_r_int(r, i, 1),
            .id = (uint64_t)meta_r_int(r, i, 2),
            .size = (uint32_t)meta_r_int(r, i, 3),
            .off = (uint32_t)meta_r_int(r, i, 4),
            .len = (uint32_t)meta_r_int(r, i, 5),
        };
    }
    return cb(arg, (uint64_t)meta_r_int(r, from, 0), s, to - from);
}

int meta_read_chunks(struct meta *m, uint64_t ino, uint64_t first, uint64_t count,
                     meta_chunk_cb cb, void *arg)
{
    struct meta_attr any = { .ino = ino };
    return meta_read_version_chunks(m, &any, META_VERSION_ANY, first, count, cb, arg);
}

int meta_read_version_chunks(struct meta *m, struct meta_attr *version, int check,
                             uint64_t first, uint64_t count, meta_chunk_cb cb, void *arg)
{
    uint64_t ino = version->ino;
    uint64_t end = first + count;
    if (end < first || end > (uint64_t)INT64_MAX)
        end = (uint64_t)INT64_MAX;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_int(&p, (int64_t)first);
    meta_p_int(&p, (int64_t)end);
    PGresult *r;
    int rc = meta_read(m, MS_CHUNKS, &p, &r);
    if (rc < 0)
        return rc;
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return -ENOENT;
    }
    if (check == META_VERSION_CHECK && ((uint64_t)meta_r_int(r, 0, 6) != version->size ||
                                        meta_r_int(r, 0, 7) != version->mtime_ns ||
                                        meta_r_int(r, 0, 8) != version->ctime_ns)) {
        PQclear(r);
        return -ESTALE;
    }
    if (check == META_VERSION_ADOPT) {
        version->size = (uint64_t)meta_r_int(r, 0, 6);
        version->mtime_ns = meta_r_int(r, 0, 7);
        version->ctime_ns = meta_r_int(r, 0, 8);
    }
    if (meta_r_isnull(r, 0, 0))
        n = 0;    /* the inode has no slice in the range */
    struct layout_slice *s = n ? malloc((size_t)n * sizeof *s) : NULL;
    if (n && !s) {
        PQclear(r);
        return -ENOMEM;
    }
    for (int i = 0, j; i < n && rc == 0; i = j) {
        int64_t chunk = meta_r_int(r, i, 0);
        for (j = i + 1; j < n && meta_r_int(r, j, 0) == chunk; j++)
            ;
        rc = meta_chunk_deliver(r, i, j, s, cb, arg);
    }
    free(s);
    PQclear(r);
    return rc < 0 ? rc : 0;     /* > 0: the callback asked to stop */
}

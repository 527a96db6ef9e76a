/* meta_xattr.c - extended attributes: names and values are raw bytes.
 *
 * Promises: the answers of getxattr(2) and friends: -ENODATA for a missing
 * attribute, -ERANGE when the buffer is too small (cap 0 asks for the
 * size), -EEXIST / -ENODATA for XATTR_CREATE / XATTR_REPLACE, -ENOENT for
 * a missing inode. A change is one statement that locks the inode and
 * touches its ctime only when something changed.
 */
#include "meta_int.h"

#include <errno.h>
#include <linux/limits.h>
#include <string.h>
#include <sys/xattr.h>

static int meta_xattr_name(const char *name, size_t *len)
{
    if (!name || !*name)
        return -EINVAL;
    *len = strlen(name);
    return *len > XATTR_NAME_MAX ? -ERANGE : 0;
}

int meta_getxattr(struct meta *m, uint64_t ino, const char *name, void *buf, size_t cap)
{
    size_t nlen;
    int rc = meta_xattr_name(name, &nlen);
    if (rc < 0)
        return rc;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_bytes(&p, name, nlen);
    PGresult *r;
    rc = meta_read(m, MS_GETXATTR, &p, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        rc = -ENOENT;
    } else if (meta_r_isnull(r, 0, 0)) {
        rc = -ENODATA;
    } else {
        size_t len;
        const char *v = meta_r_bytes(r, 0, 0, &len);
        if (cap && len > cap)
            rc = -ERANGE;
        else if (cap)
            memcpy(buf, v, len);
        if (rc == 0)
            rc = (int)len;
    }
    PQclear(r);
    return rc;
}

int meta_listxattr(struct meta *m, uint64_t ino, char *buf, size_t cap)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    PGresult *r;
    int rc = meta_read(m, MS_LISTXATTR, &p, &r);
    if (rc < 0)
        return rc;
    size_t total = 0;
    if (PQntuples(r) == 0)
        rc = -ENOENT;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        if (meta_r_isnull(r, i, 0))
            continue;
        size_t len;
        const char *nm = meta_r_bytes(r, i, 0, &len);
        if (cap && total + len + 1 > cap) {
            rc = -ERANGE;
            break;
        }
        if (cap) {
            memcpy(buf + total, nm, len);
            buf[total + len] = '\0';
        }
        total += len + 1;
    }
    PQclear(r);
    return rc < 0 ? rc : (int)total;
}

/* Runs one of the xattr change statements; (inode found, row changed). */
static int meta_xattr_change(struct meta *m, int stmt, struct meta_params *p, int missing_err)
{
    PGresult *r;
    int rc = meta_change1(m, stmt, p, &r);
    if (rc < 0)
        return rc;
    meta_notify_commit(m); /* whether the volume has xattrs is shared on the node */
    if (meta_r_int(r, 0, 0) == 0)
        rc = -ENOENT;
    else if (meta_r_int(r, 0, 1) == 0)
        rc = missing_err;
    PQclear(r);
    return rc;
}

int meta_setxattr(struct meta *m, uint64_t ino, const char *name, const void *val,
                  size_t len, int flags)
{
    size_t nlen;
    int rc = meta_xattr_name(name, &nlen);
    if (rc < 0)
        return rc;
    if (len > XATTR_SIZE_MAX)
        return -E2BIG;
    if (flags & ~(XATTR_CREATE | XATTR_REPLACE) || flags == (XATTR_CREATE | XATTR_REPLACE))
        return -EINVAL;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_bytes(&p, name, nlen);
    meta_p_bytes(&p, val, len);
    meta_p_int(&p, meta_now_ns());
    if (flags & XATTR_CREATE)
        return meta_xattr_change(m, MS_XATTR_CREATE, &p, -EEXIST);
    if (flags & XATTR_REPLACE)
        return meta_xattr_change(m, MS_XATTR_REPLACE, &p, -ENODATA);
    return meta_xattr_change(m, MS_XATTR_SET, &p, -EIO);
}

int meta_removexattr(struct meta *m, uint64_t ino, const char *name)
{
    size_t nlen;
    int rc = meta_xattr_name(name, &nlen);
    if (rc < 0)
        return rc;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_bytes(&p, name, nlen);
    meta_p_int(&p, meta_now_ns());
    return meta_xattr_change(m, MS_XATTR_REMOVE, &p, -ENODATA);
}

int meta_xattr_any(struct meta *m)
{
    struct meta_params p;
    meta_p_init(&p);
    PGresult *r;
    int rc = meta_read(m, MS_XATTR_ANY, &p, &r);
    if (rc < 0)
        return rc;
    /* binary results: a bool is one byte */
    rc = PQntuples(r) == 1 && !meta_r_isnull(r, 0, 0) && PQgetvalue(r, 0, 0)[0] == 1;
    PQclear(r);
    return rc;
}

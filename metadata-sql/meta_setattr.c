/* meta_setattr.c - chmod, chown, utimens and truncate on one inode.
 *
 * Promises: only the fields asked for change (the file type bits never);
 * ctime becomes now on every change; a size change also sets mtime (unless
 * given). Shrinking drops the slice records wholly beyond the new size
 * (recording ids nothing else uses as garbage) and trims the one that
 * straddles it, so growing the file again reads zeros, never old bytes.
 * One transaction, two round trips.
 */
#include "meta_int.h"

#include <errno.h>

struct meta_setattr_args {
    uint64_t ino;
    unsigned fields;
    struct meta_attr in;
    struct meta_attr *out;
};

static int meta_setattr_apply(const struct meta_setattr_args *sa, const struct meta_attr *old,
                              struct meta_attr *new, int64_t now)
{
    unsigned f = sa->fields;
    *new = *old;
    if (f & META_SET_MODE)
        new->mode = (old->mode & META_S_IFMT) | (sa->in.mode & 07777);
    if (f & META_SET_UID)
        new->uid = sa->in.uid;
    if (f & META_SET_GID)
        new->gid = sa->in.gid;
    if (f & META_SET_SIZE) {
        if (meta_is_dir(old->mode))
            return -EISDIR;
        if ((old->mode & META_S_IFMT) != META_S_IFREG)
            return -EINVAL;
        if (sa->in.size > (uint64_t)INT64_MAX)
            return -EFBIG;
        new->size = sa->in.size;
        new->mtime_ns = now;
    }
    if (f & META_SET_ATIME)
        new->atime_ns = sa->in.atime_ns;
    if (f & META_SET_MTIME)
        new->mtime_ns = sa->in.mtime_ns;
    if (f)
        new->ctime_ns = now;
    return 0;
}

/* Statements that cut the slice lists of ino at `size`. */
static int meta_trunc_queries(struct meta_q *q, struct meta_params *p, uint64_t ino,
                              uint64_t size, int64_t now)
{
    int64_t chunk = (int64_t)layout_chunk_index(size);
    int64_t pos = layout_chunk_offset(size);
    meta_p_init(&p[0]);
    meta_p_int(&p[0], (int64_t)ino);
    meta_p_int(&p[0], chunk);
    meta_p_int(&p[0], pos);
    meta_p_int(&p[0], now);
    meta_p_init(&p[1]);
    meta_p_int(&p[1], (int64_t)ino);
    meta_p_int(&p[1], chunk);
    meta_p_int(&p[1], pos);
    q[0] = (struct meta_q){ .stmt = MS_TRUNC_DROP, .p = &p[0] };
    q[1] = (struct meta_q){ .stmt = MS_TRUNC_TRIM, .p = &p[1] };
    return 2;
}

static int meta_setattr_body(struct meta_conn *c, void *arg)
{
    struct meta_setattr_args *sa = arg;
    struct meta_lockset ls;
    int rc = meta_lock(c, &sa->ino, 1, NULL, 0, &ls);
    if (rc < 0)
        return rc;
    struct meta_attr *old = meta_lock_find(&ls, sa->ino), new;
    if (!old)
        return -ENOENT;
    int64_t now = meta_now_ns();
    if ((rc = meta_setattr_apply(sa, old, &new, now)) < 0)
        return rc;
    struct meta_params p[3];
    struct meta_q q[3];
    int n = 0;
    if (new.size < old->size)
        n = meta_trunc_queries(q, p, sa->ino, new.size, now);
    meta_p_init(&p[n]);
    meta_p_int(&p[n], (int64_t)sa->ino);
    meta_p_int(&p[n], new.mode);
    meta_p_int(&p[n], new.uid);
    meta_p_int(&p[n], new.gid);
    meta_p_int(&p[n], (int64_t)new.size);
    meta_p_int(&p[n], new.atime_ns);
    meta_p_int(&p[n], new.mtime_ns);
    meta_p_int(&p[n], new.ctime_ns);
    q[n] = (struct meta_q){ .stmt = MS_SETATTR, .p = &p[n] };
    rc = meta_run(c, q, n + 1, 1);
    if (rc == 0)
        meta_r_attr(q[n].res, 0, 0, sa->out);
    meta_q_clear(q, n + 1);
    return rc;
}

int meta_setattr(struct meta *m, uint64_t ino, unsigned fields, struct meta_attr *a)
{
    if (fields & ~(unsigned)(META_SET_MODE | META_SET_UID | META_SET_GID | META_SET_SIZE |
                             META_SET_ATIME | META_SET_MTIME | META_SET_CTIME_NOW))
        return -EINVAL;
    struct meta_setattr_args sa = { ino, fields, *a, a };
    return meta_tx(m, meta_setattr_body, &sa);
}

/* meta_setattr.c - chmod, chown, utimens and truncate on one inode.
 *
 * Promises: only the fields asked for change (the file type bits never);
 * ctime becomes now on every change; a size change also sets mtime (unless
 * given). Shrinking drops the slice records wholly beyond the new size
 * (recording ids nothing else uses as garbage) and trims the one that
 * straddles it, so growing the file again reads zeros, never old bytes.
 * A size change is one transaction of two round trips (lock and check;
 * cut and set); chmod, chown and utimens are one statement of one
 * (MS_SETATTR_SOME: it needs no old value, so no lock step: tar and cp -p
 * set three of them on every file they write), lazy when asked.
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

void meta_setattr_some_params(struct meta_params *p, uint64_t ino, unsigned fields,
                              const struct meta_attr *a, int mode_was, int64_t if_ctime,
                              int64_t now)
{
    meta_p_init(p);
    meta_p_int(p, (int64_t)ino);
    meta_p_int_if(p, fields & META_SET_MODE, a->mode & 07777);
    meta_p_int_if(p, fields & META_SET_UID, a->uid);
    meta_p_int_if(p, fields & META_SET_GID, a->gid);
    meta_p_int_if(p, fields & META_SET_ATIME, a->atime_ns);
    meta_p_int_if(p, fields & META_SET_MTIME, a->mtime_ns);
    meta_p_int(p, now);
    meta_p_int_if(p, mode_was >= 0, mode_was & 07777);
    meta_p_int_if(p, if_ctime != 0, if_ctime);
}

/* One round trip, an implicit transaction: MS_SETATTR_SOME, after the
 * setting of a lazy commit. */
static int meta_setattr_some_body(struct meta_conn *c, void *arg)
{
    struct meta_setattr_args *sa = arg;
    struct meta_params p;
    meta_setattr_some_params(&p, sa->ino, sa->fields, &sa->in, -1, 0, meta_now_ns());
    int lazy = (sa->fields & META_SET_LAZY) != 0;
    struct meta_q q[2] = { { .stmt = MS_ASYNC_COMMIT }, { .stmt = MS_SETATTR_SOME, .p = &p } };
    int rc = meta_run(c, q + !lazy, 1 + lazy, 1);
    if (rc == 0 && PQntuples(q[1].res) == 1)
        meta_r_attr(q[1].res, 0, 0, sa->out);
    else if (rc == 0)
        rc = -ENOENT;
    meta_q_clear(q + !lazy, 1 + lazy);
    return rc;
}

int meta_setattr(struct meta *m, uint64_t ino, unsigned fields, struct meta_attr *a)
{
    if (fields &
            ~(unsigned)(META_SET_MODE | META_SET_UID | META_SET_GID | META_SET_SIZE |
                        META_SET_ATIME | META_SET_MTIME | META_SET_CTIME_NOW | META_SET_LAZY) ||
        (fields & (META_SET_SIZE | META_SET_LAZY)) == (META_SET_SIZE | META_SET_LAZY))
        return -EINVAL;
    if (meta_conn_owned(m))
        fields &= ~(unsigned)META_SET_LAZY; /* inside meta_txn: its commit decides */
    struct meta_setattr_args sa = { ino, fields, *a, a };
    if ((fields & META_SET_SIZE) || (fields & ~(unsigned)META_SET_LAZY) == 0)
        return meta_tx(m, meta_setattr_body, &sa);
    uint64_t mark = meta_lazy_mark(m);
    int rc = meta_tx(m, meta_setattr_some_body, &sa);
    /* the row changed (WAL): a synchronous commit flushed every lazy one
     * acknowledged before it began */
    if (rc == 0 && (fields & META_SET_LAZY))
        meta_lazy_note(m);
    else if (rc == 0 && !meta_conn_owned(m))
        meta_lazy_covered(m, mark);
    return rc;
}

/* meta_create.c - new names: create (files, directories, symlinks, device
 * nodes), hard links, and the id counters they draw from.
 *
 * Promises: each change is one transaction of two round trips (lock and
 * check; insert and commit), except open(O_CREAT)'s create-or-open
 * (meta_create_open), one statement of one round trip; the parent's nlink
 * (for a new directory), mtime and ctime change with it. Ids from meta_next_ids are never handed
 * out twice, even when the caller's transaction rolls back.
 */
#include "meta_int.h"

#include <errno.h>
#include <string.h>

int meta_next_ids(struct meta *m, int kind, uint32_t count, uint64_t *first)
{
    if ((kind != META_ID_INODE && kind != META_ID_SLICE) || count == 0)
        return -EINVAL;
    uint64_t sid = kind == META_ID_SLICE ? meta_session_id(m) : 0;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, sid ? (int64_t)sid : kind);
    meta_p_int(&p, count);
    PGresult *r;
    /* Not idempotent, but a rerun after a lost connection only wastes ids
     * (and leaves one more reservation row, gone with the session). */
    int rc = meta_read(m, sid ? MS_RESERVE : MS_NEXT_IDS, &p, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 1)
        *first = (uint64_t)meta_r_int(r, 0, 0);
    else
        rc = -ESTALE;           /* the session was reaped */
    PQclear(r);
    return rc;
}

/* The parent must be a live directory. */
static int meta_parent_ok(const struct meta_attr *p)
{
    if (!p || p->nlink == 0)
        return -ENOENT;
    return meta_is_dir(p->mode) ? 0 : -ENOTDIR;
}

struct meta_create_args {
    uint64_t parent;
    const char *name;
    size_t nlen;
    struct meta_attr in;       /* as the caller gave it: reruns start over */
    struct meta_attr *out;
    const char *target;
    int excl;
    int lazy; /* META_CREATE_LAZY */
};

static void meta_create_params(struct meta_params *p, const struct meta_create_args *ca,
                               int64_t now)
{
    const struct meta_attr *a = &ca->in;
    int dir = meta_is_dir(a->mode);
    size_t tlen = ca->target ? strlen(ca->target) : 0;
    meta_p_int(p, (int64_t)ca->parent);
    meta_p_bytes(p, ca->name, ca->nlen);
    meta_p_int(p, a->mode);
    meta_p_int(p, a->uid);
    meta_p_int(p, a->gid);
    meta_p_int(p, dir ? 2 : 1);
    meta_p_int(p, (int64_t)tlen);
    meta_p_int(p, a->atime_ns ? a->atime_ns : now);
    meta_p_int(p, a->mtime_ns ? a->mtime_ns : now);
    meta_p_int(p, a->ctime_ns ? a->ctime_ns : now);
    meta_p_int(p, (int64_t)a->rdev);
    if (ca->target)
        meta_p_bytes(p, ca->target, tlen);
    else
        meta_p_null(p);
    meta_p_int(p, dir);
    meta_p_int(p, now);
}

static int meta_create_body(struct meta_conn *c, void *arg)
{
    struct meta_create_args *ca = arg;
    struct meta_ent e = { ca->parent, ca->name, ca->nlen };
    struct meta_lockset ls;
    int rc = meta_lock(c, &ca->parent, 1, &e, 1, &ls);
    if (rc < 0)
        return rc;
    if ((rc = meta_parent_ok(meta_lock_find(&ls, ca->parent))) < 0)
        return rc;
    if (ls.ent_ino[0]) {
        struct meta_attr *old = meta_lock_find(&ls, ls.ent_ino[0]);
        if (ca->excl || (old->mode & META_S_IFMT) != META_S_IFREG ||
            (ca->in.mode & META_S_IFMT) != META_S_IFREG)
            return -EEXIST;
        *ca->out = *old;
        return 0;
    }
    struct meta_params p;
    meta_p_init(&p);
    meta_create_params(&p, ca, meta_now_ns());
    /* META_CREATE_LAZY: an empty file's commit does not wait for the disk */
    int lazy = ca->lazy && (ca->in.mode & META_S_IFMT) == META_S_IFREG;
    struct meta_q q[2] = { { .stmt = MS_ASYNC_COMMIT }, { .stmt = MS_CREATE, .p = &p } };
    rc = meta_run(c, q + !lazy, 1 + lazy, 1);
    if (rc == 0)
        meta_r_attr(q[1].res, 0, 0, ca->out);
    meta_q_clear(q + !lazy, 1 + lazy);
    return rc;
}

int meta_create(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                struct meta_attr *a, const char *target, int excl)
{
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_create_args ca = { parent, name,   nlen,     *a,
                                   a,      target, excl & 1, (excl & META_CREATE_LAZY) != 0 };
    if ((ca.in.mode & META_S_IFMT) == 0)
        ca.in.mode |= META_S_IFREG;          /* as mknod(2) */
    int lnk = (ca.in.mode & META_S_IFMT) == META_S_IFLNK;
    if (lnk != (target != NULL))
        return -EINVAL;
    if (lnk && (strlen(target) == 0 || strlen(target) >= 4096))
        return strlen(target) ? -ENAMETOOLONG : -ENOENT;
    rc = meta_tx(m, meta_create_body, &ca);
    if (rc == 0 && ca.lazy)
        meta_lazy_note(m); /* (an existing file's answer counts too: harmless) */
    return rc;
}

/* One round trip, an implicit transaction: MS_CREATE_OPEN, after the
 * setting of a lazy commit. Returns 1 when the name existed: nothing was
 * written, so no commit hook runs (meta_tx). */
static int meta_create_open_body(struct meta_conn *c, void *arg)
{
    struct meta_create_args *oa = arg; /* (no target: a regular file) */
    const struct meta_attr *a = &oa->in;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)oa->parent);
    meta_p_bytes(&p, oa->name, oa->nlen);
    meta_p_int(&p, (int64_t)((a->mode & ~META_S_IFMT) | META_S_IFREG));
    meta_p_int(&p, a->uid);
    meta_p_int(&p, a->gid);
    meta_p_int(&p, meta_now_ns());
    struct meta_q q[2] = { { .stmt = MS_ASYNC_COMMIT }, { .stmt = MS_CREATE_OPEN, .p = &p } };
    int rc = meta_run(c, q + !oa->lazy, 1 + oa->lazy, 1);
    if (rc < 0)
        return rc;
    PGresult *r = q[1].res;
    int what = -1;
    struct meta_attr row = { 0 };
    /* the row that answers (the parent's new one, 3, is the hook's) */
    for (int i = 0; i < PQntuples(r) && what < 0; i++) {
        int w = (int)meta_r_int(r, i, META_NCOLS);
        if (w != 3) {
            what = w;
            meta_r_attr(r, i, 0, &row);
        }
    }
    if (what == 0 || what == 1) {
        *oa->out = row;
        rc = what == 0 ? 0 : oa->excl ? -EEXIST : 1;
    } else if (what == 2) {
        rc = meta_parent_ok(&row);
        if (rc == 0) {
            /* a live directory that its UPDATE did not find so: it changed
             * while the statement waited for its lock */
            c->retry = 1;
            rc = -EAGAIN;
        }
    } else {
        rc = -ENOENT;                   /* no parent */
    }
    meta_q_clear(q + !oa->lazy, 1 + oa->lazy);
    return rc;
}

int meta_create_open(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                     struct meta_attr *a, int flags, int *created)
{
    assert(a && created);
    *created = 0;
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_create_args oa = { parent, name, nlen, *a, a, NULL, (flags & 1) != 0,
                                   (flags & META_CREATE_LAZY) != 0 };
    rc = meta_tx(m, meta_create_open_body, &oa);
    if (rc == 0) {
        *created = 1;
        if (oa.lazy)
            meta_lazy_note(m);
    }
    return rc == 1 ? 0 : rc;
}

struct meta_link_args {
    uint64_t ino, parent;
    const char *name;
    size_t nlen;
    struct meta_attr *out;
};

static int meta_link_body(struct meta_conn *c, void *arg)
{
    struct meta_link_args *la = arg;
    uint64_t inos[2] = { la->ino, la->parent };
    struct meta_ent e = { la->parent, la->name, la->nlen };
    struct meta_lockset ls;
    int rc = meta_lock(c, inos, 2, &e, 1, &ls);
    if (rc < 0)
        return rc;
    struct meta_attr *i = meta_lock_find(&ls, la->ino);
    if (!i || i->nlink == 0)
        return -ENOENT;
    if (meta_is_dir(i->mode))
        return -EPERM;
    if ((rc = meta_parent_ok(meta_lock_find(&ls, la->parent))) < 0)
        return rc;
    if (ls.ent_ino[0])
        return -EEXIST;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)la->ino);
    meta_p_int(&p, (int64_t)la->parent);
    meta_p_bytes(&p, la->name, la->nlen);
    meta_p_int(&p, meta_now_ns());
    struct meta_q q = { .stmt = MS_LINK, .p = &p };
    rc = meta_run(c, &q, 1, 1);
    if (rc == 0)
        meta_r_attr(q.res, 0, 0, la->out);
    meta_q_clear(&q, 1);
    return rc;
}

int meta_link(struct meta *m, uint64_t ino, uint64_t parent, const char *name,
              size_t nlen, struct meta_attr *a)
{
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_link_args la = { ino, parent, name, nlen, a };
    return meta_tx(m, meta_link_body, &la);
}

/* meta_rename.c - rename(2) and renameat2(2) with RENAME_NOREPLACE and
 * RENAME_EXCHANGE, plus META_RENAME_ORPHAN (a replaced file still open
 * somewhere survives as an orphan) and the report of what was replaced.
 *
 * Promises: atomic (one transaction); the kernel's answers: -ENOENT,
 * -ENOTDIR, -EISDIR, -ENOTEMPTY, -EEXIST (NOREPLACE), -EINVAL (a directory
 * into its own subtree, bad flags); renaming a name onto another name of
 * the same inode does nothing. A replaced last link is deleted (slices to
 * gc), or with META_RENAME_ORPHAN, if not a directory, kept as an orphan
 * (nlink 0) exactly as meta_unlink with keep_open would. Parents get nlink, mtime and ctime updates, the moved inodes ctime.
 * Directory moves between parents serialize on one advisory lock, taken
 * after the row locks, so two crossing moves cannot build a cycle.
 * Two round trips (lock and check; change and commit); one
 * (meta_rename_guess) for a file whose name and target the caller's
 * caches know: the lock, a check of what they say and the change go out
 * together, and a wrong guess fails the check and is rerun the long way.
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>
#include <linux/fs.h>

struct meta_rename_args {
    uint64_t sp, dp;
    const char *sname, *dname;
    size_t slen, dlen;
    unsigned flags;
    struct meta_attr *replaced;
    /* meta_rename_guess: the source and the target (NULL: none) as the
     * caller knows them; gs NULL after a wrong guess */
    const struct meta_attr *gs, *gd;
};

/* What the lock phase found: parents, source, target (NULL if none). */
struct meta_rename_view {
    struct meta_attr *S, *D;
    int sdir, ddir, exchange;
};

static int meta_rename_parent(struct meta_lockset *ls, uint64_t ino)
{
    struct meta_attr *p = meta_lock_find(ls, ino);
    if (!p || p->nlink == 0)
        return -ENOENT;
    return meta_is_dir(p->mode) ? 0 : -ENOTDIR;
}

/* Is `anc` the directory `dir` or one of its ancestors? Takes the rename
 * lock first (it stays until commit). */
static int meta_rename_ancestry(struct meta_conn *c, uint64_t dir1, uint64_t anc1,
                                uint64_t dir2, uint64_t anc2, int *hit)
{
    struct meta_params p1, p2;
    meta_p_init(&p1);
    meta_p_int(&p1, (int64_t)dir1);
    meta_p_int(&p1, (int64_t)anc1);
    meta_p_init(&p2);
    meta_p_int(&p2, (int64_t)dir2);
    meta_p_int(&p2, (int64_t)anc2);
    struct meta_q q[3] = {
        { .stmt = MS_RENAME_LOCK }, { .stmt = MS_ANCESTOR, .p = &p1 },
        { .stmt = MS_ANCESTOR, .p = &p2 },
    };
    int n = anc2 ? 3 : 2;
    int rc = meta_run(c, q, n, 0);
    if (rc == 0)
        *hit = meta_r_int(q[1].res, 0, 0) || (n == 3 && meta_r_int(q[2].res, 0, 0));
    meta_q_clear(q, n);
    return rc;
}

static int meta_rename_check(struct meta_conn *c, const struct meta_rename_args *ra,
                             struct meta_lockset *ls, struct meta_rename_view *v)
{
    int rc;
    if ((rc = meta_rename_parent(ls, ra->sp)) < 0 || (rc = meta_rename_parent(ls, ra->dp)) < 0)
        return rc;
    if (!ls->ent_ino[0])
        return -ENOENT;
    v->S = meta_lock_find(ls, ls->ent_ino[0]);
    v->D = ls->ent_ino[1] ? meta_lock_find(ls, ls->ent_ino[1]) : NULL;
    v->exchange = (ra->flags & RENAME_EXCHANGE) != 0;
    if ((ra->flags & RENAME_NOREPLACE) && v->D)
        return -EEXIST;
    if (v->exchange && !v->D)
        return -ENOENT;
    v->sdir = meta_is_dir(v->S->mode);
    v->ddir = v->D && meta_is_dir(v->D->mode);
    int moves_s = v->sdir && ra->sp != ra->dp;
    int moves_d = v->exchange && v->ddir && ra->sp != ra->dp;
    if (moves_s || moves_d) {
        int hit = 0;
        rc = meta_rename_ancestry(c, moves_s ? ra->dp : ra->sp, moves_s ? v->S->ino : v->D->ino,
                                  moves_s && moves_d ? ra->sp : 0,
                                  moves_s && moves_d ? v->D->ino : 0, &hit);
        if (rc < 0)
            return rc;
        if (hit)
            return -EINVAL;
    }
    if (v->D && v->D->ino == v->S->ino)
        return 1;           /* same inode: nothing to do */
    if (v->exchange || !v->D)
        return 0;
    if (v->sdir && !v->ddir)
        return -ENOTDIR;
    if (!v->sdir && v->ddir)
        return -EISDIR;
    return v->ddir && ls->ent_nonempty[1] ? -ENOTEMPTY : 0;
}

struct meta_batch {
    uint64_t sid;               /* owns an orphan the batch makes (0: none) */
    int n;
    struct meta_params p[8];
    struct meta_q q[8];
};

static struct meta_params *meta_batch_add(struct meta_batch *b, int stmt)
{
    struct meta_params *p = &b->p[b->n];
    meta_p_init(p);
    b->q[b->n] = (struct meta_q){ .stmt = stmt, .p = p };
    b->n++;
    return p;
}

static void meta_batch_entry(struct meta_batch *b, int stmt, uint64_t parent,
                             const char *name, size_t nlen)
{
    struct meta_params *p = meta_batch_add(b, stmt);
    meta_p_int(p, (int64_t)parent);
    meta_p_bytes(p, name, nlen);
}

static void meta_batch_ino(struct meta_batch *b, int stmt, uint64_t ino, int64_t v, int64_t now)
{
    struct meta_params *p = meta_batch_add(b, stmt);
    meta_p_int(p, (int64_t)ino);
    meta_p_int(p, v);
    meta_p_int(p, now);
}

/* The target D goes away: a directory (empty) or the last link entirely
 * (unless it must stay as an orphan), else one link less. */
static void meta_rename_drop_target(struct meta_batch *b, const struct meta_attr *D, int ddir,
                                    int keep_open, int64_t now)
{
    if (ddir || (D->nlink <= 1 && !keep_open)) {
        struct meta_params *p = meta_batch_add(b, MS_DROP);
        meta_p_int(p, (int64_t)D->ino);
        meta_p_text(p, "true");
        meta_p_int(p, now);
        return;
    }
    uint32_t nlink = D->nlink ? D->nlink - 1 : 0;
    struct meta_params *p = meta_batch_add(b, MS_NLINK_SET);
    meta_p_int(p, (int64_t)D->ino);
    meta_p_int(p, nlink);
    meta_p_text(p, nlink == 0 ? "true" : "false");   /* orphan */
    meta_p_int(p, now);
    meta_p_int(p, (int64_t)b->sid);
}

static void meta_rename_plan(struct meta_batch *b, const struct meta_rename_args *ra,
                             const struct meta_rename_view *v, int64_t now)
{
    int cross = ra->sp != ra->dp;
    int dsp = 0, ddp = 0;    /* nlink changes of the parents */
    if (v->exchange) {
        struct meta_params *p = meta_batch_add(b, MS_ENTRY_SET);
        meta_p_int(p, (int64_t)ra->sp);
        meta_p_bytes(p, ra->sname, ra->slen);
        meta_p_int(p, (int64_t)v->D->ino);
        p = meta_batch_add(b, MS_ENTRY_SET);
        meta_p_int(p, (int64_t)ra->dp);
        meta_p_bytes(p, ra->dname, ra->dlen);
        meta_p_int(p, (int64_t)v->S->ino);
        meta_batch_ino(b, MS_INODE_MOVED, v->D->ino, (int64_t)ra->sp, now);
        if (cross) {
            dsp = v->ddir - v->sdir;
            ddp = v->sdir - v->ddir;
        }
    } else {
        if (v->D) {
            meta_rename_drop_target(b, v->D, v->ddir, (ra->flags & META_RENAME_ORPHAN) != 0,
                                    now);
            meta_batch_entry(b, MS_ENTRY_DEL, ra->dp, ra->dname, ra->dlen);
            ddp -= v->ddir;
        }
        struct meta_params *p = meta_batch_add(b, MS_ENTRY_MOVE);
        meta_p_int(p, (int64_t)ra->sp);
        meta_p_bytes(p, ra->sname, ra->slen);
        meta_p_int(p, (int64_t)ra->dp);
        meta_p_bytes(p, ra->dname, ra->dlen);
        if (cross && v->sdir) {
            dsp -= 1;
            ddp += 1;
        }
    }
    meta_batch_ino(b, MS_INODE_MOVED, v->S->ino, (int64_t)ra->dp, now);
    if (cross) {
        meta_batch_ino(b, MS_DIR_TOUCH, ra->sp, dsp, now);
        meta_batch_ino(b, MS_DIR_TOUCH, ra->dp, ddp, now);
    } else {
        meta_batch_ino(b, MS_DIR_TOUCH, ra->sp, dsp + ddp, now);
    }
}

/* What the replaced inode looks like now: a name less, or gone. */
static void meta_rename_replaced(struct meta_attr *out, const struct meta_attr *D, int ddir,
                                 int64_t now)
{
    *out = *D;
    out->nlink = ddir || D->nlink == 0 ? 0 : D->nlink - 1;
    out->ctime_ns = now;
}

static int meta_rename_body(struct meta_conn *c, void *arg)
{
    struct meta_rename_args *ra = arg;
    uint64_t inos[2] = { ra->sp, ra->dp };
    struct meta_ent e[2] = { { ra->sp, ra->sname, ra->slen }, { ra->dp, ra->dname, ra->dlen } };
    struct meta_lockset ls;
    if (ra->replaced)
        ra->replaced->ino = 0;      /* a rerun reports afresh */
    struct meta_rename_view v;
    int rc = meta_lock(c, inos, 2, e, 2, &ls);
    if (rc < 0 || (rc = meta_rename_check(c, ra, &ls, &v)) != 0)
        return rc > 0 ? 0 : rc;
    struct meta_batch b = { .sid = meta_session_id(c->m) };
    int64_t now = meta_now_ns();
    meta_rename_plan(&b, ra, &v, now);
    rc = meta_run(c, b.q, b.n, 1);
    meta_q_clear(b.q, b.n);
    if (rc == 0 && ra->replaced && v.D && !v.exchange)
        meta_rename_replaced(ra->replaced, v.D, v.ddir, now);
    else if (rc == 0 && ra->replaced)
        ra->replaced->ctime_ns = now; /* the moved inodes' new ctime */
    return rc;
}

/* One round trip: lock both parents, the source and the target, check
 * the guess (MS_RENAME_CHECK), change, commit. */
static int meta_rename_guess_body(struct meta_conn *c, void *arg)
{
    struct meta_rename_args *ra = arg;
    if (!ra->gs)
        return meta_rename_body(c, arg);
    if (ra->replaced)
        ra->replaced->ino = 0;
    struct meta_attr S = *ra->gs, D = ra->gd ? *ra->gd : (struct meta_attr){ 0 };
    uint64_t inos[4] = { ra->sp, ra->dp, S.ino, D.ino };
    char buf[META_LOCK_BUF];
    struct meta_params lp, cp;
    struct meta_q q[10];
    meta_lock_rows_q(&q[0], &lp, buf, sizeof buf, inos, 4);
    meta_p_init(&cp);
    meta_p_int(&cp, (int64_t)ra->sp);
    meta_p_bytes(&cp, ra->sname, ra->slen);
    meta_p_int(&cp, (int64_t)S.ino);
    meta_p_int(&cp, S.nlink);
    meta_p_int(&cp, (int64_t)ra->dp);
    meta_p_bytes(&cp, ra->dname, ra->dlen);
    if (ra->gd) {
        meta_p_int(&cp, (int64_t)D.ino);
        meta_p_int(&cp, D.nlink);
    } else {
        meta_p_null(&cp);
        meta_p_null(&cp);
    }
    struct meta_rename_view v = { &S, ra->gd ? &D : NULL, 0, 0, 0 };
    struct meta_batch b = { .sid = meta_session_id(c->m) };
    int64_t now = meta_now_ns();
    meta_rename_plan(&b, ra, &v, now);
    q[1] = (struct meta_q){ .stmt = MS_RENAME_CHECK, .p = &cp };
    for (int i = 0; i < b.n; i++)
        q[2 + i] = b.q[i];
    int rc = meta_run(c, q, 2 + b.n, 1);
    if (rc == -ESTALE) {
        ra->gs = NULL; /* rerun the long way (the check set c->retry) */
        return -EAGAIN;
    }
    if (rc == 0 && ra->replaced && ra->gd) {
        (void)meta_lock_row(q[0].res, D.ino, &D); /* the target as locked */
        meta_rename_replaced(ra->replaced, &D, 0, now);
    } else if (rc == 0 && ra->replaced) {
        ra->replaced->ctime_ns = now;
    }
    meta_q_clear(q, 2 + b.n);
    return rc;
}

/* Both entry points: the arguments checked, then one transaction (the
 * guessed way when gs is given and covers the change). */
static int meta_rename_run(struct meta *m, struct meta_rename_args *ra)
{
    int rc;
    if (ra->replaced)
        ra->replaced->ino = 0;
    if ((rc = meta_check_name(ra->sname, ra->slen)) < 0 ||
        (rc = meta_check_name(ra->dname, ra->dlen)) < 0)
        return rc;
    unsigned flags = ra->flags;
    if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | META_RENAME_ORPHAN)) ||
        (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
        return -EINVAL;
    /* a guess covers a file moving to a free name or over another file */
    const struct meta_attr *gs = ra->gs, *gd = ra->gd;
    int ok = gs && gs->ino && gs->nlink > 0 && !meta_is_dir(gs->mode) &&
             !(flags & RENAME_EXCHANGE) && !(gd && (flags & RENAME_NOREPLACE)) &&
             !(gd && (!gd->ino || gd->ino == gs->ino || gd->nlink == 0 || meta_is_dir(gd->mode))) &&
             !meta_conn_owned(m);
    if (!ok)
        ra->gs = ra->gd = NULL;
    rc = meta_tx(m, meta_rename_guess_body, ra);
    if (rc < 0 && ra->replaced)
        ra->replaced->ino = 0;
    return rc;
}

int meta_rename2(struct meta *m, uint64_t src_parent, const char *src, size_t slen,
                 uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags,
                 struct meta_attr *replaced)
{
    struct meta_rename_args ra = { src_parent, dst_parent, src,      dst,  slen,
                                   dlen,       flags,      replaced, NULL, NULL };
    return meta_rename_run(m, &ra);
}

int meta_rename_guess(struct meta *m, uint64_t src_parent, const char *src, size_t slen,
                      uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags,
                      const struct meta_attr *src_guess, const struct meta_attr *dst_guess,
                      struct meta_attr *replaced)
{
    assert(src_guess);
    struct meta_rename_args ra = { src_parent, dst_parent, src,      dst,       slen,
                                   dlen,       flags,      replaced, src_guess, dst_guess };
    return meta_rename_run(m, &ra);
}

int meta_rename(struct meta *m, uint64_t src_parent, const char *src, size_t slen,
                uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags)
{
    return meta_rename2(m, src_parent, src, slen, dst_parent, dst, dlen, flags, NULL);
}

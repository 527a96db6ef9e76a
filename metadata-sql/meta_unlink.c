/* meta_unlink.c - removing names: unlink, rmdir, and the deferred delete
 * of files that were unlinked while open (orphans).
 *
 * Promises: the kernel's answers (-ENOENT, -ENOTDIR, -EISDIR, -ENOTEMPTY);
 * the last link's inode is either deleted with its xattrs and symlink
 * target, its slices recorded as garbage for gc, or (keep_open) kept as an
 * orphan with nlink 0 until meta_drop_orphan. One transaction, two round
 * trips; one (meta_unlink_guess) when the caller knows what the name is:
 * the lock, a check of that guess and the changes go out together, and a
 * wrong guess fails the check and is rerun the long way.
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>

struct meta_unlink_args {
    uint64_t parent;
    const char *name;
    size_t nlen;
    int dir, keep_open;
    struct meta_attr *removed;
    const struct meta_attr *guess; /* meta_unlink_guess: NULL after a wrong one */
};

static int meta_unlink_check(const struct meta_unlink_args *ua, struct meta_lockset *ls,
                             struct meta_attr **child)
{
    struct meta_attr *p = meta_lock_find(ls, ua->parent);
    if (!p)
        return -ENOENT;
    if (!meta_is_dir(p->mode))
        return -ENOTDIR;
    if (!ls->ent_ino[0])
        return -ENOENT;
    struct meta_attr *c = *child = meta_lock_find(ls, ls->ent_ino[0]);
    int isdir = meta_is_dir(c->mode);
    if (ua->dir && !isdir)
        return -ENOTDIR;
    if (!ua->dir && isdir)
        return -EISDIR;
    return isdir && ls->ent_nonempty[0] ? -ENOTEMPTY : 0;
}

/* The changes of an unlink of ch (its row before), as q[0..3) with their
 * parameters in p[0..3); returns the new link count. */
static uint32_t meta_unlink_changes(struct meta_conn *c, const struct meta_unlink_args *ua,
                                    const struct meta_attr *ch, int64_t now, struct meta_params *p,
                                    struct meta_q *q)
{
    int isdir = meta_is_dir(ch->mode);
    uint32_t nlink = isdir || ch->nlink == 0 ? 0 : ch->nlink - 1;
    struct meta_params *pe = &p[0], *pd = &p[1], *pc = &p[2];
    meta_p_init(pe);
    meta_p_int(pe, (int64_t)ua->parent);
    meta_p_bytes(pe, ua->name, ua->nlen);
    meta_p_init(pd);
    meta_p_int(pd, (int64_t)ua->parent);
    meta_p_int(pd, isdir ? -1 : 0);
    meta_p_int(pd, now);
    meta_p_init(pc);
    meta_p_int(pc, (int64_t)ch->ino);
    int drop = nlink == 0 && !ua->keep_open;
    if (drop) {
        meta_p_text(pc, "true");
    } else {
        meta_p_int(pc, nlink);
        meta_p_text(pc, nlink == 0 ? "true" : "false"); /* orphan */
    }
    meta_p_int(pc, now);
    if (!drop)
        meta_p_int(pc, (int64_t)meta_session_id(c->m)); /* owns the orphan */
    q[0] = (struct meta_q){ .stmt = MS_ENTRY_DEL, .p = pe };
    q[1] = (struct meta_q){ .stmt = MS_DIR_TOUCH, .p = pd };
    q[2] = (struct meta_q){ .stmt = drop ? MS_DROP : MS_NLINK_SET, .p = pc };
    return nlink;
}

static void meta_unlink_removed(const struct meta_unlink_args *ua, const struct meta_attr *ch,
                                uint32_t nlink, int64_t now)
{
    if (!ua->removed)
        return;
    *ua->removed = *ch;
    ua->removed->nlink = nlink;
    ua->removed->ctime_ns = now;
}

static int meta_unlink_body(struct meta_conn *c, void *arg);

/* One round trip: lock the parent and the guessed inode, check the guess,
 * change, commit. */
static int meta_unlink_guess_body(struct meta_conn *c, void *arg)
{
    struct meta_unlink_args *ua = arg;
    if (!ua->guess)
        return meta_unlink_body(c, arg);
    const struct meta_attr *g = ua->guess;
    uint64_t inos[2] = { ua->parent, g->ino };
    char buf[META_LOCK_BUF];
    struct meta_params p[5];
    struct meta_q q[5];
    meta_lock_rows_q(&q[0], &p[0], buf, sizeof buf, inos, 2);
    meta_p_init(&p[1]);
    meta_p_int(&p[1], (int64_t)ua->parent);
    meta_p_bytes(&p[1], ua->name, ua->nlen);
    meta_p_int(&p[1], (int64_t)g->ino);
    meta_p_int(&p[1], g->nlink);
    q[1] = (struct meta_q){ .stmt = MS_UNLINK_CHECK, .p = &p[1] };
    int64_t now = meta_now_ns();
    uint32_t nlink = meta_unlink_changes(c, ua, g, now, p + 2, q + 2);
    int rc = meta_run(c, q, 5, 1);
    if (rc == -ESTALE) {
        ua->guess = NULL; /* rerun the long way (the check set c->retry) */
        return -EAGAIN;
    }
    if (rc == 0) {
        /* the row as locked: the guess was right about ino, type and links */
        struct meta_attr row = *g;
        (void)meta_lock_row(q[0].res, g->ino, &row);
        meta_unlink_removed(ua, &row, nlink, now);
    }
    meta_q_clear(q, 5);
    return rc;
}

static int meta_unlink_body(struct meta_conn *c, void *arg)
{
    struct meta_unlink_args *ua = arg;
    struct meta_ent e = { ua->parent, ua->name, ua->nlen };
    struct meta_lockset ls;
    struct meta_attr *ch = NULL;
    int rc = meta_lock(c, &ua->parent, 1, &e, 1, &ls);
    if (rc < 0 || (rc = meta_unlink_check(ua, &ls, &ch)) < 0)
        return rc;
    int64_t now = meta_now_ns();
    struct meta_params p[3];
    struct meta_q q[3];
    uint32_t nlink = meta_unlink_changes(c, ua, ch, now, p, q);
    rc = meta_run(c, q, 3, 1);
    meta_q_clear(q, 3);
    if (rc == 0)
        meta_unlink_removed(ua, ch, nlink, now);
    return rc;
}

int meta_unlink(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                int dir, int keep_open, struct meta_attr *removed)
{
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_unlink_args ua = { parent, name, nlen, dir, keep_open, removed, NULL };
    return meta_tx(m, meta_unlink_body, &ua);
}

int meta_unlink_guess(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                      const struct meta_attr *guess, int keep_open, struct meta_attr *removed)
{
    assert(guess);
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    int ok = guess->ino && guess->nlink > 0 && !meta_is_dir(guess->mode) &&
             !meta_conn_owned(m); /* (inside meta_txn: the long way, its batches) */
    struct meta_unlink_args ua = { parent, name, nlen, 0, keep_open, removed, ok ? guess : NULL };
    return meta_tx(m, meta_unlink_guess_body, &ua);
}

int meta_drop_orphan(struct meta *m, uint64_t ino)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_text(&p, "false");
    meta_p_int(&p, meta_now_ns());
    PGresult *r;
    int rc = meta_change1(m, MS_DROP, &p, &r);
    if (rc < 0)
        return rc;
    rc = meta_r_int(r, 0, 0) == 1 ? 0 : -ENOENT;
    PQclear(r);
    return rc;
}

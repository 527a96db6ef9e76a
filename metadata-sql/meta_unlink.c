/* meta_unlink.c - removing names: unlink, rmdir, and the deferred delete
 * of files that were unlinked while open (orphans).
 *
 * Promises: the kernel's answers (-ENOENT, -ENOTDIR, -EISDIR, -ENOTEMPTY);
 * the last link's inode is either deleted with its xattrs and symlink
 * target, its slices recorded as garbage for gc, or (keep_open) kept as an
 * orphan with nlink 0 until meta_drop_orphan. One transaction, two round
 * trips.
 */
#include "meta_int.h"

#include <errno.h>

struct meta_unlink_args {
    uint64_t parent;
    const char *name;
    size_t nlen;
    int dir, keep_open;
    struct meta_attr *removed;
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

static int meta_unlink_body(struct meta_conn *c, void *arg)
{
    struct meta_unlink_args *ua = arg;
    struct meta_ent e = { ua->parent, ua->name, ua->nlen };
    struct meta_lockset ls;
    struct meta_attr *ch = NULL;
    int rc = meta_lock(c, &ua->parent, 1, &e, 1, &ls);
    if (rc < 0 || (rc = meta_unlink_check(ua, &ls, &ch)) < 0)
        return rc;
    int isdir = meta_is_dir(ch->mode);
    uint32_t nlink = isdir || ch->nlink == 0 ? 0 : ch->nlink - 1;
    int64_t now = meta_now_ns();
    struct meta_params pe, pd, pc;
    meta_p_init(&pe);
    meta_p_int(&pe, (int64_t)ua->parent);
    meta_p_bytes(&pe, ua->name, ua->nlen);
    meta_p_init(&pd);
    meta_p_int(&pd, (int64_t)ua->parent);
    meta_p_int(&pd, isdir ? -1 : 0);
    meta_p_int(&pd, now);
    meta_p_init(&pc);
    meta_p_int(&pc, (int64_t)ch->ino);
    int drop = nlink == 0 && !ua->keep_open;
    if (drop) {
        meta_p_text(&pc, "true");
    } else {
        meta_p_int(&pc, nlink);
        meta_p_text(&pc, nlink == 0 ? "true" : "false");   /* orphan */
    }
    meta_p_int(&pc, now);
    if (!drop)
        meta_p_int(&pc, (int64_t)meta_session_id(c->m));   /* owns the orphan */
    struct meta_q q[3] = {
        { .stmt = MS_ENTRY_DEL, .p = &pe },
        { .stmt = MS_DIR_TOUCH, .p = &pd },
        { .stmt = drop ? MS_DROP : MS_NLINK_SET, .p = &pc },
    };
    rc = meta_run(c, q, 3, 1);
    meta_q_clear(q, 3);
    if (rc == 0 && ua->removed) {
        *ua->removed = *ch;
        ua->removed->nlink = nlink;
        ua->removed->ctime_ns = now;
    }
    return rc;
}

int meta_unlink(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                int dir, int keep_open, struct meta_attr *removed)
{
    int rc = meta_check_name(name, nlen);
    if (rc < 0)
        return rc;
    struct meta_unlink_args ua = { parent, name, nlen, dir, keep_open, removed };
    return meta_tx(m, meta_unlink_body, &ua);
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

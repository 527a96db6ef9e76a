/* meta_changes.c - what changed, and where: the directories a transaction
 * of this process touched (for its commit hook), and the volume's change
 * log that the node agent polls (schema 3, schema/003_changes.sql).
 *
 * Why: a node shares whole-directory snapshots between its processes and
 * the agent vouches for them past the TTL. Both used to be invalidated as
 * a whole: a commit on the node bumped one generation, and the agent's
 * token (pg_current_snapshot()) moved with every commit of the server,
 * other databases included. With the directories named, a commit drops
 * only the snapshots it made stale.
 *
 * The directories of a change: a changed directory row names itself (its
 * listing or attributes) and its parent (which lists its attributes); a
 * changed file row names its parent, and a file with several names
 * (parent 0 since schema 3) names "everything". Entries never change
 * without their parent's row (POSIX mtime), so rows are enough.
 *
 * Promises: meta_committed_dirs never names fewer directories than the
 * transaction changed: a statement it does not know, an inode whose
 * parent it could not see, too many names, or a volume older than
 * version 3 all answer "everything" (-1). The poll is one statement, so
 * its horizon and its rows come from one snapshot.
 */
#include "meta_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHG_MAX 16

/* What the transaction running on this thread changed so far. */
static __thread struct {
    int all;
    int ndir, nneed, nknown;
    uint64_t dir[CHG_MAX];      /* directories whose snapshots it changed */
    uint64_t need[CHG_MAX];     /* inodes changed whose parent is still unknown */
    uint64_t known[CHG_MAX];    /* inodes whose row (with its parent) was seen */
} chg;

void meta_chg_reset(void)
{
    memset(&chg, 0, sizeof chg);
}

static void chg_add(uint64_t *set, int *n, uint64_t v)
{
    for (int i = 0; i < *n; i++)
        if (set[i] == v)
            return;
    if (*n == CHG_MAX) {
        chg.all = 1;
        return;
    }
    set[(*n)++] = v;
}

static uint64_t chg_param(const struct meta_q *q, int i)
{
    if (!q->p || i >= q->p->n || !q->p->val[i] || q->p->fmt[i] != 0)
        return 0;
    return strtoull(q->p->val[i], NULL, 10);
}

/* A directory named by parameter i. */
static void chg_dir_param(const struct meta_q *q, int i)
{
    uint64_t d = chg_param(q, i);
    if (d)
        chg_add(chg.dir, &chg.ndir, d);
    else
        chg.all = 1;
}

/* An inode changed by parameter i, its parent to be seen in a row. */
static void chg_need_param(const struct meta_q *q, int i)
{
    uint64_t ino = chg_param(q, i);
    if (ino)
        chg_add(chg.need, &chg.nneed, ino);
    else
        chg.all = 1;
}

/* Inode rows (META_NCOLS columns from col 0): each names its directories. */
static void chg_rows(const PGresult *r)
{
    for (int i = 0; r && i < PQntuples(r); i++) {
        if (PQnfields(r) < META_NCOLS || meta_r_isnull(r, i, 0)) {
            chg.all = 1;
            return;
        }
        struct meta_attr a;
        meta_r_attr(r, i, 0, &a);
        chg_add(chg.known, &chg.nknown, a.ino);
        if ((a.mode & META_S_IFMT) == META_S_IFDIR) {
            chg_add(chg.dir, &chg.ndir, a.ino);
            chg_add(chg.dir, &chg.ndir, a.parent);
        } else if (a.parent == 0 || a.nlink > 1) {
            chg.all = 1;        /* listed by several directories */
        } else {
            chg_add(chg.dir, &chg.ndir, a.parent);
        }
    }
}

void meta_chg_note(const struct meta_q *q)
{
    switch (q->stmt) {
    /* rows of every inode a namespace change or a write locked or changed */
    case MS_LOCK: case MS_NLINK_SET: case MS_SETATTR: case MS_SETATTR_SOME: case MS_WRITE:
    case MS_APPEND:
    case MS_WRITE_INLINE:
        chg_rows(q->res);
        break;
    case MS_CREATE: case MS_CREATE_OPEN:
        chg_rows(q->res);
        chg_dir_param(q, 0);
        break;
    case MS_LINK:
        chg_rows(q->res);
        chg_dir_param(q, 1);
        break;
    case MS_ENTRY_DEL: case MS_ENTRY_SET:
        chg_dir_param(q, 0);
        break;
    case MS_ENTRY_MOVE:
        chg_dir_param(q, 0);
        chg_dir_param(q, 2);
        break;
    case MS_DIR_TOUCH:
        chg_dir_param(q, 0);
        chg_need_param(q, 0);   /* its attributes: its parent lists them */
        break;
    case MS_INODE_MOVED:
        chg_need_param(q, 0);
        chg_dir_param(q, 1);
        break;
    case MS_DROP:           /* a removed directory's row (locked first) names itself */
    case MS_TRUNC_DROP: case MS_TRUNC_TRIM: case MS_COMPACT_DEL: case MS_SLICES_ADD:
        chg_need_param(q, 0);
        break;
    /* reads and bookkeeping no snapshot shows */
    case MS_VERSION: case MS_SETTINGS: case MS_STATS: case MS_GETATTR: case MS_LOOKUP:
    case MS_WALK: case MS_READDIR: case MS_READLINK: case MS_CHUNKS: case MS_GETXATTR:
    case MS_LISTXATTR: case MS_XATTR_ANY: case MS_NEXT_IDS: case MS_ENTRIES:
    case MS_RENAME_LOCK: case MS_ANCESTOR: case MS_CHUNK_SIG: case MS_FENCE:
    case MS_LIST_SLICES: case MS_SESSION_OPEN: case MS_SESSION_CLOSE: case MS_EXISTS:
    case MS_DIR_SLICES_PLAN: case MS_DIR_SLICES: case MS_SESSION_HEARTBEAT:
    case MS_ORPHAN_OWN: case MS_SESSION_REAP: case MS_RESERVE: case MS_LIST_RESERVATIONS:
    case MS_UPGRADE_LOCK: case MS_LIST_GARBAGE: case MS_FORGET_GARBAGE:
    case MS_SLICE_REFERENCED: case MS_TX_REPEATABLE: case MS_FSCK_DANGLING:
    case MS_FSCK_LOST: case MS_FSCK_DIR_PARENT: case MS_FSCK_NLINK: case MS_FSCK_ORPHANS:
    case MS_FSCK_SLICES_MISSING: case MS_FSCK_SIZES: case MS_CHANGE_TOKEN: case MS_CHANGES:
    case MS_DIR_CHANGES: case MS_NAME_PARENTS:
    case MS_FORGET_GARBAGE_INLINE: case MS_INLINE_GET: case MS_LIST_INLINE:
    case MS_ASYNC_COMMIT: case MS_WAL_FLUSH: case MS_SLICES_SOLE: case MS_UNLINK_CHECK:
    case MS_RENAME_CHECK:
        break;
    /* xattrs (whether the volume has any is shared), repairs, formatting,
     * and any statement added later without a rule here */
    default:
        chg.all = 1;
        break;
    }
}

int meta_committed_dirs(struct meta *m, uint64_t *dirs, int cap)
{
    if (__atomic_load_n(&m->version, __ATOMIC_ACQUIRE) < 3 || chg.all || chg.ndir == 0 ||
        chg.ndir > cap)
        return -1;      /* before version 3 a file's parent may be stale */
    for (int i = 0; i < chg.nneed; i++) {
        int seen = 0;
        for (int k = 0; k < chg.nknown && !seen; k++)
            seen = chg.known[k] == chg.need[i];
        if (!seen)
            return -1;
    }
    memcpy(dirs, chg.dir, (size_t)chg.ndir * sizeof *dirs);
    return chg.ndir;
}

/* ---- the change log, for the node agent ---- */

#define CHG_VERSION_RECHECK_NS (30LL * 1000000000LL)

/* Whether the volume has schema version `want` (3: the log, 5: the names
 * changed): a volume may be upgraded while an agent polls it, so the
 * version is asked again now and then (the time of the last question is
 * the process's: one agent, one thread). */
static int meta_changes_ready(struct meta *m, int want)
{
    static int64_t asked;
    int have = __atomic_load_n(&m->version, __ATOMIC_ACQUIRE);
    if (have >= want)
        return 1;
    int64_t now = meta_now_ns();
    if (asked && now - asked < CHG_VERSION_RECHECK_NS)
        return 0;
    asked = now;
    PGresult *r;
    if (meta_read(m, MS_VERSION, NULL, &r) < 0)
        return 0;
    int64_t v = PQntuples(r) == 1 && !meta_r_isnull(r, 0, 0) ? meta_r_int(r, 0, 0) : 0;
    PQclear(r);
    if (v > have && v <= META_SCHEMA_VERSION)
        __atomic_store_n(&m->version, (int)v, __ATOMIC_RELEASE);
    return v >= want;
}

int meta_changes_since(struct meta *m, uint64_t since, int limit, uint64_t *horizon,
                       meta_change_cb cb, void *arg)
{
    if (limit <= 0)
        return -EINVAL;
    if (!meta_changes_ready(m, 3))
        return -EOPNOTSUPP;
    struct meta_params p;
    meta_p_init(&p);
    if (since)
        meta_p_int(&p, (int64_t)since);
    else
        meta_p_null(&p);
    meta_p_int(&p, limit);
    PGresult *r;
    int rc = meta_read(m, MS_CHANGES, &p, &r);
    if (rc < 0)
        return rc;
    int rows = 0, kind1 = 0, kind2 = 0, have = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int kind = (int)meta_r_int(r, i, 0);
        if (kind == 0) {
            *horizon = (uint64_t)meta_r_int(r, i, 1);
            have = 1;
            continue;
        }
        struct meta_change c = {
            .ino = (uint64_t)meta_r_int(r, i, 1),
            .parent = (uint64_t)meta_r_int(r, i, 2),
            .mode = (uint32_t)meta_r_int(r, i, 3),
            .chg = (uint64_t)meta_r_int(r, i, 4),
            .gone = kind == 2,
        };
        kind1 += kind == 1;
        kind2 += kind == 2;
        rows++;
        cb(arg, &c);
    }
    PQclear(r);
    if (!have)
        return -EIO;
    return kind1 >= limit || kind2 >= limit ? -E2BIG : rows;
}

/* Columns of MS_DIR_CHANGES. */
enum {
    DC_KIND,
    DC_NAME,
    DC_ATTR,
    DC_CHUNK = DC_ATTR + META_NCOLS,
    DC_POS,
    DC_ID,
    DC_SIZE,
    DC_OFF,
    DC_LEN
};

/* Rows [from, to) are one name's: its map into map (at most
 * META_CHANGE_MAP_MAX); the count, or -1 when it has none to give. */
static int meta_dc_map(const PGresult *r, int from, int to, const struct meta_attr *a,
                       struct meta_slice_rec *map)
{
    if (!S_ISREG(a->mode) || to - from > META_CHANGE_MAP_MAX)
        return -1;
    int n = 0;
    for (int i = from; i < to; i++) {
        if (meta_r_isnull(r, i, DC_CHUNK))
            continue; /* a file with no slices: one row of NULLs */
        map[n++] = (struct meta_slice_rec){
            .chunk = (uint64_t)meta_r_int(r, i, DC_CHUNK),
            .s = { .pos = (uint32_t)meta_r_int(r, i, DC_POS),
                   .id = (uint64_t)meta_r_int(r, i, DC_ID),
                   .size = (uint32_t)meta_r_int(r, i, DC_SIZE),
                   .off = (uint32_t)meta_r_int(r, i, DC_OFF),
                   .len = (uint32_t)meta_r_int(r, i, DC_LEN) },
        };
    }
    return n;
}

static int meta_dc_same_name(const PGresult *r, int a, int b)
{
    size_t la, lb;
    const char *na = meta_r_bytes(r, a, DC_NAME, &la), *nb = meta_r_bytes(r, b, DC_NAME, &lb);
    return meta_r_int(r, a, DC_KIND) == meta_r_int(r, b, DC_KIND) && la == lb &&
           memcmp(na, nb, la) == 0;
}

int meta_dir_changes(struct meta *m, uint64_t dir, uint64_t since, int limit,
                     meta_name_change_cb cb, void *arg, struct meta_attr *self)
{
    if (self)
        memset(self, 0, sizeof *self);
    if (limit <= 0 || !dir || !since)
        return -EINVAL;
    if (!meta_changes_ready(m, 5))
        return -EOPNOTSUPP;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)dir);
    meta_p_int(&p, (int64_t)since);
    meta_p_int(&p, limit);
    meta_p_int(&p, META_CHANGE_MAP_MAX + 1); /* one more: a map too big to give */
    PGresult *r;
    int rc = meta_read(m, MS_DIR_CHANGES, &p, &r);
    if (rc < 0)
        return rc;
    int rows = PQntuples(r), set = 0, gone = 0;
    rc = PQnfields(r) < DC_LEN + 1 ? -EIO : 0;
    /* a name's rows are consecutive (the statement orders them); dir's
     * own row comes first */
    for (int i = 0; rc == 0 && i < rows; i++) {
        int64_t kind = meta_r_int(r, i, DC_KIND);
        if (kind == 0) {
            if (self)
                meta_r_attr(r, i, DC_ATTR, self);
        } else if (i == 0 || !meta_dc_same_name(r, i - 1, i)) {
            if (kind == 2)
                gone++;
            else
                set++;
        }
    }
    struct meta_slice_rec *map = rc == 0 ? malloc(META_CHANGE_MAP_MAX * sizeof *map) : NULL;
    if (rc == 0 && !map)
        rc = -ENOMEM;
    /* the removals first: a name removed and made again since is set last */
    for (int pass = 2; rc == 0 && set < limit && gone < limit && pass >= 1; pass--)
        for (int i = 0, j; i < rows; i = j) {
            for (j = i + 1; j < rows && meta_dc_same_name(r, i, j); j++)
                ;
            if (meta_r_int(r, i, DC_KIND) != pass)
                continue;
            size_t nlen;
            const char *name = meta_r_bytes(r, i, DC_NAME, &nlen);
            struct meta_attr a;
            int nmap = -1;
            if (pass == 1) {
                meta_r_attr(r, i, DC_ATTR, &a);
                nmap = meta_dc_map(r, i, j, &a, map);
            }
            if (!name || nlen == 0 || nlen > META_NAME_MAX) {
                rc = -EIO;
                break;
            }
            cb(arg, name, nlen, pass == 1 ? &a : NULL, nmap > 0 ? map : NULL, nmap);
        }
    free(map);
    PQclear(r);
    if (rc < 0)
        return rc;
    return set >= limit || gone >= limit ? -E2BIG : set + gone;
}

int meta_name_parents(struct meta *m, uint64_t ino, uint64_t *parents, int cap)
{
    if (cap <= 0 || !ino)
        return -EINVAL;
    if (!meta_changes_ready(m, 5))
        return -EOPNOTSUPP;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    meta_p_int(&p, cap + 1);
    PGresult *r;
    int rc = meta_read(m, MS_NAME_PARENTS, &p, &r);
    if (rc < 0)
        return rc;
    int n = PQntuples(r);
    for (int i = 0; i < n && i < cap; i++)
        parents[i] = (uint64_t)meta_r_int(r, i, 0);
    PQclear(r);
    return n > cap ? -E2BIG : n;
}

/* meta_fsck.c - consistency checks of a volume's metadata, and repairs.
 *
 * Promises: every check is one read-only statement that returns at most
 * the lines still allowed plus the exact count of its problems, so the
 * report's counts are exact and memory is bounded whatever the damage.
 * Checks run first and describe the volume as found; repairs follow, in an
 * order where each one's consequences are handled by a later one (a
 * deleted dangling entry may leave its inode without a name: lost+found
 * takes it; links there change nlinks: the recount follows). Each repair
 * is one statement in its own REPEATABLE READ transaction, so a client
 * changing a row meanwhile makes it rerun instead of writing a value
 * computed from older rows. The SQL of each check and repair shares one
 * predicate (meta_stmt.c), so a repaired volume checks clean.
 */
#include "meta_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

_Static_assert(LAYOUT_CHUNK_SIZE == 67108864, "meta_stmt.c's CHUNK_BYTES must match the layout");

#define LINE_MAX_LEN 512

typedef void (*meta_fsck_line_fn)(char *buf, size_t cap, const PGresult *r, int row);

/* Fix parameters: none, now, or (lost+found, now). */
enum meta_fix_params { FIX_NONE, FIX_NOW, FIX_LOSTFOUND };

struct meta_fsck_check {
    int check, fix;            /* statements; fix < 0: reported, not repaired here */
    int fix_params;
    size_t field;              /* the report counter */
    meta_fsck_line_fn line;
};

static const char *meta_fsck_kind(int64_t mode)
{
    static const struct { uint32_t fmt; const char *name; } kinds[] = {
        { META_S_IFREG, "file" }, { META_S_IFDIR, "directory" }, { META_S_IFLNK, "symlink" },
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (((uint32_t)mode & META_S_IFMT) == kinds[i].fmt)
            return kinds[i].name;
    return "special file";
}

/* A name as a quoted, escaped, bounded string: names are raw bytes. */
static void meta_fsck_name(char *buf, size_t cap, const PGresult *r, int row, int col)
{
    size_t len, w = 0;
    const unsigned char *s = (const unsigned char *)meta_r_bytes(r, row, col, &len);
    buf[w++] = '\'';
    /* Room kept at the end: an escape (4), "..." (3), the quote, the NUL. */
    for (size_t i = 0; i < len; i++) {
        if (w + 10 > cap) {
            memcpy(buf + w, "...", 3);
            w += 3;
            break;
        }
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\' && s[i] != '\'')
            buf[w++] = (char)s[i];
        else
            w += (size_t)snprintf(buf + w, cap - w, "\\x%02x", s[i]);
    }
    buf[w++] = '\'';
    buf[w] = '\0';
}

#define COL(i) meta_r_int(r, row, i)
#define UCOL(i) ((uint64_t)meta_r_int(r, row, i))

static void meta_line_dangling(char *buf, size_t cap, const PGresult *r, int row)
{
    char name[300];
    meta_fsck_name(name, sizeof name, r, row, 4);
    if (COL(2) == 0)
        snprintf(buf, cap, "entry %s in directory %" PRIu64 " points to missing inode %" PRIu64,
                 name, UCOL(0), UCOL(1));
    else if (meta_r_isnull(r, row, 3))
        snprintf(buf, cap, "entry %s (inode %" PRIu64 ") is in missing directory %" PRIu64,
                 name, UCOL(1), UCOL(0));
    else
        snprintf(buf, cap, "entry %s (inode %" PRIu64 ") is in %" PRIu64 ", a %s", name,
                 UCOL(1), UCOL(0), meta_fsck_kind(COL(3)));
}

static void meta_line_lost(char *buf, size_t cap, const PGresult *r, int row)
{
    snprintf(buf, cap, "inode %" PRIu64 " (%s, nlink %" PRId64 ", %" PRId64 " bytes) has no name",
             UCOL(0), meta_fsck_kind(COL(1)), COL(2), COL(3));
}

static void meta_line_dir_parent(char *buf, size_t cap, const PGresult *r, int row)
{
    char name[300];
    meta_fsck_name(name, sizeof name, r, row, 4);
    snprintf(buf, cap, "directory %" PRIu64 " (%s in %" PRIu64 ") records parent %" PRIu64,
             UCOL(0), name, UCOL(2), UCOL(1));
}

static void meta_line_nlink(char *buf, size_t cap, const PGresult *r, int row)
{
    int dir = meta_is_dir((uint32_t)COL(1));
    snprintf(buf, cap, "inode %" PRIu64 " (%s): nlink %" PRId64 ", expected %" PRId64 " (%s)",
             UCOL(0), meta_fsck_kind(COL(1)), COL(2), COL(3),
             dir ? "2 + subdirectories" : "its names");
}

static void meta_line_orphan(char *buf, size_t cap, const PGresult *r, int row)
{
    snprintf(buf, cap, "orphan inode %" PRIu64 " (%" PRId64 " bytes, unlinked %" PRId64
             " s ago) is kept open by no session", UCOL(0), COL(1),
             (meta_now_ns() - COL(2)) / 1000000000);
}

static void meta_line_slices_missing(char *buf, size_t cap, const PGresult *r, int row)
{
    snprintf(buf, cap, "slice record of missing inode %" PRIu64 ": chunk %" PRIu64 ", slice %"
             PRIu64 ", %" PRId64 " bytes", UCOL(0), UCOL(1), UCOL(2), COL(3));
}

static void meta_line_size(char *buf, size_t cap, const PGresult *r, int row)
{
    snprintf(buf, cap, "inode %" PRIu64 ": a slice record (slice %" PRIu64 ") ends at byte %"
             PRId64 ", past the size %" PRId64, UCOL(0), UCOL(3), COL(1), COL(2));
}

#undef COL
#undef UCOL

#define FIELD(f) offsetof(struct meta_fsck_report, f)

/* In repair order: see the file comment. */
static const struct meta_fsck_check meta_fsck_checks[] = {
    { MS_FSCK_DANGLING, MS_FIX_DANGLING, FIX_NONE, FIELD(dangling_entries), meta_line_dangling },
    { MS_FSCK_LOST, MS_FIX_LOST, FIX_LOSTFOUND, FIELD(missing_parents), meta_line_lost },
    { MS_FSCK_DIR_PARENT, MS_FIX_DIR_PARENT, FIX_NONE, FIELD(bad_dir_parent),
      meta_line_dir_parent },
    { MS_FSCK_NLINK, MS_FIX_NLINK, FIX_NONE, FIELD(bad_nlink), meta_line_nlink },
    { MS_FSCK_ORPHANS, -1, FIX_NONE, FIELD(orphans), meta_line_orphan },
    { MS_FSCK_SLICES_MISSING, MS_FIX_SLICES_MISSING, FIX_NOW, FIELD(slices_of_missing_inodes),
      meta_line_slices_missing },
    { MS_FSCK_SIZES, MS_FIX_SIZES, FIX_NOW, FIELD(bad_sizes), meta_line_size },
};
#define META_NCHECKS (int)(sizeof meta_fsck_checks / sizeof meta_fsck_checks[0])

/* Runs one check: returns the exact count of its problems, and hands at
 * most *lines_left lines to cb. */
static int64_t meta_fsck_run_check(struct meta *m, const struct meta_fsck_check *ck,
                                   int *lines_left, meta_fsck_cb cb, void *arg)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, *lines_left > 0 && cb ? *lines_left : 1);   /* a row carries the count */
    PGresult *r;
    int rc = meta_read(m, ck->check, &p, &r);
    if (rc < 0)
        return rc;
    int n = PQntuples(r);
    int64_t total = n ? meta_r_int(r, 0, 5) : 0;
    for (int i = 0; cb && i < n && *lines_left > 0; i++, (*lines_left)--) {
        char line[LINE_MAX_LEN];
        ck->line(line, sizeof line, r, i);
        cb(arg, line);
    }
    PQclear(r);
    return total;
}

/* /lost+found, made on demand (a racing fsck may make it first). */
static int meta_fsck_lost_found(struct meta *m, uint64_t *ino)
{
    static const char name[] = "lost+found";
    struct meta_attr a;
    int rc = meta_lookup(m, META_ROOT_INO, name, sizeof name - 1, &a);
    for (int attempt = 0; rc == -ENOENT && attempt < 2; attempt++) {
        memset(&a, 0, sizeof a);
        a.mode = META_S_IFDIR | 0700;
        a.uid = (uint32_t)geteuid();
        a.gid = (uint32_t)getegid();
        rc = meta_create(m, META_ROOT_INO, name, sizeof name - 1, &a, NULL, 1);
        if (rc == -EEXIST)
            rc = meta_lookup(m, META_ROOT_INO, name, sizeof name - 1, &a);
    }
    if (rc < 0)
        return rc;
    if (!meta_is_dir(a.mode)) {
        log_error(META_LOG, "%s: fsck: /lost+found is not a directory; cannot relink lost inodes",
                  m->describe);
        return -ENOTDIR;
    }
    *ino = a.ino;
    return 0;
}

struct meta_fix { int stmt; const struct meta_params *p; int64_t fixed; };

static int meta_fix_body(struct meta_conn *c, void *arg)
{
    struct meta_fix *f = arg;
    struct meta_q q[2] = { { .stmt = MS_TX_REPEATABLE }, { .stmt = f->stmt, .p = f->p } };
    int rc = meta_run(c, q, 2, 0);       /* the transaction commits when the body returns 0 */
    if (rc == 0)
        f->fixed = meta_r_int(q[1].res, 0, 0);
    meta_q_clear(q, 2);
    return rc;
}

static int meta_fsck_repair(struct meta *m, const struct meta_fsck_check *ck)
{
    struct meta_params p;
    meta_p_init(&p);
    if (ck->fix_params == FIX_LOSTFOUND) {
        int lines = 0;
        int64_t lost = meta_fsck_run_check(m, ck, &lines, NULL, NULL);
        if (lost <= 0)
            return (int)lost;     /* nothing lost now: no lost+found made */
        uint64_t lf;
        int rc = meta_fsck_lost_found(m, &lf);
        if (rc < 0)
            return rc;
        meta_p_int(&p, (int64_t)lf);
    }
    if (ck->fix_params != FIX_NONE)
        meta_p_int(&p, meta_now_ns());
    struct meta_fix f = { ck->fix, &p, 0 };
    int rc = meta_tx(m, meta_fix_body, &f);
    if (rc < 0)
        return rc;
    if (f.fixed)
        log_info(META_LOG, "%s: fsck: %s fixed %" PRId64 " rows", m->describe,
                 meta_stmts[ck->fix].name, f.fixed);
    return 0;
}

int meta_fsck(struct meta *m, int repair, struct meta_fsck_report *r, meta_fsck_cb cb,
              void *arg)
{
    /* Repairs change the isolation level: they cannot join a meta_txn. */
    if (meta_conn_owned(m))
        return -EINVAL;
    memset(r, 0, sizeof *r);
    int lines = META_FSCK_MAX_LINES;
    uint64_t problems = 0;
    for (int i = 0; i < META_NCHECKS; i++) {
        int64_t n = meta_fsck_run_check(m, &meta_fsck_checks[i], &lines, cb, arg);
        if (n < 0)
            return (int)n;
        *(uint64_t *)((char *)r + meta_fsck_checks[i].field) = (uint64_t)n;
        problems += (uint64_t)n;
    }
    for (int i = 0; repair && i < META_NCHECKS; i++) {
        if (meta_fsck_checks[i].fix < 0)
            continue;
        int rc = meta_fsck_repair(m, &meta_fsck_checks[i]);
        if (rc < 0)
            return rc;
    }
    return problems > INT_MAX ? INT_MAX : (int)problems;
}

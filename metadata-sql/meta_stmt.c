/* meta_stmt.c - every SQL statement the client runs, in one table.
 *
 * All are parameterized and prepared once per connection (lazily, in the
 * same round trip as their first use), or sent unnamed with the same SQL
 * behind a transaction-pooling PgBouncer (meta_exec.c): so no statement
 * may rely on session state; settings are transaction-local (set_config
 * with is_local) and advisory locks transaction-scoped, except the one
 * shimfs_next_ids takes and releases inside a single statement. Inode rows always come back as the
 * META_NCOLS columns of COLS so one decoder (meta_r_attr) reads them all.
 * Where a parameter's type cannot be inferred from a column it is cast.
 * Multi-statement changes rely on the caller holding row locks taken in
 * ascending ino order (MS_LOCK); single-statement changes lock by UPDATE.
 */
#include "meta_int.h"

#define COLS "n.ino, n.mode, n.uid, n.gid, n.nlink, n.size, n.atime, n.mtime, n.ctime, n.parent, n.rdev"
/* Chunks are 1 << CHUNK_SHIFT bytes, as layout.h says. */
#define CHUNK_SHIFT "26"
_Static_assert(LAYOUT_CHUNK_SHIFT == 26, "CHUNK_SHIFT must match LAYOUT_CHUNK_SHIFT");
#define IS_DIR(col) "(" col " & 61440) = 16384"
#define IS_REG(col) "(" col " & 61440) = 32768"
#define IS_LNK(col) "(" col " & 61440) = 40960"

/* Slices deleted by CTE `d` become garbage unless some record not being
 * deleted (`keep`) still refers to the same id. */
#define GARBAGE_FROM_D(now, keep) \
    "INSERT INTO garbage (id, size, released) " \
    "SELECT DISTINCT d.id, d.size, " now "::bigint FROM d " \
    "WHERE d.id <> 0 AND NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = d.id AND " keep ")"

/* The change token (meta_watch.c): the set of committed transactions. */
/* The database's clock in ns: sessions' heartbeats and their judges use it,
 * so the clients' clocks never have to agree. */
#define DB_NOW_NS "(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint"
/* Session t is alive: heard from within its own timeout and the reaper's
 * minimum $1 (ns). */
#define SESSION_LIVE(t) "(" t ".heartbeat >= " DB_NOW_NS " - greatest($1::bigint, " t ".timeout))"
/* The commit fence. CTE o: each slice id of the int8[] `ids` (holes
 * aside) with the session whose reservation holds it (NULL: none); CTE k:
 * those sessions that still exist, share-locked so no reaper deletes them
 * before the caller's transaction ends (a reaper that got there first
 * leaves them out). FENCE_OK: every id is held by a live session, or
 * `on` is false (a handle without a session: tests, tools that upload
 * nothing). */
/* An inline slice's id is its reserved id with LAYOUT_INLINE_BIT set: the
 * fence looks the reserved id up. */
#define INLINE_MASK "4611686018427387903"
#define FENCE_CTES(ids) \
    "o AS (SELECT x.id, (SELECT CASE WHEN x.id < r.first + r.n THEN r.sid END FROM reservation r " \
    "WHERE r.first <= x.id ORDER BY r.first DESC LIMIT 1) AS sid " \
    "FROM (SELECT v & " INLINE_MASK " FROM unnest(" ids "::bigint[]) AS v) AS x (id) WHERE x.id <> 0), " \
    "k AS (SELECT t.sid FROM session t WHERE t.sid IN (SELECT o.sid FROM o) FOR KEY SHARE), "
#define FENCE_OK(on) \
    "(NOT " on "::boolean OR NOT EXISTS (SELECT 1 FROM o WHERE o.sid IS NULL " \
    "OR o.sid NOT IN (SELECT k.sid FROM k)))"
#define CHANGE_TOKEN "pg_current_snapshot()::text"

#define TRUNC_BEYOND(t) "(" t "chunk > $2 OR (" t "chunk = $2 AND " t "pos >= $3))"

/* ---- maintenance predicates: each problem fsck knows is defined once,
 * and both its check and its repair use that definition. ---- */
#define CHUNK_BYTES "67108864"      /* LAYOUT_CHUNK_SIZE (asserted in meta_fsck.c) */
#define SLICE_START(x) "(" x ".chunk * " CHUNK_BYTES " + " x ".pos)"
#define SLICE_END(x) "(" x ".chunk * " CHUNK_BYTES " + " x ".pos + " x ".len)"

/* Slice records deleted by CTE `d` (RETURNING ino, chunk, seq, id, size)
 * become garbage unless a record that stays still uses the same id. */
#define GARBAGE_FROM_DK(now) \
    "INSERT INTO garbage (id, size, released) " \
    "SELECT DISTINCT d.id, d.size, " now "::bigint FROM d WHERE d.id <> 0 AND NOT EXISTS (" \
    "SELECT 1 FROM slice s WHERE s.id = d.id AND (s.ino, s.chunk, s.seq) NOT IN " \
    "(SELECT ino, chunk, seq FROM d))"

/* An entry whose inode is missing, or whose parent is no directory. */
#define DANGLING(e) \
    "(NOT EXISTS (SELECT 1 FROM inode n WHERE n.ino = " e ".ino) OR NOT EXISTS " \
    "(SELECT 1 FROM inode p WHERE p.ino = " e ".parent AND " IS_DIR("p.mode") "))"
/* An inode nobody can reach by name and nobody keeps open as an orphan. */
#define LOST(n) \
    "(" n ".ino <> 1 AND NOT " n ".orphan AND NOT EXISTS (SELECT 1 FROM entry e WHERE e.ino = " n ".ino))"
/* CTE w: every inode with the nlink its entries call for. */
#define NLINK_WANT \
    "w AS (SELECT n.ino, n.mode, n.nlink, n.orphan, CASE WHEN " IS_DIR("n.mode") \
    " THEN 2 + coalesce(sd.k, 0) ELSE coalesce(en.k, 0) END AS want FROM inode n " \
    "LEFT JOIN (SELECT ino, count(*) AS k FROM entry GROUP BY ino) en ON en.ino = n.ino " \
    "LEFT JOIN (SELECT e.parent, count(*) AS k FROM entry e JOIN inode c ON c.ino = e.ino " \
    "WHERE " IS_DIR("c.mode") " GROUP BY e.parent) sd ON sd.parent = n.ino) "
/* Lost files (no entry, not orphans) are LOST's business, not this one's. */
#define NLINK_BAD "w.nlink <> w.want AND (" IS_DIR("w.mode") " OR w.want > 0 OR w.orphan)"
/* A directory (inode n) whose parent column no entry e of it agrees with. */
#define DIR_PARENT_BAD \
    "e.ino = n.ino AND " IS_DIR("n.mode") " AND n.ino <> 1 AND n.parent <> e.parent " \
    "AND NOT EXISTS (SELECT 1 FROM entry a WHERE a.ino = n.ino AND a.parent = n.parent)"
#define SLICE_MISSING(x) "NOT EXISTS (SELECT 1 FROM inode n WHERE n.ino = " x ".ino)"
/* fsck checks answer (a, b, c, d, name, total): at most $1 rows, total
 * is the exact count of problems (the window runs before the LIMIT). */
#define FSCK_TOTAL "count(*) OVER ()"

/* A write session's commit (MS_WRITE); `extra` adds CTEs that run only
 * when the inode row was updated (they select FROM u). */
#define WRITE_SQL(extra) \
    "WITH " FENCE_CTES("$7") "u AS (UPDATE inode n SET size = CASE WHEN $3::boolean THEN $2::bigint " \
    "ELSE greatest(n.size, $2::bigint) END, mtime = $4::bigint, ctime = $4::bigint " \
    "WHERE n.ino = $1::bigint AND " IS_REG("n.mode") " AND " FENCE_OK("$11") \
    " RETURNING " COLS "), " extra \
    "s AS (INSERT INTO slice (ino, chunk, pos, id, size, off, len) " \
    "SELECT u.ino, t.c, t.p, t.i, t.s, t.o, t.l FROM u, " \
    "unnest($5::bigint[], $6::int[], $7::bigint[], $8::int[], $9::int[], $10::int[]) " \
    "WITH ORDINALITY AS t (c, p, i, s, o, l, k) ORDER BY t.k) " \
    "SELECT * FROM u"

const struct meta_stmt meta_stmts[MS_COUNT] = {
    [MS_VERSION] = { "shimfs_version", "SELECT max(version) FROM schema_version" },
    [MS_SETTINGS] = { "shimfs_settings",
        "SELECT name, value FROM settings "
        "UNION ALL SELECT 'schema_version', max(version)::text FROM schema_version" },
    [MS_STATS] = { "shimfs_stats",
        "SELECT count(*), count(*) FILTER (WHERE " IS_REG("mode") "), "
        "count(*) FILTER (WHERE " IS_DIR("mode") "), count(*) FILTER (WHERE " IS_LNK("mode") "), "
        "coalesce(sum(size) FILTER (WHERE " IS_REG("mode") "), 0)::bigint, "
        "(SELECT count(*) FROM slice), (SELECT count(*) FROM session) FROM inode" },

    /* ---- reads ---- */
    [MS_GETATTR] = { "shimfs_getattr", "SELECT " COLS " FROM inode n WHERE n.ino = $1" },
    [MS_LOOKUP] = { "shimfs_lookup",
        "SELECT " COLS " FROM entry e JOIN inode n ON n.ino = e.ino "
        "WHERE e.parent = $1 AND e.name = $2" },
    [MS_WALK] = { "shimfs_walk", "SELECT " COLS " FROM shimfs_walk($1, $2::bytea[]) n" },
    /* One row even for an empty directory (NULL entry columns), none for
     * a missing one: the directory's own mode answers -ENOTDIR. */
    [MS_READDIR] = { "shimfs_readdir",
        "SELECT d.mode, x.* FROM inode d LEFT JOIN LATERAL ("
        "SELECT e.name, " COLS " FROM entry e JOIN inode n ON n.ino = e.ino "
        "WHERE e.parent = d.ino AND e.name > $2 ORDER BY e.name LIMIT $3) x ON true "
        "WHERE d.ino = $1 ORDER BY x.name" },
    [MS_READLINK] = { "shimfs_readlink",
        "SELECT n.mode, s.target FROM inode n LEFT JOIN symlink s ON s.ino = n.ino WHERE n.ino = $1" },
    [MS_CHUNKS] = { "shimfs_chunks",
        /* the inode's size and mtime come from the same snapshot as its
         * slices, so a caller can tell which version of the file they map;
         * no row at all: the inode is gone */
        "SELECT s.chunk, s.pos, s.id, s.size, s.off, s.len, n.size, n.mtime, n.ctime "
        "FROM inode n LEFT JOIN slice s ON s.ino = n.ino AND s.chunk >= $2 AND s.chunk < $3 "
        "WHERE n.ino = $1 ORDER BY s.chunk, s.seq" },
    [MS_GETXATTR] = { "shimfs_getxattr",
        "SELECT x.value FROM inode n LEFT JOIN xattr x ON x.ino = n.ino AND x.name = $2 "
        "WHERE n.ino = $1" },
    [MS_XATTR_ANY] = { "shimfs_xattr_any",
        "SELECT EXISTS (SELECT 1 FROM xattr)" },
    [MS_LISTXATTR] = { "shimfs_listxattr",
        "SELECT x.name FROM inode n LEFT JOIN xattr x ON x.ino = n.ino WHERE n.ino = $1 "
        "ORDER BY x.name" },

    /* ---- locking ---- */
    [MS_NEXT_IDS] = { "shimfs_next_ids", "SELECT shimfs_next_ids($1, $2)" },
    /* ORDER BY is applied before the locks: rows lock in ascending ino. */
    [MS_LOCK] = { "shimfs_lock",
        "SELECT " COLS " FROM inode n WHERE n.ino = ANY ($1::bigint[] "
        "|| ARRAY(SELECT e.ino FROM entry e WHERE e.parent = $2 AND e.name = $3) "
        "|| ARRAY(SELECT e.ino FROM entry e WHERE e.parent = $4 AND e.name = $5)) "
        "ORDER BY n.ino FOR UPDATE" },
    /* "has children" as the first child in key order, not EXISTS: with a
     * few large folders the planner expects any parent to have thousands
     * of entries and answered EXISTS with a sequential scan of the whole
     * entry table (every rename and unlink of the volume read all of it) */
#define HAS_CHILD(x) "(SELECT c.name FROM entry c WHERE c.parent = " x " " \
    "ORDER BY c.parent, c.name LIMIT 1) IS NOT NULL"
    [MS_ENTRIES] = { "shimfs_entries",
        "SELECT 0, e.ino, " HAS_CHILD("e.ino") " "
        "FROM entry e WHERE e.parent = $1 AND e.name = $2 UNION ALL "
        "SELECT 1, e.ino, " HAS_CHILD("e.ino") " "
        "FROM entry e WHERE e.parent = $3 AND e.name = $4" },

    /* ---- namespace changes ---- */
    [MS_CREATE] = { "shimfs_create",
        "WITH i AS (INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev) "
        "VALUES (shimfs_next_ids(1, 1), $3, $4, $5, $6, $7, $8, $9, $10, $1::bigint, $11) RETURNING *), "
        "e AS (INSERT INTO entry (parent, name, ino) SELECT $1::bigint, $2::bytea, i.ino FROM i), "
        "l AS (INSERT INTO symlink (ino, target) SELECT i.ino, $12::bytea FROM i WHERE $12::bytea IS NOT NULL), "
        "p AS (UPDATE inode SET nlink = nlink + $13::int, mtime = $14::bigint, ctime = $14::bigint "
        "WHERE ino = $1::bigint) "
        "SELECT " COLS " FROM i n" },
    /* open(O_CREAT): a regular file at $1/$2 unless the name exists, in
     * one statement without MS_LOCK. The parent's row is locked by its
     * UPDATE, which runs only when the name was absent from the
     * statement's snapshot; a name committed by another client while it
     * waited for that lock makes the entry's INSERT a unique violation
     * (rerun: the rerun's snapshot has it). The last column says what a
     * row is: 0 the new file, 1 the file already at the name (nothing
     * written, no lock taken), 2 the parent, when neither (why nothing
     * was created), 3 the parent as the create left it (its new times:
     * the commit hook marks the folder listing it, meta_changes.c). */
    [MS_CREATE_OPEN] = { "shimfs_create_open",
        "WITH x AS (SELECT " COLS " FROM entry e JOIN inode n ON n.ino = e.ino "
        "WHERE e.parent = $1::bigint AND e.name = $2::bytea), "
        "p AS (UPDATE inode d SET mtime = $6::bigint, ctime = $6::bigint WHERE d.ino = $1::bigint "
        "AND " IS_DIR("d.mode") " AND d.nlink > 0 AND NOT EXISTS (SELECT 1 FROM x) RETURNING d.*), "
        "i AS (INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev) "
        "SELECT shimfs_next_ids(1, 1), $3::int, $4::bigint, $5::bigint, 1, 0, $6::bigint, $6::bigint, "
        "$6::bigint, p.ino, 0 FROM p RETURNING *), "
        "e AS (INSERT INTO entry (parent, name, ino) SELECT $1::bigint, $2::bytea, i.ino FROM i) "
        "SELECT " COLS ", 0 FROM i n UNION ALL SELECT " COLS ", 3 FROM p n UNION ALL SELECT x.*, 1 FROM x "
        "UNION ALL SELECT " COLS ", 2 FROM inode n WHERE n.ino = $1::bigint "
        "AND NOT EXISTS (SELECT 1 FROM x) AND NOT EXISTS (SELECT 1 FROM i)" },
    /* After a data commit, in its transaction: how many slices the file
     * has, counted up to $2 (its own: a later statement sees every commit
     * the write's row lock waited for). Equal to the commit's own number:
     * its map is exactly what it wrote (meta_write_inline, META_WRITE_SOLE). */
    [MS_SLICES_SOLE] = { "shimfs_slices_sole",
        "SELECT count(*) FROM (SELECT 1 FROM slice WHERE ino = $1::bigint LIMIT $2::bigint) s" },
    [MS_LINK] = { "shimfs_link",
        "WITH e AS (INSERT INTO entry (parent, name, ino) VALUES ($2::bigint, $3::bytea, $1::bigint)), "
        "p AS (UPDATE inode SET mtime = $4::bigint, ctime = $4::bigint WHERE ino = $2::bigint) "
        "UPDATE inode n SET nlink = n.nlink + 1, ctime = $4::bigint WHERE n.ino = $1::bigint "
        "RETURNING " COLS },
    [MS_ENTRY_DEL] = { "shimfs_entry_del", "DELETE FROM entry WHERE parent = $1 AND name = $2" },
    [MS_ENTRY_MOVE] = { "shimfs_entry_move",
        "UPDATE entry SET parent = $3, name = $4 WHERE parent = $1 AND name = $2" },
    [MS_ENTRY_SET] = { "shimfs_entry_set",
        "UPDATE entry SET ino = $3 WHERE parent = $1 AND name = $2" },
    [MS_DIR_TOUCH] = { "shimfs_dir_touch",
        "UPDATE inode SET nlink = nlink + $2::int, mtime = $3::bigint, ctime = $3::bigint WHERE ino = $1" },
    /* An orphan made here is owned by the caller's session $5 (0: none). */
    [MS_NLINK_SET] = { "shimfs_nlink_set",
        "WITH u AS (UPDATE inode n SET nlink = $2::int, orphan = $3::boolean, ctime = $4::bigint "
        "WHERE n.ino = $1::bigint RETURNING " COLS "), "
        "w AS (INSERT INTO orphan_owner (ino, sid) SELECT u.ino, $5::bigint FROM u "
        "WHERE $3::boolean AND $5::bigint <> 0 ON CONFLICT DO NOTHING) "
        "SELECT * FROM u" },
    [MS_INODE_MOVED] = { "shimfs_inode_moved",
        "UPDATE inode SET parent = $2, ctime = $3 WHERE ino = $1" },
    /* Deletes an inode (an orphan, or any when $2) with everything it owns. */
    [MS_DROP] = { "shimfs_drop",
        "WITH i AS (DELETE FROM inode WHERE ino = $1::bigint AND (orphan OR $2::boolean) RETURNING ino), "
        "d AS (DELETE FROM slice WHERE ino IN (SELECT ino FROM i) RETURNING id, size), "
        "g AS (" GARBAGE_FROM_D("$3", "s.ino <> $1::bigint") "), "
        "x AS (DELETE FROM xattr WHERE ino IN (SELECT ino FROM i)), "
        "l AS (DELETE FROM symlink WHERE ino IN (SELECT ino FROM i)) "
        "SELECT count(*) FROM i" },
    /* meta_unlink_guess's check, after its lock and before its changes, in
     * one implicit transaction: the name is still the guessed non-directory
     * with the guessed link count, in a live directory. Fails the
     * transaction with division_by_zero (SQLSTATE 22012, nothing but these
     * checks divides) when not: the caller reruns it the long way. */
    [MS_UNLINK_CHECK] = { "shimfs_unlink_check",
        "SELECT 1 / count(*)::int FROM entry e JOIN inode n ON n.ino = e.ino "
        "JOIN inode p ON p.ino = e.parent WHERE e.parent = $1::bigint AND e.name = $2::bytea "
        "AND e.ino = $3::bigint AND n.nlink = $4::int AND NOT " IS_DIR("n.mode") " AND "
        IS_DIR("p.mode") " AND p.nlink > 0" },
    /* meta_rename_guess's check, as MS_UNLINK_CHECK: the source name is
     * still the guessed non-directory ($3, $4 links), the target name the
     * guessed non-directory ($7, $8 links) or, $7 NULL, free, and both
     * parents live directories. */
    [MS_RENAME_CHECK] = { "shimfs_rename_check",
        "SELECT 1 / CASE WHEN EXISTS (SELECT 1 FROM entry e JOIN inode n ON n.ino = e.ino "
        "WHERE e.parent = $1::bigint AND e.name = $2::bytea AND e.ino = $3::bigint "
        "AND n.nlink = $4::int AND NOT " IS_DIR("n.mode") ") "
        "AND (SELECT count(*) FROM inode p WHERE p.ino IN ($1::bigint, $5::bigint) AND "
        IS_DIR("p.mode") " AND p.nlink > 0) = CASE WHEN $1::bigint = $5::bigint THEN 1 ELSE 2 END "
        "AND CASE WHEN $7::bigint IS NULL THEN NOT EXISTS (SELECT 1 FROM entry e "
        "WHERE e.parent = $5::bigint AND e.name = $6::bytea) "
        "ELSE EXISTS (SELECT 1 FROM entry e JOIN inode n ON n.ino = e.ino "
        "WHERE e.parent = $5::bigint AND e.name = $6::bytea AND e.ino = $7::bigint "
        "AND n.nlink = $8::int AND NOT " IS_DIR("n.mode") ") END THEN 1 ELSE 0 END" },
    /* Serializes directory moves between parents, as the kernel's
     * s_vfs_rename_mutex does, so two moves cannot build a cycle. */
    [MS_RENAME_LOCK] = { "shimfs_rename_lock",
        "SELECT 1 FROM pg_advisory_xact_lock(1936287085, 3)" },
    /* Is $2 among $1 and its ancestors? */
    [MS_ANCESTOR] = { "shimfs_ancestor",
        "WITH RECURSIVE up (ino, depth) AS (SELECT $1::bigint, 0 UNION ALL "
        "SELECT i.parent, up.depth + 1 FROM up JOIN inode i ON i.ino = up.ino "
        "WHERE up.ino <> 1 AND up.depth < 100000) "
        "SELECT EXISTS (SELECT 1 FROM up WHERE ino = $2::bigint)" },

    /* ---- attributes and data ---- */
    [MS_SETATTR] = { "shimfs_setattr",
        "UPDATE inode n SET mode = $2, uid = $3, gid = $4, size = $5, atime = $6, mtime = $7, "
        "ctime = $8 WHERE n.ino = $1 RETURNING " COLS },
    /* chmod, chown, utimens without a size: one statement, no lock step
     * (its UPDATE takes the row lock); a NULL parameter keeps that field,
     * the type bits of the mode always stay, and a mode goes in only while
     * the permission bits are $8 (NULL: always). $9 (NULL: none): only if
     * ctime is that (after a data commit in its transaction: only if that
     * commit wrote the row). No row: no such inode. */
    [MS_SETATTR_SOME] = { "shimfs_setattr_some",
        "UPDATE inode n SET mode = CASE WHEN $2::int IS NULL OR (n.mode & 4095) <> "
        "coalesce($8::int, n.mode & 4095) THEN n.mode "
        "ELSE (n.mode & 61440) | $2::int END, uid = coalesce($3::bigint, n.uid), "
        "gid = coalesce($4::bigint, n.gid), atime = coalesce($5::bigint, n.atime), "
        "mtime = coalesce($6::bigint, n.mtime), ctime = $7::bigint "
        "WHERE n.ino = $1::bigint AND n.ctime = coalesce($9::bigint, n.ctime) RETURNING " COLS },
    [MS_TRUNC_DROP] = { "shimfs_trunc_drop",
        "WITH d AS (DELETE FROM slice WHERE ino = $1::bigint AND " TRUNC_BEYOND("") " RETURNING id, size) "
        GARBAGE_FROM_D("$4", "NOT (s.ino = $1::bigint AND " TRUNC_BEYOND("s.") ")") },
    [MS_TRUNC_TRIM] = { "shimfs_trunc_trim",
        "UPDATE slice SET len = $3::int - pos "
        "WHERE ino = $1 AND chunk = $2 AND pos < $3::int AND pos + len > $3::int" },
    /* A write session's commit in one statement: the UPDATE locks the
     * inode, then the slices go in (seq in array order). Nothing matches
     * when the fence ($11) finds an id no live session holds: gc may have
     * deleted its objects. */
    [MS_WRITE] = { "shimfs_write", WRITE_SQL("") },
    /* The same carrying one inline block ($12 its id, $13 its frame),
     * stored only if the inode row was updated (schema 4; MS_WRITE never
     * names the table, so volumes not yet upgraded keep writing). */
    [MS_WRITE_INLINE] = { "shimfs_write_inline",
        WRITE_SQL("b AS (INSERT INTO inline_block (id, data) SELECT $12::bigint, $13::bytea FROM u), ") },
    /* Appends placed at commit: the UPDATE locks the inode and reads its
     * size L as committed (a concurrent appender's commit is waited for
     * and seen); piece k (relative offset r) lands at L + r, cut at chunk
     * boundaries (one uploaded slice may serve two chunks through off).
     * $2 is the total appended; L = the returned size - $2. Fenced as
     * MS_WRITE ($9: the handle has had a session). */
    [MS_APPEND] = { "shimfs_append",
        "WITH " FENCE_CTES("$5") "u AS (UPDATE inode n SET size = n.size + $2::bigint, "
        "mtime = $3::bigint, ctime = $3::bigint WHERE n.ino = $1::bigint AND " IS_REG("n.mode")
        " AND " FENCE_OK("$9") " RETURNING " COLS "), "
        "t AS (SELECT u.ino, u.size - $2::bigint + t.r AS b0, t.i, t.s, t.o, t.l, t.k FROM u, "
        "unnest($4::bigint[], $5::bigint[], $6::int[], $7::int[], $8::int[]) "
        "WITH ORDINALITY AS t (r, i, s, o, l, k) WHERE t.l > 0), "
        "x AS (SELECT t.*, c.c, greatest(t.b0, c.c << " CHUNK_SHIFT ") AS a, "
        "least(t.b0 + t.l, (c.c + 1) << " CHUNK_SHIFT ") AS e FROM t, "
        "generate_series(t.b0 >> " CHUNK_SHIFT ", (t.b0 + t.l - 1) >> " CHUNK_SHIFT ") AS c (c)), "
        "w AS (INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
        "SELECT x.ino, x.c, x.a - (x.c << " CHUNK_SHIFT "), x.i, x.s, x.o + (x.a - x.b0), x.e - x.a "
        "FROM x ORDER BY x.k, x.c) "
        "SELECT * FROM u" },
    /* Compaction's check, under the inode lock: is the chunk's list still
     * exactly $3 ("pos,id,size,off,len" per record, ';' between, oldest
     * first), and does the fence ($5) hold for the new ids $4? */
    [MS_CHUNK_SIG] = { "shimfs_chunk_sig",
        "WITH " FENCE_CTES("$4") "c AS (SELECT 1) "
        "SELECT coalesce((SELECT string_agg(concat_ws(',', pos, id, size, off, len), ';' "
        "ORDER BY seq) FROM slice WHERE ino = $1::bigint AND chunk = $2::bigint), '') = $3::text, "
        FENCE_OK("$5") " FROM c" },
    /* The fence alone, outside a transaction: why a commit matched nothing.
     * An id no live session holds never becomes held again. */
    [MS_FENCE] = { "shimfs_fence",
        "WITH " FENCE_CTES("$1") "c AS (SELECT 1) SELECT " FENCE_OK("true") " FROM c" },
    [MS_COMPACT_DEL] = { "shimfs_compact_del",
        "WITH t AS (UPDATE inode SET ctime = $3::bigint WHERE ino = $1::bigint), "
        "d AS (DELETE FROM slice WHERE ino = $1::bigint AND chunk = $2::bigint "
        "RETURNING id, size) "
        GARBAGE_FROM_D("$3", "NOT (s.ino = $1::bigint AND s.chunk = $2::bigint)")
        " AND d.id <> ALL ($4::bigint[])" },
    [MS_SLICES_ADD] = { "shimfs_slices_add",
        "INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
        "SELECT $1::bigint, t.c, t.p, t.i, t.s, t.o, t.l FROM "
        "unnest($2::bigint[], $3::int[], $4::bigint[], $5::int[], $6::int[], $7::int[]) "
        "WITH ORDINALITY AS t (c, p, i, s, o, l, k) ORDER BY t.k" },

    /* ---- xattrs: lock the inode, change, touch ctime only on success ---- */
    [MS_XATTR_SET] = { "shimfs_xattr_set",
        "WITH n AS (SELECT ino FROM inode WHERE ino = $1::bigint FOR UPDATE), "
        "w AS (INSERT INTO xattr (ino, name, value) SELECT n.ino, $2::bytea, $3::bytea FROM n "
        "ON CONFLICT (ino, name) DO UPDATE SET value = EXCLUDED.value RETURNING ino), "
        "t AS (UPDATE inode SET ctime = $4::bigint WHERE ino IN (SELECT ino FROM w)) "
        "SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM w)" },
    [MS_XATTR_CREATE] = { "shimfs_xattr_create",
        "WITH n AS (SELECT ino FROM inode WHERE ino = $1::bigint FOR UPDATE), "
        "w AS (INSERT INTO xattr (ino, name, value) SELECT n.ino, $2::bytea, $3::bytea FROM n "
        "ON CONFLICT (ino, name) DO NOTHING RETURNING ino), "
        "t AS (UPDATE inode SET ctime = $4::bigint WHERE ino IN (SELECT ino FROM w)) "
        "SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM w)" },
    [MS_XATTR_REPLACE] = { "shimfs_xattr_replace",
        "WITH n AS (SELECT ino FROM inode WHERE ino = $1::bigint FOR UPDATE), "
        "w AS (UPDATE xattr x SET value = $3::bytea FROM n WHERE x.ino = n.ino AND x.name = $2::bytea "
        "RETURNING x.ino), "
        "t AS (UPDATE inode SET ctime = $4::bigint WHERE ino IN (SELECT ino FROM w)) "
        "SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM w)" },
    [MS_XATTR_REMOVE] = { "shimfs_xattr_remove",
        "WITH n AS (SELECT ino FROM inode WHERE ino = $1::bigint FOR UPDATE), "
        "w AS (DELETE FROM xattr x USING n WHERE x.ino = n.ino AND x.name = $2::bytea RETURNING x.ino), "
        "t AS (UPDATE inode SET ctime = $3::bigint WHERE ino IN (SELECT ino FROM w)) "
        "SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM w)" },

    /* ---- maintenance ---- */
    [MS_LIST_SLICES] = { "shimfs_list_slices",
        "SELECT id, max(size) FROM slice WHERE id > $1 GROUP BY id ORDER BY id LIMIT $2" },
    [MS_SESSION_OPEN] = { "shimfs_session_open",
        "INSERT INTO session (host, pid, started, heartbeat, timeout) "
        "VALUES ($1, $2, " DB_NOW_NS ", " DB_NOW_NS ", $3) RETURNING sid" },
    [MS_SESSION_CLOSE] = { "shimfs_session_close",
        "WITH r AS (DELETE FROM reservation WHERE sid = $1::bigint) "
        "DELETE FROM session WHERE sid = $1::bigint" },
    [MS_EXISTS] = { "shimfs_exists",
        "SELECT to_regclass('schema_version') IS NOT NULL OR to_regclass('inode') IS NOT NULL" },
    [MS_ROOT] = { "shimfs_root",
        "INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev) "
        "VALUES (1, $1, $2, $3, 2, 0, $4, $4, $4, 1, 0)" },
    [MS_SETTING_PUT] = { "shimfs_setting_put", "INSERT INTO settings (name, value) VALUES ($1, $2)" },

    /* Goes before MS_DIR_SLICES, for the rest of the batch's (implicit)
     * transaction: its plan of many index probes costs enough to be
     * JIT-compiled, which takes longer (about 15 ms) than running it, and a
     * Memoize node there never hits (each inode comes once) but costs 20%. */
    [MS_DIR_SLICES_PLAN] = { "shimfs_dir_slices_plan",
        "SELECT set_config('jit', 'off', true), set_config('enable_memoize', 'off', true), "
        CHANGE_TOKEN },  /* the answer's change token, asked before it */
    /* ---- a directory's files with their block maps: a keyset page of
     * entries, each joined to its inode and its slices by index probes (the
     * OFFSET 0 fences keep the planner from hashing whole tables when it
     * overestimates a directory); slice rows follow their file, oldest
     * first per chunk ---- */
    [MS_DIR_SLICES] = { "shimfs_dir_slices",
        "SELECT d.mode, x.name, x.ino, x.mode, x.uid, x.gid, x.nlink, x.fsize, x.atime, x.mtime, "
        "x.ctime, x.parent, x.rdev, x.chunk, x.pos, x.id, x.ssize, x.off, x.len "
        "FROM inode d LEFT JOIN LATERAL ("
        "SELECT e.name, n.ino, n.mode, n.uid, n.gid, n.nlink, n.size AS fsize, n.atime, n.mtime, "
        "n.ctime, n.parent, n.rdev, s.chunk, s.seq, s.pos, s.id, s.size AS ssize, s.off, s.len "
        "FROM (SELECT name, ino FROM entry WHERE parent = d.ino AND name > $2 ORDER BY name LIMIT $3) e "
        "LEFT JOIN LATERAL (SELECT * FROM inode i WHERE i.ino = e.ino OFFSET 0) n ON true "
        "LEFT JOIN LATERAL (SELECT * FROM slice t WHERE t.ino = n.ino OFFSET 0) s ON true) x ON true "
        "WHERE d.ino = $1 ORDER BY x.name, x.chunk, x.seq" },

    /* ---- sessions and the orphans they keep open ---- */
    [MS_SESSION_HEARTBEAT] = { "shimfs_session_heartbeat",
        "UPDATE session SET heartbeat = " DB_NOW_NS " WHERE sid = $1" },
    /* Slice ids for session $1, recorded with it in the same statement (a
     * heartbeat too); no row when the session is gone. */
    [MS_RESERVE] = { "shimfs_reserve",
        "WITH s AS (UPDATE session SET heartbeat = " DB_NOW_NS " WHERE sid = $1::bigint RETURNING sid), "
        "f AS (SELECT shimfs_next_ids(2, $2::bigint) AS first FROM s), "
        "r AS (INSERT INTO reservation (first, n, sid) SELECT f.first, $2::int, $1::bigint FROM f) "
        "SELECT first FROM f" },
    /* $1 < 0: every existing session's; else the live ones' ($1 as reap's). */
    [MS_LIST_RESERVATIONS] = { "shimfs_list_reservations",
        "SELECT r.first, r.n FROM reservation r WHERE r.first > $2 "
        "AND EXISTS (SELECT 1 FROM session t WHERE t.sid = r.sid AND ($1::bigint < 0 OR "
        SESSION_LIVE("t") ")) ORDER BY r.first LIMIT $3" },
    /* Upgraders queue here, then read the version again (a statement of
     * its own: its snapshot is taken after the lock is held). */
    [MS_UPGRADE_LOCK] = { "shimfs_upgrade_lock",
        "SELECT pg_advisory_xact_lock(1936287085, 4)" },
    [MS_ORPHAN_OWN] = { "shimfs_orphan_own",
        "WITH o AS (SELECT n.ino, t.sid FROM inode n, session t "
        "WHERE n.ino = $1::bigint AND n.orphan AND t.sid = $2::bigint), "
        "w AS (INSERT INTO orphan_owner (ino, sid) SELECT ino, sid FROM o ON CONFLICT DO NOTHING) "
        "SELECT count(*) FROM o" },
    /* Sessions silent past their timeout and the minimum $1 go, with
     * their reservations (and any left by a session gone otherwise);
     * orphans no live session owns go if someone owned them (a dead or
     * closed session) or they were orphaned before the cutoff $3; owner
     * rows of gone sessions, gone inodes or revived orphans go too.
     * Victims lock in ascending ino order before they are deleted. */
    [MS_SESSION_REAP] = { "shimfs_session_reap",
        "WITH s AS (DELETE FROM session t WHERE NOT " SESSION_LIVE("t") " RETURNING sid), "
        "rs AS (DELETE FROM reservation r WHERE r.sid IN (SELECT sid FROM s) "
        "OR NOT EXISTS (SELECT 1 FROM session t WHERE t.sid = r.sid)), "
        "v AS (SELECT n.ino FROM inode n WHERE n.orphan "
        "AND NOT EXISTS (SELECT 1 FROM orphan_owner w JOIN session t ON t.sid = w.sid "
        "WHERE w.ino = n.ino AND " SESSION_LIVE("t") ") "
        "AND (n.ctime < $3::bigint OR EXISTS (SELECT 1 FROM orphan_owner w WHERE w.ino = n.ino)) "
        "ORDER BY n.ino FOR UPDATE), "
        "i AS (DELETE FROM inode n USING v WHERE n.ino = v.ino RETURNING n.ino), "
        "d AS (DELETE FROM slice x USING i WHERE x.ino = i.ino "
        "RETURNING x.ino, x.chunk, x.seq, x.id, x.size), "
        "g AS (" GARBAGE_FROM_DK("$2") "), "
        "xa AS (DELETE FROM xattr x USING i WHERE x.ino = i.ino), "
        "sl AS (DELETE FROM symlink x USING i WHERE x.ino = i.ino), "
        "o AS (DELETE FROM orphan_owner w WHERE w.sid IN (SELECT sid FROM s) "
        "OR w.ino IN (SELECT ino FROM i) "
        "OR NOT EXISTS (SELECT 1 FROM session t WHERE t.sid = w.sid) "
        "OR NOT EXISTS (SELECT 1 FROM inode n WHERE n.ino = w.ino AND n.orphan)) "
        "SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM i)" },

    /* ---- gc ---- */
    [MS_LIST_GARBAGE] = { "shimfs_list_garbage",
        "SELECT g.id, max(g.size), max(g.released) FROM garbage g WHERE g.id > $1 "
        "AND NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = g.id) "
        "GROUP BY g.id ORDER BY g.id LIMIT $2" },
    [MS_FORGET_GARBAGE] = { "shimfs_forget_garbage",
        "WITH d AS (DELETE FROM garbage g WHERE g.id = ANY ($1::bigint[]) "
        "AND NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = g.id) RETURNING g.id) "
        "SELECT count(DISTINCT id) FROM d" },
    /* The same for a volume with inline blocks (schema 4): a forgotten
     * inline id's row goes in the same statement. */
    [MS_FORGET_GARBAGE_INLINE] = { "shimfs_forget_garbage_inline",
        "WITH d AS (DELETE FROM garbage g WHERE g.id = ANY ($1::bigint[]) "
        "AND NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = g.id) RETURNING g.id), "
        "b AS (DELETE FROM inline_block b WHERE b.id IN (SELECT id FROM d)) "
        "SELECT count(DISTINCT id) FROM d" },
    /* This transaction's commit returns before its WAL is on disk (the
     * next synchronous commit on the server flushes it too). */
    [MS_ASYNC_COMMIT] = { "shimfs_async_commit",
        "SELECT set_config('synchronous_commit', 'off', true)" },
    /* A transaction that wrote WAL commits synchronously: when it returns,
     * the WAL up to its commit, every earlier commit included, is on disk.
     * A transactional logical message is the smallest such write (any
     * wal_level, no table, no lock); an xid alone (pg_current_xact_id) is
     * committed without a flush. */
    [MS_WAL_FLUSH] = { "shimfs_wal_flush",
        "SELECT pg_logical_emit_message(true, 'shimfs', '')::text" },
    /* ---- inline blocks (schema 4) ---- */
    [MS_INLINE_GET] = { "shimfs_inline_get", "SELECT data FROM inline_block WHERE id = $1::bigint" },
    [MS_LIST_INLINE] = { "shimfs_list_inline",
        "SELECT id, length(data) FROM inline_block WHERE id > $1 ORDER BY id LIMIT $2" },
    [MS_SLICE_REFERENCED] = { "shimfs_slice_referenced",
        "SELECT EXISTS (SELECT 1 FROM slice WHERE id = $1)" },
    /* Repairs run at this level: a row changed after their snapshot is a
     * serialization failure (rerun), never a count written from old data. */
    [MS_TX_REPEATABLE] = { "shimfs_tx_repeatable",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ" },

    /* ---- fsck checks ---- */
    [MS_FSCK_DANGLING] = { "shimfs_fsck_dangling",
        "SELECT e.parent, e.ino, (SELECT count(*) FROM inode n WHERE n.ino = e.ino), "
        "(SELECT min(p.mode) FROM inode p WHERE p.ino = e.parent), e.name, " FSCK_TOTAL " "
        "FROM entry e WHERE " DANGLING("e") " ORDER BY e.parent, e.name LIMIT $1" },
    [MS_FSCK_LOST] = { "shimfs_fsck_lost",
        "SELECT n.ino, n.mode, n.nlink, n.size, NULL::bytea, " FSCK_TOTAL " "
        "FROM inode n WHERE " LOST("n") " ORDER BY n.ino LIMIT $1" },
    [MS_FSCK_DIR_PARENT] = { "shimfs_fsck_dir_parent",
        "SELECT n.ino, n.parent, e.parent, 0, e.name, " FSCK_TOTAL " "
        "FROM inode n, entry e WHERE " DIR_PARENT_BAD " ORDER BY n.ino, e.parent, e.name LIMIT $1" },
    [MS_FSCK_NLINK] = { "shimfs_fsck_nlink",
        "WITH " NLINK_WANT "SELECT w.ino, w.mode, w.nlink, w.want, NULL::bytea, " FSCK_TOTAL " "
        "FROM w WHERE " NLINK_BAD " ORDER BY w.ino LIMIT $1" },
    [MS_FSCK_ORPHANS] = { "shimfs_fsck_orphans",
        "SELECT n.ino, n.size, n.ctime, 0, NULL::bytea, " FSCK_TOTAL " FROM inode n WHERE n.orphan "
        "AND NOT EXISTS (SELECT 1 FROM orphan_owner w JOIN session t ON t.sid = w.sid "
        "WHERE w.ino = n.ino) ORDER BY n.ino LIMIT $1" },
    [MS_FSCK_SLICES_MISSING] = { "shimfs_fsck_slices_missing",
        "SELECT x.ino, x.chunk, x.id, x.len, NULL::bytea, " FSCK_TOTAL " FROM slice x "
        "WHERE " SLICE_MISSING("x") " ORDER BY x.ino, x.chunk, x.seq LIMIT $1" },
    [MS_FSCK_SIZES] = { "shimfs_fsck_sizes",
        "SELECT x.ino, " SLICE_END("x") ", n.size, x.id, NULL::bytea, " FSCK_TOTAL " "
        "FROM slice x JOIN inode n ON n.ino = x.ino WHERE " SLICE_END("x") " > n.size "
        "ORDER BY x.ino, x.chunk, x.seq LIMIT $1" },

    /* ---- fsck repairs: each returns how many rows it fixed ---- */
    [MS_FIX_DANGLING] = { "shimfs_fix_dangling",
        "WITH d AS (DELETE FROM entry x WHERE " DANGLING("x") " RETURNING 1) SELECT count(*) FROM d" },
    /* $1 is /lost+found, $2 now. */
    [MS_FIX_LOST] = { "shimfs_fix_lost",
        "WITH l AS (UPDATE inode n SET parent = CASE WHEN " IS_DIR("n.mode") " THEN $1::bigint "
        "ELSE n.parent END, ctime = $2::bigint WHERE " LOST("n") " AND n.ino <> $1::bigint "
        "RETURNING n.ino), "
        "k AS (INSERT INTO entry (parent, name, ino) SELECT $1::bigint, "
        "convert_to('#' || l.ino, 'UTF8'), l.ino FROM l ON CONFLICT DO NOTHING RETURNING ino), "
        "p AS (UPDATE inode SET mtime = $2::bigint, ctime = $2::bigint "
        "WHERE ino = $1::bigint AND EXISTS (SELECT 1 FROM k)) "
        "SELECT count(*) FROM k" },
    [MS_FIX_DIR_PARENT] = { "shimfs_fix_dir_parent",
        "WITH u AS (UPDATE inode n SET parent = e.parent FROM entry e WHERE " DIR_PARENT_BAD " "
        "RETURNING n.ino) SELECT count(*) FROM u" },
    [MS_FIX_NLINK] = { "shimfs_fix_nlink",
        "WITH " NLINK_WANT ", u AS (UPDATE inode n SET nlink = w.want, orphan = n.orphan AND w.want = 0 "
        "FROM w WHERE n.ino = w.ino AND " NLINK_BAD " RETURNING n.ino) SELECT count(*) FROM u" },
    [MS_FIX_SLICES_MISSING] = { "shimfs_fix_slices_missing",
        "WITH d AS (DELETE FROM slice x WHERE " SLICE_MISSING("x") " "
        "RETURNING x.ino, x.chunk, x.seq, x.id, x.size), "
        "g AS (" GARBAGE_FROM_DK("$1") ") SELECT count(*) FROM d" },
    /* Cut as a truncate to the current size would: records wholly past it
     * go (garbage if unused), the one across it is shortened. */
    [MS_FIX_SIZES] = { "shimfs_fix_sizes",
        "WITH d AS (DELETE FROM slice x USING inode n WHERE x.ino = n.ino AND "
        SLICE_END("x") " > n.size AND " SLICE_START("x") " >= n.size "
        "RETURNING x.ino, x.chunk, x.seq, x.id, x.size), "
        "t AS (UPDATE slice x SET len = n.size - " SLICE_START("x") " FROM inode n "
        "WHERE x.ino = n.ino AND " SLICE_END("x") " > n.size AND " SLICE_START("x") " < n.size "
        "RETURNING x.ino), "
        "g AS (" GARBAGE_FROM_DK("$1") ") "
        "SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM t)" },

    /* ---- the node agent's watch (meta_watch.c): the set of committed
     * transactions, as a cluster-wide snapshot (xmin:xmax:in-progress) ---- */
    [MS_CHANGE_TOKEN] = { "shimfs_change_token", "SELECT " CHANGE_TOKEN },
    /* ---- the change log (schema 3, meta_changes.c): one statement, so one
     * snapshot: its xmin (kind 0), the inode rows changed by transactions
     * with an id >= $1 (kind 1: ino, parent, mode, chg) and the directories
     * deleted by them (kind 2: ino, chg); at most $2 of each. $1 NULL: the
     * xmin alone. ---- */
    [MS_CHANGES] = { "shimfs_changes",
        "SELECT 0, pg_snapshot_xmin(pg_current_snapshot())::text::bigint, 0::bigint, 0, 0::bigint "
        "UNION ALL (SELECT 1, n.ino, n.parent, n.mode, n.chg::text::bigint FROM inode n "
        "WHERE n.chg >= $1::bigint::text::xid8 LIMIT $2) "
        "UNION ALL (SELECT 2, g.ino, 0, 0, g.chg::text::bigint FROM inode_gone g "
        "WHERE g.chg >= $1::bigint::text::xid8 LIMIT $2)" },
    /* The names of directory $1 changed by transactions with ids >= $2
     * (schema 5, meta_dir_changes): (1, name, inode row) for each name of
     * an inode written since (every name that appears or moves comes with
     * its inode's row), (2, name, NULLs) for each name removed or renamed
     * away since that no entry holds now; at most $3 of each kind. A
     * regular file's row comes once per slice of its block map (chunk,
     * pos, id, size, off, len; at most $4 of them, oldest first per chunk),
     * from the same snapshot as its attributes, so the node's copy of the
     * folder keeps the map of a file another node wrote. And (0, NULL,
     * inode row) of $1 itself: its new times go with its new names. */
    /* The folders holding a name of inode $1 (schema 5's entry_by_ino), at
     * most $2 (meta_name_parents). */
    [MS_NAME_PARENTS] = { "shimfs_name_parents",
        "SELECT parent FROM entry WHERE ino = $1::bigint LIMIT $2" },
    [MS_DIR_CHANGES] = { "shimfs_dir_changes",
        "SELECT u.k, u.name, u.ino, u.mode, u.uid, u.gid, u.nlink, u.size, u.atime, u.mtime, "
        "u.ctime, u.parent, u.rdev, s.chunk, s.pos, s.id, s.size, s.off, s.len FROM ("
        "(SELECT 0 AS k, NULL::bytea AS name, " COLS " FROM inode n WHERE n.ino = $1::bigint) "
        "UNION ALL (SELECT 1, e.name, " COLS " FROM inode n JOIN entry e ON e.ino = n.ino "
        "WHERE n.chg >= $2::bigint::text::xid8 AND e.parent = $1::bigint LIMIT $3) "
        "UNION ALL (SELECT 2, g.name, " COLS " FROM (SELECT DISTINCT y.name FROM entry_gone y "
        "WHERE y.parent = $1::bigint AND y.chg >= $2::bigint::text::xid8 AND NOT EXISTS "
        "(SELECT 1 FROM entry x WHERE x.parent = $1::bigint AND x.name = y.name) LIMIT $3) g "
        "LEFT JOIN inode n ON false)) u "
        "LEFT JOIN LATERAL (SELECT t.chunk, t.seq, t.pos, t.id, t.size, t.off, t.len FROM slice t "
        "WHERE t.ino = u.ino AND " IS_REG("u.mode") " ORDER BY t.chunk, t.seq LIMIT $4) s ON true "
        "ORDER BY u.k, u.name, s.chunk, s.seq" },

    /* ---- read routing (meta_route.c): WAL positions as bigint (binary
     * pg_lsn is 8 bytes). On the read server NULL means "not a standby":
     * it is current by definition. ---- */
    [MS_WAL_LSN] = { "shimfs_wal_lsn", "SELECT pg_current_wal_insert_lsn()" },
    [MS_REPLAY_LSN] = { "shimfs_replay_lsn",
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() END" },

    /* ---- batched import (meta_import.c): many new files and symlinks in
     * one statement, after MS_LOCK locked their parents in the same
     * implicit transaction. $1: per file {parent, mode, uid, gid, size,
     * atime, mtime} (n x 7), $2 names, $3 symlink targets (NULL: none),
     * $4: per slice {file (1-based), chunk, pos, id, size, off, len}
     * (m x 7), $5 now, $6 fence on. Inode ids come in one range; a name
     * already taken or a parent that is no live directory skips that file
     * only; nothing goes in unless every slice id passes the fence.
     * Answers (fence ok, the 1-based files not created as "k,k,...", the
     * first inode id: file k got first + k - 1). ---- */
    [MS_IMPORT] = { "shimfs_import",
        "WITH b AS (SELECT shimfs_next_ids(1, array_length($2::bytea[], 1)) AS first), "
        "f AS (SELECT u.k, ($1::bigint[])[u.k][1] AS parent, ($1::bigint[])[u.k][2]::int AS mode, "
        "($1::bigint[])[u.k][3] AS uid, ($1::bigint[])[u.k][4] AS gid, ($1::bigint[])[u.k][5] AS size, "
        "($1::bigint[])[u.k][6] AS atime, ($1::bigint[])[u.k][7] AS mtime, u.name, u.target "
        "FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS u (name, target, k)), "
        "sl AS (SELECT g.j, ($4::bigint[])[g.j][1] AS k, ($4::bigint[])[g.j][2] AS chunk, "
        "($4::bigint[])[g.j][3]::int AS pos, ($4::bigint[])[g.j][4] AS id, "
        "($4::bigint[])[g.j][5]::int AS size, ($4::bigint[])[g.j][6]::int AS off, "
        "($4::bigint[])[g.j][7]::int AS len "
        "FROM generate_series(1, coalesce(array_length($4::bigint[], 1), 0)) AS g (j)), "
        FENCE_CTES("(SELECT coalesce(array_agg(sl.id), '{}') FROM sl)")
        "fo AS (SELECT " FENCE_OK("$6") " AS ok), "
        "p AS (SELECT n.ino FROM inode n WHERE n.ino IN (SELECT f.parent FROM f) "
        "AND " IS_DIR("n.mode") " AND n.nlink > 0), "
        "e AS (INSERT INTO entry (parent, name, ino) SELECT f.parent, f.name, b.first + f.k - 1 "
        "FROM f, b, fo WHERE fo.ok AND f.parent IN (SELECT p.ino FROM p) ORDER BY f.k "
        "ON CONFLICT DO NOTHING RETURNING parent, ino), "
        "ef AS (SELECT e.ino, f.* FROM e, b, f WHERE f.k = e.ino - b.first + 1), "
        "i AS (INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev) "
        "SELECT ef.ino, ef.mode, ef.uid, ef.gid, 1, ef.size, ef.atime, ef.mtime, $5::bigint, "
        "ef.parent, 0 FROM ef), "
        "l AS (INSERT INTO symlink (ino, target) SELECT ef.ino, ef.target FROM ef "
        "WHERE ef.target IS NOT NULL), "
        "s AS (INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
        "SELECT ef.ino, sl.chunk, sl.pos, sl.id, sl.size, sl.off, sl.len "
        "FROM sl JOIN ef ON ef.k = sl.k ORDER BY sl.j), "
        "t AS (UPDATE inode n SET mtime = $5::bigint, ctime = $5::bigint "
        "WHERE n.ino IN (SELECT e.parent FROM e)) "
        "SELECT (SELECT fo.ok FROM fo), coalesce((SELECT string_agg(f.k::text, ',' ORDER BY f.k) "
        "FROM f WHERE f.k NOT IN (SELECT ef.k FROM ef)), ''), (SELECT b.first FROM b)" },
};

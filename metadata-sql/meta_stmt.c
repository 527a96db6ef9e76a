/* meta_stmt.c - every SQL statement the client runs, in one table.
 *
 * All are parameterized and prepared once per connection (lazily, in the
 * same round trip as their first use). Inode rows always come back as the
 * META_NCOLS columns of COLS so one decoder (meta_r_attr) reads them all.
 * Where a parameter's type cannot be inferred from a column it is cast.
 * Multi-statement changes rely on the caller holding row locks taken in
 * ascending ino order (MS_LOCK); single-statement changes lock by UPDATE.
 */
#include "meta_int.h"

#define COLS "n.ino, n.mode, n.uid, n.gid, n.nlink, n.size, n.atime, n.mtime, n.ctime, n.parent, n.rdev"
#define IS_DIR(col) "(" col " & 61440) = 16384"
#define IS_REG(col) "(" col " & 61440) = 32768"
#define IS_LNK(col) "(" col " & 61440) = 40960"

/* Slices deleted by CTE `d` become garbage unless some record not being
 * deleted (`keep`) still refers to the same id. */
#define GARBAGE_FROM_D(now, keep) \
    "INSERT INTO garbage (id, size, released) " \
    "SELECT DISTINCT d.id, d.size, " now "::bigint FROM d " \
    "WHERE d.id <> 0 AND NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = d.id AND " keep ")"

#define TRUNC_BEYOND(t) "(" t "chunk > $2 OR (" t "chunk = $2 AND " t "pos >= $3))"

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
        "SELECT chunk, pos, id, size, off, len FROM slice "
        "WHERE ino = $1 AND chunk >= $2 AND chunk < $3 ORDER BY chunk, seq" },
    [MS_GETXATTR] = { "shimfs_getxattr",
        "SELECT x.value FROM inode n LEFT JOIN xattr x ON x.ino = n.ino AND x.name = $2 "
        "WHERE n.ino = $1" },
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
    [MS_ENTRIES] = { "shimfs_entries",
        "SELECT 0, e.ino, EXISTS (SELECT 1 FROM entry c WHERE c.parent = e.ino) "
        "FROM entry e WHERE e.parent = $1 AND e.name = $2 UNION ALL "
        "SELECT 1, e.ino, EXISTS (SELECT 1 FROM entry c WHERE c.parent = e.ino) "
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
    [MS_NLINK_SET] = { "shimfs_nlink_set",
        "UPDATE inode n SET nlink = $2, orphan = $3, ctime = $4 WHERE n.ino = $1 RETURNING " COLS },
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
    [MS_TRUNC_DROP] = { "shimfs_trunc_drop",
        "WITH d AS (DELETE FROM slice WHERE ino = $1::bigint AND " TRUNC_BEYOND("") " RETURNING id, size) "
        GARBAGE_FROM_D("$4", "NOT (s.ino = $1::bigint AND " TRUNC_BEYOND("s.") ")") },
    [MS_TRUNC_TRIM] = { "shimfs_trunc_trim",
        "UPDATE slice SET len = $3::int - pos "
        "WHERE ino = $1 AND chunk = $2 AND pos < $3::int AND pos + len > $3::int" },
    /* A write session's commit in one statement: the UPDATE locks the
     * inode, then the slices go in (seq in array order). */
    [MS_WRITE] = { "shimfs_write",
        "WITH u AS (UPDATE inode n SET size = CASE WHEN $3::boolean THEN $2::bigint "
        "ELSE greatest(n.size, $2::bigint) END, mtime = $4::bigint, ctime = $4::bigint "
        "WHERE n.ino = $1::bigint AND " IS_REG("n.mode") " RETURNING " COLS "), "
        "s AS (INSERT INTO slice (ino, chunk, pos, id, size, off, len) "
        "SELECT u.ino, t.c, t.p, t.i, t.s, t.o, t.l FROM u, "
        "unnest($5::bigint[], $6::int[], $7::bigint[], $8::int[], $9::int[], $10::int[]) "
        "WITH ORDINALITY AS t (c, p, i, s, o, l, k) ORDER BY t.k) "
        "SELECT * FROM u" },
    [MS_CHUNK_COUNT] = { "shimfs_chunk_count",
        "SELECT count(*) FROM slice WHERE ino = $1 AND chunk = $2" },
    [MS_COMPACT_DEL] = { "shimfs_compact_del",
        "WITH d AS (DELETE FROM slice WHERE ino = $1::bigint AND chunk = $2::bigint "
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
        "INSERT INTO session (host, pid, started, heartbeat) VALUES ($1, $2, $3, $3) RETURNING sid" },
    [MS_SESSION_CLOSE] = { "shimfs_session_close", "DELETE FROM session WHERE sid = $1" },
    [MS_EXISTS] = { "shimfs_exists",
        "SELECT to_regclass('schema_version') IS NOT NULL OR to_regclass('inode') IS NOT NULL" },
    [MS_ROOT] = { "shimfs_root",
        "INSERT INTO inode (ino, mode, uid, gid, nlink, size, atime, mtime, ctime, parent, rdev) "
        "VALUES (1, $1, $2, $3, 2, 0, $4, $4, $4, 1, 0)" },
    [MS_SETTING_PUT] = { "shimfs_setting_put", "INSERT INTO settings (name, value) VALUES ($1, $2)" },
};

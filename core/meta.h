/* meta.h - the metadata engine's contract, declared by core/, implemented
 * by metadata-sql/ (PostgreSQL through libpq; the only code that speaks SQL).
 *
 * Namespace: inodes with full POSIX attributes (nanosecond times), entries
 * keyed by (parent, name) with names as raw bytes, per-(inode, chunk) slice
 * lists, symlink targets, xattrs, volume settings, client sessions, id
 * counters. The root directory is inode 1.
 *
 * Promises:
 *  - Every function returns 0 (or a count) or a negative errno, and logs one
 *    line for infrastructure failures (unreachable, auth, schema). Namespace
 *    answers (-ENOENT, -EEXIST, -ENOTEMPTY ...) are not logged.
 *  - -ECONNREFUSED / -EHOSTUNREACH: database unreachable; -ETIMEDOUT: no
 *    answer within the call's bound (meta_set_timeout). -EACCES: auth
 *    refused. -ENODEV: the database has no shimfs volume (not formatted).
 *    -EPROTO: schema newer than this client. -EIO: anything else.
 *  - Thread-safe; connects lazily on first use; a small pool of connections
 *    (SHIMFS_META_CONNS, default 2) each with its statements prepared once.
 *  - One transaction per namespace change, rows locked in a fixed order
 *    (inode ids ascending), serialization failures and deadlocks retried a
 *    bounded number of times.
 *  - Works behind PgBouncer in transaction mode is NOT promised for prepared
 *    statements unless SHIMFS_META_PREPARE=0 (then unnamed statements).
 *
 * One boundary: every call is one line of META_CALLS (or, for the handle's
 * own life, META_HANDLE_CALLS) below, which makes struct meta_ops, the
 * table an engine exports as one symbol (libshimfs-pg.so: `meta_pg_ops`,
 * metadata-sql/meta_ops.c). The header is read two ways:
 *  - by an engine (compiled with SHIMFS_META_IMPL: metadata-sql/ and its
 *    own tests), it declares the engine's meta_* functions and its struct
 *    meta;
 *  - by everything else, meta_* are inline calls through the table of the
 *    handle core/meta_handle.c gives out: it stands for the engine's handle
 *    and opens it on its first use, so that a process that never asks the
 *    database never loads libpq (core/backend_lazy.h). A table that cannot
 *    be loaded answers -EIO after one log line.
 */
#ifndef SHIMFS_META_H
#define SHIMFS_META_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define META_ROOT_INO 1
#define META_NAME_MAX 255
#define META_SCHEMA_VERSION 5
/* The bound of one call when meta_set_timeout was not given one (ms). */
#define META_TIMEOUT_DEFAULT_MS 30000
/* The most directories meta_read_dirs_all reads in one round trip. */
#define META_DIRS_BATCH 63
/* Extra meta_rename flag (above every RENAME_* bit): a replaced
 * non-directory that loses its last link is kept as an orphan (nlink 0,
 * as meta_unlink with keep_open) instead of deleted: it is still open
 * somewhere. Drop it later with meta_drop_orphan, or let meta_session_reap
 * do it. */
#define META_RENAME_ORPHAN (1u << 30)
/* meta_create flag (or'ed into excl): a new regular file's commit does not
 * wait for the database's disk (visible at once, durable with the next
 * synchronous commit on the server, at worst about 3 x wal_writer_delay
 * later); the caller calls meta_sync before it tells anyone the file is
 * durable. */
#define META_CREATE_LAZY 0x100
/* meta_write / meta_write_inline flag (or'ed into set_size): the same for
 * a data commit (a close's: group commit, made durable by meta_sync at
 * fsync, sync or exit). */
#define META_WRITE_LAZY 0x100
/* meta_write_inline flag (or'ed into set_size): also tell whether the
 * file's block map is now exactly recs (no slice of an earlier commit is
 * left, nor one another writer committed meanwhile): returns 1 then, 0
 * otherwise. Asked in the same round trip. */
#define META_WRITE_SOLE 0x200
/* meta_sync flag: flush the server's WAL even if this handle committed
 * nothing lazily (sync, syncfs: other processes' lazy commits too). */
#define META_SYNC_ALL 1
#define META_FSCK_MAX_LINES 1000

struct meta;

struct meta_attr {
    uint64_t ino;
    uint32_t mode;      /* type bits and permission bits, as st_mode */
    uint32_t uid, gid;
    uint32_t nlink;
    uint64_t size;      /* bytes; for symlinks the target length */
    int64_t atime_ns, mtime_ns, ctime_ns; /* since the epoch */
    uint64_t parent;    /* directories: parent inode (root: 1) */
    uint64_t rdev;
};

struct meta_settings {
    char name[128];
    char uuid[40];
    char bucket[1024];     /* bucket URL, no credentials */
    uint32_t block_size;
    int compress_algo;     /* codec_algo */
    int compress_level;
    int64_t created_ns;
    int schema_version;
};

struct meta_stats {
    uint64_t inodes, files, dirs, symlinks;
    uint64_t bytes;        /* sum of file sizes */
    uint64_t slices;       /* slice records */
    uint64_t sessions;
};

/* One file of meta_import_files (see there). */
struct meta_import_file {
    uint64_t parent;
    const char *name;
    size_t nlen;
    uint32_t mode, uid, gid;
    uint64_t size;
    int64_t atime_ns, mtime_ns;
    const char *target;
    const struct meta_slice_rec *slices;
    int nslices;
    int result;            /* out */
    uint64_t ino;          /* out: the new inode when result is 0 */
};
/* Callbacks of the reads (see the calls that take them). */
typedef int (*meta_dirent_cb)(void *arg, const char *name, size_t nlen,
                              const struct meta_attr *a);
/* meta_read_version_chunks' check. */
#define META_VERSION_ANY 0
#define META_VERSION_CHECK 1
#define META_VERSION_ADOPT 2

typedef int (*meta_chunk_cb)(void *arg, uint64_t chunk_index,
                             const struct layout_slice *s, int n);
typedef int (*meta_file_slices_cb)(void *arg, const struct meta_attr *a, uint64_t chunk,
                                   const struct layout_slice *s, int n);
typedef void (*meta_dir_begin_cb)(void *arg, int i);
typedef void (*meta_dir_end_cb)(void *arg, int i, int rc);
/* One row of the volume's change log (meta_changes_since): an inode row
 * some transaction inserted or updated (its parent and mode as they are
 * now), or a directory that was deleted (gone). chg: the transaction's id. */
struct meta_change { uint64_t ino, parent, chg; uint32_t mode; int gone; };
typedef void (*meta_change_cb)(void *arg, const struct meta_change *c);
/* One changed name of a directory (meta_dir_changes): its inode row as it
 * is now, or a == NULL: no entry has the name now. A regular file comes
 * with its whole block map, as of the same snapshot (map[0..nmap), chunk
 * then age order; nmap 0: no slices); nmap < 0: no map (not a regular
 * file, or one of more than META_CHANGE_MAP_MAX slices). */
#define META_CHANGE_MAP_MAX 256
struct meta_slice_rec;
typedef void (*meta_name_change_cb)(void *arg, const char *name, size_t nlen,
                                    const struct meta_attr *a, const struct meta_slice_rec *map,
                                    int nmap);

/* meta_next_ids kinds. */
enum meta_id_kind { META_ID_INODE = 1, META_ID_SLICE = 2 };

/* meta_setattr: which fields of `a` to apply. META_SET_LAZY: the commit
 * does not wait for the database's disk (meta_sync does), as
 * META_WRITE_LAZY; not with META_SET_SIZE. */
enum {
    META_SET_MODE = 1, META_SET_UID = 2, META_SET_GID = 4, META_SET_SIZE = 8,
    META_SET_ATIME = 16, META_SET_MTIME = 32, META_SET_CTIME_NOW = 64, META_SET_LAZY = 128,
};

/* Attributes a data commit also sets, after its own mtime (meta_write_inline):
 * fields among META_SET_MODE, UID, GID, ATIME and MTIME, values in a. The
 * mode goes in only while the row's permission bits are still mode_was
 * (-1: always): a change made meanwhile by someone else was made later. */
struct meta_attr_set {
    unsigned fields;
    struct meta_attr a;
    int mode_was;
};

/* meta_write's slice records, each tagged with its chunk index. */
struct meta_slice_rec { uint64_t chunk; struct layout_slice s; };
/* meta_write_inline's block: the slice id (LAYOUT_INLINE_BIT set) and the
 * block's frame as the bucket would hold it (codec.h). */
struct meta_inline { uint64_t id; const void *data; uint32_t len; };
/* meta_append's pieces (rel = offset inside the appended run). */
struct meta_append_rec { uint64_t rel, id; uint32_t size, off, len; };

/* Callbacks of maintenance. */
typedef int (*meta_id_cb)(void *arg, uint64_t id, uint32_t size);
typedef int (*meta_garbage_cb)(void *arg, uint64_t id, uint32_t size, int64_t since_ns);
typedef int (*meta_range_cb)(void *arg, uint64_t first, uint32_t n);

struct meta_fsck_report {
    uint64_t dangling_entries;   /* entries whose inode or parent is missing */
    uint64_t missing_parents;    /* inodes (not root, not orphan) with no entry */
    uint64_t bad_nlink;          /* nlink != names (files), != 2 + subdirs (dirs) */
    uint64_t orphans;            /* orphans no existing session owns */
    uint64_t bad_dir_parent;     /* a directory's parent column != its entry's parent */
    uint64_t slices_of_missing_inodes;
    uint64_t bad_sizes;          /* slice records ending past the file size */
};
typedef void (*meta_fsck_cb)(void *arg, const char *problem);

/* A bound on the connections of a node (core/agent/nodeconn.h), shared by
 * its processes: acquire before a connection is made, by the call's
 * deadline (CLOCK_MONOTONIC ns): a slot >= 0, or -ETIMEDOUT (it logs);
 * release(slot) when that connection is closed. contended: 1 when another
 * process of the node waits for a slot; a connection idle for
 * META_GATE_IDLE_MS is then closed, so that a process that keeps its
 * connection and does nothing holds no slot from those who need one. */
struct meta_conn_gate {
    void *arg;
    int (*acquire)(void *arg, int64_t deadline_ns);
    void (*release)(void *arg, int slot);
    int (*contended)(void *arg);
};
#define META_GATE_IDLE_MS 20
/* Or-ed into release's slot: the server was seen to end the connection
 * (its backend no longer counts), so the slot needs no grace before the
 * next connection. A closing connection waits at most META_GATE_CLOSE_MS
 * for that. */
#define META_GATE_CLOSED 0x40000000
#define META_GATE_CLOSE_MS 50

/* The handle's own life: X(return type, NAME, (parameters)). */
#define META_HANDLE_CALLS(X) \
    /* Connect (lazily) with a libpq URL or conninfo; NULL or "" uses
     * libpq's PG* environment variables. Never blocks: the first query
     * connects. */ \
    X(int, open, (const char *conninfo, struct meta **out)) \
    X(void, close, (struct meta *m)) \
    /* The bound of one call (SHIMFS_META_TIMEOUT, in ms; <= 0: the
     * default, META_TIMEOUT_DEFAULT_MS): waiting for a connection,
     * connecting, and every round trip of the call end by then, with
     * -ETIMEDOUT and the connection dropped. While the database is known
     * down (a connect failed or a call timed out), calls answer at once
     * with that failure, and reconnect attempts back off exponentially
     * (0.5 s doubling to 30 s, jittered); one log line when the outage
     * starts, at most one per 30 s while it lasts, one when it ends. */ \
    X(void, set_timeout, (struct meta *m, int timeout_ms)) \
    /* In a fork child: drop inherited connections without sending anything
     * on the parent's sockets (dup /dev/null over them, then free). */ \
    X(void, after_fork, (struct meta *m)) \
    /* Called after every transaction that changed the volume committed
     * (from the thread that ran it): the node's shared metadata snapshots
     * are invalidated there. NULL removes it. */ \
    X(void, set_commit_hook, (struct meta *m, void (*fn)(void *arg), void *arg)) \
    /* Called after every round trip to the database (from the thread that
     * made it) with its duration and whether it failed: the node's query
     * counters (metrics). NULL removes it. */ \
    X(void, set_observer, (struct meta *m, void (*fn)(void *arg, int64_t ns, int failed), \
                           void *arg)) \
    /* A human-readable description of the database (host/db, no
     * password). */ \
    X(const char *, describe, (const struct meta *m)) \
    /* Run a batch of namespace changes in one transaction (import): calls
     * fn, whose meta_* calls on the same thread join that transaction;
     * commits if fn returns 0, else rolls back and returns its error. */ \
    X(int, txn, (struct meta *m, int (*fn)(struct meta *m, void *arg), void *arg)) \
    /* The handle's session (meta_session_start); 0 if none. */ \
    X(uint64_t, session_id, (struct meta *m)) \
    /* Forget session sid only if it is still the handle's (the database
     * said it is gone; after fork meta_after_fork forgets it). */ \
    X(void, session_forget, (struct meta *m, uint64_t sid)) \
    /* Every connection of the handle (and of its read server) is made
     * under g from now on (NULL: none; g must outlive the handle). Set
     * before the first call. */ \
    X(void, set_conn_gate, (struct meta *m, const struct meta_conn_gate *g))

/* Every other call: int meta_NAME(struct meta *m, ...) as
 * X(NAME, (parameters, the handle first as m), the other parameters'
 * names). Adding a call: one line here and its definition in the
 * engine. */
#define META_CALLS(X) \
    /* ---- volume lifecycle ---- */ \
    /* meta_format applies the schema (in one transaction), creates the
     * root directory (mode 0755, owner of the caller) and stores the
     * settings. -EEXIST if a volume exists and !force; force drops it
     * first. */ \
    X(format, (struct meta *m, const struct meta_settings *s, int force), s, force) \
    /* Load settings; also checks the schema version (-EPROTO if newer,
     * -ENODEV if not formatted). */ \
    X(load_settings, (struct meta *m, struct meta_settings *s), s) \
    /* Bring a volume formatted at an older schema version up to this
     * client's: every later schema step in one transaction, under an
     * advisory lock (a concurrent upgrader waits, then finds nothing to
     * do). Readers never need it; meta_session_start and gc run it.
     * Returns the version the volume had (META_SCHEMA_VERSION: nothing to
     * do), -EPROTO if newer. */ \
    X(upgrade, (struct meta *m)) \
    X(stats, (struct meta *m, struct meta_stats *st), st) \
    \
    /* ---- reads ---- */ \
    X(getattr, (struct meta *m, uint64_t ino, struct meta_attr *a), ino, a) \
    X(lookup, (struct meta *m, uint64_t parent, const char *name, size_t nlen, \
               struct meta_attr *a), parent, name, nlen, a) \
    /* Walk path components from `start` in one round trip. names[i] are
     * the components (no "." or ".."; the caller folds those), lens[i]
     * their lengths. Fills steps[0..k) with the attributes of each
     * component found, stopping at the first missing one, the first
     * non-directory that is not last, or the first symlink (which the
     * caller resolves). Returns k (0..n). */ \
    X(walk, (struct meta *m, uint64_t start, const char *const *names, const size_t *lens, \
             int n, struct meta_attr *steps), start, names, lens, n, steps) \
    /* Readdir-plus with keyset pagination: entries of dir with name >
     * after (after == NULL: from the start), in byte order of names, at
     * most `limit`. cb gets each name with its attributes; returns
     * non-zero to stop early. Returns the number of entries delivered,
     * -ENOTDIR, -ENOENT. */ \
    X(readdir, (struct meta *m, uint64_t dir, const char *after, size_t alen, int limit, \
                meta_dirent_cb cb, void *arg), dir, after, alen, limit, cb, arg) \
    /* Symlink target into buf (not NUL terminated); returns its length. */ \
    X(readlink, (struct meta *m, uint64_t ino, char *buf, size_t cap), ino, buf, cap) \
    /* All slice records of chunks [first, first+count) of ino, oldest
     * first within each chunk. cb is called once per chunk that has
     * slices. -ENOENT: no such inode. */ \
    X(read_chunks, (struct meta *m, uint64_t ino, uint64_t first, uint64_t count, \
                    meta_chunk_cb cb, void *arg), ino, first, count, cb, arg) \
    /* meta_read_chunks of one version of a file: with check ==
     * META_VERSION_CHECK, -ESTALE (and no callback) unless the inode still
     * has version->size, ->mtime_ns and ->ctime_ns (compaction changes
     * only ctime), read in the same snapshot as the slices; with
     * META_VERSION_ADOPT, the slices of whatever version the inode has,
     * whose size, mtime_ns and ctime_ns are written to *version (one
     * snapshot: a file committed to many times a second never starves its
     * reader). A map built from cached attributes and slices read later
     * would otherwise mix two versions: the old size with the new slices
     * (zeros past the new end), or no slices at all for an inode deleted
     * meanwhile (zeros where a replaced checkpoint was). */ \
    X(read_version_chunks, (struct meta *m, struct meta_attr *version, int check, \
                            uint64_t first, uint64_t count, meta_chunk_cb cb, void *arg), \
      version, check, first, count, cb, arg) \
    /* Every regular file of directory `dir` with its whole block map, so
     * that opening the files of a listed directory costs no further round
     * trip. cb is called once per (file, chunk) with the file's attributes
     * and the chunk's slice records, oldest first; attributes and slices
     * come from one statement, so they are the same row version. A file
     * with no slices gets one call with n = 0 and chunk 0. Files arrive in
     * name order (a file with several names in dir arrives once per name);
     * non-files are skipped. One round trip for a directory of up to
     * 16,384 entries, larger ones stream in keyset pages of that many
     * (memory stays bounded). cb returns non-zero to stop (a negative
     * value is returned). -ENOENT, -ENOTDIR. */ \
    X(read_dir_slices, (struct meta *m, uint64_t dir, meta_file_slices_cb cb, void *arg), \
      dir, cb, arg) \
    /* A whole directory in one round trip when it has at most `limit`
     * entries (up to 16,384): ecb gets every entry with its attributes, in
     * name order, and cb each regular file's chunks right after its entry
     * (as meta_read_dir_slices). Returns the number of entries; `limit` of
     * them means there may be more (the listing is then not complete).
     * -ENOENT, -ENOTDIR; -ECANCELED when a callback stopped it. *token (if
     * not NULL): the change token (meta_change_token) taken just before
     * the answer; 0 when unknown, and when the answer was read inside the
     * caller's open transaction (meta_txn): it may then show changes not
     * committed yet, and must not be shared beyond the caller. */ \
    X(read_dir_all, (struct meta *m, uint64_t dir, int limit, meta_dirent_cb ecb, \
                     meta_file_slices_cb cb, void *arg, uint64_t *token), \
      dir, limit, ecb, cb, arg, token) \
    /* One keyset page of meta_read_dir_all: the entries of dir with name
     * > after (alen 0: from the start), at most `limit` (up to 16,384),
     * with attributes and block maps as meta_read_dir_all. Returns the
     * number of entries (fewer than `limit`: the end), -ENOENT, -ENOTDIR,
     * -ECANCELED when a callback stopped it. A directory of any size is
     * read this way in memory bounded by the page. *token: as for
     * meta_read_dir_all, per page. */ \
    X(read_dir_page, (struct meta *m, uint64_t dir, const char *after, size_t alen, int limit, \
                      meta_dirent_cb ecb, meta_file_slices_cb cb, void *arg, uint64_t *token), \
      dir, after, alen, limit, ecb, cb, arg, token) \
    /* Several whole directories in one round trip (at most
     * META_DIRS_BATCH): for each dirs[i] in order, begin(arg, i), its
     * entries and files' chunks as meta_read_dir_all, then end(arg, i,
     * what meta_read_dir_all would have returned for it). Returns 0, or
     * -errno when the round trip failed (no callback ran then). *token: as
     * for meta_read_dir_all, set before any callback runs. */ \
    X(read_dirs_all, (struct meta *m, const uint64_t *dirs, int n, int limit, \
                      meta_dir_begin_cb begin, meta_dirent_cb ecb, meta_file_slices_cb cb, \
                      meta_dir_end_cb end, void *arg, uint64_t *token), \
      dirs, n, limit, begin, ecb, cb, end, arg, token) \
    X(getxattr, (struct meta *m, uint64_t ino, const char *name, void *buf, size_t cap), \
      ino, name, buf, cap) \
    /* 1 if any inode of the volume has an extended attribute, else 0:
     * most datasets have none, and then every getxattr can answer without
     * a query. */ \
    X(xattr_any, (struct meta *m)) \
    /* The digest of a token that differs from an earlier one whenever any
     * transaction committed in between (and may differ when none did: it
     * is cluster-wide); never 0. The node agent polls it on volumes
     * without a change log (schema < 3, see meta_changes_since);
     * directory answers carry the one their question saw. */ \
    X(change_token, (struct meta *m, uint64_t *digest), digest) \
    /* ---- precise invalidation (metadata-sql/meta_changes.c, schema 3) */ \
    /* From the commit hook (meta_set_commit_hook), on the thread that
     * committed: the directories whose snapshots the transaction changed
     * (a changed directory, and the directory listing a changed inode), at
     * most cap of them; -1 when that cannot be told (an unknown kind of
     * change, a file with several names, a volume older than schema 3,
     * more than cap): then anything may have changed. */ \
    X(committed_dirs, (struct meta *m, uint64_t *dirs, int cap), dirs, cap) \
    /* The change log since a horizon, in one snapshot: cb gets every
     * change made by a transaction with an id >= since (since 0: none),
     * and *horizon is set to that snapshot's xmin, the `since` of the next
     * call: every transaction the snapshot did not see has an id >= it, so
     * a change that commits after this call is in the next answer. Returns
     * the number of rows; -E2BIG when more than limit rows of a kind
     * matched (those given are not all; *horizon is set); -EOPNOTSUPP when
     * the volume has no log (schema version < 3: use meta_change_token). */ \
    X(changes_since, (struct meta *m, uint64_t since, int limit, uint64_t *horizon, \
                      meta_change_cb cb, void *arg), since, limit, horizon, cb, arg) \
    /* The names of directory dir that transactions with ids >= since
     * (a horizon of meta_changes_since, not 0) set or removed, in one
     * snapshot: cb gets each name no entry holds now (a NULL), then each
     * name of an inode written since with that inode's row as it is now,
     * so the calls in order bring a listing of dir taken before the
     * horizon's changes to the state of that snapshot. A file with
     * several names comes with its row (parent 0): the caller decides.
     * self (optional) gets dir's own row from the same snapshot (ino 0:
     * dir is gone). Returns how many; -E2BIG when limit or more of a kind
     * matched (no callback ran); -EOPNOTSUPP on a volume older than
     * schema 5. */ \
    X(dir_changes, (struct meta *m, uint64_t dir, uint64_t since, int limit, \
                    meta_name_change_cb cb, void *arg, struct meta_attr *self), \
      dir, since, limit, cb, arg, self) \
    /* The folders holding a name of inode ino (a file with several
     * names: its change-log row names none), each once per name, at most
     * cap; -E2BIG when it has more; -EOPNOTSUPP on a volume older than
     * schema 5 (no index from an inode to its names). */ \
    X(name_parents, (struct meta *m, uint64_t ino, uint64_t *parents, int cap), ino, parents, cap) \
    /* NUL-separated names, as listxattr(2). */ \
    X(listxattr, (struct meta *m, uint64_t ino, char *buf, size_t cap), ino, buf, cap) \
    \
    /* ---- writes ---- */ \
    /* ---- batched import (shimfs import) ----
     * Create many regular files and symlinks, with their slice records, in
     * one transaction of one round trip: their parents are locked in
     * ascending order, inode ids come in one range, the parents' mtime and
     * ctime become now. Per file (out: result, ino): 0 created; -EEXIST the
     * name is taken; -ENOENT / -ENOTDIR the parent is no live directory;
     * -ENAMETOOLONG, -EINVAL bad name, target or slice. Those skip only
     * their file. Returns 0 when the transaction committed (every file with
     * result 0 is visible, all at once), or a negative errno and nothing
     * committed: -ESTALE (one log line) when a slice id is held by no live
     * session (fenced as meta_write), or the database's failure. `mode`
     * carries S_IFREG or S_IFLNK; symlinks have `target` (NUL-terminated)
     * and no slices; nlink is 1, ctime now. Meant for batches of a few
     * thousand files. */ \
    X(import_files, (struct meta *m, struct meta_import_file *files, int n), files, n) \
    /* Hand out `count` fresh ids of a kind (enum meta_id_kind) in one
     * round trip: *first .. *first+count-1. Slice ids drawn while the
     * handle has a session (meta_session_start) are recorded as that
     * session's reservation by the same statement, which also counts as a
     * heartbeat: gc never deletes their objects while the session lives.
     * -ESTALE: the session was reaped (nothing handed out). */ \
    X(next_ids, (struct meta *m, int kind, uint32_t count, uint64_t *first), \
      kind, count, first) \
    /* Create an entry. a->mode carries the type (S_IFREG, S_IFDIR, S_IFLNK
     * ...) and permissions, a->uid/gid/rdev/times are taken as given
     * (times 0: now). For symlinks `target` is stored. On success *a is
     * the new inode's full attributes. -EEXIST, -ENOENT (parent),
     * -ENOTDIR. If excl == 0 and a regular file already exists, succeeds
     * with its attributes (O_CREAT). */ \
    X(create, (struct meta *m, uint64_t parent, const char *name, size_t nlen, \
               struct meta_attr *a, const char *target, int excl), \
      parent, name, nlen, a, target, excl) \
    /* open(O_CREAT) of parent/name in one round trip (create and lookup
     * in one statement): a new regular file (a->mode's permission bits,
     * a->uid, a->gid; times now), or the inode already at the name. On
     * success *a is the new file's attributes and *created 1, or the
     * existing inode's (any type: the caller decides what opening it
     * means) and *created 0; then nothing was written and no commit hook
     * runs. flags: 1 (O_EXCL: an existing name is -EEXIST), and
     * META_CREATE_LAZY as for meta_create. -ENOENT, -ENOTDIR (parent). */ \
    X(create_open, (struct meta *m, uint64_t parent, const char *name, size_t nlen, \
                    struct meta_attr *a, int flags, int *created), \
      parent, name, nlen, a, flags, created) \
    /* Every transaction this handle committed is durable when this returns
     * (those of META_CREATE_LAZY and META_WRITE_LAZY included): one round
     * trip, a transaction that commits synchronously, which flushes the
     * server's WAL up to it (so every commit any client had acknowledged
     * before). No round trip when every lazy commit of the handle was
     * already covered by a synchronous one, unless flags has META_SYNC_ALL
     * (then always: what other handles committed lazily becomes durable
     * too). */ \
    X(sync, (struct meta *m, int flags), flags) \
    /* Hard link: a new entry for an existing non-directory inode. */ \
    X(link, (struct meta *m, uint64_t ino, uint64_t parent, const char *name, size_t nlen, \
             struct meta_attr *a), ino, parent, name, nlen, a) \
    /* Remove a name. dir = 1: rmdir semantics (-ENOTEMPTY, -ENOTDIR), else
     * unlink semantics (-EISDIR). When the last link goes the inode is
     * kept as an orphan if `keep_open` (a descriptor is still open on it,
     * deleted later with meta_drop_orphan), else deleted with its slices
     * recorded for gc. An orphan made through a handle with a session
     * (here or by META_RENAME_ORPHAN) is owned by that session in the same
     * transaction, so meta_session_reap keeps it exactly as long as the
     * session lives. */ \
    X(unlink, (struct meta *m, uint64_t parent, const char *name, size_t nlen, int dir, \
               int keep_open, struct meta_attr *removed), \
      parent, name, nlen, dir, keep_open, removed) \
    /* unlink (not rmdir) of a name the caller believes is inode guess
     * (its ino, type and link count, as its caches have them): one round
     * trip when it is right, else as meta_unlink (two, after a short
     * backoff); the same answers either way. */ \
    X(unlink_guess, (struct meta *m, uint64_t parent, const char *name, size_t nlen, \
                     const struct meta_attr *guess, int keep_open, struct meta_attr *removed), \
      parent, name, nlen, guess, keep_open, removed) \
    X(drop_orphan, (struct meta *m, uint64_t ino), ino) \
    /* rename(2) with renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE,
     * META_RENAME_ORPHAN); atomic, replaces an existing target, refuses to
     * move a directory into itself (-EINVAL), -ENOTEMPTY / -EISDIR /
     * -ENOTDIR as the kernel answers. */ \
    X(rename, (struct meta *m, uint64_t src_parent, const char *src, size_t slen, \
               uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags), \
      src_parent, src, slen, dst_parent, dst, dlen, flags) \
    /* meta_rename that also reports what the target name pointed at
     * before: *replaced (if not NULL) gets that inode's attributes after
     * the change (nlink decremented; 0 if it was deleted or orphaned), or
     * ino 0 when no inode lost a name (no target, RENAME_EXCHANGE, or both
     * names one inode); its ctime_ns is then still the time the rename
     * wrote (the moved inodes' new ctime). */ \
    X(rename2, (struct meta *m, uint64_t src_parent, const char *src, size_t slen, \
                uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags, \
                struct meta_attr *replaced), \
      src_parent, src, slen, dst_parent, dst, dlen, flags, replaced) \
    /* meta_rename2 of a name the caller believes is the non-directory
     * src_guess, onto a name it believes free (dst_guess NULL) or the
     * non-directory dst_guess (as its caches have them: ino, type, link
     * count): one round trip when it is right, else as meta_rename2 (two,
     * after a short backoff); the same answers either way. */ \
    X(rename_guess, (struct meta *m, uint64_t src_parent, const char *src, size_t slen, \
                     uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags, \
                     const struct meta_attr *src_guess, const struct meta_attr *dst_guess, \
                     struct meta_attr *replaced), \
      src_parent, src, slen, dst_parent, dst, dlen, flags, src_guess, dst_guess, replaced) \
    /* setattr: which fields of `a` to apply (META_SET_*). Size changes
     * truncate (dropping or trimming slices beyond the new size) or extend
     * with a hole (one transaction, two round trips); any other change is
     * one statement of one round trip. On success *a holds the new
     * attributes. */ \
    X(setattr, (struct meta *m, uint64_t ino, unsigned fields, struct meta_attr *a), \
      ino, fields, a) \
    /* Commit a write session: append slice records (each tagged with its
     * chunk index) to ino's slice lists, set size = max(size, new_size)
     * (or exactly new_size if `set_size`), mtime = ctime = mtime_ns, in
     * one transaction. Once the handle has had a session (the fence) the
     * same statement checks that every slice id it commits is held by a
     * reservation of a session that still exists, share-locking those
     * sessions against reaping until it commits: -ESTALE (one log line),
     * nothing committed, when one is not (its session was reaped and gc
     * may have deleted the blocks). No extra round trip. Handles without a
     * session (tests) commit unchecked. set_size | META_WRITE_LAZY: the
     * commit does not wait for the database's disk (meta_sync does). */ \
    X(write, (struct meta *m, uint64_t ino, const struct meta_slice_rec *recs, int n, \
              uint64_t new_size, int set_size, int64_t mtime_ns, struct meta_attr *a), \
      ino, recs, n, new_size, set_size, mtime_ns, a) \
    /* meta_write that also stores one inline block (blob, NULL: none) in
     * the same statement: the block goes in only when the commit does.
     * -EOPNOTSUPP (nothing done) on a volume older than schema 4, or one
     * whose version the handle has not read yet: the caller stores the
     * block in the bucket instead. With META_WRITE_SOLE in set_size:
     * returns 1 when the file's map is exactly recs afterwards. also
     * (NULL: none): attributes set in the same transaction after the
     * commit's own (chmod, chown or utimens through a descriptor whose
     * writes this commit carries); *a is then the row as they left it. */ \
    X(write_inline, (struct meta *m, uint64_t ino, const struct meta_slice_rec *recs, int n, \
                     const struct meta_inline *blob, uint64_t new_size, int set_size, \
                     int64_t mtime_ns, const struct meta_attr_set *also, struct meta_attr *a), \
      ino, recs, n, blob, new_size, set_size, mtime_ns, also, a) \
    /* The frame of inline block id into buf; returns its length. -ENOENT:
     * no such row (the block is lost, as a missing object is);
     * -EOVERFLOW: cap is too small. One round trip. */ \
    X(inline_get, (struct meta *m, uint64_t id, void *buf, size_t cap), id, buf, cap) \
    /* fsck: every inline block's id and frame length, ascending by id, in
     * pages (bounded memory); none on a volume older than schema 4. */ \
    X(list_inline, (struct meta *m, meta_id_cb cb, void *arg), cb, arg) \
    /* Commit appends (O_APPEND writes): their place is the file's end as
     * committed, found under the inode's row lock in the same statement,
     * so concurrent appenders never overwrite one another. Pieces tile
     * [0, total) in order (rel = offset inside the appended run); each
     * lands at L + rel where L is the size before this commit (split at
     * chunk boundaries as needed); size = L + total, mtime = ctime =
     * mtime_ns. *at (optional) receives L. */ \
    X(append, (struct meta *m, uint64_t ino, const struct meta_append_rec *recs, int n, \
               int64_t mtime_ns, struct meta_attr *a, uint64_t *at), \
      ino, recs, n, mtime_ns, a, at) \
    /* Replace a chunk's whole slice list (compaction) if it is still
     * exactly old[0..old_n) (every field, in order; else -EAGAIN: someone
     * wrote or truncated meanwhile). The replaced slice ids are recorded as
     * garbage for gc; the inode's ctime is set to now, so block maps
     * cached by (size, mtime, ctime) are reloaded. The new ids are fenced
     * as meta_write's (-ESTALE). */ \
    X(compact, (struct meta *m, uint64_t ino, uint64_t chunk, const struct layout_slice *old, \
                int old_n, const struct layout_slice *s, int n), \
      ino, chunk, old, old_n, s, n) \
    /* flags: XATTR_CREATE / XATTR_REPLACE. */ \
    X(setxattr, (struct meta *m, uint64_t ino, const char *name, const void *val, size_t len, \
                 int flags), ino, name, val, len, flags) \
    X(removexattr, (struct meta *m, uint64_t ino, const char *name), ino, name) \
    \
    /* ---- maintenance (gc, fsck, sessions) ---- */ \
    /* Every slice id referenced by any file, ascending, via cb (gc). */ \
    X(list_slices, (struct meta *m, meta_id_cb cb, void *arg), cb, arg) \
    /* Register a client session (timeout 0: only the reaper's stale_ns
     * judges it); returns its id. Closing it also drops its
     * reservations. */ \
    X(session_open, (struct meta *m, const char *host, int pid, uint64_t *sid), \
      host, pid, sid) \
    X(session_close, (struct meta *m, uint64_t sid), sid) \
    /* The handle's own session, which reserves slice ids, fences commits
     * and owns orphans this handle makes: meta_session_start upgrades an
     * old schema (meta_upgrade), then opens a session that counts as dead
     * once it has been silent for timeout_ns (no-op if the handle has one
     * already). meta_session_end closes it. */ \
    X(session_start, (struct meta *m, const char *host, int pid, int64_t timeout_ns), \
      host, pid, timeout_ns) \
    X(session_end, (struct meta *m)) \
    /* Sessions prove they live by a heartbeat, on the database's clock (so
     * client clocks may differ). -ENOENT: the session was reaped. */ \
    X(session_heartbeat, (struct meta *m, uint64_t sid), sid) \
    /* Record that session sid keeps orphan ino open (several sessions
     * may). -ENOENT: no such orphan (or no such session). */ \
    X(orphan_own, (struct meta *m, uint64_t ino, uint64_t sid), ino, sid) \
    /* Delete the sessions silent for longer than both stale_ns and their
     * own timeout (with their reservations), and drop (slices to garbage)
     * every orphan no live session owns that either had an owner (a reaped
     * or closed session) or was orphaned more than stale_ns ago (the grace
     * period covers an orphan made just before meta_orphan_own). One
     * transaction. *reaped (if not NULL) = sessions deleted; returns the
     * number of orphans dropped. */ \
    X(session_reap, (struct meta *m, int64_t stale_ns, int *reaped), stale_ns, reaped) \
    /* gc: slice ids released by unlink, truncate, rename and compaction
     * that no slice record references now, ascending, each once, with the
     * (latest) time it was released; streamed in pages (bounded memory).
     * cb returns non-zero to stop (a negative value is returned). */ \
    X(list_garbage, (struct meta *m, meta_garbage_cb cb, void *arg), cb, arg) \
    /* Forget garbage ids whose objects gc deleted. Ids some slice record
     * references again are skipped (kept). Returns how many were
     * forgotten. */ \
    X(forget_garbage, (struct meta *m, const uint64_t *ids, int n), ids, n) \
    /* 1 if some slice record references id, else 0. */ \
    X(slice_referenced, (struct meta *m, uint64_t id), id) \
    /* gc: every slice-id range reserved by a session that exists now
     * (stale_ns < 0), or by one that is alive as meta_session_reap would
     * judge it with stale_ns (a dry run's report), ascending by first id,
     * in pages (bounded memory). cb returns non-zero to stop (a negative
     * value is returned). Before deleting: reap, then list with stale_ns <
     * 0 (a session that exists may still commit), then list referenced ids
     * and objects. */ \
    X(list_reservations, (struct meta *m, int64_t stale_ns, meta_range_cb cb, void *arg), \
      stale_ns, cb, arg) \
    /* fsck: consistency checks of the namespace and the slice records.
     * Counts are exact; cb (may be NULL) gets one line per problem, at
     * most the first META_FSCK_MAX_LINES over all checks. `orphans` counts
     * orphans no existing session owns (meta_session_reap drops them;
     * repair leaves them). With `repair`, after checking: dangling entries
     * (missing inode, or parent not a directory) are deleted, inodes
     * without a name are linked as "/lost+found/#<ino>" (made on demand),
     * directories' parent columns and every nlink are recomputed, slice
     * records of missing inodes go to garbage, and slice records past the
     * file size are cut as a truncate to the same size would (the visible
     * bytes do not change); each repair is its own transaction, safe
     * beside running clients (a conflict reruns it). The report describes
     * what was found before repairing. Returns the number of problems
     * found. */ \
    X(fsck, (struct meta *m, int repair, struct meta_fsck_report *r, meta_fsck_cb cb, \
             void *arg), repair, r, cb, arg)

/* The table an engine exports. `size` is sizeof(struct meta_ops), so that
 * a loader can refuse a library from another build. */
struct meta_ops {
    size_t size;
#define META_HANDLE_FIELD_(ret, name, params) ret (*name) params;
#define META_FIELD_(name, params, ...) int (*name) params;
    META_HANDLE_CALLS(META_HANDLE_FIELD_)
    META_CALLS(META_FIELD_)
#undef META_HANDLE_FIELD_
#undef META_FIELD_
};
/* PostgreSQL's (metadata-sql/meta_ops.c, in libshimfs-pg.so). */
extern const struct meta_ops meta_pg_ops;

#ifdef SHIMFS_META_IMPL
/* The engine's own functions. */
#define META_DECLARE_HANDLE_(ret, name, params) ret meta_##name params;
#define META_DECLARE_(name, params, ...) int meta_##name params;
META_HANDLE_CALLS(META_DECLARE_HANDLE_)
META_CALLS(META_DECLARE_)
#undef META_DECLARE_HANDLE_
#undef META_DECLARE_
#else
/* core's handle (meta_handle.c). Its own calls keep their meta_ names in C
 * but are linked as meta_handle_NAME: the static library holds the
 * engine's meta_open beside them. */
#define META_DECLARE_HANDLE_(ret, name, params) \
    ret meta_##name params __asm__("meta_handle_" #name);
META_HANDLE_CALLS(META_DECLARE_HANDLE_)
#undef META_DECLARE_HANDLE_

/* The engine's handle behind m and its table, opening it on first use:
 * 0, or what opening answered (-EIO when the engine cannot be loaded). */
int meta_handle_use(struct meta *m, struct meta **db, const struct meta_ops **ops);

/* Every other call goes through the table with the engine's handle. */
#define META_DISPATCH_(name, params, ...)                     \
    static inline int meta_##name params                      \
    {                                                         \
        struct meta *db_;                                     \
        const struct meta_ops *ops_;                          \
        int rc_ = meta_handle_use(m, &db_, &ops_);            \
        return rc_ < 0 ? rc_ : ops_->name(db_, ##__VA_ARGS__); \
    }
META_CALLS(META_DISPATCH_)
#undef META_DISPATCH_
#endif

#endif

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
 */
#ifndef SHIMFS_META_H
#define SHIMFS_META_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define META_ROOT_INO 1
#define META_NAME_MAX 255
#define META_SCHEMA_VERSION 2

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

/* Connect (lazily) with a libpq URL or conninfo; NULL or "" uses libpq's
 * PG* environment variables. Never blocks: the first query connects. */
int meta_open(const char *conninfo, struct meta **out);
void meta_close(struct meta *m);
/* The bound of one call (SHIMFS_META_TIMEOUT, in ms; <= 0: the default):
 * waiting for a connection, connecting, and every round trip of the call
 * end by then, with -ETIMEDOUT and the connection dropped. While the
 * database is known down (a connect failed or a call timed out), calls
 * answer at once with that failure, and reconnect attempts back off
 * exponentially (0.5 s doubling to 30 s, jittered); one log line when the
 * outage starts, at most one per 30 s while it lasts, one when it ends. */
#define META_TIMEOUT_DEFAULT_MS 30000
void meta_set_timeout(struct meta *m, int timeout_ms);
/* In a fork child: drop inherited connections without sending anything on
 * the parent's sockets (dup /dev/null over them, then free). */
void meta_after_fork(struct meta *m);

/* Volume lifecycle. meta_format applies the schema (in one transaction),
 * creates the root directory (mode 0755, owner of the caller) and stores the
 * settings. -EEXIST if a volume exists and !force; force drops it first. */
int meta_format(struct meta *m, const struct meta_settings *s, int force);
/* Load settings; also checks the schema version (-EPROTO if newer,
 * -ENODEV if not formatted). */
int meta_load_settings(struct meta *m, struct meta_settings *s);
/* Bring a volume formatted at an older schema version up to this client's:
 * every later schema step in one transaction, under an advisory lock (a
 * concurrent upgrader waits, then finds nothing to do). Readers never
 * need it; meta_session_start and gc run it. Returns the version
 * the volume had (META_SCHEMA_VERSION: nothing to do), -EPROTO if newer. */
int meta_upgrade(struct meta *m);
int meta_stats(struct meta *m, struct meta_stats *st);

/* ---- reads ---- */
int meta_getattr(struct meta *m, uint64_t ino, struct meta_attr *a);
int meta_lookup(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                struct meta_attr *a);

/* Walk path components from `start` in one round trip. names[i] are the
 * components (no "." or ".."; the caller folds those), lens[i] their lengths.
 * Fills steps[0..k) with the attributes of each component found, stopping
 * at the first missing one, the first non-directory that is not last, or the
 * first symlink (which the caller resolves). Returns k (0..n). */
int meta_walk(struct meta *m, uint64_t start, const char *const *names,
              const size_t *lens, int n, struct meta_attr *steps);

/* Readdir-plus with keyset pagination: entries of dir with name > after
 * (after == NULL: from the start), in byte order of names, at most `limit`.
 * cb gets each name with its attributes; returns non-zero to stop early.
 * Returns the number of entries delivered, -ENOTDIR, -ENOENT. */
typedef int (*meta_dirent_cb)(void *arg, const char *name, size_t nlen,
                              const struct meta_attr *a);
int meta_readdir(struct meta *m, uint64_t dir, const char *after, size_t alen,
                 int limit, meta_dirent_cb cb, void *arg);

/* Symlink target into buf (not NUL terminated); returns its length. */
int meta_readlink(struct meta *m, uint64_t ino, char *buf, size_t cap);

/* All slice records of chunks [first, first+count) of ino, oldest first
 * within each chunk. cb is called once per chunk that has slices.
 * -ENOENT: no such inode. */
typedef int (*meta_chunk_cb)(void *arg, uint64_t chunk_index,
                             const struct layout_slice *s, int n);
int meta_read_chunks(struct meta *m, uint64_t ino, uint64_t first, uint64_t count,
                     meta_chunk_cb cb, void *arg);
/* meta_read_chunks of one version of a file: with `check`, -ESTALE (and no
 * callback) unless the inode still has version->size, ->mtime_ns and
 * ->ctime_ns (compaction changes only ctime), read
 * in the same snapshot as the slices. A map built from cached attributes
 * and slices read later would otherwise mix two versions: the old size
 * with the new slices (zeros past the new end), or no slices at all for an
 * inode deleted meanwhile (zeros where a replaced checkpoint was). */
int meta_read_version_chunks(struct meta *m, const struct meta_attr *version, int check,
                             uint64_t first, uint64_t count, meta_chunk_cb cb, void *arg);

/* Every regular file of directory `dir` with its whole block map, so that
 * opening the files of a listed directory costs no further round trip.
 * cb is called once per (file, chunk) with the file's attributes and the
 * chunk's slice records, oldest first; attributes and slices come from one
 * statement, so they are the same row version. A file with no slices gets
 * one call with n = 0 and chunk 0. Files arrive in name order (a file with
 * several names in dir arrives once per name); non-files are skipped. One
 * round trip for a directory of up to 16,384 entries, larger ones stream
 * in keyset pages of that many (memory stays bounded). cb returns non-zero
 * to stop (a negative value is returned). -ENOENT, -ENOTDIR. */
typedef int (*meta_file_slices_cb)(void *arg, const struct meta_attr *a, uint64_t chunk,
                                   const struct layout_slice *s, int n);
int meta_read_dir_slices(struct meta *m, uint64_t dir, meta_file_slices_cb cb, void *arg);

/* A whole directory in one round trip when it has at most `limit` entries
 * (up to 16,384): ecb gets every entry with its attributes, in name order,
 * and cb each regular file's chunks right after its entry (as
 * meta_read_dir_slices). Returns the number of entries; `limit` of them
 * means there may be more (the listing is then not complete). -ENOENT,
 * -ENOTDIR; -ECANCELED when a callback stopped it. *token (if not NULL):
 * the change token (meta_change_token) taken just before the answer; 0
 * when unknown, and when the answer was read inside the caller's open
 * transaction (meta_txn): it may then show changes not committed yet, and
 * must not be shared beyond the caller. */
int meta_read_dir_all(struct meta *m, uint64_t dir, int limit, meta_dirent_cb ecb,
                      meta_file_slices_cb cb, void *arg, uint64_t *token);

/* Several whole directories in one round trip (at most META_DIRS_BATCH):
 * for each dirs[i] in order, begin(arg, i), its entries and files' chunks
 * as meta_read_dir_all, then end(arg, i, what meta_read_dir_all would have
 * returned for it). Returns 0, or -errno when the round trip failed (no
 * callback ran then). *token: as for meta_read_dir_all, set before any
 * callback runs. */
#define META_DIRS_BATCH 63
typedef void (*meta_dir_begin_cb)(void *arg, int i);
typedef void (*meta_dir_end_cb)(void *arg, int i, int rc);
int meta_read_dirs_all(struct meta *m, const uint64_t *dirs, int n, int limit,
                       meta_dir_begin_cb begin, meta_dirent_cb ecb, meta_file_slices_cb cb,
                       meta_dir_end_cb end, void *arg, uint64_t *token);

/* Called after every transaction that changed the volume committed (from
 * the thread that ran it): the node's shared metadata snapshots are
 * invalidated there. NULL removes it. */
void meta_set_commit_hook(struct meta *m, void (*fn)(void *arg), void *arg);

int meta_getxattr(struct meta *m, uint64_t ino, const char *name, void *buf, size_t cap);
/* 1 if any inode of the volume has an extended attribute, else 0: most
 * datasets have none, and then every getxattr can answer without a query. */
int meta_xattr_any(struct meta *m);

/* The digest of a token that differs from an earlier one whenever any
 * transaction committed in between (and may differ when none did: it is
 * cluster-wide); never 0. The node agent polls it; directory answers carry
 * the one their question saw. */
int meta_change_token(struct meta *m, uint64_t *digest);
/* NUL-separated names, as listxattr(2). */
int meta_listxattr(struct meta *m, uint64_t ino, char *buf, size_t cap);

/* ---- writes ---- */
/* Hand out `count` fresh ids of a kind in one round trip: *first .. *first+count-1.
 * Slice ids drawn while the handle has a session (meta_session_start) are
 * recorded as that session's reservation by the same statement, which also
 * counts as a heartbeat: gc never deletes their objects while the session
 * lives. -ESTALE: the session was reaped (nothing handed out). */
enum meta_id_kind { META_ID_INODE = 1, META_ID_SLICE = 2 };
int meta_next_ids(struct meta *m, int kind, uint32_t count, uint64_t *first);

/* Create an entry. a->mode carries the type (S_IFREG, S_IFDIR, S_IFLNK ...)
 * and permissions, a->uid/gid/rdev/times are taken as given (times 0: now).
 * For symlinks `target` is stored. On success *a is the new inode's full
 * attributes. -EEXIST, -ENOENT (parent), -ENOTDIR. If excl == 0 and a
 * regular file already exists, succeeds with its attributes (O_CREAT). */
int meta_create(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                struct meta_attr *a, const char *target, int excl);
/* Hard link: a new entry for an existing non-directory inode. */
int meta_link(struct meta *m, uint64_t ino, uint64_t parent, const char *name,
              size_t nlen, struct meta_attr *a);
/* Remove a name. dir = 1: rmdir semantics (-ENOTEMPTY, -ENOTDIR), else
 * unlink semantics (-EISDIR). When the last link goes the inode is kept as
 * an orphan if `keep_open` (a descriptor is still open on it, deleted later
 * with meta_drop_orphan), else deleted with its slices recorded for gc.
 * An orphan made through a handle with a session (here or by
 * META_RENAME_ORPHAN) is owned by that session in the same transaction, so
 * meta_session_reap keeps it exactly as long as the session lives. */
int meta_unlink(struct meta *m, uint64_t parent, const char *name, size_t nlen,
                int dir, int keep_open, struct meta_attr *removed);
int meta_drop_orphan(struct meta *m, uint64_t ino);
/* rename(2) with renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE); atomic,
 * replaces an existing target, refuses to move a directory into itself
 * (-EINVAL), -ENOTEMPTY / -EISDIR / -ENOTDIR as the kernel answers. */
int meta_rename(struct meta *m, uint64_t src_parent, const char *src, size_t slen,
                uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags);
/* Extra meta_rename flag (above every RENAME_* bit): a replaced
 * non-directory that loses its last link is kept as an orphan (nlink 0,
 * as meta_unlink with keep_open) instead of deleted: it is still open
 * somewhere. Drop it later with meta_drop_orphan, or let meta_session_reap
 * do it. */
#define META_RENAME_ORPHAN (1u << 30)
/* meta_rename that also reports what the target name pointed at before:
 * *replaced (if not NULL) gets that inode's attributes after the change
 * (nlink decremented; 0 if it was deleted or orphaned), or ino 0 when no
 * inode lost a name (no target, RENAME_EXCHANGE, or both names one inode). */
int meta_rename2(struct meta *m, uint64_t src_parent, const char *src, size_t slen,
                 uint64_t dst_parent, const char *dst, size_t dlen, unsigned flags,
                 struct meta_attr *replaced);

/* setattr: which fields of `a` to apply (bits below). Size changes truncate
 * (dropping or trimming slices beyond the new size) or extend with a hole.
 * On success *a holds the new attributes. */
enum {
    META_SET_MODE = 1, META_SET_UID = 2, META_SET_GID = 4, META_SET_SIZE = 8,
    META_SET_ATIME = 16, META_SET_MTIME = 32, META_SET_CTIME_NOW = 64,
};
int meta_setattr(struct meta *m, uint64_t ino, unsigned fields, struct meta_attr *a);

/* Commit a write session: append slice records (each tagged with its chunk
 * index) to ino's slice lists, set size = max(size, new_size) (or exactly
 * new_size if `set_size`), mtime = ctime = mtime_ns, in one transaction.
 * Once the handle has had a session (the fence) the same statement checks that
 * every slice id it commits is held by a reservation of a session that
 * still exists, share-locking those sessions against reaping until it
 * commits: -ESTALE (one log line), nothing committed, when one is not
 * (its session was reaped and gc may have deleted the blocks). No extra
 * round trip. Handles without a session (tests) commit unchecked. */
struct meta_slice_rec { uint64_t chunk; struct layout_slice s; };
int meta_write(struct meta *m, uint64_t ino, const struct meta_slice_rec *recs, int n,
               uint64_t new_size, int set_size, int64_t mtime_ns, struct meta_attr *a);
/* Commit appends (O_APPEND writes): their place is the file's end as
 * committed, found under the inode's row lock in the same statement, so
 * concurrent appenders never overwrite one another. Pieces tile
 * [0, total) in order (rel = offset inside the appended run); each lands at
 * L + rel where L is the size before this commit (split at chunk
 * boundaries as needed); size = L + total, mtime = ctime = mtime_ns.
 * *at (optional) receives L. */
struct meta_append_rec { uint64_t rel, id; uint32_t size, off, len; };
int meta_append(struct meta *m, uint64_t ino, const struct meta_append_rec *recs, int n,
                int64_t mtime_ns, struct meta_attr *a, uint64_t *at);
/* Replace a chunk's whole slice list (compaction) if it is still exactly
 * old[0..old_n) (every field, in order; else -EAGAIN: someone wrote or
 * truncated meanwhile). The replaced slice ids are recorded as garbage for
 * gc; the inode's ctime is set to now, so block maps cached by (size,
 * mtime, ctime) are reloaded. The new ids are fenced as meta_write's
 * (-ESTALE). */
int meta_compact(struct meta *m, uint64_t ino, uint64_t chunk, const struct layout_slice *old,
                 int old_n, const struct layout_slice *s, int n);

int meta_setxattr(struct meta *m, uint64_t ino, const char *name, const void *val,
                  size_t len, int flags /* XATTR_CREATE / XATTR_REPLACE */);
int meta_removexattr(struct meta *m, uint64_t ino, const char *name);

/* ---- maintenance (gc, fsck, sessions) ---- */
/* Every slice id referenced by any file, ascending, via cb (gc). */
typedef int (*meta_id_cb)(void *arg, uint64_t id, uint32_t size);
int meta_list_slices(struct meta *m, meta_id_cb cb, void *arg);
/* Register a client session (timeout 0: only the reaper's stale_ns
 * judges it); returns its id. Closing it also drops its reservations. */
int meta_session_open(struct meta *m, const char *host, int pid, uint64_t *sid);
int meta_session_close(struct meta *m, uint64_t sid);
/* The handle's own session, which reserves slice ids, fences commits and
 * owns orphans this handle makes: meta_session_start upgrades an old
 * schema (meta_upgrade), then opens a session that counts as dead once it
 * has been silent for timeout_ns (no-op if the handle has one already).
 * meta_session_end closes it; meta_session_forget only forgets session
 * sid if it is still the handle's (the database said it is gone; after
 * fork meta_after_fork forgets it). meta_session_id: 0 if none. */
int meta_session_start(struct meta *m, const char *host, int pid, int64_t timeout_ns);
uint64_t meta_session_id(struct meta *m);
int meta_session_end(struct meta *m);
void meta_session_forget(struct meta *m, uint64_t sid);
/* Sessions prove they live by a heartbeat, on the database's clock (so
 * client clocks may differ). -ENOENT: the session was reaped. */
int meta_session_heartbeat(struct meta *m, uint64_t sid);
/* Record that session sid keeps orphan ino open (several sessions may).
 * -ENOENT: no such orphan (or no such session). */
int meta_orphan_own(struct meta *m, uint64_t ino, uint64_t sid);
/* Delete the sessions silent for longer than both stale_ns and their own
 * timeout (with their reservations), and drop
 * (slices to garbage) every orphan no live session owns that either had an
 * owner (a reaped or closed session) or was orphaned more than stale_ns ago
 * (the grace period covers an orphan made just before meta_orphan_own).
 * One transaction. *reaped (if not NULL) = sessions deleted; returns the
 * number of orphans dropped. */
int meta_session_reap(struct meta *m, int64_t stale_ns, int *reaped);

/* gc: slice ids released by unlink, truncate, rename and compaction that no
 * slice record references now, ascending, each once, with the (latest) time
 * it was released; streamed in pages (bounded memory). cb returns non-zero
 * to stop (a negative value is returned). */
typedef int (*meta_garbage_cb)(void *arg, uint64_t id, uint32_t size, int64_t since_ns);
int meta_list_garbage(struct meta *m, meta_garbage_cb cb, void *arg);
/* Forget garbage ids whose objects gc deleted. Ids some slice record
 * references again are skipped (kept). Returns how many were forgotten. */
int meta_forget_garbage(struct meta *m, const uint64_t *ids, int n);
/* 1 if some slice record references id, else 0. */
int meta_slice_referenced(struct meta *m, uint64_t id);
/* gc: every slice-id range reserved by a session that exists now
 * (stale_ns < 0), or by one that is alive as meta_session_reap would judge
 * it with stale_ns (a dry run's report), ascending by first id, in pages
 * (bounded memory). cb returns non-zero to stop (a negative value is
 * returned). Before deleting: reap, then list with stale_ns < 0 (a session
 * that exists may still commit), then list referenced ids and objects. */
typedef int (*meta_range_cb)(void *arg, uint64_t first, uint32_t n);
int meta_list_reservations(struct meta *m, int64_t stale_ns, meta_range_cb cb, void *arg);

/* fsck: consistency checks of the namespace and the slice records. Counts
 * are exact; cb (may be NULL) gets one line per problem, at most the first
 * META_FSCK_MAX_LINES over all checks. `orphans` counts orphans no existing
 * session owns (meta_session_reap drops them; repair leaves them). With
 * `repair`, after checking: dangling entries (missing inode, or parent not
 * a directory) are deleted, inodes without a name are linked as
 * "/lost+found/#<ino>" (made on demand), directories' parent columns and
 * every nlink are recomputed, slice records of missing inodes go to
 * garbage, and slice records past the file size are cut as a truncate to
 * the same size would (the visible bytes do not change); each repair is
 * its own transaction, safe beside running clients (a conflict reruns it).
 * The report describes what was found before repairing. Returns the number
 * of problems found. */
#define META_FSCK_MAX_LINES 1000
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
int meta_fsck(struct meta *m, int repair, struct meta_fsck_report *r, meta_fsck_cb cb,
              void *arg);

/* ---- batched import (shimfs import) ----
 * Create many regular files and symlinks, with their slice records, in one
 * transaction of one round trip: their parents are locked in ascending
 * order, inode ids come in one range, the parents' mtime and ctime become
 * now. Per file (out: result, ino): 0 created; -EEXIST the name is taken;
 * -ENOENT / -ENOTDIR the parent is no live directory; -ENAMETOOLONG,
 * -EINVAL bad name, target or slice. Those skip only their file. Returns
 * 0 when the transaction committed (every file with result 0 is visible,
 * all at once), or a negative errno and nothing committed: -ESTALE (one
 * log line) when a slice id is held by no live session (fenced as
 * meta_write), or the database's failure. `mode` carries S_IFREG or
 * S_IFLNK; symlinks have `target` (NUL-terminated) and no slices; nlink
 * is 1, ctime now. Meant for batches of a few thousand files. */
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
int meta_import_files(struct meta *m, struct meta_import_file *files, int n);

/* Run a batch of namespace changes in one transaction (import): calls fn,
 * whose meta_* calls on the same thread join that transaction; commits if
 * fn returns 0, else rolls back and returns its error. */
int meta_txn(struct meta *m, int (*fn)(struct meta *m, void *arg), void *arg);

/* A human-readable description of the database (host/db, no password). */
const char *meta_describe(const struct meta *m);

#endif

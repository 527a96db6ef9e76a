/* meta_int.h - what the files of metadata-sql/ share: the handle, the
 * connection pool, statement ids, parameter/result helpers, the pipelined
 * executor and the transaction runner. Not part of any contract outside
 * metadata-sql/ (the integration test includes it to EXPLAIN a statement).
 */
#ifndef SHIMFS_META_INT_H
#define SHIMFS_META_INT_H

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "meta.h"

#define META_LOG "metadata"
#define META_MAX_CONNS 64
#define META_TX_ATTEMPTS 5

#define META_S_IFMT  0170000
#define META_S_IFDIR 0040000
#define META_S_IFREG 0100000
#define META_S_IFLNK 0120000

/* Statement ids; their SQL is in meta_stmt.c, in the same order. */
enum meta_stmt_id {
    MS_VERSION, MS_SETTINGS, MS_STATS,
    MS_GETATTR, MS_LOOKUP, MS_WALK, MS_READDIR, MS_READLINK, MS_CHUNKS,
    MS_GETXATTR, MS_LISTXATTR, MS_XATTR_ANY,
    MS_NEXT_IDS, MS_LOCK, MS_ENTRIES,
    MS_CREATE, MS_LINK, MS_ENTRY_DEL, MS_ENTRY_MOVE, MS_ENTRY_SET,
    MS_DIR_TOUCH, MS_NLINK_SET, MS_INODE_MOVED, MS_DROP, MS_UNLINK_CHECK, MS_RENAME_CHECK,
    MS_RENAME_LOCK, MS_ANCESTOR,
    MS_SETATTR, MS_SETATTR_SOME, MS_TRUNC_DROP, MS_TRUNC_TRIM,
    MS_WRITE, MS_CHUNK_SIG, MS_COMPACT_DEL, MS_SLICES_ADD,
    MS_XATTR_SET, MS_XATTR_CREATE, MS_XATTR_REPLACE, MS_XATTR_REMOVE,
    MS_LIST_SLICES, MS_SESSION_OPEN, MS_SESSION_CLOSE,
    MS_EXISTS, MS_ROOT, MS_SETTING_PUT,
    /* directory block maps, sessions and orphans, gc, fsck */
    MS_DIR_SLICES_PLAN, MS_DIR_SLICES, MS_SESSION_HEARTBEAT, MS_ORPHAN_OWN, MS_SESSION_REAP,
    MS_RESERVE, MS_FENCE, MS_LIST_RESERVATIONS, MS_UPGRADE_LOCK,
    MS_LIST_GARBAGE, MS_FORGET_GARBAGE, MS_SLICE_REFERENCED, MS_TX_REPEATABLE,
    MS_FSCK_DANGLING, MS_FSCK_LOST, MS_FSCK_DIR_PARENT, MS_FSCK_NLINK, MS_FSCK_ORPHANS,
    MS_FSCK_SLICES_MISSING, MS_FSCK_SIZES,
    MS_FIX_DANGLING, MS_FIX_LOST, MS_FIX_DIR_PARENT, MS_FIX_NLINK, MS_FIX_SLICES_MISSING,
    MS_FIX_SIZES,
    MS_CHANGE_TOKEN,
    MS_APPEND,
    MS_CHANGES, MS_DIR_CHANGES, MS_NAME_PARENTS,
    MS_WAL_LSN, MS_REPLAY_LSN,      /* read routing (meta_route.c) */
    /* batched import (meta_import.c) */
    MS_IMPORT,
    /* inline blocks (schema 4) */
    MS_WRITE_INLINE, MS_FORGET_GARBAGE_INLINE, MS_INLINE_GET, MS_LIST_INLINE,
    /* a create whose commit is not waited for, and the wait (meta_sync) */
    MS_ASYNC_COMMIT, MS_WAL_FLUSH,
    /* open(O_CREAT) in one statement (meta_create_open) */
    MS_CREATE_OPEN,
    /* a data commit's check that the file's map is its slices alone */
    MS_SLICES_SOLE,
    MS_COUNT
};

struct meta_stmt {
    const char *name;   /* prepared statement name, also used in log lines */
    const char *sql;
};
extern const struct meta_stmt meta_stmts[MS_COUNT];

/* Columns of an inode row as every attribute-returning statement lists
 * them (decoded by meta_r_attr). */
#define META_NCOLS 11

/* Where a connection stands with respect to transactions. */
enum meta_tx_state {
    META_TX_NONE = 0,   /* autocommit: each batch is its own transaction */
    META_TX_OWN,        /* inside meta_tx: one namespace change */
    META_TX_OUTER,      /* inside meta_txn: nested changes join it */
};

struct meta_conn {
    struct meta *m;
    PGconn *pg;
    int busy;                   /* borrowed by a thread */
    int tx;                     /* enum meta_tx_state */
    int begin_pending;          /* BEGIN goes out with the next batch */
    int in_block;               /* an explicit transaction is open */
    int retry;                  /* the last failure may succeed if the tx reruns */
    int moved;                  /* the last failure: a pooler moved our session */
    int64_t deadline_ns;        /* CLOCK_MONOTONIC: this use of c ends by then */
    int slot;                   /* the node's slot it holds (meta_set_conn_gate), or -1 */
    int64_t idle_since_ns;      /* CLOCK_MONOTONIC: when its last call ended */
    unsigned char prepared[MS_COUNT];
};

/* The database's reachability as this handle saw it (meta_down.c). */
struct meta_down {
    pthread_mutex_t mu;
    int64_t until_ns;           /* down: fail fast before this; 0 = up (atomic) */
    int64_t since_ns;           /* when the outage began */
    int64_t logged_ns;          /* last log line about it */
    int backoff_ms;             /* the current window */
    int err;                    /* the failure calls are answered with */
    int probing;                /* a thread is trying to connect */
    uint64_t refused;           /* calls answered fast since the last line */
};

/* How connections reach the server (SHIMFS_META_POOLER, meta_conn.c). */
enum meta_pooler {
    META_POOLER_NONE = 0,       /* a PostgreSQL server: session state is ours */
    META_POOLER_SESSION,        /* PgBouncer session mode: no startup options */
    META_POOLER_TRANSACTION,    /* transaction mode: no state outlives a transaction */
};

/* Metadata reads sent to a read server (SHIMFS_META_READ, meta_route.c). */
struct meta_route {
    struct meta *rd;            /* the read server's handle; NULL: all on the primary */
    int lag_ms;                 /* SHIMFS_META_READ_LAG: staleness bound */
    pthread_mutex_t mu;
    uint64_t fence_lsn;         /* the primary's WAL position ... */
    int64_t fence_at_ns;        /* ... at or after this time (CLOCK_MONOTONIC) */
    int64_t commit_ns;          /* this handle's last commit was acknowledged then */
    uint64_t n_read, n_primary; /* routable reads, and those the primary answered */
};

struct meta {
    char *conninfo;
    char describe[512];
    int use_prepare;            /* SHIMFS_META_PREPARE (default 1); atomic */
    int pooler;                 /* enum meta_pooler */
    int quiet;                  /* a read server's handle: meta_route.c reports */
    struct meta_route route;
    int checked;                /* schema version verified on this handle */
    int first_noted;            /* its first question was logged (debug) */
    int timeout_ms;             /* meta_set_timeout: bound of one call */
    struct meta_down down;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nconns;
    struct meta_conn conns[META_MAX_CONNS];
    void (*commit_hook)(void *arg);   /* meta_set_commit_hook */
    void (*observer)(void *arg, int64_t ns, int failed); /* meta_set_observer */
    void *observer_arg;
    int version;                /* schema version found by the check */
    uint64_t sid;               /* the handle's session (0: none); atomic */
    int fenced;                 /* a session was ever started: commits are fenced
                                   (even while a reaped one is being replaced) */
    void *commit_arg;
    const struct meta_conn_gate *gate; /* meta_set_conn_gate (atomic), or NULL */
    int idler;                         /* 1 while meta_gate.c's idle closer runs (under mu) */
    int closing;                       /* meta_close: the idle closer leaves (under mu) */
    pthread_t idler_thread;
    /* group commit (meta_tx.c): lazy commits acknowledged, and how many of
     * them a synchronous commit that returned since had covered; atomic */
    uint64_t lazy_done, lazy_synced;
};

/* A lazy commit (synchronous_commit off) of the handle was acknowledged. */
void meta_lazy_note(struct meta *m);
/* Before a synchronous commit that writes WAL: the mark to pass to
 * meta_lazy_covered once it committed (the lazy commits acknowledged
 * before it started are on disk then). */
uint64_t meta_lazy_mark(struct meta *m);
void meta_lazy_covered(struct meta *m, uint64_t mark);

/* A change committed outside meta_tx's notice (meta_change1 callers whose
 * change is visible): run the commit hook. */
void meta_notify_commit(struct meta *m);

/* ---- parameters (meta_params.c) ---- */
#define META_MAXP 16
struct meta_params {
    int n;
    const char *val[META_MAXP];
    int len[META_MAXP];
    int fmt[META_MAXP];
    char num[META_MAXP][24];
};
void meta_p_init(struct meta_params *p);
void meta_p_int(struct meta_params *p, int64_t v);        /* text format */
void meta_p_bytes(struct meta_params *p, const void *b, size_t n); /* binary */
void meta_p_text(struct meta_params *p, const char *s);   /* text, NUL-terminated */
void meta_p_null(struct meta_params *p);
void meta_p_int_if(struct meta_params *p, int given, int64_t v); /* NULL when not given */
/* MS_SETATTR_SOME's parameters: fields (META_SET_*) of a, ctime now, the
 * mode only while the permission bits are mode_was (-1: always), the
 * whole change only if ctime is if_ctime (0: always). */
void meta_setattr_some_params(struct meta_params *p, uint64_t ino, unsigned fields,
                              const struct meta_attr *a, int mode_was, int64_t if_ctime,
                              int64_t now);

/* Results are always binary. Integers of any width (bool, int2/4/8);
 * NULL reads as 0. */
int64_t meta_r_int(const PGresult *r, int row, int col);
int meta_r_isnull(const PGresult *r, int row, int col);
const char *meta_r_bytes(const PGresult *r, int row, int col, size_t *len);
/* Decodes META_NCOLS inode columns starting at col. */
void meta_r_attr(const PGresult *r, int row, int col, struct meta_attr *a);

/* A text-format int8[]/int4[] literal ("{1,2,3}") in a growing buffer. */
struct meta_arr { char *buf; size_t len, cap; int n; };
int meta_arr_add(struct meta_arr *a, int64_t v);
const char *meta_arr_str(struct meta_arr *a);   /* "{...}"; NULL on ENOMEM */
void meta_arr_free(struct meta_arr *a);

/* ---- connections (meta_pool.c, meta_conn.c) ---- */
/* Borrow a connection (the thread's own inside meta_txn), connecting lazily
 * and checking the schema version once per handle. The borrow starts the
 * call's clock: connecting and every round trip end by c->deadline_ns
 * (meta_set_timeout), inside meta_txn each nested call gets its own. */
int meta_conn_get(struct meta *m, struct meta_conn **out);
/* The same without the schema check (meta_format, meta_load_settings). */
int meta_conn_get_raw(struct meta *m, struct meta_conn **out);
/* The same, ending by deadline_ns (a retry of a call already running). */
int meta_conn_get_until(struct meta *m, int raw, int64_t deadline_ns, struct meta_conn **out);
void meta_conn_put(struct meta_conn *c);
/* Close every idle connection: one was found dead, the others probably
 * are too (server restart), and a retry must not land on one of them. */
void meta_pool_drop_idle(struct meta *m);
/* The connection the calling thread holds for meta_txn on m, or NULL. */
struct meta_conn *meta_conn_owned(const struct meta *m);
void meta_conn_set_owned(struct meta *m, struct meta_conn *c);

/* Open c->pg (closing a broken one first) by c->deadline_ns; fails fast
 * while the database is known down. Logs through meta_down_failed. */
int meta_conn_connect(struct meta_conn *c);
/* Close c, giving its slot back; waits (at most META_GATE_CLOSE_MS) for
 * the server to end it, so that the slot is free again at once. */
void meta_conn_drop(struct meta_conn *c);
/* The same, with wait 0 not waiting: the slot then keeps its grace (the
 * process's exit: a short command would spend a few ms of its life
 * watching its backend go). */
void meta_conn_end(struct meta_conn *c, int wait);
/* The node's bound on connections (meta_gate.c, meta_set_conn_gate):
 * acquire a slot for c before it connects (0, or the gate's -ETIMEDOUT);
 * release it as c closes; call_ended as a call gives c back (its idle
 * time starts); close before the
 * handle is freed; after_fork in the child. */
int meta_gate_acquire(struct meta_conn *c);
/* closed: the server was seen to end the connection (no grace needed). */
void meta_gate_release(struct meta_conn *c, int closed);
void meta_gate_call_ended(struct meta_conn *c);
void meta_gate_close(struct meta *m);
void meta_gate_after_fork(struct meta *m);
int meta_conn_broken(const struct meta_conn *c);
/* Map a failed result (or a connection-level failure when r is NULL) to a
 * negative errno; sets c->retry for serialization failures and deadlocks;
 * logs infrastructure failures. */
int meta_conn_error(struct meta_conn *c, const PGresult *r, const char *what);
/* Make a conninfo description without secrets into buf. */
void meta_conn_describe(const char *conninfo, char *buf, size_t cap);

/* ---- reachability (meta_down.c) ---- */
int64_t meta_mono_ns(void);
void meta_down_init(struct meta_down *d);
/* 1 while the database is known down (one atomic load). */
int meta_down_known(struct meta *m);
/* 0: a connect may be tried (as the probe, when down); else the errno to
 * answer at once, without a connect attempt. */
int meta_down_check(struct meta *m);
/* A connect failed or a call got no answer in time: mark down, back off,
 * log (once per interval). why: one line naming the database (its
 * description), no secrets. */
void meta_down_failed(struct meta *m, int err, const char *why);
/* A connect succeeded: mark up (one line if it was down). */
void meta_down_ok(struct meta *m);

/* The pooler mode of SHIMFS_META_POOLER (one warning line if invalid). */
int meta_pooler_from_env(void);
/* A failure says the server session changed under the connection (26000
 * or 42P05 on a named statement): a pooler in transaction mode. From now
 * on the handle sends unnamed statements; one log line. */
void meta_conn_unprepare(struct meta *m, const char *why);

/* ---- executing (meta_exec.c) ---- */
struct meta_q {
    int stmt;
    const struct meta_params *p;
    PGresult *res;              /* out: the statement's result on success */
};
/* Run qs[0..n) in one round trip, preceded by BEGIN when one is pending
 * and followed by COMMIT when `commit` and the transaction is the caller's
 * own. A batch that is a whole transaction by itself goes without
 * BEGIN/COMMIT: statements before one Sync form an implicit transaction.
 * On failure every qs[i].res is NULL. */
int meta_run(struct meta_conn *c, struct meta_q *qs, int n, int commit);
int meta_run1(struct meta_conn *c, int stmt, const struct meta_params *p, PGresult **res);
void meta_q_clear(struct meta_q *qs, int n);
/* COMMIT (commit = 1) or ROLLBACK the open transaction, one round trip. */
int meta_end(struct meta_conn *c, int commit);
/* One idempotent read outside any caller transaction: borrows a connection,
 * runs, reconnects and retries once if the connection had broken. */
int meta_read(struct meta *m, int stmt, const struct meta_params *p, PGresult **res);
/* Rows (key bigint, n int) of a keyset-paged statement whose parameters
 * are ([*lead,] after, page), page after page (bounded memory), each page
 * past the previous one's last key; cb gets each row and returns non-zero
 * to stop (a negative value is returned). */
int meta_read_keyset(struct meta *m, int stmt, const int64_t *lead, int64_t after, int page,
                     meta_id_cb cb, void *arg);
/* The same without the schema version check (meta_load_settings does it). */
int meta_read_raw(struct meta *m, int stmt, const struct meta_params *p, PGresult **res);
/* Simple-protocol commands (DDL, BEGIN/COMMIT/ROLLBACK in format). */
int meta_exec_simple(struct meta_conn *c, const char *sql, const char *what);

/* ---- read routing (meta_route.c) ---- */
/* meta_open without read routing (the read server's own handle). */
int meta_open_one(const char *conninfo, struct meta **out);
/* meta_set_timeout changed m's bound: the read server's try follows. */
void meta_route_set_timeout(struct meta *m);
/* Reads SHIMFS_META_READ and SHIMFS_META_READ_LAG (a value that does not
 * parse: one warning, no read server); 0 or -errno. */
int meta_route_open(struct meta *m);
void meta_route_close(struct meta *m);
void meta_route_after_fork(struct meta *m);
/* A commit of m was acknowledged: its next reads must see it. */
void meta_route_committed(struct meta *m);
/* Runs the read batch qs on the read server when all of it is routable
 * and its answer is known fresh enough, else on c (the primary's, held by
 * the caller; adding MS_WAL_LSN when the fence needs renewing): as
 * meta_run(c, qs, n, 0). Outside meta_txn only; bounded by c's deadline. */
int meta_route_run(struct meta_conn *c, struct meta_q *qs, int n);

/* ---- transactions (meta_tx.c) ---- */
typedef int (*meta_tx_body)(struct meta_conn *c, void *arg);
/* Run body as one transaction (or inside the caller's meta_txn), retrying
 * serialization failures and deadlocks up to META_TX_ATTEMPTS times. */
int meta_tx(struct meta *m, meta_tx_body body, void *arg);
/* The 64-bit digest of the change token in column col of a one-row result
 * (meta_watch.c); 0 when there is none, never 0 otherwise. */
uint64_t meta_token_of(const PGresult *r, int col);

/* ---- what a transaction changed (meta_changes.c) ---- */
/* Every statement that answered (from meta_exec.c): notes which
 * directories a change statement touched, for the commit hook. */
void meta_chg_note(const struct meta_q *q);
/* A transaction (attempt) starts on this thread: nothing noted yet. */
void meta_chg_reset(void);

/* A change that is one statement: run as its own (implicit) transaction,
 * rerun on conflicts; joins meta_txn when inside one. */
int meta_change1(struct meta *m, int stmt, const struct meta_params *p, PGresult **res);
/* 1 when c's statements commit by themselves only with a COMMIT of ours. */
int meta_tx_own(const struct meta_conn *c);

/* ---- locking (meta_lock.c) ---- */
struct meta_ent { uint64_t parent; const char *name; size_t nlen; };
struct meta_lockset {
    int n;
    struct meta_attr a[6];
    /* per entry asked for: target ino (0: no such entry), has children */
    uint64_t ent_ino[2];
    int ent_nonempty[2];
};
/* Lock the inodes `inos` and the targets of entries `e` (at most 2) in
 * ascending ino order, then read the entries again under those locks. */
int meta_lock(struct meta_conn *c, const uint64_t *inos, int ninos,
              const struct meta_ent *e, int ne, struct meta_lockset *ls);
/* The locked row of ino, or NULL. */
struct meta_attr *meta_lock_find(struct meta_lockset *ls, uint64_t ino);
/* The lock of a batch that checks a guess in the same round trip
 * (meta_unlink_guess, meta_rename_guess): MS_LOCK of the rows inos[0..n)
 * (0: none), no entries, as *q with its parameters in *p; buf (cap bytes,
 * META_LOCK_BUF for 4 rows) holds the array until the batch has run. */
#define META_LOCK_BUF 96
void meta_lock_rows_q(struct meta_q *q, struct meta_params *p, char *buf, size_t cap,
                      const uint64_t *inos, int n);
/* The row of ino in an MS_LOCK answer into *out: 1, or 0 when not there. */
int meta_lock_row(const PGresult *r, uint64_t ino, struct meta_attr *out);

/* ---- small shared helpers ---- */
int64_t meta_now_ns(void);
int meta_check_name(const char *name, size_t nlen);
static inline int meta_is_dir(uint32_t mode) { return (mode & META_S_IFMT) == META_S_IFDIR; }
/* Verify the schema version on a connection (sets m->checked). */
int meta_check_version(struct meta_conn *c);

#endif

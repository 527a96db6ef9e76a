/* vfs_engine.h - the process's engine: one object that holds the volume's
 * handles the vfs uses and every part of the vfs's own state (caches,
 * tables, queues, the session, writeback), so the whole of it can be seen
 * in one place and reset after fork by one handler that walks its parts
 * (vfs_engine.c). Internal to core/vfs/vfs_*.c, like vfs_internal.h.
 *
 * The vfs reaches the volume only through the members below (`meta`,
 * `cache`, `node`, `cfg`, `settings`, `dev`), never through struct
 * volume's layout; `vol` itself is passed, opaque, to volume_* and fetch_*.
 * Those members are set by vfs_init before `vol` is published (release)
 * and never change afterwards; code that may run before the volume is
 * open asks vfs_opened() (acquire) first.
 *
 * A part is a struct here and one line in vfs_engine.c's fork table: its
 * lock, and the reset function of whatever else a fork child must forget.
 * The engine is one object per process (the vfs's calls take no handle):
 * `vfs_eng`, hidden, so its parts cost what file statics cost.
 */
#ifndef SHIMFS_VFS_ENGINE_H
#define SHIMFS_VFS_ENGINE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "meta.h"

struct volume;
struct obj_store;
struct cache;
struct nodemeta;
struct vfs_smap;

/* ---- opening the volume (vfs_engine.c) ---- */
struct vfs_open_state {
    pthread_mutex_t lock;
    int err;                    /* the last failure, answered until err_until */
    int64_t err_until;
    int logged;
};

/* ---- volume-wide figures (vfs.c) ---- */
struct vfs_stats_state {
    pthread_mutex_t lock;       /* statvfs's */
    struct meta_stats kept;
    int64_t kept_at;
    int64_t xattr_until;        /* whether the volume has any xattr, known until */
    int xattr_known;
};

/* ---- metadata caches (vfs_mcache.c) ---- */
struct mc_inode;
struct mc_entry;
struct vfs_mcache_state {
    pthread_mutex_t lock;
    struct mc_inode **inodes;
    struct mc_entry **entries;
    size_t ncap, ecap, count;
    size_t listing_bytes;       /* held by the folders' listings */
    uint64_t seen_gen;          /* the node's change generation the caches match */
    int seen_valid;
    uint64_t epoch;             /* bumped when entries are dropped (mcache_fill_epoch) */
};

/* ---- inodes open in this process, for unlink-while-open (vfs_ns.c) ---- */
#define VFS_OPEN_BUCKETS 1024
struct vfs_open_ino;
struct vfs_opens_state {
    pthread_mutex_t lock;
    struct vfs_open_ino *b[VFS_OPEN_BUCKETS];
    int orphans;                /* how many entries are orphans (fstat's fast path) */
    int umask_known;            /* the process's umask, read once */
    mode_t umask;
};

/* ---- block maps in name order of recent directories (vfs_read.c) ---- */
#define VFS_DIRSEQ_SLOTS 64
struct vfs_dirseq {
    uint64_t dir;
    int n, cap;
    struct vfs_smap **maps;     /* name order, one ref each */
    int ahead;                  /* files up to here were queued for prefetch */
    int last;                   /* where the reader was last (search starts here) */
    int cold;                   /* a file of this directory missed the cache */
};
struct vfs_dirseq_state {
    pthread_mutex_t lock;
    struct vfs_dirseq slot[VFS_DIRSEQ_SLOTS];
};

/* ---- subdirectories of recently listed directories (vfs_snap.c) ---- */
#define VFS_SNAP_SLOTS 16
struct vfs_subdirs_state {
    pthread_mutex_t lock;
    struct { uint64_t dir; int n, done; uint64_t *sub; } slot[VFS_SNAP_SLOTS];
};

/* ---- the session and its heartbeat/compaction thread (vfs_session.c) ---- */
#define VFS_SESSION_QUEUE 64
struct vfs_compact_job { uint64_t ino, chunk; };
struct vfs_session_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* CLOCK_MONOTONIC, made by the first start */
    int cond_ready, thread, exit_hooked, busy;
    int lazy;                   /* a lazy commit was made: flush at exit (atomic) */
    struct vfs_compact_job q[VFS_SESSION_QUEUE];
    unsigned head, tail;
};

/* ---- slice ids reserved in batches (vfs_write.c) ---- */
struct vfs_ids_state {
    pthread_mutex_t lock;
    uint64_t next, end;
    uint64_t sid;               /* the session that reserved [next, end) */
};

/* ---- writeback journals and their uploader thread (vfs_writeback.c) ---- */
#define VFS_WB_QUEUE 256
struct vfs_wb_job { int fd; char path[4400]; };
struct vfs_wb_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct vfs_wb_job q[VFS_WB_QUEUE];
    unsigned head, tail, busy;
    int thread, seq, failures;
    pthread_mutex_t recover;    /* one journal recovery at a time (vfs_wb_recover) */
};

/* ---- working copies of shared-mapped files (vfs_map.c) ---- */
struct vfs_mapobj;
struct vfs_maps_state {
    pthread_mutex_t lock;
    struct vfs_mapobj *list;
};

/* ---- how new the node's answers must be (vfs_agent.c) ---- */
struct vfs_view_state {
    int64_t floor;  /* wall ns: the process's start (its engine's, or its fork's) */
    int synced;     /* the caches were emptied after a poll begun past floor */
    int unheard;    /* the agent did not answer it (an older build's): not again */
};

struct vfs_engine {
    /* the volume (see the top of this file) */
    struct volume *vol;
    struct meta *meta;
    struct obj_store *store;
    struct cache *cache;        /* NULL when the cache is off or unusable */
    struct nodemeta *node;      /* NULL: metadata not shared with the node */
    uint64_t dev;               /* st_dev of volume files */
    struct shimfs_config cfg;   /* the volume's (its cache folder checked) */
    struct meta_settings settings;

    /* the vfs's parts */
    struct vfs_open_state open;
    struct vfs_stats_state stats;
    struct vfs_mcache_state mc;
    struct vfs_opens_state opens;
    struct vfs_dirseq_state dirseq;
    struct vfs_subdirs_state subdirs;
    struct vfs_session_state session;
    struct vfs_ids_state ids;
    struct vfs_wb_state wb;
    struct vfs_maps_state maps;
    struct vfs_view_state view;
    int warned_no_locks;        /* log_once: no cache folder for lock files */
    int warned_no_exec;         /* log_once: no cache folder for materialised copies */
};

extern struct vfs_engine vfs_eng __attribute__((visibility("hidden")));

/* The engine once its volume is open, else NULL. */
static inline struct vfs_engine *vfs_opened(void)
{
    return __atomic_load_n(&vfs_eng.vol, __ATOMIC_ACQUIRE) ? &vfs_eng : NULL;
}

/* Fork-child resets of the parts that hold more than a lock (the fork
 * table in vfs_engine.c calls them, in its order). */
void vfs_ids_after_fork(struct vfs_engine *e);
void vfs_wb_after_fork(struct vfs_engine *e);
/* The write pipeline's lock and condition afresh (vfs_upload.c); a batch
 * the parent's thread was uploading is uploaded again by the child's flush. */
void vfs_upload_after_fork(struct vfs_engine *e);
/* A fork child is a new process: its floor is now (vfs_agent.c). */
void vfs_view_after_fork(struct vfs_engine *e);
void vfs_session_after_fork(struct vfs_engine *e);
void vfs_maps_after_fork(struct vfs_engine *e);

#endif

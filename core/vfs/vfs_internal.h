/* vfs_internal.h - what the vfs files share among themselves (not a public
 * contract: only core/vfs/vfs_*.c include it).
 */
#ifndef SHIMFS_VFS_INTERNAL_H
#define SHIMFS_VFS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <sys/types.h>

#include "agent_ask.h"
#include "layout.h"
#include "meta.h"
#include "nodemeta.h"
#include "vfs.h"
#include "vfs_engine.h"
#include "volume.h"

int64_t vfs_now_ns(void);
/* Map an engine error to what a program should see: infrastructure
 * failures (unreachable, auth, schema) become EIO; namespace answers pass. */
int vfs_errno(int rc);
/* -EROFS when this process mounts the volume read-only (SHIMFS_READ_ONLY=1). */
int vfs_writable(void);
/* An xattr was set by this process (the "volume has none" shortcut ends). */
void vfs_xattrs_changed(void);
/* Permission check as access(2) does it (R_OK|W_OK|X_OK), 0 or -EACCES. */
int vfs_check_access(const struct meta_attr *a, int mode, int eaccess);
/* The node-local pipe behind the volume FIFO a (vfs_fifo.c): VFS_ESCAPED
 * with its path in host, or -errno (EACCES: someone else's name). */
int vfs_fifo_host(const struct meta_attr *a, char *host, size_t hcap);
/* The last name of FIFO ino is gone: remove this node's pipe. */
void vfs_fifo_forget(uint64_t ino);

/* ---- metadata caches (vfs_mcache.c) ---- */
/* Slice map of one file version, shared by open files (refcounted). */
struct vfs_chunk { uint64_t index; int n; struct layout_slice *s; };
struct vfs_smap {
    int refs;
    uint64_t ino, size;
    int64_t mtime_ns, ctime_ns; /* with size: the version it maps (compaction
                                   changes only ctime) */
    int nchunks;
    struct vfs_chunk *chunks;   /* ascending index */
};
void vfs_smap_put(struct vfs_smap *m);
/* The map of a file this process has just created (a's version, no
 * slice: nothing to ask the database), also cached; NULL on ENOMEM. */
struct vfs_smap *vfs_smap_empty(const struct meta_attr *a);
/* The map of a's version from its whole list of records r[0..n) (chunk
 * order, each chunk's in commit order), also cached; NULL on ENOMEM or
 * records out of order. */
struct vfs_smap *vfs_smap_from_recs(const struct meta_attr *a, const struct meta_slice_rec *r,
                                    int n);
struct vfs_smap *vfs_smap_get(struct vfs_smap *m);

enum { MC_MISS = -1000 };
/* Entry (parent, name): 0 and *a filled, -ENOENT if known missing, MC_MISS. */
int mcache_lookup(uint64_t parent, const char *name, size_t nlen, struct meta_attr *a);
void mcache_put_entry(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a);
void mcache_put_negative(uint64_t parent, const char *name, size_t nlen);
int mcache_getattr(uint64_t ino, struct meta_attr *a);
void mcache_put_attr(const struct meta_attr *a);
/* The same with the time (vfs_now_ns clock) the answer was read from the
 * database, which may be earlier than now (node snapshots): TTLs count from
 * there. */
void mcache_put_entry_at(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a,
                         int64_t at);
void mcache_put_attr_at(const struct meta_attr *a, int64_t at);
int mcache_getattr_at(uint64_t ino, struct meta_attr *a, int64_t *at);
/* A fill that puts a folder's entries takes the epoch before its first
 * put and hands it to mcache_dir_set_listed_at: entries dropped since (the
 * epoch moved) and the folder is not said to be whole. */
uint64_t mcache_fill_epoch(void);
void mcache_dir_set_listed_at(uint64_t dir, int complete, int64_t at, uint64_t epoch);
/* Directory fill state: listed (complete and fresh) answers misses as
 * ENOENT; `misses` counts lookups that missed in an unlisted directory. */
int mcache_dir_listed(uint64_t dir);
void mcache_dir_set_listed(uint64_t dir, int complete);
int mcache_dir_note_miss(uint64_t dir);
/* Counts opens of files in dir whose block map was not cached. */
int mcache_dir_note_smap_miss(uint64_t dir);
/* Slice map cached for a->ino if it maps that version (size, mtime,
 * ctime); takes a ref. */
struct vfs_smap *mcache_get_smap(const struct meta_attr *a);
void mcache_put_smap(struct vfs_smap *m);
void mcache_forget(uint64_t ino);
/* A rename moved file ino to folder parent at ctime_ns (what it wrote):
 * its cached attributes, if any, take them and keep their expiry. */
void mcache_attr_moved(uint64_t ino, uint64_t parent, int64_t ctime_ns);
/* dir is no longer known listed (its attributes and entries stay). */
void mcache_dir_unlist(uint64_t dir);
/* The inode a fresh entry names, even when its attributes have aged
 * (0), or MC_MISS (unknown or negative). */
int mcache_entry_ino(uint64_t parent, const char *name, size_t nlen, uint64_t *ino);
/* This process changed a name in dir: its cached entries were updated by
 * the caller and its listing stays valid (no re-list); the folder's own
 * attributes take the commit's nlink change and time (time_ns 0: unknown,
 * they are asked again, by inode, at their next use). */
void mcache_dir_changed(uint64_t dir, int nlink_delta, int64_t time_ns);
void mcache_reset(void);
/* This process committed a change (the node generation was `before`). */
void mcache_own_commit(uint64_t before);
/* The node's local sequence number of this thread's last commit since the
 * last call (0: none, or no node). */
uint64_t mcache_take_commit(void);

/* ---- large directories listed whole (vfs_listing.c) ---- */
/* The records of a node snapshot with their index in name order;
 * immutable, refcounted. at: when the database answered (vfs_now_ns). */
struct vfs_listing {
    int refs;
    uint64_t dir;
    int64_t at;
    uint32_t n;
    size_t *off;                /* record positions, in name order */
    struct nodemeta_snap snap;
};
/* Index s (from s->pos) as a listing of dir, taking s's records: 0, or
 * -EBADMSG (malformed, names out of order) / -ENOMEM, s left as it was. */
int vfs_listing_build(uint64_t dir, int64_t at, struct nodemeta_snap *s, struct vfs_listing **out);
/* Entry i (< l->n): its name (pointing into l) and attributes. */
void vfs_listing_entry(const struct vfs_listing *l, uint32_t i, const char **name, size_t *nlen,
                       struct meta_attr *a);
/* A name's attributes (binary search), or -ENOENT. */
int vfs_listing_find(const struct vfs_listing *l, const char *name, size_t nlen,
                     struct meta_attr *a);
/* The block maps of name and of up to count - 1 files after it, from the
 * listing's snapshot records, into the caches (a name-ordered run for
 * directory read-ahead): no query. 0 when name's own map was there,
 * -ENOENT when not (not in the listing, a name a delta record set with
 * no map, or a version the snapshot does not hold), -ENOMEM. */
int vfs_listing_maps(const struct vfs_listing *l, const char *name, size_t nlen, uint32_t count);
/* The listing's entries in name order onto b (a fold, nodemeta.h), each
 * regular file with its chunk records when the listing holds its map:
 * 0 or b's error. */
int vfs_listing_write(const struct vfs_listing *l, struct nodemeta_buf *b);
size_t vfs_listing_bytes(const struct vfs_listing *l);
struct vfs_listing *vfs_listing_get(struct vfs_listing *l);
void vfs_listing_put(struct vfs_listing *l);
/* The cache's listing of dir (a reference), when it is fresh and this
 * process changed no name in dir since; else NULL. */
struct vfs_listing *mcache_dir_listing(uint64_t dir);
/* dir is listed whole by l (a reference is taken): names are looked up in
 * it until the entry TTL from l->at, names this process changes since
 * are answered by the entries it puts. */
void mcache_dir_set_listing(uint64_t dir, struct vfs_listing *l);
/* Too big for even a whole listing of the node's (its snapshot file's
 * cap): read by pages only, a listing is not tried again. */
void mcache_dir_set_huge(uint64_t dir);
int mcache_dir_huge(uint64_t dir);
/* How many entries dir is known to hold more than (a bounded answer came
 * back full), raised to at_least first (0: only read); 0 when not known,
 * and again once it is listed whole. */
uint32_t mcache_dir_more(uint64_t dir, uint32_t at_least);
/* Whole listings of dir asked of the node agent (vfs_agent_prelist), after
 * adding `add` (0: only read). */
int mcache_dir_prelist(uint64_t dir, int add);

/* ---- whole directories (vfs_snap.c) ---- */
#define VFS_SNAP_FIRST 1024      /* entries fetched on a first miss */
#define VFS_SNAP_MAX 16384       /* a directory listed whole at most by a walk,
                                    and into the caches entry by entry */
#define VFS_SNAP_ALL (1 << 30)   /* a lister's limit: the whole directory, in
                                    pages, kept as a listing past VFS_SNAP_MAX */
/* Entries, attributes and block maps of dir into the caches, from the
 * node's snapshot or one query of at most `limit` entries (shared with the
 * node when complete); ecb (optional) sees every entry in name order.
 * 1: complete (the directory is listed), 0: `limit` reached, or -errno.
 * A folder over VFS_SNAP_MAX (read whole in pages with VFS_SNAP_ALL), or
 * one whose node snapshot comes with a delta, goes into the caches as a
 * listing instead (mcache_dir_listing), and ecb does not see it all. */
int vfs_snap_fill(uint64_t dir, int limit, meta_dirent_cb ecb, void *arg);
/* dir whole for the node (VFS_SNAP_ALL), in the background (the agent's
 * answer to vfs_agent_prelist): as vfs_snap_fill, but under a question
 * lock of its own, so the node's readers asking a page of dir meanwhile
 * do not wait behind it; they find it in the node's files once landed. */
int vfs_snap_fill_aside(uint64_t dir);
/* How old an answer of the node's files may be for this process (ns; -1:
 * any): the TTL, less once it synced (vfs_agent.c). */
int64_t vfs_node_max_age(void);
/* The node's snapshot only (no query): 1 when one was used. */
int vfs_snap_load(uint64_t dir);
/* The same, kept as a listing (sorted: readdir pages past the first come
 * from it): 1 when done. */
int vfs_snap_listing(uint64_t dir);
/* dir has more entries than a first page and this process reads it by
 * name: ask the node agent, once a process and without waiting, to list it
 * whole for the node (off this process's path; the agent does once a
 * second process asks). vfs_prelisted then finds the listing when it
 * landed. */
void vfs_agent_prelist(uint64_t dir);
/* dir's whole listing from the node's files into the caches (as a
 * listing), when this process asked for one and it landed: 1, else 0.
 * For a miss: a listing the caches hold already answers before it. */
int vfs_prelisted(uint64_t dir);
/* Ask the node agent for a question instead of connecting (vfs_agent.c;
 * kinds, limit and names as agent_ask.h): 0 when its answer is in the node's
 * files now, -EAGAIN when this process should not ask it (it holds a
 * connection or a question's lock, no agent serves), else -errno. */
int vfs_agent_ask(char kind, uint64_t dir, int limit, const char *const *names, const size_t *lens,
                  int n);
/* A process's first read open, and a read open the caches answered
 * ENOENT: the node's answers must not be older than the process (another
 * node wrote the file, or created the name, just before it started). 1:
 * they were brought past the process's start (the agent polled, when its
 * last poll was older) and its caches emptied: resolve (again) from the
 * node's files, nothing asked of the database when they answer. 0: the
 * process did that already: the TTLs' rule from then on. -EAGAIN: no
 * agent serves the node (or this process must not ask it): node answers
 * stand for their TTL, and a missing name is asked of the database
 * (vfs_agent.c). */
int vfs_view_sync(void);
/* One round trip walking names[0..n) from dir: every step found into the
 * caches and the node's walk answers, a missing name as a negative entry
 * (vfs_path.c). */
int vfs_walk_rest(uint64_t dir, const char *const *names, const size_t *lens, int n);
/* This thread's commit seq (mcache_take_commit) changed names of dir: the
 * node's snapshot of dir takes them (a NULL attribute: the name is gone)
 * instead of going stale, when it can (nodemeta_dir_patch). */
void vfs_snap_patch(uint64_t seq, uint64_t dir, const struct nodemeta_change *c, int n);
/* The same for one entry of dir named by the last component of the
 * canonical path canon (NULL, "" or "/": nothing), touch as in
 * struct nodemeta_change; map[0..nmap) its file's whole block map in
 * chunk order when known (nmap < 0: not known, the node's readers ask). */
void vfs_snap_patch_name(uint64_t seq, uint64_t dir, const char *canon, const struct meta_attr *a,
                         int touch, const struct meta_slice_rec *map, int nmap);
/* 1 when the node holds a snapshot of dir (valid or not): a change of it
 * is worth patching there (nodemeta_dir_held). */
int vfs_snap_held(uint64_t dir);
/* The node's patch lock, held by this thread across a commit whose patch
 * gives a file's map (nodemeta_patch_hold): 0 or -errno. */
int vfs_snap_hold(void);
void vfs_snap_release(void);
/* The node asks a question once (vfs_flight.c): kind 'd' a directory's
 * listing, 'w' a walk from dir by name, 'D' the listings of dir's
 * subdirectories (vfs_snap_descend). Returns a token for vfs_flight_end
 * (-1: none, ask anyway); *waited: another process asked meanwhile, look
 * in the node's files again first. */
int vfs_flight_begin(char kind, uint64_t dir, const char *name, size_t nlen, int *waited);
void vfs_flight_end(int token);
/* Whether this process ever waited for a question of another process of
 * the node: the node is busy with the same folders (a fan-out of cold
 * workers), so a folder's siblings are worth listing together. */
int vfs_flight_contended(void);
/* Wait for the question (kind, dir) if another process asks it now
 * (asking nothing): 1 when it waited, so the node's files may hold the
 * answer now. */
int vfs_flight_wait(char kind, uint64_t dir);
/* Whether another process of the node asks (kind, dir) now (or a question
 * sharing its lock): nothing is asked or waited for. */
int vfs_flight_held(char kind, uint64_t dir);
/* Whether this process shares metadata with the node. */
int vfs_snap_shared(void);
/* A directory of parent is being listed: the first time, parent's other
 * subdirectories (from its whole listing) are filled too, one round trip
 * for up to META_DIRS_BATCH of them (find, du, ls -R walk them all). */
void vfs_snap_descend(uint64_t parent);
/* The same when parent has at most max subdirectories: 1 when it ran
 * (parent's subdirectories were kept and not yet filled), else 0. */
int vfs_snap_descend_upto(uint64_t parent, int max);

/* ---- walk answers shared with the node (vfs_nodewalk.c) ---- */
/* The stamp to take before a walk's question, then each name it found;
 * get: a name another process of the node walked (into the caches), or
 * MC_MISS. */
struct nodemeta_stamp vfs_nodewalk_begin(void);
void vfs_nodewalk_put(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a,
                      struct nodemeta_stamp st);
int vfs_nodewalk_get(uint64_t parent, const char *name, size_t nlen, struct meta_attr *a);

/* ---- path walk (vfs_path.c) ---- */
/* Resolve a volume path. On 0, *a is the final object; with canon != NULL
 * the canonical volume path is written there (VFS_PATH_MAX bytes). */
int vfs_resolve(const char *vpath, int flags, struct meta_attr *a, char *canon,
                char *host, size_t hcap);
/* The same, also giving the inode of the directory holding the final
 * object (0 for the root). */
int vfs_resolve_at(const char *vpath, int flags, struct meta_attr *a, char *canon,
                   uint64_t *parent, char *host, size_t hcap);
/* Lookup of one name in a directory through the caches (filling them). */
int vfs_lookup_name(uint64_t dir, const char *name, size_t nlen, struct meta_attr *a);

/* ---- open files (vfs_file.c) ---- */
/* Dirty data of a file open for writing: pieces in file order of writes,
 * each inside one chunk; newer pieces win where they overlap. */
struct vfs_dirty {
    uint64_t off;
    uint32_t len, cap;
    char *data;
};

struct vfs_batch;

struct vfs_file {
    int fd;
    int flags;
    int native;
    struct meta_attr attr;
    struct vfs_smap *smap;      /* regular files: the committed block map */
    pthread_mutex_t lock;
    int unchecked;              /* native cache file not yet checked by this process */
    char ckey[LAYOUT_KEY_MAX];  /* its block key (while unchecked) */
    int map_fd;                 /* whole content for mmap, made on demand */
    struct vfs_smap *map_smap;  /* the version map_fd holds (a ref) */
    int lock_fd;                /* node-wide lock file, made on demand */
    uint64_t ra_next;           /* where a sequential reader reads next */
    uint64_t ra_until;          /* prefetch issued up to here */
    uint32_t ra_window;         /* blocks ahead; doubles while sequential */
    int64_t fresh_ns;           /* readers: when smap was last known current (vfs_follow.c) */
    /* writers only */
    pthread_mutex_t wlock;
    struct vfs_dirty *dirty;
    int ndirty, dirty_cap;
    int flatten_at;             /* ndirty that makes vfs_pwrite flatten the pieces */
    struct vfs_batch *batches; /* pieces uploading in the background (vfs_upload.c) */
    void *spare[2];            /* uploaded batches' buffers, for the next ones */
    uint32_t spare_cap[2];
    uint64_t dirty_bytes;
    uint64_t size;              /* size as this descriptor sees it */
    int append_dirty;           /* the dirty pieces are appends: placed at commit */
    uint64_t append_base;       /* where this descriptor sees them start */
    int werr;                   /* a failed background step, reported at fsync/close */
    int wb_stale;               /* writeback staged data: reload before reading */
    int inline_moved;           /* the inline bytes joined the dirty pieces (until reload) */
    int closing;                /* vfs_writer_close's flush: no map to reload after it */
    uint64_t parent;            /* directory it was opened in (0: unknown) */
    int64_t mtime_ns;           /* set by the last write */
    int created;                /* this open created the inode */
    int committed;              /* it has committed bytes since */
    /* chmod and utimens through the descriptor that wait for its next
     * commit, and go in its transaction (vfs_ns.c, vfs_defer_attrs) */
    struct meta_attr_set pending;
    struct vfs_mapobj *mo;      /* shared-mapped: the working copy (vfs_map.c) */
    uint64_t node_gen;          /* writers: the node's commit sequence their view is of */
    char path[];
};

uint64_t vfs_file_ino(const struct vfs_file *f);
/* The committed version the descriptor reads now (a ref: put it). A
 * reader's changes when it follows others' commits (vfs_follow.c), a
 * writer's with its own commits. */
struct vfs_smap *vfs_file_smap_ref(struct vfs_file *f);
/* The best kernel descriptor for the version in f->smap; sets f->native,
 * f->unchecked (f->lock held, or the file not yet shared). */
int vfs_file_descriptor(struct vfs_file *f);

/* ---- writes (vfs_write.c) and namespace (vfs_ns.c) ---- */
int vfs_is_writer(const struct vfs_file *f);
ssize_t vfs_pread_writer(struct vfs_file *f, void *buf, size_t len, uint64_t off);
int vfs_writer_close(struct vfs_file *f);
int vfs_set_size(uint64_t ino, uint64_t size, struct meta_attr *out);
int vfs_next_slice_id(uint64_t *id);
/* A commit was refused by the fence: the batch's session is gone, so the
 * next id comes from a new reservation (and session). */
void vfs_slice_ids_stale(void);
/* the buffer (f->wlock held) */
uint64_t vfs_flush_threshold(void);
void vfs_dirty_clear(struct vfs_file *f);
int vfs_reload(struct vfs_file *f, const struct meta_attr *a);
int vfs_flush_locked(struct vfs_file *f);
/* A writer's buffered bytes committed now (visible, not waited for on
 * disk); 0 for a reader. */
int vfs_writer_commit(struct vfs_file *f);
/* chmod, chown or utimens of inode a->ino: fields (META_SET_*) of *a
 * committed, lazily unless SHIMFS_SYNC_CLOSE, into the process's caches
 * and *a (vfs_ns.c): 0 or -errno. */
int vfs_attr_commit(struct meta_attr *a, unsigned fields);
int vfs_buffer_write(struct vfs_file *f, const char *buf, size_t len, uint64_t off);
int vfs_wb_catch_up(struct vfs_file *f);

/* writers following the node's commits (vfs_follow.c); f->wlock held */
void vfs_writer_follow_locked(struct vfs_file *f);
void vfs_writer_seen_locked(struct vfs_file *f, uint64_t before, int own);
uint64_t vfs_node_gen(void);

/* ---- shared writable maps (vfs_map.c) ---- */
/* While f->mo is set the working copy is the file's data for f: reads,
 * writes and truncates go there, commits send what changed in it. All
 * with f->wlock held except vfs_map_size and vfs_map_truncate. */
struct vfs_mapobj;
int vfs_map_enter_locked(struct vfs_file *f);
/* A writer of a file this process maps works through the copy too (one
 * load when the process maps nothing). */
int vfs_map_join_locked(struct vfs_file *f);
/* At a writer's open: when another process of the node maps the file,
 * f works through the node's copy from the start (sqlite's -shm: its
 * size and bytes are the mappers', not the last commit's). One failed
 * open() when nobody maps it. */
int vfs_map_join_node(struct vfs_file *f);
void vfs_map_leave(struct vfs_file *f);
int vfs_map_sync_locked(struct vfs_file *f);
int vfs_map_sync_range_locked(struct vfs_file *f, uint64_t lo, uint64_t hi);
/* vfs_flush_locked succeeded: the pieces it committed are the shadow's. */
void vfs_map_committed(struct vfs_file *f);
ssize_t vfs_map_pwrite_locked(struct vfs_file *f, const void *buf, size_t len, uint64_t off);
ssize_t vfs_map_pread_locked(struct vfs_file *f, void *buf, size_t len, uint64_t off);
int vfs_map_truncate(struct vfs_mapobj *mo, uint64_t size);
uint64_t vfs_map_size(const struct vfs_mapobj *mo);
int vfs_map_reader_fd(uint64_t ino, int *fd);

/* writeback (vfs_writeback.c) */
int vfs_wb_stage_locked(struct vfs_file *f);
int vfs_wb_drain(void);
int vfs_wb_recover(int *committed);
/* At exit: wait (bounded) for the queued journals; idempotent. */
void vfs_wb_exit_wait(void);
void vfs_wb_recover_async(void);
/* ---- the process's session (vfs_session.c) and compaction (vfs_compact.c) ---- */
/* Open this process's session if it has none (lazily: at the first
 * reservation or kept orphan) and start its heartbeat thread. */
int vfs_session_ensure(void);
/* Group commit: this process made a commit not waited for
 * (META_CREATE_LAZY, META_WRITE_LAZY); its exit flushes it. */
void vfs_session_lazy(void);
/* Make this process's lazy commits durable (meta_sync; flags as its):
 * fsync, msync, sync, syncfs. No round trip (and no database loaded) when
 * it made none, unless META_SYNC_ALL. */
int vfs_session_sync(int flags);
/* Ask the session thread to compact ino's chunk (deduplicated; dropped if
 * the queue is full or there is no session thread). */
void vfs_compact_queue(uint64_t ino, uint64_t chunk);
/* Merge the chunk's slices into one if it has more than the threshold:
 * 0, -EAGAIN (changed meanwhile), -ESTALE (session reaped) or -errno. */
int vfs_compact_chunk(uint64_t ino, uint64_t chunk);
/* Queue the chunks of a freshly committed map with more slices than
 * SHIMFS_COMPACT_SLICES; vfs_compact_check loads the map first (one query:
 * the writeback thread, which has no map at hand). */
void vfs_compact_scan(const struct vfs_smap *m);
void vfs_compact_check(const struct meta_attr *a);
/* open(O_CREAT) of a name (vfs_ns.c): 0 with *out the new file
 * (*created 1) or the inode at the name (*created 0), VFS_LOOKUP (only
 * when `first`: walk the path first), VFS_ESCAPED or -errno. */
#define VFS_LOOKUP 2
int vfs_create_file(const char *vpath, mode_t mode, int flags, int first, struct meta_attr *out,
                    int *created, uint64_t *parent, char *canon, char *host, size_t hcap);
void vfs_open_ref(uint64_t ino);
int vfs_open_unref(uint64_t ino);
int64_t vfs_wall_now(void);

/* ---- file data (vfs_read.c) ---- */
/* The block map of version *a of a file (shared through the metadata
 * cache). When the database holds a newer version than *a, *a is replaced
 * by it and its map returned; -ENOENT when the inode is gone. */
int vfs_load_smap(struct meta_attr *a, struct vfs_smap **out);
/* Load and cache the block maps of a directory's files in one query: all
 * of them up to VFS_SNAP_MAX entries; in a folder known to hold more than
 * VFS_SNAP_FIRST (mcache_dir_more), a window of VFS_SNAP_FIRST from name
 * on. Bounded either way, whatever the folder's size. */
int vfs_load_dir_smaps(uint64_t dir, const char *name, size_t nlen);
/* The same from maps delivered some other way (a whole-directory query or
 * a node snapshot): add them in name order, then install (ok) or drop. */
struct vfs_dirmaps;
struct vfs_dirmaps *vfs_dirmaps_new(void);
int vfs_dirmaps_add(struct vfs_dirmaps *d, const struct meta_attr *a, uint64_t chunk,
                    const struct layout_slice *s, int n);
void vfs_dirmaps_install(struct vfs_dirmaps *d, uint64_t dir, int ok);
/* Background fetch of the files after ino in dir (cold sequential reads). */
void vfs_dir_readahead(uint64_t dir, uint64_t ino, int missed);
ssize_t vfs_read_data(struct vfs_smap *m, void *buf, size_t len, uint64_t off);
/* Write the whole content of m into fd at its position (vfs_file.c). */
int vfs_fill_fd(struct vfs_smap *m, int fd);
/* Sum of the visible lengths of m's stored slices (holes excluded;
 * overlapping slices count twice, so callers cap it by the size). */
uint64_t vfs_smap_stored(const struct vfs_smap *m);
/* Queue background fetches for the blocks under [off, off+len) (0: to EOF). */
int vfs_prefetch_range(struct vfs_smap *m, uint64_t off, uint64_t len, int stream);
/* If the file is exactly one whole stored block, its key (for the cache). */
int vfs_single_block_key(const struct vfs_smap *m, char *key, size_t cap, uint32_t *blen,
                         uint64_t *id);
/* If the file is one range of a bigger stored object (a pack of small
 * files: shimfs import --pack-max), the pack's key (for the cache). */
int vfs_pack_key(const struct vfs_smap *m, char *key, size_t cap);

/* Before a write: clear setuid/setgid as the kernel does for a writer
 * other than root (vfs_ns.c). 0 or -errno. */
int vfs_write_kill_privs(struct vfs_file *f);
/* 1 when this process unlinked inode ino while it holds it open (it has
 * no name left: fstat shows st_nlink 0). One load when there is none. */
int vfs_open_is_orphan(uint64_t ino);

/* ---- the write pipeline (vfs_upload.c); f->wlock held ---- */
#define VFS_UPLOAD_BATCH (UINT64_C(32) << 20)
/* Where an uploaded piece's bytes are: its slice (or pack) id, that
 * object's full size and the piece's offset in it (vfs_pack.c). */
struct vfs_placed {
    uint64_t id;
    uint32_t size, soff;
};
/* Upload pieces [0, n) packed into few objects (ids: one reserved per
 * piece; a pack uses its first piece's), writing where each went to
 * out[0, n): 0 or -errno. */
int vfs_pack_upload(struct volume *v, const struct vfs_dirty *p, int n, const uint64_t *ids,
                    struct vfs_placed *out);
/* Positioned pieces (later ones overlay earlier ones) flattened into
 * disjoint runs in offset order, the newest bytes kept: what a commit
 * would make of them, in fewer records and bytes. Replaces *pieces (its
 * buffers freed), *n, *cap and *bytes; 0 or -ENOMEM (nothing changed). */
int vfs_dirty_normalize(struct vfs_dirty **pieces, int *n, int *cap, uint64_t *bytes);
/* f's positioned pieces normalised, so scattered small writes commit as
 * few records and PUTs (on ENOMEM they stay as they are); sets when
 * vfs_pwrite does it next. f->wlock held. */
void vfs_dirty_flatten(struct vfs_file *f);
/* A piece uploaded by the pipeline: its place and where its bytes are,
 * for the commit. */
struct vfs_upiece {
    uint64_t off;
    uint32_t len;
    struct vfs_placed at;
};
/* Bytes of positioned writes that make a batch (VFS_UPLOAD_BATCH, less
 * for a small SHIMFS_BUFFER_SIZE). */
uint64_t vfs_upload_batch_size(void);
/* Move f's dirty pieces into a batch uploaded in the background; waits
 * while f's batches hold more than SHIMFS_BUFFER_SIZE allows (vfs_upload.c). */
int vfs_upload_start_locked(struct vfs_file *f);
/* Wait for every batch of f (uploading again those that failed) and list
 * their pieces, oldest first (*out to free); 0, or -errno with the bytes
 * kept. */
int vfs_upload_finish_locked(struct vfs_file *f, struct vfs_upiece **out, int *nout);
/* Forget f's batches (committed, or dropped at close) and its spare
 * buffers; waits for uploads. */
void vfs_upload_discard_locked(struct vfs_file *f);
/* ---- tiny files in the database (vfs_inline.c); f->wlock held ---- */
/* 1 when f's commit may store its bytes inline: positioned writes, no
 * pipeline batch, and the file no larger than SHIMFS_INLINE_MAX. */
int vfs_inline_wanted(const struct vfs_file *f);
/* Pack pieces [0, n) into inline slice id (reserved; the bit is set
 * here): where each went to out[0, n), the frame to *blob (its data
 * malloc'd: free it). 0 or -errno. */
int vfs_inline_pack(struct volume *v, const struct vfs_dirty *p, int n, uint64_t id,
                    struct vfs_placed *out, struct meta_inline *blob);
/* A file grown past SHIMFS_INLINE_MAX whose committed map references
 * inline blocks: their bytes become its oldest dirty piece, so the next
 * commit stores them in the bucket (once per loaded map). 0 or -errno. */
int vfs_inline_move_locked(struct vfs_file *f);
/* After the commit that moved them: the inline records it covers wholly
 * leave chunk 0's list (meta_compact, no upload; ids[0..nids) are that
 * commit's), so gc can delete their rows. Best effort: a list that changed
 * meanwhile keeps them (covered: no byte of theirs shows). */
void vfs_inline_settle_locked(struct vfs_file *f, const uint64_t *ids, int nids);
/* A spare buffer of at least need bytes (its size in *cap), or NULL. */
#define VFS_UPLOAD_SPARES 2
void *vfs_upload_spare_take(struct vfs_file *f, uint32_t need, uint32_t *cap);

#endif

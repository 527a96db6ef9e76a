/* nodemeta.h - metadata shared by the processes of one node: the volume's
 * settings and whole-directory snapshots (entries, attributes and block
 * maps), kept as small files under $SHIMFS_CACHE_DIR/meta/<volume key>/.
 *
 * Why: a process that starts, opens a few files of a dataset and exits
 * (`find | xargs cat`, `find -exec`, DataLoader workers) paid a PostgreSQL
 * connection and a few round trips for metadata that another process on
 * the node fetched a moment earlier. A FUSE mount shares such answers
 * through the kernel's caches for the attribute TTL; this is the same
 * sharing for processes that each carry their own engine.
 *
 * Promises:
 *  - A snapshot is used only while it is younger than the caller's TTL and
 *    no process of this node committed a change to its directory since it
 *    was taken (the committing process marks the directories it changed in
 *    a shared mapping after every commit; a commit whose directories it
 *    cannot tell marks everything): close-to-open holds between processes
 *    of a node, and across nodes answers are at most one TTL old, as with
 *    the in-process caches. A commit in one directory leaves the snapshots
 *    of the others valid.
 *  - The node agent (core/agent/agent.c), when one runs, reads the volume's
 *    change log (schema 3) at every poll, marks the directories changed in
 *    the database (by any node), and publishes the time of the poll. A
 *    snapshot asked after the agent's chain of polls began, whose
 *    directory no poll has seen change since, is as fresh as the last poll
 *    (its age counts from there). Commits in other databases of the server
 *    mark nothing. Without a live agent the stamp ages and the TTL rule
 *    above is all that is left. A change the agent marks never empties a
 *    process's own caches: it only stops extending the snapshots of that
 *    directory. A change it patches into a snapshot instead (schema 5,
 *    agent.c) is a local commit step for dir, as the node's own are: the
 *    processes drop their cached answers of dir and read the patched
 *    snapshot.
 *  - Files are written aside and renamed into place, carry a checksum and
 *    the layout of the structures they hold; anything damaged, truncated,
 *    foreign or from another build is ignored (and the caller asks the
 *    database), never trusted.
 *  - The key of a volume is a hash of its connection string: nothing of the
 *    string (password included) is stored.
 */
#ifndef SHIMFS_NODEMETA_H
#define SHIMFS_NODEMETA_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "meta.h"

struct nodemeta;

/* Open (creating 0700 as needed) the node's folder for the volume reached
 * with conninfo. -errno when the cache folder is unusable; -EPERM (logged
 * once by trust.c) when it, meta/ or the volume's folder is not this
 * user's alone (trust.h). Files another user owns are never loaded. */
int nodemeta_open(const char *cache_dir, const char *conninfo, struct nodemeta **out);
void nodemeta_close(struct nodemeta *nm);

/* Local changes. gen: the node's local sequence (one step per local
 * commit). mark_local: after a commit of this node, the directories it
 * changed (n < 0, or more than 6: everything); returns the sequence before
 * its own step. bump: mark everything. local_changes: the directories
 * marked by steps from+1 .. to, distinct, at most cap; -1 when that cannot
 * be told (a step marked everything, is being written, was overwritten
 * after 1024 more, or came from an older build). */
uint64_t nodemeta_gen(const struct nodemeta *nm);
uint64_t nodemeta_mark_local(struct nodemeta *nm, const uint64_t *dirs, int n);
uint64_t nodemeta_bump(struct nodemeta *nm);
/* 1 when a local commit of steps from+1 .. to changed dir, or that
 * cannot be told (local_changes < 0); 0 otherwise. */
int nodemeta_local_changed(const struct nodemeta *nm, uint64_t dir, uint64_t from, uint64_t to);
int nodemeta_local_changes(const struct nodemeta *nm, uint64_t from, uint64_t to, uint64_t *dirs,
                           int cap);

/* Changes the agent saw in the database. mark_remote: one agent step
 * marking dirs[0..n) (n < 0: everything): snapshots of them asked before
 * are no longer vouched for. chain_start: the agent's polls from now on
 * see every change (its first poll read the horizon): snapshots asked
 * from now on may be vouched for, and older ones whose change token is
 * token (the database's, asked after that first poll: they saw the state
 * the chain starts from; 0: none), the others no more. */
void nodemeta_mark_remote(struct nodemeta *nm, const uint64_t *dirs, int n);
void nodemeta_chain_start(struct nodemeta *nm, uint64_t token);

/* The node agent's words in the shared page. set_verified: the wall start
 * of its last poll (0: none) with the horizon or token that poll read,
 * after the marks of that poll.
 * touch/used: when a process last used the node's snapshots (the agent
 * leaves when nobody has for a while). claim_spawn: 1 for the one process
 * that may start an agent now (at most one start per every_ns). replaced:
 * 1 once the folder's "gen" file is no longer the one mapped (the cache
 * folder was wiped). agent_lock: the lock an agent holds for its life (an
 * fd, or -EBUSY when another agent has it). */
int64_t nodemeta_verified(const struct nodemeta *nm);
void nodemeta_set_verified(struct nodemeta *nm, int64_t wall, int64_t pid, uint64_t token);
uint64_t nodemeta_agent_token(const struct nodemeta *nm);
int64_t nodemeta_agent_pid(const struct nodemeta *nm);
void nodemeta_touch(struct nodemeta *nm, int64_t now);
int64_t nodemeta_used(const struct nodemeta *nm);
int nodemeta_claim_spawn(struct nodemeta *nm, int64_t now, int64_t every_ns);
int nodemeta_replaced(const struct nodemeta *nm);
int nodemeta_agent_lock(struct nodemeta *nm);

/* Answers of one kind ('w': a walk's names, vfs_nodewalk.c) whose files
 * were written before before_ns (wall clock): removed, at most max of
 * them. Without this their number only grows, one per folder a walk
 * crossed. A process that looks for one later misses and asks again, as
 * for any answer past its age. Returns how many went, or -errno. */
int nodemeta_sweep(struct nodemeta *nm, char kind, int64_t before_ns, int max);
/* Directory snapshots (and their deltas) that can serve no one any more:
 * written before before_ns and not vouched for by the agent's chain (a
 * folder changed since, an answer of a chain gone), files of another build,
 * and deltas without their snapshot; at most max of them. Without this a
 * node keeps one file per folder it ever read: those of folders deleted
 * or never read again stay. Returns how many went, or -errno. */
int nodemeta_sweep_dirs(struct nodemeta *nm, int64_t before_ns, int max);

/* The node's folder (for the node's locks, nodeconn.h): the handle's own
 * descriptor, valid until nodemeta_close. */
int nodemeta_dirfd(const struct nodemeta *nm);

/* Wall clock in ns (CLOCK_REALTIME): snapshot times are shared between
 * processes, so they are wall times. */
int64_t nodemeta_now(void);

/* When a question was asked: the local sequence, wall time and agent
 * sequence read before it (an answer is as old as its question). */
struct nodemeta_stamp { uint64_t gen; int64_t wall; uint64_t rseq; };
struct nodemeta_stamp nodemeta_stamp(const struct nodemeta *nm);

/* Settings: saved by processes that read them from the database; loaded
 * when younger than max_age_ns (< 0: any age). 0 or -ENOENT/-ESTALE. */
int nodemeta_save_settings(struct nodemeta *nm, struct nodemeta_stamp st,
                           const struct meta_settings *s);
int nodemeta_load_settings(struct nodemeta *nm, int64_t max_age_ns, struct meta_settings *s);

/* Any other small answer the node's processes share (statvfs figures,
 * whether the volume has xattrs): name is a plain file name; check_gen:
 * invalid after a local commit that marked everything (xattr changes do). */
int nodemeta_save_blob(struct nodemeta *nm, const char *name, struct nodemeta_stamp st,
                       const void *data, size_t len);
int nodemeta_load_blob(struct nodemeta *nm, const char *name, int64_t max_age_ns, int check_gen,
                       void *data, size_t len);
/* A blob that answers about directory dir (a name found in it): invalid
 * after a local commit that marked dir, or everything, since it was asked. */
int nodemeta_load_dir_blob(struct nodemeta *nm, const char *name, uint64_t dir, int64_t max_age_ns,
                           void *data, size_t len);

/* ---- directory snapshots ---- */
/* Building one: begin with the stamp taken BEFORE the query, then the
 * entries in name order, each regular file followed by its chunks; commit
 * writes it for the node with the change token that came with the answer
 * (0: unknown, never vouched for by the agent). */
struct nodemeta_buf { char *p; size_t len, cap; int err; uint32_t entries; };
void nodemeta_dir_begin(struct nodemeta_buf *b, uint64_t dir, struct nodemeta_stamp st,
                        const struct meta_attr *dir_attr, int64_t dir_attr_ns);
void nodemeta_dir_entry(struct nodemeta_buf *b, const char *name, size_t nlen,
                        const struct meta_attr *a);
void nodemeta_dir_chunk(struct nodemeta_buf *b, uint64_t chunk, const struct layout_slice *s,
                        int n);
int nodemeta_dir_commit(struct nodemeta *nm, struct nodemeta_buf *b, uint64_t token);
void nodemeta_buf_free(struct nodemeta_buf *b);

/* Reading one: the snapshot of dir when no local commit changed dir since
 * it was asked and it is younger than max_age_ns (< 0: any age). */
struct nodemeta_snap {
    char *p;
    size_t len, pos;
    char *delta; /* changes since, patched in (nodemeta_dir_patch) */
    size_t delta_len, delta_pos;
    char *delta_maps; /* the block maps some of them carry */
    size_t delta_maps_len;
    int64_t fetched_ns;
    int has_dir_attr;
    struct meta_attr dir_attr;
    int64_t dir_attr_ns;
    /* what a fold of it writes (nodemeta_fold_begin): its question's
     * stamp (wall time and agent sequence as in the file, before any
     * vouching; gen: the local sequence its delta covers up to), change
     * token, and the time its directory's own attributes were asked */
    struct nodemeta_stamp asked;
    uint64_t token;
    int64_t dir_attr_asked_ns;
};
int nodemeta_dir_load(struct nodemeta *nm, uint64_t dir, int64_t max_age_ns,
                      struct nodemeta_snap *s);
/* Next record: 1 entry (*name, *nlen, *a), 2 chunk of the last entry
 * (*chunk, *slices, *n; slices point into the snapshot), 0 at the end,
 * -EBADMSG if malformed. */
int nodemeta_snap_next(struct nodemeta_snap *s, const char **name, size_t *nlen,
                       struct meta_attr *a, uint64_t *chunk, const struct layout_slice **slices,
                       int *n);
void nodemeta_snap_free(struct nodemeta_snap *s);

/* Folding: a snapshot with its delta (s, from nodemeta_dir_load) written
 * again as one snapshot, so that its delta starts empty (a full delta,
 * -EFBIG from nodemeta_dir_patch, would otherwise leave it stale and the
 * next lister would read the folder from the database). The caller puts
 * the merged entries in name order between the two, each regular file
 * with its chunk records when its map is known, none when it is not (its
 * readers then ask, as for any entry without them; vfs_listing.c: the
 * readers' merge rules are one implementation). The fold is the same
 * question: its time, agent sequence and change token are the
 * snapshot's, and it covers the local commits its delta covered. A patch
 * appended to the old delta meanwhile is not in the fold: the new
 * snapshot then goes stale by the rule for uncovered local commits.
 * fold_load: the snapshot of dir (any age) with every group its delta
 * holds, whatever local commits came after them (the committer that found
 * the delta full has made one). */
int nodemeta_fold_load(struct nodemeta *nm, uint64_t dir, struct nodemeta_snap *s);
void nodemeta_fold_begin(struct nodemeta_buf *b, uint64_t dir, const struct nodemeta_snap *s);
int nodemeta_fold_commit(struct nodemeta *nm, struct nodemeta_buf *b,
                         const struct nodemeta_snap *s);

/* ---- patching a snapshot with changes since it was taken ---- */
/* A process that committed a namespace change in dir (local sequence seq,
 * nodemeta_mark_local's answer + 1) records the names it changed (a NULL:
 * the name is gone) in dir's delta, so the node's next reader of dir
 * takes the snapshot with the delta instead of reading the folder again;
 * the node agent records others' changes the same way (agent.c). A name
 * set may carry its file's whole block map (with_map: map[0..nmap), in
 * chunk order, at most META_CHANGE_MAP_MAX; the agent has it from the
 * same snapshot as the attributes): the node's readers then open that
 * file with no question, as one the snapshot holds.
 * Taken only when the delta already covers every other local commit that
 * changed dir before seq (and seq's own directories are known), else
 * -ESTALE and the snapshot goes stale as before; n <= 2 (a rename in
 * one folder), one appended group per commit (O(1): a few small file
 * operations under the node's patch lock), at most 4 MiB of groups per
 * snapshot (about 10,000 one-name changes without maps): -EFBIG past
 * that, and the caller folds the delta into the snapshot (below) and
 * patches again, or leaves the snapshot stale (the agent). A loaded
 * snapshot whose local changes a delta covers comes
 * with it (s->delta, read with nodemeta_delta_next; its directory's own
 * attributes are not given then). The TTL still counts from the
 * snapshot's question: others' changes show within it. */
struct nodemeta_change {
    const char *name;
    size_t nlen;
    const struct meta_attr *a;
    /* 1: only a's mtime and ctime are new (a subfolder's row); 2: all of
     * a's attributes are new if the name is still inode a->ino, else the
     * record is moot (a data commit through a descriptor, whose name may
     * have changed since its open) */
    int touch;
    const struct meta_slice_rec *map;
    int nmap;
    int with_map; /* 0: no map known (the node's readers ask for it) */
    /* 1: a is dir's own row, asked at wall time at_ns (name unused): the
     * snapshot's own attributes from then on, until names change again
     * (a patch of names without it drops them: its readers ask) */
    int self;
    int64_t at_ns;
};
int nodemeta_dir_patch(struct nodemeta *nm, uint64_t dir, uint64_t seq,
                       const struct nodemeta_change *c, int n);
/* The node's patch lock, held by this thread from before a commit until
 * its patch went in (the patch then takes it as held): every other patch
 * of the node, the agent's included, and every other holder's commit,
 * comes before or after the pair, never between. Why: a record that gives
 * a file's map must not be followed by an older state of the file. Two
 * commits of one file are ordered by the file's row lock in the database,
 * but their local sequence numbers by whichever process got back first;
 * a later commit whose record went in first would leave the older
 * record, and its map, the last word. Bounded: -EBUSY after about 10 ms
 * of waiting (the patcher then commits without a map). */
int nodemeta_patch_hold(struct nodemeta *nm);
void nodemeta_patch_release(const struct nodemeta *nm);
/* How many entries the node's snapshot file of dir holds (valid or not:
 * the node agent patches what it holds, nodemeta_dir_patch checks the
 * rest; 0 for a file of a build that did not count), or -ENOENT. */
int nodemeta_dir_held(struct nodemeta *nm, uint64_t dir);
/* Next record of s's delta: 1 name set (*a), 2 name gone, 3 name touched
 * (its entry takes a->mtime_ns and ctime_ns), 4 the name's entry takes *a
 * if it is inode a->ino, 0 end, -EBADMSG. */
int nodemeta_delta_next(struct nodemeta_snap *s, const char **name, size_t *nlen,
                        struct meta_attr *a);
/* Make the record at pos (a delta_pos before nodemeta_delta_next) a name
 * set to *a (NULL: gone): a reader folds touches into entries. Its block
 * map stays; take_map gives it the map of the record at from instead
 * (a later version of the same file folded into it). */
void nodemeta_delta_set(struct nodemeta_snap *s, size_t pos, const struct meta_attr *a);
void nodemeta_delta_take_map(struct nodemeta_snap *s, size_t pos, size_t from);
/* The block map the record at pos carries (a name set, or set if the same
 * inode): 1 with *map a view of its chunk records, read with
 * nodemeta_snap_next (kind 2 only; never freed: it lives in s), 0 when it
 * carries none (its readers ask). */
int nodemeta_delta_map(const struct nodemeta_snap *s, size_t pos, struct nodemeta_snap *map);

#endif

/* vfs_agent.c - questions a process hands to the node agent instead of
 * connecting (agent_ask.h), and the agent's side of them (vfs_node_answer).
 *
 * A process asks only while it holds no connection of the node (one it
 * holds answers in one round trip, cheaper than the socket and the agent's
 * round trip together), only while it holds no question's lock (the agent
 * may need that very lock to answer: the asker would wait for itself until
 * its timeout), and only while an agent serves the node. After an agent
 * that could not be reached (none listening: an older build's, or one
 * gone), the process does not try again for a while.
 */
#include <errno.h>
#include <time.h>

#include "agent.h"
#include "agent_ask.h"
#include "log.h"
#include "nodeconn.h"
#include "nodemeta.h"
#include "vfs_internal.h"

/* how long one question may take before the process asks itself */
#define VFS_AGENT_TIMEOUT_MS 3000
/* after an agent that did not listen, how long not to try it again */
#define VFS_AGENT_BACKOFF_NS (5 * 1000000000LL)

static int64_t vfs_agent_off_until;     /* wall ns (atomic) */
/* The agent's thread answering an AGENT_ASK_FRESH question: its start. */
static __thread int64_t vfs_view_tls_floor;

/* An agent serves the node and this process may ask it at all (asking is
 * on, and no agent was found deaf lately): the engine, else NULL. */
static struct vfs_engine *vfs_agent_reachable(int64_t now)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node || !e->cfg.agent_ask || !e->vol->conns ||
        now < __atomic_load_n(&vfs_agent_off_until, __ATOMIC_RELAXED) || !agent_alive(e->node, now))
        return NULL;
    return e;
}

int vfs_agent_ask(char kind, uint64_t dir, int limit, const char *const *names, const size_t *lens,
                  int n)
{
    int64_t now = nodemeta_now();
    struct vfs_engine *e = vfs_agent_reachable(now);
    if (!e || nodeconn_flight_mine() || nodeconn_held_here(e->vol->conns) > 0)
        return -EAGAIN;
    int fresh = 0;
    if (__atomic_load_n(&e->view.synced, __ATOMIC_ACQUIRE)) {
        int64_t ms = (now - e->view.floor) / 1000000;
        ms = ms < 0 ? 0 : ms > (int64_t)AGENT_ASK_AGE_MAX ? (int64_t)AGENT_ASK_AGE_MAX : ms;
        fresh = (int)(AGENT_ASK_FRESH | (uint32_t)ms << AGENT_ASK_AGE_SHIFT);
    }
    int rc = agent_ask(e->node, kind, fresh, dir, limit, names, lens, n, VFS_AGENT_TIMEOUT_MS);
    /* nobody listens (an older agent, or one killed): not again for a while */
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        __atomic_store_n(&vfs_agent_off_until, now + VFS_AGENT_BACKOFF_NS, __ATOMIC_RELAXED);
    log_debug("vfs", "asked the node agent for %s of directory %llu: %s",
              kind == AGENT_ASK_LIST ? "the listing" : "a walk", (unsigned long long)dir,
              rc == 0 ? "answered" : strerror(-rc));
    return rc;
}

void vfs_agent_prelist(uint64_t dir)
{
    struct vfs_engine *e = vfs_agent_reachable(nodemeta_now());
    if (!e || mcache_dir_prelist(dir, 1) != 1)
        return;
    /* not waited for: no lock of this process's can be what the agent
     * waits on, whatever it holds */
    int rc = agent_ask(e->node, AGENT_ASK_LIST, 0, dir, AGENT_ASK_LIMIT_MAX, NULL, NULL, 0, 0);
    log_debug("vfs", "asked the node agent to list directory %llu whole for the node: %s",
              (unsigned long long)dir, rc == 0 ? "sent" : strerror(-rc));
}

int vfs_prelisted(uint64_t dir)
{
    return mcache_dir_prelist(dir, 0) && vfs_snap_listing(dir);
}

/* How old a node snapshot (or a walk's answer) may be: the TTL; and once
 * this process had the agent poll for it (vfs_view_sync), none taken
 * before the process started unless the chain vouches for it past that
 * poll (its age then counts from the poll): a folder the poll saw change
 * must be asked again even within the TTL. The agent answering such a
 * process's question (AGENT_ASK_FRESH) does the same from the asker's
 * start. */
int64_t vfs_node_max_age(void)
{
    const struct shimfs_config *c = &vfs_eng.cfg;
    if (c->read_only)
        return -1;
    int64_t ttl = c->attr_ttl_ns < c->entry_ttl_ns ? c->attr_ttl_ns : c->entry_ttl_ns;
    int64_t floor = vfs_view_tls_floor;
    if (__atomic_load_n(&vfs_eng.view.synced, __ATOMIC_ACQUIRE) && vfs_eng.view.floor > floor)
        floor = vfs_eng.view.floor;
    int64_t since = nodemeta_now() - floor;
    if (floor && since >= 0 && since < ttl)
        ttl = since;
    return ttl;
}

void vfs_view_after_fork(struct vfs_engine *e)
{
    e->view.floor = nodemeta_now();
    e->view.synced = e->view.unheard = 0;
}

/* Why once a process: the node's snapshots say which names a folder
 * holds, with their attributes and block maps, and the agent vouches for
 * them until its next poll sees the folder change (SHIMFS_AGENT_POLL). A
 * process started by a signal from another node ("the checkpoint is
 * written") must still find the file, and its new bytes: before its first
 * open trusts the node's answers, a poll that began after the process did
 * has run. Asking the database for every missing name instead (the first
 * fix) cost a compiler's include search, or ld.so's library search, a
 * round trip (and a connection) per miss, and still served a file's old
 * block map for up to a poll. */
int vfs_view_sync(void)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node)
        return -EAGAIN;
    /* SHIMFS_READ_ONLY: the volume does not change, answers never age */
    if (e->cfg.read_only || __atomic_load_n(&e->view.synced, __ATOMIC_ACQUIRE))
        return 0;
    int64_t now = nodemeta_now();
    if (!e->cfg.agent_ask || __atomic_load_n(&e->view.unheard, __ATOMIC_RELAXED) ||
        !agent_alive(e->node, now) || nodeconn_flight_mine())
        return -EAGAIN;
    if (nodemeta_verified(e->node) < e->view.floor) {
        int rc = agent_ask(e->node, AGENT_ASK_SYNC, 0, META_ROOT_INO, 1, NULL, NULL, 0,
                           VFS_AGENT_TIMEOUT_MS);
        log_debug("vfs", "asked the node agent to poll before the node's answers are trusted: %s",
                  rc == 0 ? "done" : strerror(-rc));
        if (rc < 0 || nodemeta_verified(e->node) < e->view.floor) {
            __atomic_store_n(&e->view.unheard, 1, __ATOMIC_RELAXED);
            return -EAGAIN;
        }
    }
    /* answers the caches took from the node before that poll: read again
     * (the node's files, still vouched for, or asked again when not) */
    mcache_reset();
    __atomic_store_n(&e->view.synced, 1, __ATOMIC_RELEASE);
    return 1;
}

/* For a fresh question: the agent's own engine took dir's listing into
 * its caches before, maybe before a change (its polls mark the node's
 * snapshots, not its caches): the node's files decide, by the asker's
 * floor, or the database. */
static void vfs_answer_forget(uint64_t dir)
{
    if (vfs_view_tls_floor)
        mcache_dir_unlist(dir);
}

/* A big folder the node's processes read by name (vfs_agent_prelist), in
 * the background: listed whole (by pages, into the node's snapshot, which
 * its readers keep as a listing, block maps included) once a second
 * process asks, so that a lone reader of two files of a big folder costs
 * the database no listing of it while DataLoader workers reading it by
 * name stop asking a name and a block map per file. Not when the node
 * holds a listing of it already, or it is too big for the node's snapshot
 * (then marked: never again). */
static int vfs_node_prelist(uint64_t dir)
{
    if (mcache_dir_huge(dir))
        return -EFBIG;
    struct vfs_listing *l = mcache_dir_listing(dir);
    if (l) {
        vfs_listing_put(l);
        return 0;
    }
    /* the second asker's question lists it; the askers after it leave it
     * to that one, but every 16th tries again (one that failed, or a
     * listing since gone) */
    int asks = mcache_dir_prelist(dir, 1);
    if (asks < 2 || (asks > 2 && asks % 16 != 0))
        return -EALREADY;
    int rc = vfs_snap_fill_aside(dir);
    return rc == 1 ? 0 : rc < 0 ? rc : -EFBIG;
}

static int vfs_node_answer_as(char kind, uint64_t dir, int limit, const char *const *names,
                              const size_t *lens, int n)
{
    int rc;
    log_debug("vfs", "answering %s of directory %llu for a process of the node",
              kind == AGENT_ASK_LIST ? "the listing" : "a walk", (unsigned long long)dir);
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node)
        return -EOPNOTSUPP;
    if (kind == AGENT_ASK_LIST && limit >= AGENT_ASK_LIMIT_MAX)
        return vfs_node_prelist(dir);
    if (kind == AGENT_ASK_LIST) {
        /* a listing without the folder's own attributes serves the asker
         * (it walked there), but the root's are every walk's start */
        struct meta_attr a;
        if (dir == META_ROOT_INO && mcache_getattr(dir, &a) < 0) {
            rc = meta_getattr(e->meta, dir, &a);
            if (rc < 0)
                return vfs_errno(rc);
            mcache_put_attr(&a);
        }
        /* whole, up to VFS_SNAP_MAX entries (what a process keeps as a
         * snapshot); a folder found bigger (once: it is marked) is read by
         * the asker, by pages */
        if (mcache_dir_huge(dir) || mcache_dir_more(dir, 0) >= VFS_SNAP_MAX)
            return -EFBIG;
        vfs_answer_forget(dir);
        int most = limit < VFS_SNAP_MAX ? limit : VFS_SNAP_MAX;
        rc = vfs_snap_fill(dir, most, NULL, NULL); /* (notes "more" when it was) */
        return rc == 1 ? 0 : rc < 0 ? rc : -EFBIG;
    }
    if (kind != AGENT_ASK_WALK || n < 1)
        return -EINVAL;
    /* Each folder on the path listed (its first VFS_SNAP_FIRST entries),
     * not walked: a listing is shared and vouched for as long as the
     * folder does not change, where a walk's answer lasts one TTL, and
     * every process of a job starting on the node walks the same top
     * folders (before, a warm epoch past the TTL asked the agent to walk
     * them again, one query a reader). A folder too big for that, and
     * what is below it, is walked. */
    uint64_t cur = dir;
    int i = 0;
    while (i < n) {
        vfs_answer_forget(cur);
        /* a folder this engine found bigger than that before is walked
         * unless the node holds it whole: asking its first entries again
         * for every asker read 1,024 rows in vain each time (a new file
         * cp'd into a 2,000-entry folder, each by a new process) */
        if (mcache_dir_more(cur, 0) >= VFS_SNAP_FIRST
                ? !vfs_snap_load(cur)
                : vfs_snap_fill(cur, VFS_SNAP_FIRST, NULL, NULL) != 1)
            break;
        struct meta_attr a;
        if (mcache_lookup(cur, names[i], lens[i], &a) != 0)
            return 0;           /* no such name (the listing says so), or gone again */
        i++;
        if (!S_ISDIR(a.mode))
            return 0;           /* a file or a link: the asker goes on from here */
        cur = a.ino;
    }
    if (i == n)
        return 0;
    int waited, tok = vfs_flight_begin('w', cur, names[i], lens[i], &waited);
    struct meta_attr a;
    rc = waited && vfs_nodewalk_get(cur, names[i], lens[i], &a) == 0
             ? 0
             : vfs_walk_rest(cur, names + i, lens + i, n - i);
    vfs_flight_end(tok);
    return rc;
}

/* The agent's side: runs on one of its server's threads, with the
 * agent's own engine (which never asks an agent: SHIMFS_AGENT_ASK=0
 * there). The question is asked as any process of the node asks it: once
 * for the node (its question lock), its answer left in the node's files. */
int vfs_node_answer(char kind, int flags, uint64_t dir, int limit, const char *const *names,
                    const size_t *lens, int n)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    /* for an asker past its first missing name: snapshots of the node
     * younger than the TTL but neither vouched for since the question nor
     * asked after it do not answer (vfs_node_max_age); this thread's
     * questions only */
    vfs_view_tls_floor = (flags & AGENT_ASK_FRESH)
                             ? nodemeta_now() - (int64_t)((uint32_t)flags >> AGENT_ASK_AGE_SHIFT) * 1000000
                             : 0;
    rc = vfs_node_answer_as(kind, dir, limit, names, lens, n);
    vfs_view_tls_floor = 0;
    return rc;
}

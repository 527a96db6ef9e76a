/* vfs_mcache.c - the process's metadata caches: attributes by inode,
 * entries (positive and negative) by (parent, name), per-directory fill
 * state, and slice maps.
 *
 * Promises: every answer is younger than its TTL (SHIMFS_ATTR_TTL,
 * SHIMFS_ENTRY_TTL, SHIMFS_NEGATIVE_TTL; no expiry with SHIMFS_READ_ONLY=1)
 * and, where metadata is shared with the node, older than no commit made by
 * another process of the node (what it changed is dropped when one is
 * seen);
 * memory is bounded (past MCACHE_MAX_ITEMS everything is dropped at once,
 * which is cheaper and simpler than an LRU and only costs refills). One
 * mutex: every critical section is a hash probe and a copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nodemeta.h"
#include "vfs_internal.h"

#define MCACHE_MAX_ITEMS (1u << 21)
/* Listings kept at most (bytes): past it the others are dropped. */
#define MCACHE_MAX_LISTING_BYTES (256u << 20)
#define MCACHE_NO_EXPIRY INT64_MAX

struct mc_inode {
    struct mc_inode *next;
    uint64_t ino;
    struct meta_attr attr;
    int64_t attr_exp;       /* 0: attributes unknown (node holds dir state only) */
    int64_t attr_at;        /* when they were read from the database (monotonic) */
    int64_t listed_exp;     /* directory fully listed until */
    int misses;
    int huge;                /* too big even for a listing (vfs_listing.c) */
    uint32_t more;           /* known to hold more entries than this */
    int prelist;             /* whole listings asked of the agent (vfs_agent_prelist) */
    int changed;             /* this process changed a name in it since listed */
    struct vfs_listing *lst; /* listed whole as a listing (big folders) */
    int smap_misses;
    struct vfs_smap *smap;
};

struct mc_entry {
    struct mc_entry *next;
    uint64_t parent, ino;   /* ino 0: negative entry */
    int64_t exp;
    uint16_t nlen;
    char name[];
};

static struct vfs_mcache_state *const mc = &vfs_eng.mc;

static uint64_t mc_hash(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return x;
}

static uint64_t mc_name_hash(uint64_t parent, const char *name, size_t n)
{
    uint64_t h = mc_hash(parent) ^ 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    return h;
}

static int64_t mc_expiry(int64_t ttl)
{
    struct vfs_engine *e = vfs_opened();
    if (e && e->cfg.read_only)
        return MCACHE_NO_EXPIRY;
    return vfs_now_ns() + ttl;
}

static int64_t mc_ttl(int which)
{
    struct vfs_engine *e = vfs_opened();
    if (!e)
        return 0;
    return which == 0 ? e->cfg.attr_ttl_ns : which == 1 ? e->cfg.entry_ttl_ns : e->cfg.negative_ttl_ns;
}

static void mc_clear_locked(void)
{
    __atomic_add_fetch(&mc->epoch, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < mc->ncap; i++)
        for (struct mc_inode *n = mc->inodes[i], *nx; n; n = nx) {
            nx = n->next;
            if (n->smap)
                vfs_smap_put(n->smap);
            vfs_listing_put(n->lst);
            free(n);
        }
    for (size_t i = 0; i < mc->ecap; i++)
        for (struct mc_entry *e = mc->entries[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    free(mc->inodes);
    free(mc->entries);
    mc->inodes = NULL;
    mc->entries = NULL;
    mc->ncap = mc->ecap = mc->count = 0;
    mc->listing_bytes = 0;
}

/* The folder is no longer known to be listed whole. */
static void mc_unlist_locked(struct mc_inode *n)
{
    n->listed_exp = 0;
    if (n->lst) {
        mc->listing_bytes -= vfs_listing_bytes(n->lst);
        vfs_listing_put(n->lst);
        n->lst = NULL;
    }
}

/* Past this many items a process drops everything instead of scanning
 * for the changed directories (one scan costs about 5 ns an item). */
#define MC_SCAN_MAX (1u << 17)
#define MC_SCAN_DIRS 32

static int mc_in(const uint64_t *d, int n, uint64_t x)
{
    for (int k = 0; k < n; k++)
        if (d[k] == x)
            return 1;
    return 0;
}

/* Drop what local commits from+1..to made stale: the answers about the
 * directories they marked (their entries, their own attributes and
 * listings, the attributes of what they list); everything when they
 * cannot be told. */
static void mc_drop_changed_locked(struct nodemeta *nm, uint64_t from, uint64_t to)
{
    uint64_t d[MC_SCAN_DIRS];
    int n = mc->count <= MC_SCAN_MAX ? nodemeta_local_changes(nm, from, to, d, MC_SCAN_DIRS) : -1;
    if (n < 0) {
        mc_clear_locked();
        return;
    }
    if (n)
        __atomic_add_fetch(&mc->epoch, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; n && i < mc->ncap; i++)
        for (struct mc_inode *c = mc->inodes[i]; c; c = c->next) {
            if (mc_in(d, n, c->ino)) {
                c->attr_exp = 0;
                mc_unlist_locked(c);
            } else if (c->attr_exp && mc_in(d, n, c->attr.parent)) {
                c->attr_exp = 0;
            }
        }
    for (size_t i = 0; n && i < mc->ecap; i++)
        for (struct mc_entry **pp = &mc->entries[i]; *pp;) {
            struct mc_entry *e = *pp;
            if (mc_in(d, n, e->parent)) {
                *pp = e->next;
                free(e);
                mc->count--;
            } else {
                pp = &e->next;
            }
        }
}

/* Another process of the node committed a change since the caches were
 * filled (the shared sequence moved, and not by this process): forget what
 * it changed, so a name created, removed or rewritten there is seen at
 * once here, as a FUSE mount's processes would. This process's own commits
 * update the caches themselves (mcache_own_commit). One load when nothing
 * changed. */
static void mc_sync_gen_locked(void)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node)
        return;
    uint64_t g = nodemeta_gen(e->node);
    if (mc->seen_valid && g == mc->seen_gen)
        return;
    if (mc->seen_valid)
        mc_drop_changed_locked(e->node, mc->seen_gen, g);
    mc->seen_gen = g;
    mc->seen_valid = 1;
}

/* The local sequence number of this thread's last commit (0: none since
 * taken), for the node snapshots' patches (vfs_snap_patch). */
static __thread uint64_t mc_last_commit;

uint64_t mcache_take_commit(void)
{
    uint64_t seq = mc_last_commit;
    mc_last_commit = 0;
    return seq;
}

void mcache_own_commit(uint64_t before)
{
    mc_last_commit = before + 1;
    struct vfs_engine *e = vfs_opened();
    pthread_mutex_lock(&mc->lock);
    if (mc->seen_valid && before != mc->seen_gen) {
        /* someone else's commits came in between */
        if (e && e->node)
            mc_drop_changed_locked(e->node, mc->seen_gen, before);
        else
            mc_clear_locked();
    }
    mc->seen_gen = before + 1;
    mc->seen_valid = 1;
    pthread_mutex_unlock(&mc->lock);
}

/* Double both tables when chains get long; a failed allocation just
 * leaves the tables as they are (slower, still correct). */
static void mc_grow_locked(void)
{
    size_t cap = mc->ncap * 2;
    struct mc_inode **ni = calloc(cap, sizeof *ni);
    struct mc_entry **ne = calloc(cap, sizeof *ne);
    if (!ni || !ne) {
        free(ni);
        free(ne);
        return;
    }
    for (size_t i = 0; i < mc->ncap; i++)
        for (struct mc_inode *n = mc->inodes[i], *nx; n; n = nx) {
            nx = n->next;
            size_t b = mc_hash(n->ino) & (cap - 1);
            n->next = ni[b];
            ni[b] = n;
        }
    for (size_t i = 0; i < mc->ecap; i++)
        for (struct mc_entry *e = mc->entries[i], *nx; e; e = nx) {
            nx = e->next;
            size_t b = mc_name_hash(e->parent, e->name, e->nlen) & (cap - 1);
            e->next = ne[b];
            ne[b] = e;
        }
    free(mc->inodes);
    free(mc->entries);
    mc->inodes = ni;
    mc->entries = ne;
    mc->ncap = mc->ecap = cap;
}

static int mc_ensure_locked(void)
{
    if (mc->count >= MCACHE_MAX_ITEMS)
        mc_clear_locked();
    if (mc->inodes && mc->count > 2 * mc->ncap)
        mc_grow_locked();
    if (!mc->inodes) {
        mc->ncap = mc->ecap = 1u << 10;
        mc->inodes = calloc(mc->ncap, sizeof *mc->inodes);
        mc->entries = calloc(mc->ecap, sizeof *mc->entries);
        if (!mc->inodes || !mc->entries) {
            mc_clear_locked();
            return -ENOMEM;
        }
    }
    return 0;
}

static struct mc_inode *mc_find_inode(uint64_t ino, int create)
{
    if (!mc->inodes && (!create || mc_ensure_locked() < 0))
        return NULL;
    size_t b = mc_hash(ino) & (mc->ncap - 1);
    for (struct mc_inode *n = mc->inodes[b]; n; n = n->next)
        if (n->ino == ino)
            return n;
    if (!create || mc_ensure_locked() < 0)
        return NULL;
    b = mc_hash(ino) & (mc->ncap - 1);
    struct mc_inode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->ino = ino;
    n->next = mc->inodes[b];
    mc->inodes[b] = n;
    mc->count++;
    return n;
}

static struct mc_entry **mc_find_entry(uint64_t parent, const char *name, size_t nlen)
{
    if (!mc->entries)
        return NULL;
    struct mc_entry **pp = &mc->entries[mc_name_hash(parent, name, nlen) & (mc->ecap - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->parent == parent && (*pp)->nlen == nlen && memcmp((*pp)->name, name, nlen) == 0)
            return pp;
    return pp;
}

static void mc_put_entry_locked(uint64_t parent, const char *name, size_t nlen, uint64_t ino,
                                int64_t exp);
static void mc_put_attr_locked(const struct meta_attr *a, int64_t exp, int64_t at);
static int64_t mc_expiry_at(int which, int64_t at);

/* A name of a folder kept as a listing: found there, it joins the caches
 * (entry and attributes, as of the listing's answer), so the next
 * questions about it are hash probes. */
static int mc_listing_lookup_locked(struct vfs_listing *l, uint64_t parent, const char *name,
                                    size_t nlen, struct meta_attr *a)
{
    if (vfs_listing_find(l, name, nlen, a) < 0)
        return -ENOENT;
    /* the puts may empty the caches (MCACHE_MAX_ITEMS), l with them */
    int64_t at = l->at, aexp = mc_expiry_at(0, at);
    mc_put_entry_locked(parent, name, nlen, a->ino, mc_expiry_at(1, at));
    mc_put_attr_locked(a, aexp, at);
    if (aexp > vfs_now_ns())
        return 0;
    return MC_MISS; /* the entry is fresh, its attributes are not: one getattr */
}

int mcache_lookup(uint64_t parent, const char *name, size_t nlen, struct meta_attr *a)
{
    int rc = MC_MISS;
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_entry **pp = mc_find_entry(parent, name, nlen);
    struct mc_entry *e = pp ? *pp : NULL;
    if (e && e->exp > now) {
        if (e->ino == 0) {
            rc = -ENOENT;
        } else {
            struct mc_inode *n = mc_find_inode(e->ino, 0);
            if (n && n->attr_exp > now) {
                *a = n->attr;
                rc = 0;
            }
        }
    }
    if (rc == MC_MISS && !e) {
        struct mc_inode *d = mc_find_inode(parent, 0);
        if (d && d->listed_exp > now && d->lst)
            rc = mc_listing_lookup_locked(d->lst, parent, name, nlen, a);
        else if (d && d->listed_exp > now)
            rc = -ENOENT; /* the directory was listed whole: the name is not there */
    }
    pthread_mutex_unlock(&mc->lock);
    return rc;
}

int mcache_entry_ino(uint64_t parent, const char *name, size_t nlen, uint64_t *ino)
{
    int rc = MC_MISS;
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_entry **pp = mc_find_entry(parent, name, nlen);
    if (pp && *pp && (*pp)->exp > now && (*pp)->ino != 0) {
        *ino = (*pp)->ino;
        rc = 0;
    }
    pthread_mutex_unlock(&mc->lock);
    return rc;
}

static void mc_put_entry_locked(uint64_t parent, const char *name, size_t nlen, uint64_t ino, int64_t exp)
{
    if (nlen > META_NAME_MAX || mc_ensure_locked() < 0)
        return;
    struct mc_entry **pp = mc_find_entry(parent, name, nlen);
    if (*pp) {
        (*pp)->ino = ino;
        (*pp)->exp = exp;
        return;
    }
    struct mc_entry *e = malloc(sizeof *e + nlen);
    if (!e)
        return;
    e->next = NULL;
    e->parent = parent;
    e->ino = ino;
    e->exp = exp;
    e->nlen = (uint16_t)nlen;
    memcpy(e->name, name, nlen);
    *pp = e;
    mc->count++;
}

static void mc_put_attr_locked(const struct meta_attr *a, int64_t exp, int64_t at)
{
    struct mc_inode *n = mc_find_inode(a->ino, 1);
    if (!n)
        return;
    n->attr = *a;
    n->attr_exp = exp;
    n->attr_at = at;
}

/* Expiry of an answer read from the database at `at` (monotonic). */
static int64_t mc_expiry_at(int which, int64_t at)
{
    struct vfs_engine *e = vfs_opened();
    if (e && e->cfg.read_only)
        return MCACHE_NO_EXPIRY;
    return at + mc_ttl(which);
}

void mcache_put_entry_at(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a,
                         int64_t at)
{
    int64_t eexp = mc_expiry_at(1, at), aexp = mc_expiry_at(0, at);
    pthread_mutex_lock(&mc->lock);
    mc_put_entry_locked(parent, name, nlen, a->ino, eexp);
    mc_put_attr_locked(a, aexp, at);
    pthread_mutex_unlock(&mc->lock);
}

void mcache_put_entry(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a)
{
    mcache_put_entry_at(parent, name, nlen, a, vfs_now_ns());
}

void mcache_put_negative(uint64_t parent, const char *name, size_t nlen)
{
    int64_t exp = mc_expiry(mc_ttl(2));
    pthread_mutex_lock(&mc->lock);
    mc_put_entry_locked(parent, name, nlen, 0, exp);
    pthread_mutex_unlock(&mc->lock);
}

void mcache_put_attr_at(const struct meta_attr *a, int64_t at)
{
    int64_t exp = mc_expiry_at(0, at);
    pthread_mutex_lock(&mc->lock);
    mc_put_attr_locked(a, exp, at);
    pthread_mutex_unlock(&mc->lock);
}

void mcache_put_attr(const struct meta_attr *a)
{
    mcache_put_attr_at(a, vfs_now_ns());
}

int mcache_getattr_at(uint64_t ino, struct meta_attr *a, int64_t *at)
{
    int rc = MC_MISS;
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_inode *n = mc_find_inode(ino, 0);
    if (n && n->attr_exp > now) {
        *a = n->attr;
        *at = n->attr_at;
        rc = 0;
    }
    pthread_mutex_unlock(&mc->lock);
    return rc;
}

int mcache_getattr(uint64_t ino, struct meta_attr *a)
{
    int64_t at;
    return mcache_getattr_at(ino, a, &at);
}

int mcache_dir_listed(uint64_t dir)
{
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_inode *n = mc_find_inode(dir, 0);
    int listed = n && n->listed_exp > now;
    pthread_mutex_unlock(&mc->lock);
    return listed;
}

void mcache_dir_set_listed(uint64_t dir, int complete)
{
    mcache_dir_set_listed_at(dir, complete, vfs_now_ns(), mcache_fill_epoch());
}

/* Moved under the lock, read without it: a fill that reads it just before
 * a drop sees the move at its "whole" (under the lock) and vouches for
 * nothing, which is the safe side. */
uint64_t mcache_fill_epoch(void)
{
    return __atomic_load_n(&mc->epoch, __ATOMIC_ACQUIRE);
}

/* A fill puts a folder's entries one by one, then says it is whole: were
 * entries dropped in between (another thread's mcache_reset, a commit seen,
 * the item bound), "listed whole" over what is left would answer ENOENT for
 * names that exist. Such a fill vouches for nothing; its entries stay. */
void mcache_dir_set_listed_at(uint64_t dir, int complete, int64_t at, uint64_t epoch)
{
    int64_t exp = complete ? mc_expiry_at(1, at) : 0;
    pthread_mutex_lock(&mc->lock);
    int moved = complete && epoch != __atomic_load_n(&mc->epoch, __ATOMIC_RELAXED);
    struct mc_inode *n = moved ? NULL : mc_find_inode(dir, 1);
    if (n) {
        mc_unlist_locked(n);
        n->changed = 0;
        n->listed_exp = exp;
        n->misses = complete ? 0 : -1000000; /* too big: never list it again */
        if (complete)
            n->more = 0;
    }
    pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_set_listing(uint64_t dir, struct vfs_listing *l)
{
    int64_t exp = mc_expiry_at(1, l->at);
    pthread_mutex_lock(&mc->lock);
    if (mc->listing_bytes + vfs_listing_bytes(l) > MCACHE_MAX_LISTING_BYTES)
        for (size_t i = 0; i < mc->ncap; i++)
            for (struct mc_inode *c = mc->inodes[i]; c; c = c->next)
                if (c->lst)
                    mc_unlist_locked(c);
    struct mc_inode *n = mc_find_inode(dir, 1);
    if (n) {
        mc_unlist_locked(n);
        n->lst = vfs_listing_get(l);
        mc->listing_bytes += vfs_listing_bytes(l);
        n->listed_exp = exp;
        n->changed = 0;
        n->misses = 0;
        n->huge = 0;
    }
    pthread_mutex_unlock(&mc->lock);
}

struct vfs_listing *mcache_dir_listing(uint64_t dir)
{
    struct vfs_listing *l = NULL;
    int64_t now = vfs_now_ns();
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_inode *n = mc_find_inode(dir, 0);
    if (n && n->lst && n->listed_exp > now && !n->changed)
        l = vfs_listing_get(n->lst);
    pthread_mutex_unlock(&mc->lock);
    return l;
}

void mcache_dir_set_huge(uint64_t dir)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, 1);
    if (n) {
        mc_unlist_locked(n);
        n->misses = -1000000; /* never listed again by a walk either */
        n->huge = 1;
    }
    pthread_mutex_unlock(&mc->lock);
}

int mcache_dir_huge(uint64_t dir)
{
    pthread_mutex_lock(&mc->lock);
    mc_sync_gen_locked();
    struct mc_inode *n = mc_find_inode(dir, 0);
    int huge = n && n->huge;
    pthread_mutex_unlock(&mc->lock);
    return huge;
}

uint32_t mcache_dir_more(uint64_t dir, uint32_t at_least)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, at_least > 0);
    if (n && at_least > n->more)
        n->more = at_least;
    uint32_t more = n ? n->more : 0;
    pthread_mutex_unlock(&mc->lock);
    return more;
}

int mcache_dir_prelist(uint64_t dir, int add)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, add > 0);
    int asks = n ? (n->prelist += add) : 0;
    pthread_mutex_unlock(&mc->lock);
    return asks;
}

int mcache_dir_note_miss(uint64_t dir)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, 1);
    int misses = n ? ++n->misses : 0;
    pthread_mutex_unlock(&mc->lock);
    return misses;
}

int mcache_dir_note_smap_miss(uint64_t dir)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, 1);
    int misses = n ? ++n->smap_misses : 0;
    pthread_mutex_unlock(&mc->lock);
    return misses;
}

struct vfs_smap *mcache_get_smap(const struct meta_attr *a)
{
    struct vfs_smap *m = NULL;
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(a->ino, 0);
    if (n && n->smap && n->smap->size == a->size && n->smap->mtime_ns == a->mtime_ns &&
        n->smap->ctime_ns == a->ctime_ns)
        m = vfs_smap_get(n->smap);
    pthread_mutex_unlock(&mc->lock);
    return m;
}

void mcache_put_smap(struct vfs_smap *m)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(m->ino, 1);
    if (n) {
        if (n->smap)
            vfs_smap_put(n->smap);
        n->smap = vfs_smap_get(m);
    }
    pthread_mutex_unlock(&mc->lock);
}

void mcache_forget(uint64_t ino)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(ino, 0);
    if (n) {
        n->attr_exp = 0;
        mc_unlist_locked(n);
    }
    pthread_mutex_unlock(&mc->lock);
}

void mcache_attr_moved(uint64_t ino, uint64_t parent, int64_t ctime_ns)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(ino, 0);
    if (n && n->attr_exp) {
        /* what the rename wrote; the expiry stays that of the last answer */
        n->attr.parent = parent;
        n->attr.ctime_ns = ctime_ns;
    }
    pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_unlist(uint64_t dir)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, 0);
    if (n)
        mc_unlist_locked(n);
    pthread_mutex_unlock(&mc->lock);
}

void mcache_dir_changed(uint64_t dir, int nlink_delta, int64_t time_ns)
{
    pthread_mutex_lock(&mc->lock);
    struct mc_inode *n = mc_find_inode(dir, 0);
    if (n)
        n->changed = 1; /* its listing answers names, no longer streams */
    if (n && time_ns) {
        /* what the commit wrote (it chose the time); the expiry stays that
         * of the last answer, so nothing else of it is vouched for longer */
        n->attr.nlink = (uint32_t)((int64_t)n->attr.nlink + nlink_delta);
        n->attr.mtime_ns = n->attr.ctime_ns = time_ns;
    } else if (n) {
        n->attr_exp = 0;
    }
    pthread_mutex_unlock(&mc->lock);
}

void mcache_reset(void)
{
    pthread_mutex_lock(&mc->lock);
    mc_clear_locked();
    pthread_mutex_unlock(&mc->lock);
}

/* Refcounts use atomics: a smap is shared by open files and the cache. */
struct vfs_smap *vfs_smap_get(struct vfs_smap *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void vfs_smap_put(struct vfs_smap *m)
{
    if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < m->nchunks; i++)
        free(m->chunks[i].s);
    free(m->chunks);
    free(m);
}

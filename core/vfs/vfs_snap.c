/* vfs_snap.c - whole directories at once: entries, attributes and the
 * block maps of its files, from the node's snapshot (nodemeta.h) when one
 * is valid, else from one query, which is then shared with the node.
 *
 * A process that lists or opens the files of a directory needs all of it
 * soon; one round trip (or none, when a neighbour process just fetched the
 * same directory) replaces a walk, a readdir page and a block-map query.
 * TTLs count from when the database answered, not from when this process
 * read the snapshot, so sharing never makes an answer older than one TTL.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "log.h"
#include "nodemeta.h"
#include "vfs_internal.h"

struct vfs_snap_fill {
    uint64_t dir;
    int64_t at;                 /* when the answer was made (vfs_now_ns clock) */
    struct vfs_dirmaps *maps;
    struct nodemeta_buf buf;
    int save;
    int scan;                   /* read by a lister: remember its subdirectories */
    uint64_t token;             /* the database's change token of the answer */
    uint64_t epoch;             /* the caches' before the first entry (mcache_fill_epoch) */
    meta_dirent_cb ecb;
    void *arg;
    struct meta_attr last;      /* the entry the next chunks belong to */
    char last_name[META_NAME_MAX + 1]; /* and its name (the next page's key) */
    size_t last_len;
    int lazy;                   /* past the first page of a big folder: the
                                   node's buffer only (kept as a listing) */
    uint64_t *subdirs;          /* its subdirectories, in name order */
    int nsub, capsub;
};

/* The subdirectories of directories this process read whole with readdir
 * (a few recent ones): when it descends into one of them, as find, du,
 * ls -R and a DataLoader's folder scan do, their siblings are fetched
 * together. A folder a path walk listed (repeated misses) is not a scan:
 * its siblings are not fetched. */
static struct vfs_subdirs_state *const vsub = &vfs_eng.subdirs;

/* A wall-clock time as a vfs_now_ns time (never in the future). */
static int64_t vfs_snap_mono(int64_t wall)
{
    int64_t age;
    if (__builtin_sub_overflow(nodemeta_now(), wall, &age)) /* a wild time in the file: old */
        age = INT64_MAX;
    return vfs_now_ns() - (age > 0 ? age : 0);
}

static int vfs_snap_entry(struct vfs_snap_fill *f, const char *name, size_t nlen,
                          const struct meta_attr *a)
{
    if (f->save)
        nodemeta_dir_entry(&f->buf, name, nlen, a);
    f->last = *a;
    if (nlen <= META_NAME_MAX) {
        memcpy(f->last_name, name, nlen);
        f->last_len = nlen;
    }
    if (f->lazy)
        return 0;
    mcache_put_entry_at(f->dir, name, nlen, a, f->at);
    if (f->ecb)
        (void)f->ecb(f->arg, name, nlen, a);
    if ((a->mode & S_IFMT) == S_IFDIR) {
        if (f->nsub == f->capsub) {
            int cap = f->capsub ? 2 * f->capsub : 16;
            uint64_t *p = realloc(f->subdirs, (size_t)cap * sizeof *p);
            if (!p)
                return 0; /* only a hint is lost */
            f->subdirs = p;
            f->capsub = cap;
        }
        f->subdirs[f->nsub++] = a->ino;
    }
    return 0;
}

/* Remember dir's subdirectories (taking f's list). */
static void vfs_snap_keep_subdirs(struct vfs_snap_fill *f)
{
    if (f->nsub < 2 || !f->scan) {
        free(f->subdirs);
        f->subdirs = NULL;
        return;
    }
    pthread_mutex_lock(&vsub->lock);
    int k = (int)((f->dir * 0x9E3779B97F4A7C15ULL) >> 60) % VFS_SNAP_SLOTS;
    free(vsub->slot[k].sub);
    vsub->slot[k].dir = f->dir;
    vsub->slot[k].n = f->nsub;
    vsub->slot[k].done = 0;
    vsub->slot[k].sub = f->subdirs;
    pthread_mutex_unlock(&vsub->lock);
    f->subdirs = NULL;
}

static int vfs_snap_entry_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    return vfs_snap_entry(arg, name, nlen, a);
}

static int vfs_snap_chunk_cb(void *arg, const struct meta_attr *a, uint64_t chunk,
                             const struct layout_slice *s, int n)
{
    struct vfs_snap_fill *f = arg;
    if (f->save)
        nodemeta_dir_chunk(&f->buf, chunk, s, n);
    return f->lazy ? 0 : vfs_dirmaps_add(f->maps, a, chunk, s, n);
}

/* Walk a snapshot's records from s->pos; deliver == 0 only checks that
 * they parse (nothing reaches the caches from a malformed file) and counts
 * the entries into *count. */
static int vfs_snap_replay(struct nodemeta_snap *s, struct vfs_snap_fill *f, int deliver,
                           long *count)
{
    const char *name;
    size_t nlen;
    struct meta_attr a;
    uint64_t chunk;
    const struct layout_slice *sl;
    int n, k, entries = 0;
    while ((k = nodemeta_snap_next(s, &name, &nlen, &a, &chunk, &sl, &n)) > 0) {
        if (k == 1)
            entries++, ++*count;
        else if (entries == 0)
            return -EBADMSG;  /* a block map before any entry */
        if (!deliver)
            continue;
        int rc = k == 1 ? vfs_snap_entry(f, name, nlen, &a)
                        : vfs_dirmaps_add(f->maps, &f->last, chunk, sl, n);
        if (rc < 0)
            return rc;
    }
    return k;
}

/* The node's snapshot of dir into the caches: 1 when used, 0 when there is
 * none valid. Past listing_past entries it is kept as a listing. */
static int vfs_snap_from_node_past(uint64_t dir, int scan, meta_dirent_cb ecb, void *arg,
                                   long listing_past)
{
    struct vfs_engine *e = vfs_opened();
    struct nodemeta_snap s;
    if (!e->node || nodemeta_dir_load(e->node, dir, vfs_node_max_age(), &s) < 0)
        return 0;
    struct vfs_snap_fill f = { .dir = dir, .at = vfs_snap_mono(s.fetched_ns), .ecb = ecb, .arg = arg,
                               .scan = scan };
    size_t start = s.pos;
    long count = 0;
    int rc = vfs_snap_replay(&s, &f, 0, &count);
    if (rc == 0 && (count > listing_past || s.delta)) {
        /* a big folder, or one this node's processes changed since (its
         * delta merges into an index): kept as a listing, the caches take
         * the names asked */
        struct vfs_listing *l;
        s.pos = start;
        rc = vfs_listing_build(dir, f.at, &s, &l);
        if (rc == 0) {
            if (s.has_dir_attr)
                mcache_put_attr_at(&s.dir_attr, vfs_snap_mono(s.dir_attr_ns));
            mcache_dir_set_listing(dir, l);
            vfs_listing_put(l);
        }
        nodemeta_snap_free(&s);
        if (rc < 0)
            log_debug("vfs", "node snapshot of directory %llu unusable: %s",
                      (unsigned long long)dir, strerror(-rc));
        return rc == 0;
    }

    if (rc == 0 && !(f.maps = vfs_dirmaps_new()))
        rc = -ENOMEM;
    if (rc == 0) {
        s.pos = start;
        if (s.has_dir_attr)
            mcache_put_attr_at(&s.dir_attr, vfs_snap_mono(s.dir_attr_ns));
        f.epoch = mcache_fill_epoch();
        rc = vfs_snap_replay(&s, &f, 1, &count);
        if (rc == 0)
            mcache_dir_set_listed_at(dir, 1, f.at, f.epoch);
        vfs_dirmaps_install(f.maps, dir, rc == 0);
    }
    if (rc == 0)
        vfs_snap_keep_subdirs(&f);
    free(f.subdirs);
    nodemeta_snap_free(&s);
    if (rc < 0)
        log_debug("vfs", "node snapshot of directory %llu unusable: %s", (unsigned long long)dir,
                  strerror(-rc));
    return rc == 0;
}

static int vfs_snap_from_node(uint64_t dir, int scan, meta_dirent_cb ecb, void *arg)
{
    return vfs_snap_from_node_past(dir, scan, ecb, arg, VFS_SNAP_MAX);
}

int vfs_snap_listing(uint64_t dir)
{
    return vfs_snap_from_node_past(dir, 0, NULL, NULL, 0);
}

/* dir's snapshot and its full delta written again as one snapshot
 * (nodemeta.h, "Folding"): 0 or -errno. Costs what a reader's merge of
 * them costs, once per 4 MiB of changes. */
static int vfs_snap_fold(uint64_t dir)
{
    struct vfs_engine *e = vfs_opened();
    struct nodemeta_snap s;
    int rc = nodemeta_fold_load(e->node, dir, &s);
    if (rc < 0)
        return rc;
    if (!s.delta) {
        nodemeta_snap_free(&s);
        return -ESTALE; /* nothing to fold: the full delta is gone (replaced) */
    }
    struct vfs_listing *l;
    rc = vfs_listing_build(dir, 0, &s, &l);
    nodemeta_snap_free(&s); /* (empty when the listing took its records) */
    if (rc < 0)
        return rc;
    struct nodemeta_buf b;
    nodemeta_fold_begin(&b, dir, &l->snap);
    rc = vfs_listing_write(l, &b);
    if (rc == 0)
        rc = nodemeta_fold_commit(e->node, &b, &l->snap);
    nodemeta_buf_free(&b);
    vfs_listing_put(l);
    return rc;
}

void vfs_snap_patch(uint64_t seq, uint64_t dir, const struct nodemeta_change *c, int n)
{
    struct vfs_engine *e = vfs_opened();
    if (!seq || !e || !e->node)
        return;
    int rc = nodemeta_dir_patch(e->node, dir, seq, c, n);
    if (rc == -EFBIG) {
        int frc = vfs_snap_fold(dir);
        rc = frc < 0 ? frc : nodemeta_dir_patch(e->node, dir, seq, c, n);
        log_debug("vfs", "directory %llu: its node snapshot's delta was full: %s",
                  (unsigned long long)dir, frc < 0 ? strerror(-frc) : "folded");
    }
    if (rc < 0 && rc != -ENOENT && rc != -ESTALE)
        log_debug("vfs", "patching the node's snapshot of directory %llu: %s",
                  (unsigned long long)dir, strerror(-rc));
}

void vfs_snap_patch_name(uint64_t seq, uint64_t dir, const char *canon, const struct meta_attr *a,
                         int touch, const struct meta_slice_rec *map, int nmap)
{
    const char *slash = canon ? strrchr(canon, '/') : NULL;
    if (!seq || !dir || !slash || !slash[1])
        return;
    struct nodemeta_change c = { .name = slash + 1,
                                 .nlen = strlen(slash + 1),
                                 .a = a,
                                 .touch = touch,
                                 .map = nmap > 0 ? map : NULL,
                                 .nmap = nmap > 0 ? nmap : 0,
                                 .with_map = nmap >= 0 };
    vfs_snap_patch(seq, dir, &c, 1);
}

int vfs_snap_held(uint64_t dir)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node && nodemeta_dir_held(e->node, dir) >= 0;
}

int vfs_snap_hold(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node ? nodemeta_patch_hold(e->node) : -ENOENT;
}

void vfs_snap_release(void)
{
    struct vfs_engine *e = vfs_opened();
    if (e && e->node)
        nodemeta_patch_release(e->node);
}

int vfs_snap_load(uint64_t dir)
{
    return vfs_snap_from_node(dir, 0, NULL, NULL);
}

/* Before a directory's question: the fill's state, the node's generation
 * and the time (both read before the question). */
static int vfs_snap_begin(struct vfs_snap_fill *f, uint64_t dir, int scan, meta_dirent_cb ecb,
                          void *arg)
{
    struct vfs_engine *e = vfs_opened();
    *f = (struct vfs_snap_fill){ .dir = dir, .ecb = ecb, .arg = arg, .save = e->node != NULL,
                                 .scan = scan };
    if (!(f->maps = vfs_dirmaps_new()))
        return -ENOMEM;
    if (f->save) {
        struct nodemeta_stamp st = nodemeta_stamp(e->node);
        int64_t dat = 0;
        struct meta_attr da;
        int have = mcache_getattr_at(dir, &da, &dat) == 0;
        f->at = vfs_now_ns();
        nodemeta_dir_begin(&f->buf, dir, st, have ? &da : NULL, st.wall - (f->at - dat));
    } else {
        f->at = vfs_now_ns();
    }
    f->epoch = mcache_fill_epoch();
    return 0;
}

/* After its answer (rc: entries or -errno): caches, node share. Returns 1
 * when the directory was complete, 0 when limit was reached, or -errno.
 * A big folder read in pages (f->lazy) is complete for this process once
 * the node has it: the caches then take it as a listing from there. */
static int vfs_snap_finish(struct vfs_snap_fill *f, int rc, int limit)
{
    struct vfs_engine *e = vfs_opened();
    int complete = rc >= 0 && rc < limit;
    if (complete && !f->lazy)
        mcache_dir_set_listed_at(f->dir, 1, f->at, f->epoch);
    else if (rc == limit)
        (void)mcache_dir_more(f->dir, (uint32_t)limit);
    vfs_dirmaps_install(f->maps, f->dir, rc >= 0);
    f->maps = NULL;
    /* only an answer of committed state (it has a change token) is shared:
     * one read inside this process's own transaction may show changes that
     * are never committed if the process dies first */
    if (complete && f->save && f->token) {
        /* the database answered what the node could not: an agent would
         * have, for this process and the next ones */
        agent_ensure(&e->cfg, e->node);
        int src = nodemeta_dir_commit(e->node, &f->buf, f->token);
        if (src < 0)
            log_debug("vfs", "sharing directory %llu with the node: %s", (unsigned long long)f->dir,
                      strerror(-src));
    }
    nodemeta_buf_free(&f->buf);
    if (complete && !f->lazy)
        vfs_snap_keep_subdirs(f);
    free(f->subdirs);
    f->subdirs = NULL;
    if (complete && f->lazy)
        complete = vfs_snap_from_node(f->dir, 0, NULL, NULL);
    return rc < 0 ? vfs_errno(rc) : complete;
}

/* The pages after a full first one, for a lister (limit VFS_SNAP_ALL):
 * into the node's buffer only, each a keyset page after the last name (a
 * name that stays is never lost or repeated), until the end, a change
 * token missing (nothing to share then), or the node's file cap (the
 * folder is then read by pages only, from now on). Returns the entries of
 * the last page (fewer than VFS_SNAP_MAX: the end), or -errno. */
static int vfs_snap_query_rest(struct vfs_snap_fill *f)
{
    int rc = VFS_SNAP_MAX;
    f->lazy = 1;
    /* each full page moves the key forward: the bound only guards against
     * a server that never says "done" */
    for (long page = 1; rc == VFS_SNAP_MAX && page < (1L << 40) / VFS_SNAP_MAX; page++) {
        uint64_t token = 0;
        rc = meta_read_dir_page(vfs_eng.meta, f->dir, f->last_name, f->last_len, VFS_SNAP_MAX,
                                vfs_snap_entry_cb, vfs_snap_chunk_cb, f, &token);
        if (rc >= 0 && f->buf.err) {
            mcache_dir_set_huge(f->dir);
            return VFS_SNAP_MAX;
        }
        if (rc >= 0 && !token)
            return VFS_SNAP_MAX;
    }
    return rc;
}

/* One query for the directory (and its share for the node when complete);
 * with limit VFS_SNAP_ALL, a folder over VFS_SNAP_MAX continues in pages
 * and is kept as a listing. */
static int vfs_snap_query(uint64_t dir, int limit, meta_dirent_cb ecb, void *arg)
{
    struct vfs_snap_fill f;
    int rc = vfs_snap_begin(&f, dir, ecb != NULL, ecb, arg);
    if (rc < 0)
        return rc;
    if (limit != VFS_SNAP_ALL) {
        rc = meta_read_dir_all(vfs_eng.meta, dir, limit, vfs_snap_entry_cb, vfs_snap_chunk_cb, &f,
                               &f.token);
        return vfs_snap_finish(&f, rc, limit);
    }
    rc = meta_read_dir_page(vfs_eng.meta, dir, NULL, 0, VFS_SNAP_MAX, vfs_snap_entry_cb,
                            vfs_snap_chunk_cb, &f, &f.token);
    if (rc == VFS_SNAP_MAX && f.save && f.token)
        rc = vfs_snap_query_rest(&f);
    return vfs_snap_finish(&f, rc, VFS_SNAP_MAX);
}

/* ---- siblings in one round trip ---- */

struct vfs_snap_batch { struct vfs_snap_fill *fills; struct vfs_snap_fill *cur; uint64_t token; };

static void vfs_snap_batch_begin(void *arg, int i)
{
    struct vfs_snap_batch *b = arg;
    b->cur = &b->fills[i];
    b->cur->token = b->token; /* one round trip, one token */
}

static void vfs_snap_batch_end(void *arg, int i, int rc)
{
    struct vfs_snap_batch *b = arg;
    (void)vfs_snap_finish(&b->fills[i], rc, VFS_SNAP_FIRST);
}

static int vfs_snap_batch_entry(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    struct vfs_snap_batch *b = arg;
    return vfs_snap_entry(b->cur, name, nlen, a);
}

static int vfs_snap_batch_chunk(void *arg, const struct meta_attr *a, uint64_t chunk,
                                const struct layout_slice *s, int n)
{
    struct vfs_snap_batch *b = arg;
    return vfs_snap_chunk_cb(b->cur, a, chunk, s, n);
}

/* Fill dirs[0..n) (n <= META_DIRS_BATCH) with one round trip. */
static void vfs_snap_query_batch(const uint64_t *dirs, int n)
{
    struct vfs_snap_fill fills[META_DIRS_BATCH];
    int k = 0;
    for (; k < n; k++)
        if (vfs_snap_begin(&fills[k], dirs[k], 1, NULL, NULL) < 0)
            break;
    struct vfs_snap_batch b = { fills, NULL, 0 };
    int rc = meta_read_dirs_all(vfs_eng.meta, dirs, k, VFS_SNAP_FIRST, vfs_snap_batch_begin,
                                vfs_snap_batch_entry, vfs_snap_batch_chunk, vfs_snap_batch_end, &b,
                                &b.token);
    if (rc < 0)   /* no callback ran: release what begin made */
        for (int i = 0; i < k; i++)
            (void)vfs_snap_finish(&fills[i], rc, VFS_SNAP_FIRST);
}

void vfs_snap_descend(uint64_t parent)
{
    (void)vfs_snap_descend_upto(parent, INT_MAX);
}

int vfs_snap_descend_upto(uint64_t parent, int max)
{
    uint64_t todo[META_DIRS_BATCH];
    uint64_t *sub = NULL;
    int n = 0;
    if (!parent || !vfs_snap_shared())
        return 0;
    pthread_mutex_lock(&vsub->lock);
    int k = (int)((parent * 0x9E3779B97F4A7C15ULL) >> 60) % VFS_SNAP_SLOTS;
    if (vsub->slot[k].dir == parent && !vsub->slot[k].done && vsub->slot[k].n <= max) {
        vsub->slot[k].done = 1;
        n = vsub->slot[k].n;
        sub = malloc((size_t)n * sizeof *sub);
        if (sub)
            memcpy(sub, vsub->slot[k].sub, (size_t)n * sizeof *sub);
    }
    pthread_mutex_unlock(&vsub->lock);
    if (!sub)
        return 0;
    /* asked once for the node: processes descending into the same folder
     * together wait for one lister, then find its answers in the node's
     * files (the loop looks there first) */
    int waited, tok = vfs_flight_begin('D', parent, NULL, 0, &waited);
    int m = 0, batches = 0;
    for (int i = 0; i < n; i++) {
        /* a folder another process lists alone right now is left to it:
         * its answer lands in the node's files (listing it here too made
         * up most of a fan-out's listings past one a folder) */
        if (mcache_dir_listed(sub[i]) || vfs_snap_from_node(sub[i], 1, NULL, NULL) ||
            vfs_flight_held('d', sub[i]))
            continue;
        todo[m++] = sub[i];
        if (m == META_DIRS_BATCH || i == n - 1) {
            vfs_snap_query_batch(todo, m);
            batches++;
            m = 0;
        }
    }
    if (m)
        vfs_snap_query_batch(todo, m), batches++;
    vfs_flight_end(tok);
    log_debug("vfs", "descending into directory %llu: %d subdirectories, %d round trips",
              (unsigned long long)parent, n, batches);
    free(sub);
    return 1;
}

/* dir's question, asked once for the node under question lock `kind`:
 * a process that waited for another's finds the answer in the node's
 * files, else asks it itself. */
static int vfs_snap_ask_once(char kind, uint64_t dir, int limit, meta_dirent_cb ecb, void *arg)
{
    int waited, tok = vfs_flight_begin(kind, dir, NULL, 0, &waited);
    int rc = waited && vfs_snap_from_node(dir, ecb != NULL, ecb, arg)
                 ? 1
                 : vfs_snap_query(dir, limit, ecb, arg);
    vfs_flight_end(tok);
    return rc;
}

int vfs_snap_fill(uint64_t dir, int limit, meta_dirent_cb ecb, void *arg)
{
    if (vfs_snap_from_node(dir, ecb != NULL, ecb, arg))
        return 1;
    /* entering a subfolder of a folder listed whole: its siblings come too */
    struct meta_attr da;
    int64_t at;
    if (vfs_snap_shared() && mcache_getattr_at(dir, &da, &at) == 0 && da.parent && da.parent != dir) {
        vfs_snap_descend(da.parent);
        if (mcache_dir_listed(dir) && (!ecb || vfs_snap_from_node(dir, 1, ecb, arg)))
            return 1;
        /* another process listing dir with its siblings right now (one
         * that never waited for a neighbour too: it may be the first of
         * the node's readers to come to dir) */
        if (vfs_flight_held('D', da.parent) && vfs_flight_wait('D', da.parent) &&
            vfs_snap_from_node(dir, ecb != NULL, ecb, arg))
            return 1;
    }
    /* a process not connected yet: the node agent lists it, whole up to
     * VFS_SNAP_MAX entries (a class folder of a dataset is often past the
     * first page: 1,300 images; every worker listed it on a connection of
     * its own); a bigger folder is read here, by pages, as before */
    if (vfs_agent_ask(AGENT_ASK_LIST, dir, VFS_SNAP_MAX, NULL, NULL, 0) == 0 &&
        vfs_snap_from_node(dir, ecb != NULL, ecb, arg))
        return 1;
    return vfs_snap_ask_once('d', dir, limit, ecb, arg);
}

int vfs_snap_fill_aside(uint64_t dir)
{
    if (vfs_snap_from_node(dir, 0, NULL, NULL))
        return 1;
    /* its own question lock, not the 'd' one readers take for a page of
     * the folder: none of them waits behind a listing of all of it */
    return vfs_snap_ask_once('P', dir, VFS_SNAP_ALL, NULL, NULL);
}

int vfs_snap_shared(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node;
}

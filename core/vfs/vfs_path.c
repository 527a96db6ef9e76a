/* vfs_path.c - the path walk: volume path -> inode, like the kernel's
 * namei: ".", "..", repeated "/", symlinks (relative, absolute, at most 40),
 * search permission on every directory, ENOTDIR / ENOENT / ELOOP /
 * ENAMETOOLONG / EACCES as the kernel answers them.
 *
 * Round trips: the cost of a walk is proportional to the path, not to the
 * tree. The process's caches answer first, then the node's snapshot of a
 * directory (vfs_snap.c, no query) or a name another process of the node
 * walked (vfs_nodewalk.c); the root, which every walk crosses, is listed
 * for the node by the first process that asks for it. A first miss in a directory costs one
 * meta_walk for all the remaining components (a cold stat of a deep path
 * is one round trip reading only the path's directories); a second miss
 * lists the directory's first VFS_SNAP_FIRST entries with their block maps
 * (a whole small folder: a process reading a directory's files pays one
 * query per directory, not one per file), and after VFS_MISSES_MORE misses
 * a folder that did not fit is listed up to VFS_SNAP_MAX; past that every
 * name is one indexed query. A name whose entry is cached but whose
 * attributes aged (this process changed its folder, or a TTL) is one
 * getattr, never a listing. Leaving the volume (".."
 * above its root or an absolute symlink elsewhere) hands the rest of the
 * path back to the host as VFS_ESCAPED.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "vfs_internal.h"

#define VFS_MAX_LINKS 40
#define VFS_MAX_DEPTH 1024
#define VFS_MAX_WALK 64

/* misses in one folder before it is listed up to VFS_SNAP_MAX (the first
 * listing, at the second miss, stops at VFS_SNAP_FIRST entries) */
#define VFS_MISSES_MORE 32

/* List a directory into the caches with its block maps (one query, or none
 * when the node has it), at most limit entries. Returns 1 when complete, 0
 * when it had more (with limit VFS_SNAP_MAX it is then looked up by name
 * only), or -errno. */
static int vfs_fill_dir(uint64_t dir, int limit)
{
    int rc = vfs_snap_fill(dir, limit, NULL, NULL);
    if (rc == 0 && limit >= VFS_SNAP_MAX)
        mcache_dir_set_listed(dir, 0);
    return rc;
}

/* A name whose entry is still fresh but whose inode's attributes are not
 * (a change of this process in the folder made them stale, or their TTL
 * ran out first): one getattr by inode, never a listing. MC_MISS when the
 * entry is not known or its inode has no name any more. */
static int vfs_refresh_entry(uint64_t dir, const char *name, size_t nlen, struct meta_attr *a)
{
    uint64_t ino;
    if (mcache_entry_ino(dir, name, nlen, &ino) != 0)
        return MC_MISS;
    int rc = meta_getattr(vfs_eng.meta, ino, a);
    if (rc == -ENOENT || (rc == 0 && a->nlink == 0))
        return MC_MISS;
    if (rc < 0)
        return vfs_errno(rc);
    mcache_put_attr(a);
    return 0;
}

/* One round trip for the rest of a path: caches every component found and
 * a negative entry for the first missing one. */
int vfs_walk_rest(uint64_t dir, const char *const *names, const size_t *lens, int n)
{
    struct vfs_engine *e = vfs_opened();
    struct meta_attr steps[VFS_MAX_WALK];
    if (n > VFS_MAX_WALK)
        n = VFS_MAX_WALK;
    struct nodemeta_stamp st = vfs_nodewalk_begin();
    int64_t at = vfs_now_ns();
    int k = meta_walk(e->meta, dir, names, lens, n, steps);
    if (k < 0)
        return k;
    uint64_t parent = dir;
    for (int i = 0; i < k; i++) {
        mcache_put_entry_at(parent, names[i], lens[i], &steps[i], at);
        vfs_nodewalk_put(parent, names[i], lens[i], &steps[i], st);
        parent = steps[i].ino;
    }
    if (k < n && (k == 0 || S_ISDIR(steps[k - 1].mode)))
        mcache_put_negative(parent, names[k], lens[k]);
    return 0;
}

/* One name asked of the database, the answer kept. Also the final name of
 * an open that may change its file (write, truncate, create), whatever the
 * caches hold: a cached or node-shared answer may be a TTL old, and
 * truncating the inode a stale name pointed to would damage whatever that
 * inode is called now (a checkpoint renamed over its temp name by a writer
 * killed before it could tell its node). */
static int vfs_lookup_fresh(uint64_t dir, const char *name, size_t nlen, struct meta_attr *a)
{
    int rc = meta_lookup(vfs_eng.meta, dir, name, nlen, a);
    if (rc == 0)
        mcache_put_entry(dir, name, nlen, a);
    else if (rc == -ENOENT)
        mcache_put_negative(dir, name, nlen);
    return vfs_errno(rc);
}

/* A name the caches cannot answer, in a folder with `misses` misses so far. */
static int vfs_lookup_missed(uint64_t dir, const char *name, size_t nlen, struct meta_attr *a,
                             int misses)
{
    if (misses == VFS_MISSES_MORE && mcache_dir_more(dir, 0) >= VFS_SNAP_MAX) {
        /* known past a listing's bound (its block maps' page came back
         * full): by name from now on, not a page that cannot complete */
        mcache_dir_set_listed(dir, 0);
    } else if (misses == 2 || misses == VFS_MISSES_MORE) {
        int rc = vfs_fill_dir(dir, misses == 2 ? VFS_SNAP_FIRST : VFS_SNAP_MAX);
        if (rc < 0)
            return vfs_errno(rc);
        if (rc == 0)
            vfs_agent_prelist(dir); /* big: whole for the node, off this path */
        rc = mcache_lookup(dir, name, nlen, a);
        if (rc != MC_MISS)
            return rc;
    } else if (vfs_prelisted(dir)) {
        /* the node's whole listing landed: names from it, no query */
        int rc = mcache_lookup(dir, name, nlen, a);
        if (rc != MC_MISS)
            return rc;
    }
    return vfs_lookup_fresh(dir, name, nlen, a);
}

int vfs_lookup_name(uint64_t dir, const char *name, size_t nlen, struct meta_attr *a)
{
    int rc = mcache_lookup(dir, name, nlen, a);
    if (rc == MC_MISS)
        rc = vfs_refresh_entry(dir, name, nlen, a);
    if (rc != MC_MISS)
        return rc;
    return vfs_lookup_missed(dir, name, nlen, a, mcache_dir_note_miss(dir));
}

/* Every process starts its walks here: the root comes from the node's
 * snapshot when there is one. A process that had to ask leaves one for the
 * next (its first VFS_SNAP_FIRST entries, with the root's attributes): the
 * root is on every path, and without it each later process of the node
 * would connect to the database for it, 10-30 ms, even when every folder
 * below was shared by a lister. Other folders on a path are only walked. */
static int vfs_get_root(struct meta_attr *a)
{
    if (mcache_getattr(META_ROOT_INO, a) == 0)
        return 0;
    if (vfs_snap_load(META_ROOT_INO) && mcache_getattr(META_ROOT_INO, a) == 0)
        return 0;
    /* a process not connected yet: the node agent asks it (it leaves the
     * root's attributes with its listing) */
    if (vfs_agent_ask(AGENT_ASK_LIST, META_ROOT_INO, VFS_SNAP_FIRST, NULL, NULL, 0) == 0 &&
        vfs_snap_load(META_ROOT_INO) && mcache_getattr(META_ROOT_INO, a) == 0)
        return 0;
    /* the root's listing is the same question (vfs_snap_fill's, nested) */
    int waited, tok = vfs_flight_begin('d', META_ROOT_INO, NULL, 0, &waited);
    if (waited && vfs_snap_load(META_ROOT_INO) && mcache_getattr(META_ROOT_INO, a) == 0) {
        vfs_flight_end(tok);
        return 0;
    }
    int rc = meta_getattr(vfs_eng.meta, META_ROOT_INO, a);
    if (rc == 0) {
        mcache_put_attr(a);
        if (vfs_snap_shared() && !mcache_dir_listed(META_ROOT_INO))
            (void)vfs_snap_fill(META_ROOT_INO, VFS_SNAP_FIRST, NULL, NULL);
    }
    vfs_flight_end(tok);
    return vfs_errno(rc);
}

struct vfs_walk {
    char buf[2 * VFS_PATH_MAX + 2];  /* the path still to walk */
    size_t pos, len;
    int depth;
    struct meta_attr stack[VFS_MAX_DEPTH];     /* stack[0] is the root */
    uint16_t name_off[VFS_MAX_DEPTH], name_len[VFS_MAX_DEPTH];
    char names[VFS_PATH_MAX + 1];              /* canonical names, packed */
    size_t names_used;
    int links;
};

/* Next component of the remaining path; 0 at the end. */
static int vfs_next(struct vfs_walk *w, const char **name, size_t *nlen)
{
    while (w->pos < w->len && w->buf[w->pos] == '/')
        w->pos++;
    if (w->pos >= w->len)
        return 0;
    *name = w->buf + w->pos;
    *nlen = strcspn(*name, "/");
    w->pos += *nlen;
    return 1;
}

static int vfs_at_end(const struct vfs_walk *w)
{
    for (size_t i = w->pos; i < w->len; i++)
        if (w->buf[i] != '/')
            return 0;
    return 1;
}

/* Replace the walked part with a symlink target + what was left. */
static int vfs_splice(struct vfs_walk *w, const char *target, size_t tlen)
{
    size_t rest = w->len - w->pos;
    size_t sep = rest > 0 ? 1 : 0; /* no separator after a final link: "x/" would demand a directory */
    if (tlen + sep + rest >= sizeof w->buf)
        return -ENAMETOOLONG;
    memmove(w->buf + tlen + sep, w->buf + w->pos, rest);
    memcpy(w->buf, target, tlen);
    if (sep)
        w->buf[tlen] = '/';
    w->len = tlen + sep + rest;
    w->buf[w->len] = '\0';
    w->pos = 0;
    return 0;
}

static int vfs_escape(struct vfs_walk *w, const char *base, size_t blen, char *host, size_t hcap)
{
    const char *rest = w->buf + w->pos;
    int rlen = (int)(w->len - w->pos);
    while (rlen > 0 && *rest == '/')
        rest++, rlen--;
    int n = blen == 0 ? snprintf(host, hcap, "/%.*s", rlen, rest)
          : rlen == 0 && w->buf[w->len - 1] != '/' ? snprintf(host, hcap, "%.*s", (int)blen, base)
          : snprintf(host, hcap, "%.*s/%.*s", (int)blen, base, rlen, rest);
    if (n < 0 || (size_t)n >= hcap)
        return -ENAMETOOLONG;
    return VFS_ESCAPED;
}

/* ".." at the volume root leaves the volume: continue in the prefix's parent. */
static int vfs_dotdot(struct vfs_walk *w, char *host, size_t hcap)
{
    if (w->depth > 0) {
        w->names_used = w->name_off[w->depth];
        w->depth--;
        return 0;
    }
    const struct shimfs_config *c = &vfs_eng.cfg;
    const char *slash = strrchr(c->prefix, '/');
    return vfs_escape(w, c->prefix, (size_t)(slash - c->prefix), host, hcap);
}

static int vfs_follow(struct vfs_walk *w, const struct meta_attr *link, char *host, size_t hcap)
{
    char target[PATH_MAX];
    if (++w->links > VFS_MAX_LINKS)
        return -ELOOP;
    int n = meta_readlink(vfs_eng.meta, link->ino, target, sizeof target - 1);
    if (n < 0)
        return vfs_errno(n);
    if (n == 0)
        return -ENOENT;
    target[n] = '\0';
    if (target[0] != '/')
        return vfs_splice(w, target, (size_t)n);
    const struct shimfs_config *c = &vfs_eng.cfg;
    if (strncmp(target, c->prefix, c->prefix_len) == 0 &&
        (target[c->prefix_len] == '/' || target[c->prefix_len] == '\0')) {
        w->depth = 0;
        w->names_used = 0;
        return vfs_splice(w, target + c->prefix_len, (size_t)n - c->prefix_len);
    }
    return vfs_escape(w, target, (size_t)n, host, hcap);
}

/* Gather the plain components ahead (for one meta_walk round trip). */
static int vfs_gather(struct vfs_walk *w, const char *first, size_t flen,
                      const char **names, size_t *lens)
{
    int n = 0;
    names[n] = first;
    lens[n++] = flen;
    size_t save = w->pos;
    const char *nm;
    size_t nl;
    while (n < VFS_MAX_WALK && vfs_next(w, &nm, &nl)) {
        if ((nl == 1 && nm[0] == '.') || (nl == 2 && nm[0] == '.' && nm[1] == '.'))
            break;
        names[n] = nm;
        lens[n++] = nl;
    }
    w->pos = save;
    return n;
}

/* A listing read as a scan (vfs_snap_fill with a callback): its
 * subdirectories are kept, for vfs_snap_descend_upto. */
static int vfs_scan_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a)
{
    (void)arg, (void)name, (void)nlen, (void)a;
    return 0;
}

/* name in dir from the node's files: from dir's listing when `listed` (it
 * was loaded into the caches), else from a walk's answer; MC_MISS when
 * neither answers. */
static int vfs_node_name(uint64_t dir, int listed, const char *name, size_t nlen,
                         struct meta_attr *a)
{
    if (listed)
        return mcache_lookup(dir, name, nlen, a);
    return vfs_nodewalk_get(dir, name, nlen, a) == 0 ? 0 : MC_MISS;
}

static int vfs_step(struct vfs_walk *w, const char *name, size_t nlen, struct meta_attr *a)
{
    const struct meta_attr *dir = &w->stack[w->depth];
    int rc = mcache_lookup(dir->ino, name, nlen, a);
    if (rc == MC_MISS)
        rc = vfs_refresh_entry(dir->ino, name, nlen, a);
    if (rc != MC_MISS)
        return rc;
    int misses = mcache_dir_listed(dir->ino) ? 0 : mcache_dir_note_miss(dir->ino);
    if (misses == 1) {
        /* the node's snapshot when it has one (no query), else one walk
         * for the rest of the path: only the path's directories are read.
         * While the node's processes read the same folders together (this
         * one waited for a neighbour's question), a folder whose parent
         * was read whole is listed with its siblings instead (at most
         * META_DIRS_BATCH, one round trip, asked once for the node): the
         * walks each worker would make, one per folder, become one
         * listing per parent for all of them. */
        int busy = vfs_flight_contended() && dir->parent && dir->parent != dir->ino;
        rc = vfs_node_name(dir->ino,
                           vfs_snap_load(dir->ino) ||
                               (busy && vfs_snap_descend_upto(dir->parent, META_DIRS_BATCH) &&
                                mcache_dir_listed(dir->ino)) ||
                               (busy && vfs_flight_wait('D', dir->parent) && vfs_snap_load(dir->ino)),
                           name, nlen, a);
        if (rc != MC_MISS)
            return rc;
        const char *names[VFS_MAX_WALK];
        size_t lens[VFS_MAX_WALK];
        int n = vfs_gather(w, name, nlen, names, lens);
        /* a process not connected yet: the node agent lists the folders
         * of the path for it (or walks, below a big one) */
        if (vfs_agent_ask(AGENT_ASK_WALK, dir->ino, 1, names, lens, n) == 0 &&
            (rc = vfs_node_name(dir->ino, vfs_snap_load(dir->ino), name, nlen, a)) != MC_MISS)
            return rc;
        /* asked once for the node: another process walking from here by
         * the same name leaves its answer in the node's files */
        int waited, tok = vfs_flight_begin('w', dir->ino, name, nlen, &waited);
        if (waited) {
            /* a folder other processes of the node are reading now: one
             * listing for all of them (vfs_snap_fill asks it once), whose
             * block maps spare each of them its own for the file it opens;
             * read as a scan: its subfolders come next, together */
            vfs_flight_end(tok);
            tok = -1;
            if (vfs_snap_fill(dir->ino, VFS_SNAP_FIRST, vfs_scan_cb, NULL) == 1) {
                rc = mcache_lookup(dir->ino, name, nlen, a);
                return rc != MC_MISS ? rc : vfs_lookup_missed(dir->ino, name, nlen, a, misses);
            }
            if (vfs_nodewalk_get(dir->ino, name, nlen, a) == 0)
                return 0;
        }
        rc = vfs_walk_rest(dir->ino, names, lens, n);
        vfs_flight_end(tok);
        if (rc < 0)
            return vfs_errno(rc);
        rc = mcache_lookup(dir->ino, name, nlen, a);
        if (rc != MC_MISS)
            return rc;
    }
    return vfs_lookup_missed(dir->ino, name, nlen, a, misses);
}

static int vfs_push(struct vfs_walk *w, const char *name, size_t nlen, const struct meta_attr *a)
{
    if (w->depth + 1 >= VFS_MAX_DEPTH || w->names_used + nlen + 1 > VFS_PATH_MAX)
        return -ENAMETOOLONG;
    w->depth++;
    w->stack[w->depth] = *a;
    w->name_off[w->depth] = (uint16_t)w->names_used;
    w->name_len[w->depth] = (uint16_t)nlen;
    memcpy(w->names + w->names_used, name, nlen);
    w->names_used += nlen;
    return 0;
}

static int vfs_canon(const struct vfs_walk *w, char *out, size_t cap)
{
    size_t n = 0;
    if (w->depth == 0)
        return snprintf(out, cap, "/") < (int)cap ? 0 : -ENAMETOOLONG;
    for (int i = 1; i <= w->depth; i++) {
        if (n + 1 + w->name_len[i] + 1 > cap)
            return -ENAMETOOLONG;
        out[n++] = '/';
        memcpy(out + n, w->names + w->name_off[i], w->name_len[i]);
        n += w->name_len[i];
    }
    out[n] = '\0';
    return 0;
}

static int vfs_walk_all(struct vfs_walk *w, int flags, char *host, size_t hcap)
{
    const char *name;
    size_t nlen;
    while (vfs_next(w, &name, &nlen)) {
        if (nlen > META_NAME_MAX)
            return -ENAMETOOLONG;
        if (nlen == 1 && name[0] == '.')
            continue;
        if (nlen == 2 && name[0] == '.' && name[1] == '.') {
            int rc = vfs_dotdot(w, host, hcap);
            if (rc != 0)
                return rc;
            continue;
        }
        const struct meta_attr *dir = &w->stack[w->depth];
        if (!S_ISDIR(dir->mode))
            return -ENOTDIR;
        int rc = vfs_check_access(dir, X_OK, 1);
        int last = vfs_at_end(w);
        struct meta_attr a;
        if (rc == 0)
            rc = (flags & VFS_FRESH) && last ? vfs_lookup_fresh(dir->ino, name, nlen, &a)
                                             : vfs_step(w, name, nlen, &a);
        if (rc < 0)
            return rc;
        int trailing = last && w->len > 0 && w->buf[w->len - 1] == '/';
        if (S_ISLNK(a.mode) && (!last || trailing || !(flags & VFS_NOFOLLOW))) {
            rc = vfs_follow(w, &a, host, hcap);
            if (rc != 0)
                return rc;
            continue;
        }
        rc = vfs_push(w, name, nlen, &a);
        if (rc < 0)
            return rc;
    }
    /* "dir/" on a non-directory is ENOTDIR, like the kernel */
    if (w->len > 0 && w->buf[w->len - 1] == '/' && !S_ISDIR(w->stack[w->depth].mode))
        return -ENOTDIR;
    return 0;
}

int vfs_resolve_at(const char *vpath, int flags, struct meta_attr *a, char *canon,
                   uint64_t *parent, char *host, size_t hcap)
{
    size_t len = strlen(vpath);
    if (len >= VFS_PATH_MAX)
        return -ENAMETOOLONG;
    struct vfs_walk *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    memcpy(w->buf, vpath, len + 1);
    w->pos = 0;
    w->len = len;
    w->depth = 0;
    w->names_used = 0;
    w->links = 0;
    int rc = vfs_get_root(&w->stack[0]);
    if (rc == 0)
        rc = vfs_walk_all(w, flags, host, hcap);
    if (rc == 0) {
        *a = w->stack[w->depth];
        if (parent)
            *parent = w->depth > 0 ? w->stack[w->depth - 1].ino : 0;
        if (canon)
            rc = vfs_canon(w, canon, VFS_PATH_MAX);
    }
    free(w);
    return rc;
}

int vfs_resolve(const char *vpath, int flags, struct meta_attr *a, char *canon,
                char *host, size_t hcap)
{
    return vfs_resolve_at(vpath, flags, a, canon, NULL, host, hcap);
}

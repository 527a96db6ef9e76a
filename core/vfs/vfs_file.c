/* vfs_file.c - open files: the kernel descriptor behind each one, reads,
 * fstat, mmap and exec re-adoption.
 *
 * Where it is cheap, the descriptor holds the file's bytes ("native"): a
 * file that is one whole cached block gets the cache file itself; other
 * small files, except packed ones, get a sealed memfd filled with their
 * content. Programs then read, mmap, sendfile and stdio them with no help
 * from the shim. Larger files and packed ones get an empty sealed memfd
 * named "shimfs:<ino>" whose kernel offset is the file position, and the
 * shim routes their reads here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "io.h"
#include "vfs_internal.h"

#define VFS_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
#define VFS_MATERIALIZE_CHUNK (4u << 20)


static int vfs_memfd(const char *kind, uint64_t ino, int flags)
{
    char name[64];
    snprintf(name, sizeof name, "%s:%llu", kind, (unsigned long long)ino);
    int fd = memfd_create(name, MFD_ALLOW_SEALING | ((flags & O_CLOEXEC) ? MFD_CLOEXEC : 0));
    return fd < 0 ? -errno : fd;
}

/* Copy the whole file into fd (a memfd or a temporary cache file). */
int vfs_fill_fd(struct vfs_smap *m, int fd)
{
    size_t cap = m->size < VFS_MATERIALIZE_CHUNK ? (size_t)m->size : VFS_MATERIALIZE_CHUNK;
    char *buf = malloc(cap ? cap : 1);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < m->size; ) {
        ssize_t n = vfs_read_data(m, buf, cap, off);
        if (n <= 0) {
            rc = n < 0 ? (int)n : -EIO;
            break;
        }
        rc = io_write_all(fd, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

static int vfs_sealed_copy(struct vfs_smap *m, const char *kind, int flags)
{
    int fd = vfs_memfd(kind, m->ino, flags);
    if (fd < 0)
        return fd;
    int rc = vfs_fill_fd(m, fd);
    if (rc == 0 && (fcntl(fd, F_ADD_SEALS, VFS_SEALS) < 0 || lseek(fd, 0, SEEK_SET) < 0))
        rc = -errno;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* The best descriptor for a regular file: the cache file, a filled memfd,
 * or a placeholder. Sets f->native; a cache file this process has not yet
 * checked is handed out with f->unchecked set: its check waits for the
 * program's first read, which it hashes where the bytes landed, so a warm
 * file is read from memory once, not twice (vfs_file_check). */
int vfs_file_descriptor(struct vfs_file *f)
{
    struct vfs_engine *e = vfs_opened();
    struct vfs_smap *m = f->smap;
    int flags = f->flags;
    uint32_t blen;
    uint64_t id;
    f->native = 1;
    if (e->cache && vfs_single_block_key(m, f->ckey, sizeof f->ckey, &blen, &id) == 0) {
        /* the cache knows its policy: only a due first-use check is left to us */
        int fd = cache_open_block_unchecked(e->cache, f->ckey, flags & O_CLOEXEC, &blen,
                                            &f->unchecked);
        vfs_dir_readahead(f->parent, m->ino, fd < 0); /* cold: the next files will be wanted too */
        if (fd >= 0)
            return fd;
    }
    /* A packed file's bytes are a range of its pack's cache file: a copy
     * would cost a memfd's pages at every open (allocated, filled, read,
     * freed). Its reads come here instead, each one pread of the cached
     * pack: a warm `cat` of 2,000 packed 128 KiB files took 264 ms with
     * the copy and 107 ms without (whole cached files: 91 ms); with 4 KiB
     * reads 432 and 399 ms. A cold one has the next files' packs fetched
     * in the background, as whole cold files do. (Without a cache the
     * copy stays: one fetch of the pack per open, not one per read.) */
    char pkey[LAYOUT_KEY_MAX];
    int packed = e->cache && vfs_pack_key(m, pkey, sizeof pkey) == 0;
    if (packed)
        vfs_dir_readahead(f->parent, m->ino, !cache_contains(e->cache, pkey));
    if (m->size <= e->settings.block_size && !packed) {
        int fd = vfs_sealed_copy(m, "shimfs-data", flags);
        if (fd >= 0 || fd == -EIO)
            return fd;
    }
    f->native = 0;
    int fd = vfs_memfd("shimfs", m->ino, flags);
    if (fd >= 0 && fcntl(fd, F_ADD_SEALS, VFS_SEALS) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int vfs_open_flags_check(const struct meta_attr *a, int flags, int created)
{
    int acc = flags & O_ACCMODE;
    if ((flags & O_DIRECTORY) && !S_ISDIR(a->mode))
        return -ENOTDIR;
    if (S_ISDIR(a->mode) && (acc != O_RDONLY || (flags & O_TRUNC)))
        return -EISDIR;
    if (S_ISLNK(a->mode))
        return (flags & O_PATH) ? 0 : -ELOOP;
    if (flags & O_PATH)
        return 0;
    int special = !S_ISREG(a->mode) && !S_ISDIR(a->mode);
    if (created)
        return special ? -ENXIO : 0; /* the creator may write whatever mode it asked for */
    int want = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;
    if ((flags & O_TRUNC) && !special)
        want |= W_OK;
    int rc = vfs_check_access(a, want, 1);
    /* as the kernel: permission first, then what the file is; a FIFO's
     * pipe is the node's (vfs_fifo.c); sockets and devices have no peer
     * through open on a network volume */
    return rc < 0 ? rc : special && !S_ISFIFO(a->mode) ? -ENXIO : 0;
}

static struct vfs_file *vfs_file_new(const char *path, const struct meta_attr *a, int flags)
{
    size_t plen = strlen(path);
    struct vfs_file *f = calloc(1, sizeof *f + plen + 1);
    if (!f)
        return NULL;
    f->fd = f->map_fd = f->lock_fd = -1;
    f->flags = flags;
    f->attr = *a;
    f->size = a->size;
    f->mtime_ns = a->mtime_ns;
    pthread_mutex_init(&f->lock, NULL);
    pthread_mutex_init(&f->wlock, NULL);
    f->fresh_ns = vfs_now_ns();
    memcpy(f->path, path, plen + 1);
    return f;
}

/* A folder this process holds as a listing (a big one, from the node's
 * snapshot) has every file's block map in its records: no query. The
 * next files' maps come too, the run directory read-ahead follows (a
 * shorter one past the second miss: a shuffled reader misses at every
 * open, and parsing costs it time). 0 when name's map came. */
static int vfs_maps_from_listing(uint64_t dir, const char *name, int misses)
{
    struct vfs_listing *l = mcache_dir_listing(dir);
    if (!l && vfs_prelisted(dir)) /* the agent's listing asked for has landed */
        l = mcache_dir_listing(dir);
    if (!l)
        return -ENOENT;
    int rc = vfs_listing_maps(l, name, strlen(name), misses == 2 ? VFS_SNAP_FIRST : 32);
    vfs_listing_put(l);
    return rc;
}

/* Opening files of one directory one after another (cat *, a DataLoader
 * worker): from the second block map missing in a directory, load every
 * file's map of that directory in one query. When the node shares
 * metadata, a reader's first miss in a folder not known to be big takes
 * the node's listing of the folder when a neighbour left one (no query),
 * and, while the node is busy with the same folders (this process waited
 * for a neighbour's question), asks it once for the node (its first
 * VFS_SNAP_FIRST entries, block maps included: vfs_snap_fill's question
 * lock) in the same one round trip a lone block map would cost. So the
 * node's first reader of a folder answers for every other process reading
 * it, which then open its files without connecting (256 cold DataLoader
 * workers: one listing per folder, not one block map per worker). */
static void vfs_prefill_maps(const struct vfs_file *f)
{
    if (!f->parent)
        return;
    struct vfs_smap *m = mcache_get_smap(&f->attr);
    if (m) {
        vfs_smap_put(m);
        return;
    }
    int misses = mcache_dir_note_smap_miss(f->parent);
    const char *slash = strrchr(f->path, '/');
    const char *name = slash && slash[1] ? slash + 1 : NULL;
    if (name && vfs_maps_from_listing(f->parent, name, misses) == 0)
        return;
    if (misses == 1 && (f->flags & O_ACCMODE) == O_RDONLY && !(f->flags & O_TRUNC) &&
        vfs_snap_shared() && !mcache_dir_huge(f->parent) && !mcache_dir_listed(f->parent)) {
        /* a lone process (it never waited for a neighbour's question)
         * keeps its one block map: a folder may be large */
        if (vfs_snap_load(f->parent)) {
            /* the node's snapshot: a big folder's comes as a listing */
            if (name)
                (void)vfs_maps_from_listing(f->parent, name, misses);
        } else {
            /* not connected yet: the node agent lists the folder, which
             * costs this process no connection for its block map */
            if (vfs_agent_ask(AGENT_ASK_LIST, f->parent, VFS_SNAP_FIRST, NULL, NULL, 0) == 0)
                (void)vfs_snap_load(f->parent);
            else if (vfs_flight_contended())
                (void)vfs_snap_fill(f->parent, VFS_SNAP_FIRST, NULL, NULL);
        }
    } else if (misses == 2) {
        if (mcache_dir_more(f->parent, 0) >= VFS_SNAP_FIRST)
            vfs_agent_prelist(f->parent); /* big: whole for the node, off this path */
        if (name)
            (void)vfs_load_dir_smaps(f->parent, name, strlen(name));
    }
}

static int vfs_file_attach(struct vfs_file *f, int created)
{
    f->created = created;
    if (S_ISREG(f->attr.mode) && !(f->flags & O_PATH)) {
        int rc = 0;
        if (!f->smap) { /* (a file this open created has its empty map) */
            vfs_prefill_maps(f);
            rc = vfs_load_smap(&f->attr, &f->smap);
        }
        if (rc < 0)
            return rc;
        f->size = f->attr.size;          /* the version the map is of */
        f->mtime_ns = f->attr.mtime_ns;
        if (vfs_is_writer(f))
            f->fd = vfs_memfd("shimfs", f->attr.ino, f->flags); /* never native: writes need us */
        else
            f->fd = vfs_file_descriptor(f);
    } else {
        f->fd = vfs_memfd(S_ISDIR(f->attr.mode) ? "shimfs-dir" : "shimfs-path", f->attr.ino, f->flags);
    }
    if (f->fd >= 0 && vfs_is_writer(f)) {
        /* the open read the database after it; a file this open created is
         * the create's own answer, current if no other commit of the node
         * came between (cp's fstat of the file it just made then asks
         * nothing: a round trip per copied file) */
        vfs_writer_seen_locked(f, f->node_gen, created);
        /* an inode this open created has no map on the node to join */
        int rc = created ? 0 : vfs_map_join_node(f);
        if (rc == 0 && f->mo && (f->flags & O_TRUNC))
            rc = vfs_map_truncate(f->mo, 0); /* the truncate the open committed */
        if (rc < 0)
            return rc;
    }
    return f->fd < 0 ? f->fd : 0;
}

/* O_TRUNC of an existing file with data: one setattr before the open.
 * The node's snapshot of its folder takes the emptied file's attributes,
 * so that the delta covers this commit and the data commit of the same
 * descriptor can patch it too, map included (a file saved over is read by
 * the node's next process with no question); unpatched, the snapshot
 * would go stale here. */
static int vfs_open_truncate(struct meta_attr *a, int flags, uint64_t parent, const char *canon)
{
    if (!(flags & O_TRUNC) || !S_ISREG(a->mode) || (flags & O_ACCMODE) == O_RDONLY || a->size == 0)
        return 0;
    int rc = vfs_set_size(a->ino, 0, a);
    uint64_t seq = mcache_take_commit();
    if (rc == 0 && a->nlink == 1)
        vfs_snap_patch_name(seq, parent, canon, a, 2, NULL, -1);
    return rc;
}

int vfs_open(const char *vpath, int flags, mode_t mode, struct vfs_file **out,
             char *host, size_t hcap)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -EOPNOTSUPP;
    struct meta_attr a;
    char canon[VFS_PATH_MAX];
    int follow = (flags & O_NOFOLLOW) ? VFS_NOFOLLOW : 0, created = 0, missing = 0;
    uint64_t gen = vfs_node_gen(); /* before the view is read (writers follow from there) */
    int changes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
    if (changes)
        follow |= VFS_FRESH;
    uint64_t parent = 0;
    /* a reader's first open: nothing older than the process (vfs_view_sync) */
    int view = changes ? 0 : vfs_view_sync();
    /* O_CREAT creates first: one round trip that creates the file or
     * answers with the inode already at the name (O_EXCL: EEXIST), which
     * is the fresh lookup a writer's open makes (VFS_FRESH) */
    rc = (flags & O_CREAT) && !(flags & (O_DIRECTORY | O_PATH))
       ? vfs_create_file(vpath, mode, flags, 1, &a, &created, &parent, canon, host, hcap)
       : VFS_LOOKUP;
    if (rc == VFS_LOOKUP) {
again:
        rc = vfs_resolve_at(vpath, follow, &a, canon, &parent, host, hcap);
        if (rc == -ENOENT && (flags & O_CREAT)) /* EROFS if read-only */
            rc = vfs_create_file(vpath, mode, flags, 0, &a, &created, &parent, canon, host, hcap);
        else if (rc == 0 && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
            rc = -EEXIST;
    }
    /* A name the caches say is missing, before an open fails: another node
     * may have created it a moment ago (a checkpoint another rank
     * announced, and this process started to read it), and this node's
     * listing of the folder, shared and vouched for by its agent, shows it
     * only after the agent's next poll. With an agent serving, the first
     * open had it poll (above); without, the database is asked for the
     * name. A stat answers from the caches within the TTL. */
    if (rc == -ENOENT && !(follow & VFS_FRESH) && view < 0) {
        follow |= VFS_FRESH;
        missing = 1;
        goto again;
    }
    /* (the database unreachable: the caches' answer stands) */
    if (missing && (rc == -EIO || rc == -ETIMEDOUT || rc == -ECONNREFUSED))
        rc = -ENOENT;
    if (rc != 0)
        return rc;
    /* as the kernel: O_CREAT of a directory is EISDIR, whatever the access */
    if ((flags & O_CREAT) && !(flags & O_PATH) && S_ISDIR(a.mode))
        return -EISDIR;
    /* a writer starts from the committed state, not from a cached one (an
     * O_APPEND open appends after what others committed a moment ago): its
     * final lookup, attributes included, came from the database
     * (VFS_FRESH); "." and ".." (no final lookup) are directories, refused
     * below */
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
        rc = vfs_writable();
    if (rc == 0)
        rc = vfs_open_flags_check(&a, flags, created);
    if (rc == 0 && !created)
        rc = vfs_open_truncate(&a, flags, parent, canon);
    if (rc == 0 && S_ISFIFO(a.mode) && !(flags & O_PATH))
        return vfs_fifo_host(&a, host, hcap);
    if (rc < 0)
        return rc;
    struct vfs_file *f = vfs_file_new(canon, &a, flags);
    if (!f)
        return -ENOMEM;
    f->parent = parent;
    f->node_gen = gen;
    /* created by this open, in the transaction that answered a: no slice
     * yet, so no query for its map (a tiny file's create+write+close is
     * then its create and its commit) */
    if (created && S_ISREG(a.mode) && a.size == 0)
        f->smap = vfs_smap_empty(&f->attr);
    rc = vfs_file_attach(f, created);
    if (rc < 0) {
        vfs_release(f);
        /* the inode the caches named was deleted meanwhile (a checkpoint
         * renamed over it): the name may now lead elsewhere, so ask the
         * database once, as an open a moment later would */
        if (rc == -ENOENT && !created && !(follow & VFS_FRESH)) {
            follow |= VFS_FRESH;
            goto again;
        }
        return rc;
    }
    vfs_open_ref(f->attr.ino);
    *out = f;
    return 0;
}

int vfs_adopt(int fd, uint64_t ino, int flags, struct vfs_file **out)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    struct meta_attr a;
    if (mcache_getattr(ino, &a) != 0) {
        rc = meta_getattr(vfs_eng.meta, ino, &a);
        if (rc < 0)
            return vfs_errno(rc);
    }
    struct vfs_file *f = vfs_file_new("", &a, flags);
    if (!f)
        return -ENOMEM;
    if (S_ISREG(a.mode)) {
        rc = vfs_load_smap(&f->attr, &f->smap);
        if (rc < 0) {
            vfs_release(f);
            return rc;
        }
        f->size = f->attr.size;
        f->mtime_ns = f->attr.mtime_ns;
    }
    f->fd = fd;
    vfs_open_ref(a.ino);
    *out = f;
    return 0;
}

int vfs_file_fd(const struct vfs_file *f) { return f->fd; }
int vfs_file_unchecked(const struct vfs_file *f) { return __atomic_load_n(&f->unchecked, __ATOMIC_ACQUIRE); }

int vfs_file_check(struct vfs_file *f, const void *buf, size_t n, uint64_t off, int *newfd)
{
    struct vfs_engine *e = vfs_opened();
    *newfd = -1;
    if (!vfs_file_unchecked(f))
        return 0;
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    if (f->unchecked) {
        rc = cache_check_fd(e->cache, f->fd, f->ckey, buf, n, off);
        if (rc == -EBADMSG) {
            /* dropped from the cache: the right bytes come from the store,
             * in a descriptor that replaces the program's */
            int fd = vfs_sealed_copy(f->smap, "shimfs-data", f->flags);
            rc = fd < 0 ? fd : 1;
            *newfd = fd < 0 ? -1 : fd;
        }
        if (rc >= 0)
            __atomic_store_n(&f->unchecked, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&f->lock);
    return rc == -EBADMSG ? -EIO : rc;
}
int vfs_file_native(const struct vfs_file *f) { return f->native; }
int vfs_file_isdir(const struct vfs_file *f) { return S_ISDIR(f->attr.mode); }
const char *vfs_file_path(const struct vfs_file *f) { return f->path; }
int vfs_file_flags(const struct vfs_file *f) { return f->flags; }
uint64_t vfs_file_ino(const struct vfs_file *f) { return f->attr.ino; }

int vfs_fstat(struct vfs_file *f, struct stat *st)
{
    struct meta_attr a;
    /* a fresher cached version of the same inode wins (another open of it
     * revalidated); never a round trip */
    if (mcache_getattr(f->attr.ino, &a) != 0)
        a = f->attr;
    vfs_attr_to_stat(&a, st);
    if (vfs_open_is_orphan(a.ino))
        st->st_nlink = 0;
    if (vfs_is_writer(f)) {
        /* this descriptor's own writes count before they are committed */
        st->st_size = (off_t)vfs_file_size(f);
        st->st_blocks = (st->st_size + 511) / 512;
        st->st_mtim.tv_sec = f->mtime_ns / 1000000000;
        st->st_mtim.tv_nsec = f->mtime_ns % 1000000000;
    } else if (f->smap && S_ISREG(a.mode)) {
        struct vfs_smap *m = vfs_file_smap_ref(f);
        if (a.size != m->size)
            st->st_size = (off_t)m->size; /* what this descriptor reads */
        vfs_smap_put(m);
    }
    return 0;
}

/* Sequential detection: a read that starts where the last one ended grows
 * the window (1, 2, 4 ... SHIMFS_PREFETCH blocks); any jump resets it.
 * The blocks of the read itself are queued too, so one large read fetches
 * its blocks in parallel instead of one GET after another. */
static void vfs_readahead(struct vfs_file *f, struct vfs_smap *m, size_t len, uint64_t off)
{
    struct vfs_engine *e = vfs_opened();
    uint64_t bs = e->settings.block_size;
    int max = e->cfg.prefetch;
    pthread_mutex_lock(&f->lock);
    if (off == f->ra_next && off > 0) {
        f->ra_window = f->ra_window ? f->ra_window * 2 : 1;
        if (f->ra_window > (uint32_t)max)
            f->ra_window = (uint32_t)max;
    } else {
        f->ra_window = 0;
        f->ra_until = off;
    }
    f->ra_next = off + len;
    /* to the end of a block: the reads inside it queue nothing more (a
     * 128 KiB reader asked for the same block 32 times) */
    uint64_t want = (off + len + f->ra_window * bs + bs - 1) / bs * bs;
    uint64_t from = f->ra_until > off + bs ? f->ra_until : off + bs;
    if (want > from)
        f->ra_until = want;
    pthread_mutex_unlock(&f->lock);
    if (want > from && max > 0)
        vfs_prefetch_range(m, from, want - from, 1);
}

ssize_t vfs_pread(struct vfs_file *f, void *buf, size_t len, uint64_t off)
{
    if (S_ISDIR(f->attr.mode))
        return -EISDIR;
    if (!f->smap || (f->flags & O_PATH) || (f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (vfs_is_writer(f))
        return vfs_pread_writer(f, buf, len, off);
    struct vfs_smap *m = vfs_file_smap_ref(f); /* a follower may switch versions meanwhile */
    if (!f->native && off < m->size)
        vfs_readahead(f, m, len, off);
    ssize_t n = vfs_read_data(m, buf, len, off);
    vfs_smap_put(m);
    return n;
}

static int vfs_tmpfile(void)
{
    if (!vfs_eng.cfg.cache_dir[0])
        return -ENOENT;     /* no folder we trust: a sealed memfd instead */
    int fd = open(vfs_eng.cfg.cache_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

struct vfs_smap *vfs_file_smap_ref(struct vfs_file *f)
{
    pthread_mutex_t *l = vfs_is_writer(f) ? &f->wlock : &f->lock;
    pthread_mutex_lock(l);
    struct vfs_smap *m = vfs_smap_get(f->smap);
    pthread_mutex_unlock(l);
    return m;
}

/* A copy of the version read now: the copy made for an earlier mmap is
 * reused only while the file is still that version (a truncate or a
 * commit since would leave its old bytes visible); maps made earlier keep
 * the copy they mapped. */
int vfs_mmap_fd(struct vfs_file *f, int *fd)
{
    if (!f->smap)
        return -ENODEV;
    if (f->native) {
        *fd = f->fd;
        return 0;
    }
    struct vfs_smap *m = vfs_file_smap_ref(f);
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    if (f->map_fd >= 0 && f->map_smap != m) {
        close(f->map_fd);
        vfs_smap_put(f->map_smap);
        f->map_fd = -1;
        f->map_smap = NULL;
    }
    if (f->map_fd < 0) {
        int tfd = vfs_tmpfile();
        if (tfd >= 0) {
            rc = vfs_fill_fd(m, tfd);
            if (rc < 0)
                close(tfd);
            else
                f->map_fd = tfd;
        } else {
            rc = vfs_sealed_copy(m, "shimfs-map", O_CLOEXEC);
            if (rc >= 0) {
                f->map_fd = rc;
                rc = 0;
            }
        }
        if (rc == 0)
            f->map_smap = vfs_smap_get(m);
    }
    *fd = f->map_fd;
    pthread_mutex_unlock(&f->lock);
    vfs_smap_put(m);
    return rc;
}

int vfs_fadvise(struct vfs_file *f, uint64_t off, uint64_t len, int advice)
{
    if (advice != POSIX_FADV_WILLNEED || !f->smap)
        return 0; /* the other hints only steer the page cache: nothing to do */
    struct vfs_smap *m = vfs_file_smap_ref(f);
    vfs_prefetch_range(m, off, len, 0);
    vfs_smap_put(m);
    return 0;
}

int vfs_lock_fd(struct vfs_file *f)
{
    struct vfs_engine *e = vfs_opened();
    pthread_mutex_lock(&f->lock);
    if (f->lock_fd < 0 && !e->cfg.cache_dir[0]) {
        log_once(&e->warned_no_locks, LOG_WARN, "vfs", "no cache folder this user owns alone "
                 "(see the trust line): locks on volume files fail with ENOLCK");
    } else if (f->lock_fd < 0) {
        char path[sizeof e->cfg.cache_dir + 128];
        snprintf(path, sizeof path, "%s/locks", e->cfg.cache_dir);
        (void)mkdir(e->cfg.cache_dir, 0700);
        (void)mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/locks/%s-%llu", e->cfg.cache_dir, e->settings.uuid,
                 (unsigned long long)f->attr.ino);
        f->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (f->lock_fd < 0)
            log_warn("vfs", "lock file %s: %s; locks on %s fail", path, strerror(errno), f->path);
    }
    int fd = f->lock_fd;
    pthread_mutex_unlock(&f->lock);
    return fd < 0 ? -ENOLCK : fd;
}

int vfs_release(struct vfs_file *f)
{
    if (!f)
        return 0;
    int rc = vfs_writer_close(f);
    if (f->map_fd >= 0)
        close(f->map_fd);
    vfs_smap_put(f->map_smap);
    if (f->lock_fd >= 0)
        close(f->lock_fd); /* as the kernel does: closing drops this process's locks */
    if (f->fd >= 0 && vfs_open_unref(f->attr.ino)) {
        int drc = meta_drop_orphan(vfs_eng.meta, f->attr.ino);
        if (drc < 0)
            log_warn("vfs", "dropping unlinked inode %llu: %s (gc will find it)",
                     (unsigned long long)f->attr.ino, strerror(-drc));
    }
    vfs_smap_put(f->smap);
    pthread_mutex_destroy(&f->lock);
    pthread_mutex_destroy(&f->wlock);
    free(f);
    return rc;
}

/* vfs_map.c - shared writable maps: the working copy of a mapped file.
 *
 * A MAP_SHARED map of a file open for writing maps the file's working
 * copy: a node file in the cache folder named by volume and inode
 * (maps/<uuid>-<ino>, 0600 in the user's 0700 folder), which every
 * process of the node mapping that file maps too: they share the memory,
 * as they would share the page cache of a local file (sqlite's -shm
 * index, two opens of one file in one process). From its first shared
 * map until it is closed, an open file reads, writes and truncates
 * through that copy, so mapped bytes and read()/write() agree.
 *
 * Commits (fsync and close: the whole file; vfs_map_sync for munmap and
 * msync MS_SYNC: the range the map covers, plus any extension) compare the
 * copy with this process's shadow (the bytes it last filled or committed,
 * an unlinked file in the cache folder) and commit the runs that differ
 * as ordinary slices (runs closer than VFS_MAP_GAP bytes merge); the
 * shadow then takes them. Unchanged bytes are never re-sent, so a map
 * that changed nothing commits nothing, and a byte another node changed
 * is overwritten only if this process changed a byte near it.
 *
 * Who fills the copy: every process holding it has a shared flock on it.
 * Setups are serialised by an OFD lock on its first byte; a process that
 * gets the flock exclusively is its only user and refills it from the
 * committed version (a copy left by a dead process, or one from before
 * another node's commit, is replaced); any other joins the bytes there,
 * which are the node's newest. Without a cache folder the copy is a
 * memfd that only the process (and its children) share. The node's last
 * user removes the copy; a writer opening a file that another process of
 * the node maps joins the copy at its open (vfs_map_join_node).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "vfs_internal.h"

#define VFS_MAP_WINDOW (256u << 10)
#define VFS_MAP_GAP 128

struct vfs_mapobj {
    uint64_t ino;
    int fd;               /* the working copy */
    int shadow;           /* what this process last filled or committed */
    int refs;             /* open files using it (maps.lock) */
    pthread_mutex_t lock; /* one commit at a time */
    struct vfs_mapobj *next;
};

static struct vfs_maps_state *const vm = &vfs_eng.maps;

static int vfs_map_size_of(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

uint64_t vfs_map_size(const struct vfs_mapobj *mo)
{
    uint64_t s = 0;
    (void)vfs_map_size_of(mo->fd, &s);
    return s;
}

static int vfs_map_tmp(uint64_t ino)
{
    const char *dir = vfs_eng.cfg.cache_dir;
    int fd = dir[0] ? open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        char name[64];
        snprintf(name, sizeof name, "shimfs-shadow:%llu", (unsigned long long)ino);
        fd = memfd_create(name, MFD_CLOEXEC);
    }
    return fd < 0 ? -errno : fd;
}

/* Copy n bytes of src (from 0) into dst (from 0), dst truncated to n. */

/* The committed version (m) into the copy. */
static int vfs_map_fill(int fd, struct vfs_smap *m)
{
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)m->size) < 0)
        return -errno;
    char *buf = malloc(VFS_MAP_WINDOW);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < m->size;) {
        ssize_t n = vfs_read_data(m, buf, VFS_MAP_WINDOW, off);
        if (n <= 0) {
            rc = n < 0 ? (int)n : -EIO;
            break;
        }
        ssize_t w = io_pwrite_full(fd, buf, (size_t)n, off);
        rc = w < 0 ? (int)w : 0;
        off += (uint64_t)n;
    }
    free(buf);
    return rc;
}

#define VFS_MAP_PATH_MAX (sizeof vfs_eng.cfg.cache_dir + 128)

static void vfs_map_path(uint64_t ino, char *path)
{
    snprintf(path, VFS_MAP_PATH_MAX, "%s/maps/%s-%llu", vfs_eng.cfg.cache_dir,
             vfs_eng.settings.uuid, (unsigned long long)ino);
}

/* The setup lock (an OFD lock on the copy's first byte): one process at a
 * time fills, joins or removes the copy. */
static int vfs_map_setup_lock(int fd, short type)
{
    struct flock setup = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
    while (fcntl(fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &setup) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

/* The copy at path, opened and setup-locked; one that was removed
 * meanwhile (its last user left) is opened again. */
static int vfs_map_open_locked(const char *path, int flags)
{
    for (int tries = 0; tries < 8; tries++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | flags, 0600);
        if (fd < 0)
            return -errno;
        struct stat st;
        int rc = vfs_map_setup_lock(fd, F_WRLCK);
        if (rc == 0 && fstat(fd, &st) < 0)
            rc = -errno;
        if (rc == 0 && st.st_nlink > 0)
            return fd;
        close(fd);
        if (rc < 0)
            return rc;
    }
    return -EAGAIN;
}

/* The node's copy of ino, joined or (only user) refilled from m. */
static int vfs_map_node_copy(uint64_t ino, struct vfs_smap *m, int *out)
{
    struct vfs_engine *e = vfs_opened();
    char path[VFS_MAP_PATH_MAX];
    snprintf(path, sizeof path, "%s/maps", e->cfg.cache_dir);
    (void)mkdir(e->cfg.cache_dir, 0700);
    (void)mkdir(path, 0700);
    vfs_map_path(ino, path);
    int fd = vfs_map_open_locked(path, O_CREAT);
    if (fd < 0) {
        log_warn("vfs", "map copy %s: %s", path, strerror(-fd));
        return fd;
    }
    int rc = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        rc = vfs_map_fill(fd, m); /* nobody on the node maps it: the committed bytes */
    if (rc == 0 && flock(fd, LOCK_SH) < 0)
        rc = -errno;
    (void)vfs_map_setup_lock(fd, F_UNLCK);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

static int vfs_map_private_copy(uint64_t ino, struct vfs_smap *m, int *out)
{
    char name[64];
    snprintf(name, sizeof name, "shimfs-mapped:%llu", (unsigned long long)ino);
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = vfs_map_fill(fd, m);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

static struct vfs_mapobj *vfs_map_find_locked(uint64_t ino)
{
    for (struct vfs_mapobj *mo = vm->list; mo; mo = mo->next)
        if (mo->ino == ino)
            return mo;
    return NULL;
}

static struct vfs_mapobj *vfs_map_new(uint64_t ino, struct vfs_smap *m, int *err)
{
    struct vfs_mapobj *mo = calloc(1, sizeof *mo);
    if (!mo) {
        *err = -ENOMEM;
        return NULL;
    }
    mo->ino = ino;
    mo->fd = mo->shadow = -1;
    mo->refs = 1;
    pthread_mutex_init(&mo->lock, NULL);
    int rc = vfs_eng.cfg.cache_dir[0] ? vfs_map_node_copy(ino, m, &mo->fd)
                                      : vfs_map_private_copy(ino, m, &mo->fd);
    uint64_t size = 0;
    if (rc == 0)
        rc = vfs_map_size_of(mo->fd, &size);
    if (rc == 0 && (rc = vfs_map_tmp(ino)) >= 0) {
        mo->shadow = rc;
        /* the shadow is the committed version: bytes of the node's copy that
         * differ from it are changes not yet committed, this process's
         * commit sends them too */
        rc = vfs_map_fill(mo->shadow, m);
    }
    if (rc < 0) {
        if (mo->fd >= 0)
            close(mo->fd);
        if (mo->shadow >= 0)
            close(mo->shadow);
        pthread_mutex_destroy(&mo->lock);
        free(mo);
        *err = rc;
        return NULL;
    }
    return mo;
}

/* f->wlock held. Buffered appends are committed first (their place is the
 * commit's); positioned pieces move into the copy, uncommitted. */
int vfs_map_enter_locked(struct vfs_file *f)
{
    if (f->mo)
        return 0;
    int rc = 0;
    /* batches in the upload pipeline (vfs_upload.c) are committed first
     * too: their bytes are no longer in f->dirty, so the copy would miss
     * them */
    if (f->batches || (f->ndirty && (f->append_dirty || vfs_eng.cfg.writeback)))
        rc = vfs_flush_locked(f);
    if (rc == 0)
        rc = vfs_wb_catch_up(f);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&vm->lock);
    struct vfs_mapobj *mo = vfs_map_find_locked(f->attr.ino);
    if (mo) {
        mo->refs++;
    } else {
        /* the copy starts from the newest committed version, not from this
         * descriptor's (another open of the process may have committed) */
        struct meta_attr a;
        rc = vfs_errno(meta_getattr(vfs_eng.meta, f->attr.ino, &a));
        if (rc == 0 && f->ndirty == 0 &&
            (a.size != f->smap->size || a.mtime_ns != f->smap->mtime_ns))
            rc = vfs_reload(f, &a);
        if (rc == 0 && f->ndirty == 0)
            f->size = f->smap->size;
        mo = rc < 0 ? NULL : vfs_map_new(f->attr.ino, f->smap, &rc);
        if (mo) {
            mo->next = vm->list;
            vm->list = mo;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    if (!mo)
        return rc;
    uint64_t size = vfs_map_size(mo);
    for (int i = 0; rc == 0 && i < f->ndirty; i++) {
        ssize_t w = io_pwrite_full(mo->fd, f->dirty[i].data, f->dirty[i].len, f->dirty[i].off);
        rc = w < 0 ? (int)w : 0;
    }
    if (rc == 0 && f->size > size && ftruncate(mo->fd, (off_t)f->size) < 0)
        rc = -errno; /* this descriptor's size: an extension not yet committed */
    if (rc < 0) {
        f->mo = mo;
        vfs_map_leave(f);
        return rc;
    }
    vfs_dirty_clear(f);
    f->mo = mo;
    return 0;
}

int vfs_map_join_node(struct vfs_file *f)
{
    if (!vfs_eng.cfg.cache_dir[0] || !vfs_is_writer(f) || !f->smap)
        return 0;
    char path[VFS_MAP_PATH_MAX];
    vfs_map_path(f->attr.ino, path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0; /* the usual case: nobody maps it */
    int busy = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd);
    if (!busy)
        return 0;
    pthread_mutex_lock(&f->wlock);
    int rc = vfs_map_enter_locked(f);
    pthread_mutex_unlock(&f->wlock);
    return rc;
}

int vfs_map_join_locked(struct vfs_file *f)
{
    if (f->mo || !__atomic_load_n(&vm->list, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&vm->lock);
    int mapped = vfs_map_find_locked(f->attr.ino) != NULL;
    pthread_mutex_unlock(&vm->lock);
    return mapped ? vfs_map_enter_locked(f) : 0;
}

void vfs_map_leave(struct vfs_file *f)
{
    struct vfs_mapobj *mo = f->mo;
    if (!mo)
        return;
    f->mo = NULL;
    pthread_mutex_lock(&vm->lock);
    int last = --mo->refs == 0;
    if (last)
        for (struct vfs_mapobj **p = &vm->list; *p; p = &(*p)->next)
            if (*p == mo) {
                *p = mo->next;
                break;
            }
    pthread_mutex_unlock(&vm->lock);
    if (!last)
        return;
    close(mo->fd); /* drops this process's flock (unless a child shares it) */
    close(mo->shadow);
    if (vfs_eng.cfg.cache_dir[0]) {
        /* the node's last user removes the copy: the cache folder keeps no
         * copy of every file ever mapped */
        char path[VFS_MAP_PATH_MAX];
        vfs_map_path(mo->ino, path);
        int fd = vfs_map_open_locked(path, 0);
        if (fd >= 0) {
            if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                (void)unlink(path);
            close(fd);
        }
    }
    pthread_mutex_destroy(&mo->lock);
    free(mo);
}

/* After a successful commit of f's pieces (vfs_flush_locked): the shadow
 * takes them. */
void vfs_map_committed(struct vfs_file *f)
{
    for (int i = 0; f->mo && i < f->ndirty; i++) {
        const struct vfs_dirty *d = &f->dirty[i];
        ssize_t w = io_pwrite_full(f->mo->shadow, d->data, d->len, d->off);
        if (w < 0)
            log_warn("vfs", "map shadow of %s: %s; the next commit sends it again", f->path,
                     strerror((int)-w));
    }
}

/* Runs of a (the copy) that differ from b (the shadow), as pieces of f. */
static int vfs_map_diff(struct vfs_file *f, const char *a, const char *b, size_t n, uint64_t base)
{
    size_t i = 0;
    while (i < n) {
        if (a[i] == b[i]) {
            /* skip equal words quickly */
            while (i + 8 <= n && memcmp(a + i, b + i, 8) == 0)
                i += 8;
            while (i < n && a[i] == b[i])
                i++;
            continue;
        }
        size_t start = i, end = i + 1, same = 0;
        for (i++; i < n && same < VFS_MAP_GAP; i++) {
            if (a[i] == b[i]) {
                same++;
            } else {
                same = 0;
                end = i + 1;
            }
        }
        i = end;
        int rc = vfs_buffer_write(f, a + start, end - start, base + start);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* f->wlock held: commit what changed in the copy since the shadow. */
int vfs_map_sync_locked(struct vfs_file *f)
{
    return vfs_map_sync_range_locked(f, 0, UINT64_MAX);
}

/* f->wlock held: commit what changed in the copy since the shadow in
 * [lo, hi) (and in any extension past the shadow's end: the size never
 * goes out without its bytes), and the size. */
int vfs_map_sync_range_locked(struct vfs_file *f, uint64_t lo, uint64_t hi)
{
    struct vfs_mapobj *mo = f->mo;
    assert(mo && f->ndirty == 0);
    pthread_mutex_lock(&mo->lock);
    uint64_t size = 0, ssize = 0;
    int rc = vfs_map_size_of(mo->fd, &size);
    if (rc == 0)
        rc = vfs_map_size_of(mo->shadow, &ssize);
    char *a = rc == 0 ? malloc(VFS_MAP_WINDOW) : NULL, *b = a ? malloc(VFS_MAP_WINDOW) : NULL;
    if (rc == 0 && !b)
        rc = -ENOMEM;
    f->append_dirty = 0;
    if (ssize < lo)
        lo = ssize;
    hi = ssize < size ? size : hi < size ? hi : size;
    for (uint64_t off = lo; rc == 0 && off < hi; off += VFS_MAP_WINDOW) {
        size_t n = hi - off < VFS_MAP_WINDOW ? (size_t)(hi - off) : VFS_MAP_WINDOW;
        /* the shadow reads as zeros past its end: an extension commits
         * only its non-zero bytes, the size covers the rest */
        memset(b, 0, n);
        ssize_t got = io_pread_full(mo->fd, a, n, off);
        if (got >= 0 && (size_t)got < n)
            memset(a + got, 0, n - (size_t)got); /* shrunk meanwhile */
        if (got >= 0 && off < ssize)
            got = io_pread_full(mo->shadow, b, n, off);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        int had = f->ndirty;
        rc = vfs_map_diff(f, a, b, n, off);
        if (f->ndirty != had) {
            /* a new version: caches tell versions by size and mtime */
            f->mtime_ns = vfs_wall_now();
            f->pending.fields &= ~(unsigned)META_SET_MTIME;
        }
        if (rc == 0 && f->dirty_bytes >= vfs_flush_threshold()) {
            f->size = size;
            rc = vfs_flush_locked(f);
        }
    }
    free(a);
    free(b);
    f->size = size;
    if (rc == 0 && f->ndirty)
        rc = vfs_flush_locked(f);
    if (rc == 0 && size != f->attr.size) {
        /* a shrink, or an extension that wrote no byte: the size alone */
        struct meta_attr at;
        rc = vfs_set_size(f->attr.ino, size, &at);
        if (rc == 0)
            rc = vfs_reload(f, &at);
    }
    if (rc == 0 && ftruncate(mo->shadow, (off_t)size) < 0)
        rc = -errno;
    if (rc < 0)
        vfs_dirty_clear(f); /* the bytes stay in the copy: the next commit finds them again */
    f->size = size;
    pthread_mutex_unlock(&mo->lock);
    return rc;
}

/* f->wlock held: a write of a mapped file lands in the copy (off
 * VFS_APPEND: at its end). */
ssize_t vfs_map_pwrite_locked(struct vfs_file *f, const void *buf, size_t len, uint64_t off)
{
    if (off == VFS_APPEND)
        off = vfs_map_size(f->mo);
    if (off + len < off || off + len > (UINT64_C(1) << 50))
        return -EFBIG;
    ssize_t n = len ? io_pwrite_full(f->mo->fd, buf, len, off) : 0;
    if (n >= 0) {
        f->mtime_ns = vfs_wall_now();
        f->pending.fields &= ~(unsigned)META_SET_MTIME;
    }
    return n;
}

ssize_t vfs_map_pread_locked(struct vfs_file *f, void *buf, size_t len, uint64_t off)
{
    return io_pread_full(f->mo->fd, buf, len, off);
}

/* After a committed truncate: the copy and the shadow take the size. */
int vfs_map_truncate(struct vfs_mapobj *mo, uint64_t size)
{
    pthread_mutex_lock(&mo->lock);
    int rc = 0;
    if (ftruncate(mo->fd, (off_t)size) < 0 || ftruncate(mo->shadow, (off_t)size) < 0)
        rc = -errno;
    pthread_mutex_unlock(&mo->lock);
    return rc;
}

/* A descriptor of ino's copy when this process maps it (the caller
 * closes it): readers' maps then show the writers' bytes. -ENOENT: none. */
int vfs_map_reader_fd(uint64_t ino, int *fd)
{
    pthread_mutex_lock(&vm->lock);
    struct vfs_mapobj *mo = vfs_map_find_locked(ino);
    int rc = mo ? fcntl(mo->fd, F_DUPFD_CLOEXEC, 3) : -ENOENT;
    if (rc == -1)
        rc = -errno;
    pthread_mutex_unlock(&vm->lock);
    if (rc >= 0) {
        *fd = rc;
        rc = 0;
    }
    return rc;
}

int vfs_map_sync(struct vfs_file *f, uint64_t off, uint64_t len)
{
    if (!vfs_is_writer(f))
        return 0;
    pthread_mutex_lock(&f->wlock);
    uint64_t end = off + len < off ? UINT64_MAX : off + len;
    int rc = f->mo ? vfs_map_sync_range_locked(f, off, end) : 0;
    pthread_mutex_unlock(&f->wlock);
    /* msync(MS_SYNC) promises durability: earlier lazy closes too */
    return rc == 0 ? vfs_session_sync(0) : rc;
}

int vfs_map_open(struct vfs_file *f, int shared, int *fd)
{
    if (!f->smap)
        return -ENODEV;
    int writer = vfs_is_writer(f), rc;
    if (shared && !writer)
        return -EACCES;
    if (writer) {
        pthread_mutex_lock(&f->wlock);
        rc = shared ? vfs_map_enter_locked(f) : 0;
        if (rc == 0 && f->mo && (rc = fcntl(f->mo->fd, F_DUPFD_CLOEXEC, 3)) < 0)
            rc = -errno;
        pthread_mutex_unlock(&f->wlock);
        if (rc != 0 || shared) {
            *fd = rc;
            return rc < 0 ? rc : 0;
        }
        if ((rc = vfs_fsync(f, 0)) < 0) /* the copy mapped is made of committed data */
            return rc;
    }
    if (vfs_map_reader_fd(f->attr.ino, fd) == 0)
        return 0;
    int mfd;
    rc = vfs_mmap_fd(f, &mfd);
    if (rc == 0 && (rc = fcntl(mfd, F_DUPFD_CLOEXEC, 3)) < 0)
        rc = -errno;
    if (rc >= 0) {
        *fd = rc;
        rc = 0;
    }
    return rc;
}

void vfs_maps_after_fork(struct vfs_engine *e)
{
    /* the parent's threads may have held a copy's commit lock */
    for (struct vfs_mapobj *mo = e->maps.list; mo; mo = mo->next)
        pthread_mutex_init(&mo->lock, NULL);
}

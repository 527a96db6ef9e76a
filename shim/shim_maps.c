/* shim_maps.c - the registry of shared maps of volume files open for
 * writing, and their commit points.
 *
 * A MAP_SHARED map of a writer maps the file's working copy (vfs_map.c);
 * its changes reach other nodes, and the processes of the node that do not
 * map the file, when the file commits: at msync(MS_SYNC) of the map, at
 * munmap, at fsync/fdatasync of any of its descriptors, at the close of
 * its last descriptor once no map of it remains, and at exit. Each entry
 * holds a reference on the open file, so a map outlives the close of its
 * descriptor as with the kernel. msync with MS_ASYNC (or no flag) commits
 * nothing, as on Linux where it is a no-op.
 *
 * Cost outside: munmap and msync of a process with no such map read one
 * counter. The registry is a small array under a mutex; the commits run
 * with the mutex released.
 */
#include "shim.h"

#include <stdlib.h>
#include <unistd.h>

#include "shim_core.h"
#include "shim_fd.h"
#include "shim_maps.h"

struct shim_map {
    uintptr_t start, end;
    uint64_t off; /* file offset of start */
    struct shim_ofd *o;
};

/* A file to commit, and the part of it the maps in question cover. */
struct shim_map_hit {
    struct shim_ofd *o;
    uint64_t lo, hi;
};

static pthread_mutex_t shim_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_map *shim_maps;
static int shim_nmaps, shim_maps_cap;
static int shim_maps_count; /* atomic copy of shim_nmaps */

#define SHIM_MAPS_MAX_HIT 64

static uintptr_t shim_maps_page(void)
{
    static uintptr_t pg;
    if (!pg)
        pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    return pg;
}

int shim_maps_active(void)
{
    return __atomic_load_n(&shim_maps_count, __ATOMIC_ACQUIRE) != 0;
}

static void shim_maps_publish(void)
{
    __atomic_store_n(&shim_maps_count, shim_nmaps, __ATOMIC_RELEASE);
}

/* Append an entry; the lock held. 0 or -ENOMEM. */
static int shim_maps_push(uintptr_t start, uintptr_t end, uint64_t off, struct shim_ofd *o)
{
    if (shim_nmaps == shim_maps_cap) {
        int cap = shim_maps_cap ? 2 * shim_maps_cap : 16;
        struct shim_map *m = realloc(shim_maps, (size_t)cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        shim_maps = m;
        shim_maps_cap = cap;
    }
    shim_maps[shim_nmaps++] = (struct shim_map){ start, end, off, o };
    return 0;
}

void shim_maps_add(void *addr, size_t len, off_t off, struct shim_ofd *o)
{
    uintptr_t pg = shim_maps_page(), start = (uintptr_t)addr;
    uintptr_t end = (start + len + pg - 1) & ~(pg - 1);
    pthread_mutex_lock(&shim_maps_lock);
    int rc = shim_maps_push(start, end, (uint64_t)off, o);
    shim_maps_publish();
    pthread_mutex_unlock(&shim_maps_lock);
    if (rc < 0) {
        /* untracked: munmap will not commit it, fsync and close still do */
        shim_log(SHIM_LOG_WARN, "mmap: no memory to track a shared map; its changes are "
                                "committed at fsync or close only");
        shim_ofd_put(o);
    }
}

/* The files mapped in [a, b), each pinned once (at most max), with the
 * file range those maps cover there. */
static int shim_maps_files(uintptr_t a, uintptr_t b, struct shim_map_hit *out, int max)
{
    int n = 0;
    for (int i = 0; i < shim_nmaps; i++) {
        struct shim_map *m = &shim_maps[i];
        if (m->end <= a || m->start >= b)
            continue;
        uintptr_t x = a > m->start ? a : m->start, y = b < m->end ? b : m->end;
        uint64_t lo = m->off + (x - m->start), hi = m->off + (y - m->start);
        int j = 0;
        while (j < n && out[j].o != m->o)
            j++;
        if (j < n) {
            out[j].lo = lo < out[j].lo ? lo : out[j].lo;
            out[j].hi = hi > out[j].hi ? hi : out[j].hi;
        } else if (n < max) {
            out[n++] = (struct shim_map_hit){ shim_ofd_ref(m->o), lo, hi };
        } else {
            out[max - 1].lo = 0; /* too many files: the last one commits whole */
            out[max - 1].hi = UINT64_MAX;
        }
    }
    return n;
}

static int shim_maps_commit(struct shim_map_hit *files, int n)
{
    int first = 0;
    for (int i = 0; i < n; i++) {
        struct vfs_file *f = __atomic_load_n(&files[i].o->file, __ATOMIC_ACQUIRE);
        int rc = f ? SHIM_VFS(map_sync, f, files[i].lo, files[i].hi - files[i].lo) : 0;
        if (rc < 0) {
            shim_log(SHIM_LOG_ERROR,
                     "committing a mapped file (%s) failed: %s; its changes stay "
                     "in the map's copy",
                     shim_vfs->file_path(f), strerror(-rc));
            if (!first)
                first = rc;
        }
        shim_ofd_put(files[i].o);
    }
    return first;
}

void shim_maps_unmapped(void *addr, size_t len)
{
    uintptr_t pg = shim_maps_page(), a = (uintptr_t)addr & ~(pg - 1);
    uintptr_t b = ((uintptr_t)addr + len + pg - 1) & ~(pg - 1);
    struct shim_map_hit files[SHIM_MAPS_MAX_HIT];
    struct shim_ofd *gone[SHIM_MAPS_MAX_HIT];
    int ngone = 0;
    pthread_mutex_lock(&shim_maps_lock);
    int n = shim_maps_files(a, b, files, SHIM_MAPS_MAX_HIT);
    for (int i = 0; i < shim_nmaps; i++) {
        struct shim_map *m = &shim_maps[i];
        if (m->end <= a || m->start >= b)
            continue;
        if (a <= m->start && b >= m->end) {
            if (ngone == SHIM_MAPS_MAX_HIT)
                break; /* the rest stays until a later unmap: a leak, never a loss */
            gone[ngone++] = m->o;
            shim_maps[i--] = shim_maps[--shim_nmaps];
        } else if (a <= m->start) {
            m->off += b - m->start;
            m->start = b;
        } else if (b >= m->end) {
            m->end = a;
        } else {
            uintptr_t tail = m->end;
            uint64_t toff = m->off + (b - m->start);
            m->end = a;
            if (shim_maps_push(b, tail, toff, shim_ofd_ref(m->o)) < 0)
                shim_ofd_put(shim_maps[i].o); /* untracked tail: fsync and close still commit */
        }
    }
    shim_maps_publish();
    pthread_mutex_unlock(&shim_maps_lock);
    (void)shim_maps_commit(files, n);
    for (int i = 0; i < ngone; i++)
        shim_ofd_put(gone[i]); /* the last reference releases: close's commit */
}

int shim_maps_sync(void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr, b = a + len;
    struct shim_map_hit files[SHIM_MAPS_MAX_HIT];
    pthread_mutex_lock(&shim_maps_lock);
    int n = shim_maps_files(a, b, files, SHIM_MAPS_MAX_HIT);
    pthread_mutex_unlock(&shim_maps_lock);
    return shim_maps_commit(files, n);
}

void shim_maps_moved(void *old, void *now, size_t len)
{
    uintptr_t pg = shim_maps_page();
    pthread_mutex_lock(&shim_maps_lock);
    for (int i = 0; i < shim_nmaps; i++)
        if (shim_maps[i].start == (uintptr_t)old) {
            shim_maps[i].start = (uintptr_t)now;
            shim_maps[i].end = ((uintptr_t)now + len + pg - 1) & ~(pg - 1);
            break;
        }
    pthread_mutex_unlock(&shim_maps_lock);
}

void shim_maps_commit_all(void)
{
    struct shim_map_hit files[SHIM_MAPS_MAX_HIT];
    pthread_mutex_lock(&shim_maps_lock);
    int n = shim_maps_files(0, UINTPTR_MAX, files, SHIM_MAPS_MAX_HIT);
    pthread_mutex_unlock(&shim_maps_lock);
    (void)shim_maps_commit(files, n);
}

void shim_maps_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_maps_lock = fresh; /* the child inherited the maps and the references */
}

/* cache_scan.c - the exclusive scan of the cache directory: exact usage,
 * housekeeping, and eviction of the least recently used blocks.
 *
 * Runs only under LOCK_EX on dir/lock (cache_space.c), when no writer of any
 * process is between reservation and publication. So its total is exact and
 * replaces the shared `used`/`files`; every named file in tmp/ is a crashed
 * writer's leftover; a sidecar without its block is an orphan; an empty
 * directory has no writer about to link into it. All are removed.
 * Eviction order is the mtime (readers refresh it, cache_seen.c): the scan
 * keeps at most CACHE_EVICT_MAX candidates in a bounded max-heap of the
 * oldest, so its memory does not grow with the cache; a bigger need is met
 * over several rounds. It frees the need plus 1/32 of the cache, so scans
 * stay rare.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache_internal.h"

#define CACHE_EVICT_MAX   65536
#define CACHE_SCAN_DEPTH  8

struct space_cand { int64_t mtime; uint64_t cost; char *path; };

struct space_scan {
    struct cache *c;
    uint64_t need, total, files, heap_bytes;
    struct space_cand *heap;
    int n, cap;
    int sums;                    /* walking sums/: remove orphans */
    char path[CACHE_KEY_MAX + 2];
};

/* ---- bounded max-heap of the oldest files (by mtime) ---- */

static void heap_swap(struct space_cand *a, struct space_cand *b)
{
    struct space_cand t = *a;
    *a = *b;
    *b = t;
}

static void heap_pop(struct space_scan *s)
{
    free(s->heap[0].path);
    s->heap_bytes -= s->heap[0].cost;
    s->heap[0] = s->heap[--s->n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n && s->heap[l].mtime > s->heap[m].mtime)
            m = l;
        if (r < s->n && s->heap[r].mtime > s->heap[m].mtime)
            m = r;
        if (m == i)
            break;
        heap_swap(&s->heap[i], &s->heap[m]);
        i = m;
    }
}

static void heap_push(struct space_scan *s, int64_t mtime, uint64_t cost)
{
    if (s->n && mtime >= s->heap[0].mtime && (s->heap_bytes >= s->need || s->n == s->cap))
        return;
    if (s->n == s->cap)
        heap_pop(s);
    char *p = strdup(s->path);
    if (!p)
        return;
    int i = s->n++;
    s->heap[i] = (struct space_cand){ mtime, cost, p };
    s->heap_bytes += cost;
    while (i > 0 && s->heap[(i - 1) / 2].mtime < s->heap[i].mtime) {
        heap_swap(&s->heap[i], &s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    while (s->n > 1 && s->heap_bytes - s->heap[0].cost >= s->need)
        heap_pop(s);
}

/* ---- the walk ---- */

static void scan_file(struct space_scan *s, const struct stat *st)
{
    struct stat bs;
    if (s->sums) {
        if (fstatat(s->c->blocks_fd, s->path, &bs, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
            unlinkat(s->c->sums_fd, s->path, 0);
        return;
    }
    uint64_t cost = cache_cost(s->c, (uint64_t)st->st_size);
    s->total += cost;
    s->files++;
    if (s->need)
        heap_push(s, (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec, cost);
}

/* Returns the number of entries left in the directory. */
static int scan_dir(struct space_scan *s, int dfd, size_t plen, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 1;
    }
    int left = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t nl = strlen(nm);
        if (nm[0] == '.' && (nl == 1 || (nl == 2 && nm[1] == '.')))
            continue;
        left++;
        if (plen + nl + 2 > sizeof s->path)
            continue;
        memcpy(s->path + plen, nm, nl + 1);
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            scan_file(s, &st);
        } else if (S_ISDIR(st.st_mode) && depth < CACHE_SCAN_DEPTH) {
            int sub = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            s->path[plen + nl] = '/';
            s->path[plen + nl + 1] = '\0';
            /* under LOCK_EX no writer is between its mkdir and its link */
            if (scan_dir(s, sub, plen + nl + 1, depth + 1) == 0 &&
                unlinkat(dirfd(d), nm, AT_REMOVEDIR) == 0)
                left--;
        }
    }
    closedir(d);
    return left;
}

static void scan_tree(struct space_scan *s, int fd)
{
    int dfd = fd >= 0 ? openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd < 0)
        return;
    s->path[0] = '\0';
    scan_dir(s, dfd, 0, 0);
}

/* Under LOCK_EX nobody else is between reservation and publication, so
 * every named file in tmp/ is left over from a crash. */
static void scan_clean_tmp(struct cache *c)
{
    int dfd = openat(c->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            unlinkat(c->tmp_fd, e->d_name, 0);
    closedir(d);
}

static int cand_cmp(const void *a, const void *b)
{
    const struct space_cand *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

static void space_evict_cands(struct space_scan *s, uint64_t need)
{
    struct cache *c = s->c;
    uint64_t freed = 0;
    qsort(s->heap, (size_t)s->n, sizeof *s->heap, cand_cmp);
    for (int i = 0; i < s->n; i++) {
        if (freed < need && unlinkat(c->blocks_fd, s->heap[i].path, 0) == 0) {
            cache_sum_unlink(c, s->heap[i].path);
            cache_used_sub(c, s->heap[i].cost);
            cache_files_add(c, -1);
            cache_count(c, CTR_EVICTIONS, 1);
            freed += s->heap[i].cost;
        }
        free(s->heap[i].path);
    }
    s->n = 0;
}

/* Called with LOCK_EX held: count the directory exactly, then make room for
 * `bytes` more (0: only count). */
void cache_scan(struct cache *c, uint64_t bytes)
{
    struct space_scan s = { .c = c };
    uint64_t used = __atomic_load_n(&c->sh->used, __ATOMIC_ACQUIRE);
    uint64_t need = 0;
    if (bytes) {
        uint64_t over = cache_space_over(c, used + bytes), deficit = cache_space_deficit(c, bytes);
        need = over > deficit ? over : deficit;
    }
    if (need) {
        s.need = need + used / 32;
        s.cap = CACHE_EVICT_MAX;
        s.heap = malloc(sizeof *s.heap * (size_t)s.cap);
        if (!s.heap)
            s.need = 0;
    }
    scan_clean_tmp(c);
    scan_tree(&s, c->blocks_fd);
    __atomic_store_n(&c->sh->used, s.total + c->pending, __ATOMIC_RELEASE);
    __atomic_store_n(&c->sh->files, s.files, __ATOMIC_RELEASE);
    __atomic_store_n(&c->sh->last_scan, (uint64_t)time(NULL), __ATOMIC_RELAXED);
    __atomic_store_n(&c->sh->version, CACHE_SHARED_VERSION, __ATOMIC_RELAXED);
    __atomic_store_n(&c->sh->magic, CACHE_SHARED_MAGIC, __ATOMIC_RELEASE);
    cache_count(c, CTR_SCANS, 1);
    if (s.heap) {
        uint64_t over = cache_space_over(c, s.total + c->pending + bytes);
        uint64_t deficit = cache_space_deficit(c, bytes);
        need = over > deficit ? over : deficit;
        space_evict_cands(&s, need ? need + s.total / 32 : 0);
        free(s.heap);
    }
    if (c->sums_fd >= 0) {
        struct space_scan o = { .c = c, .sums = 1 };
        scan_tree(&o, c->sums_fd);
    }
}


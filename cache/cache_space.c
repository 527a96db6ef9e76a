/* cache_space.c - keeping the cache under its size limit and above the
 * free-space floor, across every process sharing the directory.
 *
 * Accounting: the shared page's `used` counts the bytes of published blocks
 * (whole 4 KiB pages, plus a page per sidecar) AND the reservations of
 * blocks being written. A writer reserves before it creates a temp file, so
 * files + temps on disk never exceed `used`, and `used` never exceeds the
 * limit: the cache cannot overshoot by more than blocks in flight, and in
 * fact does not overshoot at all while the counter is exact.
 *
 * Locking (flock on dir/lock, never held by readers):
 *  - a writer holds LOCK_SH from its reservation until its blocks are
 *    published and counted (or the reservation returned);
 *  - a reservation that would pass the limit or the floor is returned, and
 *    the writer takes LOCK_EX to scan: with every other writer out, the
 *    scan's total is exact, so it replaces `used`/`files` (repairing drift
 *    from crashes or outside deletion), removes stale temps, orphan
 *    sidecars and empty directories, then unlinks the least recently used blocks (oldest mtime;
 *    readers refresh it, cache_seen.c) until the need plus 1/32 of the
 *    cache is free, so scans stay rare;
 *  - removers (cache_remove, corrupt files) count their unlink only if they
 *    get LOCK_SH without waiting; during a scan they leave `used` high,
 *    which can only cause an early eviction, never an overshoot.
 * Unlinking a file another process is reading is safe on Linux: its reads
 * go on until it closes. The scan keeps at most CACHE_EVICT_MAX candidates
 * (a bounded max-heap of the oldest), so its memory does not grow with the
 * cache; a bigger need is met over several rounds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cache_internal.h"
#include "log.h"

#define CACHE_EVICT_MAX   65536
#define CACHE_SCAN_DEPTH  8
#define CACHE_RESERVE_TRIES 4
#define CACHE_BACKOFF_SEC 5

struct space_cand { int64_t mtime; uint64_t cost; char *path; };

struct space_scan {
    struct cache *c;
    uint64_t need, total, files, heap_bytes;
    struct space_cand *heap;
    int n, cap;
    int sums;                    /* walking sums/: remove orphans */
    char path[CACHE_KEY_MAX + 2];
};

static int space_flock(int fd, int op)
{
    if (fd < 0)
        return 0;
    for (int i = 0; i < 1000; i++) {
        if (flock(fd, op) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
    return -EINTR;
}

static uint64_t space_deficit(struct cache *c, uint64_t bytes)
{
    struct statvfs v;
    if (c->free_ratio <= 0 || fstatvfs(c->dir_fd, &v) < 0)
        return 0;
    double want = c->free_ratio * (double)v.f_blocks * (double)v.f_frsize;
    double after = (double)v.f_bavail * (double)v.f_frsize - (double)bytes;
    return after >= want ? 0 : (uint64_t)(want - after) + 1;
}

static uint64_t space_over(struct cache *c, uint64_t used)
{
    return c->limit && used > c->limit ? used - c->limit : 0;
}

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
static void space_scan(struct cache *c, uint64_t bytes)
{
    struct space_scan s = { .c = c };
    uint64_t used = __atomic_load_n(&c->sh->used, __ATOMIC_ACQUIRE);
    uint64_t need = 0;
    if (bytes) {
        uint64_t over = space_over(c, used + bytes), deficit = space_deficit(c, bytes);
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
        uint64_t over = space_over(c, s.total + c->pending + bytes), deficit = space_deficit(c, bytes);
        need = over > deficit ? over : deficit;
        space_evict_cands(&s, need ? need + s.total / 32 : 0);
        free(s.heap);
    }
    if (c->sums_fd >= 0) {
        struct space_scan o = { .c = c, .sums = 1 };
        scan_tree(&o, c->sums_fd);
    }
}

static int64_t space_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* Reserve `bytes` for blocks about to be written. On success the caller
 * holds LOCK_SH until cache_space_release. -ENOSPC: drop the blocks. */
int cache_space_reserve(struct cache *c, uint64_t bytes)
{
    if ((c->limit && bytes > c->limit) || space_now() < c->space_backoff)
        return -ENOSPC;
    for (int i = 0; i < CACHE_RESERVE_TRIES; i++) {
        int r = space_flock(c->lock_fd, LOCK_SH);
        if (r < 0)
            return r;
        if (__atomic_load_n(&c->sh->magic, __ATOMIC_ACQUIRE) == CACHE_SHARED_MAGIC) {
            if (cache_used_reserve(c, bytes, c->limit) == 0) {
                if (!space_deficit(c, bytes)) {
                    c->pending += bytes;
                    return 0;
                }
                cache_used_sub(c, bytes);
            }
        }
        r = space_flock(c->lock_fd, LOCK_EX);
        if (r < 0)
            return r;
        if (__atomic_load_n(&c->sh->magic, __ATOMIC_ACQUIRE) != CACHE_SHARED_MAGIC)
            space_scan(c, 0);
        else
            space_scan(c, bytes);
        space_flock(c->lock_fd, LOCK_UN);
    }
    c->space_backoff = space_now() + CACHE_BACKOFF_SEC;
    log_once(&c->log_space, LOG_WARN, CACHE_MOD, "%s: no room for new blocks (limit %llu bytes, free-space floor %.0f%%): puts dropped",
             c->dir, (unsigned long long)c->limit, c->free_ratio * 100);
    return -ENOSPC;
}

/* Return what was reserved but not published, and drop LOCK_SH. */
void cache_space_release(struct cache *c, uint64_t unused)
{
    if (unused)
        cache_used_sub(c, unused);
    c->pending = 0;
    space_flock(c->lock_fd, LOCK_UN);
}

/* Unlink blocks/<key> (cache_remove, corrupt file). With `fd`, only if the
 * name still refers to that file: a fresh copy put since is left alone. */
int cache_space_unlink(struct cache *c, const char *key, int fd)
{
    struct stat st, mine;
    if (c->blocks_fd < 0 || fstatat(c->blocks_fd, key, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -ENOENT;
    if (fd >= 0 && (fstat(fd, &mine) < 0 || mine.st_ino != st.st_ino || mine.st_dev != st.st_dev))
        return -ENOENT;
    int lk = openat(c->dir_fd, "lock", O_RDONLY | O_CLOEXEC);
    int counted = lk >= 0 && flock(lk, LOCK_SH | LOCK_NB) == 0;
    int r = unlinkat(c->blocks_fd, key, 0) < 0 ? -errno : 0;
    if (r == 0) {
        cache_sum_unlink(c, key);
        if (counted) {
            /* what its put reserved: the key's length (a cut file shrank) */
            uint64_t klen = cache_key_len(key);
            cache_used_sub(c, cache_cost(c, klen ? klen : (uint64_t)st.st_size));
            cache_files_add(c, -1);
        }
    }
    if (lk >= 0)
        close(lk);
    return r;
}

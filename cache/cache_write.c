/* cache_write.c - the writer thread's work: write a batch of blocks aside,
 * check them, publish them atomically.
 *
 * For each block of a batch: skip it if already cached; reserve its space
 * (cache_space.c); open an O_TMPFILE in tmp/ (a unique named temp where
 * the file system has no O_TMPFILE; opened O_DIRECT for a CACHE_PUT_DIRECT
 * put where the disk and the bytes allow it); store the checksum
 * (cache_sum.c); then
 * the whole batch goes to io_uring as one submission of writes (pwrite when
 * the ring is refused); with verify_every_read each write is linked to a
 * read-back that must hash to the checksum computed from the caller's
 * bytes before the file is linked into blocks/.
 * linkat never replaces: when two processes put the same block, the second
 * link fails with EEXIST, which is success (the block is there, once).
 * Failures (disk full, read-only, permissions) are counted and logged once
 * per process; no partial file is ever visible under blocks/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache_internal.h"
#include "io.h"
#include "log.h"

void cache_put_failed(struct cache *c, const char *key, int err)
{
    cache_count(c, CTR_PUT_ERRORS, 1);
    log_once(&c->log_put, LOG_WARN, CACHE_MOD, "cannot store %s in %s: %s (further failures not logged)",
             key, c->dir, strerror(err));
}

/* Can this directory's temps be written with O_DIRECT, and how aligned
 * must buffers and lengths be? Probed once per process, on the first put
 * that asks (the writer thread is the only caller). statx names the
 * alignment (Linux 6.1+); an older kernel that accepts O_DIRECT gets 4096,
 * which every block device satisfies. ramfs and some FUSE file systems
 * refuse it; tmpfs (Linux 6.6+) takes it as an ordinary write. */
static void write_direct_probe(struct cache *c)
{
    c->direct_mode = -1;
    int fd = io_fd_high(openat(c->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC | O_DIRECT, 0600));
    if (fd < 0) {
        log_debug(CACHE_MOD, "%s: no direct writes (%s): warmup goes through the page cache",
                  c->dir, strerror(errno));
        return;
    }
    struct statx sx;
    unsigned mem = 4096, off = 4096;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
        mem = sx.stx_dio_mem_align;
        off = sx.stx_dio_offset_align;
    }
    close(fd);
    if (mem == 0 || off == 0 || mem > 4096 || off > 4096) {
        /* no direct I/O here (0), or pages we cannot promise */
        log_debug(CACHE_MOD, "%s: no direct writes (alignment %u/%u): warmup goes through the "
                  "page cache", c->dir, mem, off);
        return;
    }
    c->dio_mem = mem;
    c->dio_off = off;
    c->direct_mode = 1;
}

/* Direct when asked, possible here, and the bytes fit its alignment (a
 * short tail block or a copied put does not: it is written normally). */
static int write_direct_ok(struct cache *c, const struct cache_item *it)
{
    if (!it->direct || c->tmpfile_mode < 0 || it->len == 0)
        return 0;
    if (c->direct_mode == 0)
        write_direct_probe(c);
    return c->direct_mode > 0 && (uintptr_t)it->data % c->dio_mem == 0 && it->len % c->dio_off == 0;
}

static int write_open_temp(struct cache *c, struct cache_item *it)
{
    static unsigned seq;
    if (c->tmpfile_mode >= 0) {
        int direct = write_direct_ok(c, it) ? O_DIRECT : 0;
        /* the writer thread runs while the program opens and dup2s:
         * io.h's floor */
        int fd = io_fd_high(openat(c->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC | direct, 0600));
        if (fd < 0 && direct) {  /* the probe said yes: do not blame O_TMPFILE */
            c->direct_mode = -1;
            direct = 0;
            fd = io_fd_high(openat(c->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
        }
        if (fd >= 0 && direct)
            it->direct = 2;
        if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
            return fd < 0 ? -errno : fd;
        c->tmpfile_mode = -1;
    }
    snprintf(it->tmpname, sizeof it->tmpname, "b.%d.%u", (int)getpid(),
             __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    int fd = io_fd_high(openat(c->tmp_fd, it->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    return fd < 0 ? -errno : fd;
}

static int write_prepare(struct cache *c, struct cache_item *it)
{
    struct stat st;
    int fd = write_open_temp(c, it);
    if (fd < 0)
        return fd;
    it->fd = fd;
    if (fstat(fd, &st) == 0) {
        it->dev = st.st_dev;
        it->ino = st.st_ino;
    }
    int r = cache_sum_store(c, fd, it->key, it->sum);
    if (r == 0 && c->xattr_mode > 0)
        cache_piece_sums_store(fd, it->data, it->len, it->sum);
    return r;
}

/* Linked write + read-back pairs, one submission. Items the ring did not
 * finish keep res_w/res_r < 0 and are redone with plain syscalls. */
static void write_ring(struct cache *c, struct io_uring *ring, struct cache_item **it, int n)
{
    unsigned queued = 0;
    for (int i = 0; i < n; i++) {
        if (it[i]->state != ITEM_TODO)
            continue;
        if (io_uring_sq_space_left(ring) < 2)
            break;             /* cannot happen: 2 * CACHE_BATCH_ITEMS <= ring size */
        struct io_uring_sqe *w = io_uring_get_sqe(ring);
        io_uring_prep_write(w, it[i]->fd, it[i]->data, (unsigned)it[i]->len, 0);
        io_uring_sqe_set_data64(w, (uint64_t)i << 1);
        queued++;
        if (!c->verify_every_read) {
            it[i]->res_r = (ssize_t)it[i]->len; /* no read-back: see write_check */
            continue;
        }
        w->flags |= IOSQE_IO_LINK;
        struct io_uring_sqe *r = io_uring_get_sqe(ring);
        io_uring_prep_read(r, it[i]->fd, it[i]->data, (unsigned)it[i]->len, 0);
        io_uring_sqe_set_data64(r, (uint64_t)i << 1 | 1);
        queued++;
    }
    int s = -EINTR;
    for (int t = 0; t < 100 && (s == -EINTR || s == -EAGAIN || s == -EBUSY); t++)
        s = io_uring_submit_and_wait(ring, queued);
    unsigned reaped = 0;
    for (int t = 0; s >= 0 && reaped < queued && t < 1000; t++) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(ring, &cqe) < 0)
            continue;
        uint64_t d = io_uring_cqe_get_data64(cqe);
        struct cache_item *x = it[d >> 1];
        if (d & 1)
            x->res_r = cqe->res;
        else
            x->res_w = cqe->res;
        io_uring_cqe_seen(ring, cqe);
        reaped++;
    }
    if (reaped < queued) {
        /* requests may still be in flight: closing the ring waits them out */
        cache_ring_forget(&c->wring);
        for (int i = 0; i < n; i++)
            it[i]->res_w = it[i]->res_r = -EIO;
    }
}

/* Whether a batch goes to the ring. A buffered write without read-back
 * cannot complete inline there: io_uring hands it to an io-wq worker,
 * and waking that worker and being woken by it cost more than the
 * copy into the page cache of a small batch (one 4 KiB put per closed
 * tiny file: measured as a tenth of the writer process's CPU, on the
 * critical path of a create-write-close loop). Direct writes and
 * read-backs, and big batches, gain from running in parallel. */
static int write_ring_pays(const struct cache *c, struct cache_item **it, int n)
{
    if (c->verify_every_read)
        return 1;
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        if (it[i]->state != ITEM_TODO)
            continue;
        if (it[i]->direct == 2)
            return 1;
        bytes += it[i]->len;
    }
    return bytes > CACHE_PLAIN_WRITE_MAX;
}

/* Finish what the ring did not (or everything, without a ring), then
 * check the read-back bytes against the checksum. */
static void write_check(struct cache *c, struct cache_item *it)
{
    if (it->res_w != (ssize_t)it->len && it->direct == 2) {
        /* a direct write refused (EINVAL: alignment the probe did not
         * foresee): this item and the later ones are written normally */
        int fl = fcntl(it->fd, F_GETFL);
        if (it->res_w == -EINVAL && fl >= 0 && fcntl(it->fd, F_SETFL, fl & ~O_DIRECT) == 0)
            c->direct_mode = -1;
        it->direct = 1;
    }
    if (it->res_w != (ssize_t)it->len) {
        it->res_w = io_pwrite_full(it->fd, it->data, it->len, 0);
        it->res_r = -1;
    }
    if (it->res_w != (ssize_t)it->len) {
        it->state = ITEM_FAILED;
        cache_put_failed(c, it->key, it->res_w < 0 ? (int)-it->res_w : EIO);
        return;
    }
    /* The bytes were verified before they were queued (decoded against the
     * object's checksum) and their checksum is stored with the file; reading
     * them back from the page cache checked only the copy, and halved the
     * writer's throughput. With verify_every_read (SHIMFS_CACHE_VERIFY=always)
     * the read-back stays; otherwise the first use in every process checks
     * the file against the stored checksum. */
    if (!c->verify_every_read) {
        it->state = ITEM_WRITTEN;
        return;
    }
    if (it->res_r != (ssize_t)it->len)
        it->res_r = io_pread_full(it->fd, it->data, it->len, 0);
    if (it->res_r != (ssize_t)it->len || cache_sum(it->data, it->len) != it->sum) {
        it->state = ITEM_FAILED;
        cache_count(c, CTR_CORRUPT, 1);
        log_warn(CACHE_MOD, "%s: written cache file reads back wrong: not published", it->key);
        return;
    }
    it->state = ITEM_WRITTEN;
}

/* A named temp: hard link (never replaces); where the file system has no
 * hard links, rename without replacing, or at worst rename (same bytes). */
static int write_link_named(struct cache *c, struct cache_item *it)
{
    if (linkat(c->tmp_fd, it->tmpname, c->blocks_fd, it->key, 0) == 0)
        return 0;
    if (errno != EPERM && errno != EOPNOTSUPP && errno != EMLINK)
        return -errno;
    if (renameat2(c->tmp_fd, it->tmpname, c->blocks_fd, it->key, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    return renameat(c->tmp_fd, it->tmpname, c->blocks_fd, it->key) < 0 ? -errno : 0;
}

static int write_link(struct cache *c, struct cache_item *it)
{
    char proc[40];
    if (c->tmpfile_mode < 0)
        return write_link_named(c, it);
    if (c->link_mode > 0)
        return linkat(it->fd, "", c->blocks_fd, it->key, AT_EMPTY_PATH) < 0 ? -errno : 0;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", it->fd);
    if (linkat(AT_FDCWD, proc, c->blocks_fd, it->key, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    int e = errno;
    if (e == ENOENT && access("/proc/self/fd", X_OK) < 0) {
        c->link_mode = 1;      /* no /proc: needs CAP_DAC_READ_SEARCH */
        return write_link(c, it);
    }
    return -e;
}

static int write_publish(struct cache *c, struct cache_item *it)
{
    int r = write_link(c, it);
    if (r == -ENOENT && cache_mkdirs(c->blocks_fd, it->key) == 0)
        r = write_link(c, it);
    if (c->tmpfile_mode < 0)
        unlinkat(c->tmp_fd, it->tmpname, 0);
    return r;
}

/* Publish one checked block; returns the reserved bytes it did not use. */
static uint64_t write_finish(struct cache *c, struct cache_item *it)
{
    int r = it->state == ITEM_WRITTEN ? write_publish(c, it) : -EIO;
    if (it->state == ITEM_WRITTEN && r < 0 && r != -EEXIST)
        cache_put_failed(c, it->key, -r);
    if (it->state == ITEM_FAILED && c->tmpfile_mode < 0)
        unlinkat(c->tmp_fd, it->tmpname, 0);
    if (it->fd >= 0)
        close(it->fd);
    it->fd = -1;
    if (r < 0)
        return it->cost;
    cache_files_add(c, 1);
    cache_count(c, CTR_PUTS, 1);
    cache_count(c, CTR_BYTES_PUT, it->len);
    return 0;
}

/* Which blocks still need writing; returns the bytes to reserve. */
static uint64_t write_plan(struct cache *c, struct cache_item **it, int n)
{
    uint64_t total = 0;
    struct stat st;
    for (int i = 0; i < n; i++) {
        it[i]->fd = -1;
        it[i]->res_w = it[i]->res_r = -1;
        if (fstatat(c->blocks_fd, it[i]->key, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            it[i]->state = ITEM_SKIP;
            continue;
        }
        it[i]->state = ITEM_TODO;
        if (!it[i]->have_sum)  /* cache_put_ref brings the codec's verified XXH3 */
            it[i]->sum = cache_sum(it[i]->data, it[i]->len);
        it[i]->cost = cache_cost(c, it[i]->len);
        total += it[i]->cost;
    }
    return total;
}

void cache_write_batch(struct cache *c, struct cache_item **it, int n)
{
    uint64_t total = write_plan(c, it, n), unused = 0;
    if (!total)
        return;
    int r = c->tmp_fd < 0 ? -EROFS : cache_space_reserve(c, total);
    for (int i = 0; r < 0 && i < n; i++) {
        if (it[i]->state != ITEM_TODO)
            continue;
        it[i]->state = ITEM_SKIP;
        if (r == -ENOSPC)
            cache_count(c, CTR_DROPPED, 1);
        else
            cache_put_failed(c, it[i]->key, -r);
    }
    if (r < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (it[i]->state != ITEM_TODO)
            continue;
        int e = write_prepare(c, it[i]);
        if (e < 0) {
            it[i]->state = ITEM_FAILED;
            cache_put_failed(c, it[i]->key, -e);
        }
    }
    struct io_uring *ring = write_ring_pays(c, it, n) ? cache_ring_get(c, &c->wring) : NULL;
    if (ring)
        write_ring(c, ring, it, n);
    for (int i = 0; i < n; i++) {
        if (it[i]->state == ITEM_TODO)
            write_check(c, it[i]);
        if (it[i]->state != ITEM_SKIP)
            unused += write_finish(c, it[i]);
    }
    cache_space_release(c, unused);
}

/* cache_sum.c - where a cache file's checksum lives, and how it is checked.
 *
 * The checksum is XXH3-64 (seed 0) of the file's content - the same function
 * as codec_checksum, computed with AVX-512 or AVX2 where the CPU has them
 * (cache_xxh512.c, cache_xxh.c) - stored beside the content so the file
 * itself stays exactly the block's bytes:
 *  - in the xattr "user.shimfs.xxh3" (8 bytes, little endian) when the file
 *    system takes user xattrs: no extra file or inode, one fgetxattr on the
 *    descriptor already open (0.7 us measured; ext4 keeps it in the inode);
 *  - else in a sidecar file sums/<key> holding "%016llx\n", published before
 *    the block and removed after it: open+read+close, 1.2 us measured, and
 *    one more inode per block, accounted as 4 KiB in the size.
 * Either is read only on a block's first use in a process (verification:
 * 8.1 us for a whole 128 KiB read vs 4.0 us warm; XXH3 is 3.4 us of it).
 * A file name carrying the checksum was rejected: readers know only the key,
 * so finding the file would need a directory scan.
 * Which one a directory uses is probed once per process on an O_TMPFILE.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/xattr.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "cache_internal.h"
#include "trust.h"
#include "log.h"

#define CACHE_SUM_CHUNK (256u << 10)

static int sum_avx2(void)
{
    return cache_cpu_vec() >= CACHE_VEC_AVX2;
}

uint64_t cache_sum(const void *p, size_t n)
{
    switch (cache_cpu_vec()) {
    case CACHE_VEC_AVX512: return cache_xxh_avx512(p, n);
    case CACHE_VEC_AVX2: return cache_xxh_avx2(p, n);
    default: return XXH3_64bits(p, n);
    }
}

static void sum_le(uint64_t v, unsigned char b[8])
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t sum_from_le(const unsigned char b[8])
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static int sum_unsupported(int err)
{
    return err == ENOTSUP || err == EOPNOTSUPP || err == ENOSYS;
}

static int sum_open_sums(struct cache *c, int create)
{
    if (c->sums_fd >= 0)
        return 0;
    if (c->dir_fd < 0)
        return -ENOENT;
    int fd = trust_subdir_open(c->dir_fd, "sums", create), none = -1;
    if (fd < 0)
        return fd;
    if (!__atomic_compare_exchange_n(&c->sums_fd, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        close(fd);             /* another thread opened it first */
    return 0;
}

/* Sidecar publication: a unique temp in tmp/, then rename over sums/<key>
 * (same bytes whoever wins, so replacing is harmless). */
static int sum_store_sidecar(struct cache *c, const char *key, uint64_t sum)
{
    char tmp[64], txt[24];
    static unsigned seq;
    int r = sum_open_sums(c, 1);
    if (r < 0)
        return r;
    snprintf(tmp, sizeof tmp, "s.%d.%u", (int)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
    int n = snprintf(txt, sizeof txt, "%016llx\n", (unsigned long long)sum);
    int fd = openat(c->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    r = (int)io_pwrite_full(fd, txt, (size_t)n, 0);
    close(fd);
    if (r >= 0 && renameat(c->tmp_fd, tmp, c->sums_fd, key) < 0) {
        r = -errno;
        if (r == -ENOENT && cache_mkdirs(c->sums_fd, key) == 0)
            r = renameat(c->tmp_fd, tmp, c->sums_fd, key) < 0 ? -errno : 0;
    }
    if (r < 0)
        unlinkat(c->tmp_fd, tmp, 0);
    return r < 0 ? r : 0;
}

int cache_sum_store(struct cache *c, int fd, const char *key, uint64_t sum)
{
    unsigned char b[8];
    sum_le(sum, b);
    if (c->xattr_mode >= 0) {
        if (fsetxattr(fd, CACHE_XATTR, b, sizeof b, 0) == 0) {
            c->xattr_mode = 1;
            return 0;
        }
        if (!sum_unsupported(errno))
            return -errno;
        c->xattr_mode = -1;
    }
    return sum_store_sidecar(c, key, sum);
}

static int sum_load_sidecar(struct cache *c, const char *key, uint64_t *sum)
{
    char txt[24];
    if (sum_open_sums(c, 0) < 0)
        return -ENODATA;
    int fd = openat(c->sums_fd, key, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ENODATA;
    ssize_t n = io_pread_full(fd, txt, sizeof txt - 1, 0);
    close(fd);
    if (n != 17 || txt[16] != '\n')
        return -ENODATA;
    txt[16] = '\0';
    char *end;
    *sum = strtoull(txt, &end, 16);
    return *end == '\0' ? 0 : -ENODATA;
}

/* Returns 0, or -ENODATA when the file carries no readable checksum (which
 * the caller treats as corrupt: it cannot be verified). */
int cache_sum_load(struct cache *c, int fd, const char *key, uint64_t *sum)
{
    unsigned char b[8];
    ssize_t n = fgetxattr(fd, CACHE_XATTR, b, sizeof b);
    if (n == (ssize_t)sizeof b) {
        *sum = sum_from_le(b);
        return 0;
    }
    if (n < 0 && errno != ENODATA && !sum_unsupported(errno))
        return -errno;
    return sum_load_sidecar(c, key, sum);
}

void cache_sum_unlink(struct cache *c, const char *key)
{
    if (c->sums_fd >= 0 || (c->xattr_mode < 0 && sum_open_sums(c, 0) == 0))
        unlinkat(c->sums_fd, key, 0);
}

/* Decide xattr or sidecar on a scratch O_TMPFILE before the first
 * reservation, since the choice changes what a block costs. */
void cache_sum_probe(struct cache *c)
{
    unsigned char b[8] = {0};
    if (c->xattr_mode != 0 || c->tmp_fd < 0)
        return;
    char name[32];
    snprintf(name, sizeof name, "p.%d", (int)getpid());
    int fd = openat(c->tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        fd = openat(c->tmp_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return;
        unlinkat(c->tmp_fd, name, 0);
    }
    if (fsetxattr(fd, CACHE_XATTR, b, sizeof b, 0) == 0)
        c->xattr_mode = 1;
    else if (sum_unsupported(errno))
        c->xattr_mode = -1;
    close(fd);
}

/* One read buffer per thread, kept: a fresh malloc of this size is an
 * mmap, and faulting in and zeroing its pages on every first use of a
 * block cost more than hashing it (measured: half the warm-open time). */
static pthread_key_t sum_buf_key;
static pthread_once_t sum_buf_once = PTHREAD_ONCE_INIT;

static void sum_buf_make_key(void) { (void)pthread_key_create(&sum_buf_key, free); }

static unsigned char *sum_buffer(void)
{
    pthread_once(&sum_buf_once, sum_buf_make_key);
    unsigned char *buf = pthread_getspecific(sum_buf_key);
    if (!buf && (buf = malloc(CACHE_SUM_CHUNK + 1)))
        (void)pthread_setspecific(sum_buf_key, buf);
    return buf;
}

uint64_t cache_sum_pieces(const void *p, size_t len, size_t piece, uint64_t *sums)
{
    union { XXH3_state_t lib; unsigned char avx2[CACHE_XXH_STATE]; } __attribute__((aligned(64))) st;
    int avx2 = sum_avx2();
    if (avx2)
        cache_xxh_avx2_reset(&st);
    else
        XXH3_64bits_reset(&st.lib);
    for (size_t at = 0, i = 0; at < len; at += piece, i++) {
        size_t n = len - at < piece ? len - at : piece;
        const char *q = (const char *)p + at;
        sums[i] = cache_sum(q, n);  /* the piece is in the CPU cache for the next line */
        if (avx2)
            cache_xxh_avx2_update(&st, q, n);
        else
            XXH3_64bits_update(&st.lib, q, n);
    }
    return avx2 ? cache_xxh_avx2_digest(&st) : XXH3_64bits_digest(&st.lib);
}

/* Checksum of a whole file read through a bounded buffer (pread, not mmap:
 * a file truncated behind our back must give a mismatch, not SIGBUS in the
 * host program; and mapping measured slower, its munmap costs a TLB
 * shootdown). Returns 0, -EBADMSG when the size is not `size`. */
int cache_sum_file(int fd, uint64_t size, uint64_t *sum)
{
    union { XXH3_state_t lib; unsigned char avx2[CACHE_XXH_STATE]; } __attribute__((aligned(64))) st;
    int avx2 = sum_avx2();
    size_t cap = size < CACHE_SUM_CHUNK ? (size_t)size + 1 : CACHE_SUM_CHUNK;
    unsigned char *buf = sum_buffer();
    if (!buf)
        return -ENOMEM;
    if (avx2)
        cache_xxh_avx2_reset(&st);
    else
        XXH3_64bits_reset(&st.lib);
    uint64_t off = 0;
    int r = 0;
    for (;;) {
        ssize_t n = io_pread_full(fd, buf, cap, off);
        if (n < 0) {
            r = (int)n;
            break;
        }
        if (avx2)
            cache_xxh_avx2_update(&st, buf, (size_t)n);
        else
            XXH3_64bits_update(&st.lib, buf, (size_t)n);
        off += (uint64_t)n;
        if ((size_t)n < cap || off > size)
            break;
    }
    if (r == 0 && off != size)
        r = -EBADMSG;
    *sum = avx2 ? cache_xxh_avx2_digest(&st) : XXH3_64bits_digest(&st.lib);
    return r;
}

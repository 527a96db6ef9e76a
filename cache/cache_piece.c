/* cache_piece.c - checksums of a cached block's 128 KiB pieces, so that a
 * process's first-use check of a big block can be done on the bytes where
 * its reader's buffer received them.
 *
 * A 4 MiB block read 128 KiB at a time (cat, a DataLoader) was hashed whole
 * before its first byte was returned: one more pass over the file, which
 * made a warm 512 MiB read take 0.18 s against 0.11 s natively. With the
 * pieces' sums (an xattr written with the block, CACHE_XATTR_PIECES), a
 * read that starts on a piece boundary is hashed in the caller's buffer,
 * piece by piece, before it returns; the block counts as checked for the
 * process (cache_seen) once all its pieces were. Nothing is weakened: every
 * byte returned was checked in this process; a mismatch drops the file.
 *
 * Promises: blocks of one piece or less, files without the xattr (older
 * caches, file systems without xattrs) and unaligned reads take the whole
 * block path (cache_verify_read). The per-process table of checked pieces
 * is small and lossy: losing an entry costs a re-check, never a skip.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "cache_internal.h"

#define PIECE_SLOTS 64
#define PIECE_WORDS (CACHE_PIECES_MAX / 64)

/* Per block (lossy, by key hash): which pieces this process checked, and
 * the pieces' sums once read (a key's bytes never change, so neither do
 * its sums: a sequential reader reads the xattr once per block, not once
 * per 128 KiB read). */
static struct {
    pthread_mutex_t lock;
    struct {
        uint64_t kh;
        uint64_t bits[PIECE_WORDS];
        uint32_t nsums;
        uint64_t sums[CACHE_PIECES_MAX];
    } slot[PIECE_SLOTS];
} pieces = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The slot of kh, taken over (emptied) if it held another block. Locked. */
static int piece_slot_locked(uint64_t kh)
{
    int k = (int)(kh % PIECE_SLOTS);
    if (pieces.slot[k].kh != kh) {
        pieces.slot[k].kh = kh;
        memset(pieces.slot[k].bits, 0, sizeof pieces.slot[k].bits);
        pieces.slot[k].nsums = 0;
    }
    return k;
}

/* Sums of pieces [first, last) of a block of n pieces into out: from the
 * table, else from the file's xattr (then kept). 0, or -1 when the file has
 * none of the right size. */
static int piece_sums(int fd, uint64_t kh, size_t n, size_t first, size_t last, uint64_t *out)
{
    pthread_mutex_lock(&pieces.lock);
    int k = (int)(kh % PIECE_SLOTS);
    int have = pieces.slot[k].kh == kh && pieces.slot[k].nsums == n;
    if (have)
        memcpy(out, &pieces.slot[k].sums[first], (last - first) * sizeof *out);
    pthread_mutex_unlock(&pieces.lock);
    if (have)
        return 0;
    uint64_t sums[CACHE_PIECES_MAX];
    if (fgetxattr(fd, CACHE_XATTR_PIECES, sums, sizeof sums) != (ssize_t)(n * sizeof sums[0]))
        return -1;
    pthread_mutex_lock(&pieces.lock);
    k = piece_slot_locked(kh);
    memcpy(pieces.slot[k].sums, sums, n * sizeof sums[0]);
    pieces.slot[k].nsums = (uint32_t)n;
    pthread_mutex_unlock(&pieces.lock);
    memcpy(out, &sums[first], (last - first) * sizeof *out);
    return 0;
}

void cache_piece_sums_store(int fd, const void *data, size_t len, uint64_t sum)
{
    uint64_t sums[CACHE_PIECES_MAX];
    size_t n = (len + CACHE_PIECE - 1) / CACHE_PIECE;
    if (len <= CACHE_PIECE || n > CACHE_PIECES_MAX)
        return;
    /* The pieces' sums are made from the bytes being written; they are
     * stored only if those bytes are still the ones the block's checksum
     * (verified when they were decoded) describes, so they can never bless
     * bytes damaged in memory since. One pass: each piece is hashed twice
     * while it is in the CPU cache. */
    if (cache_sum_pieces(data, len, CACHE_PIECE, sums) != sum)
        return;
    /* best effort: without it, readers check the block whole (native byte
     * order: the cache never leaves its node) */
    (void)fsetxattr(fd, CACHE_XATTR_PIECES, sums, n * sizeof sums[0], 0);
}

/* Mark pieces [first, last) of kh checked; 1 when the block has all n. */
static int piece_mark(uint64_t kh, size_t first, size_t last, size_t n)
{
    pthread_mutex_lock(&pieces.lock);
    int k = piece_slot_locked(kh);
    for (size_t i = first; i < last; i++)
        pieces.slot[k].bits[i / 64] |= 1ULL << (i % 64);
    int all = 1;
    for (size_t i = 0; i < n && all; i++)
        all = (pieces.slot[k].bits[i / 64] >> (i % 64)) & 1;
    pthread_mutex_unlock(&pieces.lock);
    return all;
}

ssize_t cache_piece_read(struct cache *c, int fd, uint64_t kh, uint64_t size, void *buf,
                         size_t len, uint64_t off)
{
    size_t n = (size_t)((size + CACHE_PIECE - 1) / CACHE_PIECE);
    if (size <= CACHE_PIECE || n > CACHE_PIECES_MAX || off % CACHE_PIECE || off >= size)
        return CACHE_PIECE_NO;
    uint64_t end = off + len < size ? off + len : size;
    if (end % CACHE_PIECE && end != size)
        return CACHE_PIECE_NO;       /* would end inside a piece */
    size_t first = (size_t)(off / CACHE_PIECE), last = (size_t)((end + CACHE_PIECE - 1) / CACHE_PIECE);
    uint64_t sums[CACHE_PIECES_MAX];
    if (piece_sums(fd, kh, n, first, last, sums) < 0)
        return CACHE_PIECE_NO;
    ssize_t r = io_pread_full(fd, buf, (size_t)(end - off), off);
    if (r < 0)
        return r;
    if ((uint64_t)r != end - off)
        return -EBADMSG;             /* the file is shorter than its key says */
    for (size_t i = first; i < last; i++) {
        size_t at = (i - first) * CACHE_PIECE;
        size_t plen = (size_t)(end - off) - at < CACHE_PIECE ? (size_t)(end - off) - at : CACHE_PIECE;
        if (cache_sum((const char *)buf + at, plen) != sums[i - first])
            return -EBADMSG;
    }
    if (piece_mark(kh, first, last, n))
        cache_seen_set(c, kh);
    return r;
}

void cache_piece_after_fork(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pieces.lock = m;
}

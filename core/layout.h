/* layout.h - where a file's bytes live: chunks, slices, blocks, object keys.
 *
 * A file is cut into fixed 64 MiB chunks. Each write session stores one
 * slice: an immutable object set identified by a database-issued id, made of
 * blocks of at most the volume's block size. A chunk's slice list is ordered
 * oldest first; newer slices cover older ones and uncovered bytes read as
 * zeros. A slice record {pos, id, size, off, len} says: bytes [off, off+len)
 * of slice `id` (whose full length is `size`) appear at chunk position `pos`.
 * That indirection lets truncation, compaction and (later) packed small files
 * reuse existing objects without rewriting them.
 *
 * Pure functions only: no I/O, no allocation except where stated.
 * Preconditions (asserted): pointers are non-NULL, except an array or
 * buffer whose count or capacity is 0; counts are not negative.
 */
#ifndef SHIMFS_LAYOUT_H
#define SHIMFS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define LAYOUT_CHUNK_SHIFT 26
#define LAYOUT_CHUNK_SIZE  (UINT64_C(1) << LAYOUT_CHUNK_SHIFT) /* 64 MiB */
#define LAYOUT_MIN_BLOCK   (UINT32_C(64) << 10)                /* 64 KiB */
#define LAYOUT_MAX_BLOCK   (UINT32_C(16) << 20)                /* 16 MiB */
#define LAYOUT_KEY_MAX     160

/* A slice id with this bit set is an inline slice: its one block is kept
 * in the metadata database (schema 4), not in the bucket. The bit is set
 * on an id the session reserved, so ids stay unique; sequences never get
 * near it. */
#define LAYOUT_INLINE_BIT (UINT64_C(1) << 62)
static inline int layout_is_inline(uint64_t id)
{
    return (id & LAYOUT_INLINE_BIT) != 0;
}

struct layout_slice {
    uint32_t pos;  /* where in the chunk the visible part starts */
    uint64_t id;   /* slice id; 0 means an explicit hole (zeros) */
    uint32_t size; /* full length of the stored slice */
    uint32_t off;  /* first visible byte inside the slice */
    uint32_t len;  /* visible length */
};

/* One visible, non-overlapping piece of a chunk after newer slices covered
 * older ones. id == 0: the range reads as zeros. */
struct layout_extent {
    uint32_t pos;  /* chunk position */
    uint32_t len;
    uint64_t id;
    uint32_t size; /* full length of slice id */
    uint32_t off;  /* offset inside slice id that maps to pos */
};

static inline uint64_t layout_chunk_index(uint64_t file_off) { return file_off >> LAYOUT_CHUNK_SHIFT; }
static inline uint32_t layout_chunk_offset(uint64_t file_off) { return (uint32_t)(file_off & (LAYOUT_CHUNK_SIZE - 1)); }

/* Number of blocks a slice of `size` bytes is stored in. */
uint32_t layout_block_count(uint32_t size, uint32_t block_size);
/* Length of block `index` of a slice of `size` bytes. 0 if out of range. */
uint32_t layout_block_len(uint32_t size, uint32_t block_size, uint32_t index);

/* Object key: "<uuid>/chunks/<id/1e6>/<id/1e3>/<id>_<index>_<len>".
 * Returns the key length, or -ENAMETOOLONG if `cap` is too small. */
int layout_block_key(char *buf, size_t cap, const char *uuid, uint64_t id,
                     uint32_t index, uint32_t len);
/* Parse a key made by layout_block_key (used by gc and the cache).
 * Returns 0 or -EINVAL. `uuid` may be NULL to skip checking it. */
int layout_parse_key(const char *key, const char *uuid, uint64_t *id,
                     uint32_t *index, uint32_t *len);

/* Flatten a chunk's slice list (oldest first) into the visible extents that
 * intersect [from, from+len), in chunk order, holes included.
 * Returns the number of extents written, or -ENOSPC if `cap` is too small,
 * or -EINVAL for a slice that does not fit in a chunk. */
int layout_resolve(const struct layout_slice *slices, int nslices,
                   uint32_t from, uint32_t len,
                   struct layout_extent *out, int cap);

/* Parse "4M", "64k", "1G", "100G", "512" (bytes) into *out. Binary units
 * (K = 1024). Returns 0 or -EINVAL (also on overflow). */
int layout_parse_size(const char *s, uint64_t *out);
/* Format a size for humans ("1.5 MiB") into buf. */
const char *layout_format_size(uint64_t n, char *buf, size_t cap);

#endif

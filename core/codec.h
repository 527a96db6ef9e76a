/* codec.h - how one block is framed, compressed and checked on the store.
 *
 * A stored block is a 32-byte header followed by the payload:
 *   magic "SHMB" | u8 version(1) | u8 algo | u16 reserved(0)
 *   u32 raw_len | u32 payload_len | u64 xxh3_64(raw bytes)
 *   | u64 xxh3_64(payload, seed = xxh3_64(header bytes 0..23))
 * all little endian. algo 0 = stored as is, 1 = zstd. Every decode verifies
 * the frame checksum (header and payload) and, for a compressed block, the
 * raw checksum of what decompressed (a stored block's raw bytes are the
 * payload the frame checksum covered), so a corrupt or truncated object can
 * never come back as wrong bytes: decode answers -EIO instead.
 * Preconditions (asserted): pointers are non-NULL, except a buffer whose
 * length is 0 (and `sum` where said).
 */
#ifndef SHIMFS_CODEC_H
#define SHIMFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CODEC_HEADER_SIZE 32
enum codec_algo { CODEC_NONE = 0, CODEC_ZSTD = 1 };

/* Parse "zstd", "zstd:3", "none" into algo and level. 0 or -EINVAL. */
int codec_parse(const char *spec, int *algo, int *level);
const char *codec_name(int algo);

/* Worst-case encoded size of raw_len bytes. */
size_t codec_bound(size_t raw_len);
/* Encode; falls back to CODEC_NONE when compression does not shrink the
 * block. Returns the encoded length (> 0) or a negative errno. */
long codec_encode(int algo, int level, const void *raw, size_t raw_len,
                  void *out, size_t out_cap);
/* Decode and verify. `expect_len` is the block length named in the key
 * (the caller knows it); a mismatch is corruption. Returns raw length or
 * -EIO (corrupt, truncated, wrong length), -ENOMEM. */
long codec_decode(const void *in, size_t in_len, void *raw, size_t expect_len);
/* codec_decode that also reports the raw bytes' XXH3-64 (verified against
 * the header) in *sum (NULL: not wanted). A block stored as is decodes in
 * place, without a copy, when raw == in + CODEC_HEADER_SIZE; a compressed
 * payload must not overlap raw (-EINVAL). */
long codec_decode_sum(const void *in, size_t in_len, void *raw, size_t expect_len, uint64_t *sum);
/* The algo byte of an encoded block, from its header alone (not verified:
 * only to choose where to decode), or -EIO. */
int codec_algo_of(const void *in, size_t in_len);

uint64_t codec_checksum(const void *p, size_t n);

#endif

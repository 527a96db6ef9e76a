/* codec.c - block framing, zstd compression and XXH3 checksums.
 *
 * The header carries the raw length and a checksum of the raw bytes, and a
 * checksum of itself and the stored payload, so every kind of damage (flipped bit, truncation,
 * a block stored under the wrong key) is caught at decode and reported as
 * -EIO. Compression that does not pay is skipped per block.
 */
#include "codec.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

static const unsigned char codec_magic[4] = { 'S', 'H', 'M', 'B' };

struct codec_header {
    uint8_t algo;
    uint32_t raw_len, payload_len;
    uint64_t raw_sum;
};

static void codec_put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void codec_put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t codec_get32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static uint64_t codec_get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

uint64_t codec_checksum(const void *p, size_t n) { return XXH3_64bits(p, n); }

int codec_parse(const char *spec, int *algo, int *level)
{
    assert(algo && level);
    if (!spec)
        return -EINVAL;
    if (strcmp(spec, "none") == 0) {
        *algo = CODEC_NONE;
        *level = 0;
        return 0;
    }
    if (strncmp(spec, "zstd", 4) != 0)
        return -EINVAL;
    int lv = 1;
    if (spec[4] == ':') {
        char *end;
        long v = strtol(spec + 5, &end, 10);
        if (end == spec + 5 || *end || v < 1 || v > ZSTD_maxCLevel())
            return -EINVAL;
        lv = (int)v;
    } else if (spec[4]) {
        return -EINVAL;
    }
    *algo = CODEC_ZSTD;
    *level = lv;
    return 0;
}

const char *codec_name(int algo) { return algo == CODEC_ZSTD ? "zstd" : "none"; }

size_t codec_bound(size_t raw_len) { return CODEC_HEADER_SIZE + ZSTD_compressBound(raw_len); }

/* Covers the header and the stored payload, so damage that the
 * decompressor would ignore (an unused frame bit) is still caught. */
static uint64_t codec_frame_sum(const unsigned char *hdr, const unsigned char *payload, size_t n)
{
    return XXH3_64bits_withSeed(payload, n, XXH3_64bits(hdr, 24));
}

static void codec_write_header(unsigned char *out, const struct codec_header *h)
{
    memcpy(out, codec_magic, 4);
    out[4] = 1;
    out[5] = h->algo;
    out[6] = out[7] = 0;
    codec_put32(out + 8, h->raw_len);
    codec_put32(out + 12, h->payload_len);
    codec_put64(out + 16, h->raw_sum);
    codec_put64(out + 24, codec_frame_sum(out, out + CODEC_HEADER_SIZE, h->payload_len));
}

/* One compression context per thread: creating one per block costs more
 * than compressing a small block. Host programs start and end threads
 * freely (DataLoader workers), so the contexts are freed at thread exit. */
static pthread_key_t codec_key;
static pthread_once_t codec_key_once = PTHREAD_ONCE_INIT;
static __thread ZSTD_CCtx *codec_tls_c;
static __thread ZSTD_DCtx *codec_tls_d;

struct codec_ctxs { ZSTD_CCtx *c; ZSTD_DCtx *d; };

static void codec_free_ctxs(void *p)
{
    struct codec_ctxs *x = p;
    ZSTD_freeCCtx(x->c);
    ZSTD_freeDCtx(x->d);
    free(x);
}

static void codec_make_key(void) { (void)pthread_key_create(&codec_key, codec_free_ctxs); }

static struct codec_ctxs *codec_tls(void)
{
    pthread_once(&codec_key_once, codec_make_key);
    struct codec_ctxs *x = pthread_getspecific(codec_key);
    if (!x) {
        x = calloc(1, sizeof *x);
        if (x)
            (void)pthread_setspecific(codec_key, x);
    }
    return x;
}

static ZSTD_CCtx *codec_cctx(void)
{
    if (!codec_tls_c) {
        struct codec_ctxs *x = codec_tls();
        if (x && !x->c)
            x->c = ZSTD_createCCtx();
        codec_tls_c = x ? x->c : NULL;
    }
    return codec_tls_c;
}

static ZSTD_DCtx *codec_dctx(void)
{
    if (!codec_tls_d) {
        struct codec_ctxs *x = codec_tls();
        if (x && !x->d)
            x->d = ZSTD_createDCtx();
        codec_tls_d = x ? x->d : NULL;
    }
    return codec_tls_d;
}

long codec_encode(int algo, int level, const void *raw, size_t raw_len,
                  void *out, size_t out_cap)
{
    assert(out && (raw || raw_len == 0));
    if (raw_len > UINT32_MAX || out_cap < CODEC_HEADER_SIZE)
        return -EINVAL;
    unsigned char *o = out;
    struct codec_header h = { CODEC_NONE, (uint32_t)raw_len, (uint32_t)raw_len,
                              XXH3_64bits(raw, raw_len) };
    size_t room = out_cap - CODEC_HEADER_SIZE;
    if (algo == CODEC_ZSTD && raw_len > 0) {
        ZSTD_CCtx *cctx = codec_cctx();
        if (!cctx)
            return -ENOMEM;
        size_t n = ZSTD_compressCCtx(cctx, o + CODEC_HEADER_SIZE, room, raw, raw_len, level);
        if (!ZSTD_isError(n) && n < raw_len) {
            h.algo = CODEC_ZSTD;
            h.payload_len = (uint32_t)n;
        }
    }
    if (h.algo == CODEC_NONE) {
        if (room < raw_len)
            return -ENOSPC;
        memcpy(o + CODEC_HEADER_SIZE, raw, raw_len);
    }
    codec_write_header(o, &h);
    return (long)(CODEC_HEADER_SIZE + h.payload_len);
}

static int codec_read_header(const unsigned char *in, size_t in_len, struct codec_header *h)
{
    if (in_len < CODEC_HEADER_SIZE || memcmp(in, codec_magic, 4) != 0 || in[4] != 1)
        return -EIO;
    h->algo = in[5];
    h->raw_len = codec_get32(in + 8);
    h->payload_len = codec_get32(in + 12);
    h->raw_sum = codec_get64(in + 16);
    if ((size_t)h->payload_len != in_len - CODEC_HEADER_SIZE)
        return -EIO;
    if (codec_get64(in + 24) != codec_frame_sum(in, in + CODEC_HEADER_SIZE, h->payload_len))
        return -EIO;
    return 0;
}

int codec_algo_of(const void *in, size_t in_len)
{
    const unsigned char *p = in;
    assert(in || in_len == 0);
    if (in_len < CODEC_HEADER_SIZE || memcmp(p, codec_magic, 4) != 0 || p[4] != 1)
        return -EIO;
    return p[5];
}

long codec_decode_sum(const void *in, size_t in_len, void *raw, size_t expect_len, uint64_t *sum)
{
    const unsigned char *p = in;
    struct codec_header h;
    assert((in || in_len == 0) && (raw || expect_len == 0));
    if (codec_read_header(p, in_len, &h) < 0 || h.raw_len != expect_len)
        return -EIO;
    const unsigned char *payload = p + CODEC_HEADER_SIZE;
    if (h.algo == CODEC_NONE) {
        if (h.payload_len != h.raw_len)
            return -EIO;
        if ((const unsigned char *)raw != payload) /* in place: the bytes are already there */
            memcpy(raw, payload, h.raw_len);
    } else if (h.algo == CODEC_ZSTD) {
        const unsigned char *r = raw;
        if (r < payload + h.payload_len && payload < r + expect_len)
            return -EINVAL;    /* zstd cannot decode over its own input */
        ZSTD_DCtx *dctx = codec_dctx();
        if (!dctx)
            return -ENOMEM;
        size_t n = ZSTD_decompressDCtx(dctx, raw, expect_len, payload, h.payload_len);
        if (ZSTD_isError(n) || n != h.raw_len)
            return -EIO;
    } else {
        return -EIO;
    }
    /* A stored block's raw bytes are its payload, which the frame checksum
     * (seeded by the header, raw_sum included) has just verified: hashing
     * them again was a second pass over every block a cold read fetches. */
    if (h.algo != CODEC_NONE && XXH3_64bits(raw, h.raw_len) != h.raw_sum)
        return -EIO;
    if (sum)
        *sum = h.raw_sum;
    return (long)h.raw_len;
}

long codec_decode(const void *in, size_t in_len, void *raw, size_t expect_len)
{
    return codec_decode_sum(in, in_len, raw, expect_len, NULL);
}

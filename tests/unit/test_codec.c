/* test_codec.c - block framing round trips and corruption detection
 * (core/codec.c): every damaged or truncated block must decode to -EIO. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static unsigned char *make_data(size_t n, int compressible)
{
    unsigned char *p = malloc(n ? n : 1);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = compressible ? (unsigned char)("shimfs block "[i % 13]) : (unsigned char)x;
    }
    return p;
}

static void roundtrip(int algo, size_t n, int compressible)
{
    unsigned char *raw = make_data(n, compressible);
    size_t cap = codec_bound(n);
    unsigned char *enc = malloc(cap), *dec = malloc(n ? n : 1);
    long e = codec_encode(algo, 1, raw, n, enc, cap);
    ck_assert_int_ge(e, CODEC_HEADER_SIZE);
    if (algo == CODEC_ZSTD && compressible && n > 1000)
        ck_assert_int_lt(e, (long)n / 4);
    if (!compressible)
        ck_assert_int_eq(e, (long)(n + CODEC_HEADER_SIZE)); /* incompressible: stored */
    ck_assert_int_eq(codec_decode(enc, (size_t)e, dec, n), (long)n);
    ck_assert(memcmp(raw, dec, n) == 0);
    free(raw); free(enc); free(dec);
}

START_TEST(test_roundtrips)
{
    size_t sizes[] = { 0, 1, 13, 4096, 131072, 4u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        roundtrip(CODEC_ZSTD, sizes[i], 1);
        roundtrip(CODEC_ZSTD, sizes[i], 0);
        roundtrip(CODEC_NONE, sizes[i], 1);
    }
}
END_TEST

START_TEST(test_corruption)
{
    const size_t n = 65536;
    unsigned char *raw = make_data(n, 1), *dec = malloc(n);
    size_t cap = codec_bound(n);
    unsigned char *enc = malloc(cap);
    long e = codec_encode(CODEC_ZSTD, 1, raw, n, enc, cap);
    ck_assert_int_gt(e, 0);
    /* flip one bit at many positions: header and payload */
    for (long pos = 0; pos < e; pos += (pos < 40 ? 1 : 97)) {
        enc[pos] ^= 0x10;
        ck_assert_msg(codec_decode(enc, (size_t)e, dec, n) == -EIO, "flip at %ld not caught", pos);
        enc[pos] ^= 0x10;
    }
    ck_assert_int_eq(codec_decode(enc, (size_t)e - 1, dec, n), -EIO);    /* truncated */
    ck_assert_int_eq(codec_decode(enc, 10, dec, n), -EIO);               /* shorter than a header */
    ck_assert_int_eq(codec_decode(enc, (size_t)e, dec, n - 1), -EIO);    /* wrong length in key */
    ck_assert_int_eq(codec_decode(enc, (size_t)e, dec, n), (long)n);
    free(raw); free(enc); free(dec);
}
END_TEST

/* codec_decode_sum: a stored block decodes where it lies (no copy) and
 * reports the verified raw checksum; damage is still caught in place; a
 * compressed payload never decodes over itself. */
START_TEST(test_decode_in_place)
{
    const size_t n = 200000;
    unsigned char *raw = make_data(n, 0);
    size_t cap = codec_bound(n);
    unsigned char *enc = malloc(cap);
    long e = codec_encode(CODEC_ZSTD, 1, raw, n, enc, cap);   /* incompressible: stored */
    ck_assert_int_eq(codec_algo_of(enc, (size_t)e), CODEC_NONE);
    uint64_t sum = 0;
    ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, enc + CODEC_HEADER_SIZE, n, &sum), (long)n);
    ck_assert(memcmp(enc + CODEC_HEADER_SIZE, raw, n) == 0);
    ck_assert_uint_eq(sum, codec_checksum(raw, n));
    enc[CODEC_HEADER_SIZE + n / 2] ^= 4;
    ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, enc + CODEC_HEADER_SIZE, n, &sum), -EIO);
    free(raw);

    raw = make_data(n, 1);
    e = codec_encode(CODEC_ZSTD, 1, raw, n, enc, cap);
    ck_assert_int_eq(codec_algo_of(enc, (size_t)e), CODEC_ZSTD);
    ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, enc, n, &sum), -EINVAL);
    unsigned char *dec = malloc(n);
    ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, dec, n, &sum), (long)n);
    ck_assert_uint_eq(sum, codec_checksum(raw, n));
    ck_assert_int_eq(codec_algo_of(enc, 10), -EIO);
    free(raw); free(enc); free(dec);
}
END_TEST

START_TEST(test_stored_corruption)
{
    const size_t n = 4096;
    unsigned char *raw = make_data(n, 0), *dec = malloc(n);
    unsigned char *enc = malloc(codec_bound(n));
    long e = codec_encode(CODEC_NONE, 0, raw, n, enc, codec_bound(n));
    enc[CODEC_HEADER_SIZE + 100] ^= 1;
    ck_assert_int_eq(codec_decode(enc, (size_t)e, dec, n), -EIO);
    enc[CODEC_HEADER_SIZE + 100] ^= 1;
    uint64_t sum = 0;
    ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, dec, n, &sum), (long)n);
    ck_assert_uint_eq(sum, codec_checksum(raw, n));
    /* the raw checksum of a stored block is trusted only through the frame
     * checksum it seeds: a flipped bit in it is caught */
    for (int bit = 0; bit < 64; bit += 7) {
        enc[16 + bit / 8] ^= (unsigned char)(1u << (bit % 8));
        ck_assert_int_eq(codec_decode_sum(enc, (size_t)e, dec, n, &sum), -EIO);
        enc[16 + bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    free(raw); free(enc); free(dec);
}
END_TEST

START_TEST(test_parse)
{
    int algo, level;
    ck_assert_int_eq(codec_parse("zstd", &algo, &level), 0);
    ck_assert_int_eq(algo, CODEC_ZSTD);
    ck_assert_int_eq(level, 1);
    ck_assert_int_eq(codec_parse("zstd:7", &algo, &level), 0);
    ck_assert_int_eq(level, 7);
    ck_assert_int_eq(codec_parse("none", &algo, &level), 0);
    ck_assert_int_eq(algo, CODEC_NONE);
    static const char *bad[] = { "gzip", "zstd:", "zstd:0", "zstd:99", "zstdx", "", NULL };
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(codec_parse(bad[i], &algo, &level) == -EINVAL, "accepted %s", bad[i]);
    ck_assert_str_eq(codec_name(CODEC_ZSTD), "zstd");
    ck_assert_uint_ne(codec_checksum("a", 1), codec_checksum("b", 1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrips);
    tcase_add_test(tc, test_corruption);
    tcase_add_test(tc, test_stored_corruption);
    tcase_add_test(tc, test_decode_in_place);
    tcase_add_test(tc, test_parse);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* test_layout.c - chunk/block arithmetic, key naming, slice resolution and
 * size parsing (core/layout.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

START_TEST(test_chunk_math)
{
    ck_assert_uint_eq(layout_chunk_index(0), 0);
    ck_assert_uint_eq(layout_chunk_index(LAYOUT_CHUNK_SIZE - 1), 0);
    ck_assert_uint_eq(layout_chunk_index(LAYOUT_CHUNK_SIZE), 1);
    ck_assert_uint_eq(layout_chunk_offset(LAYOUT_CHUNK_SIZE + 5), 5);
    ck_assert_uint_eq(layout_chunk_index(UINT64_C(1) << 40), UINT64_C(1) << 14);
}
END_TEST

START_TEST(test_block_math)
{
    const uint32_t bs = 4u << 20;
    ck_assert_uint_eq(layout_block_count(0, bs), 0);
    ck_assert_uint_eq(layout_block_count(1, bs), 1);
    ck_assert_uint_eq(layout_block_count(bs, bs), 1);
    ck_assert_uint_eq(layout_block_count(bs + 1, bs), 2);
    ck_assert_uint_eq(layout_block_count(LAYOUT_CHUNK_SIZE, bs), 16);
    ck_assert_uint_eq(layout_block_len(bs + 1, bs, 0), bs);
    ck_assert_uint_eq(layout_block_len(bs + 1, bs, 1), 1);
    ck_assert_uint_eq(layout_block_len(bs + 1, bs, 2), 0);
    ck_assert_uint_eq(layout_block_len(100, bs, 0), 100);
    ck_assert_uint_eq(layout_block_count(5, 0), 0);
}
END_TEST

START_TEST(test_key_roundtrip)
{
    char key[LAYOUT_KEY_MAX];
    const char *uuid = "0b7c2f0e-7d1a-4c61-9a51-2b8e6f0f3c11";
    int n = layout_block_key(key, sizeof key, uuid, 12345678, 3, 4194304);
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(key, "0b7c2f0e-7d1a-4c61-9a51-2b8e6f0f3c11/chunks/12/12345/12345678_3_4194304");
    uint64_t id;
    uint32_t ix, len;
    ck_assert_int_eq(layout_parse_key(key, uuid, &id, &ix, &len), 0);
    ck_assert_uint_eq(id, 12345678);
    ck_assert_uint_eq(ix, 3);
    ck_assert_uint_eq(len, 4194304);
    ck_assert_int_eq(layout_parse_key(key, "other", &id, &ix, &len), -EINVAL);
    ck_assert_int_eq(layout_parse_key("u/chunks/0/0/5_1", NULL, &id, &ix, &len), -EINVAL);
    ck_assert_int_eq(layout_parse_key("u/chunks/1/0/5_1_2", NULL, &id, &ix, &len), -EINVAL);
    ck_assert_int_eq(layout_parse_key("u/chunks/0/0/5_1_2x", NULL, &id, &ix, &len), -EINVAL);
    ck_assert_int_eq(layout_block_key(key, 10, uuid, 1, 0, 1), -ENAMETOOLONG);
}
END_TEST

/* An inline slice's id (bit 62 on a reserved id) makes a key that parses
 * back to the same id, distinct from the plain id's: the cache and the
 * single flight key blocks by it, and volume.c routes by it. */
START_TEST(test_inline_id_key)
{
    const char *uuid = "0b7c2f0e-7d1a-4c61-9a51-2b8e6f0f3c11";
    uint64_t plain = 4242, inl = plain | LAYOUT_INLINE_BIT;
    ck_assert(!layout_is_inline(plain));
    ck_assert(layout_is_inline(inl));
    ck_assert(!layout_is_inline(0));
    ck_assert(inl <= (uint64_t)INT64_MAX); /* fits the bigint columns */
    char a[LAYOUT_KEY_MAX], b[LAYOUT_KEY_MAX];
    ck_assert_int_gt(layout_block_key(a, sizeof a, uuid, plain, 0, 4096), 0);
    ck_assert_int_gt(layout_block_key(b, sizeof b, uuid, inl, 0, 4096), 0);
    ck_assert_str_ne(a, b);
    uint64_t id;
    uint32_t ix, len;
    ck_assert_int_eq(layout_parse_key(b, uuid, &id, &ix, &len), 0);
    ck_assert_uint_eq(id, inl);
    ck_assert(layout_is_inline(id));
    ck_assert_uint_eq(len, 4096);
}
END_TEST

/* Reference model: paint every byte, compare with the resolver. */
static void check_against_model(const struct layout_slice *s, int n, uint32_t from, uint32_t len)
{
    struct layout_extent ext[64];
    int m = layout_resolve(s, n, from, len, ext, 64);
    ck_assert_int_ge(m, 0);
    uint32_t pos = from;
    for (int i = 0; i < m; i++) {
        ck_assert_uint_eq(ext[i].pos, pos);
        ck_assert_uint_gt(ext[i].len, 0);
        for (uint32_t b = ext[i].pos; b < ext[i].pos + ext[i].len; b += 1) {
            int owner = -1;
            for (int k = 0; k < n; k++)
                if (b >= s[k].pos && b < s[k].pos + s[k].len)
                    owner = k;
            if (owner < 0 || s[owner].id == 0) {
                ck_assert_uint_eq(ext[i].id, 0);
            } else {
                ck_assert_uint_eq(ext[i].id, s[owner].id);
                ck_assert_uint_eq(ext[i].off + (b - ext[i].pos), s[owner].off + (b - s[owner].pos));
            }
        }
        pos += ext[i].len;
    }
    ck_assert_uint_eq(pos, from + len);
}

START_TEST(test_resolve_cases)
{
    struct layout_slice one[] = { { 0, 7, 100, 0, 100 } };
    check_against_model(one, 1, 0, 100);
    check_against_model(one, 1, 50, 100);    /* past the slice: hole */
    struct layout_slice over[] = {
        { 0, 1, 1000, 0, 1000 }, { 100, 2, 50, 0, 50 }, { 120, 3, 500, 10, 300 }, { 0, 0, 0, 0, 10 },
    };
    check_against_model(over, 4, 0, 1000);
    check_against_model(over, 4, 5, 200);
    check_against_model(over, 4, 999, 1);
    struct layout_extent ext[2];
    ck_assert_int_eq(layout_resolve(over, 4, 0, 1000, ext, 2), -ENOSPC);
    struct layout_slice bad[] = { { 0, 1, 10, 5, 10 } };
    ck_assert_int_eq(layout_resolve(bad, 1, 0, 10, ext, 2), -EINVAL);
    ck_assert_int_eq(layout_resolve(one, 1, LAYOUT_CHUNK_SIZE - 1, 2, ext, 2), -EINVAL);
    ck_assert_int_eq(layout_resolve(one, 1, 0, 0, ext, 2), 0);
}
END_TEST

START_TEST(test_resolve_random)
{
    srand(1234);
    for (int round = 0; round < 300; round++) {
        struct layout_slice s[8];
        int n = 1 + rand() % 8;
        for (int i = 0; i < n; i++) {
            uint32_t size = 1 + (uint32_t)(rand() % 400);
            uint32_t off = (uint32_t)(rand() % size);
            uint32_t len = 1 + (uint32_t)(rand() % (size - off));
            s[i] = (struct layout_slice){ (uint32_t)(rand() % 500), (uint64_t)(rand() % 5 ? i + 1 : 0),
                                          size, off, len };
        }
        uint32_t from = (uint32_t)(rand() % 600);
        check_against_model(s, n, from, 1 + (uint32_t)(rand() % 600));
    }
}
END_TEST

START_TEST(test_parse_size)
{
    static const struct { const char *in; uint64_t out; } good[] = {
        { "512", 512 }, { "4M", 4u << 20 }, { "64k", 64u << 10 }, { "1G", 1u << 30 },
        { "100G", UINT64_C(100) << 30 }, { "2MiB", 2u << 20 }, { "3GB", UINT64_C(3) << 30 },
        { "1T", UINT64_C(1) << 40 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 0;
        ck_assert_int_eq(layout_parse_size(good[i].in, &v), 0);
        ck_assert_uint_eq(v, good[i].out);
    }
    static const char *bad[] = { "", "M", "-1", "4X", "4MM", "1.5G", "99999999999999999999", "20000000P", NULL };
    for (int i = 0; bad[i]; i++) {
        uint64_t v;
        ck_assert_msg(layout_parse_size(bad[i], &v) == -EINVAL, "accepted %s", bad[i]);
    }
    ck_assert_int_eq(layout_parse_size(NULL, &(uint64_t){0}), -EINVAL);
    char buf[32];
    ck_assert_str_eq(layout_format_size(1536, buf, sizeof buf), "1.5 KiB");
    ck_assert_str_eq(layout_format_size(7, buf, sizeof buf), "7 B");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_chunk_math);
    tcase_add_test(tc, test_block_math);
    tcase_add_test(tc, test_key_roundtrip);
    tcase_add_test(tc, test_inline_id_key);
    tcase_add_test(tc, test_resolve_cases);
    tcase_add_test(tc, test_resolve_random);
    tcase_add_test(tc, test_parse_size);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

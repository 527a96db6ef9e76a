/* test_config.c - environment parsing and prefix normalisation
 * (core/config.c): defaults, good values, and bad values falling back. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

START_TEST(test_defaults)
{
    static const char *vars[] = { "SHIMFS_META", "SHIMFS_PREFIX", "SHIMFS_CACHE_DIR", "SHIMFS_CACHE_SIZE",
                                  "SHIMFS_ATTR_TTL", "SHIMFS_READ_ONLY", "SHIMFS_PREFETCH", NULL };
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    struct shimfs_config c;
    config_load(&c);
    ck_assert_str_eq(c.prefix, "/mnt/shimfs");
    ck_assert_uint_eq(c.prefix_len, strlen("/mnt/shimfs"));
    ck_assert_str_eq(c.meta, "");
    ck_assert_uint_eq(c.cache_size, UINT64_C(100) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 1000000000);
    ck_assert_int_eq(c.read_only, 0);
    ck_assert_int_eq(c.uring, 1);
    /* one cache folder per user: another user's folder is never shared */
    char want[64];
    snprintf(want, sizeof want, "/var/tmp/shimfs-%u", (unsigned)geteuid());
    ck_assert_str_eq(c.cache_dir, want);
}
END_TEST

START_TEST(test_values)
{
    setenv("SHIMFS_PREFIX", "//mnt//data/./", 1);
    setenv("SHIMFS_CACHE_SIZE", "20G", 1);
    setenv("SHIMFS_ATTR_TTL", "0.25", 1);
    setenv("SHIMFS_READ_ONLY", "1", 1);
    setenv("SHIMFS_PREFETCH", "32", 1);
    setenv("SHIMFS_META", "postgresql://u@127.0.0.1/db", 1);
    struct shimfs_config c;
    config_load(&c);
    ck_assert_str_eq(c.prefix, "/mnt/data");
    ck_assert_uint_eq(c.cache_size, UINT64_C(20) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 250000000);
    ck_assert_int_eq(c.read_only, 1);
    ck_assert_int_eq(c.prefetch, 32);
    ck_assert_str_eq(c.meta, "postgresql://u@127.0.0.1/db");
}
END_TEST

START_TEST(test_bad_values_keep_defaults)
{
    setenv("SHIMFS_LOG", "error", 1); /* the warnings are expected here */
    setenv("SHIMFS_PREFIX", "relative/path", 1);
    setenv("SHIMFS_CACHE_SIZE", "lots", 1);
    setenv("SHIMFS_ATTR_TTL", "-3", 1);
    setenv("SHIMFS_PREFETCH", "99999", 1);
    struct shimfs_config c;
    config_load(&c);
    ck_assert_str_eq(c.prefix, "/mnt/shimfs");
    ck_assert_uint_eq(c.cache_size, UINT64_C(100) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 1000000000);
    ck_assert_int_eq(c.prefetch, 32);
}
END_TEST

/* Sessions and compaction: defaults, values, a timeout below 1 s raised
 * to 1 s, junk keeping the defaults. */
START_TEST(test_session_settings)
{
    setenv("SHIMFS_LOG", "error", 1);
    unsetenv("SHIMFS_SESSION_TIMEOUT");
    unsetenv("SHIMFS_COMPACT_SLICES");
    struct shimfs_config c;
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 60000000000LL);
    ck_assert_int_eq(c.compact_slices, 32);
    setenv("SHIMFS_SESSION_TIMEOUT", "2.5", 1);
    setenv("SHIMFS_COMPACT_SLICES", "0", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 2500000000LL);
    ck_assert_int_eq(c.compact_slices, 0);
    setenv("SHIMFS_SESSION_TIMEOUT", "0.1", 1);
    setenv("SHIMFS_COMPACT_SLICES", "-4", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 1000000000LL);
    ck_assert_int_eq(c.compact_slices, 32);
    setenv("SHIMFS_SESSION_TIMEOUT", "soon", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 60000000000LL);
    unsetenv("SHIMFS_SESSION_TIMEOUT");
    unsetenv("SHIMFS_COMPACT_SLICES");
}
END_TEST

/* The bounds of a call against a hung server (issue 14): seconds with a
 * fraction, kept in ms; nonsense and zero keep the default. */
START_TEST(test_timeouts)
{
    unsetenv("SHIMFS_META_TIMEOUT");
    unsetenv("SHIMFS_S3_TIMEOUT");
    struct shimfs_config c;
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 30000);
    ck_assert_int_eq(c.s3_timeout_ms, 60000);
    setenv("SHIMFS_META_TIMEOUT", "2.5", 1);
    setenv("SHIMFS_S3_TIMEOUT", "3", 1);
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 2500);
    ck_assert_int_eq(c.s3_timeout_ms, 3000);
    setenv("SHIMFS_LOG", "error", 1); /* the warnings are expected here */
    setenv("SHIMFS_META_TIMEOUT", "0", 1);
    setenv("SHIMFS_S3_TIMEOUT", "soon", 1);
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 30000);
    ck_assert_int_eq(c.s3_timeout_ms, 60000);
    unsetenv("SHIMFS_META_TIMEOUT");
    unsetenv("SHIMFS_S3_TIMEOUT");
}
END_TEST

START_TEST(test_normalize_prefix)
{
    char out[64];
    ck_assert_int_eq(config_normalize_prefix("/a/b/", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a/b");
    ck_assert_int_eq(config_normalize_prefix("/a/./b//c", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a/b/c");
    ck_assert_int_eq(config_normalize_prefix("/", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("/a/../b", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("a", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("/abcdefgh", out, 5), -EINVAL);
    int64_t ns;
    ck_assert_int_eq(config_parse_seconds("1.5", &ns), 0);
    ck_assert_int_eq(ns, 1500000000);
    ck_assert_int_eq(config_parse_seconds("x", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("", &ns), -EINVAL);
    /* found by tests/fuzz/fuzz_config: NaN passed both range checks and
     * was converted to an integer (undefined; garbage TTLs) */
    ns = 7;
    ck_assert_int_eq(config_parse_seconds("nan", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("-nan", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("inf", &ns), -EINVAL);
    ck_assert_int_eq(ns, 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_bad_values_keep_defaults);
    tcase_add_test(tc, test_normalize_prefix);
    tcase_add_test(tc, test_session_settings);
    tcase_add_test(tc, test_timeouts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

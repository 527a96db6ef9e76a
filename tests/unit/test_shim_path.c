/* test_shim_path.c - the shim's pure path arithmetic (shim/shim_path.c,
 * compiled in directly): prefix normalisation, inside/outside
 * classification (literal and lexical), joins, ".." detection, ancestors,
 * descriptor aliases. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "../../shim/shim_path.c"

#define PFX "/mnt/shimfs"
#define PLEN (sizeof PFX - 1)

/* classify abs against PFX; returns the result, vpath in out */
static int classify(const char *abs, char *out)
{
    out[0] = '\0';
    return shim_path_classify(PFX, PLEN, abs, out, 4096);
}

START_TEST(test_prefix)
{
    char out[4096];
    ck_assert_int_eq(shim_path_prefix("/mnt/shimfs", out, sizeof out), 0);
    ck_assert_str_eq(out, "/mnt/shimfs");
    ck_assert_int_eq(shim_path_prefix("//mnt//./data/", out, sizeof out), 0);
    ck_assert_str_eq(out, "/mnt/data");
    ck_assert_int_eq(shim_path_prefix("/", out, sizeof out), -EINVAL);
    ck_assert_int_eq(shim_path_prefix("//./", out, sizeof out), -EINVAL);
    ck_assert_int_eq(shim_path_prefix("mnt/x", out, sizeof out), -EINVAL);
    ck_assert_int_eq(shim_path_prefix("/mnt/../x", out, sizeof out), -EINVAL);
    ck_assert_int_eq(shim_path_prefix("", out, sizeof out), -EINVAL);
    ck_assert_int_eq(shim_path_prefix("/abcdefgh", out, 5), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_normalize)
{
    char out[4096];
    ck_assert_int_eq(shim_path_normalize("/a/./b//c/../d/", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a/b/d");
    ck_assert_int_eq(shim_path_normalize("/../..", out, sizeof out), 0);
    ck_assert_str_eq(out, "/");
    ck_assert_int_eq(shim_path_normalize("/", out, sizeof out), 0);
    ck_assert_str_eq(out, "/");
    ck_assert_int_eq(shim_path_normalize("rel", out, sizeof out), -EINVAL);
}
END_TEST

START_TEST(test_classify_literal)
{
    char v[4096];
    ck_assert_int_eq(classify("/mnt/shimfs", v), 1);
    ck_assert_str_eq(v, "/");
    ck_assert_int_eq(classify("/mnt/shimfs/", v), 1);
    ck_assert_str_eq(v, "/");
    ck_assert_int_eq(classify("/mnt/shimfs/a/b c/é", v), 1);
    ck_assert_str_eq(v, "/a/b c/é");
    ck_assert_int_eq(classify("/mnt/shimfs//a", v), 1);
    ck_assert_str_eq(v, "/a");
    /* ".." inside goes to the engine raw: it resolves symlinks first */
    ck_assert_int_eq(classify("/mnt/shimfs/a/../../etc", v), 1);
    ck_assert_str_eq(v, "/a/../../etc");
    ck_assert_int_eq(classify("/mnt/shimfsx", v), 0);
    ck_assert_int_eq(classify("/mnt/shim", v), 0);
    ck_assert_int_eq(classify("/mnt", v), 0);
    ck_assert_int_eq(classify("/usr/lib/x", v), 0);
    ck_assert_int_eq(classify("/", v), 0);
}
END_TEST

START_TEST(test_classify_lexical)
{
    char v[4096];
    ck_assert_int_eq(classify("/mnt//shimfs/a", v), 1);
    ck_assert_str_eq(v, "/a");
    ck_assert_int_eq(classify("/mnt/./shimfs", v), 1);
    ck_assert_str_eq(v, "/");
    ck_assert_int_eq(classify("/usr/../mnt/shimfs/x/y", v), 1);
    ck_assert_str_eq(v, "/x/y");
    ck_assert_int_eq(classify("/mnt/other/../shimfs/../shimfs/z", v), 1);
    /* once inside, the rest is raw */
    ck_assert_str_eq(v, "/../shimfs/z");
    ck_assert_int_eq(classify("/mnt/shimfs2/../shimfs/k/./l", v), 1);
    ck_assert_str_eq(v, "/k/./l");
    ck_assert_int_eq(classify("/mnt/shimfs/../x", v), 1); /* literal: the engine escapes */
    ck_assert_int_eq(classify("/mnt/x/../y", v), 0);
    ck_assert_int_eq(classify("/mnt/./shimfsx", v), 0);
    ck_assert_int_eq(classify("/../../..", v), 0);
    ck_assert_int_eq(classify("/.hidden/../mnt/shimfs", v), 1);
    ck_assert_str_eq(v, "/");
}
END_TEST

START_TEST(test_default_marker)
{
    const char *root = "/var/tmp/shimfs-";
    ck_assert_str_eq(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-0/cwd/mnt/data/a/b"), "/a/b");
    ck_assert_str_eq(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-1000/cwd/mnt/data"), "");
    ck_assert_ptr_null(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-/cwd/mnt/data"));
    ck_assert_ptr_null(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-x1/cwd/mnt/data"));
    ck_assert_ptr_null(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-1/cwd/mnt/database"));
    ck_assert_ptr_null(shim_path_default_marker(root, "/mnt/data", 9, "/var/tmp/shimfs-1/x/mnt/data"));
    ck_assert_ptr_null(shim_path_default_marker(root, "/mnt/data", 9, "/mnt/data/a"));
}
END_TEST

START_TEST(test_irregular)
{
    ck_assert_int_eq(shim_path_irregular("/a/b/c"), 0);
    ck_assert_int_eq(shim_path_irregular("/a/.hidden/..x/...y"), 0);
    ck_assert_int_eq(shim_path_irregular("/a//b"), 1);
    ck_assert_int_eq(shim_path_irregular("/a/./b"), 1);
    ck_assert_int_eq(shim_path_irregular("/a/../b"), 1);
    ck_assert_int_eq(shim_path_irregular("/a/."), 1);
    ck_assert_int_eq(shim_path_irregular("/a/.."), 1);
}
END_TEST

START_TEST(test_classify_too_long)
{
    char longp[6000], v[64];
    memset(longp, 'a', sizeof longp);
    memcpy(longp, "/mnt/shimfs/", 12);
    longp[sizeof longp - 1] = '\0';
    ck_assert_int_eq(shim_path_classify(PFX, PLEN, longp, v, sizeof v), -ENAMETOOLONG);
    char dotted[6000];
    memset(dotted, 'b', sizeof dotted);
    memcpy(dotted, "/x/../", 6);
    dotted[sizeof dotted - 1] = '\0';
    ck_assert_int_eq(shim_path_classify(PFX, PLEN, dotted, v, sizeof v), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_join_and_dotdot)
{
    char out[4096];
    ck_assert_int_eq(shim_path_join("/", "a", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a");
    ck_assert_int_eq(shim_path_join("/x/y", "z/w", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/y/z/w");
    ck_assert_int_eq(shim_path_join("/x/", ".", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/.");
    ck_assert_int_eq(shim_path_join("/abc", "def", out, 8), -ENAMETOOLONG);
    ck_assert_int_eq(shim_path_has_dotdot(".."), 1);
    ck_assert_int_eq(shim_path_has_dotdot("a/../b"), 1);
    ck_assert_int_eq(shim_path_has_dotdot("a/.."), 1);
    ck_assert_int_eq(shim_path_has_dotdot("..a/b.."), 0);
    ck_assert_int_eq(shim_path_has_dotdot("a/...b"), 0);
    ck_assert_int_eq(shim_path_has_dotdot("plain"), 0);
}
END_TEST

START_TEST(test_ancestor)
{
    ck_assert_int_eq(shim_path_is_ancestor("/", PFX, PLEN), 1);
    ck_assert_int_eq(shim_path_is_ancestor("/mnt", PFX, PLEN), 1);
    ck_assert_int_eq(shim_path_is_ancestor("/mnt/shimfs", PFX, PLEN), 0);
    ck_assert_int_eq(shim_path_is_ancestor("/mn", PFX, PLEN), 0);
    ck_assert_int_eq(shim_path_is_ancestor("/usr", PFX, PLEN), 0);
    ck_assert_int_eq(shim_path_under(PFX, PLEN, "/mnt/shimfs/q") != NULL, 1);
    ck_assert_int_eq(shim_path_under(PFX, PLEN, "/mnt/shimfsq") == NULL, 1);
}
END_TEST

START_TEST(test_fd_alias)
{
    ck_assert_int_eq(shim_path_fd_alias("/proc/self/fd/7", 42), 7);
    ck_assert_int_eq(shim_path_fd_alias("/proc/thread-self/fd/12", 42), 12);
    ck_assert_int_eq(shim_path_fd_alias("/proc/42/fd/3", 42), 3);
    ck_assert_int_eq(shim_path_fd_alias("/proc/43/fd/3", 42), -1);
    ck_assert_int_eq(shim_path_fd_alias("/dev/fd/0", 42), 0);
    ck_assert_int_eq(shim_path_fd_alias("/dev/stdin", 42), 0);
    ck_assert_int_eq(shim_path_fd_alias("/dev/stderr", 42), 2);
    ck_assert_int_eq(shim_path_fd_alias("/dev/fd/x", 42), -1);
    ck_assert_int_eq(shim_path_fd_alias("/dev/fd/3/y", 42), -1);
    ck_assert_int_eq(shim_path_fd_alias("/proc/self/fdinfo/3", 42), -1);
    ck_assert_int_eq(shim_path_fd_alias("/dev/null", 42), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shim_path");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_classify_literal);
    tcase_add_test(tc, test_classify_lexical);
    tcase_add_test(tc, test_irregular);
    tcase_add_test(tc, test_default_marker);
    tcase_add_test(tc, test_classify_too_long);
    tcase_add_test(tc, test_join_and_dotdot);
    tcase_add_test(tc, test_ancestor);
    tcase_add_test(tc, test_fd_alias);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

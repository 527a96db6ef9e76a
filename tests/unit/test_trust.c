/* test_trust.c - the owner and mode rules of core/trust.c: a missing folder
 * is made 0700 and accepted; an existing folder is refused (-EPERM) when
 * group or others can write it, when it is a symlink to a folder another
 * user owns, when another user owns it (as root: chown to nobody), or when
 * a folder above it can be written by others without the sticky bit; a
 * sticky world-writable parent (/tmp, /var/tmp) is fine; the path is handed
 * back resolved. Sub-folders and files: symlinks and foreign owners are
 * refused, our own are opened. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "trust.h"

static char base[64];   /* short: the paths built on it always fit */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    remove(p);
    return 0;
}

static void setup(void)
{
    snprintf(base, sizeof base, "/tmp/shimfs-ttrust-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base));
}

static void teardown(void) { nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static int open_dir(const char *rel)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    int fd = trust_dir_open(p, sizeof p);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : fd;
}

static void mkdir_mode(const char *rel, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    ck_assert_int_eq(chmod(p, mode), 0);
}

START_TEST(new_folder_is_private)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/a/b/cache", base);
    mode_t old = umask(0);
    int fd = trust_dir_open(p, sizeof p);
    umask(old);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    close(fd);
    snprintf(p, sizeof p, "%s/a", base);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
}
END_TEST

START_TEST(writable_by_others_is_refused)
{
    mkdir_mode("open", 0777);
    ck_assert_int_eq(open_dir("open"), -EPERM);
    mkdir_mode("group", 0770);
    ck_assert_int_eq(open_dir("group"), -EPERM);
    mkdir_mode("readable", 0755);
    ck_assert_int_eq(open_dir("readable"), 0);  /* read is fine: its files are 0600 */
}
END_TEST

START_TEST(parent_writable_without_sticky_is_refused)
{
    mkdir_mode("loose", 0777);
    ck_assert_int_eq(open_dir("loose/cache"), -EPERM);
    mkdir_mode("sticky", 01777);
    ck_assert_int_eq(open_dir("sticky/cache"), 0);
}
END_TEST

START_TEST(symlink_is_resolved_and_checked)
{
    char p[PATH_MAX], t[PATH_MAX];
    mkdir_mode("real", 0700);
    snprintf(t, sizeof t, "%s/real", base);
    snprintf(p, sizeof p, "%s/link", base);
    ck_assert_int_eq(symlink(t, p), 0);
    int fd = trust_dir_open(p, sizeof p);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_str_eq(p, t);        /* later uses by name take the checked path */
    mkdir_mode("open", 0777);
    snprintf(t, sizeof t, "%s/open", base);
    snprintf(p, sizeof p, "%s/link2", base);
    ck_assert_int_eq(symlink(t, p), 0);
    ck_assert_int_eq(trust_dir_open(p, sizeof p), -EPERM);
}
END_TEST

START_TEST(foreign_owner_is_refused)
{
    if (geteuid() != 0) {
        printf("SKIP foreign_owner_is_refused: needs root to chown\n");
        return;
    }
    char p[PATH_MAX];
    mkdir_mode("theirs", 0700);
    snprintf(p, sizeof p, "%s/theirs", base);
    ck_assert_int_eq(chown(p, 65534, 65534), 0);
    ck_assert_int_eq(open_dir("theirs"), -EPERM);
    /* and inside a folder of ours: their file and their folder */
    mkdir_mode("mine", 0700);
    snprintf(p, sizeof p, "%s/mine", base);
    int fd = trust_dir_open(p, sizeof p);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(mkdirat(fd, "sub", 0700), 0);
    ck_assert_int_eq(fchownat(fd, "sub", 65534, 65534, 0), 0);
    ck_assert_int_eq(trust_subdir_open(fd, "sub", 1), -EPERM);
    int f = openat(fd, "file", O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(f, 0);
    ck_assert_int_eq(fchown(f, 65534, 65534), 0);
    close(f);
    ck_assert_int_eq(trust_file_open(fd, "file", O_RDONLY, 0), -EPERM);
    close(fd);
}
END_TEST

START_TEST(links_inside_are_refused)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/c", base);
    int fd = trust_dir_open(p, sizeof p);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(symlinkat("/etc", fd, "blocks"), 0);
    ck_assert_int_eq(trust_subdir_open(fd, "blocks", 1), -EPERM);
    ck_assert_int_eq(symlinkat("/etc/passwd", fd, "lock"), 0);
    ck_assert_int_eq(trust_file_open(fd, "lock", O_RDWR | O_CREAT, 0600), -EPERM);
    int sub = trust_subdir_open(fd, "tmp", 1);
    ck_assert_int_ge(sub, 0);
    close(sub);
    int f = trust_file_open(fd, "stats", O_RDWR | O_CREAT, 0600);
    ck_assert_int_ge(f, 0);
    close(f);
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trust");
    TCase *tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_folder_is_private);
    tcase_add_test(tc, writable_by_others_is_refused);
    tcase_add_test(tc, parent_writable_without_sticky_is_refused);
    tcase_add_test(tc, symlink_is_resolved_and_checked);
    tcase_add_test(tc, foreign_owner_is_refused);
    tcase_add_test(tc, links_inside_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

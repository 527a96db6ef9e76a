/* test_vfs_mcache.c - the process's metadata caches (core/vfs/vfs_mcache.c)
 * say a folder is listed whole only when every entry its fill put is still
 * there: a fill whose entries were dropped midway (another thread's
 * mcache_reset, as a process's first open does after its agent poll) must
 * not make names that exist answer ENOENT. Found by test_shim_read's 16
 * threads under the sanitizers. No volume is opened: no services (the
 * engine's volume pointer is set to a stand-in so the TTLs apply). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vfs_engine.h"
#include "vfs_internal.h"

#define DIR_INO 5
#define NFILES 64

static char fake_volume;

static void setup(void)
{
    vfs_eng.cfg.attr_ttl_ns = vfs_eng.cfg.entry_ttl_ns = vfs_eng.cfg.negative_ttl_ns = 60000000000LL;
    __atomic_store_n(&vfs_eng.vol, (struct volume *)&fake_volume, __ATOMIC_RELEASE);
    mcache_reset();
}

static void teardown(void)
{
    mcache_reset();
    __atomic_store_n(&vfs_eng.vol, NULL, __ATOMIC_RELEASE);
}

static void put_file(int i)
{
    char name[32];
    int n = snprintf(name, sizeof name, "f%d", i);
    struct meta_attr a = { .ino = 100 + (uint64_t)i, .mode = 0100644, .nlink = 1, .parent = DIR_INO };
    mcache_put_entry(DIR_INO, name, (size_t)n, &a);
}

static int lookup_file(int i)
{
    char name[32];
    int n = snprintf(name, sizeof name, "f%d", i);
    struct meta_attr a;
    return mcache_lookup(DIR_INO, name, (size_t)n, &a);
}

/* One fill as vfs_snap does it: the epoch, every entry, then "whole". */
static void fill(void)
{
    uint64_t ep = mcache_fill_epoch();
    for (int i = 0; i < NFILES; i++)
        put_file(i);
    mcache_dir_set_listed_at(DIR_INO, 1, vfs_now_ns(), ep);
}

START_TEST(test_whole_fill_answers_missing_names)
{
    fill();
    ck_assert_int_eq(lookup_file(3), 0);
    ck_assert_int_eq(mcache_lookup(DIR_INO, "nope", 4, &(struct meta_attr){ 0 }), -ENOENT);
    ck_assert(mcache_dir_listed(DIR_INO));
}
END_TEST

/* The entries dropped between the puts and "whole": the folder is not said
 * to be whole, so a name that exists is a miss (asked again), never ENOENT. */
START_TEST(test_fill_interrupted_by_reset_is_not_whole)
{
    uint64_t ep = mcache_fill_epoch();
    for (int i = 0; i < NFILES / 2; i++)
        put_file(i);
    mcache_reset();
    for (int i = NFILES / 2; i < NFILES; i++)
        put_file(i);
    mcache_dir_set_listed_at(DIR_INO, 1, vfs_now_ns(), ep);
    ck_assert_msg(!mcache_dir_listed(DIR_INO), "a fill whose entries were dropped said the folder is whole");
    ck_assert_int_eq(lookup_file(0), MC_MISS);
    ck_assert_int_eq(lookup_file(NFILES - 1), 0);
    /* the next whole fill vouches again */
    fill();
    ck_assert(mcache_dir_listed(DIR_INO));
    ck_assert_int_eq(lookup_file(0), 0);
}
END_TEST

/* Not listed whole (complete 0) needs no epoch: a folder too big to list. */
START_TEST(test_not_whole_ignores_epoch)
{
    mcache_dir_set_listed_at(DIR_INO, 1, vfs_now_ns(), mcache_fill_epoch() + 1);
    ck_assert(!mcache_dir_listed(DIR_INO));
    mcache_dir_set_listed(DIR_INO, 0);
    ck_assert(!mcache_dir_listed(DIR_INO));
    ck_assert_int_eq(lookup_file(1), MC_MISS);
}
END_TEST

static int stop_flag;

static void *resetter(void *arg)
{
    (void)arg;
    for (int k = 0; k < 200000 && !__atomic_load_n(&stop_flag, __ATOMIC_RELAXED); k++)
        mcache_reset();
    return NULL;
}

static void *filler(void *arg)
{
    (void)arg;
    for (int k = 0; k < 20000 && !__atomic_load_n(&stop_flag, __ATOMIC_RELAXED); k++)
        fill();
    return NULL;
}

/* As 16 threads' first opens: fills and resets at once, and a reader of
 * names that exist never told ENOENT. Bounded: fixed iteration counts. */
START_TEST(test_concurrent_fills_and_resets_never_enoent)
{
    pthread_t r, f1, f2;
    __atomic_store_n(&stop_flag, 0, __ATOMIC_RELAXED);
    ck_assert_int_eq(pthread_create(&r, NULL, resetter, NULL), 0);
    ck_assert_int_eq(pthread_create(&f1, NULL, filler, NULL), 0);
    ck_assert_int_eq(pthread_create(&f2, NULL, filler, NULL), 0);
    long enoent = 0, found = 0;
    for (int k = 0; k < 400000; k++) {
        int rc = lookup_file(k % NFILES);
        enoent += rc == -ENOENT;
        found += rc == 0;
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    pthread_join(r, NULL);
    pthread_join(f1, NULL);
    pthread_join(f2, NULL);
    ck_assert_msg(enoent == 0, "%ld lookups of existing names answered ENOENT (%ld found)", enoent, found);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfs_mcache");
    TCase *tc = tcase_create("fill");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_whole_fill_answers_missing_names);
    tcase_add_test(tc, test_fill_interrupted_by_reset_is_not_whole);
    tcase_add_test(tc, test_not_whole_ignores_epoch);
    tcase_add_test(tc, test_concurrent_fills_and_resets_never_enoent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

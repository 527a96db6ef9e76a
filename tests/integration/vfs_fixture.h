/* vfs_fixture.h - the volume the vfs Check programs run against: a private
 * scratch folder, its node cache, and a freshly formatted file:// volume
 * with 64 KiB blocks in the database SHIMFS_META names, and the programs'
 * main. Header-only: each test program is one file. Set the test's own
 * SHIMFS_* before setup. */
#ifndef SHIMFS_VFS_FIXTURE_H
#define SHIMFS_VFS_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"

#define VFS_FX_BLOCK (64 * 1024)

static char vfs_fx_scratch[256];

/* name: folder and volume name; uuid: the volume's (one per program). */
static inline void vfs_fixture_setup(const char *name, const char *uuid)
{
    snprintf(vfs_fx_scratch, sizeof vfs_fx_scratch, "/tmp/shimfs-%s-%d", name, (int)getpid());
    mkdir(vfs_fx_scratch, 0700);
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", vfs_fx_scratch);
    setenv("SHIMFS_CACHE_DIR", cache, 1);
    /* The tests look for blocks on the cache disk: no free-space floor,
     * which a busy shared disk (under 10 % free) would keep them off. */
    setenv("SHIMFS_FREE_SPACE_RATIO", "0", 1);
    setenv("SHIMFS_LOG", "error", 1);
    struct meta *m;
    ck_assert_int_eq(meta_open(getenv("SHIMFS_META"), &m), 0);
    struct meta_settings s = { .block_size = VFS_FX_BLOCK, .compress_algo = 1,
                               .compress_level = 1, .schema_version = META_SCHEMA_VERSION };
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.uuid, sizeof s.uuid, "%s", uuid);
    snprintf(s.bucket, sizeof s.bucket, "file://%s/bucket", vfs_fx_scratch);
    ck_assert_int_eq(meta_format(m, &s, 1), 0);
    meta_close(m);
}

static inline void vfs_fixture_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", vfs_fx_scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", vfs_fx_scratch);
}

/* Bytes that depend on seed and offset and are never zero (a hole reads
 * as zeros, so a wrong read cannot pass for a right one). */
static inline void vfs_fixture_fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(((i * 131 + seed * 7 + (i >> 9)) & 0xff) | 1);
}

/* A program's main: its tests in one case, each in a forked child between
 * setup and teardown. 1 (a failure) when SHIMFS_META is not set. */
static inline int vfs_fixture_main(const char *name, void (*setup)(void), void (*teardown)(void),
                                   const TTest *const *tests, int n)
{
    if (!getenv("SHIMFS_META")) {
        fprintf(stderr, "test_%s: SHIMFS_META is not set\n", name);
        return 1;
    }
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    for (int i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif

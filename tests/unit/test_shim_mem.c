/* test_shim_mem.c - readable strings (shim/shim_mem.c, compiled in
 * directly): NULL, unmapped and PROT_NONE addresses are refused; a string
 * whose NUL is the last byte of a page before an unmapped one is accepted;
 * one that runs into it is refused; a string spanning two readable pages
 * is accepted; a page made unreadable after it was seen (mprotect, munmap)
 * is refused; errno is left alone. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../shim/shim_mem.c"

/* What the preload's table would hold: libc's functions (the file defines
 * munmap, msync, mprotect and mremap itself, as the preload does). */
long (*shim_real_syscall)(long, ...);
int (*shim_real_munmap)(void *, size_t);
int (*shim_real_msync)(void *, size_t, int);
int (*shim_real_mprotect)(void *, size_t, int);
void shim_real_init(void)
{
    shim_real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    shim_real_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
    shim_real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    shim_real_mprotect = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "mprotect");
}
/* The registry of shared maps of volume files (shim/shim_maps.c, tested by
 * tests/integration/test_mmap_write.sh): a process of this test maps none. */
int shim_maps_active(void) { return 0; }
void shim_maps_unmapped(void *addr, size_t len) { (void)addr; (void)len; }
int shim_maps_sync(void *addr, size_t len) { (void)addr; (void)len; return 0; }
void shim_maps_moved(void *old, void *now, size_t len) { (void)old; (void)now; (void)len; }
__thread int shim_guard;

START_TEST(test_bad_pointers)
{
    ck_assert_int_eq(shim_mem_str_ok(NULL), 0);
    ck_assert_int_eq(shim_mem_str_ok((const char *)0xdeadc0deUL), 0);
    ck_assert_int_eq(shim_mem_str_ok((const char *)16), 0);
    ck_assert_int_eq(shim_mem_path(NULL), -EFAULT);
    errno = 1234;
    ck_assert_int_eq(shim_mem_str_ok((const char *)0xdeadc0deUL), 0);
    ck_assert_int_eq(errno, 1234);
    ck_assert_int_eq(shim_str_is_empty(NULL), 0);
    ck_assert_int_eq(shim_str_is_empty((const char *)0xdeadc0deUL), 0);
    ck_assert_int_eq(shim_str_is_empty(""), 1);
    ck_assert_int_eq(shim_str_is_empty("x"), 0);
}
END_TEST

START_TEST(test_page_edges)
{
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    ck_assert_int_eq(munmap(m + 2 * pg, (size_t)pg), 0);  /* page 3: unmapped */
    memset(m, 'a', (size_t)pg * 2);
    char *end = m + 2 * pg;
    end[-1] = '\0';
    ck_assert_int_eq(shim_mem_str_ok(end - 6), 1);       /* NUL is the last readable byte */
    ck_assert_int_eq(shim_mem_str_ok(end - 1), 1);       /* "" at the very end */
    end[-1] = 'a';
    ck_assert_int_eq(shim_mem_str_ok(end - 6), 0);       /* runs into the unmapped page */
    ck_assert_int_eq(shim_mem_str_ok(end - 6), 0);       /* and again, from the cache */
    m[pg + 10] = '\0';
    ck_assert_int_eq(shim_mem_str_ok(m + pg - 5), 1);    /* spans two readable pages */
    ck_assert_int_eq(shim_mem_str_ok(m + pg + 2), 1);        /* page 2, seen readable */
    ck_assert_int_eq(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
    ck_assert_int_eq(shim_mem_str_ok(m + pg + 2), 0);        /* ... and no longer */
    ck_assert_int_eq(shim_mem_str_ok(m + 2), 0);             /* runs into the PROT_NONE page */
    m[100] = '\0';
    ck_assert_int_eq(shim_mem_str_ok(m + 2), 1);
    ck_assert_int_eq(munmap(m, (size_t)pg), 0);
    ck_assert_int_eq(shim_mem_str_ok(m + 2), 0);             /* unmapped since */
    munmap(m + pg, (size_t)pg);
}
END_TEST

START_TEST(test_many_pages)
{
    /* more pages than the cache holds, each seen again: right every time */
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)pg * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    for (int i = 0; i < 8; i++)
        strcpy(m + (size_t)i * pg, "/some/path");
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 8; i++)
            ck_assert_int_eq(shim_mem_str_ok(m + (size_t)i * pg), 1);
    munmap(m, (size_t)pg * 8);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shim_mem");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bad_pointers);
    tcase_add_test(tc, test_page_edges);
    tcase_add_test(tc, test_many_pages);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

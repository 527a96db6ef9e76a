/* test_thread.c - engine threads start one way (core/thread.c): the host's
 * enter hook runs first in each of them, and only in them. */
#include "thread.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

static __thread int test_guard;
static void test_enter(void) { test_guard++; }
static void *test_seen(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)test_guard;
}

/* The guard a thread started by thread_start saw, once joined. */
static int test_guard_in_thread(const pthread_attr_t *attr)
{
    pthread_t t;
    void *seen = (void *)-1;
    ck_assert_int_eq(thread_start(&t, attr, test_seen, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &seen), 0);
    return (int)(intptr_t)seen;
}

START_TEST(the_hook_runs_first_in_each_thread)
{
    thread_set_enter(test_enter);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(test_guard_in_thread(NULL), 1); /* raised once, for its whole life */
    ck_assert_int_eq(test_guard, 0); /* the starting thread is not touched */
    thread_set_enter(NULL);
}
END_TEST

START_TEST(without_a_host_threads_start_plain)
{
    thread_set_enter(NULL);
    ck_assert_int_eq(test_guard_in_thread(NULL), 0);
}
END_TEST

START_TEST(attributes_are_kept)
{
    thread_set_enter(test_enter);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 << 10);
    ck_assert_int_eq(test_guard_in_thread(&at), 1);
    pthread_attr_destroy(&at);
    thread_set_enter(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("thread");
    TCase *tc = tcase_create("start");
    tcase_add_test(tc, the_hook_runs_first_in_each_thread);
    tcase_add_test(tc, without_a_host_threads_start_plain);
    tcase_add_test(tc, attributes_are_kept);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

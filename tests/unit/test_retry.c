/* test_retry.c - the retry policy: what is retried, how often, how long
 * the waits can be (core/retry.c). */
#include "retry.h"

#include <check.h>
#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>

START_TEST(transient_http_statuses)
{
    static const long yes[] = { 500, 502, 503, 504, 599, 429 };
    static const long no[] = { 200, 206, 301, 400, 401, 403, 404, 408, 409, 412, 416, 501, 505, 600 };
    for (unsigned i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(retry_is_transient(CURLE_OK, yes[i]), "HTTP %ld should be retried", yes[i]);
    for (unsigned i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!retry_is_transient(CURLE_OK, no[i]), "HTTP %ld must not be retried", no[i]);
}
END_TEST

START_TEST(transient_curl_codes)
{
    static const int yes[] = { CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
                               CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE };
    static const int no[] = { CURLE_COULDNT_RESOLVE_HOST, CURLE_PEER_FAILED_VERIFICATION,
                              CURLE_WRITE_ERROR, CURLE_URL_MALFORMAT, CURLE_OUT_OF_MEMORY,
                              CURLE_ABORTED_BY_CALLBACK, CURLE_SSL_CACERT_BADFILE };
    for (unsigned i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(retry_is_transient(yes[i], 0), "curl %d should be retried", yes[i]);
    for (unsigned i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!retry_is_transient(no[i], 0), "curl %d must not be retried", no[i]);
}
END_TEST

START_TEST(attempts_are_bounded)
{
    struct retry_policy p;
    uint32_t d;
    retry_policy_init(&p, 3);
    ck_assert_int_eq(p.max_attempts, 4);
    for (int a = 0; a < 3; a++)
        ck_assert(retry_next(&p, a, CURLE_OK, 503, 12345, &d));
    ck_assert(!retry_next(&p, 3, CURLE_OK, 503, 12345, &d));
    ck_assert(!retry_next(&p, 100, CURLE_COULDNT_CONNECT, 0, 1, &d));

    retry_policy_init(&p, 0);
    ck_assert_int_eq(p.max_attempts, 1);
    ck_assert(!retry_next(&p, 0, CURLE_OK, 500, 1, &d));
    retry_policy_init(&p, -5);
    ck_assert_int_eq(p.max_attempts, 1);
}
END_TEST

START_TEST(final_4xx_never_retried)
{
    struct retry_policy p;
    uint32_t d = 777;
    retry_policy_init(&p, 6);
    ck_assert(!retry_next(&p, 0, CURLE_OK, 403, 1, &d));
    ck_assert(!retry_next(&p, 0, CURLE_OK, 404, 1, &d));
    ck_assert(!retry_next(&p, 0, CURLE_OK, 400, 1, &d));
    ck_assert_int_eq(d, 777);       /* untouched when not retrying */
    ck_assert(retry_next(&p, 0, CURLE_OK, 429, 1, &d));
}
END_TEST

START_TEST(backoff_windows_double_up_to_the_cap)
{
    struct retry_policy p;
    retry_policy_init(&p, 6);
    ck_assert_uint_eq(p.base_ms, 50);
    ck_assert_uint_eq(p.cap_ms, 5000);
    static const uint32_t window[] = { 50, 100, 200, 400, 800, 1600, 3200, 5000, 5000 };
    for (int a = 0; a < (int)(sizeof window / sizeof *window); a++) {
        /* rnd = window is the largest wait reachable; 0 the smallest. */
        ck_assert_uint_eq(retry_backoff_ms(&p, a, window[a]), window[a]);
        ck_assert_uint_eq(retry_backoff_ms(&p, a, 0), 0);
        ck_assert_uint_le(retry_backoff_ms(&p, a, UINT64_MAX), window[a]);
    }
    /* No overflow however many attempts. */
    ck_assert_uint_le(retry_backoff_ms(&p, 1000000, UINT64_MAX), 5000);
    ck_assert_uint_le(retry_backoff_ms(&p, 63, 4999), 5000);
}
END_TEST

/* Full jitter: uniform over the window, so the mean is half of it. */
START_TEST(backoff_is_spread_over_the_window)
{
    struct retry_policy p;
    retry_policy_init(&p, 6);
    uint64_t s = 0x9E3779B97F4A7C15ull, sum = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint32_t d = retry_backoff_ms(&p, 3, s);
        ck_assert_uint_le(d, 400);
        sum += d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    double mean = (double)sum / n;
    ck_assert_msg(mean > 190 && mean < 210, "mean wait %.1f ms, want about 200", mean);
    ck_assert_uint_lt(lo, 10);
    ck_assert_uint_gt(hi, 390);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, transient_http_statuses);
    tcase_add_test(tc, transient_curl_codes);
    tcase_add_test(tc, attempts_are_bounded);
    tcase_add_test(tc, final_4xx_never_retried);
    tcase_add_test(tc, backoff_windows_double_up_to_the_cap);
    tcase_add_test(tc, backoff_is_spread_over_the_window);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

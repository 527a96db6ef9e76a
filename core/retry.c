/* retry.c - the retry policy of the object store (see retry.h).
 *
 * Promises: bounded attempts; waits drawn uniformly from a window that
 * doubles per attempt up to a cap (AWS's "full jitter"), so many clients
 * failing together spread out instead of retrying in lockstep.
 */
#include "retry.h"

#include <assert.h>
#include <curl/curl.h>

/* Transport failures that say nothing about the request itself: the same
 * request may well succeed on a fresh connection. DNS failures and TLS
 * verification errors are deliberately absent: they do not heal in
 * milliseconds, and retrying them only delays the report. */
static const int retry_curl_transient[] = {
    CURLE_COULDNT_CONNECT,      /* refused, or unreachable for a moment */
    CURLE_OPERATION_TIMEDOUT,
    CURLE_SEND_ERROR,           /* reset while sending (stale keep-alive) */
    CURLE_RECV_ERROR,           /* reset while receiving */
    CURLE_GOT_NOTHING,          /* server closed a reused connection */
    CURLE_PARTIAL_FILE,         /* body cut short */
    CURLE_HTTP2,
    CURLE_HTTP2_STREAM,
};

static void retry_policy_set(struct retry_policy *p, int attempts)
{
    assert(p);
    p->max_attempts = attempts < 1 ? 1 : attempts;
    p->base_ms = RETRY_BASE_MS;
    p->cap_ms = RETRY_CAP_MS;
}

void retry_policy_init(struct retry_policy *p, int max_retries)
{
    retry_policy_set(p, max_retries < 0 ? 1 : max_retries + 1);
}

int retry_is_transient(int curl_code, long http_status)
{
    if (curl_code != CURLE_OK) {
        for (unsigned i = 0; i < sizeof retry_curl_transient / sizeof *retry_curl_transient; i++)
            if (retry_curl_transient[i] == curl_code)
                return 1;
        return 0;
    }
    /* 501 and 505 (a method, or an HTTP version, the server does not
     * support) will be the answer every time; a store that refuses
     * unsigned bodies answers 501. As botocore, not retried. */
    return http_status == 429 ||
           (http_status >= 500 && http_status <= 599 && http_status != 501 && http_status != 505);
}

uint32_t retry_backoff_ms(const struct retry_policy *p, int attempt, uint64_t rnd)
{
    assert(p && p->base_ms > 0 && p->cap_ms >= p->base_ms && attempt >= 0);
    uint64_t window = p->base_ms;
    for (int i = 0; i < attempt && window < p->cap_ms; i++)
        window *= 2;
    if (window > p->cap_ms)
        window = p->cap_ms;
    return (uint32_t)(rnd % (window + 1));
}

int retry_next(const struct retry_policy *p, int attempt, int curl_code,
               long http_status, uint64_t rnd, uint32_t *delay_ms)
{
    assert(p && p->max_attempts >= 1 && delay_ms);
    if (attempt + 1 >= p->max_attempts || !retry_is_transient(curl_code, http_status))
        return 0;
    *delay_ms = retry_backoff_ms(p, attempt, rnd);
    return 1;
}

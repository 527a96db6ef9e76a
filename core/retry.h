/* retry.h - when to try a request again, and how long to wait first.
 *
 * A pure policy: no clock, no randomness, no I/O, so it can be unit-tested
 * exactly. The caller supplies the attempt number and a random value.
 * Only what can succeed on a second try is retried: HTTP 5xx and 429,
 * timeouts, refused or reset connections. Every other 4xx is final.
 */
#ifndef SHIMFS_RETRY_H
#define SHIMFS_RETRY_H

#include <stdint.h>

#define RETRY_BASE_MS 50u
#define RETRY_CAP_MS  5000u

struct retry_policy {
    int max_attempts;     /* total tries, first one included; >= 1 */
    uint32_t base_ms;     /* backoff of the first retry's window */
    uint32_t cap_ms;      /* no window grows past this */
};

/* The policy for obj_options.max_retries (attempts = retries + 1). Every
 * function takes a non-NULL policy made by retry_policy_init (asserted). */
void retry_policy_init(struct retry_policy *p, int max_retries);

/* 1 when the outcome (a CURLcode, 0 = transfer done, and the HTTP status
 * of a finished transfer) is worth another try, 0 when it is final. */
int retry_is_transient(int curl_code, long http_status);

/* Full jitter: a delay in [0, min(cap, base * 2^attempt)], picked by rnd.
 * attempt is 0 for the wait before the first retry. */
uint32_t retry_backoff_ms(const struct retry_policy *p, int attempt, uint64_t rnd);

/* After try number `attempt` (0-based) ended with this outcome: 1 and the
 * delay in *delay_ms when another try should follow, else 0. */
int retry_next(const struct retry_policy *p, int attempt, int curl_code,
               long http_status, uint64_t rnd, uint32_t *delay_ms);

#endif

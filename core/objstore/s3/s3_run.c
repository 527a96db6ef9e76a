/* s3_run.c - run S3 requests on one lane: at most `parallel` at once,
 * failed attempts retried after a jittered backoff without holding a
 * connection slot, every request finished exactly once.
 *
 * Single operations are a run of one, so retries, error mapping and
 * logging have one implementation. Bounded: each request ends by
 * obj_options.deadline_ms after its first attempt started (each attempt's
 * curl timeouts are cut to what is left, and no retry starts that could
 * not get S3_MIN_ATTEMPT_MS), and after at most ctx->retry.max_attempts
 * attempts.
 */
#include "s3_transfer.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define S3_POLL_MAX_MS 1000
#define S3_MIN_ATTEMPT_MS 100   /* a retry with less time left is not worth it */

static uint64_t s3_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Jitter only needs to differ between threads and processes. */
static uint64_t s3_random(void)
{
    static __thread uint64_t s;
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&s ^ 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

struct s3_runner {
    struct s3_ctx *ctx;
    struct s3_lane *lane;
    CURLM *multi;
    struct s3_xfer *xs;
    int n, parallel;
    int *free_slots, nfree;
    int next;                   /* first request never started */
    int waiting;                /* requests backing off */
    int active, done;
};

/* A request whose backoff is over, else a fresh one, else -1. */
static int s3_pick(struct s3_runner *r, uint64_t now)
{
    for (int i = 0; r->waiting && i < r->n; i++) {
        if (r->xs[i].waiting && r->xs[i].due_ms <= now) {
            r->xs[i].waiting = 0;
            r->waiting--;
            return i;
        }
    }
    return r->next < r->n ? r->next++ : -1;
}

static void s3_finish(struct s3_runner *r, struct s3_xfer *x)
{
    s3_xfer_finish(r->ctx, x);
    r->done++;
}

static void s3_fail(struct s3_runner *r, struct s3_xfer *x, int err)
{
    x->result = err;
    r->done++;
}

static void s3_start_more(struct s3_runner *r, uint64_t now)
{
    while (r->nfree > 0) {
        int i = s3_pick(r, now);
        if (i < 0)
            return;
        struct s3_xfer *x = &r->xs[i];
        if (x->attempts == 0)
            x->deadline_ms = now + (uint64_t)r->ctx->st->opt.deadline_ms;
        x->left_ms = x->deadline_ms > now ? x->deadline_ms - now : 1;
        int slot = r->free_slots[--r->nfree];
        CURL *e = s3_lane_easy(r->ctx->conn, r->lane, slot);
        int rc = e ? s3_xfer_start(r->ctx, x, e) : -ENOMEM;
        if (rc == 0 && curl_multi_add_handle(r->multi, e) != CURLM_OK)
            rc = -ENOMEM;
        if (rc) {
            r->free_slots[r->nfree++] = slot;
            if (rc == -ENOMEM)  /* else the credential source said why */
                log_error("objstore", "%s: cannot set up a transfer (out of memory)", r->ctx->st->desc);
            s3_fail(r, x, rc);
            continue;
        }
        x->slot = slot;
        r->active++;
    }
}

static void s3_ended(struct s3_runner *r, CURL *e, CURLcode cc, uint64_t now)
{
    struct s3_xfer *x = NULL;
    uint32_t delay;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(r->multi, e);
    s3_xfer_done(x, cc);
    r->free_slots[r->nfree++] = x->slot;
    r->active--;
    /* Temporary credentials the server calls expired: once, at once, with
     * fresh ones (s3_xfer_start fetches them), whatever the retry policy. */
    if (!x->cred_retried && s3_xfer_cred_expired(x) && now + S3_MIN_ATTEMPT_MS < x->deadline_ms) {
        x->cred_retried = 1;
        s3_cred_expired(r->ctx->cred, x->cred_gen);
        log_info("objstore", "%s %s: credentials expired: retrying with fresh ones", r->ctx->st->desc, x->key);
        x->waiting = 1;
        x->due_ms = now;
        r->waiting++;
        return;
    }
    /* No retry that could not start before the request's deadline. */
    if (retry_next(&r->ctx->retry, x->attempts - 1, x->curl_code, x->status, s3_random(), &delay) &&
        now + delay + S3_MIN_ATTEMPT_MS < x->deadline_ms) {
        log_debug("objstore", "retrying %s in %u ms (attempt %d: curl %d, HTTP %ld)",
                  x->key, delay, x->attempts, x->curl_code, x->status);
        x->waiting = 1;
        x->due_ms = now + delay;
        r->waiting++;
        return;
    }
    s3_finish(r, x);
}

static int s3_poll_timeout(struct s3_runner *r, uint64_t now)
{
    uint64_t t = S3_POLL_MAX_MS;
    for (int i = 0; r->waiting && i < r->n; i++)
        if (r->xs[i].waiting)
            t = r->xs[i].due_ms <= now ? 0 : (r->xs[i].due_ms - now < t ? r->xs[i].due_ms - now : t);
    return (int)t;
}

/* The multi handle itself failed (out of memory): end everything. */
static void s3_abort(struct s3_runner *r, CURLMcode mc)
{
    log_error("objstore", "%s: transfer engine failed: %s", r->ctx->st->desc, curl_multi_strerror(mc));
    for (int i = 0; i < r->n; i++) {
        struct s3_xfer *x = &r->xs[i];
        if (x->easy)
            curl_multi_remove_handle(r->multi, x->easy);
        if (x->easy || x->waiting || i >= r->next)
            s3_fail(r, x, -EIO);
        x->easy = NULL;
        x->waiting = 0;
    }
}

/* Finished transfers free slots: if requests are queued behind them, go
 * round again at once instead of sleeping in poll. */
static int s3_drain(struct s3_runner *r)
{
    int left = 0, ended = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(r->multi, &left))) {
        if (m->msg == CURLMSG_DONE) {
            s3_ended(r, m->easy_handle, m->data.result, s3_now_ms());
            ended++;
        }
    }
    return ended;
}

static void s3_loop(struct s3_runner *r)
{
    while (r->done < r->n) {
        int running = 0;
        s3_start_more(r, s3_now_ms());
        if (r->done == r->n)
            return;
        CURLMcode mc = curl_multi_perform(r->multi, &running);
        int ended = mc == CURLM_OK ? s3_drain(r) : 0;
        if (r->done == r->n)
            return;
        if (mc == CURLM_OK && !(ended && r->next < r->n) && (r->active > 0 || r->waiting > 0)) {
            int timeout = s3_poll_timeout(r, s3_now_ms());
            if (timeout > 0)
                mc = curl_multi_poll(r->multi, NULL, 0, timeout, NULL);
        }
        if (mc != CURLM_OK) {
            s3_abort(r, mc);
            return;
        }
    }
}

void s3_run(struct s3_ctx *ctx, struct s3_xfer *xs, int n, int parallel)
{
    struct s3_runner r = { .ctx = ctx, .xs = xs, .n = n };
    if (n <= 0)
        return;
    assert(ctx && xs && parallel >= 1); /* no slot would ever start a transfer */
    r.parallel = parallel < n ? parallel : n;
    if (r.parallel > ctx->st->opt.max_parallel)
        r.parallel = ctx->st->opt.max_parallel;
    r.free_slots = malloc((size_t)(r.parallel > 0 ? r.parallel : 1) * sizeof *r.free_slots);
    r.lane = ctx->conn && r.free_slots ? s3_lane_get(ctx->conn) : NULL;
    if (!r.lane) {
        for (int i = 0; i < n; i++)
            xs[i].result = -ENOMEM;
        free(r.free_slots);
        return;
    }
    r.multi = s3_lane_multi(r.lane);
    for (int s = 0; s < r.parallel; s++)
        r.free_slots[r.nfree++] = r.parallel - 1 - s;
    s3_loop(&r);
    s3_lane_put(ctx->conn, r.lane);
    free(r.free_slots);
}

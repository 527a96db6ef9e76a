/* s3_transfer.h - private to core/objstore/s3/s3_*.c: one S3 request and its plumbing.
 *
 * s3_conn.c  owns the connections: "lanes" (a curl multi handle with its
 *            easy handles and its own connection cache) lent out under a
 *            mutex, the CURLSH that shares DNS and TLS sessions, and the
 *            record of our sockets that obj_after_fork needs.
 * s3_xfer.c  turns one request into curl options and its reply into a
 *            result (bytes, or a negative errno and one log line).
 * s3_run.c   runs many requests on one lane with bounded parallelism and
 *            the retry policy's backoff.
 * s3_store.c the backend operations built from those.
 */
#ifndef SHIMFS_S3_TRANSFER_H
#define SHIMFS_S3_TRANSFER_H

#include "s3_internal.h"
#include "s3_cred.h"
#include "retry.h"

#include <curl/curl.h>

struct s3_conn;

struct s3_ctx {
    struct obj_store *st;       /* for desc and options */
    char *endpoint;             /* "http://host/bucket" or "http://bucket.host" */
    char sigv4[128];            /* "aws:amz:REGION:s3" */
    struct s3_cred *cred;       /* the credential chain and its cache */
    char *ca_bundle;            /* NULL: curl's default store */
    struct retry_policy retry;
    int tls_warned;
    struct s3_conn *conn;       /* replaced, not reused, after fork */
};

/* ---- s3_conn.c ---------------------------------------------------------- */

struct s3_lane;

struct s3_conn *s3_conn_create(int max_parallel);
void s3_conn_destroy(struct s3_conn *c);
/* In a forked child: make the inherited sockets harmless, free nothing. */
void s3_conn_abandon(struct s3_conn *c);
struct s3_lane *s3_lane_get(struct s3_conn *c);
/* lane is one that s3_lane_get(c) lent (asserted: c has one out). */
void s3_lane_put(struct s3_conn *c, struct s3_lane *lane);
CURLM *s3_lane_multi(struct s3_lane *lane);
/* Easy handle number `slot` (< max_parallel) of the lane, made on demand,
 * reset and attached to the share and socket callbacks. */
CURL *s3_lane_easy(struct s3_conn *c, struct s3_lane *lane, int slot);
uint64_t s3_conn_opened(const struct s3_conn *c);

/* ---- s3_xfer.c ---------------------------------------------------------- */

enum s3_op { S3_GET = 1, S3_PUT, S3_HEAD, S3_DELETE, S3_LIST };

#define S3_ERRBODY_MAX 4096

struct s3_xfer {
    /* the request (s3_xfer_init) */
    int op;
    const char *key;            /* for log lines; the caller's */
    char *url;
    struct curl_slist *headers;         /* made once: no credentials in them */
    struct curl_slist *attempt_headers; /* those plus this attempt's session token */
    uint64_t off;               /* GET: first byte */
    size_t len;                 /* GET: bytes wanted, 0 = to the end */
    char *buf;                  /* GET: destination */
    size_t cap;
    const void *data;           /* PUT body */
    size_t data_len;
    /* one attempt */
    CURL *easy;
    int slot;
    uint64_t skip;              /* bytes to drop if a 200 ignores our Range */
    size_t got;
    int overflow;
    int range_empty;            /* a 206 with nothing past off: stopped after the head */
    char *body;                 /* LIST: the reply */
    size_t body_len, body_cap;
    char errbody[S3_ERRBODY_MAX];
    size_t errbody_len;
    char curl_err[CURL_ERROR_SIZE];
    /* outcome */
    int attempts;
    uint64_t cred_gen;          /* credentials this attempt was signed with (0: unsigned) */
    int cred_temp;              /* ... were temporary (had a session token) */
    int cred_retried;           /* already retried once after ExpiredToken */
    int curl_code;
    long status;
    long os_errno;
    int64_t content_length;
    int64_t range_total;        /* GET: object size from Content-Range, or -1 */
    int waiting;                /* backing off before the next attempt */
    uint64_t due_ms;
    uint64_t deadline_ms;       /* monotonic: the request ends by then (set at the
                                   first attempt from obj_options.deadline_ms) */
    uint64_t left_ms;           /* of that, when this attempt started */
    ssize_t result;
};

/* key is the object key (encoded into the URL here; for S3_LIST only a
 * name for log lines); query, for S3_LIST, a ready "a=b&c=d" from
 * s3_query_build (or a raw string for the debug hook). */
int s3_xfer_init(struct s3_ctx *ctx, struct s3_xfer *x, int op, const char *key,
                 const char *query);
void s3_xfer_fini(struct s3_xfer *x);
/* Set up an attempt: 0, -ENOMEM, or -EIO when there are no credentials
 * to sign with (the credential source failed and has logged why). */
int s3_xfer_start(struct s3_ctx *ctx, struct s3_xfer *x, CURL *easy);
/* The transfer ended with curl code cc: record status, errno, length. */
void s3_xfer_done(struct s3_xfer *x, CURLcode cc);
/* The attempt was refused because its temporary credentials expired
 * (403 ExpiredToken; a HEAD's 403 has no body, so any 403 signed with a
 * session token): worth one retry with fresh ones. */
int s3_xfer_cred_expired(const struct s3_xfer *x);
/* No more attempts: set x->result and log a failure once. */
void s3_xfer_finish(struct s3_ctx *ctx, struct s3_xfer *x);

/* ---- s3_run.c ----------------------------------------------------------- */

/* Run xs[0..n) with at most `parallel` (>= 1, asserted) at once, retrying
 * per ctx->retry; every x->result is set on return. */
void s3_run(struct s3_ctx *ctx, struct s3_xfer *xs, int n, int parallel);

#endif

/* s3_xfer.c - one S3 request: its URL and headers, the curl options of an
 * attempt, where the reply's bytes go, and what the outcome means.
 *
 * Signing: curl's CURLOPT_AWS_SIGV4 signs the method, the path and query
 * exactly as written in the URL, and every header we pass in
 * CURLOPT_HTTPHEADER. Hence: keys are encoded here (s3_uri_encode), the
 * query arrives sorted (s3_query_build), the payload hash is our own
 * x-amz-content-sha256 header (curl would hash an empty body for
 * anything but POST fields), and Range goes in as a header so that it is
 * signed like botocore signs it. We never pass "Expect:" to suppress
 * curl's 100-continue: curl 7.88 would sign that empty header although it
 * is never sent, and a strict server would refuse the signature. Bodies
 * are POST fields sent with method PUT, so curl adds no Expect for bodies
 * up to 1 MiB, and for larger ones we do not wait for the 100 (unsigned
 * and harmless, like botocore's).
 */
#include "s3_transfer.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_LIST_BODY_MAX (64u << 20)

static const char *const s3_op_names[] = {
    [S3_GET] = "GET", [S3_PUT] = "PUT", [S3_HEAD] = "HEAD",
    [S3_DELETE] = "DELETE", [S3_LIST] = "LIST",
};

static int s3_headers_add(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = curl_slist_append(*h, line);
    if (!n)
        return -ENOMEM;
    *h = n;
    return 0;
}

/* A PUT's body is hashed into the signature only where the URL asks
 * (obj_parse_url: over plain http by default): the hash costs the writer
 * 0.6 CPU-seconds a GiB, and over https TLS already guards the body while
 * every block carries its own checksums, checked at each read. */
static int s3_xfer_headers(struct s3_xfer *x, int sign_payload)
{
    char line[128], sha[65] = "UNSIGNED-PAYLOAD";
    int rc = 0;
    if (x->op == S3_PUT && sign_payload)
        s3_sha256_hex(x->data, x->data_len, sha);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", x->op == S3_PUT ? sha : S3_EMPTY_SHA256);
    rc = s3_headers_add(&x->headers, line);
    if (rc == 0 && x->op == S3_GET && (x->len || x->off)) {
        if (x->len)
            snprintf(line, sizeof line, "Range: bytes=%llu-%llu", (unsigned long long)x->off,
                     (unsigned long long)(x->off + x->len - 1));
        else
            snprintf(line, sizeof line, "Range: bytes=%llu-", (unsigned long long)x->off);
        rc = s3_headers_add(&x->headers, line);
    }
    if (rc == 0 && x->op == S3_PUT)
        rc = s3_headers_add(&x->headers, "Content-Type: application/octet-stream");
    return rc;
}

/* Objects: ENDPOINT/encoded-key. Bucket listings: the bucket itself,
 * "http://host/bucket?q" or "http://bucket.host/?q", as botocore sends. */
static int s3_xfer_url(struct s3_ctx *ctx, struct s3_xfer *x, const char *key, const char *query)
{
    if (!key) {
        if (asprintf(&x->url, "%s%s?%s", ctx->endpoint, ctx->st->url.virtual_host ? "/" : "",
                     query ? query : "") >= 0)
            return 0;
        x->url = NULL;
        return -ENOMEM;
    }
    /* The bucket URL's key prefix is part of every object's name. */
    const char *pre = ctx->st->url.prefix;
    size_t plen = strlen(pre), klen = strlen(key), cap = (plen + klen) * 3 + 1;
    char *enc = malloc(cap), *full = malloc(plen + klen + 1);
    if (!enc || !full) {
        free(enc);
        free(full);
        return -ENOMEM;
    }
    memcpy(full, pre, plen);
    memcpy(full + plen, key, klen + 1);
    int rc = s3_uri_encode(full, plen + klen, 1, enc, cap);
    free(full);
    if (rc >= 0 && asprintf(&x->url, "%s/%s", ctx->endpoint, enc) < 0) {
        x->url = NULL;
        rc = -ENOMEM;
    }
    free(enc);
    return rc < 0 ? rc : 0;
}

int s3_xfer_init(struct s3_ctx *ctx, struct s3_xfer *x, int op, const char *key,
                 const char *query)
{
    assert(ctx && x && op >= S3_GET && op <= S3_LIST);
    x->op = op;
    x->key = key ? key : "";
    x->slot = -1;
    return s3_xfer_url(ctx, x, op == S3_LIST ? NULL : key, query);
}

void s3_xfer_fini(struct s3_xfer *x)
{
    free(x->url);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->attempt_headers);
    x->attempt_headers = NULL;
    free(x->body);
    x->url = NULL;
    x->headers = NULL;
    x->body = NULL;
}

/* ---- where the reply goes ------------------------------------------------ */

static void s3_take_error(struct s3_xfer *x, const char *p, size_t n)
{
    size_t room = sizeof x->errbody - 1 - x->errbody_len;
    if (n > room)
        n = room;       /* the Code comes first; the rest can go */
    memcpy(x->errbody + x->errbody_len, p, n);
    x->errbody_len += n;
    x->errbody[x->errbody_len] = '\0';
}

static size_t s3_take_list(struct s3_xfer *x, const char *p, size_t n)
{
    if (x->body_len + n > S3_LIST_BODY_MAX)
        return 0;
    if (x->body_len + n > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 65536;
        while (cap < x->body_len + n)
            cap *= 2;
        char *b = realloc(x->body, cap);
        if (!b)
            return 0;
        x->body = b;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, p, n);
    x->body_len += n;
    return n;
}

/* A server may answer 200 with the whole object to a ranged GET: drop the
 * bytes before our offset and stop at our length. */
static size_t s3_take_object(struct s3_xfer *x, long status, const char *p, size_t n)
{
    size_t all = n;
    if (status == 200 && x->skip) {
        size_t s = n < x->skip ? n : (size_t)x->skip;
        p += s;
        n -= s;
        x->skip -= s;
    }
    size_t limit = x->len ? x->len : x->cap;
    if (n > limit - x->got) {
        if (!x->len) {
            x->overflow = 1;    /* the whole object does not fit */
            return 0;
        }
        n = limit - x->got;
    }
    memcpy(x->buf + x->got, p, n);
    x->got += n;
    return all;
}

/* "Content-Range: bytes a-b/total": remember total (see s3_xfer_done). */
static size_t s3_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct s3_xfer *x = ud;
    size_t n = size * nmemb;
    static const char name[] = "content-range:";
    if (n > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *slash = memchr(p, '/', n);
        char num[24];
        size_t k = 0;
        for (const char *c = slash ? slash + 1 : p + n; c < p + n && k < sizeof num - 1 &&
                                                      *c >= '0' && *c <= '9'; c++)
            num[k++] = *c;
        num[k] = '\0';
        if (k > 0)
            x->range_total = strtoll(num, NULL, 10);
    }
    /* End of the head of a 206 that says the object has no byte past our
     * offset: s3rver then promises a body it never sends, so stop here
     * rather than wait for the stall timeout (s3_xfer_done). */
    if (n <= 2 && x->range_total >= 0 && (uint64_t)x->range_total <= x->off) {
        long status = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status == 206) {
            x->range_empty = 1;
            return 0;
        }
    }
    return n;
}

static size_t s3_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct s3_xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        s3_take_error(x, p, n);
        return n;
    }
    if (x->op == S3_LIST)
        return s3_take_list(x, p, n);
    if (x->op == S3_GET)
        return s3_take_object(x, status, p, n);
    return n;
}

/* ---- one attempt ---------------------------------------------------------- */

static void s3_attempt_reset(struct s3_xfer *x, CURL *easy)
{
    x->easy = easy;
    x->skip = x->off;
    x->got = 0;
    x->overflow = 0;
    x->range_empty = 0;
    x->body_len = 0;
    x->errbody_len = 0;
    x->errbody[0] = '\0';
    x->curl_err[0] = '\0';
    x->status = 0;
    x->os_errno = 0;
    x->content_length = -1;
    x->range_total = -1;
    x->attempts++;
}

static int s3_set_method(struct s3_xfer *x, CURL *e)
{
    switch (x->op) {
    case S3_HEAD:
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    case S3_DELETE:
        return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    case S3_PUT:
        return curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->data) ||
               curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->data_len) ||
               curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT") ||
               curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    case S3_GET:
        return curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024) ||
               curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s3_on_header) ||
               curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    default:
        return curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    }
}

static int s3_set_tls(struct s3_ctx *ctx, CURL *e)
{
    if (!ctx->st->url.tls_verify) {
        log_once(&ctx->tls_warned, LOG_WARN, "objstore",
                 "%s: tls_verify=0: server certificates are NOT checked", ctx->st->desc);
        return curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) ||
               curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return ctx->ca_bundle ? curl_easy_setopt(e, CURLOPT_CAINFO, ctx->ca_bundle) : 0;
}

/* Each attempt signs with the credentials current when it starts (a
 * retry after ExpiredToken gets fresh ones). curl copies the strings, so
 * our reference ends here; the session token goes into this attempt's
 * own copy of the headers. */
static int s3_set_auth(struct s3_ctx *ctx, struct s3_xfer *x, CURL *e)
{
    const struct s3_creds *cr = NULL;
    curl_slist_free_all(x->attempt_headers);
    x->attempt_headers = NULL;
    x->cred_gen = 0;
    x->cred_temp = 0;
    int got = s3_cred_get(ctx->cred, &cr);
    if (got < 0)
        return got;
    int rc = 0;
    for (const struct curl_slist *h = x->headers; h && rc == 0; h = h->next)
        rc = s3_headers_add(&x->attempt_headers, h->data);
    if (rc == 0 && got == 0 && cr->token) {
        char *line = NULL;
        if (asprintf(&line, "x-amz-security-token: %s", cr->token) < 0)
            line = NULL;
        rc = line ? s3_headers_add(&x->attempt_headers, line) : -ENOMEM;
        if (line) {
            explicit_bzero(line, strlen(line));
            free(line);
        }
    }
    if (rc == 0 && curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->attempt_headers) != CURLE_OK)
        rc = -ENOMEM;
    if (rc == 0 && got == 0) {
        x->cred_gen = cr->gen;
        x->cred_temp = cr->token != NULL;
        if (curl_easy_setopt(e, CURLOPT_AWS_SIGV4, ctx->sigv4) ||
            curl_easy_setopt(e, CURLOPT_USERNAME, cr->access_key) ||
            curl_easy_setopt(e, CURLOPT_PASSWORD, cr->secret_key))
            rc = -ENOMEM;
    }
    if (got == 0)
        s3_cred_put(ctx->cred, cr);
    return rc;
}

int s3_xfer_cred_expired(const struct s3_xfer *x)
{
    struct s3_error_body eb;
    if (x->curl_code != CURLE_OK || x->status != 403 || x->cred_gen == 0)
        return 0;
    if (x->op == S3_HEAD || x->errbody_len == 0)
        return x->cred_temp;
    return s3_xml_parse_error(x->errbody, x->errbody_len, &eb) == 0 &&
           (strcmp(eb.code, "ExpiredToken") == 0 || strcmp(eb.code, "TokenRefreshRequired") == 0);
}

int s3_xfer_start(struct s3_ctx *ctx, struct s3_xfer *x, CURL *e)
{
    const struct obj_options *o = &ctx->st->opt;
    assert(x->left_ms > 0);
    /* An attempt gets what is left of the request's bound; a transfer
     * that moves under a byte a second for a fifth of the bound (at least
     * 2 s: a busy server may think that long) is stalled, and is cut so a
     * retry still fits. */
    long timeout = o->timeout_ms < (long)x->left_ms ? o->timeout_ms : (long)x->left_ms;
    long connect = o->connect_timeout_ms < timeout ? o->connect_timeout_ms : timeout;
    long stall_s = o->deadline_ms / 5000 > 2 ? o->deadline_ms / 5000 : 2;
    /* Headers (and the body's hash) are made at the first attempt, so a
     * batch hashes each body while earlier transfers are on the wire. */
    if (!x->headers && s3_xfer_headers(x, ctx->st->url.sign_payload) != 0)
        return -ENOMEM;
    s3_attempt_reset(x, e);
    int bad = curl_easy_setopt(e, CURLOPT_URL, x->url) ||
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
              curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) ||     /* keys may hold "/../" */
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
              curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) ||
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout) ||
              curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect) ||
              curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L) ||
              curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s) ||
              curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) ||
              curl_easy_setopt(e, CURLOPT_USERAGENT, "shimfs") ||
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s3_on_body) ||
              curl_easy_setopt(e, CURLOPT_WRITEDATA, x) ||
              curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err) ||
              curl_easy_setopt(e, CURLOPT_PRIVATE, x) ||
              s3_set_method(x, e) || s3_set_tls(ctx, e);
    return bad ? -ENOMEM : s3_set_auth(ctx, x, e);
}

void s3_xfer_done(struct s3_xfer *x, CURLcode cc)
{
    curl_off_t cl = -1;
    x->curl_code = (int)cc;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &x->os_errno);
    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
        x->content_length = cl;
    /* Our own write callback refused a body that would not fit: that is
     * not a network failure, and must not be retried as one. */
    if (cc == CURLE_WRITE_ERROR && (x->overflow || x->range_empty))
        x->curl_code = CURLE_OK;
    /* s3rver answers a Range on an empty object with "206, Content-Range
     * bytes 0-0/0, Content-Length: 1" and no body. When Content-Range says
     * we already hold every byte the object has past our offset, the
     * transfer is complete whatever Content-Length promised. */
    if (cc == CURLE_PARTIAL_FILE && x->op == S3_GET && x->status == 206 &&
        x->range_total >= 0 && (uint64_t)x->range_total <= x->off && x->got == 0)
        x->curl_code = CURLE_OK;
    x->easy = NULL;
}

/* ---- the outcome ---------------------------------------------------------- */

static ssize_t s3_success(struct s3_xfer *x)
{
    switch (x->op) {
    case S3_GET:
        return x->overflow ? -EOVERFLOW : (ssize_t)x->got;
    case S3_PUT:
        return (ssize_t)x->data_len;
    case S3_HEAD:
        return x->content_length >= 0 ? 0 : -EIO;
    default:
        return 0;
    }
}

static void s3_log_failure(struct s3_ctx *ctx, struct s3_xfer *x, int err,
                           const struct s3_error_body *eb)
{
    const char *op = s3_op_names[x->op];
    int level = LOG_ERROR;
    if (x->curl_code != CURLE_OK) {
        log_msg(level, "objstore", "%s %s in %s: %s (curl %d) after %d attempt%s: %s", op,
                x->key, ctx->st->desc, x->curl_err[0] ? x->curl_err : curl_easy_strerror(x->curl_code),
                x->curl_code, x->attempts, x->attempts == 1 ? "" : "s", strerror(-err));
        return;
    }
    if (strcmp(eb->code, "NoSuchBucket") == 0) {
        log_error("objstore", "%s %s: bucket %s does not exist (HTTP %ld NoSuchBucket)", op,
                  x->key, ctx->st->desc, x->status);
        return;
    }
    if (err == -ENOENT)
        level = LOG_INFO;       /* a missing key is an answer; callers decide */
    /* A store that wants every body hashed refuses UNSIGNED-PAYLOAD with
     * some 4xx of its own (400, 403, 501 seen): say how to ask for that. */
    int refused = x->status >= 400 && x->status != 404 && x->status != 408 &&
                  (x->status < 500 || x->status == 501);
    const char *hint = x->op == S3_PUT && !ctx->st->url.sign_payload && refused
                           ? "; the body went unsigned (UNSIGNED-PAYLOAD): a store that "
                             "wants it signed needs ?payload=signed in the bucket URL "
                             "or SHIMFS_S3_PAYLOAD=signed"
                           : "";
    if (log_enabled(level))
        log_msg(level, "objstore", "%s %s in %s: HTTP %ld %s%s%s%s after %d attempt%s: %s%s", op,
                x->key, ctx->st->desc, x->status, eb->code[0] ? eb->code : "(no S3 code)",
                eb->message[0] ? " (" : "", eb->message, eb->message[0] ? ")" : "", x->attempts,
                x->attempts == 1 ? "" : "s", strerror(-err), hint);
}

void s3_xfer_finish(struct s3_ctx *ctx, struct s3_xfer *x)
{
    struct s3_error_body eb = { "", "" };
    if (x->curl_code == CURLE_OK && x->status >= 200 && x->status <= 299) {
        x->result = s3_success(x);
        return;
    }
    if (x->curl_code == CURLE_OK && x->status == 416 && x->op == S3_GET) {
        x->result = 0;          /* range past the end (or an empty object) */
        return;
    }
    if (x->curl_code == CURLE_OK && x->errbody_len)
        s3_xml_parse_error(x->errbody, x->errbody_len, &eb);
    int err = s3_errno(x->curl_code, x->os_errno, x->status, eb.code);
    if (err == 0)
        err = -EIO;             /* 1xx/3xx: nothing we asked for */
    if (x->op == S3_DELETE && err == -ENOENT && strcmp(eb.code, "NoSuchBucket") != 0) {
        x->result = 0;          /* deleting a missing key succeeds */
        return;
    }
    s3_log_failure(ctx, x, err, &eb);
    x->result = err;
}

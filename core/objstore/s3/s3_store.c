/* s3_store.c - the S3 backend's operations (objstore.h semantics).
 *
 * Owns: the per-store settings read once at open (endpoint, region, CA
 * bundle; the credential chain is made here and resolved at the first
 * request, s3_cred.c), ListObjectsV2 paging, and the mapping of
 * obj_request batches onto transfers. Promises: open never connects;
 * credentials live only in s3_cred's cache and in curl's options, never
 * in a URL or a log line; without credentials requests go out unsigned
 * (public buckets) after one info line.
 */
#include "s3_transfer.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S3_LIST_PAGE "1000"
#define S3_LIST_PAGES_MAX 10000000      /* ten billion keys: a bound, not a limit */

static pthread_once_t s3_global_once = PTHREAD_ONCE_INIT;
static CURLcode s3_global_rc;

static void s3_global_init(void) { s3_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* libcrypto must outlive the host program's exit handlers: under the shim,
 * close(2) of a volume file commits (uploads) from a program's atexit
 * handler (coreutils' close_stdout), which would otherwise run after
 * libcrypto's own atexit cleanup and crash in it. The first initialisation
 * decides, and libpq's connection would come first: so at load time. */
__attribute__((constructor)) static void s3_crypto_keep(void)
{
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

static struct s3_ctx *s3_ctx_of(struct obj_store *st) { return st->priv; }

/* A CA bundle that cannot be read must not break anything: curl's default
 * store is still there. */
static void s3_read_ca_bundle(struct s3_ctx *ctx)
{
    const char *ca = secure_getenv("AWS_CA_BUNDLE");   /* a file we open: not from a setuid caller */
    struct stat sb;
    if (!ca || !*ca)
        return;
    if (stat(ca, &sb) == 0 && S_ISREG(sb.st_mode) && access(ca, R_OK) == 0)
        ctx->ca_bundle = strdup(ca);
    else
        log_warn("objstore", "AWS_CA_BUNDLE=%s is not a readable file: using the default CA store", ca);
}

static void s3_ctx_free(struct s3_ctx *ctx)
{
    s3_conn_destroy(ctx->conn);
    free(ctx->endpoint);
    s3_cred_destroy(ctx->cred);
    free(ctx->ca_bundle);
    free(ctx);
}

static int s3_open(struct obj_store *st)
{
    pthread_once(&s3_global_once, s3_global_init);
    if (s3_global_rc != CURLE_OK) {
        log_error("objstore", "libcurl failed to initialise: %s", curl_easy_strerror(s3_global_rc));
        return -EIO;
    }
    struct s3_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -ENOMEM;
    const struct obj_url *u = &st->url;
    const char *scheme = u->scheme == OBJ_HTTPS ? "https" : "http";
    ctx->st = st;
    int n = u->virtual_host ? asprintf(&ctx->endpoint, "%s://%s.%s", scheme, u->bucket, u->host)
                            : asprintf(&ctx->endpoint, "%s://%s/%s", scheme, u->host, u->bucket);
    if (n < 0) {
        free(ctx);
        return -ENOMEM;
    }
    snprintf(ctx->sigv4, sizeof ctx->sigv4, "aws:amz:%s:s3", u->region);
    retry_policy_init(&ctx->retry, st->opt.max_retries);
    ctx->cred = s3_cred_create(st->desc, u->region, st->opt.cred_dir);
    s3_read_ca_bundle(ctx);
    ctx->conn = s3_conn_create(st->opt.max_parallel);
    if (!ctx->conn || !ctx->cred) {
        s3_ctx_free(ctx);
        return -ENOMEM;
    }
    st->priv = ctx;
    return 0;
}

static void s3_close(struct obj_store *st) { s3_ctx_free(s3_ctx_of(st)); }

static void s3_after_fork(struct obj_store *st)
{
    struct s3_ctx *ctx = s3_ctx_of(st);
    s3_cred_after_fork(ctx->cred);
    s3_conn_abandon(ctx->conn);
    ctx->conn = s3_conn_create(st->opt.max_parallel);
    if (!ctx->conn)
        log_error("objstore", "%s: no memory for connections after fork", st->desc);
}

/* One request, run to its end (retries included). */
static ssize_t s3_do(struct obj_store *st, struct s3_xfer *x, int op, const char *key)
{
    assert(st && key); /* obj_check_key refused the rest */
    ssize_t rc = s3_xfer_init(s3_ctx_of(st), x, op, key, NULL);
    if (rc == 0) {
        s3_run(s3_ctx_of(st), x, 1, 1);
        rc = x->result;
    }
    s3_xfer_fini(x);
    return rc;
}

static ssize_t s3_get(struct obj_store *st, const char *key, uint64_t off, size_t len,
                      void *buf, size_t cap)
{
    struct s3_xfer x = { .off = off, .len = len, .buf = buf, .cap = cap };
    return s3_do(st, &x, S3_GET, key);
}

static int s3_put(struct obj_store *st, const char *key, const void *data, size_t len)
{
    struct s3_xfer x = { .data = data, .data_len = len };
    ssize_t rc = s3_do(st, &x, S3_PUT, key);
    return rc < 0 ? (int)rc : 0;
}

static int s3_head(struct obj_store *st, const char *key, uint64_t *size)
{
    struct s3_xfer x = { 0 };
    int rc = (int)s3_do(st, &x, S3_HEAD, key);
    if (rc == 0)
        *size = (uint64_t)x.content_length;
    return rc;
}

static int s3_del(struct obj_store *st, const char *key)
{
    struct s3_xfer x = { 0 };
    return (int)s3_do(st, &x, S3_DELETE, key);
}

/* ---- ListObjectsV2 ---------------------------------------------------------- */

/* Fetch and parse one page. */
static int s3_list_page(struct obj_store *st, const char *prefix, const char *token,
                        struct s3_list_page *page)
{
    struct s3_qparam q[4] = { { "list-type", "2" }, { "max-keys", S3_LIST_PAGE } };
    int nq = 2;
    char *full = NULL;          /* the bucket URL's key prefix, then the caller's */
    if (asprintf(&full, "%s%s", st->url.prefix, prefix) < 0)
        return -ENOMEM;
    if (*full)
        q[nq++] = (struct s3_qparam){ "prefix", full };
    if (token)
        q[nq++] = (struct s3_qparam){ "continuation-token", token };
    size_t cap = 3 * (strlen(full) + (token ? strlen(token) : 0)) + 128;
    char *query = malloc(cap);
    struct s3_xfer x = { 0 };
    int rc = query ? s3_query_build(q, nq, query, cap) : -ENOMEM;
    free(full);
    if (rc >= 0)
        rc = s3_xfer_init(s3_ctx_of(st), &x, S3_LIST, prefix, query);
    free(query);
    if (rc >= 0) {
        s3_run(s3_ctx_of(st), &x, 1, 1);
        rc = (int)x.result;
    }
    if (rc >= 0) {
        rc = s3_xml_parse_list(x.body ? x.body : "", x.body_len, page);
        if (rc)
            log_error("objstore", "LIST %s in %s: the reply is not a ListBucketResult", prefix, st->desc);
    }
    s3_xfer_fini(&x);
    return rc < 0 ? rc : 0;
}

/* The next token, or NULL when done; a server that says "truncated" but
 * gives no new token would make us loop: -EIO. */
static int s3_list_next(struct obj_store *st, const char *prefix, struct s3_list_page *page,
                        char **token)
{
    if (!page->truncated) {
        free(*token);
        *token = NULL;
        return 0;
    }
    if (!page->next_token || !*page->next_token || (*token && strcmp(*token, page->next_token) == 0)) {
        log_error("objstore", "LIST %s in %s: truncated page without a new continuation token",
                  prefix, st->desc);
        return -EIO;
    }
    free(*token);
    *token = page->next_token;
    page->next_token = NULL;
    return 0;
}

static int s3_list(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg)
{
    char *token = NULL;
    int rc = 0;
    assert(st && prefix && cb);
    for (long pages = 0; rc == 0 && pages < S3_LIST_PAGES_MAX; pages++) {
        struct s3_list_page page;
        rc = s3_list_page(st, prefix, token, &page);
        if (rc)
            break;
        size_t plen = strlen(st->url.prefix);
        for (int i = 0; rc == 0 && i < page.n; i++) {
            /* Keys come back with the bucket URL's prefix: strip it. A
             * key outside it means the server ignored the prefix. */
            const char *k = page.entries[i].key;
            if (strncmp(k, st->url.prefix, plen) != 0) {
                log_error("objstore", "LIST %s in %s: the server returned a key outside the prefix",
                          prefix, st->desc);
                rc = -EIO;
                break;
            }
            rc = cb(arg, k + plen, page.entries[i].size);
        }
        if (rc == 0)
            rc = s3_list_next(st, prefix, &page, &token);
        s3_list_page_free(&page);
        if (!token)
            break;
    }
    free(token);
    return rc;
}

/* ---- batches ----------------------------------------------------------------- */

static void s3_batch_fill(struct s3_xfer *x, const struct obj_request *r)
{
    if (r->op == OBJ_GET) {
        x->off = r->off;
        x->len = r->len;
        x->buf = r->buf;
        x->cap = r->cap;
    } else if (r->op == OBJ_PUT) {
        x->data = r->buf;
        x->data_len = r->len;
    }
}

static const int s3_batch_ops[] = { [OBJ_GET] = S3_GET, [OBJ_PUT] = S3_PUT, [OBJ_DELETE] = S3_DELETE };

/* Requests already refused (result < 0) are skipped; which[j] maps
 * transfer j back to its request. */
static void s3_batch(struct obj_store *st, struct obj_request *reqs, int n)
{
    struct s3_xfer *xs = calloc((size_t)n, sizeof *xs);
    int *which = calloc((size_t)n, sizeof *which);
    int m = 0;
    if (!xs || !which) {
        for (int i = 0; i < n; i++)
            reqs[i].result = reqs[i].result < 0 ? reqs[i].result : -ENOMEM;
        free(xs);
        free(which);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (reqs[i].result < 0)
            continue;
        /* obj_batch refused other ops: s3_batch_ops[] has these only */
        assert(reqs[i].op == OBJ_GET || reqs[i].op == OBJ_PUT || reqs[i].op == OBJ_DELETE);
        s3_batch_fill(&xs[m], &reqs[i]);
        int rc = s3_xfer_init(s3_ctx_of(st), &xs[m], s3_batch_ops[reqs[i].op], reqs[i].key, NULL);
        if (rc) {
            s3_xfer_fini(&xs[m]);
            memset(&xs[m], 0, sizeof xs[m]);
            reqs[i].result = rc;
            continue;
        }
        which[m++] = i;
    }
    s3_run(s3_ctx_of(st), xs, m, st->opt.max_parallel);
    for (int j = 0; j < m; j++) {
        reqs[which[j]].result = xs[j].result;
        s3_xfer_fini(&xs[j]);
    }
    free(xs);
    free(which);
}

/* ---- hooks for the module's own tests and tools -------------------------------- */

ssize_t s3_debug_get_raw_query(struct obj_store *st, const char *raw_query, void *buf, size_t cap)
{
    int rc = -EINVAL;
    if (!st || obj_backend_of(st, &rc) != &s3_backend)
        return rc < 0 ? rc : -EINVAL;
    struct s3_xfer x = { 0 };
    rc = s3_xfer_init(s3_ctx_of(st), &x, S3_LIST, "(raw query)", raw_query);
    if (rc == 0) {
        s3_run(s3_ctx_of(st), &x, 1, 1);
        rc = (int)x.result;
    }
    ssize_t n = rc < 0 ? rc : (ssize_t)(x.body_len < cap ? x.body_len : cap);
    if (n > 0)
        memcpy(buf, x.body, (size_t)n);
    s3_xfer_fini(&x);
    return n;
}

uint64_t s3_debug_connections_opened(const struct obj_store *st)
{
    if (!st || st->be != &s3_backend || !((struct s3_ctx *)st->priv)->conn)
        return 0;
    return s3_conn_opened(((struct s3_ctx *)st->priv)->conn);
}

uint64_t s3_debug_cred_fetches(const struct obj_store *st)
{
    if (!st || st->be != &s3_backend)
        return 0;
    return s3_cred_fetches(((struct s3_ctx *)st->priv)->cred);
}

const struct obj_backend s3_backend = {
    .size = sizeof(struct obj_backend),
    .open = s3_open,
    .close = s3_close,
    .after_fork = s3_after_fork,
    .get = s3_get,
    .put = s3_put,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .batch = s3_batch,
};

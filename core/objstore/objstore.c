/* objstore.c - the object store's front door (objstore.h).
 *
 * Owns: argument checks, default options, and the choice of backend
 * (file:// or S3) by URL scheme. Everything after that is the backend's.
 * Promises: no connection is made here; arguments a backend could
 * misread (NULL buffers, a range larger than the buffer, empty keys) are
 * refused with -EINVAL before any backend sees them. An S3 store is opened
 * with its backend on its first request, when the backend's table is
 * first needed (backend_lazy.h): a process that never asks the bucket
 * never loads libcurl. When it cannot be had, requests answer -EIO.
 */
#include "backend_lazy.h"
#include "objstore_internal.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_KEY_MAX 1024          /* S3's limit, in bytes of UTF-8 */

static const struct obj_options obj_defaults = {
    .max_retries = 6,
    .timeout_ms = 30000,
    .connect_timeout_ms = 5000,
    .deadline_ms = 60000,
    .max_parallel = 32,
};

/* Non-positive fields take the default, except max_retries where 0 means
 * "no retry" and only a negative value means "default". */
static void obj_fill_options(const struct obj_options *in, struct obj_options *out)
{
    *out = obj_defaults;
    if (!in)
        return;
    if (in->max_retries >= 0)
        out->max_retries = in->max_retries;
    if (in->timeout_ms > 0)
        out->timeout_ms = in->timeout_ms;
    if (in->connect_timeout_ms > 0)
        out->connect_timeout_ms = in->connect_timeout_ms;
    if (in->deadline_ms > 0)
        out->deadline_ms = in->deadline_ms;
    if (in->max_parallel > 0)
        out->max_parallel = in->max_parallel;
    out->cred_dir = in->cred_dir;
    out->payload = in->payload;
}

int obj_open(const char *url, const struct obj_options *opts, struct obj_store **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct obj_store *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    int rc = obj_parse_url(url, &st->url);
    if (rc) {
        log_error("objstore", "bad bucket URL (want file:///dir, http(s)://host[:port]/bucket[/prefix] or s3://bucket[/prefix])");
        free(st);
        return rc;
    }
    obj_fill_options(opts, &st->opt);
    if (st->opt.payload == OBJ_PAYLOAD_SIGNED || st->opt.payload == OBJ_PAYLOAD_UNSIGNED)
        st->url.sign_payload = st->opt.payload == OBJ_PAYLOAD_SIGNED;
    obj_url_describe(&st->url, st->desc, sizeof st->desc);
    if (st->url.scheme == OBJ_FILE) {
        st->be = &obj_file_backend;
        rc = st->be->open(st);
    }
    if (rc) {
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static pthread_mutex_t obj_open_lock = PTHREAD_MUTEX_INITIALIZER;

const struct obj_backend *obj_backend_of(struct obj_store *st, int *rc)
{
    assert(st && rc);
    const struct obj_backend *be = __atomic_load_n(&st->be, __ATOMIC_ACQUIRE);
    if (be)
        return be;
    const struct obj_backend *s3 = backend_table(BACKEND_S3);
    if (!s3) {
        *rc = -EIO;
        return NULL;
    }
    pthread_mutex_lock(&obj_open_lock);
    *rc = 0;
    if (!st->be && (*rc = s3->open(st)) == 0)
        __atomic_store_n(&st->be, s3, __ATOMIC_RELEASE);
    be = st->be;
    pthread_mutex_unlock(&obj_open_lock);
    return be;
}

void obj_close(struct obj_store *st)
{
    if (!st)
        return;
    if (st->be)
        st->be->close(st);
    free(st);
}

void obj_after_fork(struct obj_store *st)
{
    if (st && st->be)
        st->be->after_fork(st);
}

int obj_check_key(const char *key)
{
    if (!key || !*key)
        return -EINVAL;
    return strlen(key) > OBJ_KEY_MAX ? -ENAMETOOLONG : 0;
}

static int obj_check_get(const char *key, size_t len, const void *buf, size_t cap)
{
    if ((!buf && cap > 0) || len > cap)
        return -EINVAL;
    return obj_check_key(key);
}

ssize_t obj_get(struct obj_store *st, const char *key, uint64_t off, size_t len,
                void *buf, size_t cap)
{
    int rc = st ? obj_check_get(key, len, buf, cap) : -EINVAL;
    const struct obj_backend *be = rc ? NULL : obj_backend_of(st, &rc);
    return be ? be->get(st, key, off, len, buf, cap) : rc;
}

int obj_put(struct obj_store *st, const char *key, const void *data, size_t len)
{
    int rc = st && (data || len == 0) ? obj_check_key(key) : -EINVAL;
    const struct obj_backend *be = rc ? NULL : obj_backend_of(st, &rc);
    return be ? be->put(st, key, data ? data : "", len) : rc;
}

int obj_head(struct obj_store *st, const char *key, uint64_t *size)
{
    int rc = st && size ? obj_check_key(key) : -EINVAL;
    const struct obj_backend *be = rc ? NULL : obj_backend_of(st, &rc);
    return be ? be->head(st, key, size) : rc;
}

int obj_delete(struct obj_store *st, const char *key)
{
    int rc = st ? obj_check_key(key) : -EINVAL;
    const struct obj_backend *be = rc ? NULL : obj_backend_of(st, &rc);
    return be ? be->del(st, key) : rc;
}

int obj_list(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg)
{
    if (!st || !cb)
        return -EINVAL;
    if (!prefix)
        prefix = "";
    if (strlen(prefix) > OBJ_KEY_MAX)
        return -ENAMETOOLONG;
    int rc;
    const struct obj_backend *be = obj_backend_of(st, &rc);
    return be ? be->list(st, prefix, cb, arg) : rc;
}

static int obj_check_request(const struct obj_request *r)
{
    switch (r->op) {
    case OBJ_GET:
        return obj_check_get(r->key, r->len, r->buf, r->cap);
    case OBJ_PUT:
        return r->buf || r->len == 0 ? obj_check_key(r->key) : -EINVAL;
    case OBJ_DELETE:
        return obj_check_key(r->key);
    default:
        return -EINVAL;
    }
}

/* Invalid requests are answered here (result < 0 on entry); backends run
 * only the requests whose result is still 0. */
int obj_batch(struct obj_store *st, struct obj_request *reqs, int n)
{
    if (!st || n < 0 || (n > 0 && !reqs))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        reqs[i].result = obj_check_request(&reqs[i]);
    int rc = 0;
    const struct obj_backend *be = n > 0 ? obj_backend_of(st, &rc) : NULL;
    if (be)
        be->batch(st, reqs, n);
    for (int i = 0; i < n && rc < 0; i++)
        if (reqs[i].result == 0)
            reqs[i].result = rc;
    for (int i = 0; i < n; i++)
        if (reqs[i].result < 0)
            return (int)reqs[i].result;
    return 0;
}

const char *obj_describe(const struct obj_store *st)
{
    return st ? st->desc : "(no store)";
}

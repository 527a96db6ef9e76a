/* backend_lazy.c - loading libshimfs-pg.so and libshimfs-s3.so on first
 * use (see backend_lazy.h), and the stand-in S3 backend whose first
 * operation on a store loads the real one and opens the store with it.
 *
 * Promises: each library is looked for next to libshimfs-core.so (so a
 * copied folder, an installed prefix and SHIMFS_CORE_LIB all work), loaded
 * at most once per process (a failure is remembered and logged once);
 * a store is opened by the real backend exactly once, after which its
 * calls go there directly. Built only into the shared engine.
 */
#include "backend_lazy.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "libdir.h"
#include "log.h"
#include "s3_internal.h"

static const char *const backend_file[BACKEND_COUNT] = { "libshimfs-pg.so", "libshimfs-s3.so" };
static const char *const backend_what[BACKEND_COUNT] = { "the metadata engine (PostgreSQL)",
                                                          "the S3 object store" };

static struct {
    pthread_mutex_t lock;
    int state[BACKEND_COUNT];   /* 0 not tried, 1 loaded, -1 failed */
    int logged[BACKEND_COUNT];
} bl = { .lock = PTHREAD_MUTEX_INITIALIZER };

void *backend_lazy_sym(void *lib, const char *name)
{
    return dlsym(lib, name);
}

int backend_lazy_get(int which, int (*bind)(void *lib))
{
    int st = __atomic_load_n(&bl.state[which], __ATOMIC_ACQUIRE);
    if (st)
        return st > 0;
    pthread_mutex_lock(&bl.lock);
    if (!bl.state[which]) {
        char path[4096 + 64];
        libdir_get(path, sizeof path - 64);
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "%s", backend_file[which]);
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        const char *why = lib ? NULL : dlerror();
        if (lib && bind(lib) < 0)
            why = "a symbol is missing (a library from another build?)";
        if (why)
            log_once(&bl.logged[which], LOG_ERROR, "engine", "cannot load %s (%s): %s", backend_what[which],
                     path, why);
        __atomic_store_n(&bl.state[which], why ? -1 : 1, __ATOMIC_RELEASE);
    }
    st = bl.state[which];
    pthread_mutex_unlock(&bl.lock);
    return st > 0;
}

/* ---- the stand-in S3 backend ---- */

static const struct obj_backend *s3_real;
static pthread_mutex_t s3_open_lock = PTHREAD_MUTEX_INITIALIZER;

static int s3_lazy_bind(void *lib)
{
    s3_real = backend_lazy_sym(lib, "s3_backend");
    return s3_real ? 0 : -1;
}

/* Open st with the real backend unless done: 0 or -errno. */
static int s3_lazy_ensure(struct obj_store *st)
{
    if (!backend_lazy_get(BACKEND_S3, s3_lazy_bind))
        return -EIO;
    int rc = 0;
    pthread_mutex_lock(&s3_open_lock);
    if (__atomic_load_n(&st->be, __ATOMIC_ACQUIRE) != s3_real) {
        rc = s3_real->open(st);
        if (rc == 0)
            __atomic_store_n(&st->be, s3_real, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&s3_open_lock);
    return rc;
}

static int s3_lazy_open(struct obj_store *st)
{
    (void)st; /* nothing until the first request */
    return 0;
}

static void s3_lazy_close(struct obj_store *st) { (void)st; }
static void s3_lazy_after_fork(struct obj_store *st) { (void)st; }

static ssize_t s3_lazy_get(struct obj_store *st, const char *key, uint64_t off, size_t len,
                           void *buf, size_t cap)
{
    int rc = s3_lazy_ensure(st);
    return rc < 0 ? rc : st->be->get(st, key, off, len, buf, cap);
}

static int s3_lazy_put(struct obj_store *st, const char *key, const void *data, size_t len)
{
    int rc = s3_lazy_ensure(st);
    return rc < 0 ? rc : st->be->put(st, key, data, len);
}

static int s3_lazy_head(struct obj_store *st, const char *key, uint64_t *size)
{
    int rc = s3_lazy_ensure(st);
    return rc < 0 ? rc : st->be->head(st, key, size);
}

static int s3_lazy_del(struct obj_store *st, const char *key)
{
    int rc = s3_lazy_ensure(st);
    return rc < 0 ? rc : st->be->del(st, key);
}

static int s3_lazy_list(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg)
{
    int rc = s3_lazy_ensure(st);
    return rc < 0 ? rc : st->be->list(st, prefix, cb, arg);
}

static void s3_lazy_batch(struct obj_store *st, struct obj_request *reqs, int n)
{
    int rc = s3_lazy_ensure(st);
    if (rc == 0) {
        st->be->batch(st, reqs, n);
        return;
    }
    for (int i = 0; i < n; i++)
        if (reqs[i].result == 0)
            reqs[i].result = rc;
}

static const struct obj_backend s3_lazy_backend = {
    .open = s3_lazy_open,
    .close = s3_lazy_close,
    .after_fork = s3_lazy_after_fork,
    .get = s3_lazy_get,
    .put = s3_lazy_put,
    .head = s3_lazy_head,
    .del = s3_lazy_del,
    .list = s3_lazy_list,
    .batch = s3_lazy_batch,
};

const struct obj_backend *obj_s3_backend(void)
{
    return &s3_lazy_backend;
}

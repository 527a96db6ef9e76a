/* backend_lazy.c - the shared engine's loader of its backends
 * (backend_lazy.h): one library per backend, one symbol per library.
 *
 * Promises: each library is looked for next to libshimfs-core.so (so a
 * copied folder, an installed prefix and SHIMFS_CORE_LIB all work), loaded
 * at most once per process, and its table accepted only when its size is
 * this build's; a failure is logged once and remembered. Built only into
 * the shared engine.
 */
#include "backend_lazy.h"

#include <assert.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "libdir.h"
#include "log.h"
#include "meta.h"
#include "objstore_internal.h"

static const struct {
    const char *file, *symbol, *what;
    size_t size;                /* of the table: its first field says its own */
} backend[BACKEND_COUNT] = {
    [BACKEND_PG] = { "libshimfs-pg.so", "meta_pg_ops", "the metadata engine (PostgreSQL)",
                     sizeof(struct meta_ops) },
    [BACKEND_S3] = { "libshimfs-s3.so", "s3_backend", "the S3 object store",
                     sizeof(struct obj_backend) },
};

static struct {
    pthread_mutex_t lock;
    const void *table[BACKEND_COUNT];   /* atomic; set once loaded */
    int failed[BACKEND_COUNT];
    int logged[BACKEND_COUNT];
} bl = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Load backend `which`: its table, or NULL with *why set. */
static const void *backend_load(int which, const char *path, const char **why)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        *why = dlerror();
        return NULL;
    }
    const size_t *t = dlsym(lib, backend[which].symbol);
    if (!t || *t != backend[which].size) {
        *why = t ? "its table is from another build" : "its table is missing";
        return NULL;
    }
    return t;
}

const void *backend_table(int which)
{
    assert(which >= 0 && which < BACKEND_COUNT);
    const void *t = __atomic_load_n(&bl.table[which], __ATOMIC_ACQUIRE);
    if (t)
        return t;
    pthread_mutex_lock(&bl.lock);
    if (!bl.table[which] && !bl.failed[which]) {
        char path[4096 + 64];
        libdir_get(path, sizeof path - 64);
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "%s", backend[which].file);
        const char *why = NULL;
        t = backend_load(which, path, &why);
        if (t)
            __atomic_store_n(&bl.table[which], t, __ATOMIC_RELEASE);
        else {
            bl.failed[which] = 1;
            log_once(&bl.logged[which], LOG_ERROR, "engine", "cannot load %s (%s): %s",
                     backend[which].what, path, why ? why : "unknown error");
        }
    }
    t = bl.table[which];
    pthread_mutex_unlock(&bl.lock);
    return t;
}

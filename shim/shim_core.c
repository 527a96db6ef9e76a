/* shim_core.c - loads the engine (libshimfs-core.so) on the first touch of
 * the prefix and is the only place that calls it.
 *
 * Why lazily: linking libcurl and libpq into the preload costs every
 * process ~3 ms at start; a process that never touches the prefix must not
 * pay it, nor connect anywhere. The engine is dlopened RTLD_LOCAL under the
 * recursion guard (its constructors and libraries call open/read/stat), its
 * table of vfs calls (`vfs_ops`, core/vfs/vfs.h) is the one symbol resolved,
 * and vfs_init runs once. A failure logs one line; volume paths then fail
 * with EIO and everything else works.
 */
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "shim_core.h"

/* The table, published once the engine is loaded (under shim_core_lock;
 * readers come after shim_core_state's release store). */
const struct vfs_ops *shim_vfs;

static pthread_mutex_t shim_core_lock = PTHREAD_MUTEX_INITIALIZER;
static int shim_core_state;    /* 0 not tried, 1 ready, -errno failed */

/* The engine's table, or NULL after one log line (a library from another
 * build has another table size). */
static const struct vfs_ops *shim_core_table(void *h)
{
    const struct vfs_ops *ops = dlsym(h, "vfs_ops");
    if (!ops || ops->size != sizeof *ops) {
        shim_log(SHIM_LOG_ERROR, "cannot use %s: %s; volume paths fail with EIO",
                 shim_cfg.core_lib, ops ? "its vfs_ops table is from another build"
                                        : "it has no vfs_ops table");
        return NULL;
    }
    return ops;
}

/* An engine thread runs with the guard raised for its whole life: its
 * libc calls go to libc, never back into the file system (core/thread.h). */
static void shim_core_thread_enter(void)
{
    shim_guard++;
}

static const struct vfs_host shim_core_host = {
    .log_emit = shim_log_emit,
    .thread_enter = shim_core_thread_enter,
};

/* Load the engine and open the volume. The engine keeps its long-lived
 * descriptors above the numbers shells pick by hand (core/io.h: its start
 * runs under io_hold_low). */
static int shim_core_open(void)
{
    void *h = dlopen(shim_cfg.core_lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        shim_log(SHIM_LOG_ERROR, "cannot load the engine %s: %s; volume paths fail with EIO",
                 shim_cfg.core_lib, why ? why : "unknown error");
        return -EIO;
    }
    const struct vfs_ops *ops = shim_core_table(h);
    if (!ops)
        return -EIO;
    shim_vfs = ops;
    ops->host(&shim_core_host);
    int rc = ops->init();
    /* vfs_init logged why; programs see EIO on volume paths */
    return rc < 0 ? -EIO : 1;
}

int shim_core_load(void)
{
    int s = __atomic_load_n(&shim_core_state, __ATOMIC_ACQUIRE);
    if (SHIM_LIKELY(s == 1))
        return 0;
    if (s < 0)
        return s;
    /* a vfork child shares our memory and dies at exec: never start the
     * engine (threads, connections) there */
    if (shim_in_vfork_child())
        return -EIO;
    int saved = errno;
    pthread_mutex_lock(&shim_core_lock);
    s = shim_core_state;
    if (s == 0) {
        shim_guard++;
        s = shim_core_open();
        shim_guard--;
        __atomic_store_n(&shim_core_state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&shim_core_lock);
    errno = saved;
    return s == 1 ? 0 : s;
}

int shim_core_loaded(void) { return __atomic_load_n(&shim_core_state, __ATOMIC_ACQUIRE) == 1; }

void shim_core_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_core_lock = fresh;
    if (!shim_core_loaded())
        return;
    shim_guard++;
    shim_vfs->after_fork();
    shim_guard--;
}

/* vfs_verify.c - verify-ahead: the first-use check of cached blocks, done
 * by a background thread for the files a directory reader opens next.
 *
 * Every process checks each cached block once before it uses it
 * (SHIMFS_CACHE_VERIFY=first-use). For a warm `find | xargs cat` that check
 * (read the file, hash it) was a fifth of the epoch, all of it on the
 * reader's path. When files of a directory are opened in name order, the
 * next ones are queued here and checked on another core; the reader's own
 * open then finds them verified. Nothing is weakened: a block not checked
 * in time is checked by the reader, and a corrupt one is dropped (and later
 * fetched again) before anyone reads it.
 *
 * Promises: one lazily started thread per process (restarted after fork);
 * a bounded queue whose overflow is dropped (it is a hint); never blocks
 * the caller.
 */
#include <pthread.h>
#include <string.h>

#include "cache.h"
#include "log.h"
#include "vfs_internal.h"

#define VFS_VERIFY_QUEUE 128

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int started, head, count;
    char keys[VFS_VERIFY_QUEUE][LAYOUT_KEY_MAX];
} vq = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void *vfs_verify_main(void *arg)
{
    (void)arg;
    char key[LAYOUT_KEY_MAX];
    for (;;) {
        pthread_mutex_lock(&vq.lock);
        while (vq.count == 0)
            pthread_cond_wait(&vq.wake, &vq.lock);
        memcpy(key, vq.keys[vq.head], sizeof key);
        vq.head = (vq.head + 1) % VFS_VERIFY_QUEUE;
        vq.count--;
        pthread_mutex_unlock(&vq.lock);
        struct volume *v = vfs_volume();
        if (v && v->cache)
            (void)cache_check_block(v->cache, key); /* a corrupt block is dropped there */
    }
    return NULL;
}

/* Called with vq.lock held. */
static int vfs_verify_start_locked(void)
{
    if (vq.started)
        return 0;
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    int rc = pthread_create(&t, &at, vfs_verify_main, NULL);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        log_debug("vfs", "verify-ahead thread: %s; readers check blocks themselves", strerror(rc));
        return -rc;
    }
    vq.started = 1;
    return 0;
}

int vfs_verify_wanted(void)
{
    struct volume *v = vfs_volume();
    return v && v->cache && v->cfg.cache_verify == CONFIG_VERIFY_FIRST_USE;
}

void vfs_verify_ahead(struct vfs_smap *const *maps, int n)
{
    char key[LAYOUT_KEY_MAX];
    uint32_t blen;
    uint64_t id;
    pthread_mutex_lock(&vq.lock);
    for (int i = 0; i < n; i++) {
        if (vq.count == VFS_VERIFY_QUEUE || vfs_verify_start_locked() < 0)
            break;
        if (vfs_single_block_key(maps[i], key, sizeof key, &blen, &id) != 0)
            continue; /* only one-block files are handed out as cache files */
        memcpy(vq.keys[(vq.head + vq.count) % VFS_VERIFY_QUEUE], key, sizeof key);
        vq.count++;
    }
    pthread_cond_signal(&vq.wake);
    pthread_mutex_unlock(&vq.lock);
}

void vfs_verify_after_fork(void)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    vq.lock = m;
    vq.wake = c;
    vq.started = 0; /* the thread did not survive the fork */
    vq.head = vq.count = 0;
}

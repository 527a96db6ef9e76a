/* cache_queue.c - cache_put's bounded queue and the writer thread behind it.
 *
 * Promises: cache_put never blocks on disk. It copies the block into the
 * queue (at most CACHE_QUEUE_ITEMS entries / cache_config.queue_bytes) and returns;
 * when the queue is full the put is dropped and counted, since a reader must
 * not wait for a cache. cache_put_ref queues the caller's bytes themselves
 * (same bounds) and hands them back through its release callback, exactly
 * once, never with the queue lock held; with CACHE_PUT_WAIT it waits for
 * room instead of dropping. One writer thread per process, started on the first
 * put with every signal blocked (signals stay the host program's business),
 * takes batches off the queue and hands them to cache_write.c.
 * cache_flush waits until every put queued by this process is on disk or
 * dropped. After fork the child has no writer: cache_queue_after_fork
 * forgets the parent's queue (the parent writes it) and the next put in the
 * child starts the child's own writer.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache_internal.h"
#include "trust.h"
#include "io.h"
#include "log.h"
#include "thread.h"

void cache_queue_init(struct cache *c)
{
    pthread_mutex_init(&c->qmu, NULL);
    pthread_cond_init(&c->qcv, NULL);
    pthread_cond_init(&c->qdone, NULL);
    c->qhead = c->qtail = c->inflight = NULL;
    c->qbytes = 0;
    c->qitems = c->stop = c->writer_started = 0;
}

/* Precondition: the queue is not empty (the writer waits until it is). */
static struct cache_item *queue_take(struct cache *c, int *count, size_t *bytes)
{
    assert(c->qhead);
    struct cache_item *first = c->qhead, *last = first; /* the first is always taken */
    size_t b = 0;
    int n = 0;
    for (struct cache_item *it = first; it && n < CACHE_BATCH_ITEMS; it = it->next) {
        if (n && b + it->len > CACHE_BATCH_BYTES)
            break;
        if (n && c->limit && cache_cost(c, b + it->len) > c->limit / 4)
            break;                 /* a small cache takes blocks one by one */
        b += it->len;
        n++;
        last = it;
    }
    c->qhead = last->next;
    if (!c->qhead)
        c->qtail = NULL;
    last->next = NULL;
    *count = n;
    *bytes = b;
    return first;
}

/* Give an item's bytes back (cache_put_ref) and free it; without qmu. */
static void queue_item_free(struct cache_item *it)
{
    if (it->release)
        it->release(it->release_arg);
    free(it);
}

static void *queue_writer(void *arg)
{
    struct cache *c = arg;
    struct cache_item *batch[CACHE_BATCH_ITEMS];
    /* held for the cache's life: never at a number a shell dup2s onto
     * (io.h; a replaced lock descriptor would drop the lock silently) */
    if (c->dir_fd >= 0 &&
        (c->lock_fd = io_fd_high(trust_file_open(c->dir_fd, "lock", O_RDWR | O_CREAT, 0600))) < 0)
        c->lock_fd = -1;
    cache_sum_probe(c);
    pthread_mutex_lock(&c->qmu);
    for (;;) {
        while (!c->qhead && !c->stop)
            pthread_cond_wait(&c->qcv, &c->qmu);
        if (!c->qhead)
            break;
        int n;
        size_t bytes;
        c->inflight = queue_take(c, &n, &bytes);
        pthread_mutex_unlock(&c->qmu);
        int i = 0;
        for (struct cache_item *it = c->inflight; it; it = it->next)
            batch[i++] = it;
        cache_write_batch(c, batch, n);
        for (i = 0; i < n; i++)
            if (batch[i]->release)   /* the bytes are on disk: the caller's again */
                batch[i]->release(batch[i]->release_arg), batch[i]->release = NULL;
        pthread_mutex_lock(&c->qmu);
        c->inflight = NULL;
        for (i = 0; i < n; i++)
            free(batch[i]);
        c->qitems -= n;
        c->qbytes -= bytes;
        pthread_cond_broadcast(&c->qdone);
    }
    pthread_mutex_unlock(&c->qmu);
    return NULL;
}

/* Called with qmu held. */
static int queue_start(struct cache *c)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = thread_start(&c->writer, NULL, queue_writer, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return -r;
    c->writer_started = 1;
    return 0;
}

static int queue_has(struct cache *c, const char *key)
{
    for (struct cache_item *it = c->qhead; it; it = it->next)
        if (!strcmp(it->key, key))
            return 1;
    for (struct cache_item *it = c->inflight; it; it = it->next)
        if (!strcmp(it->key, key))
            return 1;
    return 0;
}

static int queue_full(struct cache *c, size_t len)
{
    return c->qitems >= CACHE_QUEUE_ITEMS || c->qbytes + len > c->qmax;
}

/* Reserve a queue slot for len bytes: 1 taken, 0 duplicate, -ENOSPC full.
 * wait: a full queue is waited out (the writer drains it) unless it holds
 * nothing of ours to drain or is stopping. */
static int queue_claim(struct cache *c, const char *key, size_t len, int wait)
{
    int r = 1;
    pthread_mutex_lock(&c->qmu);
    while (wait && queue_full(c, len) && c->qitems > 0 && c->writer_started && !c->stop &&
           !queue_has(c, key))
        pthread_cond_wait(&c->qdone, &c->qmu);
    if (queue_has(c, key))
        r = 0;
    else if (queue_full(c, len))
        r = -ENOSPC;
    else {
        c->qitems++;
        c->qbytes += len;
    }
    pthread_mutex_unlock(&c->qmu);
    return r;
}

static void queue_unclaim(struct cache *c, size_t len)
{
    pthread_mutex_lock(&c->qmu);
    c->qitems--;
    c->qbytes -= len;
    pthread_cond_broadcast(&c->qdone);
    pthread_mutex_unlock(&c->qmu);
}

/* Queue one put; data is copied unless release is set (cache_put_ref).
 * The item's bytes go back to the caller (release) on every path. */
static int queue_put(struct cache *c, const char *key, const void *data, size_t len,
                     const uint64_t *sum, int flags, void (*release)(void *), void *arg)
{
    int r = -EINVAL;
    if (!c || cache_key_check(key) < 0 || (!data && len))
        goto give_back;
    uint64_t klen = cache_key_len(key);
    if (klen && klen != len)
        goto give_back;        /* would read back as corrupt: the key names the length */
    r = 0;
    if (c->blocks_fd < 0) {
        cache_put_failed(c, key, c->dir_err ? c->dir_err : EROFS);
        goto give_back;
    }
    int q = len > c->qmax ? -ENOSPC : queue_claim(c, key, len, flags & CACHE_PUT_WAIT);
    if (q <= 0) {
        if (q < 0) {
            cache_count(c, CTR_DROPPED, 1);
            r = -ENOSPC;
        }
        goto give_back;
    }
    size_t ksize = strlen(key) + 1;
    struct cache_item *it = malloc(sizeof *it + (release ? 0 : len) + ksize);
    if (!it) {
        queue_unclaim(c, len);
        cache_count(c, CTR_DROPPED, 1);
        goto give_back;
    }
    memset(it, 0, sizeof *it);
    it->len = len;
    it->fd = -1;
    if (sum) {
        it->sum = *sum;
        it->have_sum = 1;
    }
    it->direct = (flags & CACHE_PUT_DIRECT) ? 1 : 0;
    if (release) {
        it->data = (unsigned char *)data; /* only read: see cache_put_ref */
        it->release = release;
        it->release_arg = arg;
        it->key = (char *)it->own;
    } else {
        it->data = it->own;
        memcpy(it->data, data, len);
        it->key = (char *)it->own + len;
    }
    memcpy(it->key, key, ksize);
    pthread_mutex_lock(&c->qmu);
    if (!c->writer_started && queue_start(c) < 0) {
        pthread_mutex_unlock(&c->qmu);
        it->release = NULL;
        free(it);
        queue_unclaim(c, len);
        cache_put_failed(c, key, EAGAIN);
        goto give_back;
    }
    if (c->qtail)
        c->qtail->next = it;
    else
        c->qhead = it;
    c->qtail = it;
    pthread_cond_signal(&c->qcv);
    pthread_mutex_unlock(&c->qmu);
    return 0;
give_back:
    if (release)
        release(arg);
    return r;
}

int cache_put(struct cache *c, const char *key, const void *data, size_t len)
{
    return queue_put(c, key, data, len, NULL, 0, NULL, NULL);
}

/* With SHIMFS_CACHE_VERIFY=always the writer reads each block back into
 * its buffer: never into the caller's bytes, so such puts are copies. */
int cache_put_ref(struct cache *c, const char *key, const void *data, size_t len, uint64_t sum,
                  int flags, void (*release)(void *arg), void *arg)
{
    if (!release || (c && c->verify_every_read)) {
        int r = queue_put(c, key, data, len, &sum, flags, NULL, NULL);
        if (release)
            release(arg);
        return r;
    }
    return queue_put(c, key, data, len, &sum, flags, release, arg);
}

void cache_put_wait(struct cache *c, const char *key)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->qmu);
    while (c->writer_started && queue_has(c, key))
        pthread_cond_wait(&c->qdone, &c->qmu);
    pthread_mutex_unlock(&c->qmu);
}

int cache_flush(struct cache *c)
{
    if (!c)
        return -EINVAL;
    pthread_mutex_lock(&c->qmu);
    while (c->qitems > 0 && c->writer_started)
        pthread_cond_wait(&c->qdone, &c->qmu);
    pthread_mutex_unlock(&c->qmu);
    return 0;
}

/* Drop a queued (not yet taken) put of `key` (cache_remove). */
void cache_queue_cancel(struct cache *c, const char *key)
{
    struct cache_item *found = NULL;
    pthread_mutex_lock(&c->qmu);
    for (struct cache_item **pp = &c->qhead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key))
            continue;
        found = *pp;
        *pp = found->next;
        if (c->qtail == found)
            c->qtail = prev;
        c->qitems--;
        c->qbytes -= found->len;
        pthread_cond_broadcast(&c->qdone);
        break;
    }
    pthread_mutex_unlock(&c->qmu);
    if (found)
        queue_item_free(found);
}

/* Drain the queue and stop the writer (cache_close). */
void cache_queue_stop(struct cache *c)
{
    pthread_mutex_lock(&c->qmu);
    c->stop = 1;
    pthread_cond_signal(&c->qcv);
    int started = c->writer_started;
    pthread_mutex_unlock(&c->qmu);
    if (started)
        pthread_join(c->writer, NULL);
    c->writer_started = 0;
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    c->lock_fd = -1;
}

/* An O_TMPFILE the parent's writer had open when we forked: close our copy
 * so its space is not held by the child, but only if the number still
 * names that very file. */
static void queue_close_inherited(struct cache_item *it)
{
    struct stat st;
    if (it->fd >= 0 && fstat(it->fd, &st) == 0 && st.st_ino == it->ino && st.st_dev == it->dev)
        close(it->fd);
}

/* The parent's items: their bytes (cache_put_ref) are the parent's too, so
 * no release runs here. */
static void queue_free_list(struct cache_item *it)
{
    while (it) {
        struct cache_item *next = it->next;
        queue_close_inherited(it);
        free(it);
        it = next;
    }
}

/* In the child: the writer thread does not exist here, and its queue is the
 * parent's work. The parent's lock description is closed, never unlocked. */
void cache_queue_after_fork(struct cache *c)
{
    queue_free_list(c->qhead);
    queue_free_list(c->inflight);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    c->lock_fd = -1;
    c->pending = 0;
    cache_queue_init(c);
}

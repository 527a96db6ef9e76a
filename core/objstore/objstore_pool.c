/* objstore_pool.c - a short-lived pool of worker threads for one batch.
 *
 * Threads are made per call and joined before it returns: nothing
 * outlives the call, so fork never finds a half-owned worker and there is
 * no pool to restart afterwards. Workers block every signal, because we
 * live inside someone else's program and its handlers expect to run on
 * its own threads.
 */
#include "objstore_internal.h"
#include "thread.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct obj_pool {
    void (*fn)(void *arg, int i);
    void *arg;
    int n;
    int next;                   /* atomically claimed */
};

static void obj_pool_drain(struct obj_pool *p)
{
    for (;;) {
        int i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->n)
            return;
        p->fn(p->arg, i);
    }
}

static void *obj_pool_worker(void *arg)
{
    obj_pool_drain(arg);
    return NULL;
}

void obj_pool_run(int n, int nthreads, void (*fn)(void *arg, int i), void *arg)
{
    struct obj_pool p = { .fn = fn, .arg = arg, .n = n, .next = 0 };
    assert(fn && n >= 0);
    if (nthreads > n)
        nthreads = n;
    pthread_t *tids = calloc(nthreads > 1 ? (size_t)nthreads : 1, sizeof *tids);
    int started = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int t = 1; tids && t < nthreads; t++) {
        if (thread_start(&tids[started], NULL, obj_pool_worker, &p) != 0)
            break;          /* fewer threads is slower, not wrong */
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    obj_pool_drain(&p);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(tids);
}

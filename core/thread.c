/* thread.c - see thread.h. */
#include "thread.h"

#include <errno.h>
#include <stdlib.h>

static void (*thread_enter_fn)(void);

void thread_set_enter(void (*enter)(void))
{
    __atomic_store_n(&thread_enter_fn, enter, __ATOMIC_RELEASE);
}

struct thread_call {
    void *(*fn)(void *);
    void *arg;
};

static void *thread_main(void *p)
{
    struct thread_call c = *(struct thread_call *)p;
    free(p);
    void (*enter)(void) = __atomic_load_n(&thread_enter_fn, __ATOMIC_ACQUIRE);
    if (enter)
        enter();
    return c.fn(c.arg);
}

int thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    struct thread_call *c = malloc(sizeof *c);
    if (!c)
        return ENOMEM;
    c->fn = fn;
    c->arg = arg;
    int rc = pthread_create(t, attr, thread_main, c);
    if (rc != 0)
        free(c);
    return rc;
}

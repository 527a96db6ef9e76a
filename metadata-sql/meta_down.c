/* meta_down.c - what a handle knows about the database being unreachable:
 * when to try again, and what to say about it.
 *
 * Promises: after a connect failure or a call that got no answer within
 * the handle's timeout, the database is "down": calls answer at once with
 * the errno of that failure and make no connect attempt, until a backoff
 * (exponential from META_DOWN_BASE_MS, capped at META_DOWN_CAP_MS, each
 * wait drawn in [1/2, 1] of its window so processes spread) has passed;
 * then one thread probes with a real connect while the others keep
 * failing fast. The outage is logged once when it starts, then at most
 * once per META_DOWN_LOG_MS with the number of calls refused meanwhile,
 * and once when the database answers again. Recovery needs no caller.
 */
#include "meta_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define META_DOWN_BASE_MS 500
#define META_DOWN_CAP_MS  30000
#define META_DOWN_LOG_MS  30000

int64_t meta_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void meta_down_init(struct meta_down *d)
{
    memset(d, 0, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
}

int meta_down_known(struct meta *m)
{
    return __atomic_load_n(&m->down.until_ns, __ATOMIC_ACQUIRE) != 0;
}

int meta_down_check(struct meta *m)
{
    struct meta_down *d = &m->down;
    if (!meta_down_known(m))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    if (d->until_ns && (d->probing || meta_mono_ns() < d->until_ns)) {
        d->refused++;
        rc = d->err;
    } else if (d->until_ns) {
        d->probing = 1;     /* this thread's connect is the probe */
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void meta_down_failed(struct meta *m, int err, const char *why)
{
    struct meta_down *d = &m->down;
    assert(err < 0);
    int64_t now = meta_mono_ns();
    pthread_mutex_lock(&d->mu);
    int first = d->until_ns == 0;
    if (first) {
        d->since_ns = now;
        d->backoff_ms = META_DOWN_BASE_MS;
    } else if (d->backoff_ms < META_DOWN_CAP_MS) {
        d->backoff_ms = d->backoff_ms * 2 > META_DOWN_CAP_MS ? META_DOWN_CAP_MS : d->backoff_ms * 2;
    }
    unsigned seed = (unsigned)now ^ (unsigned)(uintptr_t)&seed;
    int64_t wait_ms = d->backoff_ms / 2 + rand_r(&seed) % (d->backoff_ms / 2 + 1);
    __atomic_store_n(&d->until_ns, now + wait_ms * 1000000, __ATOMIC_RELEASE);
    d->probing = 0;
    d->err = err;
    int say = first || now - d->logged_ns >= (int64_t)META_DOWN_LOG_MS * 1000000;
    uint64_t refused = d->refused;
    if (say) {
        d->logged_ns = now;
        d->refused = 0;
    }
    int64_t down_s = (now - d->since_ns) / 1000000000;
    pthread_mutex_unlock(&d->mu);
    if (!say)
        return;
    if (first)
        log_error(META_LOG, "%s; failing calls fast, retrying with backoff", why);
    else
        log_error(META_LOG, "%s; down for %lld s, %llu calls failed fast since the last line",
                  why, (long long)down_s, (unsigned long long)refused);
}

void meta_down_ok(struct meta *m)
{
    struct meta_down *d = &m->down;
    if (!meta_down_known(m))
        return;
    pthread_mutex_lock(&d->mu);
    int64_t down_ms = (meta_mono_ns() - d->since_ns) / 1000000;
    uint64_t refused = d->refused;
    int was = d->until_ns != 0;
    __atomic_store_n(&d->until_ns, 0, __ATOMIC_RELEASE);
    d->probing = 0;
    d->refused = 0;
    d->logged_ns = 0;
    pthread_mutex_unlock(&d->mu);
    if (was)
        log_warn(META_LOG, "%s: reachable again after %lld ms (%llu calls failed fast meanwhile)",
                 m->describe, (long long)down_ms, (unsigned long long)refused);
}

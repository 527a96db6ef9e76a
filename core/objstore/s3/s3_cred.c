/* s3_cred.c - the credential chain of one store and its cache.
 *
 * Owns: resolving the chain once (the first source that is configured
 * answers, as the SDKs do, and is asked again at every refresh), the
 * current credentials shared by reference between signing threads, and
 * refreshing them ahead of expiry: 5 minutes before, or at half their
 * life when they live under 10 minutes, never sooner than a second after
 * the fetch. Promises (s3_cred.h): readers never wait while credentials
 * are valid; one fetch at a time; a failed fetch keeps valid credentials
 * in use and is retried after a second; secrets are wiped when freed.
 */
#include "s3_cred.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_REFRESH_AHEAD_S 300
#define S3_REFRESH_MIN_GAP_S 1
#define S3_RETRY_AFTER_FAIL_MS 1000

struct s3_cred {
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* a fetch ended */
    char *desc;
    char *region;
    int source;                 /* index in s3_cred_sources, -1 before resolving */
    int none;                   /* no source is configured: unsigned */
    int fetching;
    struct s3_creds *cur;       /* NULL before the first success */
    uint64_t gen;
    uint64_t fetches;
    int64_t retry_at_ms;        /* after a failure, no fetch before */
    int last_err;
    char *share_dir;            /* s3_cred_share.c; NULL: not shared */
    char share_key[64];
};

static int64_t s3_cred_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);     /* Expiration is wall-clock time */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s3_creds_free(struct s3_creds *cr)
{
    if (cr) {
        s3_creds_wipe(cr);
        free(cr);
    }
}

static void s3_creds_unref(struct s3_creds *cr)
{
    if (cr && __atomic_sub_fetch(&cr->refs, 1, __ATOMIC_ACQ_REL) == 0)
        s3_creds_free(cr);
}

/* Still good for signing at now (ms)? */
static int s3_creds_valid(const struct s3_creds *cr, int64_t now_ms)
{
    return cr && (cr->expires == 0 || now_ms < cr->expires * 1000);
}

/* In ms: INT64_MAX for credentials that do not expire. */
static int64_t s3_refresh_time(const struct s3_creds *cr, int64_t fetched_s)
{
    if (cr->expires == 0)
        return INT64_MAX;
    int64_t life = cr->expires - fetched_s;
    int64_t ahead = life / 2 < S3_REFRESH_AHEAD_S ? life / 2 : S3_REFRESH_AHEAD_S;
    int64_t at = cr->expires - ahead;
    return 1000 * (at < fetched_s + S3_REFRESH_MIN_GAP_S ? fetched_s + S3_REFRESH_MIN_GAP_S : at);
}

struct s3_cred *s3_cred_create(const char *desc, const char *region, const char *share_dir)
{
    struct s3_cred *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->desc = strdup(desc);
    c->region = strdup(region && *region ? region : "us-east-1");
    c->share_dir = share_dir && *share_dir ? strdup(share_dir) : NULL;
    c->source = -1;
    if (!c->desc || !c->region || (share_dir && *share_dir && !c->share_dir) ||
        pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->desc);
        free(c->region);
        free(c->share_dir);
        free(c);
        return NULL;
    }
    if (c->share_dir)
        s3_cred_share_key(c->desc, c->region, c->share_key, sizeof c->share_key);
    pthread_cond_init(&c->changed, NULL);
    return c;
}

void s3_cred_destroy(struct s3_cred *c)
{
    if (!c)
        return;
    s3_creds_unref(c->cur);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c->desc);
    free(c->region);
    free(c->share_dir);
    free(c);
}

void s3_cred_after_fork(struct s3_cred *c)
{
    if (!c)
        return;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    c->fetching = 0;
}

/* Resolve the chain (first time) or ask the chosen source again. Runs
 * without the lock; only the one thread that set c->fetching. */
static int s3_cred_fetch(struct s3_cred *c, int source, struct s3_creds **out, int *chosen)
{
    struct s3_creds *cr = calloc(1, sizeof *cr);
    if (!cr)
        return -ENOMEM;
    int rc = -ENOENT, i = source >= 0 ? source : 0;
    for (; i < s3_cred_nsources; i++) {
        rc = s3_cred_sources[i].fetch(c->region, cr);
        if (rc != -ENOENT || source >= 0)
            break;
    }
    if (rc == -ENOENT && source >= 0) {
        /* The source that answered before is gone (e.g. IMDS unreachable). */
        log_error("credentials", "%s: %s no longer answers", c->desc, s3_cred_sources[source].name);
        rc = -EIO;
    }
    if (rc) {
        s3_creds_free(cr);
        return rc;
    }
    *chosen = i;
    *out = cr;
    return 0;
}

/* Called with the lock held and c->fetching set by us; returns with the
 * lock held, c->fetching clear and waiters woken. */
static void s3_cred_refresh(struct s3_cred *c)
{
    int source = c->source, chosen = -1;
    struct s3_creds *cr = NULL;
    pthread_mutex_unlock(&c->lock);
    /* the node's processes of this user: one fetches, the others take its
     * answer while it is fresh (s3_cred_share.c) */
    int lockfd = c->share_dir ? s3_cred_share_lock(c->share_dir, c->share_key) : -1;
    int shared = 0, rc = -ENOENT;
    if (lockfd >= 0) {
        struct s3_creds *sh = calloc(1, sizeof *sh);
        int64_t at = s3_cred_now_ms();
        if (sh && s3_cred_share_load(c->share_dir, c->share_key, sh, &chosen) == 0 &&
            s3_creds_valid(sh, at + 1000) && at < sh->refresh_at &&
            (source < 0 || chosen == source)) {
            cr = sh;
            shared = 1;
            rc = 0;
        } else if (sh) {
            s3_creds_free(sh);
        }
    }
    if (!shared)
        rc = s3_cred_fetch(c, source, &cr, &chosen);
    int64_t now_ms = s3_cred_now_ms();
    pthread_mutex_lock(&c->lock);
    c->fetches++;
    if (rc == 0 && !s3_creds_valid(cr, now_ms + 1000)) {
        log_error("credentials", "%s: credentials from %s have already expired (is the clock right?)",
                  c->desc, s3_cred_sources[chosen].name);
        s3_creds_free(cr);
        rc = -EIO;
    }
    if (rc == 0) {
        cr->gen = ++c->gen;
        cr->refs = 1;
        if (!shared) {
            cr->refresh_at = s3_refresh_time(cr, now_ms / 1000);
            if (lockfd >= 0)
                s3_cred_share_store(c->share_dir, c->share_key, cr, chosen);
        }
        if (c->source < 0)
            log_info("credentials", "%s: credentials from %s", c->desc, s3_cred_sources[chosen].name);
        c->source = chosen;
        s3_creds_unref(c->cur);
        c->cur = cr;
        c->retry_at_ms = 0;
        c->last_err = 0;
    } else if (rc == -ENOENT) {
        c->none = 1;
        log_info("credentials", "%s: no AWS credentials (environment, web identity, shared files, "
                 "container, IMDSv2): requests are unsigned (public buckets only)", c->desc);
    } else {
        c->retry_at_ms = now_ms + S3_RETRY_AFTER_FAIL_MS;
        c->last_err = rc == -ENOMEM ? -ENOMEM : -EIO;
    }
    s3_cred_share_unlock(lockfd);
    c->fetching = 0;
    pthread_cond_broadcast(&c->changed);
}

int s3_cred_get(struct s3_cred *c, const struct s3_creds **out)
{
    assert(c && out);
    int rc;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        int64_t now_ms = s3_cred_now_ms();
        struct s3_creds *cur = c->cur;
        int valid = s3_creds_valid(cur, now_ms);
        if (c->none) {
            rc = 1;
            break;
        }
        if (valid && now_ms < cur->refresh_at) {
            rc = 0;             /* the common case: fresh */
            break;
        }
        if (c->fetching) {
            if (valid) {
                rc = 0;         /* someone refreshes; these still sign */
                break;
            }
            pthread_cond_wait(&c->changed, &c->lock);
            continue;
        }
        if (now_ms < c->retry_at_ms) {
            rc = valid ? 0 : c->last_err;
            break;
        }
        c->fetching = 1;
        s3_cred_refresh(c);
        if (!c->fetching && c->cur == cur && c->retry_at_ms) {
            /* our fetch failed: no second try in this call */
            rc = s3_creds_valid(cur, s3_cred_now_ms()) ? 0 : c->last_err;
            break;
        }
    }
    if (rc == 0) {
        __atomic_add_fetch(&c->cur->refs, 1, __ATOMIC_ACQ_REL);
        *out = c->cur;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void s3_cred_put(struct s3_cred *c, const struct s3_creds *cr)
{
    (void)c;
    s3_creds_unref((struct s3_creds *)cr);
}

void s3_cred_expired(struct s3_cred *c, uint64_t gen)
{
    pthread_mutex_lock(&c->lock);
    if (c->cur && c->cur->gen == gen) {
        /* The server knows better than our clock: these no longer sign. */
        int64_t now_s = s3_cred_now_ms() / 1000;
        c->cur->expires = now_s > 0 ? now_s : 1;
        c->cur->refresh_at = 0;
        c->retry_at_ms = 0;
    }
    pthread_mutex_unlock(&c->lock);
}

uint64_t s3_cred_fetches(const struct s3_cred *c)
{
    return __atomic_load_n(&c->fetches, __ATOMIC_RELAXED);
}

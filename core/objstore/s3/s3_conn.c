/* s3_conn.c - S3 connections: lanes lent out under a mutex, a shared DNS
 * and TLS-session cache, and the fork story.
 *
 * Why lanes and not one connection cache shared by all threads: libcurl
 * documents a CURLSH connection cache as unsafe between concurrent threads
 * (KNOWN_BUGS "A shared connection cache is not thread-safe", still true
 * in 7.88). So each lane is a multi handle with its own connection cache
 * and its own easy handles; a thread borrows a whole lane, uses it alone,
 * and returns it with its connections still open for the next borrower.
 * The CURLSH shares only what is safe to share: DNS and TLS sessions.
 *
 * Fork: every socket we open is made with SOCK_CLOEXEC (a host program's
 * exec must not inherit it) and recorded in a lock-free table. A child
 * calls s3_conn_abandon: each recorded socket is replaced by /dev/null with
 * dup3, so the child holds no reference to the parent's TCP connections
 * (the parent's close then really closes them) and nothing the child does
 * can write into them. The inherited curl handles are leaked, never
 * cleaned up: cleanup could send a TLS close_notify on the parent's
 * connection, and their mutexes may have been held by threads that do not
 * exist in the child.
 */
#include "s3_transfer.h"
#include "io.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define S3_SOCK_SLOTS 1024
#define S3_IDLE_LANES 16        /* idle lanes kept whatever the peak */
#define S3_IDLE_LANES_MAX 256   /* ... and at most (warmup's --threads limit) */

struct s3_lane {
    CURLM *multi;
    CURL **easy;
    int neasy;
    struct s3_lane *next;
};

struct s3_conn {
    pthread_mutex_t mu;         /* guards idle, nidle, out, peak */
    struct s3_lane *idle;
    int nidle;
    int out, peak;              /* lanes borrowed now, and at most so far */
    int max_parallel;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    int socks[S3_SOCK_SLOTS];   /* -1 or an open socket; atomic */
    uint64_t opened;            /* atomic */
};

/* ---- sockets ------------------------------------------------------------ */

static void s3_sock_track(struct s3_conn *c, int fd)
{
    for (int i = 0; i < S3_SOCK_SLOTS; i++) {
        int empty = -1;
        if (__atomic_compare_exchange_n(&c->socks[i], &empty, fd, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return;
    }
    /* Table full: the socket still has CLOEXEC; only a forked child keeps
     * a reference to it. */
}

static void s3_sock_forget(struct s3_conn *c, int fd)
{
    for (int i = 0; i < S3_SOCK_SLOTS; i++) {
        int want = fd;
        if (__atomic_compare_exchange_n(&c->socks[i], &want, -1, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return;
    }
}

static curl_socket_t s3_sock_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct s3_conn *c = ud;
    (void)purpose;
    /* kept open in the lane for later transfers: never at a number a
     * shell dup2s onto (io.h) */
    int fd = io_fd_high(socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
    if (fd < 0)
        return CURL_SOCKET_BAD;
    s3_sock_track(c, fd);
    __atomic_fetch_add(&c->opened, 1, __ATOMIC_RELAXED);
    return fd;
}

/* Forget before close: once closed, the number may be reused by anyone. */
static int s3_sock_close(void *ud, curl_socket_t fd)
{
    s3_sock_forget(ud, fd);
    return close(fd);
}

uint64_t s3_conn_opened(const struct s3_conn *c)
{
    return __atomic_load_n(&c->opened, __ATOMIC_RELAXED);
}

/* ---- the share ---------------------------------------------------------- */

static void s3_share_lock(CURL *h, curl_lock_data data, curl_lock_access acc, void *ud)
{
    struct s3_conn *c = ud;
    (void)h;
    (void)acc;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_mu[data]);
}

static void s3_share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    struct s3_conn *c = ud;
    (void)h;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_mu[data]);
}

static CURLSH *s3_share_create(struct s3_conn *c)
{
    CURLSH *sh = curl_share_init();
    if (!sh)
        return NULL;
    if (curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, s3_share_lock) ||
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, s3_share_unlock) ||
        curl_share_setopt(sh, CURLSHOPT_USERDATA, c) ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION)) {
        curl_share_cleanup(sh);
        return NULL;
    }
    return sh;
}

struct s3_conn *s3_conn_create(int max_parallel)
{
    struct s3_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    for (int i = 0; i < S3_SOCK_SLOTS; i++)
        c->socks[i] = -1;
    c->max_parallel = max_parallel;
    c->share = s3_share_create(c);
    if (!c->share) {
        free(c);
        return NULL;
    }
    return c;
}

/* ---- lanes -------------------------------------------------------------- */

static void s3_lane_free(struct s3_lane *l)
{
    /* The multi first: it closes the cached connections. */
    curl_multi_cleanup(l->multi);
    for (int i = 0; i < l->neasy; i++)
        if (l->easy[i])
            curl_easy_cleanup(l->easy[i]);
    free(l->easy);
    free(l);
}

static struct s3_lane *s3_lane_new(struct s3_conn *c)
{
    struct s3_lane *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->neasy = c->max_parallel;
    l->easy = calloc((size_t)l->neasy, sizeof *l->easy);
    /* the multi handle's wakeup socketpair lives as long as the lane, at
     * numbers we cannot move afterwards: never where a shell dup2s
     * (curl_multi_poll would read the program's file) */
    for (int i = 0; i < IO_LOW_TRIES; i++) {
        struct io_low was;
        io_hold_low(&was);
        l->multi = curl_multi_init();
        if (!io_release_low(&was) || !l->multi || i == IO_LOW_TRIES - 1)
            break;
        curl_multi_cleanup(l->multi); /* the pair may sit where the program closed */
        l->multi = NULL;
    }
    if (!l->easy || !l->multi) {
        if (l->multi)
            curl_multi_cleanup(l->multi);
        free(l->easy);
        free(l);
        return NULL;
    }
    /* Keep as many idle connections as we may run transfers at once. */
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)c->max_parallel);
    return l;
}

struct s3_lane *s3_lane_get(struct s3_conn *c)
{
    assert(c);
    pthread_mutex_lock(&c->mu);
    struct s3_lane *l = c->idle;
    if (l) {
        c->idle = l->next;
        c->nidle--;
    }
    if (++c->out > c->peak)
        c->peak = c->out;
    pthread_mutex_unlock(&c->mu);
    if (!l && !(l = s3_lane_new(c))) {
        pthread_mutex_lock(&c->mu);
        c->out--;
        pthread_mutex_unlock(&c->mu);
    }
    return l;
}

/* As many lanes stay idle as were ever borrowed at once: with a fixed
 * smaller cap, 50 warmup threads freed most lanes they returned, and with
 * them their connections, so 5,000 GETs opened 2,100 connections and the
 * server spent a fifth more CPU accepting them than serving curl's 50. */
void s3_lane_put(struct s3_conn *c, struct s3_lane *l)
{
    assert(c && l);
    pthread_mutex_lock(&c->mu);
    assert(c->out > 0); /* l is a lane s3_lane_get lent */
    c->out--;
    int cap = c->peak > S3_IDLE_LANES ? c->peak : S3_IDLE_LANES;
    int keep = c->nidle < (cap < S3_IDLE_LANES_MAX ? cap : S3_IDLE_LANES_MAX);
    if (keep) {
        l->next = c->idle;
        c->idle = l;
        c->nidle++;
    }
    pthread_mutex_unlock(&c->mu);
    if (!keep)
        s3_lane_free(l);
}

CURLM *s3_lane_multi(struct s3_lane *l) { return l->multi; }

CURL *s3_lane_easy(struct s3_conn *c, struct s3_lane *l, int slot)
{
    if (slot < 0 || slot >= l->neasy)
        return NULL;
    if (!l->easy[slot] && !(l->easy[slot] = curl_easy_init()))
        return NULL;
    CURL *e = l->easy[slot];
    curl_easy_reset(e);
    if (curl_easy_setopt(e, CURLOPT_SHARE, c->share) ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, s3_sock_open) ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c) ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, s3_sock_close) ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c))
        return NULL;
    return e;
}

void s3_conn_destroy(struct s3_conn *c)
{
    if (!c)
        return;
    while (c->idle) {
        struct s3_lane *l = c->idle;
        c->idle = l->next;
        s3_lane_free(l);
    }
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void s3_conn_abandon(struct s3_conn *c)
{
    if (!c)
        return;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; i < S3_SOCK_SLOTS; i++) {
        int fd = __atomic_load_n(&c->socks[i], __ATOMIC_SEQ_CST);
        if (fd < 0)
            continue;
        if (null_fd < 0 || dup3(null_fd, fd, O_CLOEXEC) < 0)
            close(fd);      /* no /dev/null: closing is the next best thing */
    }
    if (null_fd >= 0)
        close(null_fd);
    /* Everything else in c is leaked on purpose (see the top comment). */
}

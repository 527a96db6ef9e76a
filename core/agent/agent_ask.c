/* agent_ask.c - questions to the node agent over its socket (agent_ask.h).
 *
 * One question a connection: a fixed header (kind, folder, the lengths of
 * at most AGENT_ASK_NAMES names), the names, and a 4-byte answer (0, or
 * -errno). The socket is "agent.sock" in the node's folder, reached as
 * /proc/self/fd/<the folder's descriptor>/agent.sock: a cache folder's
 * path may be longer than a socket address holds.
 *
 * The server: `workers` threads blocked in accept() on one listening
 * socket (the kernel hands each connection to one of them), so at most
 * that many questions run at once and the rest wait in the backlog; a
 * client that finds the backlog full asks the database itself. Each
 * question is read within AGENT_ASK_READ_MS or dropped.
 */
#include "agent_ask.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "nodemeta.h"
#include "thread.h"

#define AGENT_ASK_MAGIC 0x31515341u /* "ASQ1" */
#define AGENT_ASK_NAME_MAX 255
#define AGENT_ASK_READ_MS 2000
#define AGENT_ASK_SEND_MS 100   /* a question not waited for: its sending */
#define AGENT_ASK_BACKLOG 1024
#define AGENT_ASK_SOCK "agent.sock"

struct agent_ask_hdr {
    uint32_t magic, kind, n, total;
    uint32_t limit;             /* a listing's entries at most (> 0) */
    uint32_t flags;             /* AGENT_ASK_FRESH with the asker's age, or 0 */
    uint64_t dir;
    uint16_t lens[AGENT_ASK_NAMES];
};
_Static_assert(sizeof(struct agent_ask_hdr) == AGENT_ASK_HDR, "the header's size is the protocol's");

struct agent_server {
    int fd;
    int dirfd;
    int nthreads;
    pthread_t *threads;
    agent_answer_fn fn;
    void *arg;
    volatile int stop;
    uint64_t answered, failed;
};

static int64_t agent_ask_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int agent_ask_addr(int dirfd, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int k = snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/" AGENT_ASK_SOCK, dirfd);
    return k > 0 && (size_t)k < sizeof a->sun_path ? 0 : -ENAMETOOLONG;
}

/* All of n bytes in or out of fd (non-blocking) by deadline_ms. */
static int agent_ask_io(int fd, void *buf, size_t n, int out, int64_t deadline_ms)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, n, MSG_DONTWAIT);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int64_t left = deadline_ms - agent_ask_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pf = { fd, (short)(out ? POLLOUT : POLLIN), 0 };
        if (poll(&pf, 1, (int)left) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* A question's header and names checked: n names (none for a listing or a
 * sync, at least one for a walk), each 1..255 bytes, total their sum. */
static int agent_ask_valid(const struct agent_ask_hdr *h)
{
    /* flags: none, or FRESH alone in the low byte (the age above it) */
    uint32_t low = h->flags & ((1u << AGENT_ASK_AGE_SHIFT) - 1);
    if (h->magic != AGENT_ASK_MAGIC || h->n > AGENT_ASK_NAMES || h->dir == 0 || h->limit == 0 ||
        h->limit > AGENT_ASK_LIMIT_MAX || (h->flags && low != AGENT_ASK_FRESH))
        return 0;
    if (!((h->kind == AGENT_ASK_LIST || h->kind == AGENT_ASK_SYNC) && h->n == 0) &&
        !(h->kind == AGENT_ASK_WALK && h->n >= 1))
        return 0;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        if (h->lens[i] == 0 || h->lens[i] > AGENT_ASK_NAME_MAX)
            return 0;
        sum += h->lens[i];
    }
    return sum == h->total;
}

long agent_ask_parse(const void *buf, size_t len, struct agent_question *q)
{
    struct agent_ask_hdr h;
    if (len < sizeof h)
        return (long)sizeof h;
    memcpy(&h, buf, sizeof h);
    if (!agent_ask_valid(&h))
        return -EINVAL;
    long whole = (long)(sizeof h + h.total);
    if ((size_t)whole > len)
        return whole;
    const char *names = (const char *)buf + sizeof h;
    *q = (struct agent_question){ (char)h.kind, h.dir, (int)h.limit, (int)h.n, (int)h.flags, { 0 },
                                  { 0 } };
    size_t off = 0;
    for (uint32_t i = 0; i < h.n; i++) {
        q->names[i] = names + off;
        q->lens[i] = h.lens[i];
        off += h.lens[i];
    }
    return whole;
}

int agent_ask(struct nodemeta *nm, char kind, int flags, uint64_t dir, int limit,
              const char *const *names, const size_t *lens, int n, int timeout_ms)
{
    assert(nm && timeout_ms >= 0);
    struct agent_ask_hdr h = { AGENT_ASK_MAGIC, (uint32_t)(unsigned char)kind, 0, 0,
                               limit > 0 ? (uint32_t)limit : 1, (uint32_t)flags, dir, { 0 } };
    if (n > AGENT_ASK_NAMES)
        n = AGENT_ASK_NAMES;    /* the walk's first names: the rest later */
    char body[sizeof h + AGENT_ASK_NAMES * AGENT_ASK_NAME_MAX];
    for (int i = 0; i < n; i++) {
        if (lens[i] == 0 || lens[i] > AGENT_ASK_NAME_MAX)
            return -EINVAL;
        memcpy(body + sizeof h + h.total, names[i], lens[i]);
        h.lens[i] = (uint16_t)lens[i];
        h.total += (uint32_t)lens[i];
    }
    h.n = (uint32_t)(n > 0 ? n : 0);
    if (!agent_ask_valid(&h))
        return -EINVAL;
    memcpy(body, &h, sizeof h);
    struct sockaddr_un a;
    int rc = agent_ask_addr(nodemeta_dirfd(nm), &a);
    if (rc < 0)
        return rc;
    int fd = io_fd_high(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd < 0)
        return -errno;
    int64_t deadline = agent_ask_now_ms() + (timeout_ms ? timeout_ms : AGENT_ASK_SEND_MS);
    /* non-blocking: a full backlog (a busy agent) is EAGAIN, at once */
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        rc = -errno;
    if (rc == 0)
        rc = agent_ask_io(fd, body, sizeof h + h.total, 1, deadline);
    int32_t answer = -EIO;
    if (rc == 0 && timeout_ms == 0) {
        close(fd); /* asked: the agent answers into the node's files */
        return 0;
    }
    if (rc == 0)
        rc = agent_ask_io(fd, &answer, sizeof answer, 0, deadline);
    close(fd);
    return rc < 0 ? rc : answer > 0 ? -EIO : answer;
}

/* ---- the agent's side ---- */

static void agent_server_one(struct agent_server *s, int c)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != geteuid())
        return;         /* (the folder is ours alone: never, but not on trust) */
    int64_t deadline = agent_ask_now_ms() + AGENT_ASK_READ_MS;
    char buf[AGENT_ASK_HDR + AGENT_ASK_NAMES * AGENT_ASK_NAME_MAX];
    struct agent_question q;
    if (agent_ask_io(c, buf, AGENT_ASK_HDR, 0, deadline) < 0)
        return;
    long whole = agent_ask_parse(buf, AGENT_ASK_HDR, &q);
    if (whole < 0 || (size_t)whole > sizeof buf ||
        agent_ask_io(c, buf + AGENT_ASK_HDR, (size_t)whole - AGENT_ASK_HDR, 0, deadline) < 0 ||
        agent_ask_parse(buf, (size_t)whole, &q) != whole)
        return;
    int32_t rc = s->fn(s->arg, q.kind, q.flags, q.dir, q.limit, q.names, q.lens, q.n);
    __atomic_add_fetch(rc == 0 ? &s->answered : &s->failed, 1, __ATOMIC_RELAXED);
    (void)agent_ask_io(c, &rc, sizeof rc, 1, agent_ask_now_ms() + AGENT_ASK_READ_MS);
}

static void *agent_server_main(void *arg)
{
    struct agent_server *s = arg;
    while (!s->stop) {
        int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) {
            if (s->stop || errno == EBADF || errno == EINVAL)
                break;
            if (errno != EINTR && errno != ECONNABORTED) {
                struct timespec ts = { 0, 10 * 1000000L }; /* EMFILE and such: let it pass */
                nanosleep(&ts, NULL);
            }
            continue;
        }
        agent_server_one(s, c);
        close(c);
    }
    return NULL;
}

int agent_server_start(struct nodemeta *nm, int workers, agent_answer_fn fn, void *arg,
                       struct agent_server **out)
{
    assert(nm && fn && out && workers > 0);
    struct agent_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fn = fn;
    s->arg = arg;
    s->dirfd = nodemeta_dirfd(nm);
    s->threads = calloc((size_t)workers, sizeof *s->threads);
    struct sockaddr_un a;
    int rc = s->threads ? agent_ask_addr(s->dirfd, &a) : -ENOMEM;
    s->fd = rc == 0 ? io_fd_high(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) : -1;
    if (rc == 0 && s->fd < 0)
        rc = -errno;
    /* the agent holds the node's agent lock: a socket left here is a dead
     * agent's */
    (void)unlinkat(s->dirfd, AGENT_ASK_SOCK, 0);
    if (rc == 0 && (bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0 ||
                    listen(s->fd, AGENT_ASK_BACKLOG) < 0))
        rc = -errno;
    for (int i = 0; rc == 0 && i < workers; i++) {
        rc = -thread_start(&s->threads[i], NULL, agent_server_main, s);
        if (rc == 0)
            s->nthreads++;
    }
    if (rc < 0 && s->nthreads == 0) {
        if (s->fd >= 0)
            close(s->fd);
        (void)unlinkat(s->dirfd, AGENT_ASK_SOCK, 0);
        free(s->threads);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void agent_server_stop(struct agent_server *s)
{
    if (!s)
        return;
    s->stop = 1;
    (void)unlinkat(s->dirfd, AGENT_ASK_SOCK, 0);
    /* wakes every accept() (EINVAL on a listening socket shut down) */
    (void)shutdown(s->fd, SHUT_RDWR);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    close(s->fd);
    free(s->threads);
    free(s);
}

void agent_server_counts(const struct agent_server *s, uint64_t *answered, uint64_t *failed)
{
    *answered = s ? __atomic_load_n(&s->answered, __ATOMIC_RELAXED) : 0;
    *failed = s ? __atomic_load_n(&s->failed, __ATOMIC_RELAXED) : 0;
}

/* nodeconn.c - the node's connection slots and shared questions
 * (nodeconn.h).
 *
 * Files of the node's folder: "slot.N" (0 <= N < cap), each locked
 * (flock, exclusive) by the process holding slot N; "slot.want", read
 * locked (OFD) by every process waiting for a slot, so that a holder can
 * tell, without taking anything, that someone waits (F_OFD_GETLK);
 * "flight.XX", one of NODECONN_FLIGHTS, locked while its question runs.
 * Slot and question locks taken with descriptors a fork child inherited
 * would be the parent's (flock belongs to the open file, shared by both):
 * the child closes its copies unlocked and opens its own.
 */
#include "nodeconn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "nodemeta.h"

#define NODECONN_FLIGHTS 64
/* Polling a busy lock: naps from 1 ms doubling to 16 ms, jittered by
 * half: hundreds of waiters must not eat the CPU the holders need. */
#define NODECONN_NAP_FIRST_US 1000
#define NODECONN_NAP_MAX_US 16000
/* A backend outlives its client a moment (it reads the end of the
 * connection, then exits: a few ms; tens of ms on a loaded server): a slot
 * is taken again only this long after its last connection closed, unless
 * the closer saw the server end it (NODECONN_CLOSED: a connection dropped
 * while its process runs; one closed at exit is not waited for, and its
 * slot is taken after any free slot without grace). Each slot file
 * holds when it was released, or NODECONN_HELD while held (a holder that
 * died without releasing: the full pause). */
#define NODECONN_GRACE_NS (50 * 1000000LL)
#define NODECONN_HELD INT64_MAX
/* ... or this, when the server was seen to end it (no grace) */
#define NODECONN_CLOSED 1
/* A slot that is none: the folder could not hold the locks. */
#define NODECONN_UNBOUNDED 0x7fffffff

struct nodeconn {
    struct nodemeta *nm;
    int cap, keep;
    pthread_mutex_t mu;
    pid_t pid; /* whose descriptors these are */
    int *fd;   /* per slot, -1 until first tried */
    unsigned char *held;
    int want_fd; /* "slot.want", read locked while waiting > 0 */
    int waiting;
    int probe_fd; /* "slot.want" opened apart: the probe of contended */
    int64_t logged_ns;
    struct meta_conn_gate gate;
};

static int64_t nodeconn_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Jitter of its own: random() would move the host program's sequence. */
static long nodeconn_jitter(void)
{
    static __thread uint64_t x;
    if (!x)
        x = (uint64_t)nodeconn_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&x;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (long)(x >> 11);
}

/* One nap of a wait: *step (start at 0) grows with each. */
static void nodeconn_nap(int64_t until_ns, long *step)
{
    *step = *step ? (*step * 2 > NODECONN_NAP_MAX_US ? NODECONN_NAP_MAX_US : *step * 2)
                  : NODECONN_NAP_FIRST_US;
    long us = *step / 2 + nodeconn_jitter() % (*step / 2 + 1) + *step / 4;
    int64_t left = until_ns - nodeconn_mono_ns();
    if (left <= 0)
        return;
    if ((int64_t)us * 1000 > left)
        us = (long)(left / 1000) + 1;
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* Shells dup2 onto small numbers (`exec 3> file`), which would silently
 * close a lock's descriptor (and a later unlock would hit the program's
 * file): the node's lock files sit at IO_FD_FLOOR or above (io_fd_high),
 * as the engine's sockets do. */

static int nodeconn_file(struct nodemeta *nm, const char *name)
{
    int fd = openat(nodemeta_dirfd(nm), name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    fd = io_fd_high(fd);
    return fd < 0 ? -errno : fd;
}

/* The descriptors of slots this process does not hold: closed once it
 * waits no more (a program's descriptors are its own; under mu). */
static void nodeconn_close_spare_locked(struct nodeconn *nc)
{
    for (int i = 0; i < nc->cap; i++) {
        if (!nc->held[i] && nc->fd[i] >= 0) {
            close(nc->fd[i]);
            nc->fd[i] = -1;
        }
    }
}

/* Descriptors a fork child inherited: closed, never unlocked (under mu). */
static void nodeconn_forget_locked(struct nodeconn *nc)
{
    for (int i = 0; i < nc->cap; i++) {
        if (nc->fd[i] >= 0)
            close(nc->fd[i]);
        nc->fd[i] = -1;
        nc->held[i] = 0;
    }
    if (nc->want_fd >= 0)
        close(nc->want_fd);
    if (nc->probe_fd >= 0)
        close(nc->probe_fd);
    nc->want_fd = nc->probe_fd = -1;
    nc->waiting = 0;
    nc->pid = getpid();
}

static void nodeconn_check_fork_locked(struct nodeconn *nc)
{
    if (nc->pid != getpid())
        nodeconn_forget_locked(nc);
}

/* OFD read lock on the whole of fd (set: 1) or none (0). */
static int nodeconn_ofd(int fd, int set)
{
    struct flock fl = { .l_type = set ? F_RDLCK : F_UNLCK, .l_whence = SEEK_SET };
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Count the caller among the waiters, or not any more (under mu). */
static void nodeconn_want_locked(struct nodeconn *nc, int on)
{
    if (on) {
        if (nc->waiting++ == 0) {
            if (nc->want_fd < 0) {
                int fd = nodeconn_file(nc->nm, "slot.want");
                nc->want_fd = fd < 0 ? -1 : fd;
            }
            if (nc->want_fd >= 0)
                (void)nodeconn_ofd(nc->want_fd, 1);
        }
    } else if (--nc->waiting == 0 && nc->want_fd >= 0) {
        (void)nodeconn_ofd(nc->want_fd, 0);
    }
}

/* With slot fd just locked: how long its last connection's grace still
 * runs (ns, 0 when none). */
static int64_t nodeconn_grace_left(int fd)
{
    int64_t stamp = 0, now = nodeconn_mono_ns();
    if (pread(fd, &stamp, sizeof stamp, 0) != (ssize_t)sizeof stamp)
        stamp = 0; /* never used */
    int64_t until = stamp == NODECONN_HELD                         ? now + NODECONN_GRACE_NS
                    : stamp > 0 && stamp < now + NODECONN_GRACE_NS ? stamp + NODECONN_GRACE_NS
                                                                   : 0;
    return until > now ? until - now : 0;
}

/* With slot fd just locked: wait out its last connection's grace, then
 * mark it held. */
static void nodeconn_after_previous(int fd)
{
    int64_t left = nodeconn_grace_left(fd), held = NODECONN_HELD;
    if (left > 0) {
        struct timespec ts = { left / 1000000000LL, left % 1000000000LL };
        nanosleep(&ts, NULL);
    }
    (void)!pwrite(fd, &held, sizeof held, 0);
}

/* A free slot taken (its number), -EAGAIN when all are held, or -errno
 * when the folder cannot hold the locks (under mu). */
static int nodeconn_try_locked(struct nodeconn *nc)
{
    /* The last slot is the agent's alone (when it keeps one): with
     * hundreds of processes queued for slots it would wait behind them,
     * and until its chain of polls begins the node's answers are vouched
     * for one TTL only, so the fan-out asks them again. */
    int lo = 0, n = nc->cap, err = 0;
    if (nc->cap >= NODECONN_AGENT_MIN) {
        lo = nc->keep ? nc->cap - 1 : 0;
        n = nc->keep ? 1 : nc->cap - 1;
    }
    int start = (int)(nc->pid % n);
    /* Two passes: first only a slot with no grace left, so that a process
     * leaving without waiting for its backend (meta_conn_drop at exit)
     * delays only a taker that finds every free slot in its grace. */
    for (int k = 0; k < 2 * n; k++) {
        int i = lo + (start + k) % n;
        if (nc->held[i])
            continue;
        if (nc->fd[i] < 0) {
            char name[32];
            snprintf(name, sizeof name, "slot.%d", i);
            int fd = nodeconn_file(nc->nm, name);
            if (fd < 0) {
                err = fd;
                continue;
            }
            nc->fd[i] = fd;
        }
        if (flock(nc->fd[i], LOCK_EX | LOCK_NB) == 0) {
            if (k < n && nodeconn_grace_left(nc->fd[i]) > 0) {
                (void)flock(nc->fd[i], LOCK_UN);
                continue;
            }
            nc->held[i] = 1;
            nodeconn_after_previous(nc->fd[i]);
            return i;
        }
        if (errno != EWOULDBLOCK)
            err = -errno;
    }
    return err && err != -EWOULDBLOCK ? err : -EAGAIN;
}

static int nodeconn_acquire(void *arg, int64_t deadline_ns)
{
    struct nodeconn *nc = arg;
    int waiting = 0, slot;
    long step = 0;
    pthread_mutex_lock(&nc->mu);
    nodeconn_check_fork_locked(nc);
    for (;;) {
        slot = nodeconn_try_locked(nc);
        if (slot != -EAGAIN)
            break;
        if (!waiting) {
            nodeconn_want_locked(nc, 1);
            waiting = 1;
        }
        if (nodeconn_mono_ns() >= deadline_ns) {
            slot = -ETIMEDOUT;
            break;
        }
        pthread_mutex_unlock(&nc->mu);
        nodeconn_nap(deadline_ns, &step);
        pthread_mutex_lock(&nc->mu);
        nodeconn_check_fork_locked(nc);
        if (nc->waiting == 0)
            waiting = 0; /* forked meanwhile: the count is this process's now */
    }
    if (waiting)
        nodeconn_want_locked(nc, 0);
    nodeconn_close_spare_locked(nc);
    int64_t now = nodeconn_mono_ns();
    int say = slot < 0 && now - nc->logged_ns > 30 * 1000000000LL;
    if (say)
        nc->logged_ns = now;
    pthread_mutex_unlock(&nc->mu);
    if (slot == -ETIMEDOUT) {
        log_warn("nodeconn",
                 "all %d database connections of the node (SHIMFS_NODE_CONNS) stayed "
                 "busy until the call's deadline (SHIMFS_META_TIMEOUT): giving up",
                 nc->cap);
        return slot;
    }
    if (slot < 0) {
        if (say)
            log_warn("nodeconn",
                     "the node's connection slots are unusable (%s): connecting "
                     "without the node's bound",
                     strerror(-slot));
        return NODECONN_UNBOUNDED;
    }
    return slot;
}

static void nodeconn_release(void *arg, int slot)
{
    struct nodeconn *nc = arg;
    int closed = slot >= 0 && (slot & META_GATE_CLOSED);
    if (closed)
        slot &= ~META_GATE_CLOSED;
    pthread_mutex_lock(&nc->mu);
    if (nc->pid == getpid() && slot >= 0 && slot < nc->cap && nc->held[slot]) {
        /* when: the grace counts from it; a connection the server was
         * seen to end needs none */
        int64_t now = closed ? NODECONN_CLOSED : nodeconn_mono_ns();
        (void)!pwrite(nc->fd[slot], &now, sizeof now, 0);
        (void)flock(nc->fd[slot], LOCK_UN);
        close(nc->fd[slot]);
        nc->fd[slot] = -1;
        nc->held[slot] = 0;
    }
    pthread_mutex_unlock(&nc->mu);
}

/* Does any process (this one's other threads included) wait for a slot?
 * Asks the kernel whether a write lock on "slot.want" would conflict with
 * a waiter's read lock; takes nothing. */
static int nodeconn_contended(void *arg)
{
    struct nodeconn *nc = arg;
    if (nc->keep)
        return 0;
    pthread_mutex_lock(&nc->mu);
    nodeconn_check_fork_locked(nc);
    if (nc->probe_fd < 0) {
        int fd = nodeconn_file(nc->nm, "slot.want");
        nc->probe_fd = fd < 0 ? -1 : fd;
    }
    int fd = nc->probe_fd;
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int busy = fd >= 0 && fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    pthread_mutex_unlock(&nc->mu);
    return busy;
}

int nodeconn_open(struct nodemeta *nm, int cap, int keep, struct nodeconn **out)
{
    assert(nm && cap >= 1 && out);
    struct nodeconn *nc = calloc(1, sizeof *nc);
    if (!nc)
        return -ENOMEM;
    nc->fd = malloc((size_t)cap * sizeof *nc->fd);
    nc->held = calloc((size_t)cap, 1);
    if (!nc->fd || !nc->held) {
        free(nc->fd);
        free(nc->held);
        free(nc);
        return -ENOMEM;
    }
    for (int i = 0; i < cap; i++)
        nc->fd[i] = -1;
    nc->nm = nm;
    nc->cap = cap;
    nc->keep = keep;
    nc->pid = getpid();
    nc->want_fd = nc->probe_fd = -1;
    pthread_mutex_init(&nc->mu, NULL);
    nc->gate =
        (struct meta_conn_gate){ nc, nodeconn_acquire, nodeconn_release, nodeconn_contended };
    *out = nc;
    return 0;
}

void nodeconn_close(struct nodeconn *nc)
{
    if (!nc)
        return;
    pthread_mutex_lock(&nc->mu);
    int mine = nc->pid == getpid();
    for (int i = 0; i < nc->cap; i++) {
        if (mine && nc->held[i])
            (void)flock(nc->fd[i], LOCK_UN);
        if (nc->fd[i] >= 0)
            close(nc->fd[i]);
    }
    if (nc->want_fd >= 0)
        close(nc->want_fd);
    if (nc->probe_fd >= 0)
        close(nc->probe_fd);
    pthread_mutex_unlock(&nc->mu);
    pthread_mutex_destroy(&nc->mu);
    free(nc->fd);
    free(nc->held);
    free(nc);
}

const struct meta_conn_gate *nodeconn_gate(struct nodeconn *nc)
{
    assert(nc);
    return &nc->gate;
}

void nodeconn_after_fork(struct nodeconn *nc)
{
    if (!nc)
        return;
    pthread_mutex_init(&nc->mu, NULL); /* a parent thread may have held it */
    nodeconn_forget_locked(nc);
}

int nodeconn_held_here(struct nodeconn *nc)
{
    assert(nc);
    int n = 0;
    pthread_mutex_lock(&nc->mu);
    for (int i = 0; nc->pid == getpid() && i < nc->cap; i++)
        n += nc->held[i] != 0;
    pthread_mutex_unlock(&nc->mu);
    return n;
}

int nodeconn_in_use(struct nodeconn *nc)
{
    assert(nc);
    int n = 0;
    for (int i = 0; i < nc->cap; i++) {
        char name[32];
        snprintf(name, sizeof name, "slot.%d", i);
        int fd = openat(nodemeta_dirfd(nc->nm), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
            (void)flock(fd, LOCK_UN);
        else
            n++;
        close(fd);
    }
    return n;
}

/* ---- questions ---- */

/* The question files this thread holds: a nested question that falls on
 * one of them is asked without waiting (it would wait for itself). */
static __thread uint64_t nodeconn_flights_mine;

/* The lock file of question key: its own open file, so two threads of a
 * process exclude each other too; -EDEADLK when this thread's process
 * holds that file's lock already (a nested question, or another that
 * shares its file). */
static int nodeconn_flight_file(struct nodemeta *nm, uint64_t key, unsigned *idx)
{
    *idx = (unsigned)((key * 0x9E3779B97F4A7C15ULL) >> 58) % NODECONN_FLIGHTS;
    if (nodeconn_flights_mine & (1ULL << *idx))
        return -EDEADLK;
    char name[32];
    snprintf(name, sizeof name, "flight.%02x", *idx);
    return nodeconn_file(nm, name);
}

int nodeconn_flight_mine(void)
{
    return nodeconn_flights_mine != 0;
}

int nodeconn_flight_held(struct nodemeta *nm, uint64_t key)
{
    assert(nm);
    unsigned idx;
    int fd = nodeconn_flight_file(nm, key, &idx);
    if (fd < 0)
        return 0;
    /* a shared probe: it holds off an owner-to-be for a moment at most
     * (that one naps 1 ms and tries again) */
    int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

int nodeconn_flight_begin(struct nodemeta *nm, uint64_t key, int *waited)
{
    assert(nm && waited);
    *waited = 0;
    unsigned idx;
    int fd = nodeconn_flight_file(nm, key, &idx);
    if (fd < 0)
        return fd;
    int64_t until = nodeconn_mono_ns() + (int64_t)NODECONN_FLIGHT_WAIT_MS * 1000000;
    long step = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK || nodeconn_mono_ns() >= until) {
            int rc = errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
            close(fd);
            return rc;
        }
        *waited = 1;
        nodeconn_nap(until, &step);
    }
    nodeconn_flights_mine |= 1ULL << idx;
    return fd * NODECONN_FLIGHTS + (int)idx;
}

void nodeconn_flight_end(int token)
{
    if (token < 0)
        return;
    nodeconn_flights_mine &= ~(1ULL << (token % NODECONN_FLIGHTS));
    close(token / NODECONN_FLIGHTS); /* the lock goes with its only descriptor */
}

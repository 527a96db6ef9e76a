/* faultproxy.c - a loopback TCP proxy that injects faults between shimfs
 * and one of its servers (PostgreSQL or S3), steered while it runs.
 *
 *   faultproxy --target PORT --ports FILE [--http] [--max-seconds N] [--verbose]
 *
 * Listens on 127.0.0.1 (an ephemeral port) and forwards every connection to
 * 127.0.0.1:PORT. FILE receives "LISTEN CONTROL\n" once both are open. Each
 * line sent to the control port (127.0.0.1, e.g. bash's /dev/tcp) is one
 * command, answered "ok ..." or "error ...":
 *   pass             forward everything (the start mode)
 *   delay MS         hold every chunk MS ms before forwarding it
 *   stall            accept and read, never forward, never answer
 *   pause            stop forwarding in both directions (nothing is read);
 *                    `pass` resumes the same connections
 *   reset            reset every connection now and every new one
 *   kill             reset every connection now; new ones pass
 *   status           counters: accepted, open, requests (HTTP)
 * With --http the client's stream is parsed into requests (Content-Length
 * bodies, as libcurl sends them) and these apply to the next N requests:
 *   http500 N | http503 N | slowdown N   answer that error ourselves
 *   truncate N       forward, then cut the reply's body in half and reset
 *   resetreq N       reset the connection instead of forwarding
 *
 * Bounded: at most FP_MAX_CONNS connections (more are refused), queues
 * of at most FP_QUEUE_MAX bytes (reading stops while one is full), poll
 * waits of at most FP_TICK_MS, and the process exits by itself after
 * --max-seconds (default 1800). Only 127.0.0.1 is ever bound or dialled.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_CONNS 128
#define FP_MAX_CTL 4
#define FP_QUEUE_MAX (8u << 20)
#define FP_HEAD_MAX 65536
#define FP_TICK_MS 20

enum fp_mode { FP_PASS, FP_DELAY, FP_STALL, FP_PAUSE, FP_RESET };
enum fp_act { ACT_NONE, ACT_500, ACT_503, ACT_SLOWDOWN, ACT_TRUNCATE, ACT_RESETREQ, ACT_N };

struct fp_queue {               /* bytes waiting to go one way */
    char *buf;
    size_t len, cap;
    uint64_t due_ms;            /* not before (delay mode) */
};

struct fp_conn {
    int cfd, ufd;               /* client, upstream; -1 when unused */
    struct fp_queue to_up, to_client;
    /* --http: the request being read from the client */
    char head[FP_HEAD_MAX];
    size_t head_len;
    uint64_t body_left;         /* request body bytes still to pass on */
    int local;                  /* this request is answered by us */
    int local_status;
    /* --http: truncating the reply to the current request */
    int truncating;
    char rhead[FP_HEAD_MAX];
    size_t rhead_len;
    int64_t rbody_keep;         /* body bytes still forwarded, -1: head not read */
};

static struct {
    int verbose;                /* --verbose: one stderr line per event */
    int http;
    int mode;
    int delay_ms;
    int pending[ACT_N];         /* requests still to get each action */
    uint64_t accepted, requests;
    struct fp_conn c[FP_MAX_CONNS];
    int ctl[FP_MAX_CTL];
    char ctlbuf[FP_MAX_CTL][256];
    size_t ctllen[FP_MAX_CTL];
} fp;

static uint64_t fp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fp_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        perror("faultproxy: listen");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Loopback connects complete or fail at once; no wait needed. */
static int fp_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Close with RST: the peer sees "connection reset", not a clean end. */
static void fp_rst(int fd)
{
    if (fd < 0)
        return;
    struct linger l = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static void fp_conn_close(struct fp_conn *k, int rst)
{
    if (fp.verbose)
        fprintf(stderr, "faultproxy: conn %d: closed%s (queued %zu up, %zu down)\n",
                (int)(k - fp.c), rst ? " with RST" : "", k->to_up.len, k->to_client.len);
    if (rst) {
        fp_rst(k->cfd);
        fp_rst(k->ufd);
    } else {
        if (k->cfd >= 0)
            close(k->cfd);
        if (k->ufd >= 0)
            close(k->ufd);
    }
    free(k->to_up.buf);
    free(k->to_client.buf);
    memset(k, 0, sizeof *k);
    k->cfd = k->ufd = -1;
}

static int fp_push(struct fp_queue *q, const char *p, size_t n, uint64_t now)
{
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 65536;
        while (cap < q->len + n)
            cap *= 2;
        char *b = realloc(q->buf, cap);
        if (!b)
            return -1;
        q->buf = b;
        q->cap = cap;
    }
    if (q->len == 0)
        q->due_ms = now + (fp.mode == FP_DELAY ? (uint64_t)fp.delay_ms : 0);
    memcpy(q->buf + q->len, p, n);
    q->len += n;
    return 0;
}

/* Writes what is due; -1 when the socket failed. */
static int fp_flush(struct fp_queue *q, int fd, uint64_t now)
{
    if (!q->len || now < q->due_ms || fd < 0)
        return 0;
    ssize_t w = send(fd, q->buf, q->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    memmove(q->buf, q->buf + w, q->len - (size_t)w);
    q->len -= (size_t)w;
    return 0;
}

/* ---- HTTP ----------------------------------------------------------------- */

static const char *fp_find(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(p + i, needle, k) == 0)
            return p + i;
    return NULL;
}

static int64_t fp_content_length(const char *head, size_t n)
{
    const char *h = fp_find(head, n, "\r\ncontent-length:");
    return h ? strtoll(h + 17, NULL, 10) : 0;
}

static void fp_answer(struct fp_conn *k, int status, uint64_t now)
{
    char body[512], msg[800];
    const char *code = k->local_status == ACT_500 ? "InternalError"
                     : k->local_status == ACT_SLOWDOWN ? "SlowDown" : "ServiceUnavailable";
    int bl = snprintf(body, sizeof body,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                      "<Message>injected by faultproxy</Message></Error>", code);
    int ml = snprintf(msg, sizeof msg,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s",
                      status, status == 500 ? "Internal Server Error" : "Service Unavailable", bl, body);
    fp_push(&k->to_client, msg, (size_t)ml, now);
}

/* A whole request head has arrived: choose what happens to it. */
static int fp_request(struct fp_conn *k, uint64_t now)
{
    fp.requests++;
    if (fp.verbose)
        fprintf(stderr, "faultproxy: conn %d: %.*s\n", (int)(k - fp.c),
                (int)strcspn(k->head, "\r"), k->head);
    k->body_left = (uint64_t)fp_content_length(k->head, k->head_len);
    k->local = 0;
    for (int a = ACT_500; a < ACT_N; a++) {
        if (fp.pending[a] <= 0)
            continue;
        fp.pending[a]--;
        if (a == ACT_RESETREQ)
            return -1;
        if (a == ACT_TRUNCATE) {
            k->truncating = 1;
            k->rhead_len = 0;
            k->rbody_keep = -1;
        } else {
            k->local = 1;
            k->local_status = a;
        }
        break;
    }
    if (!k->local)
        fp_push(&k->to_up, k->head, k->head_len, now);
    return 0;
}

static void fp_request_done(struct fp_conn *k, uint64_t now)
{
    if (k->local)
        fp_answer(k, k->local_status == ACT_500 ? 500 : 503, now);
    k->local = 0;
    k->head_len = 0;
}

/* Client bytes in --http mode; -1 to reset the connection. */
static int fp_from_client_http(struct fp_conn *k, const char *p, size_t n, uint64_t now)
{
    while (n > 0) {
        if (k->body_left > 0) {
            size_t take = n < k->body_left ? n : (size_t)k->body_left;
            if (!k->local)
                fp_push(&k->to_up, p, take, now);
            k->body_left -= take;
            p += take;
            n -= take;
            if (k->body_left == 0)
                fp_request_done(k, now);
            continue;
        }
        /* Head: byte by byte up to the blank line (heads are small). */
        if (k->head_len >= sizeof k->head)
            return -1;
        k->head[k->head_len++] = *p++;
        n--;
        if (k->head_len >= 4 && memcmp(k->head + k->head_len - 4, "\r\n\r\n", 4) == 0) {
            if (fp_request(k, now) < 0)
                return -1;
            if (k->body_left == 0)
                fp_request_done(k, now);
        }
    }
    return 0;
}

/* Upstream bytes of a reply being truncated; -1 once it has been cut. */
static int fp_from_up_truncating(struct fp_conn *k, const char *p, size_t n, uint64_t now)
{
    while (n > 0 && k->rbody_keep < 0) {
        if (k->rhead_len >= sizeof k->rhead)
            return -1;
        k->rhead[k->rhead_len++] = *p++;
        n--;
        if (k->rhead_len >= 4 && memcmp(k->rhead + k->rhead_len - 4, "\r\n\r\n", 4) == 0) {
            fp_push(&k->to_client, k->rhead, k->rhead_len, now);
            k->rbody_keep = fp_content_length(k->rhead, k->rhead_len) / 2;
        }
    }
    if (k->rbody_keep < 0)
        return 0;
    size_t take = (uint64_t)k->rbody_keep < n ? (size_t)k->rbody_keep : n;
    fp_push(&k->to_client, p, take, now);
    k->rbody_keep -= (int64_t)take;
    return k->rbody_keep == 0 ? -1 : 0;
}

/* ---- the loop ------------------------------------------------------------- */

static void fp_accept(int lfd, int target)
{
    for (int guard = 0; guard < FP_MAX_CONNS; guard++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        fp.accepted++;
        if (fp.mode == FP_RESET) {
            fp_rst(fd);
            continue;
        }
        struct fp_conn *k = NULL;
        for (int i = 0; i < FP_MAX_CONNS && !k; i++)
            if (fp.c[i].cfd < 0)
                k = &fp.c[i];
        int ufd = k ? fp_dial(target) : -1;
        if (ufd < 0) {
            fp_rst(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        k->cfd = fd;
        k->ufd = ufd;
    }
}

static void fp_reset_all(void)
{
    for (int i = 0; i < FP_MAX_CONNS; i++)
        if (fp.c[i].cfd >= 0)
            fp_conn_close(&fp.c[i], 1);
}

static void fp_command(char *line, int fd)
{
    char out[256], word[32] = "";
    long n = 0;
    int got = sscanf(line, "%31s %ld", word, &n);
    static const char *const acts[ACT_N] = { "", "http500", "http503", "slowdown", "truncate", "resetreq" };
    snprintf(out, sizeof out, "ok %s\n", word);
    if (got < 1) {
        snprintf(out, sizeof out, "error empty command\n");
    } else if (!strcmp(word, "pass")) {
        fp.mode = FP_PASS;
        for (int a = 0; a < ACT_N; a++)
            fp.pending[a] = 0;
    } else if (!strcmp(word, "delay") && got == 2 && n >= 0 && n <= 600000) {
        fp.mode = FP_DELAY;
        fp.delay_ms = (int)n;
    } else if (!strcmp(word, "stall")) {
        fp.mode = FP_STALL;
    } else if (!strcmp(word, "pause")) {
        fp.mode = FP_PAUSE;
    } else if (!strcmp(word, "reset")) {
        fp.mode = FP_RESET;
        fp_reset_all();
    } else if (!strcmp(word, "kill")) {
        fp_reset_all();
    } else if (!strcmp(word, "status")) {
        int open = 0;
        for (int i = 0; i < FP_MAX_CONNS; i++)
            open += fp.c[i].cfd >= 0;
        snprintf(out, sizeof out, "ok accepted %llu open %d requests %llu\n",
                 (unsigned long long)fp.accepted, open, (unsigned long long)fp.requests);
    } else {
        int a;
        for (a = 1; a < ACT_N && strcmp(word, acts[a]); a++)
            ;
        if (a < ACT_N && fp.http && got == 2 && n >= 0 && n <= 1000000)
            fp.pending[a] = (int)n;
        else
            snprintf(out, sizeof out, "error unknown command or argument: %s\n", word);
    }
    (void)!write(fd, out, strlen(out));
}

/* Reads control lines; 0 when the peer is gone. */
static int fp_ctl_read(int i)
{
    ssize_t r = read(fp.ctl[i], fp.ctlbuf[i] + fp.ctllen[i], sizeof fp.ctlbuf[i] - 1 - fp.ctllen[i]);
    if (r <= 0)
        return 0;
    fp.ctllen[i] += (size_t)r;
    fp.ctlbuf[i][fp.ctllen[i]] = '\0';
    char *nl;
    while ((nl = strchr(fp.ctlbuf[i], '\n'))) {
        *nl = '\0';
        fp_command(fp.ctlbuf[i], fp.ctl[i]);
        size_t used = (size_t)(nl + 1 - fp.ctlbuf[i]);
        memmove(fp.ctlbuf[i], nl + 1, fp.ctllen[i] - used + 1);
        fp.ctllen[i] -= used;
    }
    return fp.ctllen[i] < sizeof fp.ctlbuf[i] - 1;
}

/* Moves bytes of one connection; -1 to close it (rst in *rst). */
static int fp_service(struct fp_conn *k, short crev, short urev, uint64_t now, int *rst)
{
    char buf[65536];
    *rst = 0;
    if (fp.mode == FP_PAUSE)
        return (crev | urev) & (POLLHUP | POLLERR) ? -1 : 0;
    if ((crev & (POLLIN | POLLHUP | POLLERR)) && k->to_up.len < FP_QUEUE_MAX) {
        ssize_t r = read(k->cfd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            return -1;
        if (r > 0 && fp.mode != FP_STALL) {
            if (fp.http ? fp_from_client_http(k, buf, (size_t)r, now) < 0
                        : fp_push(&k->to_up, buf, (size_t)r, now) < 0) {
                *rst = 1;
                return -1;
            }
        }
    }
    if (fp.mode == FP_STALL)
        return 0;
    if ((urev & (POLLIN | POLLHUP | POLLERR)) && k->to_client.len < FP_QUEUE_MAX) {
        ssize_t r = read(k->ufd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            fp_flush(&k->to_client, k->cfd, now);
            return -1;
        }
        if (r > 0) {
            if (k->truncating && fp_from_up_truncating(k, buf, (size_t)r, now) < 0) {
                fp_flush(&k->to_client, k->cfd, now + 1000000);
                *rst = 1;
                return -1;
            }
            if (!k->truncating && fp_push(&k->to_client, buf, (size_t)r, now) < 0)
                return -1;
        }
    }
    if (fp_flush(&k->to_up, k->ufd, now) < 0 || fp_flush(&k->to_client, k->cfd, now) < 0)
        return -1;
    return 0;
}

static void fp_write_ports(const char *path, int port, int ctl_port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d %d\n", port, ctl_port) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        perror("faultproxy: ports file");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int target = 0, max_seconds = 1800;
    const char *ports = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ports") && i + 1 < argc)
            ports = argv[++i];
        else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc)
            max_seconds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--http"))
            fp.http = 1;
        else if (!strcmp(argv[i], "--verbose"))
            fp.verbose = 1;
        else
            target = 0, i = argc;
    }
    if (target <= 0 || target > 65535 || !ports || max_seconds <= 0) {
        fprintf(stderr, "usage: faultproxy --target PORT --ports FILE [--http] [--max-seconds N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < FP_MAX_CONNS; i++)
        fp.c[i].cfd = fp.c[i].ufd = -1;
    for (int i = 0; i < FP_MAX_CTL; i++)
        fp.ctl[i] = -1;
    int port, ctl_port;
    int lfd = fp_listen(&port), cfd = fp_listen(&ctl_port);
    fp_write_ports(ports, port, ctl_port);
    uint64_t end = fp_now_ms() + (uint64_t)max_seconds * 1000u;
    struct pollfd pf[2 + FP_MAX_CTL + 2 * FP_MAX_CONNS];
    while (fp_now_ms() < end) {
        int n = 0;
        pf[n++] = (struct pollfd){ lfd, POLLIN, 0 };
        pf[n++] = (struct pollfd){ cfd, POLLIN, 0 };
        for (int i = 0; i < FP_MAX_CTL; i++)
            pf[n++] = (struct pollfd){ fp.ctl[i], POLLIN, 0 };
        for (int i = 0; i < FP_MAX_CONNS; i++) {
            struct fp_conn *k = &fp.c[i];
            short cev = fp.mode == FP_PAUSE ? 0 : POLLIN, uev = fp.mode >= FP_STALL ? 0 : POLLIN;
            if (k->to_client.len && fp.mode < FP_STALL)
                cev |= POLLOUT;
            if (k->to_up.len && fp.mode < FP_STALL)
                uev |= POLLOUT;
            pf[n++] = (struct pollfd){ k->cfd, cev, 0 };
            pf[n++] = (struct pollfd){ k->ufd, uev, 0 };
        }
        if (poll(pf, (nfds_t)n, FP_TICK_MS) < 0 && errno != EINTR) {
            perror("faultproxy: poll");
            break;
        }
        uint64_t now = fp_now_ms();
        if (pf[0].revents & POLLIN)
            fp_accept(lfd, target);
        if (pf[1].revents & POLLIN) {
            int fd = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
            int slot = -1;
            for (int i = 0; i < FP_MAX_CTL && fd >= 0 && slot < 0; i++)
                if (fp.ctl[i] < 0)
                    slot = i;
            if (slot < 0 && fd >= 0)
                close(fd);
            else if (fd >= 0) {
                fp.ctl[slot] = fd;
                fp.ctllen[slot] = 0;
            }
        }
        for (int i = 0; i < FP_MAX_CTL; i++)
            if (fp.ctl[i] >= 0 && (pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR)) && !fp_ctl_read(i)) {
                close(fp.ctl[i]);
                fp.ctl[i] = -1;
            }
        for (int i = 0; i < FP_MAX_CONNS; i++) {
            struct fp_conn *k = &fp.c[i];
            if (k->cfd < 0)
                continue;
            int rst;
            short crev = pf[2 + FP_MAX_CTL + 2 * i].revents, urev = pf[3 + FP_MAX_CTL + 2 * i].revents;
            if (fp_service(k, crev, urev, now, &rst) < 0)
                fp_conn_close(k, rst);
        }
    }
    fp_reset_all();
    return 0;
}

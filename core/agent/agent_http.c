/* agent_http.c - the node agent's /metrics responder (agent_http.h).
 *
 * Owns the listening socket's life between the agent's polls: parse a
 * request strictly, answer from the cache folder's shared page
 * (core/metrics.c), close. Nothing here can block longer than its
 * deadlines: every read and write waits in poll() for what is left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_http.h"
#include "cache.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "nodemeta.h"

/* A request-line or header byte: visible ASCII, space or tab. */
static int agent_http_text(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\t';
}

/* The end of the line starting at p (at its '\n'), or NULL. */
static const char *agent_http_eol(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl;
}

/* Length of the line [p, nl) without its '\r'. */
static size_t agent_http_linelen(const char *p, const char *nl)
{
    size_t n = (size_t)(nl - p);
    return n && p[n - 1] == '\r' ? n - 1 : n;
}

/* The request line: 200/201 for GET/HEAD /metrics, 404, or 400. */
static int agent_http_request_line(const char *p, size_t n)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return 400;
    for (const char *q = p; q < sp1; q++)
        if (*q < 'A' || *q > 'Z')
            return 400;
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t || *t != '/')
        return 400;
    size_t vlen = (size_t)(end - sp2 - 1);
    if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9')
        return 400;
    for (const char *q = p; q < end; q++)
        if (!agent_http_text((unsigned char)*q) || *q == '\t')
            return 400;
    size_t tlen = (size_t)(sp2 - t);
    int metrics = (tlen == 8 && memcmp(t, "/metrics", 8) == 0) ||
                  (tlen > 8 && memcmp(t, "/metrics?", 9) == 0);
    size_t mlen = (size_t)(sp1 - p);
    if (metrics && mlen == 3 && memcmp(p, "GET", 3) == 0)
        return 200;
    if (metrics && mlen == 4 && memcmp(p, "HEAD", 4) == 0)
        return 201;
    return 404;
}

int agent_http_parse(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    const char *nl = agent_http_eol(p, end);
    if (!nl)
        return len >= AGENT_HTTP_MAX ? 400 : 0;
    int verdict = agent_http_request_line(p, agent_http_linelen(p, nl));
    if (verdict == 400)
        return 400; /* no need to read headers that cannot help */
    for (p = nl + 1; p < end; p = nl + 1) {
        nl = agent_http_eol(p, end);
        if (!nl)
            break;
        size_t n = agent_http_linelen(p, nl);
        if (n == 0)
            return verdict; /* the blank line: complete */
        if (!memchr(p, ':', n) || *p == ':' || *p == ' ' || *p == '\t')
            return 400;
        for (size_t i = 0; i < n; i++)
            if (!agent_http_text((unsigned char)p[i]))
                return 400;
    }
    return len >= AGENT_HTTP_MAX ? 400 : 0;
}

int agent_http_listen(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char *endp;
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    errno = 0;
    unsigned long port = strtoul(colon + 1, &endp, 10);
    if (errno || *endp || endp == colon + 1 || port == 0 || port > 65535 ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
        return -EINVAL;
    sa.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Wait for fd to be ready for events until the wall time deadline:
 * 1 ready, 0 out of time (or hung up / error, which the I/O then tells). */
static int agent_http_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - nodemeta_now();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = poll(&pfd, 1, (int)((left + 999999) / 1000000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

static void agent_http_send(int fd, const char *p, size_t len, int64_t deadline)
{
    while (len > 0 && agent_http_wait(fd, POLLOUT, deadline)) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void agent_http_error(int fd, int status, int64_t deadline)
{
    static const char r400[] = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n";
    static const char r404[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 34\r\nConnection: close\r\n\r\n"
                               "not found: only GET /metrics here\n";
    if (status == 404)
        agent_http_send(fd, r404, sizeof r404 - 1, deadline);
    else
        agent_http_send(fd, r400, sizeof r400 - 1, deadline);
}

static void agent_http_metrics(int fd, const struct shimfs_config *cfg, int head, int64_t deadline)
{
    char *body = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&body, &blen);
    if (!m)
        return;
    struct cache_stats cs;
    int on = metrics_node_read(cfg, &cs);
    int rc = metrics_write(&cs, on, m);
    if (rc == 0)
        rc = metrics_write_agent(1, m); /* it is the agent answering */
    if (fclose(m) != 0 || rc < 0) {
        free(body);
        return;
    }
    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                      "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      blen);
    agent_http_send(fd, hdr, (size_t)hn, deadline);
    if (!head)
        agent_http_send(fd, body, blen, deadline);
    free(body);
}

/* Closing with unread request bytes makes the kernel send a reset, which
 * can destroy the answer before the client read it: end our side, then
 * read what the client still sends until it closes, for a bounded time
 * and amount. */
static void agent_http_drain(int fd, int64_t deadline)
{
    char sink[1024];
    size_t total = 0;
    (void)shutdown(fd, SHUT_WR);
    while (total < 64 * 1024 && agent_http_wait(fd, POLLIN, deadline)) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

int agent_http_serve(int lfd, const struct shimfs_config *cfg, int64_t until)
{
    if (!agent_http_wait(lfd, POLLIN, until))
        return 0;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[AGENT_HTTP_MAX];
    size_t len = 0;
    int verdict = 0;
    int64_t deadline = nodemeta_now() + AGENT_HTTP_READ_NS;
    while (verdict == 0 && agent_http_wait(fd, POLLIN, deadline)) {
        ssize_t n = recv(fd, buf + len, sizeof buf - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        verdict = agent_http_parse(buf, len);
    }
    deadline = nodemeta_now() + AGENT_HTTP_READ_NS;
    if (verdict == 200 || verdict == 201)
        agent_http_metrics(fd, cfg, verdict == 201, deadline);
    else if (verdict != 0 || len > 0)
        agent_http_error(fd, verdict ? verdict : 400, deadline);
    if (len > 0)
        agent_http_drain(fd, deadline);
    close(fd);
    return 1;
}

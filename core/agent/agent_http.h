/* agent_http.h - the node agent's metrics endpoint: one small HTTP/1.0
 * responder on a loopback address (SHIMFS_METRICS_ADDR), answering
 * GET /metrics with the node's counters in the Prometheus text format.
 *
 * Promises:
 *  - Loopback only: an address that is not 127.0.0.0/8 is refused (one
 *    log line, no endpoint), so the counters never leave the node unless
 *    a proxy the operator runs carries them.
 *  - Bounded: one connection at a time, served between the agent's polls;
 *    a request is read for at most AGENT_HTTP_READ_NS and AGENT_HTTP_MAX
 *    bytes; the answer is written, and what the client still sends is
 *    read and dropped (so that closing does not reset the answer away),
 *    within a second AGENT_HTTP_READ_NS; then the connection is closed
 *    (no keep-alive). A slow or silent client costs the agent at most
 *    2 * AGENT_HTTP_READ_NS.
 *  - Anything but `GET /metrics` (or `HEAD`) is answered 400 (not HTTP) or
 *    404 (another path or method); garbage never crashes it (the parser
 *    is fuzzed: tests/fuzz/fuzz_agent_http.c).
 */
#ifndef SHIMFS_AGENT_HTTP_H
#define SHIMFS_AGENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct shimfs_config;

#define AGENT_HTTP_MAX 4096                  /* bytes of request read */
#define AGENT_HTTP_READ_NS (500 * 1000000LL) /* for a request, and for its answer */

/* What a request (the bytes read so far) asks: 0 incomplete (read on),
 * 200 GET /metrics, 201 HEAD /metrics, 404 another path or method,
 * 400 not an HTTP/1.x request line or headers. */
int agent_http_parse(const char *buf, size_t len);

/* The listening socket for addr ("127.0.0.1:9567"): a descriptor, or
 * -EINVAL (not a loopback IPv4 address and port) or -errno (bind). */
int agent_http_listen(const char *addr);

/* Wait for a connection until the wall time `until` (ns, nodemeta_now's
 * clock) and serve it; returns at the latest AGENT_HTTP_READ_NS * 2 after
 * until. Returns 1 when it served one, 0 when none came. */
int agent_http_serve(int lfd, const struct shimfs_config *cfg, int64_t until);

#endif

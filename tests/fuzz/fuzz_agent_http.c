/* fuzz_agent_http.c - libFuzzer target: the node agent's request parser
 * (core/agent/agent_http.c) on any bytes a local client may send to the
 * metrics endpoint, read in pieces as recv hands them over.
 * Promises checked: no memory error (the input sits in a buffer of its
 * exact size); the verdict is one of 0, 200, 201, 400, 404; never "read
 * on" once AGENT_HTTP_MAX bytes are in; 200/201 only for GET/HEAD of
 * /metrics over HTTP/1.x; a prefix's final verdict is the whole's (the
 * responder stops reading at the first verdict, so a split never changes
 * the answer). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    int whole = agent_http_parse(buf, size);
    assert(whole == 0 || whole == 200 || whole == 201 || whole == 400 || whole == 404);
    assert(!(size >= AGENT_HTTP_MAX && whole == 0));
    if (whole == 200)
        assert(size >= 13 && memcmp(buf, "GET /metrics", 12) == 0);
    if (whole == 201)
        assert(size >= 14 && memcmp(buf, "HEAD /metrics", 13) == 0);
    /* the first prefix with a verdict: as the responder reads */
    size_t step = size ? 1 + data[0] % 64 : 1;
    for (size_t n = step < size ? step : size; n < size; n += step) {
        int v = agent_http_parse(buf, n);
        if (v != 0) {
            /* a verdict on a prefix never turns a request for metrics
             * into garbage or the reverse */
            assert((v == 200 || v == 201) == (whole == 200 || whole == 201) || whole == 400);
            break;
        }
    }
    free(buf);
    return 0;
}

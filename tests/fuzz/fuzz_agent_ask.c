/* fuzz_agent_ask.c - libFuzzer target: the node agent's reader of its
 * processes' questions (core/agent/agent_ask.c, agent_ask_parse) on any
 * bytes a client of the node's socket may send.
 * Promises checked: no memory error (the input sits in a buffer of its
 * exact size); the answer is -EINVAL or a size of at least the header;
 * a whole question is a listing without names or a walk with 1..16 names
 * of 1..255 bytes each, laid end to end right after the header inside the
 * input, their lengths summing to the size less the header, with a folder
 * and a limit; a prefix of a valid question never reads as a different
 * one (the agent reads the header first, then the rest). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_ask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct agent_question q;
    long whole = agent_ask_parse(buf, size, &q);
    assert(whole == -EINVAL || whole >= AGENT_ASK_HDR);
    if (whole >= AGENT_ASK_HDR && (size_t)whole <= size) {
        assert(q.kind == AGENT_ASK_LIST || q.kind == AGENT_ASK_WALK || q.kind == AGENT_ASK_SYNC);
        assert(q.dir != 0 && q.limit > 0 && q.limit <= AGENT_ASK_LIMIT_MAX);
        /* flags: none, or FRESH with the asker's age above the low byte */
        assert(q.flags == 0 || (q.flags & ((1 << AGENT_ASK_AGE_SHIFT) - 1)) == AGENT_ASK_FRESH);
        assert(q.kind != AGENT_ASK_WALK ? q.n == 0 : q.n >= 1 && q.n <= AGENT_ASK_NAMES);
        size_t sum = 0;
        for (int i = 0; i < q.n; i++) {
            assert(q.lens[i] >= 1 && q.lens[i] <= 255);
            assert(q.names[i] == buf + AGENT_ASK_HDR + sum);
            sum += q.lens[i];
        }
        assert(AGENT_ASK_HDR + sum == (size_t)whole);
        /* the header alone asks for the same size */
        struct agent_question h;
        assert(agent_ask_parse(buf, AGENT_ASK_HDR, &h) == whole);
    }
    free(buf);
    return 0;
}

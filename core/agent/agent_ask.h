/* agent_ask.h - the node's processes ask the agent the questions their
 * first connection would have asked (docs/design.md, "Questions the agent
 * answers").
 *
 * Why: a cold process that needs a folder's listing or a walk paid a
 * PostgreSQL connection of its own for it (libpq's load, a backend fork,
 * SCRAM: about 20 ms of CPU, in the reader and the server), and 256 cold
 * workers of one node queued for the node's few connections to pay it one
 * after another. The agent is connected already: asked over a socket of
 * the node's folder, it asks the question (once for the node: the same
 * question locks as any process) and leaves the answer where every
 * answer lands, in the node's shared files; the asker then reads it
 * there. The socket carries no answer, only whether one landed, so there
 * is nothing new to trust or to parse beyond a fixed header.
 *
 * Promises:
 *  - The socket lives in the node's folder (its user's alone: trust.h),
 *    and the agent answers only peers of its own user (SO_PEERCRED).
 *  - Asking never blocks past its timeout and never fails a call: any
 *    error (no agent, a full backlog, a slow or dead agent) is -errno, and
 *    the caller asks the database itself, as before.
 *  - Descriptors at 10 or above, close-on-exec (like the engine's).
 */
#ifndef SHIMFS_AGENT_ASK_H
#define SHIMFS_AGENT_ASK_H

#include <stddef.h>
#include <stdint.h>

struct nodemeta;

/* Names one walk question carries at most. */
#define AGENT_ASK_NAMES 16
/* kinds */
#define AGENT_ASK_LIST 'd'  /* a folder's listing (dir), block maps included */
#define AGENT_ASK_WALK 'w'  /* a walk from folder dir by names[0..n) */
/* A poll of the change log that began after the question arrived, done
 * (the agent answers it itself; dir: META_ROOT_INO, no names): the node's
 * vouched answers are then at least as new as the asker's question. */
#define AGENT_ASK_SYNC 's'
/* flags: the asker's caches were brought past its start (vfs_agent.c):
 * a snapshot only younger than the TTL does not answer it, one the chain
 * vouches for or asked since the asker started does. How long before the
 * question it started, in ms, is in the bits from AGENT_ASK_AGE_SHIFT
 * (at most AGENT_ASK_AGE_MAX: an older asker says less, which is only
 * stricter). */
#define AGENT_ASK_FRESH 0x1
#define AGENT_ASK_AGE_SHIFT 8
#define AGENT_ASK_AGE_MAX 0xffffffu

/* A listing's `limit` at most (the engine's "whole folder"). A listing
 * asked with this limit is a big folder's, whole, for the node, in the
 * background (vfs_agent.c: the agent lists it once a second process of
 * the node asks). */
#define AGENT_ASK_LIMIT_MAX (1 << 30)

/* A question as the agent reads it (agent_ask_parse): names point into
 * the bytes parsed. */
struct agent_question {
    char kind;
    uint64_t dir;
    int limit, n, flags;
    const char *names[AGENT_ASK_NAMES];
    size_t lens[AGENT_ASK_NAMES];
};
/* The size of a question's fixed header. */
#define AGENT_ASK_HDR 64

/* A question's bytes as a client sent them (len of them in buf): -EINVAL
 * when they can never be a valid question, else the question's whole size
 * (at least AGENT_ASK_HDR: with fewer bytes than that, the header is
 * needed first); when that is at most len, *q is the question. */
long agent_ask_parse(const void *buf, size_t len, struct agent_question *q);

/* What the agent runs for a question: 0 when its answer is in the node's
 * files now, else -errno. Called on one of the server's threads. limit:
 * a listing's entries at most (1 for a walk). */
typedef int (*agent_answer_fn)(void *arg, char kind, int flags, uint64_t dir, int limit,
                               const char *const *names, const size_t *lens, int n);

/* Ask the agent serving nm's node; 0 when it answered (look in the node's
 * files), -errno otherwise (then ask the database). At most timeout_ms.
 * timeout_ms 0: the question is sent and not waited for (0 once sent:
 * work for the node the caller does not need now, e.g. a whole listing
 * in the background). */
int agent_ask(struct nodemeta *nm, char kind, int flags, uint64_t dir, int limit,
              const char *const *names, const size_t *lens, int n, int timeout_ms);

/* The agent's side: `workers` threads answering on the node's socket with
 * fn until agent_server_stop. -errno when the socket cannot be made (the
 * agent then only polls, as before). */
struct agent_server;
int agent_server_start(struct nodemeta *nm, int workers, agent_answer_fn fn, void *arg,
                       struct agent_server **out);
void agent_server_stop(struct agent_server *s);
/* Questions answered (0) and failed so far, for the agent's log. */
void agent_server_counts(const struct agent_server *s, uint64_t *answered, uint64_t *failed);

#endif

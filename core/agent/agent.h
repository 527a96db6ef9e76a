/* agent.h - the node agent: one small process per node and volume that
 * keeps a database connection, reads the volume's change log, and tells
 * the node's processes, through the shared page of nodemeta, which
 * directories changed and that the others did not since their shared
 * snapshots were taken, so a fresh process (`cat`, a DataLoader worker, a
 * `find` of the next epoch) needs no connection of its own.
 *
 * Why a process: a PostgreSQL connection costs 10-30 ms (TCP, SCRAM, a
 * backend fork), more than a warm process spends on its data. Snapshots
 * alone cover one TTL (1 s); an epoch or a job step later they had aged
 * out and every process connected again. Only something that outlives the
 * processes can keep a connection; a shim that the host program loads
 * cannot, so the library starts `shimfs agent` when it had to connect.
 *
 * Promises:
 *  - Never a child the host program can see: started with no exit signal
 *    (a host's wait(-1) and SIGCHLD handler never meet it), reaped at
 *    once after it detached, holding no descriptor of the host's (a pipe
 *    it kept would keep a reader from its end of file) and no signal mask.
 *  - One agent per node and volume (a lock in the node's folder); it
 *    leaves when no process used the node's snapshots for
 *    SHIMFS_AGENT_IDLE, when the cache folder is wiped, or when the
 *    database stayed unreachable for a minute; while it cannot poll, its
 *    stamp ages and processes fall back to their TTL. Nothing it does can
 *    make an answer older than the TTL promises.
 *  - It answers the node's processes' first questions over its socket
 *    (agent_ask.h) while it holds the node: a cold process then needs no
 *    connection of its own.
 *  - Disabled by SHIMFS_AGENT=0, SHIMFS_NODE_META=0 or SHIMFS_READ_ONLY=1
 *    (snapshots never expire there); a missing binary costs one debug line.
 */
#ifndef SHIMFS_AGENT_H
#define SHIMFS_AGENT_H

#include <stdint.h>

#include "agent_ask.h"

struct shimfs_config;
struct meta;
struct nodemeta;

/* An agent polled within this long serves the node. */
#define AGENT_STALE_NS (2 * 1000000000LL)

/* From a process that just asked the database what the node's snapshots
 * could not answer: start an agent if none serves the node (at most one
 * start per node every 10 s; one fork and exec, ~5 ms, paid once). */
void agent_ensure(const struct shimfs_config *cfg, struct nodemeta *nm);

/* 1 when an agent polled within AGENT_STALE_NS of now. */
int agent_alive(const struct nodemeta *nm, int64_t now);

/* Questions the agent answers for the node's processes (agent_ask.h):
 * `workers` threads running fn. */
struct agent_answers {
    int workers;
    agent_answer_fn fn;
    void *arg;
};

/* The agent's loop (`shimfs agent`): polls m every cfg->agent_poll_ns
 * until it should leave (0), or -EBUSY when another agent serves the node.
 * stop: set (from a signal handler) to leave at the next poll. ans (NULL:
 * none): the questions it answers meanwhile, once it holds the node. */
int agent_run(const struct shimfs_config *cfg, struct meta *m, struct nodemeta *nm,
              volatile int *stop, const struct agent_answers *ans);

#endif

/* nodeconn.h - the node's share of the database: a bound on the
 * PostgreSQL connections its processes hold together, and questions asked
 * once for all of them (singleflight).
 *
 * Why: every process carries its own engine and pool (SHIMFS_META_CONNS).
 * 256 DataLoader workers starting at once on a cold node each connected:
 * a server with the default max_connections=100 refused the 98th ("too
 * many clients") and its reads failed with EIO; the ones that got in all
 * asked the same directories. Here a connection needs one of
 * SHIMFS_NODE_CONNS slots of the node (the agent's included), and a
 * process about to ask what another process of the node is asking right
 * now waits for that answer, which lands in the node's shared files
 * (nodemeta.h), instead of asking again.
 *
 * How: slots and questions are file locks (flock, OFD) on small files of
 * the node's folder, which only its user can reach (trust.h): the kernel
 * drops them with the process that held them, so a crashed process never
 * keeps a slot, and there is no server to be down or slow.
 *
 * Promises:
 *  - At most `cap` connections of the node's processes (those that share
 *    the cache folder and volume) are open at once: a connection is made
 *    only under a slot (meta.h, struct meta_conn_gate), held until it
 *    closes. A process waiting for one makes idle connections elsewhere
 *    close within META_GATE_IDLE_MS.
 *  - Waits are bounded: a slot by the call's deadline (SHIMFS_META_TIMEOUT;
 *    -ETIMEDOUT and one log line), a question by NODECONN_FLIGHT_WAIT_MS
 *    (then the caller asks itself: never an error).
 *  - A fork child holds none of its parent's slots or questions.
 *  - Its descriptors are close-on-exec and numbered 10 or above (a shell's
 *    `exec 3> file` never lands on one); a process keeps one per slot it
 *    holds, plus two while it uses the bound.
 *  - When the folder cannot hold the locks (descriptors exhausted), the
 *    process connects unbounded after one log line rather than fail.
 */
#ifndef SHIMFS_NODECONN_H
#define SHIMFS_NODECONN_H

#include <stdint.h>

#include "meta.h"

struct nodemeta;
struct nodeconn;

/* The most a question is waited for before asking anyway. */
#define NODECONN_FLIGHT_WAIT_MS 10000

/* With at least this many slots, the agent keeps its connection, on a
 * slot of its own (the last): the node's other processes share the rest. */
#define NODECONN_AGENT_MIN 4

/* Slots for nm's node, cap of them (>= 1). keep: the agent's handle,
 * whose connection is not closed for others (it polls every 200 ms); it
 * takes only the last slot, the others never (cap >= NODECONN_AGENT_MIN). */
int nodeconn_open(struct nodemeta *nm, int cap, int keep, struct nodeconn **out);
void nodeconn_close(struct nodeconn *nc);
/* The gate to give the metadata handle (meta_set_conn_gate); lives as
 * long as nc. */
const struct meta_conn_gate *nodeconn_gate(struct nodeconn *nc);
/* In a fork child: let go of the parent's slots without unlocking them. */
void nodeconn_after_fork(struct nodeconn *nc);

/* Connections of the node open now (slots held), for stats. */
int nodeconn_in_use(struct nodeconn *nc);
/* Slots this process holds through nc now (its open connections). */
int nodeconn_held_here(struct nodeconn *nc);

/* Singleflight. flight_begin: wait (at most NODECONN_FLIGHT_WAIT_MS) until
 * no other process or thread of the node asks question `key` (a hash of
 * what is asked), then own it: returns a token for flight_end, or -errno
 * (the caller asks without it). *waited: 1 when another one was asking
 * (its answer may now be in the node's files: look again first). */
int nodeconn_flight_begin(struct nodemeta *nm, uint64_t key, int *waited);
void nodeconn_flight_end(int token);
/* 1 when another process (or thread) of the node asks question key now
 * (or one that shares its lock file); asks and waits for nothing. */
int nodeconn_flight_held(struct nodemeta *nm, uint64_t key);
/* Whether this thread holds a question's lock now (it must not wait for
 * another process that may need it: the agent). */
int nodeconn_flight_mine(void);

#endif

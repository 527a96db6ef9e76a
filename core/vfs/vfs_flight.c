/* vfs_flight.c - a question of the database asked once for the node.
 *
 * 256 workers that start together miss the same root, the same folders
 * and the same walks at the same moment; each asked the database, on a
 * connection of its own (nodeconn.h bounds those now, so they would also
 * queue for them). A process about to ask what the node's shared files
 * (nodemeta.h) would hold once the answer lands takes the question's lock
 * first; one that had to wait for it looks in the node's files again
 * before asking. Without node sharing, or with SHIMFS_NODE_CONNS=0, every
 * process asks for itself, as before.
 */
#include "nodeconn.h"
#include "vfs_internal.h"

/* sticky: this process waited for a question of another (a fork child
 * inherits it, rightly: it starts among the same neighbours) */
static int vfs_flight_busy;

static uint64_t vfs_flight_key(char kind, uint64_t dir, const char *name, size_t nlen)
{
    uint64_t h = 1469598103934665603ULL ^ (unsigned char)kind;
    h = (h ^ dir) * 1099511628211ULL;
    h ^= h >> 29;
    for (size_t i = 0; i < nlen; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    return h;
}

/* The node's folder when questions are asked once there, else NULL. */
static struct nodemeta *vfs_flight_node(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node && e->cfg.node_conns > 0 ? e->node : NULL;
}

int vfs_flight_begin(char kind, uint64_t dir, const char *name, size_t nlen, int *waited)
{
    struct nodemeta *nm = vfs_flight_node();
    *waited = 0;
    if (!nm)
        return -1;
    int tok = nodeconn_flight_begin(nm, vfs_flight_key(kind, dir, name, nlen), waited);
    if (*waited)
        __atomic_store_n(&vfs_flight_busy, 1, __ATOMIC_RELAXED);
    return tok < 0 ? -1 : tok;
}

int vfs_flight_contended(void)
{
    return __atomic_load_n(&vfs_flight_busy, __ATOMIC_RELAXED);
}

void vfs_flight_end(int token)
{
    nodeconn_flight_end(token);
}

int vfs_flight_wait(char kind, uint64_t dir)
{
    int waited, tok = vfs_flight_begin(kind, dir, NULL, 0, &waited);
    vfs_flight_end(tok);
    return waited;
}

int vfs_flight_held(char kind, uint64_t dir)
{
    struct nodemeta *nm = vfs_flight_node();
    return nm && nodeconn_flight_held(nm, vfs_flight_key(kind, dir, NULL, 0));
}

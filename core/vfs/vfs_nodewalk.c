/* vfs_nodewalk.c - path-walk answers shared with the node's processes.
 *
 * A cold walk reads only the directories on its path (one meta_walk) and
 * lists none of them; without sharing, every later process of the node
 * would connect to the database to walk the same path again (10-30 ms).
 * Each name a walk found is left as one small blob in the node's folder
 * (nodemeta.h: "w" and a hash of parent and name; the blob holds both, so
 * a collision is a miss) under the rules of every node answer: used while
 * younger than the TTL, counted from the question, and while no process of
 * the node has committed a change to the name's folder since (the node's
 * per-directory marks, nodemeta_load_dir_blob). A process walks a folder at most once
 * before it lists it (at its second miss there), so there are about as
 * many blobs as folders touched, not as files.
 */
#include <stdio.h>
#include <string.h>

#include "nodemeta.h"
#include "vfs_internal.h"

struct vfs_nodewalk_rec {
    uint64_t parent;
    int64_t wall;               /* when the question was asked (wall clock) */
    uint32_t nlen, pad;
    char name[META_NAME_MAX + 1];
    struct meta_attr a;
};

static void vfs_nodewalk_key(uint64_t parent, const char *name, size_t nlen, char *key, size_t cap)
{
    uint64_t h = 1469598103934665603ULL ^ (parent * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < nlen; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ULL;
    snprintf(key, cap, "w%016llx", (unsigned long long)h);
}

struct nodemeta_stamp vfs_nodewalk_begin(void)
{
    struct vfs_engine *e = vfs_opened();
    return e && e->node ? nodemeta_stamp(e->node) : (struct nodemeta_stamp){ 0 };
}

void vfs_nodewalk_put(uint64_t parent, const char *name, size_t nlen, const struct meta_attr *a,
                      struct nodemeta_stamp st)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node || st.wall == 0 || nlen > META_NAME_MAX)
        return;
    struct vfs_nodewalk_rec r;
    memset(&r, 0, sizeof r);
    r.parent = parent;
    r.wall = st.wall;
    r.nlen = (uint32_t)nlen;
    memcpy(r.name, name, nlen);
    r.a = *a;
    char key[24];
    vfs_nodewalk_key(parent, name, nlen, key, sizeof key);
    (void)nodemeta_save_blob(e->node, key, st, &r, sizeof r); /* only a hint is lost */
}

int vfs_nodewalk_get(uint64_t parent, const char *name, size_t nlen, struct meta_attr *a)
{
    struct vfs_engine *e = vfs_opened();
    if (!e || !e->node || nlen > META_NAME_MAX)
        return MC_MISS;
    int64_t max_age = vfs_node_max_age();
    char key[24];
    struct vfs_nodewalk_rec r;
    vfs_nodewalk_key(parent, name, nlen, key, sizeof key);
    if (nodemeta_load_dir_blob(e->node, key, parent, max_age, &r, sizeof r) < 0 || r.parent != parent ||
        r.nlen != nlen || memcmp(r.name, name, nlen) != 0 || r.a.ino == 0)
        return MC_MISS;
    /* the TTL counts from the question, not from now */
    int64_t age;
    if (__builtin_sub_overflow(nodemeta_now(), r.wall, &age) || age < 0)
        age = 0;
    mcache_put_entry_at(parent, name, nlen, &r.a, vfs_now_ns() - age);
    *a = r.a;
    return 0;
}

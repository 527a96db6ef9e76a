/* shim_reg.h - small registries of the shim's own objects handed to
 * programs as foreign types: directory streams (DIR *) and stdio streams
 * (FILE *). A pointer is recognised by looking it up here, never by
 * reading a magic number through a pointer that may not be ours.
 *
 * Lookups in an empty registry cost one atomic load (the common case for
 * programs that never open a volume directory or stream).
 */
#ifndef SHIM_REG_H
#define SHIM_REG_H

#include <pthread.h>

#define SHIM_REG_BUCKETS 256

struct shim_reg_node;

struct shim_reg {
    pthread_mutex_t lock;
    int count;                 /* atomic */
    struct shim_reg_node *buckets[SHIM_REG_BUCKETS];
};

extern struct shim_reg shim_dir_reg;   /* DIR * -> struct shim_dirstream * */
extern struct shim_reg shim_file_reg;  /* FILE * -> struct shim_stream * */

static inline int shim_reg_empty(struct shim_reg *r)
{
    return __atomic_load_n(&r->count, __ATOMIC_ACQUIRE) == 0;
}

/* 0 or -ENOMEM. */
int shim_reg_put(struct shim_reg *r, const void *key, void *val);
void *shim_reg_get(struct shim_reg *r, const void *key);
/* Remove and return the value (NULL if absent). */
void *shim_reg_take(struct shim_reg *r, const void *key);
/* Fork child: reset the locks. */
void shim_reg_after_fork(void);

#endif

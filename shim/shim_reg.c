/* shim_reg.c - pointer registries (see shim_reg.h): a fixed hash of
 * chained nodes under one mutex; the empty case is lock-free.
 */
#include "shim.h"

#include <stdint.h>
#include <stdlib.h>

#include "shim_reg.h"

struct shim_reg_node {
    const void *key;
    void *val;
    struct shim_reg_node *next;
};

struct shim_reg shim_dir_reg = { .lock = PTHREAD_MUTEX_INITIALIZER };
struct shim_reg shim_file_reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned shim_reg_hash(const void *key)
{
    uintptr_t k = (uintptr_t)key;
    k ^= k >> 17;
    k *= 0x9E3779B97F4A7C15ull;
    return (unsigned)(k >> 56) % SHIM_REG_BUCKETS;
}

int shim_reg_put(struct shim_reg *r, const void *key, void *val)
{
    struct shim_reg_node *n = malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    n->key = key;
    n->val = val;
    unsigned h = shim_reg_hash(key);
    pthread_mutex_lock(&r->lock);
    n->next = r->buckets[h];
    r->buckets[h] = n;
    __atomic_add_fetch(&r->count, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

void *shim_reg_get(struct shim_reg *r, const void *key)
{
    if (shim_reg_empty(r))
        return NULL;
    void *val = NULL;
    pthread_mutex_lock(&r->lock);
    for (struct shim_reg_node *n = r->buckets[shim_reg_hash(key)]; n; n = n->next)
        if (n->key == key) {
            val = n->val;
            break;
        }
    pthread_mutex_unlock(&r->lock);
    return val;
}

void *shim_reg_take(struct shim_reg *r, const void *key)
{
    if (shim_reg_empty(r))
        return NULL;
    struct shim_reg_node *found = NULL;
    pthread_mutex_lock(&r->lock);
    for (struct shim_reg_node **p = &r->buckets[shim_reg_hash(key)]; *p; p = &(*p)->next)
        if ((*p)->key == key) {
            found = *p;
            *p = found->next;
            __atomic_sub_fetch(&r->count, 1, __ATOMIC_RELEASE);
            break;
        }
    pthread_mutex_unlock(&r->lock);
    void *val = found ? found->val : NULL;
    free(found);
    return val;
}

void shim_reg_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_dir_reg.lock = fresh;
    shim_file_reg.lock = fresh;
}

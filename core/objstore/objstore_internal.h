/* objstore_internal.h - private header of the object-store module
 * (core/objstore/ and its backends); nothing outside it includes this,
 * except the module's own tests and tools.
 *
 * Owns: the store handle shared by the backends and the backend table
 * (struct obj_backend: the file backend's, and S3's, the one symbol
 * libshimfs-s3.so exports). Same conventions as objstore.h: 0 or a
 * negative errno.
 */
#ifndef SHIMFS_OBJSTORE_INTERNAL_H
#define SHIMFS_OBJSTORE_INTERNAL_H

#include "objstore.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the store and its backends (objstore.c dispatches) ---------------- */

/* The table of a backend; S3's is the one symbol libshimfs-s3.so exports
 * (backend_lazy.h). `size` is sizeof(struct obj_backend).
 * A backend sees only what objstore.c let through (and asserts it): a
 * store, a key that passed obj_check_key, a non-NULL prefix and callback,
 * buffers that match their lengths, and ops of enum obj_op. */
struct obj_backend {
    size_t size;
    int (*open)(struct obj_store *st);
    void (*close)(struct obj_store *st);
    void (*after_fork)(struct obj_store *st);
    ssize_t (*get)(struct obj_store *st, const char *key, uint64_t off,
                   size_t len, void *buf, size_t cap);
    int (*put)(struct obj_store *st, const char *key, const void *data, size_t len);
    int (*head)(struct obj_store *st, const char *key, uint64_t *size);
    int (*del)(struct obj_store *st, const char *key);
    int (*list)(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg);
    /* Runs every request whose result is 0 on entry (the others were
     * refused by obj_batch) and sets its result. */
    void (*batch)(struct obj_store *st, struct obj_request *reqs, int n);
};

struct obj_store {
    const struct obj_backend *be; /* atomic; S3: NULL until the first request */
    struct obj_url url;
    struct obj_options opt;
    char desc[600];
    void *priv;                 /* the backend's own state */
};

extern const struct obj_backend obj_file_backend;
extern const struct obj_backend s3_backend;

/* The store's backend, opened with it if this is the store's first
 * request (S3); NULL with *rc (-EIO: the backend cannot be loaded) when it
 * cannot be. */
const struct obj_backend *obj_backend_of(struct obj_store *st, int *rc);

/* Run fn(arg, i) for every i in [0, n) on at most nthreads threads (fewer
 * if threads cannot be made; the caller's thread always takes part).
 * fn is non-NULL and n >= 0 (asserted). */
void obj_pool_run(int n, int nthreads, void (*fn)(void *arg, int i), void *arg);

/* "scheme://host/bucket" or "file:///dir": never credentials. */
void obj_url_describe(const struct obj_url *u, char *out, size_t cap);

/* Validate arguments shared by both backends. */
int obj_check_key(const char *key);

#endif

/* volume.h - an opened volume: everything one process needs to reach it.
 *
 * volume_open connects to the metadata database (lazily inside meta), loads
 * the volume's settings (block size, compression, bucket, uuid), opens the
 * object store named by the settings and the node cache. The CLI and the
 * vfs (the shim's engine) both stand on it.
 */
#ifndef SHIMFS_VOLUME_H
#define SHIMFS_VOLUME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "meta.h"

struct obj_store;
struct nodeconn;
struct cache;

struct volume {
    struct shimfs_config cfg;
    struct meta *meta;
    struct meta_settings settings;
    struct obj_store *store;
    struct cache *cache;     /* NULL when the cache is disabled or unusable */
    uint64_t dev;            /* st_dev reported for volume files */
    struct nodemeta *node;   /* metadata shared on this node; NULL without a cache */
    struct nodemeta *marks;  /* where commits are marked: node, or volume_keep_marks's */
    struct nodeconn *conns;  /* the node's connection slots (SHIMFS_NODE_CONNS); NULL: unbounded */
    void (*committed)(uint64_t before);     /* volume_set_committed */
};

/* In a fork child: the parent's connection slots are not the child's
 * (before meta_after_fork). */
void volume_after_fork(struct volume *v);

/* What a user of an open volume reaches, without depending on the layout
 * above (the vfs's engine copies it once). Valid until volume_close. */
struct volume_parts {
    struct meta *meta;
    struct obj_store *store;
    struct cache *cache;
    struct nodemeta *node;
    const struct shimfs_config *cfg;        /* cache_dir "" when not trusted */
    const struct meta_settings *settings;
    uint64_t dev;
};

/* Open the volume described by cfg (meta from cfg->meta). Errors: those of
 * meta_load_settings and obj_open, each logged once with what and why. */
int volume_open(const struct shimfs_config *cfg, struct volume **out);
/* Before a process that has not opened its volume gives up root: open the
 * node's shared page now, while it may, so that its commits as the new
 * user still reach the node's other processes (they invalidate their
 * cached answers from it). The volume it opens later uses it for that
 * alone, when the cache folder is no longer this user's. 0 or -errno. */
int volume_keep_marks(const struct shimfs_config *cfg);
void volume_close(struct volume *v);
void volume_get_parts(struct volume *v, struct volume_parts *out);
/* fn is called after each of this process's commits with the node
 * generation before its bump (the vfs keeps its caches, which it updated
 * itself). */
void volume_set_committed(struct volume *v, void (*fn)(uint64_t before));

/* Object key of a block of this volume. Returns the length. */
int volume_block_key(const struct volume *v, uint64_t id, uint32_t index,
                     uint32_t len, char *buf, size_t cap);

/* GET one whole block from the store and decode it into raw (blen bytes),
 * verified. A corrupt object is fetched once more, then -EIO with a log
 * line; a missing one is -EIO with a log line naming the key (a block a
 * map names is never "no such file", nor a hole). No cache involved:
 * readers go through fetch_block (fetch.h). */
int volume_fetch_block(struct volume *v, const char *key, uint32_t blen, void *raw);
/* The same with no copy of the bytes: the object is received into buf
 * (cap >= codec_bound(blen)) and decoded there: *raw is always
 * buf + CODEC_HEADER_SIZE (a block stored uncompressed is used where it
 * landed), so a caller can place the bytes on an aligned address. *sum: the raw
 * bytes' XXH3-64, verified, which is also the cache's checksum. */
int volume_fetch_into(struct volume *v, const char *key, uint32_t blen, void *buf, size_t cap,
                      const void **raw, uint64_t *sum);
/* 1 if key names a block of an inline slice (layout.h's
 * LAYOUT_INLINE_BIT), whose frame lives in the metadata database:
 * volume_fetch_block and volume_fetch_into read those from there, never
 * from the bucket. *id (may be NULL): the slice id. */
int volume_key_inline(const char *key, uint64_t *id);
/* The frame (codec.h) of inline slice id's one block of len bytes
 * (<= LAYOUT_MIN_BLOCK), malloc'd into *frame, for meta_write_inline; the
 * raw bytes are offered to the node cache so the writer's node reads them
 * back locally. 0 or -errno. */
int volume_encode_inline(struct volume *v, uint64_t id, const void *data, uint32_t len,
                         void **frame, uint32_t *flen);
/* Encode (codec) and upload one block of a slice; also offers it to the
 * cache so a writer's node reads it back locally. */
int volume_write_block(struct volume *v, uint64_t id, uint32_t index,
                       const void *data, uint32_t len);
/* Upload all blocks of one slice held in memory, in parallel. */
int volume_write_slice(struct volume *v, uint64_t id, const void *data, uint32_t len);

#endif

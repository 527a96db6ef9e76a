/* config.h - every setting a shimfs process reads, in one place.
 *
 * Read from the environment once (config_load); each value has a default so
 * an unset variable never breaks a program. Bad values are logged once and
 * replaced by the default. Names, kinds, defaults, bounds and docs are the
 * table core/settings.def; docs/configuration.md's reference is made from it.
 */
#ifndef SHIMFS_CONFIG_H
#define SHIMFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "settings.h"

/* Size of every text field below. */
#define CONFIG_TEXT_MAX 4096

enum { CONFIG_VERIFY_ENTRY = 0, CONFIG_VERIFY_FIRST_USE = 1, CONFIG_VERIFY_ALWAYS = 2 };

struct shimfs_config {
    char meta[CONFIG_TEXT_MAX];          /* SHIMFS_META (libpq URL/conninfo); "" = PG* vars */
    char prefix[CONFIG_TEXT_MAX];        /* SHIMFS_PREFIX, normalised, no trailing '/' */
    size_t prefix_len;
    char cache_dir[CONFIG_TEXT_MAX];     /* SHIMFS_CACHE_DIR, default /var/tmp/shimfs-<euid> (trust.h) */
    uint64_t cache_size;      /* SHIMFS_CACHE_SIZE, default 100G */
    double free_space_ratio;  /* SHIMFS_FREE_SPACE_RATIO, default 0.1 */
    int cache_verify;         /* SHIMFS_CACHE_VERIFY: entry (0), first-use (1, default), always (2) */
    uint64_t buffer_size;     /* SHIMFS_BUFFER_SIZE, default 300M: memory for blocks in flight */
    int prefetch;             /* SHIMFS_PREFETCH blocks, default 32 */
    uint64_t stream_page_cache; /* SHIMFS_STREAM_PAGE_CACHE, default 64M: read-ahead of a
                                   sequential reader past this offset is cached around the
                                   page cache */
    uint64_t warmup_memory;   /* SHIMFS_WARMUP_MEMORY, default 0: measured */
    double warmup_memory_share; /* SHIMFS_WARMUP_MEMORY_SHARE, default 0.5 */
    int64_t attr_ttl_ns;      /* SHIMFS_ATTR_TTL (seconds, float), default 1 */
    int64_t entry_ttl_ns;     /* SHIMFS_ENTRY_TTL, default 1 */
    int64_t negative_ttl_ns;  /* SHIMFS_NEGATIVE_TTL, default 1 */
    int read_only;            /* SHIMFS_READ_ONLY=1: a read-only dataset, caches never expire */
    int node_meta;            /* SHIMFS_NODE_META=0: no metadata shared between the node's processes */
    int writeback;            /* SHIMFS_WRITEBACK=1 */
    int sync_close;           /* SHIMFS_SYNC_CLOSE=1: close waits for the WAL flush */
    int uring;                /* SHIMFS_IO_URING=0 disables io_uring */
    int threads;              /* SHIMFS_THREADS: parallel transfers, default 16 */
    char agent[CONFIG_TEXT_MAX];         /* SHIMFS_AGENT: the shimfs binary for the node agent; "" = look
                                 beside the library; "0" = no agent */
    int64_t agent_poll_ns;    /* SHIMFS_AGENT_POLL (seconds), default 0.2 */
    char fifo_dir[CONFIG_TEXT_MAX];      /* SHIMFS_FIFO_DIR: the node's pipes behind volume FIFOs */
    char metrics_addr[CONFIG_TEXT_MAX]; /* SHIMFS_METRICS_ADDR: the agent's /metrics; "" = none */
    int64_t agent_idle_ns;    /* SHIMFS_AGENT_IDLE (seconds), default 300 */
    int agent_ask;            /* SHIMFS_AGENT_ASK=0: processes never ask the node agent */
    int node_conns;           /* SHIMFS_NODE_CONNS, default 8: connections of the node (0: no bound) */
    int64_t session_timeout_ns; /* SHIMFS_SESSION_TIMEOUT (seconds), default 60: a writer
                                   silent this long is dead (heartbeat every third of it) */
    int compact_slices;       /* SHIMFS_COMPACT_SLICES, default 32: compact a chunk with more
                                 slices than this (0: never) */
    uint64_t inline_max;      /* SHIMFS_INLINE_MAX, default 16K (at most 64K): files up to this
                                 size keep their bytes in PostgreSQL (0: never) */
    int meta_timeout_ms;      /* SHIMFS_META_TIMEOUT (seconds), default 30: bound of one
                                 metadata call, reconnects and retries included */
    int s3_payload;           /* SHIMFS_S3_PAYLOAD: url (0), signed (1), unsigned (2): objstore.h's
                                 OBJ_PAYLOAD_* */
    int s3_timeout_ms;        /* SHIMFS_S3_TIMEOUT (seconds), default 60: bound of one
                                 object request, retries and backoff included */
};

/* Fill *c from the environment (getenv only: safe early in a process;
 * secure_getenv for the variables that name files or programs). */
void config_load(struct shimfs_config *c);
/* The table (settings.def, the ELSEWHERE entries included): *n entries. */
const struct setting *config_settings(size_t *n);
/* Parse v as setting s into its field f (CONFIG_TEXT_MAX bytes for text
 * kinds). 0; -EINVAL on a bad value (f may then be partly written: the
 * caller writes the default); -ERANGE when a SECONDS value was clamped to
 * its bounds (f holds the bound). */
int config_parse(const struct setting *s, const char *v, void *f);
/* Parse seconds ("1", "0.5", "0") into ns; -EINVAL on junk. */
int config_parse_seconds(const char *s, int64_t *ns);
/* Normalise an absolute prefix: collapse "//", drop "." and trailing "/".
 * Returns 0 or -EINVAL (relative, "..", empty, too long). */
int config_normalize_prefix(const char *in, char *out, size_t cap);

#endif

/* cli_stats_prom.c - the node's counters in the Prometheus text exposition
 * format (version 0.0.4), for `shimfs stats --format prometheus`.
 *
 * Promises: every sample is node-wide (the cache directory's shared page,
 * which every process of the node adds to; nothing of the printing process
 * alone), has its own HELP and TYPE lines, a name starting `shimfs_`, the
 * unit in the name (`_bytes`, `_seconds`) and `_total` on counters. No
 * label carries a path, a URL or a credential, so the text can be handed
 * to any collector. Counters restart from zero only when the cache
 * directory is made anew (Prometheus' rate() handles that as a reset).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "vfs.h"

enum cli_prom_type { CLI_PROM_COUNTER, CLI_PROM_GAUGE };

static const struct {
    const char *name;
    enum cli_prom_type type;
    size_t off;              /* a uint64_t in struct vfs_stats */
    const char *help;
} cli_prom_metrics[] = {
    { "shimfs_cache_hits_total", CLI_PROM_COUNTER, offsetof(struct vfs_stats, cache_hits),
      "Block reads answered by the node cache." },
    { "shimfs_cache_misses_total", CLI_PROM_COUNTER, offsetof(struct vfs_stats, cache_misses),
      "Block reads the node cache could not answer." },
    { "shimfs_cache_hit_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_bytes_hit), "Bytes served from the node cache." },
    { "shimfs_cache_puts_total", CLI_PROM_COUNTER, offsetof(struct vfs_stats, cache_puts),
      "Blocks stored in the node cache." },
    { "shimfs_cache_put_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_bytes_put), "Bytes stored in the node cache." },
    { "shimfs_cache_dropped_puts_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_dropped),
      "Blocks not stored in the node cache: queue full or no room." },
    { "shimfs_cache_put_errors_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_put_errors),
      "Blocks the node cache failed to store (disk full, read-only...)." },
    { "shimfs_cache_evictions_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_evictions), "Blocks evicted from the node cache." },
    { "shimfs_cache_corrupt_blocks_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, cache_corrupt),
      "Cached blocks dropped because their checksum did not match." },
    { "shimfs_cache_used_bytes", CLI_PROM_GAUGE, offsetof(struct vfs_stats, cache_used),
      "Bytes the node cache holds." },
    { "shimfs_cache_limit_bytes", CLI_PROM_GAUGE, offsetof(struct vfs_stats, cache_limit),
      "The node cache's size limit in bytes (SHIMFS_CACHE_MAX_BYTES)." },
    { "shimfs_cache_files", CLI_PROM_GAUGE, offsetof(struct vfs_stats, cache_files),
      "Files in the node cache." },
    { "shimfs_object_gets_total", CLI_PROM_COUNTER, offsetof(struct vfs_stats, node_gets),
      "Block GETs from the object store by the node's processes." },
    { "shimfs_object_get_errors_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, node_get_errors),
      "Block GETs from the object store that failed (after retries)." },
    { "shimfs_object_get_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct vfs_stats, node_get_bytes),
      "Bytes of blocks fetched from the object store (as stored, compressed)." },
};

static void cli_prom_head(FILE *out, const char *name, enum cli_prom_type type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
            type == CLI_PROM_COUNTER ? "counter" : "gauge");
}

int cli_stats_prom(const struct vfs_stats *s, FILE *out)
{
    cli_prom_head(out, "shimfs_cache_enabled", CLI_PROM_GAUGE,
                  "1 when the node cache is in use (SHIMFS_CACHE_DIR usable), else 0.");
    fprintf(out, "shimfs_cache_enabled %d\n", s->cache_on ? 1 : 0);
    for (size_t i = 0; i < sizeof cli_prom_metrics / sizeof cli_prom_metrics[0]; i++) {
        cli_prom_head(out, cli_prom_metrics[i].name, cli_prom_metrics[i].type,
                      cli_prom_metrics[i].help);
        fprintf(out, "%s %llu\n", cli_prom_metrics[i].name,
                (unsigned long long)*(const uint64_t *)((const char *)s + cli_prom_metrics[i].off));
    }
    /* seconds, not nanoseconds: Prometheus' base unit */
    cli_prom_head(out, "shimfs_object_get_seconds_total", CLI_PROM_COUNTER,
                  "Time spent in block GETs from the object store (sum over GETs).");
    fprintf(out, "shimfs_object_get_seconds_total %.9f\n", (double)s->node_get_ns_total / 1e9);
    return ferror(out) ? -EIO : 0;
}

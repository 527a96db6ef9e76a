/* cli_stats_prom.c - the node's counters in the Prometheus text exposition
 * format (version 0.0.4), for `shimfs stats --format prometheus`.
 *
 * Promises: every sample is node-wide, read from the cache folder's shared
 * page (which every process of the node adds to), so it needs neither the
 * database, the agent nor the network: metrics keep coming when PostgreSQL
 * or S3 are down, which is when they are wanted. Each has its own HELP and
 * TYPE lines, a name starting `shimfs_`, the
 * unit in the name (`_bytes`, `_seconds`) and `_total` on counters. No
 * label carries a path, a URL or a credential, so the text can be handed
 * to any collector. Counters restart from zero only when the cache
 * directory is made anew (Prometheus' rate() handles that as a reset).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "config.h"
#include "trust.h"

enum cli_prom_type { CLI_PROM_COUNTER, CLI_PROM_GAUGE };

static const struct {
    const char *name;
    enum cli_prom_type type;
    size_t off;              /* a uint64_t in struct cache_stats */
    const char *help;
} cli_prom_metrics[] = {
    { "shimfs_cache_hits_total", CLI_PROM_COUNTER, offsetof(struct cache_stats, hits),
      "Block reads answered by the node cache." },
    { "shimfs_cache_misses_total", CLI_PROM_COUNTER, offsetof(struct cache_stats, misses),
      "Block reads the node cache could not answer." },
    { "shimfs_cache_hit_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, bytes_hit), "Bytes served from the node cache." },
    { "shimfs_cache_puts_total", CLI_PROM_COUNTER, offsetof(struct cache_stats, puts),
      "Blocks stored in the node cache." },
    { "shimfs_cache_put_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, bytes_put), "Bytes stored in the node cache." },
    { "shimfs_cache_dropped_puts_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, dropped),
      "Blocks not stored in the node cache: queue full or no room." },
    { "shimfs_cache_put_errors_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, put_errors),
      "Blocks the node cache failed to store (disk full, read-only...)." },
    { "shimfs_cache_evictions_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, evictions), "Blocks evicted from the node cache." },
    { "shimfs_cache_corrupt_blocks_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, corrupt),
      "Cached blocks dropped because their checksum did not match." },
    { "shimfs_cache_used_bytes", CLI_PROM_GAUGE, offsetof(struct cache_stats, used_bytes),
      "Bytes the node cache holds." },
    { "shimfs_cache_limit_bytes", CLI_PROM_GAUGE, offsetof(struct cache_stats, limit_bytes),
      "The node cache's size limit in bytes (SHIMFS_CACHE_MAX_BYTES)." },
    { "shimfs_cache_files", CLI_PROM_GAUGE, offsetof(struct cache_stats, files),
      "Files in the node cache." },
    { "shimfs_object_gets_total", CLI_PROM_COUNTER, offsetof(struct cache_stats, gets),
      "Block GETs from the object store by the node's processes." },
    { "shimfs_object_get_errors_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, get_errors),
      "Block GETs from the object store that failed (after retries)." },
    { "shimfs_object_get_bytes_total", CLI_PROM_COUNTER,
      offsetof(struct cache_stats, get_bytes),
      "Bytes of blocks fetched from the object store (as stored, compressed)." },
};

static void cli_prom_head(FILE *out, const char *name, enum cli_prom_type type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
            type == CLI_PROM_COUNTER ? "counter" : "gauge");
}

int cli_stats_node(const struct shimfs_config *cfg, struct cache_stats *cs)
{
    char dir[sizeof cfg->cache_dir];
    struct cache *c;
    struct cache_config cc = { .dir = dir, .size_limit = cfg->cache_size };

    memset(cs, 0, sizeof *cs);
    if (!cfg->cache_dir[0] || cfg->cache_size == 0)
        return 0;
    /* the volume's own rule (volume.c): a folder another user could have
     * written is not used, so its page is not believed either */
    memcpy(dir, cfg->cache_dir, sizeof dir);
    int fd = trust_dir_open(dir, sizeof dir);
    if (fd < 0)
        return 0;
    close(fd);
    if (cache_open(&cc, &c) < 0)
        return 0;
    int rc = cache_get_node_stats(c, cs);
    cache_close(c);
    return rc == 0;
}

int cli_stats_prom(const struct cache_stats *s, int cache_on, FILE *out)
{
    cli_prom_head(out, "shimfs_cache_enabled", CLI_PROM_GAUGE,
                  "1 when the node cache is in use (SHIMFS_CACHE_DIR usable), else 0.");
    fprintf(out, "shimfs_cache_enabled %d\n", cache_on ? 1 : 0);
    for (size_t i = 0; i < sizeof cli_prom_metrics / sizeof cli_prom_metrics[0]; i++) {
        cli_prom_head(out, cli_prom_metrics[i].name, cli_prom_metrics[i].type,
                      cli_prom_metrics[i].help);
        fprintf(out, "%s %llu\n", cli_prom_metrics[i].name,
                (unsigned long long)*(const uint64_t *)((const char *)s + cli_prom_metrics[i].off));
    }
    /* seconds, not nanoseconds: Prometheus' base unit */
    cli_prom_head(out, "shimfs_object_get_seconds_total", CLI_PROM_COUNTER,
                  "Time spent in block GETs from the object store (sum over GETs).");
    fprintf(out, "shimfs_object_get_seconds_total %.9f\n", (double)s->get_ns / 1e9);
    return ferror(out) ? -EIO : 0;
}

/* metrics.c - the node's counters in the Prometheus text exposition
 * format (version 0.0.4), for `shimfs stats --format prometheus` and the
 * node agent's /metrics (core/agent/agent_http.c).
 *
 * Promises: every sample is node-wide, read from the cache folder's shared
 * page (which every process of the node adds to), so it needs neither the
 * database, the agent nor the network: metrics keep coming when PostgreSQL
 * or S3 are down, which is when they are wanted. Each has its own HELP and
 * TYPE lines, a name starting `shimfs_`, the unit in the name (`_bytes`,
 * `_seconds`) and `_total` on counters (and only on them). No
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
#include "config.h"
#include "metrics.h"
#include "trust.h"

static const struct {
    const char *name;
    enum metrics_type type;
    size_t off; /* a uint64_t in struct cache_stats */
    const char *help;
} metrics_metrics[] = {
    { "shimfs_cache_hits_total", METRICS_COUNTER, offsetof(struct cache_stats, hits),
      "Block reads answered by the node cache." },
    { "shimfs_cache_misses_total", METRICS_COUNTER, offsetof(struct cache_stats, misses),
      "Block reads the node cache could not answer." },
    { "shimfs_cache_hit_bytes_total", METRICS_COUNTER, offsetof(struct cache_stats, bytes_hit),
      "Bytes served from the node cache." },
    { "shimfs_cache_puts_total", METRICS_COUNTER, offsetof(struct cache_stats, puts),
      "Blocks stored in the node cache." },
    { "shimfs_cache_put_bytes_total", METRICS_COUNTER, offsetof(struct cache_stats, bytes_put),
      "Bytes stored in the node cache." },
    { "shimfs_cache_dropped_puts_total", METRICS_COUNTER, offsetof(struct cache_stats, dropped),
      "Blocks not stored in the node cache: queue full or no room." },
    { "shimfs_cache_put_errors_total", METRICS_COUNTER, offsetof(struct cache_stats, put_errors),
      "Blocks the node cache failed to store (disk full, read-only...)." },
    { "shimfs_cache_evictions_total", METRICS_COUNTER, offsetof(struct cache_stats, evictions),
      "Blocks evicted from the node cache." },
    { "shimfs_cache_corrupt_blocks_total", METRICS_COUNTER, offsetof(struct cache_stats, corrupt),
      "Cached blocks dropped because their checksum did not match." },
    { "shimfs_cache_used_bytes", METRICS_GAUGE, offsetof(struct cache_stats, used_bytes),
      "Bytes the node cache holds." },
    { "shimfs_cache_limit_bytes", METRICS_GAUGE, offsetof(struct cache_stats, limit_bytes),
      "The node cache's size limit in bytes (SHIMFS_CACHE_MAX_BYTES)." },
    { "shimfs_cache_files", METRICS_GAUGE, offsetof(struct cache_stats, files),
      "Files in the node cache." },
    { "shimfs_object_gets_total", METRICS_COUNTER, offsetof(struct cache_stats, gets),
      "Block GETs from the object store by the node's processes." },
    { "shimfs_object_get_errors_total", METRICS_COUNTER, offsetof(struct cache_stats, get_errors),
      "Block GETs from the object store that failed (after retries)." },
    { "shimfs_object_get_bytes_total", METRICS_COUNTER, offsetof(struct cache_stats, get_bytes),
      "Bytes of blocks fetched from the object store (as stored, compressed)." },
    { "shimfs_object_puts_total", METRICS_COUNTER, offsetof(struct cache_stats, obj_puts),
      "Block PUTs to the object store by the node's processes." },
    { "shimfs_object_put_errors_total", METRICS_COUNTER, offsetof(struct cache_stats, obj_put_errors),
      "Block PUTs to the object store that failed (after retries)." },
    { "shimfs_object_put_bytes_total", METRICS_COUNTER, offsetof(struct cache_stats, obj_put_bytes),
      "Bytes of blocks sent to the object store (as stored, compressed)." },
    { "shimfs_meta_queries_total", METRICS_COUNTER, offsetof(struct cache_stats, queries),
      "Round trips to PostgreSQL by the node's processes (a pipelined batch is one)." },
    { "shimfs_meta_query_errors_total", METRICS_COUNTER, offsetof(struct cache_stats, query_errors),
      "Round trips to PostgreSQL that failed (unreachable, timeout, server error)." },
    { "shimfs_meta_commits_total", METRICS_COUNTER, offsetof(struct cache_stats, commits),
      "Transactions that changed the volume, committed by the node's processes." },
    { "shimfs_warmup_bytes_total", METRICS_COUNTER, offsetof(struct cache_stats, warm_bytes),
      "Bytes warmup brought into the node cache." },
    { "shimfs_warmup_blocks_total", METRICS_COUNTER, offsetof(struct cache_stats, warm_blocks),
      "Blocks warmup brought into the node cache." },
};

/* A histogram from per-bucket counts: cumulative buckets, +Inf, sum, count. */
static void metrics_histogram(FILE *out, const char *name, const char *help, const uint64_t *hist,
                              uint64_t count, uint64_t sum_ns)
{
    metrics_head(out, name, METRICS_HISTOGRAM, help);
    uint64_t cum = 0;
    for (int i = 0; i < CACHE_HIST_N; i++) {
        cum += hist[i];
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, cache_hist_bounds[i],
                (unsigned long long)cum);
    }
    /* an older process's page counted the total but not the buckets */
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
            (unsigned long long)(count > cum ? count : cum));
    fprintf(out, "%s_sum %.9f\n", name, (double)sum_ns / 1e9);
    fprintf(out, "%s_count %llu\n", name, (unsigned long long)(count > cum ? count : cum));
}

void metrics_head(FILE *out, const char *name, enum metrics_type type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
            type == METRICS_COUNTER ? "counter" : type == METRICS_GAUGE ? "gauge" : "histogram");
}

int metrics_node_read(const struct shimfs_config *cfg, struct cache_stats *cs)
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

int metrics_write(const struct cache_stats *s, int cache_on, FILE *out)
{
    metrics_head(out, "shimfs_cache_enabled", METRICS_GAUGE,
                 "1 when the node cache is in use (SHIMFS_CACHE_DIR usable), else 0.");
    fprintf(out, "shimfs_cache_enabled %d\n", cache_on ? 1 : 0);
    for (size_t i = 0; i < sizeof metrics_metrics / sizeof metrics_metrics[0]; i++) {
        metrics_head(out, metrics_metrics[i].name, metrics_metrics[i].type,
                     metrics_metrics[i].help);
        fprintf(out, "%s %llu\n", metrics_metrics[i].name,
                (unsigned long long)*(const uint64_t *)((const char *)s + metrics_metrics[i].off));
    }
    /* seconds, not nanoseconds: Prometheus' base unit */
    metrics_head(out, "shimfs_object_get_seconds_total", METRICS_COUNTER,
                 "Time spent in block GETs from the object store (sum over GETs).");
    fprintf(out, "shimfs_object_get_seconds_total %.9f\n", (double)s->get_ns / 1e9);
    metrics_histogram(out, "shimfs_object_get_seconds",
                      "Latency of block GETs from the object store (each GET, retries included).",
                      s->get_hist, s->gets, s->get_ns);
    metrics_histogram(out, "shimfs_object_put_seconds",
                      "Latency of uploads to the object store (one call: a slice's blocks PUT in "
                      "parallel, retries included).",
                      s->put_hist, 0, s->obj_put_ns);
    metrics_histogram(out, "shimfs_meta_query_seconds",
                      "Latency of round trips to PostgreSQL (a pipelined batch is one).",
                      s->query_hist, s->queries, s->query_ns);
    return ferror(out) ? -EIO : 0;
}

int metrics_write_agent(int up, FILE *out)
{
    metrics_head(out, "shimfs_agent_up", METRICS_GAUGE,
                 "1 when a node agent serves the volume on this node (polled within 2 s), else 0.");
    fprintf(out, "shimfs_agent_up %d\n", up ? 1 : 0);
    return ferror(out) ? -EIO : 0;
}

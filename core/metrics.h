/* metrics.h - the node's counters as Prometheus text (core/metrics.c),
 * shared by `shimfs stats --format prometheus` and the node agent's
 * /metrics endpoint, so both print the same names. */
#ifndef SHIMFS_METRICS_H
#define SHIMFS_METRICS_H

#include <stdio.h>

struct cache_stats;
struct shimfs_config;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

/* The node's counters from the cache folder's shared page, without the
 * database: 1, or 0 with zeros when the cache is off or unusable. */
int metrics_node_read(const struct shimfs_config *cfg, struct cache_stats *cs);

/* Them in the text format: 0, or -EIO when out failed. */
int metrics_write(const struct cache_stats *cs, int cache_on, FILE *out);

/* shimfs_agent_up: 1 when a node agent serves the volume on this node. */
int metrics_write_agent(int up, FILE *out);

/* One metric's HELP and TYPE lines (for callers adding their own). */
void metrics_head(FILE *out, const char *name, enum metrics_type type, const char *help);

#endif

/* cli_stats.c - `shimfs stats [--json]`: the node cache's counters.
 *
 * Promises: prints the counters every process on this node has added to
 * the cache directory's shared page since it was made (hits, misses, bytes
 * served from the cache, used bytes against the limit, files, evictions,
 * corrupt blocks dropped), then this process's own GET count and mean GET
 * latency (zero unless the command itself fetched). --json prints the same
 * figures as one JSON object with raw numbers. Nothing printed holds a
 * credential.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "layout.h"
#include "vfs.h"

static const char cli_stats_usage[] =
    "usage: shimfs stats [--json] [--meta URL]\n"
    "\n"
    "Show this node's cache counters (every process sharing SHIMFS_CACHE_DIR,\n"
    "since the directory was made) and this process's GETs.\n"
    "\n"
    "  --json      one JSON object with raw numbers instead of the table\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

static double cli_stats_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static double cli_stats_mean_ms(const struct vfs_stats *s)
{
    return s->gets ? (double)s->get_ns_total / (double)s->gets / 1e6 : 0.0;
}

static void cli_stats_table(const struct vfs_stats *s, const char *dir)
{
    char used[32], limit[32], hit[32], got[32];
    unsigned long long lookups = s->cache_hits + s->cache_misses;

    printf("node cache:   %s%s\n", dir, s->cache_on ? "" : " (off)");
    printf("  used:       %s of %s (%.1f%%) in %llu files\n",
           layout_format_size(s->cache_used, used, sizeof used),
           layout_format_size(s->cache_limit, limit, sizeof limit),
           cli_stats_pct(s->cache_used, s->cache_limit), (unsigned long long)s->cache_files);
    printf("  hits:       %llu (%.1f%% of %llu reads), %s served from the cache\n",
           (unsigned long long)s->cache_hits, cli_stats_pct(s->cache_hits, lookups), lookups,
           layout_format_size(s->cache_bytes_hit, hit, sizeof hit));
    printf("  misses:     %llu\n", (unsigned long long)s->cache_misses);
    printf("  evictions:  %llu\n", (unsigned long long)s->cache_evictions);
    printf("  corrupt:    %llu blocks dropped\n", (unsigned long long)s->cache_corrupt);
    printf("this process:\n");
    printf("  GETs:       %llu (%s), mean latency %.2f ms\n", (unsigned long long)s->gets,
           layout_format_size(s->get_bytes, got, sizeof got), cli_stats_mean_ms(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void cli_stats_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void cli_stats_json(const struct vfs_stats *s, const char *dir)
{
    static const struct { const char *name; size_t off; } fields[] = {
        { "hits", offsetof(struct vfs_stats, cache_hits) },
        { "misses", offsetof(struct vfs_stats, cache_misses) },
        { "bytes_hit", offsetof(struct vfs_stats, cache_bytes_hit) },
        { "used_bytes", offsetof(struct vfs_stats, cache_used) },
        { "limit_bytes", offsetof(struct vfs_stats, cache_limit) },
        { "files", offsetof(struct vfs_stats, cache_files) },
        { "evictions", offsetof(struct vfs_stats, cache_evictions) },
        { "corrupt", offsetof(struct vfs_stats, cache_corrupt) },
    };

    printf("{\"cache\": {\"enabled\": %s, \"dir\": ", s->cache_on ? "true" : "false");
    cli_stats_json_string(dir);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        printf(", \"%s\": %llu", fields[i].name,
               (unsigned long long)*(const uint64_t *)((const char *)s + fields[i].off));
    printf("}, \"process\": {\"gets\": %llu, \"get_bytes\": %llu, \"get_mean_ms\": %.3f, "
           "\"shared_waits\": %llu, \"prefetched\": %llu}}\n",
           (unsigned long long)s->gets, (unsigned long long)s->get_bytes, cli_stats_mean_ms(s),
           (unsigned long long)s->shared_waits, (unsigned long long)s->prefetched);
}

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    struct shimfs_config cfg;
    struct vfs_stats s;
    int c, code = CLI_OK, json = 0, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, "stats", cli_stats_usage, argv, &code);
        if (r < 0)
            return code;
        if (r == 0 && c == 'j')
            json = 1;
    }
    if (optind < argc)
        return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    if (cli_vfs_init("stats") != 0)
        return CLI_FAIL;
    rc = vfs_get_stats(&s);
    if (rc < 0)
        return cli_fail("stats", "counters", "%s", strerror(-rc));
    config_load(&cfg);
    if (json)
        cli_stats_json(&s, cfg.cache_dir);
    else
        cli_stats_table(&s, cfg.cache_dir);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stats", "standard output", "write failed");
}

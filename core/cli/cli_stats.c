/* cli_stats.c - `shimfs stats [--format table|json|prometheus]`: the node
 * cache's counters.
 *
 * Promises: prints the counters every process on this node has added to
 * the cache directory's shared page since it was made (hits, misses, bytes
 * served from the cache, used bytes against the limit, files, evictions,
 * corrupt blocks dropped), then this process's own GET count and mean GET
 * latency (zero unless the command itself fetched). --json prints the same
 * figures as one JSON object with raw numbers; --format prometheus the
 * node-wide counters in the Prometheus text format (core/metrics.c),
 * read from the cache folder alone (no database, no agent).
 * --output FILE writes the text to FILE atomically (a temporary file in
 * the same directory, renamed over FILE), so a reader such as
 * node-exporter's text-file collector sees the old or the new text,
 * never a part. Nothing printed holds a credential.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cache.h"
#include "cli.h"
#include "config.h"
#include "layout.h"
#include "metrics.h"
#include "nodemeta.h"
#include "vfs.h"

static const char cli_stats_usage[] =
    "usage: shimfs stats [--format table|json|prometheus] [--output FILE] [--meta URL]\n"
    "\n"
    "Show this node's cache counters (every process sharing SHIMFS_CACHE_DIR,\n"
    "since the directory was made) and this process's GETs.\n"
    "\n"
    "  --format F     table (default), json (one JSON object with raw numbers)\n"
    "                 or prometheus (the node's counters in the Prometheus text\n"
    "                 format, for node-exporter's text-file collector)\n"
    "  --json         the same as --format json\n"
    "  --output FILE  write to FILE atomically (temporary file, then rename)\n"
    "                 instead of standard output; FILE is made mode 0644\n"
    "  --meta URL     database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help     this help\n";

static double cli_stats_pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static double cli_stats_mean_ms(const struct vfs_stats *s)
{
    return s->gets ? (double)s->get_ns_total / (double)s->gets / 1e6 : 0.0;
}

static void cli_stats_table(const struct vfs_stats *s, const char *dir, FILE *out)
{
    char used[32], limit[32], hit[32], got[32];
    unsigned long long lookups = s->cache_hits + s->cache_misses;

    fprintf(out, "node cache:   %s%s\n", dir, s->cache_on ? "" : " (off)");
    fprintf(out, "  used:       %s of %s (%.1f%%) in %llu files\n",
            layout_format_size(s->cache_used, used, sizeof used),
            layout_format_size(s->cache_limit, limit, sizeof limit),
            cli_stats_pct(s->cache_used, s->cache_limit), (unsigned long long)s->cache_files);
    fprintf(out, "  hits:       %llu (%.1f%% of %llu reads), %s served from the cache\n",
            (unsigned long long)s->cache_hits, cli_stats_pct(s->cache_hits, lookups), lookups,
            layout_format_size(s->cache_bytes_hit, hit, sizeof hit));
    fprintf(out, "  misses:     %llu\n", (unsigned long long)s->cache_misses);
    fprintf(out, "  evictions:  %llu\n", (unsigned long long)s->cache_evictions);
    fprintf(out, "  corrupt:    %llu blocks dropped\n", (unsigned long long)s->cache_corrupt);
    fprintf(out, "this process:\n");
    fprintf(out, "  GETs:       %llu (%s), mean latency %.2f ms\n", (unsigned long long)s->gets,
            layout_format_size(s->get_bytes, got, sizeof got), cli_stats_mean_ms(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void cli_stats_json_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void cli_stats_json(const struct vfs_stats *s, const char *dir, FILE *out)
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

    fprintf(out, "{\"cache\": {\"enabled\": %s, \"dir\": ", s->cache_on ? "true" : "false");
    cli_stats_json_string(dir, out);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        fprintf(out, ", \"%s\": %llu", fields[i].name,
                (unsigned long long)*(const uint64_t *)((const char *)s + fields[i].off));
    fprintf(out,
            "}, \"process\": {\"gets\": %llu, \"get_bytes\": %llu, \"get_mean_ms\": %.3f, "
            "\"shared_waits\": %llu, \"prefetched\": %llu}}\n",
            (unsigned long long)s->gets, (unsigned long long)s->get_bytes, cli_stats_mean_ms(s),
            (unsigned long long)s->shared_waits, (unsigned long long)s->prefetched);
}

/* Whether an agent serves the volume here, from the node's shared page
 * (no database). Without a volume named there is none to ask about, and
 * nothing is made in the cache folder for it. */
static int cli_stats_agent_up(const struct shimfs_config *cfg)
{
    struct nodemeta *nm;
    if (!cfg->meta[0] || nodemeta_open(cfg->cache_dir, cfg->meta, &nm) < 0)
        return 0;
    int up = agent_alive(nm, nodemeta_now());
    nodemeta_close(nm);
    return up;
}

int cli_cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    enum { FMT_TABLE, FMT_JSON, FMT_PROM } fmt = FMT_TABLE;
    struct shimfs_config cfg;
    struct vfs_stats s;
    struct cache_stats cs;
    const char *output = NULL;
    int c, code = CLI_OK, rc, cache_on = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, "stats", cli_stats_usage, argv, &code);
        if (r < 0)
            return code;
        if (r != 0)
            continue;
        if (c == 'j')
            fmt = FMT_JSON;
        else if (c == 'o')
            output = optarg;
        else if (c == 'f' && strcmp(optarg, "table") == 0)
            fmt = FMT_TABLE;
        else if (c == 'f' && strcmp(optarg, "json") == 0)
            fmt = FMT_JSON;
        else if (c == 'f' && strcmp(optarg, "prometheus") == 0)
            fmt = FMT_PROM;
        else if (c == 'f')
            return cli_usage_error("stats", "unknown format '%s' (table, json, prometheus)",
                                   optarg);
    }
    if (optind < argc)
        return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    if (output && !*output)
        return cli_usage_error("stats", "--output needs a file name");
    config_load(&cfg);
    /* prometheus: the node's counters only, without the database */
    if (fmt == FMT_PROM) {
        cache_on = metrics_node_read(&cfg, &cs);
    } else {
        if (cli_vfs_init("stats") != 0)
            return CLI_FAIL;
        rc = vfs_get_stats(&s);
        if (rc < 0)
            return cli_fail("stats", "counters", "%s", strerror(-rc));
    }

    FILE *out = stdout;
    char tmp[4096];
    if (output) {
        /* same directory as FILE, so the rename is atomic */
        if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", output, (long)getpid()) >= (int)sizeof tmp)
            return cli_fail("stats", output, "name too long");
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            return cli_fail("stats", tmp, "%s", strerror(errno));
        out = fdopen(fd, "w");
        if (!out) {
            rc = errno;
            close(fd);
            unlink(tmp);
            return cli_fail("stats", tmp, "%s", strerror(rc));
        }
    }
    if (fmt == FMT_PROM) {
        (void)metrics_write(&cs, cache_on, out);
        (void)metrics_write_agent(cli_stats_agent_up(&cfg), out);
    } else if (fmt == FMT_JSON)
        cli_stats_json(&s, cfg.cache_dir, out);
    else
        cli_stats_table(&s, cfg.cache_dir, out);
    if (!output)
        return fflush(stdout) == 0 ? CLI_OK : cli_fail("stats", "standard output", "write failed");

    /* fchmod: the umask must not hide the file from a collector running
     * as another user (the counters hold no volume data) */
    int bad = fflush(out) != 0 || ferror(out) || fchmod(fileno(out), 0644) != 0 ||
              fsync(fileno(out)) != 0;
    rc = errno;
    if (fclose(out) != 0 && !bad) {
        bad = 1;
        rc = errno;
    }
    if (!bad && rename(tmp, output) != 0) {
        bad = 1;
        rc = errno;
    }
    if (bad) {
        unlink(tmp);
        return cli_fail("stats", output, "%s", strerror(rc ? rc : EIO));
    }
    return CLI_OK;
}

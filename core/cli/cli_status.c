/* cli_status.c - `shimfs status`: the volume's settings and usage.
 *
 * Promises: needs only the database (it works while the store is down);
 * prints name, uuid, bucket URL, block size, compression, schema
 * version and creation time from the stored settings, the counts and sizes
 * of meta_stats, and the database as meta_describe names it. Nothing
 * printed ever holds a credential (bucket URLs carry none; meta_describe
 * omits the password).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "layout.h"

static const char cli_status_usage[] =
    "usage: shimfs status [--meta URL]\n"
    "\n"
    "Show the volume's settings and what it holds.\n"
    "\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

static void cli_status_print(struct meta *m, const struct meta_settings *s,
                             const struct meta_stats *st)
{
    char bs[32], spec[32], when[96], bytes[32];

    printf("volume:       %s\n", s->name);
    printf("uuid:         %s\n", s->uuid);
    printf("bucket:       %s\n", s->bucket);
    printf("block size:   %s\n", cli_block_size(s->block_size, bs, sizeof bs));
    printf("compression:  %s\n", cli_codec_spec(s->compress_algo, s->compress_level,
                                                spec, sizeof spec));
    printf("schema:       %d\n", s->schema_version);
    printf("created:      %s\n", cli_format_time(s->created_ns, 0, when, sizeof when));
    printf("database:     %s\n", meta_describe(m));
    printf("inodes:       %llu (%llu files, %llu directories, %llu symlinks)\n",
           (unsigned long long)st->inodes, (unsigned long long)st->files,
           (unsigned long long)st->dirs, (unsigned long long)st->symlinks);
    printf("data:         %s (%llu bytes) in %llu slices\n",
           layout_format_size(st->bytes, bytes, sizeof bytes),
           (unsigned long long)st->bytes, (unsigned long long)st->slices);
    printf("sessions:     %llu\n", (unsigned long long)st->sessions);
}

int cli_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    struct meta_settings s;
    struct meta_stats st;
    struct meta *m;
    const char *url;
    int c, code = CLI_OK, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (cli_common_option(c, "status", cli_status_usage, argv, &code) < 0)
            return code;
    if (optind < argc)
        return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    url = getenv("SHIMFS_META");
    rc = meta_open(url ? url : "", &m);
    if (rc < 0)
        return cli_meta_fail("status", NULL, rc);
    /* The database alone: status must work while the store is down. */
    rc = meta_load_settings(m, &s);
    if (rc == 0)
        rc = meta_stats(m, &st);
    if (rc < 0)
        code = cli_meta_fail("status", meta_describe(m), rc);
    else
        cli_status_print(m, &s, &st);
    meta_close(m);
    return code;
}

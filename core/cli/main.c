/* main.c - the `shimfs` entry point: global options and the command table.
 *
 * Owns the dispatch: `shimfs [-v] CMD [ARGS]` runs the command named CMD
 * from the table below; `shimfs --help` lists them and every setting
 * (core/settings.def); `shimfs help CMD` is `shimfs CMD --help`. Every
 * command lives in its own cli_<name>.c and returns the process exit code.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command cli_commands[] = {
    { "format",  cli_cmd_format,  "create a volume: database schema, settings, bucket check" },
    { "import",  cli_cmd_import,  "copy a local directory tree into the volume" },
    { "ls",      cli_cmd_ls,      "list a volume directory" },
    { "stat",    cli_cmd_stat,    "show a volume file's attributes" },
    { "cat",     cli_cmd_cat,     "write volume files to standard output" },
    { "status",  cli_cmd_status,  "show the volume's settings and usage" },
    { "warmup",  cli_cmd_warmup,  "bring volume files into this node's cache before a job" },
    { "stats",   cli_cmd_stats,   "show this node's cache counters" },
    { "gc",      cli_cmd_gc,      "find (and with --delete remove) objects nothing references" },
    { "fsck",    cli_cmd_fsck,    "check metadata consistency and missing objects (--repair)" },
    { "flush",   cli_cmd_flush,   "commit writeback data left by processes that were killed" },
    { "inject",  cli_cmd_inject,  "add shimfs to the pod templates of Kubernetes YAML (stdin to stdout)" },
    { "agent",   cli_cmd_agent,   "serve this node as its metadata agent (started by the library)" },
    { "settings", cli_cmd_settings, "explain every setting (environment variable); --markdown for the docs" },
    { "version", cli_cmd_version, "show the version" },
    { "help",    NULL,            "this help; `help COMMAND` or `help settings` for more" },
};
#define CLI_NCOMMANDS (sizeof cli_commands / sizeof cli_commands[0])

static void cli_main_usage(FILE *out)
{
    fprintf(out,
            "usage: shimfs [-v] COMMAND [ARGS]\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        fprintf(out, "  %-8s  %s\n", cli_commands[i].name, cli_commands[i].summary);

    fprintf(out,
            "\n"
            "Options:\n"
            "  -v, --verbose  show the library's diagnostic log lines too\n"
            "  -h, --help     this help; `shimfs COMMAND --help` for a command\n"
            "  --version      the version\n"
            "\n"
            "The database comes from --meta (every command takes it), else\n"
            "SHIMFS_META, else libpq's PG* variables. S3 credentials come from\n"
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.\n"
            "\n"
            "Settings (environment variables; `shimfs help settings` explains each):\n");
    cli_settings_list(out);
}

static const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

/* `shimfs help [COMMAND]`: the usage, or the command's own --help. */
static int cli_help(int argc, char **argv)
{
    const struct cli_command *c = argc < 2 ? NULL : cli_find(argv[1]);
    if (argc >= 2 && !c) {
        fprintf(stderr, "shimfs: unknown command '%s' (see shimfs --help)\n", argv[1]);
        return CLI_USAGE;
    }
    if (!c || !c->run) {
        cli_main_usage(stdout);
        return CLI_OK;
    }
    if (c->run == cli_cmd_settings) /* the settings themselves, not the command's usage */
        return c->run(1, (char *[]){ argv[1], NULL });
    return c->run(2, (char *[]){ argv[1], "--help", NULL });
}

int main(int argc, char **argv)
{
    int verbose = 0, i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_main_usage(stdout);
            return CLI_OK;
        }
        if (!strcmp(a, "--version"))
            return cli_cmd_version(1, (char *[]){ "version", NULL });
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        fprintf(stderr, "shimfs: unknown option '%s' (see shimfs --help)\n", a);
        return CLI_USAGE;
    }
    if (i >= argc) {
        cli_main_usage(stderr);
        return CLI_USAGE;
    }
    const struct cli_command *c = cli_find(argv[i]);
    if (!c) {
        fprintf(stderr, "shimfs: unknown command '%s' (see shimfs --help)\n", argv[i]);
        return CLI_USAGE;
    }
    cli_log_setup(verbose);
    if (!c->run)
        return cli_help(argc - i, argv + i);
    return c->run(argc - i, argv + i);
}

/* cli_version.c - `shimfs version`: what this build is.
 *
 * Promises: one line with the shimfs version and the metadata schema
 * version this client writes (a database with a newer schema is refused).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char cli_version_usage[] =
    "usage: shimfs version\n"
    "\n"
    "Show the shimfs version and the metadata schema version it uses.\n";

int cli_cmd_version(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, code = CLI_OK;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (cli_common_option(c, "version", cli_version_usage, argv, &code) < 0)
            return code;
    if (optind < argc)
        return cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
    printf("shimfs %s (metadata schema %d)\n", CLI_VERSION, META_SCHEMA_VERSION);
    return CLI_OK;
}

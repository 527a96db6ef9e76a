/* cli_flush.c - `shimfs flush`: commit what writeback left behind.
 *
 * With SHIMFS_WRITEBACK=1 a process stages its writes in journals under
 * $SHIMFS_CACHE_DIR/staging before uploading them. A process that was
 * killed leaves its journals there; any later shim process on the node
 * commits them, and this command does it now, in the foreground, and
 * reports how many it committed. Journals still locked by a live process
 * are left to it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vfs.h"

static const char cli_flush_usage[] =
    "usage: shimfs flush [--meta URL]\n"
    "\n"
    "Upload and commit writeback journals left on this node by processes\n"
    "that exited or were killed before their uploads finished.\n"
    "(SHIMFS_CACHE_DIR names the node's cache and staging directory.)\n"
    "\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

int cli_cmd_flush(int argc, char **argv)
{
    static const struct option opts[] = {
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, code = CLI_OK;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (cli_common_option(c, "flush", cli_flush_usage, argv, &code) < 0)
            return code;
    if (optind < argc)
        return cli_usage_error("flush", "unexpected argument '%s'", argv[optind]);
    if (cli_vfs_init("flush") != 0)
        return CLI_FAIL;
    int done = 0;
    int rc = vfs_flush_journals(&done);
    printf("committed %d writeback journal%s\n", done, done == 1 ? "" : "s");
    if (rc < 0)
        return cli_fail("flush", "some journals", "%s (kept for a later retry)", strerror(-rc));
    return CLI_OK;
}

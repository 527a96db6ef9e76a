/* cli_fsck.c - `shimfs fsck`: is the volume consistent?
 *
 * Metadata first (meta_fsck: dangling entries, lost inodes, link counts,
 * directory parents, slice records of missing inodes or past the size),
 * then data: every block of every referenced slice must exist in the
 * bucket with its length. --repair fixes what the metadata engine can fix
 * safely; a missing object cannot be repaired (its bytes are gone) and is
 * reported with the slice it belongs to. Exit 0 when clean, 1 otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "layout.h"
#include "objstore.h"

#define CLI_FSCK_MAX_LINES 1000

static const char cli_fsck_usage[] =
    "usage: shimfs fsck [--repair] [--meta URL]\n"
    "\n"
    "Check the volume: metadata consistency, and that every block the\n"
    "metadata references exists in the bucket.\n"
    "\n"
    "  --repair    fix what can be fixed safely (link counts, directory\n"
    "              parents, dangling entries, lost files to /lost+found)\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

static void cli_fsck_line(void *arg, const char *problem)
{
    (void)arg;
    printf("  %s\n", problem);
}

static uint64_t cli_fsck_meta_total(const struct meta_fsck_report *r)
{
    return r->dangling_entries + r->missing_parents + r->bad_nlink + r->orphans +
           r->bad_dir_parent + r->slices_of_missing_inodes + r->bad_sizes;
}

/* Every block of every referenced slice must be in the listing. */
static uint64_t cli_fsck_objects(struct volume *v, const struct cli_inventory *inv)
{
    uint32_t bs = v->settings.block_size;
    uint64_t missing = 0;
    for (size_t i = 0; i < inv->nrefs; i++) {
        const struct cli_ref *r = &inv->refs[i];
        uint32_t nb = layout_block_count(r->size, bs);
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t len = layout_block_len(r->size, bs, b);
            if (cli_inventory_has(inv, r->id, b, len))
                continue;
            if (missing++ < CLI_FSCK_MAX_LINES) {
                char key[LAYOUT_KEY_MAX];
                layout_block_key(key, sizeof key, v->settings.uuid, r->id, b, len);
                printf("  missing object %s (slice %" PRIu64 ", block %u)\n", key, r->id, b);
            }
        }
    }
    return missing;
}

int cli_cmd_fsck(int argc, char **argv)
{
    static const struct option opts[] = {
        { "repair", no_argument, NULL, 'r' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, code = CLI_OK, repair = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, "fsck", cli_fsck_usage, argv, &code);
        if (r < 0)
            return code;
        if (r == 0 && c == 'r')
            repair = 1;
    }
    if (optind < argc)
        return cli_usage_error("fsck", "unexpected argument '%s'", argv[optind]);
    struct volume *v;
    if (cli_open_volume("fsck", &v) != 0)
        return CLI_FAIL;
    struct meta_fsck_report rep;
    struct cli_inventory inv;
    memset(&inv, 0, sizeof inv);
    printf("metadata:\n");
    int rc = meta_fsck(v->meta, repair, &rep, cli_fsck_line, NULL);
    uint64_t meta_problems = rc == 0 ? cli_fsck_meta_total(&rep) : 0;
    if (rc == 0) {
        printf("  %" PRIu64 " problems%s\n", meta_problems,
               meta_problems && repair ? " found (repaired where safe)" : "");
        rc = cli_inventory_load(v, &inv);
    }
    uint64_t missing = 0;
    if (rc == 0) {
        printf("data: %zu referenced slices, %zu objects\n", inv.nrefs, inv.nobjs);
        missing = cli_fsck_objects(v, &inv);
        printf("  %" PRIu64 " missing objects\n", missing);
    }
    if (rc < 0)
        code = cli_fail("fsck", meta_describe(v->meta), "%s", strerror(-rc));
    else if (missing || (meta_problems && !repair))
        code = CLI_FAIL;
    cli_inventory_free(&inv);
    volume_close(v);
    return code;
}

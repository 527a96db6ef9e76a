/* cli_fsck.c - `shimfs fsck`: is the volume consistent?
 *
 * Metadata first (meta_fsck: dangling entries, lost inodes, link counts,
 * directory parents, slice records of missing inodes or past the size),
 * then data: every block of every referenced slice must exist in the
 * bucket with its length, and every inline slice's block must be in the
 * database (a missing one is reported and counted as a missing object).
 * --repair fixes what the metadata engine can fix
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

/* The ids of the volume's inline blocks, ascending (meta_list_inline). */
struct cli_fsck_inline {
    uint64_t *ids;
    size_t n, cap;
};

static int cli_fsck_inline_cb(void *arg, uint64_t id, uint32_t size)
{
    struct cli_fsck_inline *l = arg;
    (void)size;
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 1024;
        uint64_t *p = realloc(l->ids, c * sizeof *p);
        if (!p)
            return -ENOMEM;
        l->ids = p;
        l->cap = c;
    }
    l->ids[l->n++] = id;
    return 0;
}

static int cli_fsck_inline_has(const struct cli_fsck_inline *l, uint64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->ids[lo] == id;
}

/* Every block of every referenced slice must be in the listing; an inline
 * slice's one block must be in the database (the same class of loss). */
static uint64_t cli_fsck_objects(struct volume *v, const struct cli_inventory *inv,
                                 const struct cli_fsck_inline *inl)
{
    uint32_t bs = v->settings.block_size;
    uint64_t missing = 0;
    for (size_t i = 0; i < inv->nrefs; i++) {
        const struct cli_ref *r = &inv->refs[i];
        if (layout_is_inline(r->id)) {
            if (!cli_fsck_inline_has(inl, r->id) && missing++ < CLI_FSCK_MAX_LINES)
                printf("  missing inline block %" PRIu64 " (slice %" PRIu64 " of %u bytes, kept in "
                       "the database)\n",
                       r->id & ~LAYOUT_INLINE_BIT, r->id, r->size);
            continue;
        }
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
    struct cli_fsck_inline inl = { 0 };
    if (rc == 0)
        rc = meta_list_inline(v->meta, cli_fsck_inline_cb, &inl);
    uint64_t missing = 0;
    if (rc == 0) {
        printf("data: %zu referenced slices, %zu objects\n", inv.nrefs, inv.nobjs);
        printf("  %zu inline blocks (tiny files' bytes in the database)\n", inl.n);
        missing = cli_fsck_objects(v, &inv, &inl);
        printf("  %" PRIu64 " missing objects\n", missing);
    }
    free(inl.ids);
    if (rc < 0)
        code = cli_fail("fsck", meta_describe(v->meta), "%s", strerror(-rc));
    else if (missing || (meta_problems && !repair))
        code = CLI_FAIL;
    cli_inventory_free(&inv);
    volume_close(v);
    return code;
}

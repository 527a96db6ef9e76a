/* cli_gc.c - `shimfs gc`: objects in the bucket that nothing references.
 *
 * Two kinds, both older than --grace (default one hour) before they may go:
 *  - released: slices of deleted, truncated or compacted files, listed in
 *    the garbage table with the time they were released;
 *  - leaked: blocks uploaded by a writer that died before its commit. An
 *    unreferenced id is never leaked while a live session holds it
 *    reserved (the writer may still commit it; that is known, not
 *    guessed). On top of that, gc leaves a marker object holding the
 *    slice-id counter and the time of each run, and only an id below the
 *    marker of a run at least --grace ago counts as leaked.
 * Order matters: with --delete, expired sessions are reaped first (their
 * reservations and orphans go), then the reservations of the sessions
 * left are listed, then the referenced ids, then the bucket. A writer that
 * commits after its reservation was listed is protected by it; one whose
 * session is reaped can no longer commit (meta_write's fence), so its
 * blocks may go. A dry run (the default) reaps nothing and reports what
 * --delete would do (sessions that would be reaped hold nothing);
 * --delete removes, in parallel batches, then forgets the released ids
 * whose objects are gone. Inline blocks (tiny files' bytes kept in the
 * database) follow the released rule: forgetting an inline id past the
 * grace period deletes its row (meta_forget_garbage); the bucket holds no
 * object of theirs, so "leaked" never applies (a row is written in its
 * commit's own statement).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "layout.h"
#include "objstore.h"

#define CLI_GC_BATCH 256

static const char cli_gc_usage[] =
    "usage: shimfs gc [--delete] [--grace SECONDS] [--meta URL]\n"
    "\n"
    "Find objects nothing references: slices released by unlink, truncate or\n"
    "compaction, and blocks left by writers that died before committing.\n"
    "Blocks reserved by a live writer's session are never removed. Without\n"
    "--delete only reports; with it, sessions silent past their timeout are\n"
    "reaped first (SHIMFS_SESSION_TIMEOUT).\n"
    "\n"
    "  --delete         remove what is older than the grace period\n"
    "  --grace SECONDS  minimum age before removal (default 3600)\n"
    "  --meta URL       database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help       this help\n";

struct cli_gc_garbage { uint64_t id; int64_t since; };
struct cli_gc_range { uint64_t first; uint32_t n; };

struct cli_gc {
    struct volume *v;
    struct cli_inventory inv;
    struct cli_gc_garbage *garbage;
    size_t ngarbage, gcap;
    int64_t now, grace_ns;
    uint64_t marker_id;        /* 0: no marker old enough */
    struct cli_gc_range *resv; /* reserved by live sessions, ascending */
    size_t nresv, rcap;
    int reaped, orphans;
    uint64_t n_ref, n_released, n_leaked, n_pending, b_released, b_leaked, b_pending;
    uint64_t n_reserved, b_reserved;
    struct obj_request *del;
    char (*keys)[LAYOUT_KEY_MAX];
    size_t ndel, delcap;
};

static int64_t cli_gc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cli_gc_garbage_cb(void *arg, uint64_t id, uint32_t size, int64_t since)
{
    struct cli_gc *g = arg;
    (void)size;
    if (g->ngarbage == g->gcap) {
        size_t c = g->gcap ? 2 * g->gcap : 1024;
        void *p = realloc(g->garbage, c * sizeof *g->garbage);
        if (!p)
            return -ENOMEM;
        g->garbage = p;
        g->gcap = c;
    }
    g->garbage[g->ngarbage++] = (struct cli_gc_garbage){ id, since };
    return 0;
}

static int cli_gc_range_cb(void *arg, uint64_t first, uint32_t n)
{
    struct cli_gc *g = arg;
    if (g->nresv == g->rcap) {
        size_t c = g->rcap ? 2 * g->rcap : 256;
        void *p = realloc(g->resv, c * sizeof *g->resv);
        if (!p)
            return -ENOMEM;
        g->resv = p;
        g->rcap = c;
    }
    g->resv[g->nresv++] = (struct cli_gc_range){ first, n };
    return 0;
}

/* Is id inside a range a live session holds? (ranges ascending, disjoint) */
static int cli_gc_reserved(const struct cli_gc *g, uint64_t id)
{
    size_t lo = 0, hi = g->nresv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->resv[mid].first <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && id - g->resv[lo - 1].first < g->resv[lo - 1].n;
}

static int cli_gc_cmp(const void *a, const void *b)
{
    const struct cli_gc_garbage *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const struct cli_gc_garbage *cli_gc_released(const struct cli_gc *g, uint64_t id)
{
    struct cli_gc_garbage k = { id, 0 };
    /* none: no array, and bsearch(NULL) is undefined */
    return g->ngarbage ? bsearch(&k, g->garbage, g->ngarbage, sizeof k, cli_gc_cmp) : NULL;
}

static void cli_gc_marker_key(const struct cli_gc *g, char *key, size_t cap)
{
    snprintf(key, cap, "%s/gc-marker", g->v->settings.uuid);
}

/* The previous run's marker, if it is older than the grace period. */
static void cli_gc_read_marker(struct cli_gc *g)
{
    char key[128], buf[128];
    cli_gc_marker_key(g, key, sizeof key);
    ssize_t n = obj_get(g->v->store, key, 0, 0, buf, sizeof buf - 1);
    unsigned long long id;
    long long when;
    if (n <= 0)
        return;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %lld", &id, &when) == 2 && g->now - when >= g->grace_ns)
        g->marker_id = id;
}

static int cli_gc_write_marker(struct cli_gc *g)
{
    uint64_t next;
    int rc = meta_next_ids(g->v->meta, META_ID_SLICE, 1, &next);
    if (rc < 0)
        return rc;
    char key[128], buf[128];
    cli_gc_marker_key(g, key, sizeof key);
    int n = snprintf(buf, sizeof buf, "%" PRIu64 " %" PRId64 "\n", next, g->now);
    return obj_put(g->v->store, key, buf, (size_t)n);
}

static int cli_gc_queue(struct cli_gc *g, const struct cli_obj *o)
{
    if (g->ndel == g->delcap) {
        size_t c = g->delcap ? 2 * g->delcap : 1024;
        void *d = realloc(g->del, c * sizeof *g->del), *k = d ? realloc(g->keys, c * LAYOUT_KEY_MAX) : NULL;
        if (d)
            g->del = d;
        if (!d || !k)
            return -ENOMEM;
        g->keys = k;
        g->delcap = c;
    }
    layout_block_key(g->keys[g->ndel], LAYOUT_KEY_MAX, g->v->settings.uuid, o->id, o->index, o->len);
    g->del[g->ndel] = (struct obj_request){ .op = OBJ_DELETE };
    g->ndel++;
    return 0;
}

/* Sort every object into referenced / released / leaked / too young. */
static int cli_gc_classify(struct cli_gc *g)
{
    for (size_t i = 0; i < g->inv.nobjs; i++) {
        const struct cli_obj *o = &g->inv.objs[i];
        const struct cli_gc_garbage *rel;
        int deletable;
        if (cli_inventory_ref(&g->inv, o->id)) {
            g->n_ref++;
            continue;
        }
        if ((rel = cli_gc_released(g, o->id))) {
            deletable = g->now - rel->since >= g->grace_ns;
            if (deletable)
                g->n_released++, g->b_released += o->bytes;
        } else if (cli_gc_reserved(g, o->id)) {
            g->n_reserved++, g->b_reserved += o->bytes;
            continue;
        } else {
            deletable = g->marker_id && o->id < g->marker_id;
            if (deletable)
                g->n_leaked++, g->b_leaked += o->bytes;
        }
        if (!deletable) {
            g->n_pending++, g->b_pending += o->bytes;
            continue;
        }
        int rc = cli_gc_queue(g, o);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cli_gc_delete(struct cli_gc *g)
{
    for (size_t i = 0; i < g->ndel; i++)
        g->del[i].key = g->keys[i];
    for (size_t at = 0; at < g->ndel; at += CLI_GC_BATCH) {
        size_t n = g->ndel - at < CLI_GC_BATCH ? g->ndel - at : CLI_GC_BATCH;
        int rc = obj_batch(g->v->store, g->del + at, (int)n);
        if (rc < 0)
            return rc;
    }
    /* forget released ids: their objects are gone now (or never existed) */
    uint64_t *ids = malloc((g->ngarbage ? g->ngarbage : 1) * sizeof *ids);
    if (!ids)
        return -ENOMEM;
    int n = 0;
    for (size_t i = 0; i < g->ngarbage; i++)
        if (g->now - g->garbage[i].since >= g->grace_ns)
            ids[n++] = g->garbage[i].id;
    int rc = n ? meta_forget_garbage(g->v->meta, ids, n) : 0;
    free(ids);
    return rc < 0 ? rc : 0;
}

static void cli_gc_report(const struct cli_gc *g, int deleted)
{
    char a[32], b[32], c[32], d[32];
    if (deleted)
        printf("expired sessions reaped: %d (orphans dropped: %d)\n", g->reaped, g->orphans);
    printf("objects: %zu (%" PRIu64 " referenced), foreign keys: %" PRIu64 "\n", g->inv.nobjs,
           g->n_ref, g->inv.foreign);
    printf("held by running writers (reserved by live sessions): %" PRIu64 " objects, %s\n",
           g->n_reserved, layout_format_size(g->b_reserved, d, sizeof d));
    printf("released slices past the grace period: %" PRIu64 " objects, %s\n", g->n_released,
           layout_format_size(g->b_released, a, sizeof a));
    printf("leaked by writers that never committed: %" PRIu64 " objects, %s%s\n", g->n_leaked,
           layout_format_size(g->b_leaked, b, sizeof b),
           g->marker_id ? "" : " (leaked blocks are judged from the second run on)");
    printf("unreferenced but younger than the grace period: %" PRIu64 " objects, %s\n", g->n_pending,
           layout_format_size(g->b_pending, c, sizeof c));
    /* inline blocks live in the database: no object to delete, their rows
     * go when their ids are forgotten (same grace) */
    uint64_t inl = 0, inl_young = 0;
    for (size_t i = 0; i < g->ngarbage; i++)
        if (layout_is_inline(g->garbage[i].id))
            *(g->now - g->garbage[i].since >= g->grace_ns ? &inl : &inl_young) += 1;
    printf(deleted ? "inline blocks deleted from the database: %" PRIu64 " (%" PRIu64
                     " younger than the grace period)\n"
                   : "inline blocks to delete from the database: %" PRIu64 " (%" PRIu64
                     " younger than the grace period)\n",
           inl, inl_young);
    printf(deleted ? "deleted %zu objects\n" : "would delete %zu objects (run with --delete)\n", g->ndel);
}

int cli_cmd_gc(int argc, char **argv)
{
    struct cli_gc g = { .grace_ns = 3600LL * 1000000000LL };
    int del = 0, code = CLI_OK;
    const struct cli_opt opts[] = {
        { "delete", CLI_OPT_FLAG, &del, 0, 0 },
        { "grace", CLI_OPT_SECONDS, &g.grace_ns, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };
    if (cli_parse_options(argc, argv, "gc", cli_gc_usage, opts, NULL, &code) < 0)
        return code;
    if (cli_open_volume("gc", &g.v) != 0)
        return CLI_FAIL;
    g.now = cli_gc_now();
    int rc = meta_upgrade(g.v->meta);
    if (rc >= 0 && del)
        rc = g.orphans = meta_session_reap(g.v->meta, g.v->cfg.session_timeout_ns, &g.reaped);
    if (rc >= 0)
        rc = meta_list_reservations(g.v->meta, del ? -1 : g.v->cfg.session_timeout_ns,
                                    cli_gc_range_cb, &g);
    if (rc == 0)
        rc = meta_list_garbage(g.v->meta, cli_gc_garbage_cb, &g);
    if (rc == 0)
        rc = cli_inventory_load(g.v, &g.inv);
    if (rc == 0) {
        if (g.ngarbage > 1) /* none: no array, and qsort(NULL) is undefined */
            qsort(g.garbage, g.ngarbage, sizeof *g.garbage, cli_gc_cmp);
        cli_gc_read_marker(&g);
        rc = cli_gc_classify(&g);
    }
    if (rc == 0 && del)
        rc = cli_gc_delete(&g);
    if (rc == 0)
        rc = cli_gc_write_marker(&g);
    if (rc == 0)
        cli_gc_report(&g, del);
    else
        code = cli_fail("gc", obj_describe(g.v->store), "%s", strerror(-rc));
    cli_inventory_free(&g.inv);
    free(g.garbage);
    free(g.resv);
    free(g.del);
    free(g.keys);
    volume_close(g.v);
    return code;
}

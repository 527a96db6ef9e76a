/* cli_inventory.c - what gc and fsck compare: the slice ids the metadata
 * references (sorted, from meta_list_slices) and the block objects the
 * bucket holds (from one listing of "<uuid>/chunks/").
 *
 * Memory is 16 bytes per referenced slice and 24 per object: a volume of
 * ten million objects is inventoried in a few hundred MiB, in one pass.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "layout.h"
#include "objstore.h"

static int cli_inv_grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 1024;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static int cli_inv_ref_cb(void *arg, uint64_t id, uint32_t size)
{
    struct cli_inventory *inv = arg;
    if (cli_inv_grow((void **)&inv->refs, &inv->refs_cap, inv->nrefs, sizeof *inv->refs) < 0)
        return -ENOMEM;
    inv->refs[inv->nrefs++] = (struct cli_ref){ id, size };
    return 0;
}

static int cli_inv_obj_cb(void *arg, const char *key, uint64_t size)
{
    struct cli_inventory *inv = arg;
    struct cli_obj o = { .bytes = size };
    if (layout_parse_key(key, inv->uuid, &o.id, &o.index, &o.len) < 0) {
        inv->foreign++;
        return 0;
    }
    if (cli_inv_grow((void **)&inv->objs, &inv->objs_cap, inv->nobjs, sizeof *inv->objs) < 0)
        return -ENOMEM;
    inv->objs[inv->nobjs++] = o;
    return 0;
}

static int cli_obj_cmp(const void *a, const void *b)
{
    const struct cli_obj *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int cli_inventory_load(struct volume *v, struct cli_inventory *inv)
{
    assert(v && inv);
    memset(inv, 0, sizeof *inv);
    inv->uuid = v->settings.uuid;
    int rc = meta_list_slices(v->meta, cli_inv_ref_cb, inv);
    if (rc < 0)
        return rc;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/chunks/", v->settings.uuid);
    rc = obj_list(v->store, prefix, cli_inv_obj_cb, inv);
    if (rc < 0)
        return rc;
    if (inv->nobjs > 1) /* an empty bucket has no array: qsort(NULL) is undefined */
        qsort(inv->objs, inv->nobjs, sizeof *inv->objs, cli_obj_cmp);
    return 0;
}

const struct cli_ref *cli_inventory_ref(const struct cli_inventory *inv, uint64_t id)
{
    assert(inv && (inv->refs || inv->nrefs == 0));
    size_t lo = 0, hi = inv->nrefs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (inv->refs[mid].id == id)
            return &inv->refs[mid];
        if (inv->refs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cli_inventory_has(const struct cli_inventory *inv, uint64_t id, uint32_t index, uint32_t len)
{
    struct cli_obj key = { .id = id, .index = index };
    assert(inv && (inv->objs || inv->nobjs == 0));
    const struct cli_obj *o = inv->nobjs ? bsearch(&key, inv->objs, inv->nobjs, sizeof *inv->objs,
                                                   cli_obj_cmp) : NULL;
    return o && o->len == len;
}

void cli_inventory_free(struct cli_inventory *inv)
{
    free(inv->refs);
    free(inv->objs);
    memset(inv, 0, sizeof *inv);
}

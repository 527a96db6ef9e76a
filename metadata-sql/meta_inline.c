/* meta_inline.c - reading inline blocks (schema 4): one block by id for a
 * reader, every block's id and length for fsck. They are written by
 * meta_write_inline (meta_write.c) and deleted by meta_forget_garbage.
 *
 * Promises: a frame comes back byte for byte as it was committed (binary
 * results: no escaping); a missing row is -ENOENT, never an empty block;
 * a volume older than schema 4 has no inline blocks (list: none).
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define META_INLINE_PAGE 10000

int meta_inline_get(struct meta *m, uint64_t id, void *buf, size_t cap)
{
    assert(m && (buf || cap == 0));
    if (!layout_is_inline(id) || id > (uint64_t)INT64_MAX)
        return -EINVAL;
    /* no version check: an inline id exists only where the table does
     * (the handle's cached version may predate the upgrade that made it) */
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)id);
    PGresult *r;
    int rc = meta_read(m, MS_INLINE_GET, &p, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -ENOENT;
    }
    size_t n;
    const char *d = meta_r_bytes(r, 0, 0, &n);
    if (n > cap || n > INT32_MAX) {
        rc = -EOVERFLOW;
    } else {
        memcpy(buf, d, n);
        rc = (int)n;
    }
    PQclear(r);
    return rc;
}

int meta_list_inline(struct meta *m, meta_id_cb cb, void *arg)
{
    assert(m && cb);
    PGresult *r;
    int rc = meta_read(m, MS_VERSION, NULL, &r);
    if (rc < 0)
        return rc;
    int64_t v = meta_r_int(r, 0, 0);
    PQclear(r);
    if (v < 4)
        return 0;
    return meta_read_keyset(m, MS_LIST_INLINE, NULL, 0, META_INLINE_PAGE, cb, arg);
}

/* meta_readdir.c - readdir-plus: names with their attributes, a page at a
 * time.
 *
 * Promises: one round trip per page; pages are keyset pages (name > the
 * last name seen, in byte order) served from the entry primary key, so a
 * directory of any size streams in memory bounded by the page size, and
 * entries created or removed meanwhile never make a page repeat or skip
 * a name that stayed.
 */
#include "meta_int.h"

#include <errno.h>

int meta_readdir(struct meta *m, uint64_t dir, const char *after, size_t alen,
                 int limit, meta_dirent_cb cb, void *arg)
{
    if (limit <= 0)
        return 0;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)dir);
    meta_p_bytes(&p, after ? after : "", after ? alen : 0);
    meta_p_int(&p, limit);
    PGresult *r;
    int rc = meta_read(m, MS_READDIR, &p, &r);
    if (rc < 0)
        return rc;
    int n = PQntuples(r);
    if (n == 0) {
        rc = -ENOENT;
    } else if (!meta_is_dir((uint32_t)meta_r_int(r, 0, 0))) {
        rc = -ENOTDIR;
    } else {
        for (int i = 0; i < n && !meta_r_isnull(r, i, 1); i++) {
            size_t nlen;
            const char *name = meta_r_bytes(r, i, 1, &nlen);
            struct meta_attr a;
            meta_r_attr(r, i, 2, &a);
            rc++;
            if (cb(arg, name, nlen, &a))
                break;
        }
    }
    PQclear(r);
    return rc;
}

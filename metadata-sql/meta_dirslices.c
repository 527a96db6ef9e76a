/* meta_dirslices.c - a directory's regular files with their whole block
 * maps, so a process that lists a directory can open every file in it
 * without another round trip (design.md 4b).
 *
 * Promises: one statement per page of META_DIRSLICES_PAGE entries, so one
 * round trip for any ordinary directory (JIT and Memoize are turned off
 * for it: the plan is thousands of index probes, cheaper to run than to
 * compile, and never probes one inode twice);
 * attributes and slices of a file
 * come from that one statement (the same row version). Pages are keyset
 * pages over the entry key, like readdir, so memory stays bounded however
 * large the directory. Callbacks run after the connection went back to the
 * pool, so they may call meta_* themselves. Inside meta_txn the planner
 * settings stay off until that transaction ends (harmless).
 */
#include "meta_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define META_DIRSLICES_PAGE 16384

/* Columns of MS_DIR_SLICES. */
enum { DS_DIRMODE, DS_NAME, DS_ATTR, DS_CHUNK = DS_ATTR + META_NCOLS, DS_POS, DS_ID, DS_SIZE,
       DS_OFF, DS_LEN };

static int meta_ds_same_name(const PGresult *r, int a, int b)
{
    size_t la, lb;
    const char *na = meta_r_bytes(r, a, DS_NAME, &la), *nb = meta_r_bytes(r, b, DS_NAME, &lb);
    return la == lb && memcmp(na, nb, la) == 0;
}

static void meta_ds_slice(const PGresult *r, int row, struct layout_slice *s)
{
    *s = (struct layout_slice){
        .pos = (uint32_t)meta_r_int(r, row, DS_POS),
        .id = (uint64_t)meta_r_int(r, row, DS_ID),
        .size = (uint32_t)meta_r_int(r, row, DS_SIZE),
        .off = (uint32_t)meta_r_int(r, row, DS_OFF),
        .len = (uint32_t)meta_r_int(r, row, DS_LEN),
    };
}

/* Who gets the rows: ecb (optional) every entry, cb every file's chunks. */
struct meta_ds_cbs { meta_dirent_cb ecb; meta_file_slices_cb cb; void *arg; };

/* Delivers rows [from, to), one entry's rows, a call per chunk. */
static int meta_ds_entry(const PGresult *r, int from, int to, struct layout_slice *s,
                         const char *name, size_t nlen, const struct meta_ds_cbs *cbs)
{
    if (meta_r_isnull(r, from, DS_ATTR))
        return 0;        /* dangling entry: fsck's business */
    struct meta_attr a;
    meta_r_attr(r, from, DS_ATTR, &a);
    meta_file_slices_cb cb = cbs->cb;
    void *arg = cbs->arg;
    if (cbs->ecb && cbs->ecb(arg, name, nlen, &a))
        return 1;
    if ((a.mode & META_S_IFMT) != META_S_IFREG)
        return 0;
    if (meta_r_isnull(r, from, DS_CHUNK))
        return cb(arg, &a, 0, s, 0);
    for (int i = from, j; i < to; i = j) {
        int64_t chunk = meta_r_int(r, i, DS_CHUNK);
        for (j = i; j < to && meta_r_int(r, j, DS_CHUNK) == chunk; j++)
            meta_ds_slice(r, j, &s[j - i]);
        int rc = cb(arg, &a, (uint64_t)chunk, s, j - i);
        if (rc)
            return rc;
    }
    return 0;
}

/* MS_DIR_SLICES (n of them, one per parameter set) after
 * MS_DIR_SLICES_PLAN in one round trip; like meta_read, a connection found
 * broken is replaced and the read tried once more. res[0..n) on success. */
static int meta_ds_query(struct meta *m, const struct meta_params *p, int n, PGresult **res,
                         uint64_t *token)
{
    int rc = 0;
    struct meta_q q[META_DIRS_BATCH + 1];
    for (int attempt = 0; attempt < 2; attempt++) {
        struct meta_conn *c;
        if ((rc = meta_conn_get(m, &c)) < 0)
            return rc;
        int owned = meta_conn_owned(m) == c;
        q[0] = (struct meta_q){ .stmt = MS_DIR_SLICES_PLAN };
        for (int i = 0; i < n; i++)
            q[i + 1] = (struct meta_q){ .stmt = MS_DIR_SLICES, .p = &p[i] };
        rc = meta_route_run(c, q, n + 1);  /* maybe on the read server */
        int broken = rc < 0 && meta_conn_broken(c);
        meta_conn_put(c);
        /* inside the caller's transaction the answer may hold changes not
         * committed yet (and never to be, if it aborts): no token, so no
         * one shares or vouches for it */
        if (token)
            *token = rc < 0 || owned ? 0 : meta_token_of(q[0].res, 2);
        PQclear(q[0].res);
        for (int i = 0; i < n; i++)
            res[i] = q[i + 1].res;
        if (!broken || owned)
            break;
        meta_pool_drop_idle(m);
    }
    return rc;
}

static void meta_ds_params(struct meta_params *p, uint64_t dir, const char *last, size_t llen,
                           int limit)
{
    meta_p_init(p);
    meta_p_int(p, (int64_t)dir);
    meta_p_bytes(p, last, llen);
    meta_p_int(p, limit);
}

/* One page's answer (cleared here): sets *names to the number of entries
 * seen and copies the last name into last/llen. */
static int meta_ds_result(PGresult *r, char *last, size_t *llen, int *names,
                          const struct meta_ds_cbs *cbs)
{
    int rc = 0;
    int n = PQntuples(r);
    *names = 0;
    if (n == 0 || !meta_is_dir((uint32_t)meta_r_int(r, 0, DS_DIRMODE))) {
        PQclear(r);
        return n == 0 ? -ENOENT : -ENOTDIR;
    }
    struct layout_slice *s = malloc((size_t)n * sizeof *s);
    if (!s) {
        PQclear(r);
        return -ENOMEM;
    }
    for (int i = 0, j; i < n && rc == 0 && !meta_r_isnull(r, i, DS_NAME); i = j) {
        for (j = i + 1; j < n && meta_ds_same_name(r, i, j); j++)
            ;
        (*names)++;
        size_t len;
        const char *name = meta_r_bytes(r, i, DS_NAME, &len);
        if (len > META_NAME_MAX) {
            rc = -EIO;      /* no name this long was ever accepted */
            break;
        }
        memcpy(last, name, len);
        *llen = len;
        rc = meta_ds_entry(r, i, j, s, name, len, cbs);
    }
    free(s);
    PQclear(r);
    return rc;
}

/* One page: entries of dir after `after`. */
static int meta_ds_page(struct meta *m, uint64_t dir, int limit, char *last, size_t *llen,
                        int *names, const struct meta_ds_cbs *cbs, uint64_t *token)
{
    struct meta_params p;
    meta_ds_params(&p, dir, last, *llen, limit);
    PGresult *r;
    int rc = meta_ds_query(m, &p, 1, &r, token);
    return rc < 0 ? rc : meta_ds_result(r, last, llen, names, cbs);
}

int meta_read_dir_slices(struct meta *m, uint64_t dir, meta_file_slices_cb cb, void *arg)
{
    char last[META_NAME_MAX + 1];
    size_t llen = 0;
    /* Every full page moves `last` forward through a finite directory;
     * the bound only guards against a server that never says "done". */
    struct meta_ds_cbs cbs = { NULL, cb, arg };
    for (long page = 0; page < (1L << 40) / META_DIRSLICES_PAGE; page++) {
        int names;
        int rc = meta_ds_page(m, dir, META_DIRSLICES_PAGE, last, &llen, &names, &cbs, NULL);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (names < META_DIRSLICES_PAGE)
            return 0;
    }
    return -EIO;
}

int meta_read_dir_all(struct meta *m, uint64_t dir, int limit, meta_dirent_cb ecb,
                      meta_file_slices_cb cb, void *arg, uint64_t *token)
{
    char last[META_NAME_MAX + 1];
    size_t llen = 0;
    int names = 0;
    struct meta_ds_cbs cbs = { ecb, cb, arg };
    if (limit <= 0 || limit > META_DIRSLICES_PAGE)
        limit = META_DIRSLICES_PAGE;
    int rc = meta_ds_page(m, dir, limit, last, &llen, &names, &cbs, token);
    return rc < 0 ? rc : rc > 0 ? -ECANCELED : names;
}

int meta_read_dir_page(struct meta *m, uint64_t dir, const char *after, size_t alen, int limit,
                       meta_dirent_cb ecb, meta_file_slices_cb cb, void *arg, uint64_t *token)
{
    char last[META_NAME_MAX + 1];
    int names = 0;
    struct meta_ds_cbs cbs = { ecb, cb, arg };
    if (alen > META_NAME_MAX)
        return -ENAMETOOLONG;
    if (limit <= 0 || limit > META_DIRSLICES_PAGE)
        limit = META_DIRSLICES_PAGE;
    if (alen)
        memcpy(last, after, alen);
    int rc = meta_ds_page(m, dir, limit, last, &alen, &names, &cbs, token);
    return rc < 0 ? rc : rc > 0 ? -ECANCELED : names;
}

int meta_read_dirs_all(struct meta *m, const uint64_t *dirs, int n, int limit,
                       meta_dir_begin_cb begin, meta_dirent_cb ecb, meta_file_slices_cb cb,
                       meta_dir_end_cb end, void *arg, uint64_t *token)
{
    struct meta_params p[META_DIRS_BATCH];
    PGresult *res[META_DIRS_BATCH];
    if (n <= 0)
        return 0;
    if (n > META_DIRS_BATCH)
        return -E2BIG;
    if (limit <= 0 || limit > META_DIRSLICES_PAGE)
        limit = META_DIRSLICES_PAGE;
    for (int i = 0; i < n; i++)
        meta_ds_params(&p[i], dirs[i], "", 0, limit);
    int rc = meta_ds_query(m, p, n, res, token);
    if (rc < 0)
        return rc;
    struct meta_ds_cbs cbs = { ecb, cb, arg };
    for (int i = 0; i < n; i++) {
        char last[META_NAME_MAX + 1];
        size_t llen = 0;
        int names = 0;
        begin(arg, i);
        int r = meta_ds_result(res[i], last, &llen, &names, &cbs);
        end(arg, i, r < 0 ? r : r > 0 ? -ECANCELED : names);
    }
    return 0;
}

/* meta_write.c - committing data: a write session's slices, appends, and
 * chunk compaction.
 *
 * Promises: meta_write is one statement, so one round trip, atomic (the
 * inode is locked by its UPDATE, the slices follow in array order, so a
 * chunk's list stays oldest first); with set_size it first locks the inode
 * and cuts what lies beyond the new size, still in one round trip.
 * meta_append is one statement too: the file's end is read under the
 * inode's row lock, so concurrent appenders (any process, any node) land
 * one after the other and none overwrites another.
 * meta_write_inline is the same statement with one more CTE that stores an
 * inline block (schema 4) only when the inode row was updated.
 * meta_compact replaces a chunk's list only if it is still exactly the one
 * the caller merged (-EAGAIN otherwise) and records the ids it no longer
 * uses as garbage. Both are fenced by the handle's session: a reaped
 * session commits nothing (-ESTALE) and the check shares the statement (or
 * round trip) that commits, so it costs no extra round trip.
 */
#include "meta_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Six parallel arrays (chunk, pos, id, size, off, len) as int[] literals. */
struct meta_slice_arrays { struct meta_arr a[6]; };

static void meta_slice_arrays_free(struct meta_slice_arrays *sa)
{
    for (int i = 0; i < 6; i++)
        meta_arr_free(&sa->a[i]);
}

static int meta_slice_check(const struct layout_slice *s)
{
    if ((uint64_t)s->pos + s->len > LAYOUT_CHUNK_SIZE || (uint64_t)s->off + s->len > s->size ||
        s->size > LAYOUT_CHUNK_SIZE || s->id > (uint64_t)INT64_MAX)
        return -EINVAL;
    return 0;
}

static int meta_slice_arrays_add(struct meta_slice_arrays *sa, uint64_t chunk,
                                 const struct layout_slice *s)
{
    int64_t v[6] = { (int64_t)chunk, s->pos, (int64_t)s->id, s->size, s->off, s->len };
    if (chunk > (uint64_t)INT64_MAX >> LAYOUT_CHUNK_SHIFT || meta_slice_check(s) < 0)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        if (meta_arr_add(&sa->a[i], v[i]) < 0)
            return -ENOMEM;
    return 0;
}

/* Adds the six arrays to p as text parameters. */
static int meta_slice_arrays_params(struct meta_slice_arrays *sa, struct meta_params *p)
{
    for (int i = 0; i < 6; i++) {
        const char *s = meta_arr_str(&sa->a[i]);
        if (!s)
            return -ENOMEM;
        meta_p_text(p, s);
    }
    return 0;
}

struct meta_write_args {
    uint64_t ino, new_size;
    int fence;                   /* the handle has a session: check the ids */
    int set_size;
    int lazy; /* META_WRITE_LAZY */
    int sole_asked, sole; /* META_WRITE_SOLE, and its answer */
    int n;                /* records committed */
    int64_t mtime;
    struct meta_slice_arrays arr;
    const struct meta_inline *blob; /* NULL: none (MS_WRITE) */
    const struct meta_attr_set *also; /* NULL: none */
    struct meta_attr *out;
};

/* Commits through a handle that ever had a session are fenced: its ids
 * were reserved, and a session replaced after a reap must not let the old
 * session's ids through. */
static int meta_fenced(struct meta *m)
{
    return __atomic_load_n(&m->fenced, __ATOMIC_ACQUIRE);
}

/* -ESTALE (one log line) when some of `ids` (an int8[] literal) are held
 * by no live session: the session that reserved them was reaped, and gc
 * may have deleted their objects. Such an id never becomes held again,
 * so asking after the committing transaction is as good as inside it. */
static int meta_fence_broken(struct meta_conn *c, const char *ids)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_text(&p, ids);
    PGresult *r;
    int rc = meta_run1(c, MS_FENCE, &p, &r);
    if (rc < 0)
        return rc;
    rc = meta_r_int(r, 0, 0) ? 0 : -ESTALE;
    PQclear(r);
    if (rc)
        log_error(META_LOG, "%s: commit refused: its slice ids are held by no live session "
                  "(this process was silent past its session timeout and was reaped; gc may "
                  "have deleted the blocks)", c->m->describe);
    return rc;
}

/* Why the UPDATE matched nothing: the fence, no such inode, or not a
 * regular file. */
static int meta_write_why(struct meta_conn *c, uint64_t ino, const char *ids)
{
    int rc = ids ? meta_fence_broken(c, ids) : 0;
    if (rc < 0)
        return rc;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ino);
    PGresult *r;
    rc = meta_run1(c, MS_GETATTR, &p, &r);
    if (rc < 0)
        return rc;
    if (PQntuples(r) == 0)
        rc = -ENOENT;
    else
        rc = meta_is_dir((uint32_t)meta_r_int(r, 0, 1)) ? -EISDIR : -EINVAL;
    PQclear(r);
    return rc;
}

static int meta_write_body(struct meta_conn *c, void *arg)
{
    struct meta_write_args *wa = arg;
    struct meta_params p[6];
    /* META_WRITE_LAZY: the commit is not waited for (set first, in the same
     * round trip; transaction-local, so a rerun sets it again) */
    struct meta_q qa[7] = { { .stmt = MS_ASYNC_COMMIT } }, *q = qa + 1;
    struct meta_q *qs = wa->lazy ? qa : q;
    int n = 0;
    int64_t now = meta_now_ns();
    /* p[0] points into it until meta_run below has sent the queries */
    char one[32];
    if (wa->set_size) {
        /* Lock the inode first, as every change does, then cut, then
         * append: still one round trip. */
        snprintf(one, sizeof one, "{%" PRIu64 "}", wa->ino);
        meta_p_init(&p[0]);
        meta_p_text(&p[0], one);
        for (int i = 0; i < 4; i++)
            meta_p_null(&p[0]);
        q[0] = (struct meta_q){ .stmt = MS_LOCK, .p = &p[0] };
        int64_t chunk = (int64_t)layout_chunk_index(wa->new_size);
        int64_t pos = layout_chunk_offset(wa->new_size);
        for (int i = 1; i < 3; i++) {
            meta_p_init(&p[i]);
            meta_p_int(&p[i], (int64_t)wa->ino);
            meta_p_int(&p[i], chunk);
            meta_p_int(&p[i], pos);
        }
        meta_p_int(&p[1], now);
        q[1] = (struct meta_q){ .stmt = MS_TRUNC_DROP, .p = &p[1] };
        q[2] = (struct meta_q){ .stmt = MS_TRUNC_TRIM, .p = &p[2] };
        n = 3;
    }
    meta_p_init(&p[n]);
    meta_p_int(&p[n], (int64_t)wa->ino);
    meta_p_int(&p[n], (int64_t)wa->new_size);
    meta_p_text(&p[n], wa->set_size ? "true" : "false");
    int64_t stamp = wa->mtime ? wa->mtime : now; /* the row's new mtime and ctime */
    meta_p_int(&p[n], stamp);
    int rc = meta_slice_arrays_params(&wa->arr, &p[n]);
    if (rc < 0)
        return rc;
    meta_p_text(&p[n], wa->fence ? "true" : "false");
    if (wa->blob) {
        meta_p_int(&p[n], (int64_t)wa->blob->id);
        meta_p_bytes(&p[n], wa->blob->data, wa->blob->len);
    }
    q[n] = (struct meta_q){ .stmt = wa->blob ? MS_WRITE_INLINE : MS_WRITE, .p = &p[n] };
    if (wa->sole_asked) {
        meta_p_init(&p[n + 1]);
        meta_p_int(&p[n + 1], (int64_t)wa->ino);
        meta_p_int(&p[n + 1], (int64_t)wa->n + 1);
        q[n + 1] = (struct meta_q){ .stmt = MS_SLICES_SOLE, .p = &p[n + 1] };
    }
    /* after the write's own mtime: a utimens through the descriptor after
     * its writes has the last word, as it had when it was called; only
     * if the write matched (it stamped ctime), or a fenced-off commit
     * would still change them */
    int also = n + 1 + wa->sole_asked;
    if (wa->also) {
        meta_setattr_some_params(&p[also], wa->ino, wa->also->fields, &wa->also->a,
                                 wa->also->mode_was, stamp, now);
        q[also] = (struct meta_q){ .stmt = MS_SETATTR_SOME, .p = &p[also] };
    }
    int nq = also + (wa->also != NULL) + wa->lazy;
    rc = meta_run(c, qs, nq, 1);
    if (rc == 0 && PQntuples(q[n].res) == 1 && wa->out)
        meta_r_attr(q[wa->also ? also : n].res, 0, 0, wa->out);
    else if (rc == 0 && PQntuples(q[n].res) != 1)
        rc = 1;
    wa->sole = rc == 0 && wa->sole_asked && PQntuples(q[n + 1].res) == 1 &&
               meta_r_int(q[n + 1].res, 0, 0) == wa->n;
    meta_q_clear(qs, nq);
    return rc;
}

int meta_write(struct meta *m, uint64_t ino, const struct meta_slice_rec *recs, int n,
               uint64_t new_size, int set_size, int64_t mtime_ns, struct meta_attr *a)
{
    return meta_write_inline(m, ino, recs, n, NULL, new_size, set_size, mtime_ns, NULL, a);
}

int meta_write_inline(struct meta *m, uint64_t ino, const struct meta_slice_rec *recs, int n,
                      const struct meta_inline *blob, uint64_t new_size, int set_size,
                      int64_t mtime_ns, const struct meta_attr_set *also, struct meta_attr *a)
{
    assert(m && (n == 0 || recs));
    assert(!blob || (blob->data && blob->len > 0));
    if (n < 0 || new_size > (uint64_t)INT64_MAX)
        return n < 0 ? -EINVAL : -EFBIG;
    if (blob && (!layout_is_inline(blob->id) || blob->id > (uint64_t)INT64_MAX))
        return -EINVAL;
    if (blob && __atomic_load_n(&m->version, __ATOMIC_ACQUIRE) < 4)
        return -EOPNOTSUPP; /* no inline_block table yet: the caller uploads */
    /* An inline-only commit (every record the block's own id) is not
     * fenced. The fence keeps ids of a reaped session, whose uploaded
     * objects gc may have deleted, out of the map; an inline block has no
     * object, its bytes go in with this commit, and its id is never handed
     * out again. Skipped, the commit takes no lock on the session row (a
     * WAL record per tiny file, 9% of cp -r's time for 4 KiB files). */
    int only_inline = blob != NULL;
    for (int i = 0; only_inline && i < n; i++)
        only_inline = recs[i].s.id == blob->id;
    uint64_t mark = meta_lazy_mark(m);
    struct meta_write_args wa = { .ino = ino,
                                  .new_size = new_size,
                                  .fence = meta_fenced(m) && !only_inline,
                                  .set_size =
                                      (set_size & ~(META_WRITE_LAZY | META_WRITE_SOLE)) != 0,
                                  .lazy = (set_size & META_WRITE_LAZY) != 0,
                                  .sole_asked = (set_size & META_WRITE_SOLE) != 0,
                                  .n = n,
                                  .mtime = mtime_ns,
                                  .blob = blob,
                                  .also = also && also->fields ? also : NULL,
                                  .out = a };
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = meta_slice_arrays_add(&wa.arr, recs[i].chunk, &recs[i].s);
    if (rc == 0)
        rc = meta_tx(m, meta_write_body, &wa);
    /* the commit updated the inode row (WAL): a synchronous one flushed
     * every lazy commit acknowledged before it began */
    if (rc == 0 && wa.lazy)
        meta_lazy_note(m);
    else if (rc == 0 && !meta_conn_owned(m)) /* (inside meta_txn: not committed yet) */
        meta_lazy_covered(m, mark);
    if (rc == 1) {
        /* Nothing matched: find out why, outside the finished transaction. */
        struct meta_conn *c;
        if ((rc = meta_conn_get(m, &c)) == 0) {
            rc = meta_write_why(c, ino, wa.fence ? meta_arr_str(&wa.arr.a[2]) : NULL);
            meta_conn_put(c);
        }
    }
    meta_slice_arrays_free(&wa.arr);
    return rc == 0 ? wa.sole : rc;
}

struct meta_append_args {
    uint64_t ino, total;
    int64_t mtime;
    int fence;              /* the handle has had a session: check its ids */
    struct meta_arr a[5];   /* rel, id, size, off, len */
    struct meta_attr *out;
};

static int meta_append_body(struct meta_conn *c, void *arg)
{
    struct meta_append_args *aa = arg;
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)aa->ino);
    meta_p_int(&p, (int64_t)aa->total);
    meta_p_int(&p, aa->mtime ? aa->mtime : meta_now_ns());
    for (int i = 0; i < 5; i++) {
        const char *s = meta_arr_str(&aa->a[i]);
        if (!s)
            return -ENOMEM;
        meta_p_text(&p, s);
    }
    meta_p_text(&p, aa->fence ? "true" : "false");
    struct meta_q q = { .stmt = MS_APPEND, .p = &p };
    int rc = meta_run(c, &q, 1, 1);
    if (rc == 0 && PQntuples(q.res) == 1 && aa->out)
        meta_r_attr(q.res, 0, 0, aa->out);
    else if (rc == 0 && PQntuples(q.res) != 1)
        rc = 1;
    meta_q_clear(&q, 1);
    return rc;
}

int meta_append(struct meta *m, uint64_t ino, const struct meta_append_rec *recs, int n,
                int64_t mtime_ns, struct meta_attr *a, uint64_t *at)
{
    assert(n == 0 || recs);
    if (n < 0)
        return -EINVAL;
    struct meta_append_args aa = { .ino = ino, .mtime = mtime_ns, .fence = meta_fenced(m), .out = a };
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const struct meta_append_rec *r = &recs[i];
        /* pieces tile [0, total) in order: nothing is placed over another */
        if (r->rel != aa.total || (uint64_t)r->off + r->len > r->size ||
            r->size > LAYOUT_CHUNK_SIZE || r->id > (uint64_t)INT64_MAX ||
            aa.total + r->len > (uint64_t)INT64_MAX >> 1) {
            rc = -EINVAL;
            break;
        }
        int64_t v[5] = { (int64_t)r->rel, (int64_t)r->id, r->size, r->off, r->len };
        for (int j = 0; j < 5 && rc == 0; j++)
            rc = meta_arr_add(&aa.a[j], v[j]) < 0 ? -ENOMEM : 0;
        aa.total += r->len;
    }
    struct meta_attr tmp;
    if (!aa.out)
        aa.out = &tmp;
    uint64_t mark = meta_lazy_mark(m);
    if (rc == 0)
        rc = meta_tx(m, meta_append_body, &aa);
    if (rc == 0 && !meta_conn_owned(m))
        meta_lazy_covered(m, mark); /* a synchronous commit that wrote WAL */
    if (rc == 1) {
        struct meta_conn *c;
        if ((rc = meta_conn_get(m, &c)) == 0) {
            rc = meta_write_why(c, ino, aa.fence ? meta_arr_str(&aa.a[1]) : NULL);
            meta_conn_put(c);
        }
    }
    if (rc == 0 && at)
        *at = aa.out->size - aa.total;
    for (int i = 0; i < 5; i++)
        meta_arr_free(&aa.a[i]);
    return rc;
}

struct meta_compact_args {
    uint64_t ino, chunk;
    int fence;
    char *sig;                   /* the list merged, as MS_CHUNK_SIG spells it */
    struct meta_slice_arrays arr;
    struct meta_arr keep;        /* ids the new list still uses */
};

/* "pos,id,size,off,len;..." of old[0..n), oldest first. */
static char *meta_chunk_sig(const struct layout_slice *old, int n)
{
    size_t cap = (size_t)n * 80 + 1, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%" PRIu32 ",%" PRIu64 ",%" PRIu32 ",%" PRIu32
                                ",%" PRIu32, i ? ";" : "", old[i].pos, old[i].id, old[i].size,
                                old[i].off, old[i].len);
    return s;
}

/* Under the inode lock: 0 if the list is still the one merged and the
 * new ids pass the fence (their sessions share-locked until commit), else
 * -EAGAIN / -ESTALE. */
static int meta_compact_check(struct meta_conn *c, struct meta_compact_args *ca)
{
    struct meta_params p;
    meta_p_init(&p);
    meta_p_int(&p, (int64_t)ca->ino);
    meta_p_int(&p, (int64_t)ca->chunk);
    meta_p_text(&p, ca->sig);
    const char *ids = meta_arr_str(&ca->keep);
    if (!ids)
        return -ENOMEM;
    meta_p_text(&p, ids);
    meta_p_text(&p, ca->fence ? "true" : "false");
    PGresult *r;
    int rc = meta_run1(c, MS_CHUNK_SIG, &p, &r);
    if (rc < 0)
        return rc;
    int same = (int)meta_r_int(r, 0, 0), held = (int)meta_r_int(r, 0, 1);
    PQclear(r);
    if (!held)
        return meta_fence_broken(c, ids) < 0 ? -ESTALE : -EAGAIN;
    return same ? 0 : -EAGAIN;
}

static int meta_compact_body(struct meta_conn *c, void *arg)
{
    struct meta_compact_args *ca = arg;
    struct meta_lockset ls;
    int rc = meta_lock(c, &ca->ino, 1, NULL, 0, &ls);
    if (rc < 0)
        return rc;
    if (!meta_lock_find(&ls, ca->ino))
        return -ENOENT;
    if ((rc = meta_compact_check(c, ca)) < 0)
        return rc;
    const char *keep = meta_arr_str(&ca->keep);
    if (!keep)
        return -ENOMEM;
    struct meta_params pd, pa;
    meta_p_init(&pd);
    meta_p_int(&pd, (int64_t)ca->ino);
    meta_p_int(&pd, (int64_t)ca->chunk);
    meta_p_int(&pd, meta_now_ns());
    meta_p_text(&pd, keep);
    meta_p_init(&pa);
    meta_p_int(&pa, (int64_t)ca->ino);
    if ((rc = meta_slice_arrays_params(&ca->arr, &pa)) < 0)
        return rc;
    struct meta_q q[2] = { { .stmt = MS_COMPACT_DEL, .p = &pd }, { .stmt = MS_SLICES_ADD, .p = &pa } };
    rc = meta_run(c, q, 2, 1);
    meta_q_clear(q, 2);
    return rc;
}

int meta_compact(struct meta *m, uint64_t ino, uint64_t chunk, const struct layout_slice *old,
                 int old_n, const struct layout_slice *s, int n)
{
    if (n < 0 || old_n < 0 || (old_n > 0 && !old))
        return -EINVAL;
    struct meta_compact_args ca = { .ino = ino, .chunk = chunk, .fence = meta_fenced(m) };
    int rc = (ca.sig = meta_chunk_sig(old, old_n)) ? 0 : -ENOMEM;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = meta_slice_arrays_add(&ca.arr, chunk, &s[i]);
        if (rc == 0)
            rc = meta_arr_add(&ca.keep, (int64_t)s[i].id);
    }
    if (rc == 0)
        rc = meta_tx(m, meta_compact_body, &ca);
    free(ca.sig);
    meta_slice_arrays_free(&ca.arr);
    meta_arr_free(&ca.keep);
    return rc;
}

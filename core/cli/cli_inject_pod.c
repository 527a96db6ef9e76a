/* cli_inject_pod.c - what one pod spec gains from `shimfs inject`.
 *
 * Owns the injected shape: an init container (INJ_INIT_NAME, first of the
 * init containers) that copies the libraries and the CLI from the shimfs
 * image into the shared emptyDir INJ_LIB_VOL; the cache volume
 * INJ_CACHE_VOL; and in every (chosen) container both mounts, LD_PRELOAD,
 * SHIMFS_PREFIX, SHIMFS_CACHE_DIR (SHIMFS_CACHE_SIZE) and envFrom the Secret.
 * Promises: each piece is added only when missing (by name, mount path or
 * Secret name), so a second run changes nothing; a container's own
 * SHIMFS_* values are kept and its LD_PRELOAD keeps its entries after ours.
 * New keys go at the end of their mapping and new items at the end of their
 * list, in the block style and indentation around them. A shape that would
 * need guessing (flow style, aliases, LD_PRELOAD from a Secret) is an error
 * naming the place, and nothing is written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli_inject.h"

struct inj_pod {
    struct inj_edits *e;
    const struct inj_opts *o;
    const struct inj_stream *s;
    const char *where;
    char *err;
    size_t errcap;
    int sd;                   /* a list's dash column past its key's, as in `containers` */
};

/* How a list gets items: appended to it, written in place of an empty or
 * null value, or added with its key at the end of the mapping. */
enum inj_list_mode { INJ_APPEND, INJ_REPLACE, INJ_ADD_KEY };

struct inj_list {
    const char *key;
    struct inj_node *map, *seq;
    enum inj_list_mode mode;
    int kcol, dcol;           /* column of the mapping's keys, of the items' dashes */
    struct inj_buf items;
};

static int inj_pod_fail(struct inj_pod *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int inj_pod_fail(struct inj_pod *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errcap, "%s: %s", p->where, msg);
    return -EINVAL;
}

/* Flow style and aliases are not edited: say which and where. */
static int inj_pod_block(struct inj_pod *p, const struct inj_node *n, enum inj_kind kind,
                         const char *what)
{
    if (n->kind == INJ_ALIAS)
        return inj_pod_fail(p, "%s is an alias; expand it before injecting", what);
    if (n->kind != kind)
        return inj_pod_fail(p, "%s is not a %s", what, kind == INJ_MAP ? "mapping" : "list");
    if (n->flow)
        return inj_pod_fail(p, "%s is in flow style ([...] or {...}); only block style is "
                            "edited, write it as block YAML", what);
    return 0;
}

static int inj_null(const struct inj_node *n)
{
    const char *v = inj_str(n);

    return v && !n->quoted && !n->block_scalar &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
            !strcmp(v, "NULL"));
}

static int inj_list_open(struct inj_pod *p, struct inj_node *map, const char *key,
                         struct inj_list *l, const char *what)
{
    struct inj_node *k = inj_get_key(map, key), *v = inj_get(map, key);

    memset(l, 0, sizeof *l);
    l->key = key;
    l->map = map;
    l->kcol = inj_col(p->s, map->kid[0]->start);
    l->dcol = l->kcol + p->sd;
    if (!k) {
        l->mode = INJ_ADD_KEY;
        return 0;
    }
    l->kcol = inj_col(p->s, k->start);
    l->dcol = l->kcol + p->sd;
    if (inj_null(v) || (v->kind == INJ_SEQ && v->flow && v->nkid == 0)) {
        l->mode = INJ_REPLACE;
        l->seq = v;
        return 0;
    }
    int rc = inj_pod_block(p, v, INJ_SEQ, what);
    if (rc < 0)
        return rc;
    l->mode = INJ_APPEND;
    l->seq = v;
    l->dcol = inj_col(p->s, v->start);
    return 0;
}

/* Queue l's items. front: before the list's first item (else after its last). */
static int inj_list_queue(struct inj_pod *p, struct inj_list *l, int front)
{
    struct inj_buf t = { 0 };
    size_t from;
    int rc;

    if (l->items.len == 0 && !l->items.oom)
        return 0;
    switch (l->mode) {
    case INJ_APPEND:
        rc = front ? inj_insert_before(p->e, l->seq->start, &l->items)
                   : inj_insert_after(p->e, l->seq, &l->items);
        break;
    case INJ_REPLACE:
        /* `key: []` or `key: ~` loses its value; the items go on the lines
         * after the key's, which keeps its comment. */
        if (l->seq->end > l->seq->start) {
            from = l->seq->start;
            while (from > 0 && p->s->buf[from - 1] == ' ')
                from--;
            inj_splice(p->e, from, l->seq->end - from, &t);
        }
        rc = inj_insert_after(p->e, l->seq, &l->items);
        break;
    default:
        inj_line(&t, p->s, l->kcol, "%s:", l->key);
        inj_put(&t, l->items.p, l->items.len);
        t.oom |= l->items.oom;
        free(l->items.p);
        l->items = (struct inj_buf){ 0 };
        rc = inj_insert_after(p->e, l->map, &t);
        break;
    }
    if (rc == -ENOTSUP)
        return inj_pod_fail(p, "the input ends in a block scalar (| or >) without a final "
                            "line break; add one so that lines can follow it");
    if (rc < 0)
        return inj_pod_fail(p, "cannot tell where %s ends (an empty list item?)",
                            l->mode == INJ_ADD_KEY ? "this mapping" : l->key);
    return 0;
}

/* Lists of one mapping: appends first, then new keys, so that items
 * appended to a mapping's last list never land under a key added after it. */
static int inj_lists_queue(struct inj_pod *p, struct inj_list *l, size_t n)
{
    int rc = 0;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n && rc == 0; i++)
            if ((l[i].mode == INJ_ADD_KEY) == pass)
                rc = inj_list_queue(p, &l[i], 0);
    for (size_t i = 0; i < n; i++)
        free(l[i].items.p);
    return rc;
}

static void inj_env_item(struct inj_pod *p, struct inj_list *l, const char *name, const char *v)
{
    inj_kv(&l->items, p->s, l->dcol, "- name: ", name);
    inj_kv(&l->items, p->s, l->dcol + 2, "value: ", v);
}

static void inj_mount_item(struct inj_pod *p, struct inj_list *l, const char *name,
                           const char *path)
{
    inj_kv(&l->items, p->s, l->dcol, "- name: ", name);
    inj_kv(&l->items, p->s, l->dcol + 2, "mountPath: ", path);
}

/* Our library first in an existing LD_PRELOAD value, the rest kept. */
static int inj_preload(struct inj_pod *p, const struct inj_node *var, const char *cname)
{
    const struct inj_node *v = inj_get(var, "value");
    const char *old = inj_str(v), *lib = p->o->lib;
    struct inj_buf b = { 0 };
    size_t n = strlen(lib);
    char *joined;

    if (!v && inj_get(var, "valueFrom"))
        return inj_pod_fail(p, "container %s: LD_PRELOAD comes from valueFrom; set it to a "
                            "value so that %s can be put first", cname, lib);
    if (!v || !old || v->block_scalar || v->start == v->end)
        return inj_pod_fail(p, "container %s: LD_PRELOAD has no plain value to add %s to",
                            cname, lib);
    for (const char *q = old; (q = strstr(q, lib)); q += n)
        if ((q == old || q[-1] == ':' || q[-1] == ' ') && (!q[n] || q[n] == ':' || q[n] == ' '))
            return 0;           /* already there */
    if (asprintf(&joined, "%s%s%s", lib, *old ? ":" : "", old) < 0)
        return -ENOMEM;
    inj_scalar_like(&b, joined, v);
    free(joined);
    inj_splice(p->e, v->start, v->end - v->start, &b);
    return 0;
}

static int inj_has_secret(const struct inj_node *envfrom, const char *secret)
{
    for (size_t i = 0; envfrom && envfrom->kind == INJ_SEQ && i < envfrom->nkid; i++) {
        const char *v = inj_str(inj_get(inj_get(envfrom->kid[i], "secretRef"), "name"));
        if (v && strcmp(v, secret) == 0)
            return 1;
    }
    return 0;
}

static int inj_has_mount(const struct inj_node *mounts, const char *name, const char *path)
{
    for (size_t i = 0; mounts && mounts->kind == INJ_SEQ && i < mounts->nkid; i++) {
        const char *n = inj_str(inj_get(mounts->kid[i], "name"));
        const char *m = inj_str(inj_get(mounts->kid[i], "mountPath"));
        if ((n && !strcmp(n, name)) || (m && !strcmp(m, path)))
            return 1;
    }
    return 0;
}

static int inj_container(struct inj_pod *p, struct inj_node *c, size_t idx)
{
    const struct inj_opts *o = p->o;
    struct inj_list l[3];
    struct inj_node *env, *var, *mounts;
    const char *cname = inj_str(inj_get(c, "name"));
    char what[320];
    int rc;

    if (!cname)
        cname = "(unnamed)";
    snprintf(what, sizeof what, "container %zu", idx + 1);
    rc = inj_pod_block(p, c, INJ_MAP, what);
    if (rc < 0)
        return rc;
    snprintf(what, sizeof what, "container %s: env", cname);
    if ((rc = inj_list_open(p, c, "env", &l[0], what)) < 0)
        return rc;
    snprintf(what, sizeof what, "container %s: envFrom", cname);
    if ((rc = inj_list_open(p, c, "envFrom", &l[1], what)) < 0)
        return rc;
    snprintf(what, sizeof what, "container %s: volumeMounts", cname);
    if ((rc = inj_list_open(p, c, "volumeMounts", &l[2], what)) < 0)
        return rc;

    env = l[0].mode == INJ_APPEND ? l[0].seq : NULL;
    var = inj_named(env, "LD_PRELOAD");
    if (var)
        rc = inj_preload(p, var, cname);
    else
        inj_env_item(p, &l[0], "LD_PRELOAD", o->lib);
    if (!inj_named(env, "SHIMFS_PREFIX"))
        inj_env_item(p, &l[0], "SHIMFS_PREFIX", o->prefix);
    if (!inj_named(env, "SHIMFS_CACHE_DIR"))
        inj_env_item(p, &l[0], "SHIMFS_CACHE_DIR", o->cache_dir);
    if (o->cache_size && !inj_named(env, "SHIMFS_CACHE_SIZE"))
        inj_env_item(p, &l[0], "SHIMFS_CACHE_SIZE", o->cache_size);

    if (!inj_has_secret(l[1].mode == INJ_APPEND ? l[1].seq : NULL, o->secret)) {
        inj_line(&l[1].items, p->s, l[1].dcol, "- secretRef:");
        inj_kv(&l[1].items, p->s, l[1].dcol + 4, "name: ", o->secret);
    }

    mounts = l[2].mode == INJ_APPEND ? l[2].seq : NULL;
    if (!inj_has_mount(mounts, INJ_LIB_VOL, o->lib_dir))
        inj_mount_item(p, &l[2], INJ_LIB_VOL, o->lib_dir);
    if (!inj_has_mount(mounts, INJ_CACHE_VOL, o->cache_dir))
        inj_mount_item(p, &l[2], INJ_CACHE_VOL, o->cache_dir);
    if (rc < 0) {
        for (size_t i = 0; i < 3; i++)
            free(l[i].items.p);
        return rc;
    }
    return inj_lists_queue(p, l, 3);
}

static int inj_chosen(const struct inj_opts *o, const struct inj_node *c)
{
    const char *name = inj_str(inj_get(c, "name"));

    if (!o->nonly)
        return 1;
    for (size_t i = 0; name && i < o->nonly; i++)
        if (strcmp(o->only[i], name) == 0)
            return 1;
    return 0;
}

/* Our init container: copies the make-install layout of the image
 * (PREFIX/lib/shimfs/ and PREFIX/bin/shimfs) into the shared volume. */
static void inj_init_item(struct inj_pod *p, struct inj_list *l)
{
    const struct inj_opts *o = p->o;
    struct inj_buf *b = &l->items;
    int d = l->dcol, seq = d + 2 + p->sd;
    char src[4200];

    inj_kv(b, p->s, d, "- name: ", INJ_INIT_NAME);
    inj_kv(b, p->s, d + 2, "image: ", o->image);
    inj_line(b, p->s, d + 2, "command:");
    inj_kv(b, p->s, seq, "- ", "cp");
    inj_kv(b, p->s, seq, "- ", "-a");
    snprintf(src, sizeof src, "%s/lib/shimfs/.", o->image_prefix);
    inj_kv(b, p->s, seq, "- ", src);
    snprintf(src, sizeof src, "%s/bin/shimfs", o->image_prefix);
    inj_kv(b, p->s, seq, "- ", src);
    snprintf(src, sizeof src, "%s/", o->lib_dir);
    inj_kv(b, p->s, seq, "- ", src);
    inj_line(b, p->s, d + 2, "volumeMounts:");
    inj_kv(b, p->s, seq, "- name: ", INJ_LIB_VOL);
    inj_kv(b, p->s, seq + 2, "mountPath: ", o->lib_dir);
}

static void inj_volume_items(struct inj_pod *p, struct inj_list *l)
{
    const struct inj_opts *o = p->o;
    struct inj_node *vols = l->mode == INJ_APPEND ? l->seq : NULL;
    struct inj_buf *b = &l->items;
    int d = l->dcol;

    if (!inj_named(vols, INJ_LIB_VOL)) {
        inj_kv(b, p->s, d, "- name: ", INJ_LIB_VOL);
        inj_line(b, p->s, d + 2, "emptyDir: {}");
    }
    if (inj_named(vols, INJ_CACHE_VOL))
        return;
    inj_kv(b, p->s, d, "- name: ", INJ_CACHE_VOL);
    if (o->cache_host_path) {
        inj_line(b, p->s, d + 2, "hostPath:");
        inj_kv(b, p->s, d + 4, "path: ", o->cache_host_path);
        inj_line(b, p->s, d + 4, "type: DirectoryOrCreate");
    } else if (o->cache_pvc) {
        inj_line(b, p->s, d + 2, "persistentVolumeClaim:");
        inj_kv(b, p->s, d + 4, "claimName: ", o->cache_pvc);
    } else {
        inj_line(b, p->s, d + 2, "emptyDir: {}");
    }
}

int inj_pod(struct inj_edits *e, const struct inj_opts *o, struct inj_node *spec,
            const char *where, char *err, size_t errcap)
{
    struct inj_pod p = { .e = e, .o = o, .s = e->s, .where = where, .err = err,
                         .errcap = errcap };
    struct inj_node *containers, *key;
    struct inj_list l[2];
    int rc = inj_pod_block(&p, spec, INJ_MAP, "the pod spec");

    if (rc < 0)
        return rc;
    containers = inj_get(spec, "containers");
    key = inj_get_key(spec, "containers");
    if (!containers)
        return inj_pod_fail(&p, "the pod spec has no containers");
    if ((rc = inj_pod_block(&p, containers, INJ_SEQ, "containers")) < 0)
        return rc;
    p.sd = inj_col(p.s, containers->start) - inj_col(p.s, key->start);
    if (p.sd < 0)
        p.sd = 0;
    /* Deeper edits first: a container's additions may end where the pod
     * spec's do. A pod without a chosen container is left alone. */
    size_t chosen = 0;
    for (size_t i = 0; i < containers->nkid; i++) {
        if (!inj_chosen(o, containers->kid[i]))
            continue;
        chosen++;
        if ((rc = inj_container(&p, containers->kid[i], i)) < 0)
            return rc;
    }
    if (!chosen)
        return 0;

    if ((rc = inj_list_open(&p, spec, "initContainers", &l[0], "initContainers")) < 0)
        return rc;
    if ((rc = inj_list_open(&p, spec, "volumes", &l[1], "volumes")) < 0)
        return rc;
    inj_volume_items(&p, &l[1]);
    if (l[0].mode == INJ_APPEND && inj_named(l[0].seq, INJ_INIT_NAME))
        return inj_lists_queue(&p, &l[1], 1);
    inj_init_item(&p, &l[0]);
    if (l[0].mode == INJ_APPEND) {
        /* First, so that the user's init containers may use the library. */
        rc = inj_list_queue(&p, &l[0], 1);
        if (rc < 0) {
            free(l[1].items.p);
            return rc;
        }
        return inj_lists_queue(&p, &l[1], 1);
    }
    return inj_lists_queue(&p, l, 2);
}

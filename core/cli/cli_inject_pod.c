/* cli_inject_pod.c - what one pod spec gains from `shimfs inject`.
 *
 * Owns the injected shape: an init container (INJ_INIT_NAME, first of the
 * init containers) that copies the libraries and the CLI from the shimfs
 * image into the shared emptyDir INJ_LIB_VOL (and with --warmup a second,
 * INJ_WARM_NAME, filling the cache); the cache volume
 * INJ_CACHE_VOL; and in every (chosen) container both mounts, LD_PRELOAD,
 * LD_AUDIT (libshimfs-audit.so beside the preload), SHIMFS_PREFIX,
 * SHIMFS_CACHE_DIR (SHIMFS_CACHE_SIZE) and envFrom the Secret.
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
    const char *why = inj_block_problem(n, kind);

    return why ? inj_pod_fail(p, "%s %s", what, why) : 0;
}

static int inj_pod_list(struct inj_pod *p, struct inj_node *map, const char *key,
                        struct inj_list *l, const char *what)
{
    const char *why = NULL;

    if (inj_list_open(p->s, map, key, p->sd, l, &why) < 0)
        return inj_pod_fail(p, "%s %s", what, why);
    return 0;
}

/* A queueing failure said as where it happened. */
static int inj_pod_queued(struct inj_pod *p, int rc, const char *key)
{
    if (rc == -ENOTSUP)
        return inj_pod_fail(p, "the input ends in a block scalar (| or >) without a final "
                            "line break; add one so that lines can follow it");
    if (rc < 0)
        return inj_pod_fail(p, "cannot tell where the %s list or its mapping ends "
                            "(an empty list item?)", key);
    return 0;
}

static int inj_pod_lists(struct inj_pod *p, struct inj_list *l, size_t n)
{
    return inj_pod_queued(p, inj_lists_queue(p->e, l, n), l[0].key);
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
    if ((rc = inj_pod_list(p, c, "env", &l[0], what)) < 0)
        return rc;
    snprintf(what, sizeof what, "container %s: envFrom", cname);
    if ((rc = inj_pod_list(p, c, "envFrom", &l[1], what)) < 0)
        return rc;
    snprintf(what, sizeof what, "container %s: volumeMounts", cname);
    if ((rc = inj_pod_list(p, c, "volumeMounts", &l[2], what)) < 0)
        return rc;

    env = l[0].mode == INJ_APPEND ? l[0].seq : NULL;
    var = inj_named(env, "LD_PRELOAD");
    if (var)
        rc = inj_preload(p, var, cname);
    else
        inj_env_item(p, &l[0], "LD_PRELOAD", o->lib);
    /* The loader's searches of volume folders (docs/libraries.md); a value
     * of the pod's own is left alone. */
    if (!inj_named(env, "LD_AUDIT"))
        inj_env_item(p, &l[0], "LD_AUDIT", o->audit);
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
    if (!inj_has_mount(mounts, INJ_CACHE_VOL, o->cache_mount))
        inj_mount_item(p, &l[2], INJ_CACHE_VOL, o->cache_mount);
    if (rc < 0) {
        for (size_t i = 0; i < 3; i++)
            free(l[i].items.p);
        return rc;
    }
    return inj_pod_lists(p, l, 3);
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

/* The init container's script; the paths come as arguments ($1 the image's
 * PREFIX, $2 the shared library folder, $3 the cache volume's mount), so
 * no user text is ever parsed by the shell. shimfs uses a cache folder
 * only below folders nobody else can swap (docs/design.md): an emptyDir is
 * 0777, so its mount is made sticky, which takes root; a failure leaves a
 * warning, not a pod that cannot start. */
static const char *const inj_init_script[] = {
    "set -e",
    "cp -a \"$1\"/lib/shimfs/* \"$1/bin/shimfs\" \"$2/\"",
    "[ -k \"$3\" ] || chmod 1777 \"$3\" || echo \"shimfs-init: cannot make $3 sticky (1777)"
    " as uid $(id -u); the cache folder below it must be usable as it is\" >&2",
};

/* Our init container: copies the make-install layout of the image
 * (PREFIX/lib/shimfs/ and PREFIX/bin/shimfs) into the shared volume and
 * readies the cache volume's mount. */
static void inj_init_item(struct inj_pod *p, struct inj_list *l)
{
    const struct inj_opts *o = p->o;
    struct inj_buf *b = &l->items;
    int d = l->dcol, seq = d + 2 + p->sd;

    inj_kv(b, p->s, d, "- name: ", INJ_INIT_NAME);
    inj_kv(b, p->s, d + 2, "image: ", o->image);
    inj_line(b, p->s, d + 2, "command:");
    inj_kv(b, p->s, seq, "- ", "sh");
    inj_kv(b, p->s, seq, "- ", "-c");
    inj_line(b, p->s, seq, "- |");
    for (size_t i = 0; i < sizeof inj_init_script / sizeof inj_init_script[0]; i++)
        inj_line(b, p->s, seq + 2, "%s", inj_init_script[i]);
    inj_kv(b, p->s, seq, "- ", INJ_INIT_NAME);
    inj_kv(b, p->s, seq, "- ", o->image_prefix);
    inj_kv(b, p->s, seq, "- ", o->lib_dir);
    inj_kv(b, p->s, seq, "- ", o->cache_mount);
    inj_line(b, p->s, d + 2, "volumeMounts:");
    inj_kv(b, p->s, seq, "- name: ", INJ_LIB_VOL);
    inj_kv(b, p->s, seq + 2, "mountPath: ", o->lib_dir);
    inj_kv(b, p->s, seq, "- name: ", INJ_CACHE_VOL);
    inj_kv(b, p->s, seq + 2, "mountPath: ", o->cache_mount);
}

/* With --warmup: the cache filled before the containers start, by the
 * image's own shimfs, with the containers' Secret and cache volume. */
static void inj_warm_item(struct inj_pod *p, struct inj_list *l)
{
    const struct inj_opts *o = p->o;
    struct inj_buf *b = &l->items;
    int d = l->dcol, seq = d + 2 + p->sd;
    char bin[4200];

    if (!o->nwarm)
        return;
    inj_kv(b, p->s, d, "- name: ", INJ_WARM_NAME);
    inj_kv(b, p->s, d + 2, "image: ", o->image);
    inj_line(b, p->s, d + 2, "command:");
    snprintf(bin, sizeof bin, "%s/bin/shimfs", o->image_prefix);
    inj_kv(b, p->s, seq, "- ", bin);
    inj_kv(b, p->s, seq, "- ", "warmup");
    for (size_t i = 0; i < o->nwarm; i++)
        inj_kv(b, p->s, seq, "- ", o->warm[i]);
    inj_line(b, p->s, d + 2, "env:");
    inj_kv(b, p->s, seq, "- name: ", "SHIMFS_CACHE_DIR");
    inj_kv(b, p->s, seq + 2, "value: ", o->cache_dir);
    if (o->cache_size) {
        inj_kv(b, p->s, seq, "- name: ", "SHIMFS_CACHE_SIZE");
        inj_kv(b, p->s, seq + 2, "value: ", o->cache_size);
    }
    inj_line(b, p->s, d + 2, "envFrom:");
    inj_line(b, p->s, seq, "- secretRef:");
    inj_kv(b, p->s, seq + 4, "name: ", o->secret);
    inj_line(b, p->s, d + 2, "volumeMounts:");
    inj_kv(b, p->s, seq, "- name: ", INJ_CACHE_VOL);
    inj_kv(b, p->s, seq + 2, "mountPath: ", o->cache_mount);
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

    if ((rc = inj_pod_list(&p, spec, "initContainers", &l[0], "initContainers")) < 0)
        return rc;
    if ((rc = inj_pod_list(&p, spec, "volumes", &l[1], "volumes")) < 0)
        return rc;
    inj_volume_items(&p, &l[1]);
    if (l[0].mode == INJ_APPEND) {
        /* The copy goes first, so that the user's init containers may use
         * the library; the warmup last, after what they prepare. */
        if (!inj_named(l[0].seq, INJ_INIT_NAME)) {
            inj_init_item(&p, &l[0]);
            rc = inj_pod_queued(&p, inj_list_queue(e, &l[0], 1), l[0].key);
            if (rc < 0) {
                free(l[1].items.p);
                return rc;
            }
        }
        if (!inj_named(l[0].seq, INJ_WARM_NAME))
            inj_warm_item(&p, &l[0]);
        return inj_pod_lists(&p, l, 2);
    }
    inj_init_item(&p, &l[0]);
    inj_warm_item(&p, &l[0]);
    return inj_pod_lists(&p, l, 2);
}

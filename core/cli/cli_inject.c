/* cli_inject.c - `shimfs inject`: Kubernetes YAML in, the same YAML with
 * shimfs added to every pod template out.
 *
 * Owns the options and where pod specs live in each kind: Pod, PodTemplate,
 * the workload kinds with spec.template (Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController, Job), CronJob, JobSet, any kind with
 * spec.*ReplicaSpecs.<role>.template (PyTorchJob, TFJob, MPIJob ...), and
 * List kinds item by item. Other documents pass through untouched.
 * Promises: the whole input is read and checked before anything is written:
 * broken YAML, a known kind without a pod template, or a shape the command
 * does not edit is one line on stderr, exit 1 and nothing on stdout.
 * Idempotent: output fed back in comes out unchanged (cli_inject_pod.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_inject.h"

#define INJ_INPUT_MAX (64u << 20)

static const char cli_inject_usage[] =
    "usage: shimfs inject [OPTIONS] < manifests.yaml > injected.yaml\n"
    "\n"
    "Add shimfs to every pod template of Kubernetes YAML read on standard\n"
    "input (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,\n"
    "JobSet, PyTorchJob-style *ReplicaSpecs, List; several documents with ---)\n"
    "and write it to standard output, otherwise byte for byte: an init container\n"
    "copying the library from the shimfs image into a shared emptyDir, a cache\n"
    "volume, and in each container the mounts, LD_PRELOAD (entries already\n"
    "there are kept after ours), LD_AUDIT (the loader's audit library, for\n"
    "libraries in the volume), SHIMFS_PREFIX, SHIMFS_CACHE_DIR, and envFrom\n"
    "the Secret holding SHIMFS_META and the AWS_* keys. What a container sets\n"
    "itself is kept; running it again changes nothing.\n"
    "\n"
    "  --prefix PATH          where the volume appears (default /mnt/shimfs)\n"
    "  --secret NAME          Secret with SHIMFS_META, AWS_* (default shimfs)\n"
    "  --image IMAGE          the init container's image (default shimfs)\n"
    "  --image-prefix PATH    where that image holds shimfs: PATH/lib/shimfs/ and\n"
    "                         PATH/bin/shimfs (default /opt/shimfs)\n"
    "  --lib-dir PATH         where the shared emptyDir is mounted (default /shimfs)\n"
    "  --cache-dir PATH       SHIMFS_CACHE_DIR (default /var/cache/shimfs/cache); the\n"
    "                         cache volume is mounted at the folder above it\n"
    "  --cache-size SIZE      also set SHIMFS_CACHE_SIZE (e.g. 200G)\n"
    "  --cache-host-path DIR  cache volume on the node (hostPath) instead of an\n"
    "                         emptyDir: shared by the node's pods of one uid\n"
    "  --cache-pvc NAME       cache volume from a PersistentVolumeClaim\n"
    "  --container NAME       inject only this container (repeatable; default all\n"
    "                         of spec.containers)\n"
    "  --warmup PATH          fill the cache first: a last init container runs\n"
    "                         `shimfs warmup PATH...` (volume paths; repeatable)\n"
    "  -h, --help             this help\n";

enum {
    OPT_PREFIX = 0x100, OPT_SECRET, OPT_IMAGE, OPT_IMAGE_PREFIX, OPT_LIB_DIR, OPT_CACHE_DIR,
    OPT_CACHE_SIZE, OPT_HOST_PATH, OPT_PVC, OPT_CONTAINER, OPT_WARMUP,
};

struct inj_run {
    struct inj_edits *e;
    const struct inj_opts *o;
    char err[1024];
};

static int inj_doc(struct inj_run *r, struct inj_node *root, const char *where);

/* Follow keys a.b.c from n; a missing step is an error naming the path. */
static int inj_walk(struct inj_run *r, struct inj_node *n, const char *const *path,
                    const char *where, struct inj_node **out)
{
    char done[256] = "";

    for (; *path; path++) {
        size_t len = strlen(done);
        snprintf(done + len, sizeof done - len, "%s%s", len ? "." : "", *path);
        if (n->kind == INJ_ALIAS) {
            snprintf(r->err, sizeof r->err, "%s: %s is an alias; expand it before injecting",
                     where, done);
            return -EINVAL;
        }
        n = inj_get(n, *path);
        if (!n) {
            snprintf(r->err, sizeof r->err, "%s: %s is missing: no pod template", where, done);
            return -EINVAL;
        }
    }
    *out = n;
    return 0;
}

static int inj_template(struct inj_run *r, struct inj_node *n, const char *const *path,
                        const char *where)
{
    struct inj_node *spec;
    int rc = inj_walk(r, n, path, where, &spec);

    return rc < 0 ? rc : inj_pod(r->e, r->o, spec, where, r->err, sizeof r->err);
}

static const char *const inj_path_pod[] = { "spec", NULL };
static const char *const inj_path_template[] = { "template", "spec", NULL };
static const char *const inj_path_workload[] = { "spec", "template", "spec", NULL };
static const char *const inj_path_cronjob[] = { "spec", "jobTemplate", "spec", "template",
                                                "spec", NULL };
static const char *const inj_path_jobset[] = { "template", "spec", "template", "spec", NULL };

static const struct { const char *kind; const char *const *path; } inj_kinds[] = {
    { "Pod", inj_path_pod },
    { "PodTemplate", inj_path_template },
    { "Deployment", inj_path_workload },
    { "StatefulSet", inj_path_workload },
    { "DaemonSet", inj_path_workload },
    { "ReplicaSet", inj_path_workload },
    { "ReplicationController", inj_path_workload },
    { "Job", inj_path_workload },
    { "CronJob", inj_path_cronjob },
};

static int inj_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every spec.<x>ReplicaSpecs.<role>.template (Kubeflow's training jobs). */
static int inj_replica_specs(struct inj_run *r, struct inj_node *spec, const char *where,
                             int *found)
{
    char w[512];
    int rc;

    for (size_t i = 0; spec && spec->kind == INJ_MAP && i + 1 < spec->nkid; i += 2) {
        const char *key = inj_str(spec->kid[i]);
        struct inj_node *roles = spec->kid[i + 1];
        if (!key || !inj_ends_with(key, "ReplicaSpecs") || roles->kind != INJ_MAP)
            continue;
        for (size_t j = 0; j + 1 < roles->nkid; j += 2) {
            const char *role = inj_str(roles->kid[j]);
            snprintf(w, sizeof w, "%.200s %.100s.%.100s", where, key, role ? role : "?");
            if ((rc = inj_template(r, roles->kid[j + 1], inj_path_template, w)) < 0)
                return rc;
            (*found)++;
        }
    }
    return 0;
}

static int inj_kind(struct inj_run *r, struct inj_node *root, const char *kind,
                    const char *where)
{
    struct inj_node *spec = inj_get(root, "spec"), *list;
    char w[512];
    int found = 0, rc;

    for (size_t i = 0; i < sizeof inj_kinds / sizeof inj_kinds[0]; i++)
        if (strcmp(kind, inj_kinds[i].kind) == 0)
            return inj_template(r, root, inj_kinds[i].path, where);
    if (inj_ends_with(kind, "List") && (list = inj_get(root, "items")) && list->kind == INJ_SEQ) {
        for (size_t i = 0; i < list->nkid; i++) {
            snprintf(w, sizeof w, "%.400s item %zu", where, i + 1);
            if ((rc = inj_doc(r, list->kid[i], w)) < 0)
                return rc;
        }
        return 0;
    }
    if (strcmp(kind, "JobSet") == 0 && (list = inj_get(spec, "replicatedJobs")) &&
        list->kind == INJ_SEQ) {
        for (size_t i = 0; i < list->nkid; i++) {
            snprintf(w, sizeof w, "%.400s replicatedJobs %zu", where, i + 1);
            if ((rc = inj_template(r, list->kid[i], inj_path_jobset, w)) < 0)
                return rc;
        }
        return 0;
    }
    return inj_replica_specs(r, spec, where, &found);
}

/* One document (or List item): its kind says where its pod specs are. */
static int inj_doc(struct inj_run *r, struct inj_node *root, const char *where)
{
    const char *kind = inj_str(inj_get(root, "kind"));
    const char *name = inj_str(inj_get(inj_get(root, "metadata"), "name"));
    char w[512];

    if (!kind)
        return 0;               /* not a Kubernetes object: passed through */
    snprintf(w, sizeof w, "%.200s (%.100s%s%.100s)", where, kind, name ? " " : "", name ? name : "");
    return inj_kind(r, root, kind, w);
}

static int inj_read_all(FILE *in, char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    while ((got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            char *b;
            if (cap >= INJ_INPUT_MAX) {
                free(buf);
                return -EFBIG;
            }
            b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return -ENOMEM;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (ferror(in)) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* A path option: absolute, without trailing slashes (they are ours to add). */
static int inj_path_opt(const char *opt, char *arg, const char **dst)
{
    size_t n = strlen(arg);

    if (arg[0] != '/')
        return cli_usage_error("inject", "%s needs an absolute path, not '%s'", opt, arg);
    while (n > 1 && arg[n - 1] == '/')
        arg[--n] = '\0';
    *dst = arg;
    return 0;
}

static int inj_options(int argc, char **argv, struct inj_opts *o, int *code)
{
    static const struct option opts[] = {
        { "prefix", required_argument, NULL, OPT_PREFIX },
        { "secret", required_argument, NULL, OPT_SECRET },
        { "image", required_argument, NULL, OPT_IMAGE },
        { "image-prefix", required_argument, NULL, OPT_IMAGE_PREFIX },
        { "lib-dir", required_argument, NULL, OPT_LIB_DIR },
        { "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
        { "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
        { "cache-host-path", required_argument, NULL, OPT_HOST_PATH },
        { "cache-pvc", required_argument, NULL, OPT_PVC },
        { "container", required_argument, NULL, OPT_CONTAINER },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, rc = 0;

    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (cli_common_option(c, "inject", cli_inject_usage, argv, code) < 0)
            return -1;
        if (c != OPT_PREFIX && c != OPT_IMAGE_PREFIX && c != OPT_LIB_DIR &&
            c != OPT_CACHE_DIR && c != OPT_HOST_PATH && !*optarg)
            rc = cli_usage_error("inject", "%s needs a value", argv[optind - 1]);
        else if (c == OPT_PREFIX)
            rc = inj_path_opt("--prefix", optarg, &o->prefix);
        else if (c == OPT_IMAGE_PREFIX)
            rc = inj_path_opt("--image-prefix", optarg, &o->image_prefix);
        else if (c == OPT_LIB_DIR)
            rc = inj_path_opt("--lib-dir", optarg, &o->lib_dir);
        else if (c == OPT_CACHE_DIR)
            rc = inj_path_opt("--cache-dir", optarg, &o->cache_dir);
        else if (c == OPT_HOST_PATH)
            rc = inj_path_opt("--cache-host-path", optarg, &o->cache_host_path);
        else if (c == OPT_SECRET)
            o->secret = optarg;
        else if (c == OPT_IMAGE)
            o->image = optarg;
        else if (c == OPT_CACHE_SIZE)
            o->cache_size = optarg;
        else if (c == OPT_PVC)
            o->cache_pvc = optarg;
        else if (c == OPT_CONTAINER)
            o->only[o->nonly++] = optarg;
        else if (c == OPT_WARMUP)
            o->warm[o->nwarm++] = optarg;
    }
    if (rc == 0 && optind < argc)
        rc = cli_usage_error("inject", "unexpected argument '%s'", argv[optind]);
    if (rc == 0 && o->cache_host_path && o->cache_pvc)
        rc = cli_usage_error("inject", "--cache-host-path and --cache-pvc exclude each other");
    if (rc == 0 &&
        ((size_t)snprintf(o->lib, sizeof o->lib, "%s/libshimfs.so", o->lib_dir) >= sizeof o->lib ||
         (size_t)snprintf(o->audit, sizeof o->audit, "%s/libshimfs-audit.so", o->lib_dir) >=
             sizeof o->audit))
        rc = cli_usage_error("inject", "--lib-dir is too long");
    if (rc == 0) {
        /* The cache folder is made by its user inside the volume, whose
         * mount must be a folder that only root can change (docs/design.md). */
        const char *slash = strrchr(o->cache_dir, '/');
        size_t n = (size_t)(slash - o->cache_dir);
        if (n == 0 || n >= sizeof o->cache_mount)
            rc = cli_usage_error("inject", "--cache-dir needs a parent folder other than / "
                                 "(the cache volume is mounted there), not '%s'", o->cache_dir);
        else
            snprintf(o->cache_mount, sizeof o->cache_mount, "%.*s", (int)n, o->cache_dir);
    }
    if (rc == 0 && isatty(STDIN_FILENO))
        rc = cli_usage_error("inject", "reads YAML on standard input (shimfs inject < app.yaml)");
    *code = rc;
    return rc ? -1 : 0;
}

static int inj_run(struct inj_opts *o, const char *buf, size_t len)
{
    struct inj_stream s;
    struct inj_edits e = { .s = &s };
    struct inj_run r = { .e = &e, .o = o };
    char where[64];
    int rc = inj_parse(&s, buf, len, r.err, sizeof r.err);

    if (rc == -EINVAL)
        return cli_fail("inject", "standard input is not valid YAML", "%s", r.err);
    if (rc < 0)
        return cli_fail("inject", "standard input", "%s", strerror(-rc));
    for (size_t i = 0; i < s.ndocs && rc == 0; i++) {
        snprintf(where, sizeof where, "document %zu", i + 1);
        if (s.docs[i].root)
            rc = inj_doc(&r, s.docs[i].root, where);
    }
    if (rc == -EINVAL)
        fprintf(stderr, "shimfs inject: %s\n", r.err);
    else if (rc < 0 || (rc = e.oom ? -ENOMEM : 0) < 0)
        cli_fail("inject", "standard input", "%s", strerror(-rc));
    else if ((rc = inj_write(&e, stdout)) < 0)
        cli_fail("inject", "standard output", "%s", strerror(-rc));
    inj_edits_free(&e);
    inj_stream_free(&s);
    return rc < 0 ? CLI_FAIL : CLI_OK;
}

int cli_cmd_inject(int argc, char **argv)
{
    struct inj_opts o = {
        .prefix = "/mnt/shimfs", .secret = "shimfs", .image = "shimfs",
        .image_prefix = "/opt/shimfs", .lib_dir = "/shimfs",
        .cache_dir = "/var/cache/shimfs/cache",
    };
    char *buf;
    size_t len;
    int code = CLI_OK, rc;

    o.only = calloc((size_t)argc, sizeof *o.only);
    o.warm = calloc((size_t)argc, sizeof *o.warm);
    if (!o.only || !o.warm) {
        free(o.only);
        free(o.warm);
        return cli_fail("inject", "options", "%s", strerror(ENOMEM));
    }
    if (inj_options(argc, argv, &o, &code) < 0) {
        free(o.only);
        free(o.warm);
        return code;
    }
    rc = inj_read_all(stdin, &buf, &len);
    if (rc < 0) {
        free(o.only);
        free(o.warm);
        if (rc == -EFBIG)
            return cli_fail("inject", "standard input", "larger than %u MiB",
                            INJ_INPUT_MAX >> 20);
        return cli_fail("inject", "standard input", "%s", strerror(-rc));
    }
    code = inj_run(&o, buf, len);
    free(buf);
    free(o.only);
    free(o.warm);
    return code;
}

/* cli_format.c - `shimfs format`: create a volume.
 *
 * Promises: every argument is validated before anything is touched; the
 * database is asked first (an existing volume is refused without --force);
 * the bucket is proven usable with a probe object (put, read back and
 * compare, delete) and a failure names the step and the reason; only then
 * is the schema applied and the settings stored (meta_format, one
 * transaction). The volume uuid comes from /dev/urandom.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "config.h"
#include "layout.h"
#include "nodemeta.h"
#include "objstore.h"

static const char cli_format_usage[] =
    "usage: shimfs format NAME --bucket URL [options]\n"
    "\n"
    "Create volume NAME: the metadata schema in the database and the volume's\n"
    "settings; the bucket is checked with a probe object first.\n"
    "\n"
    "  --bucket URL        file:///dir or http(s)://host[:port]/bucket\n"
    "                      (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)\n"
    "  --block-size SIZE   block size, a power of two from 64K to 16M (default 4M)\n"
    "  --compress SPEC     zstd, zstd:LEVEL or none (default zstd:1)\n"
    "  --meta URL          database (libpq URL or conninfo); default SHIMFS_META,\n"
    "                      else libpq's PG* variables\n"
    "  --force             wipe an existing volume in that database\n"
    "  -h, --help          this help\n";

struct cli_format_args {
    const char *name, *bucket;
    uint32_t block_size;
    int algo, level, force;
};

static const struct { int err; const char *hint; } cli_store_hints[] = {
    { ECONNREFUSED, "server unreachable" },
    { EHOSTUNREACH, "server unreachable" },
    { ETIMEDOUT,    "server did not answer in time" },
    { EACCES,       "credentials refused" },
    { EPERM,        "credentials refused" },
    { ENOENT,       "no such bucket or directory" },
    { EINVAL,       "bad bucket URL" },
};

static const char *cli_store_reason(int err, char *buf, size_t cap)
{
    int e = err < 0 ? -err : err;

    for (size_t i = 0; i < sizeof cli_store_hints / sizeof cli_store_hints[0]; i++)
        if (cli_store_hints[i].err == e) {
            snprintf(buf, cap, "%s (%s)", strerror(e), cli_store_hints[i].hint);
            return buf;
        }
    snprintf(buf, cap, "%s", strerror(e));
    return buf;
}

/* S3 URLs never carry secrets: they would be stored in the database. */
static int cli_format_url_has_userinfo(const char *url)
{
    const char *host = strstr(url, "://");
    if (!host)
        return 0;
    host += 3;
    size_t alen = strcspn(host, "/?#");
    return memchr(host, '@', alen) != NULL;
}

static int cli_format_parse(int argc, char **argv, struct cli_format_args *a, int *code)
{
    static const struct option opts[] = {
        { "bucket", required_argument, NULL, 'b' },
        { "block-size", required_argument, NULL, 's' },
        { "compress", required_argument, NULL, 'c' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *cmd = "format", *bs = "4M", *comp = "zstd:1";
    uint64_t size;
    int c;

    memset(a, 0, sizeof *a);
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, cmd, cli_format_usage, argv, code);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        switch (c) {
        case 'b': a->bucket = optarg; break;
        case 's': bs = optarg; break;
        case 'c': comp = optarg; break;
        case 'f': a->force = 1; break;
        }
    }
    *code = CLI_USAGE;
    if (optind != argc - 1) {
        cli_usage_error(cmd, optind >= argc ? "missing volume NAME" : "too many arguments");
        return -1;
    }
    a->name = argv[optind];
    if (!*a->name || strlen(a->name) >= sizeof ((struct meta_settings *)0)->name) {
        cli_usage_error(cmd, "volume NAME must be 1 to 127 bytes");
        return -1;
    }
    if (!a->bucket) {
        cli_usage_error(cmd, "missing --bucket URL");
        return -1;
    }
    if (cli_format_url_has_userinfo(a->bucket)) {
        cli_usage_error(cmd, "credentials do not belong in the bucket URL; "
                             "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return -1;
    }
    struct obj_url u;
    if (strlen(a->bucket) >= sizeof ((struct meta_settings *)0)->bucket ||
        obj_parse_url(a->bucket, &u) < 0) {
        cli_usage_error(cmd, "bad --bucket URL '%s' (want file:///dir, http(s)://host[:port]/bucket[/prefix] or s3://bucket[/prefix])",
                        a->bucket);
        return -1;
    }
    if (layout_parse_size(bs, &size) < 0 || size < LAYOUT_MIN_BLOCK ||
        size > LAYOUT_MAX_BLOCK || (size & (size - 1))) {
        cli_usage_error(cmd, "bad --block-size '%s': must be a power of two from 64K to 16M", bs);
        return -1;
    }
    a->block_size = (uint32_t)size;
    if (codec_parse(comp, &a->algo, &a->level) < 0) {
        cli_usage_error(cmd, "bad --compress '%s': want zstd, zstd:LEVEL or none", comp);
        return -1;
    }
    return 0;
}

/* mkdir -p for a file:// bucket: formatting creates the storage it names. */
static int cli_format_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char keep = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST) /* volume data: owner only */
            return -errno;
        buf[i] = keep;
    }
    return 0;
}

static int cli_format_probe_fail(const char *step, const char *key, int err,
                                 struct obj_store *st)
{
    char why[256];

    return cli_fail("format", "bucket check", "%s of probe object %s failed: %s (store %s)",
                    step, key, cli_store_reason(err, why, sizeof why), obj_describe(st));
}

/* Put, read back, compare, delete one small random object. */
static int cli_format_check_bucket(const char *url, const char *uuid,
                                   const struct shimfs_config *cfg)
{
    struct obj_store *st;
    unsigned char data[4096], back[8192], rnd[8];
    char key[128], why[256];
    int rc;

    /* the probe PUT signs its body as the volume's writers will */
    struct obj_options oo = { .max_retries = -1, .payload = cfg->s3_payload };
    rc = obj_open(url, &oo, &st);
    if (rc < 0)
        return cli_fail("format", "bucket check", "cannot open %s: %s", url,
                        cli_store_reason(rc, why, sizeof why));
    if (cli_random_bytes(rnd, sizeof rnd) < 0 || cli_random_bytes(data, sizeof data) < 0) {
        obj_close(st);
        return cli_fail("format", "bucket check", "/dev/urandom: %s", strerror(errno));
    }
    snprintf(key, sizeof key, "%s/probe-%02x%02x%02x%02x%02x%02x%02x%02x", uuid,
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);

    rc = obj_put(st, key, data, sizeof data);
    if (rc < 0) {
        rc = cli_format_probe_fail("put", key, rc, st);
        goto out;
    }
    ssize_t got = obj_get(st, key, 0, 0, back, sizeof back);
    if (got < 0) {
        rc = cli_format_probe_fail("get", key, (int)got, st);
        goto out;
    }
    if ((size_t)got != sizeof data || memcmp(back, data, sizeof data) != 0) {
        rc = cli_fail("format", "bucket check",
                      "get of probe object %s returned different bytes (%zd of %zu) (store %s)",
                      key, got, sizeof data, obj_describe(st));
        goto out;
    }
    rc = obj_delete(st, key);
    if (rc < 0)
        rc = cli_format_probe_fail("delete", key, rc, st);
out:
    obj_close(st);
    return rc < 0 ? CLI_FAIL : rc;
}

static void cli_format_summary(const struct meta_settings *s, struct meta *m)
{
    char bs[32], spec[32];

    printf("formatted volume %s\n", s->name);
    printf("  uuid:         %s\n", s->uuid);
    printf("  bucket:       %s\n", s->bucket);
    printf("  block size:   %s\n", cli_block_size(s->block_size, bs, sizeof bs));
    printf("  compression:  %s\n", cli_codec_spec(s->compress_algo, s->compress_level,
                                                  spec, sizeof spec));
    printf("  schema:       %d\n", s->schema_version);
    printf("  database:     %s\n", meta_describe(m));
}

static int cli_format_exists(struct meta *m, const char *name)
{
    return cli_fail("format", "refused",
                    "volume %s already exists in database %s; use --force to wipe it",
                    name, meta_describe(m));
}

/* Processes of this node keep the volume's settings and directories in
 * the cache folder (core/agent/nodemeta.h): after a format they must see the new
 * volume at once, not the wiped one. Only where that folder exists. */
static void cli_format_tell_node(const struct meta_settings *s, const struct shimfs_config *cfg)
{
    char path[sizeof cfg->cache_dir + 8];
    struct nodemeta *nm;
    const char *url = getenv("SHIMFS_META");
    snprintf(path, sizeof path, "%s/meta", cfg->cache_dir);
    if (!cfg->cache_dir[0] || access(path, F_OK) != 0 ||
        nodemeta_open(cfg->cache_dir, url ? url : "", &nm) < 0)
        return;
    nodemeta_bump(nm);
    (void)nodemeta_save_settings(nm, nodemeta_stamp(nm), s);
    nodemeta_close(nm);
}

static int cli_format_run(const struct cli_format_args *a, struct meta *m)
{
    struct meta_settings s, old;
    struct obj_url u;
    struct shimfs_config cfg;
    int rc;

    config_load(&cfg);
    memset(&old, 0, sizeof old);
    rc = meta_load_settings(m, &old);
    if (rc == 0 && !a->force)
        return cli_format_exists(m, old.name);
    if (rc < 0 && rc != -ENODEV)
        return cli_meta_fail("format", meta_describe(m), rc);

    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", a->name);
    snprintf(s.bucket, sizeof s.bucket, "%s", a->bucket);
    s.block_size = a->block_size;
    s.compress_algo = a->algo;
    s.compress_level = a->level;
    s.created_ns = cli_now_ns();
    s.schema_version = META_SCHEMA_VERSION;
    rc = cli_uuid_v4(s.uuid);
    if (rc < 0)
        return cli_fail("format", "uuid", "/dev/urandom: %s", strerror(-rc));

    if (obj_parse_url(a->bucket, &u) == 0 && u.scheme == OBJ_FILE &&
        (rc = cli_format_mkdirs(u.path)) < 0)
        return cli_fail("format", "bucket check", "cannot create directory %s: %s",
                        u.path, strerror(-rc));
    rc = cli_format_check_bucket(a->bucket, s.uuid, &cfg);
    if (rc != 0)
        return rc;

    rc = meta_format(m, &s, a->force);
    if (rc == -EEXIST)
        return cli_format_exists(m, a->name);
    if (rc < 0)
        return cli_meta_fail("format", meta_describe(m), rc);
    cli_format_tell_node(&s, &cfg);
    cli_format_summary(&s, m);
    if (a->force && old.uuid[0] && strcmp(old.uuid, s.uuid) != 0)
        printf("note: objects of the wiped volume %s stay in the bucket under %s/ "
               "until removed\n", old.name, old.uuid);
    return CLI_OK;
}

int cli_cmd_format(int argc, char **argv)
{
    struct cli_format_args a;
    struct meta *m;
    const char *url;
    int code, rc;

    if (cli_format_parse(argc, argv, &a, &code) < 0)
        return code;
    url = getenv("SHIMFS_META");
    rc = meta_open(url ? url : "", &m);
    if (rc < 0)
        return cli_meta_fail("format", NULL, rc);
    code = cli_format_run(&a, m);
    meta_close(m);
    return code;
}

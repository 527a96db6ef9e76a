/* cli_util.c - what every command shares: error lines, common options,
 * opening the volume or the vfs with a diagnosis that names the real cause,
 * the option-table parser every command's getopt loop can be, and small
 * formatting helpers.
 *
 * Promises: every failure message is one line "shimfs CMD: what: why" and
 * never contains a password (databases are named by meta_describe, buckets
 * by their URL, which holds no credentials).
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "config.h"
#include "log.h"
#include "objstore.h"
#include "vfs.h"

int cli_fail(const char *cmd, const char *what, const char *fmt, ...)
{
    char why[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    fprintf(stderr, "shimfs %s: %s: %s\n", cmd, what, why);
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "shimfs %s: %s (see shimfs %s --help)\n", cmd, msg, cmd);
    return CLI_USAGE;
}

/* What the database's errnos mean to a user (meta.h's contract). `only`:
 * the hint replaces strerror, whose text would mislead ("No such device"). */
static const struct { int err; int only; const char *hint; } cli_meta_hints[] = {
    { ECONNREFUSED, 0, "database unreachable" },
    { EHOSTUNREACH, 0, "database host unreachable" },
    { ETIMEDOUT,    0, "database did not answer in time" },
    { EACCES,       0, "authentication refused; check the user and password" },
    { ENODEV,       1, "no shimfs volume in this database; run `shimfs format` first" },
    { EPROTO,       1, "the database's schema is newer than this shimfs; upgrade shimfs" },
};

const char *cli_meta_reason(int err, char *buf, size_t cap)
{
    int e = err < 0 ? -err : err;

    for (size_t i = 0; i < sizeof cli_meta_hints / sizeof cli_meta_hints[0]; i++) {
        if (cli_meta_hints[i].err != e)
            continue;
        if (cli_meta_hints[i].only)
            snprintf(buf, cap, "%s", cli_meta_hints[i].hint);
        else
            snprintf(buf, cap, "%s (%s)", strerror(e), cli_meta_hints[i].hint);
        return buf;
    }
    snprintf(buf, cap, "%s", strerror(e));
    return buf;
}

int cli_meta_fail(const char *cmd, const char *desc, int err)
{
    char why[256], what[1200];

    snprintf(what, sizeof what, "database %s", desc && *desc ? desc : "(PG* environment)");
    return cli_fail(cmd, what, "%s", cli_meta_reason(err, why, sizeof why));
}

void cli_set_meta(const char *url)
{
    setenv("SHIMFS_META", url, 1);
}

void cli_log_setup(int verbose)
{
    /* The CLI's own line says what failed; the engine's lines are detail
     * for whoever asks (-v or SHIMFS_LOG), not a second error report. */
    if (!getenv("SHIMFS_LOG"))
        setenv("SHIMFS_LOG", verbose ? "info" : CLI_LOG_QUIET, 1);
    log_configure(secure_getenv("SHIMFS_LOG"));
}

int cli_common_option(int c, const char *cmd, const char *usage, char **argv,
                      int *exit_code)
{
    switch (c) {
    case 'h':
        fputs(usage, stdout);
        *exit_code = CLI_OK;
        return -1;
    case CLI_OPT_META:
        cli_set_meta(optarg);
        return 1;
    case ':':
        *exit_code = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return -1;
    case '?':
        if (optopt)
            *exit_code = cli_usage_error(cmd, "unknown option '-%c'", optopt);
        else
            *exit_code = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        return -1;
    default:
        return 0;
    }
}

/* One option's value into its destination; 0 or a usage error's code.
 * chosen[dest's first option]: the CHOICE given for that destination. */
static int cli_opt_store(const char *cmd, const struct cli_opt *opts, int i,
                         const struct cli_opt **chosen)
{
    const struct cli_opt *o = &opts[i];
    int first = 0;
    char *end;
    int64_t ns;

    switch (o->kind) {
    case CLI_OPT_FLAG:
        *(int *)o->dest = 1;
        return 0;
    case CLI_OPT_INT: {
        errno = 0;
        long n = strtol(optarg, &end, 10);
        if (errno || end == optarg || *end || n < o->lo || n > o->hi)
            return cli_usage_error(cmd, "bad --%s '%s': want %ld to %ld", o->name, optarg, o->lo,
                                   o->hi);
        *(int *)o->dest = (int)n;
        return 0;
    }
    case CLI_OPT_SECONDS:
        if (config_parse_seconds(optarg, &ns) < 0)
            return cli_usage_error(cmd, "--%s takes a number of seconds, not '%s'", o->name, optarg);
        *(int64_t *)o->dest = ns;
        return 0;
    case CLI_OPT_CHOICE:
        while (opts[first].dest != o->dest)
            first++;
        if (chosen[first] && chosen[first] != o)
            return cli_usage_error(cmd, "--%s and --%s exclude each other", chosen[first]->name,
                                   o->name);
        chosen[first] = o;
        *(int *)o->dest = (int)o->lo;
        return 0;
    }
    return 0;
}

int cli_parse_options(int argc, char **argv, const char *cmd, const char *usage,
                      const struct cli_opt *opts, const char *operand, int *exit_code)
{
    enum { CLI_OPT_FIRST = 0x2000 };
    struct option longs[CLI_OPTS_MAX + 3];
    const struct cli_opt *chosen[CLI_OPTS_MAX] = { 0 };
    int n = 0, c;

    for (; opts[n].name; n++) {
        assert(n < CLI_OPTS_MAX && opts[n].dest);
        longs[n] = (struct option){ opts[n].name,
                                    opts[n].kind == CLI_OPT_INT || opts[n].kind == CLI_OPT_SECONDS
                                        ? required_argument : no_argument,
                                    NULL, CLI_OPT_FIRST + n };
    }
    longs[n] = (struct option){ "meta", required_argument, NULL, CLI_OPT_META };
    longs[n + 1] = (struct option){ "help", no_argument, NULL, 'h' };
    longs[n + 2] = (struct option){ 0, 0, 0, 0 };
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        int r = cli_common_option(c, cmd, usage, argv, exit_code);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        assert(c >= CLI_OPT_FIRST && c < CLI_OPT_FIRST + n);
        *exit_code = cli_opt_store(cmd, opts, c - CLI_OPT_FIRST, chosen);
        if (*exit_code != 0)
            return -1;
    }
    if (!operand && optind < argc) {
        *exit_code = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (operand && optind >= argc) {
        *exit_code = cli_usage_error(cmd, "missing %s", operand);
        return -1;
    }
    *exit_code = CLI_OK;
    return 0;
}

/* volume_open and vfs_init answer with an errno only; find which side
 * failed by asking the database alone, so the message names the cause. */
static int cli_diagnose(const char *cmd, int err)
{
    struct shimfs_config cfg;
    struct meta *m = NULL;
    struct meta_settings s;
    char why[256];
    int rc;

    config_load(&cfg);
    rc = meta_open(cfg.meta, &m);
    if (rc < 0)
        return cli_meta_fail(cmd, NULL, rc);
    rc = meta_load_settings(m, &s);
    if (rc < 0) {
        cli_meta_fail(cmd, meta_describe(m), rc);
        meta_close(m);
        return CLI_FAIL;
    }
    meta_close(m);
    /* The database is fine, so the store is the likely culprit; its own
     * errno is more telling than the vfs's generic EIO. */
    struct obj_store *st;
    rc = obj_open(s.bucket, NULL, &st);
    if (rc == 0)
        obj_close(st);
    else
        err = rc;
    snprintf(why, sizeof why, "%s", strerror(err < 0 ? -err : err));
    return cli_fail(cmd, "volume", "cannot open volume %s (bucket %s): %s",
                    s.name, s.bucket, why);
}

int cli_open_volume(const char *cmd, struct volume **out)
{
    struct shimfs_config cfg;
    int rc;

    config_load(&cfg);
    rc = volume_open(&cfg, out);
    return rc < 0 ? cli_diagnose(cmd, rc) : 0;
}

int cli_vfs_init(const char *cmd)
{
    int rc = vfs_init();

    return rc < 0 ? cli_diagnose(cmd, rc) : 0;
}

int cli_vfs_fail(const char *cmd, const char *path, int rc, const char *host)
{
    if (rc == VFS_ESCAPED)
        return cli_fail(cmd, path, "leads outside the volume (to %s)", host);
    return cli_fail(cmd, path, "%s", strerror(rc < 0 ? -rc : rc));
}

int cli_volume_path(const char *in, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", in[0] == '/' ? "" : "/", in);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int cli_path_join(const char *dir, const char *name, char *out, size_t cap)
{
    size_t dl = strlen(dir);
    int n = snprintf(out, cap, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);

    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int64_t cli_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double cli_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *cli_codec_spec(int algo, int level, char *buf, size_t cap)
{
    if (algo == CODEC_NONE)
        snprintf(buf, cap, "%s", codec_name(algo));
    else
        snprintf(buf, cap, "%s:%d", codec_name(algo), level);
    return buf;
}

const char *cli_block_size(uint32_t n, char *buf, size_t cap)
{
    if (n % (1u << 20) == 0)
        snprintf(buf, cap, "%u MiB", n >> 20);
    else if (n % 1024 == 0)
        snprintf(buf, cap, "%u KiB", n >> 10);
    else
        snprintf(buf, cap, "%u bytes", n);
    return buf;
}

const char *cli_format_time(int64_t ns, int with_ns, char *buf, size_t cap)
{
    time_t sec = (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
    long frac = (long)(ns - (int64_t)sec * 1000000000);
    struct tm tm;
    char date[64], zone[16];

    localtime_r(&sec, &tm);
    strftime(date, sizeof date, with_ns ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
    strftime(zone, sizeof zone, "%z", &tm);
    if (with_ns)
        snprintf(buf, cap, "%s.%09ld %s", date, frac, zone);
    else
        snprintf(buf, cap, "%s", date);
    return buf;
}

const char *cli_mode_string(unsigned mode, char out[11])
{
    static const struct { unsigned bits; char c; } types[] = {
        { S_IFDIR, 'd' }, { S_IFLNK, 'l' }, { S_IFCHR, 'c' }, { S_IFBLK, 'b' },
        { S_IFIFO, 'p' }, { S_IFSOCK, 's' }, { S_IFREG, '-' },
    };
    static const char rwx[] = "rwxrwxrwx";

    out[0] = '?';
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((mode & S_IFMT) == types[i].bits)
            out[0] = types[i].c;
    for (int i = 0; i < 9; i++)
        out[1 + i] = (mode & (0400u >> i)) ? rwx[i] : '-';
    /* setuid, setgid, sticky show in the execute slots, as ls does. */
    if (mode & S_ISUID) out[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID) out[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX) out[9] = (mode & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
    return out;
}

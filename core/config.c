/* config.c - settings from the environment, with defaults.
 *
 * Only getenv and string work: safe to call early in any process, and cheap
 * enough to run once per process. Variables that name a file or a program
 * this process opens or runs (SHIMFS_LOG's file, SHIMFS_CACHE_DIR,
 * SHIMFS_AGENT) are read with secure_getenv: a setuid or file-capability
 * program never takes them from its caller. An unparsable value is logged once and
 * the default kept, so a typo never breaks the host program.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "log.h"
#include "trust.h"

#define CONFIG_DEFAULT_PREFIX "/mnt/shimfs"

int config_parse_seconds(const char *s, int64_t *ns)
{
    char *end;
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0 && v <= 1e9)) /* written so that NaN fails too */
        return -EINVAL;
    *ns = (int64_t)(v * 1e9);
    return 0;
}

int config_normalize_prefix(const char *in, char *out, size_t cap)
{
    if (!in || in[0] != '/')
        return -EINVAL;
    size_t n = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return -EINVAL;
        if (n + 1 + len + 1 > cap)
            return -EINVAL;
        out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    if (n == 0)
        return -EINVAL; /* "/" as a prefix would capture the whole host */
    out[n] = '\0';
    return 0;
}

static void config_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *config_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The same for a variable naming a file or a program (see the top). */
static const char *config_env_path(const char *name)
{
    const char *v = secure_getenv(name);
    return v && *v ? v : NULL;
}

static void config_size(const char *name, uint64_t *out)
{
    const char *v = config_env(name);
    uint64_t n;
    if (!v)
        return;
    if (layout_parse_size(v, &n) == 0)
        *out = n;
    else
        log_warn("config", "%s=%s is not a size (try 100G); using the default", name, v);
}

static void config_seconds(const char *name, int64_t *out)
{
    const char *v = config_env(name);
    if (v && config_parse_seconds(v, out) < 0)
        log_warn("config", "%s=%s is not a number of seconds; using the default", name, v);
}

static void config_int(const char *name, int *out, int lo, int hi)
{
    const char *v = config_env(name);
    if (!v)
        return;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        log_warn("config", "%s=%s must be a whole number from %d to %d; using the default", name, v, lo, hi);
    else
        *out = (int)n;
}

/* A bound in seconds (at least 1 ms, at most a day), kept in ms. */
static void config_timeout(const char *name, int *out_ms)
{
    const char *v = config_env(name);
    int64_t ns;
    if (!v)
        return;
    if (config_parse_seconds(v, &ns) < 0 || ns < 1000000 || ns > 86400000000000LL)
        log_warn("config", "%s=%s must be a number of seconds from 0.001 to 86400; using the default",
                 name, v);
    else
        *out_ms = (int)(ns / 1000000);
}

/* When cached blocks are checked: a name or the number. */
static void config_verify(int *out)
{
    static const char *const names[] = { "entry", "first-use", "always" };
    const char *v = config_env("SHIMFS_CACHE_VERIFY");
    if (!v)
        return;
    for (int i = 0; i < 3; i++)
        if (strcmp(v, names[i]) == 0 || (v[0] == '0' + i && !v[1])) {
            *out = i;
            return;
        }
    log_warn("config", "SHIMFS_CACHE_VERIFY=%s must be entry, first-use or always; using first-use", v);
}

void config_load(struct shimfs_config *c)
{
    memset(c, 0, sizeof *c);
    log_configure(secure_getenv("SHIMFS_LOG"));
    config_copy(c->meta, sizeof c->meta, config_env("SHIMFS_META"));
    const char *prefix = config_env("SHIMFS_PREFIX");
    if (!prefix || config_normalize_prefix(prefix, c->prefix, sizeof c->prefix) < 0) {
        if (prefix)
            log_warn("config", "SHIMFS_PREFIX=%s must be an absolute path other than /; using %s",
                     prefix, CONFIG_DEFAULT_PREFIX);
        config_copy(c->prefix, sizeof c->prefix, CONFIG_DEFAULT_PREFIX);
    }
    c->prefix_len = strlen(c->prefix);
    const char *cache = config_env_path("SHIMFS_CACHE_DIR");
    if (cache)
        config_copy(c->cache_dir, sizeof c->cache_dir, cache);
    else
        trust_default_dir(c->cache_dir, sizeof c->cache_dir);   /* one per user */
    c->cache_size = UINT64_C(100) << 30;
    config_size("SHIMFS_CACHE_SIZE", &c->cache_size);
    c->free_space_ratio = 0.1;
    const char *fr = config_env("SHIMFS_FREE_SPACE_RATIO");
    if (fr) {
        char *end;
        double v = strtod(fr, &end);
        if (*end || v < 0 || v >= 1)
            log_warn("config", "SHIMFS_FREE_SPACE_RATIO=%s must be in [0, 1); using 0.1", fr);
        else
            c->free_space_ratio = v;
    }
    c->buffer_size = UINT64_C(300) << 20;
    config_size("SHIMFS_BUFFER_SIZE", &c->buffer_size);
    c->prefetch = 32;
    config_int("SHIMFS_PREFETCH", &c->prefetch, 0, 1024);
    c->attr_ttl_ns = c->entry_ttl_ns = c->negative_ttl_ns = 1000000000;
    config_seconds("SHIMFS_ATTR_TTL", &c->attr_ttl_ns);
    config_seconds("SHIMFS_ENTRY_TTL", &c->entry_ttl_ns);
    config_seconds("SHIMFS_NEGATIVE_TTL", &c->negative_ttl_ns);
    config_int("SHIMFS_READ_ONLY", &c->read_only, 0, 1);
    c->node_meta = 1;
    config_int("SHIMFS_NODE_META", &c->node_meta, 0, 1);
    config_int("SHIMFS_WRITEBACK", &c->writeback, 0, 1);
    c->uring = 1;
    config_int("SHIMFS_IO_URING", &c->uring, 0, 1);
    c->cache_verify = CONFIG_VERIFY_FIRST_USE;
    config_verify(&c->cache_verify);
    c->threads = 16;
    config_int("SHIMFS_THREADS", &c->threads, 1, 256);
    const char *agent = config_env_path("SHIMFS_AGENT");
    config_copy(c->agent, sizeof c->agent, agent ? agent : "");
    c->agent_poll_ns = 200000000;
    config_seconds("SHIMFS_AGENT_POLL", &c->agent_poll_ns);
    c->agent_idle_ns = 300000000000LL;
    config_seconds("SHIMFS_AGENT_IDLE", &c->agent_idle_ns);
    c->session_timeout_ns = 60000000000LL;
    config_seconds("SHIMFS_SESSION_TIMEOUT", &c->session_timeout_ns);
    if (c->session_timeout_ns < 1000000000LL) {
        log_warn("config", "SHIMFS_SESSION_TIMEOUT below 1 second; using 1");
        c->session_timeout_ns = 1000000000LL;
    }
    c->compact_slices = 32;
    config_int("SHIMFS_COMPACT_SLICES", &c->compact_slices, 0, 100000);
    c->meta_timeout_ms = 30000;
    config_timeout("SHIMFS_META_TIMEOUT", &c->meta_timeout_ms);
    c->s3_timeout_ms = 60000;
    config_timeout("SHIMFS_S3_TIMEOUT", &c->s3_timeout_ms);
}

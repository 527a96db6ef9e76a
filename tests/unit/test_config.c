/* test_config.c - environment parsing and prefix normalisation
 * (core/config.c): defaults, good values, and bad values falling back; and
 * the table of settings (core/settings.def) against what config_load does
 * with each entry: its default, a bad value (one log line, the default
 * kept), its bounds. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "config.h"

START_TEST(test_defaults)
{
    static const char *vars[] = { "SHIMFS_META", "SHIMFS_PREFIX", "SHIMFS_CACHE_DIR", "SHIMFS_CACHE_SIZE",
                                  "SHIMFS_ATTR_TTL", "SHIMFS_READ_ONLY", "SHIMFS_PREFETCH", NULL };
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    struct shimfs_config c;
    config_load(&c);
    ck_assert_str_eq(c.prefix, "/mnt/shimfs");
    ck_assert_uint_eq(c.prefix_len, strlen("/mnt/shimfs"));
    ck_assert_str_eq(c.meta, "");
    ck_assert_uint_eq(c.cache_size, UINT64_C(100) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 1000000000);
    ck_assert_int_eq(c.read_only, 0);
    ck_assert_int_eq(c.uring, 1);
    /* one cache folder per user: another user's folder is never shared */
    char want[64];
    snprintf(want, sizeof want, "/var/tmp/shimfs-%u", (unsigned)geteuid());
    ck_assert_str_eq(c.cache_dir, want);
}
END_TEST

START_TEST(test_values)
{
    setenv("SHIMFS_PREFIX", "//mnt//data/./", 1);
    setenv("SHIMFS_CACHE_SIZE", "20G", 1);
    setenv("SHIMFS_ATTR_TTL", "0.25", 1);
    setenv("SHIMFS_READ_ONLY", "1", 1);
    setenv("SHIMFS_PREFETCH", "32", 1);
    setenv("SHIMFS_META", "postgresql://u@127.0.0.1/db", 1);
    struct shimfs_config c;
    config_load(&c);
    ck_assert_str_eq(c.prefix, "/mnt/data");
    ck_assert_uint_eq(c.cache_size, UINT64_C(20) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 250000000);
    ck_assert_int_eq(c.read_only, 1);
    ck_assert_int_eq(c.prefetch, 32);
    ck_assert_str_eq(c.meta, "postgresql://u@127.0.0.1/db");
}
END_TEST

START_TEST(test_bad_values_keep_defaults)
{
    setenv("SHIMFS_LOG", "error", 1); /* the warnings are expected here */
    setenv("SHIMFS_PREFIX", "relative/path", 1);
    setenv("SHIMFS_CACHE_SIZE", "lots", 1);
    setenv("SHIMFS_ATTR_TTL", "-3", 1);
    setenv("SHIMFS_PREFETCH", "99999", 1);
    /* NaN compared false with both bounds and was taken as the ratio */
    setenv("SHIMFS_FREE_SPACE_RATIO", "nan", 1);
    struct shimfs_config c;
    config_load(&c);
    unsetenv("SHIMFS_FREE_SPACE_RATIO");
    ck_assert(c.free_space_ratio == 0.1);
    ck_assert_str_eq(c.prefix, "/mnt/shimfs");
    ck_assert_uint_eq(c.cache_size, UINT64_C(100) << 30);
    ck_assert_int_eq(c.attr_ttl_ns, 1000000000);
    ck_assert_int_eq(c.prefetch, 32);
}
END_TEST

/* Sessions and compaction: defaults, values, a timeout below 1 s raised
 * to 1 s, junk keeping the defaults. */
START_TEST(test_session_settings)
{
    setenv("SHIMFS_LOG", "error", 1);
    unsetenv("SHIMFS_SESSION_TIMEOUT");
    unsetenv("SHIMFS_COMPACT_SLICES");
    struct shimfs_config c;
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 60000000000LL);
    ck_assert_int_eq(c.compact_slices, 32);
    setenv("SHIMFS_SESSION_TIMEOUT", "2.5", 1);
    setenv("SHIMFS_COMPACT_SLICES", "0", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 2500000000LL);
    ck_assert_int_eq(c.compact_slices, 0);
    setenv("SHIMFS_SESSION_TIMEOUT", "0.1", 1);
    setenv("SHIMFS_COMPACT_SLICES", "-4", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 1000000000LL);
    ck_assert_int_eq(c.compact_slices, 32);
    setenv("SHIMFS_SESSION_TIMEOUT", "soon", 1);
    config_load(&c);
    ck_assert_int_eq(c.session_timeout_ns, 60000000000LL);
    unsetenv("SHIMFS_SESSION_TIMEOUT");
    unsetenv("SHIMFS_COMPACT_SLICES");
}
END_TEST

/* The bounds of a call against a hung server (issue 14): seconds with a
 * fraction, kept in ms; nonsense and zero keep the default. */
START_TEST(test_timeouts)
{
    unsetenv("SHIMFS_META_TIMEOUT");
    unsetenv("SHIMFS_S3_TIMEOUT");
    struct shimfs_config c;
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 30000);
    ck_assert_int_eq(c.s3_timeout_ms, 60000);
    setenv("SHIMFS_META_TIMEOUT", "2.5", 1);
    setenv("SHIMFS_S3_TIMEOUT", "3", 1);
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 2500);
    ck_assert_int_eq(c.s3_timeout_ms, 3000);
    setenv("SHIMFS_LOG", "error", 1); /* the warnings are expected here */
    setenv("SHIMFS_META_TIMEOUT", "0", 1);
    setenv("SHIMFS_S3_TIMEOUT", "soon", 1);
    config_load(&c);
    ck_assert_int_eq(c.meta_timeout_ms, 30000);
    ck_assert_int_eq(c.s3_timeout_ms, 60000);
    unsetenv("SHIMFS_META_TIMEOUT");
    unsetenv("SHIMFS_S3_TIMEOUT");
}
END_TEST

START_TEST(test_normalize_prefix)
{
    char out[64];
    ck_assert_int_eq(config_normalize_prefix("/a/b/", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a/b");
    ck_assert_int_eq(config_normalize_prefix("/a/./b//c", out, sizeof out), 0);
    ck_assert_str_eq(out, "/a/b/c");
    ck_assert_int_eq(config_normalize_prefix("/", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("/a/../b", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("a", out, sizeof out), -EINVAL);
    ck_assert_int_eq(config_normalize_prefix("/abcdefgh", out, 5), -EINVAL);
    int64_t ns;
    ck_assert_int_eq(config_parse_seconds("1.5", &ns), 0);
    ck_assert_int_eq(ns, 1500000000);
    ck_assert_int_eq(config_parse_seconds("x", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("", &ns), -EINVAL);
    /* found by tests/fuzz/fuzz_config: NaN passed both range checks and
     * was converted to an integer (undefined; garbage TTLs) */
    ns = 7;
    ck_assert_int_eq(config_parse_seconds("nan", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("-nan", &ns), -EINVAL);
    ck_assert_int_eq(config_parse_seconds("inf", &ns), -EINVAL);
    ck_assert_int_eq(ns, 7);
}
END_TEST


/* ---- the table against parsing ---- */

/* A field's value as text, so that every kind compares the same way. */
static void table_field(const struct setting *s, const void *f, char *out, size_t cap)
{
    switch (s->kind) {
    case SETTING_STRING:
    case SETTING_PREFIX:
    case SETTING_PATH:
    case SETTING_USER_DIR:
        snprintf(out, cap, "%s", (const char *)f);
        break;
    case SETTING_SIZE:
        snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
    case SETTING_RATIO:
        snprintf(out, cap, "%.17g", *(const double *)f);
        break;
    case SETTING_SECONDS:
        snprintf(out, cap, "%lld", (long long)*(const int64_t *)f);
        break;
    default:
        snprintf(out, cap, "%d", *(const int *)f);
        break;
    }
}

static void table_of(const struct shimfs_config *c, const struct setting *s, char *out, size_t cap)
{
    table_field(s, (const char *)c + s->offset, out, cap);
}

/* What the table says the field holds when the variable is unset. */
static void table_default(const struct setting *s, char *out, size_t cap)
{
    static char buf[CONFIG_TEXT_MAX];
    memset(buf, 0, sizeof buf);
    if (s->kind == SETTING_USER_DIR) {
        snprintf(out, cap, "%s%u", s->def, (unsigned)geteuid());
        return;
    }
    ck_assert_msg(config_parse(s, s->def ? s->def : "", buf) == 0 || !s->def,
                  "%s: its default '%s' does not parse", s->name, s->def);
    table_field(s, buf, out, cap);
}

static const struct setting *table(size_t *n)
{
    const struct setting *t = config_settings(n);
    ck_assert_uint_gt(*n, 20);
    for (size_t i = 0; i < *n; i++)
        if (t[i].kind != SETTING_ELSEWHERE)
            unsetenv(t[i].name);
    return t;
}

static char table_log[64];

/* Lines in the log file so far. */
static int table_log_lines(char *last, size_t cap)
{
    FILE *f = fopen(table_log, "r");
    char line[1024];
    int n = 0;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        n++;
        snprintf(last, cap, "%s", line);
    }
    fclose(f);
    return n;
}

static void table_log_start(void)
{
    char spec[128];
    snprintf(table_log, sizeof table_log, "/tmp/test_config.%d.log", (int)getpid());
    unlink(table_log);
    int fd = open(table_log, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(spec, sizeof spec, "warn,file=%s", table_log);
    setenv("SHIMFS_LOG", spec, 1);
}

/* Set name=v, load, and say what the field became and how many log lines
 * it cost (the last one in *line). */
static int table_try(const struct setting *s, const char *v, char *got, size_t cap, char *line,
                     size_t lcap)
{
    struct shimfs_config c;
    char last[1024] = "";
    int before = table_log_lines(last, sizeof last);
    setenv(s->name, v, 1);
    config_load(&c);
    unsetenv(s->name);
    table_of(&c, s, got, cap);
    int n = table_log_lines(line, lcap) - before;
    return n;
}

/* Every entry: unset, it holds the table's default; the defaults agree
 * with the documented values the rest of this file checks by hand. */
START_TEST(test_table_defaults)
{
    size_t n;
    const struct setting *t = table(&n);
    struct shimfs_config c;
    char got[CONFIG_TEXT_MAX], want[CONFIG_TEXT_MAX];
    setenv("SHIMFS_LOG", "warn", 1);
    config_load(&c);
    for (size_t i = 0; i < n; i++) {
        if (t[i].kind == SETTING_ELSEWHERE) {
            ck_assert_msg(t[i].doc && t[i].summary, "%s: no doc", t[i].name);
            continue;
        }
        ck_assert_msg(t[i].doc && t[i].summary && t[i].name, "entry %zu: no doc", i);
        /* a file, folder or program the process opens or runs: never from
         * the caller of a setuid program (secure_getenv) */
        if (t[i].kind == SETTING_PATH || t[i].kind == SETTING_USER_DIR)
            ck_assert_msg(t[i].secure, "%s names a file but is read with getenv", t[i].name);
        table_of(&c, &t[i], got, sizeof got);
        table_default(&t[i], want, sizeof want);
        ck_assert_msg(strcmp(got, want) == 0, "%s: holds %s unset, the table says %s", t[i].name,
                      got, want);
    }
    ck_assert_uint_eq(c.buffer_size, UINT64_C(300) << 20);
    ck_assert_int_eq(c.agent_idle_ns, 300000000000LL);
    ck_assert_int_eq(c.agent_poll_ns, 200000000);
    ck_assert_int_eq(c.cache_verify, CONFIG_VERIFY_FIRST_USE);
    ck_assert_int_eq(c.threads, 16);
    ck_assert_int_eq(c.node_meta, 1);
    ck_assert_int_eq(c.writeback, 0);
    ck_assert(c.free_space_ratio == 0.1);
    ck_assert_str_eq(c.agent, "");
}
END_TEST

/* A bad value of every kind that can have one: one log line naming the
 * variable and saying the default is used, and the default kept. */
static const char *table_bad(const struct setting *s)
{
    switch (s->kind) {
    case SETTING_PREFIX:  return "relative/path";
    case SETTING_SIZE:    return "lots";
    case SETTING_RATIO:   return "nan";
    case SETTING_INT:     return "12x";
    case SETTING_BOOL:    return "yes";
    case SETTING_ENUM:    return "sometimes";
    case SETTING_SECONDS: return "soon";
    case SETTING_TIMEOUT: return "forever";
    default:              return NULL; /* text kinds take any value */
    }
}

START_TEST(test_table_bad_values)
{
    size_t n;
    const struct setting *t = table(&n);
    char got[CONFIG_TEXT_MAX], want[CONFIG_TEXT_MAX], line[1024];
    int tried = 0;
    table_log_start();
    for (size_t i = 0; i < n; i++) {
        const char *bad = table_bad(&t[i]);
        if (!bad)
            continue;
        int lines = table_try(&t[i], bad, got, sizeof got, line, sizeof line);
        table_default(&t[i], want, sizeof want);
        ck_assert_msg(strcmp(got, want) == 0, "%s=%s: holds %s, not its default %s", t[i].name, bad,
                      got, want);
        ck_assert_msg(lines == 1, "%s=%s: %d log lines, not one", t[i].name, bad, lines);
        char head[256];
        snprintf(head, sizeof head, "warn config: %s=%s ", t[i].name, bad);
        ck_assert_msg(strstr(line, head) && strstr(line, "using"), "%s: log line '%s'", t[i].name,
                      line);
        tried++;
    }
    ck_assert_int_ge(tried, 20);
    /* the messages users have seen before the table, word for word */
    const struct setting *verify = NULL, *prefetch = NULL, *ratio = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(t[i].name, "SHIMFS_CACHE_VERIFY")) verify = &t[i];
        if (!strcmp(t[i].name, "SHIMFS_PREFETCH")) prefetch = &t[i];
        if (!strcmp(t[i].name, "SHIMFS_FREE_SPACE_RATIO")) ratio = &t[i];
    }
    ck_assert(verify && prefetch && ratio);
    table_try(verify, "x", got, sizeof got, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "SHIMFS_CACHE_VERIFY=x must be entry, first-use or always; using first-use"));
    table_try(prefetch, "99999", got, sizeof got, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "SHIMFS_PREFETCH=99999 must be a whole number from 0 to 1024; using the default"));
    table_try(ratio, "2", got, sizeof got, line, sizeof line);
    ck_assert_ptr_nonnull(strstr(line, "SHIMFS_FREE_SPACE_RATIO=2 must be in [0, 1); using 0.1"));
    unlink(table_log);
}
END_TEST

/* Bounds: each bound itself is taken, one step past it is not (or, for
 * SECONDS with a minimum, is raised to it with one log line). */
START_TEST(test_table_bounds)
{
    size_t n;
    const struct setting *t = table(&n);
    char got[CONFIG_TEXT_MAX], want[CONFIG_TEXT_MAX], line[1024], v[64], exp[64];
    int checked = 0;
    table_log_start();
    for (size_t i = 0; i < n; i++) {
        const struct setting *s = &t[i];
        if (s->kind == SETTING_ELSEWHERE)
            continue;
        table_default(s, want, sizeof want);
        switch (s->kind) {
        case SETTING_INT:
        case SETTING_BOOL:
            for (int k = 0; k < 2; k++) {
                long b = (long)(k ? s->hi : s->lo);
                snprintf(v, sizeof v, "%ld", b);
                ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 0);
                ck_assert_msg(strcmp(got, v) == 0, "%s=%s: holds %s", s->name, v, got);
                snprintf(v, sizeof v, "%ld", k ? b + 1 : b - 1);
                ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
                ck_assert_msg(strcmp(got, want) == 0, "%s=%s past its bound: holds %s", s->name, v, got);
            }
            checked++;
            break;
        case SETTING_TIMEOUT:
            snprintf(v, sizeof v, "%g", s->lo);
            snprintf(exp, sizeof exp, "%d", (int)(s->lo * 1000));
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 0);
            ck_assert_str_eq(got, exp);
            snprintf(v, sizeof v, "%g", s->hi);
            snprintf(exp, sizeof exp, "%d", (int)(s->hi * 1000));
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 0);
            ck_assert_str_eq(got, exp);
            snprintf(v, sizeof v, "%g", s->lo / 2);
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            snprintf(v, sizeof v, "%g", s->hi + 1);
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            checked++;
            break;
        case SETTING_RATIO:
            snprintf(v, sizeof v, "%g", s->lo);
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 0);
            ck_assert(strtod(got, NULL) == s->lo);
            snprintf(v, sizeof v, "%g", s->hi);  /* the upper bound is excluded */
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            snprintf(v, sizeof v, "%g", s->lo - 0.01);
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            checked++;
            break;
        case SETTING_ENUM:
            for (int k = 0; s->choices[k]; k++) {
                snprintf(exp, sizeof exp, "%d", k);
                ck_assert_int_eq(table_try(s, s->choices[k], got, sizeof got, line, sizeof line), 0);
                ck_assert_str_eq(got, exp);
                ck_assert_int_eq(table_try(s, exp, got, sizeof got, line, sizeof line), 0);
                ck_assert_str_eq(got, exp);
                snprintf(v, sizeof v, "%d", k + 1);
                if (!s->choices[k + 1]) {
                    ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
                    ck_assert_str_eq(got, want);
                }
            }
            checked++;
            break;
        case SETTING_SECONDS:
            if (s->lo > 0) {
                snprintf(v, sizeof v, "%g", s->lo / 2);
                snprintf(exp, sizeof exp, "%lld", (long long)(s->lo * 1e9));
                ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
                ck_assert_str_eq(got, exp);
                ck_assert_ptr_nonnull(strstr(line, "below the minimum"));
            }
            snprintf(v, sizeof v, "%g", s->hi * 2); /* beyond what any seconds take */
            ck_assert_int_eq(table_try(s, v, got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            ck_assert_int_eq(table_try(s, "-1", got, sizeof got, line, sizeof line), 1);
            ck_assert_str_eq(got, want);
            checked++;
            break;
        default:
            break;
        }
    }
    ck_assert_int_ge(checked, 15);
    unlink(table_log);
}
END_TEST

/* The shim reads its defaults through settings_default: the same text as
 * the table (found by tests/unit: a NaN ratio used to be taken). */
START_TEST(test_table_shim_defaults)
{
    size_t n;
    const struct setting *t = table(&n);
    ck_assert_str_eq(settings_default("SHIMFS_PREFIX"), "/mnt/shimfs");
    ck_assert_str_eq(settings_default("SHIMFS_CACHE_DIR"), SETTINGS_CACHE_ROOT);
    ck_assert_ptr_null(settings_default("SHIMFS_NO_SUCH"));
    for (size_t i = 0; i < n; i++)
        if (t[i].kind != SETTING_ELSEWHERE && t[i].def)
            ck_assert_str_eq(settings_default(t[i].name), t[i].def);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_bad_values_keep_defaults);
    tcase_add_test(tc, test_normalize_prefix);
    tcase_add_test(tc, test_session_settings);
    tcase_add_test(tc, test_timeouts);
    tcase_add_test(tc, test_table_defaults);
    tcase_add_test(tc, test_table_bad_values);
    tcase_add_test(tc, test_table_bounds);
    tcase_add_test(tc, test_table_shim_defaults);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

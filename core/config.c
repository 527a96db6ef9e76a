/* config.c - settings from the environment, with defaults.
 *
 * One loop over the table of settings.def (settings.h): each entry's kind
 * picks the parser and its field in struct shimfs_config; its default is
 * text read by the same parser, so a default and a user's value can never
 * mean different things. Only getenv and string work: safe to call early in
 * any process, and cheap enough to run once per process. Variables that
 * name a file or a program this process opens or runs (.secure in the
 * table: SHIMFS_CACHE_DIR, SHIMFS_AGENT; SHIMFS_LOG's file here too) are
 * read with secure_getenv: a setuid or file-capability program never takes
 * them from its caller. An unparsable value is logged once and the default
 * kept, so a typo never breaks the host program.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"

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

/* The table: settings.def expanded once, with where each value goes. */
static const struct setting config_table[] = {
#define SETTING(NAME, KIND, FIELD, ...)                                            \
    { .name = #NAME, .kind = SETTING_##KIND, .offset = offsetof(struct shimfs_config, FIELD), \
      __VA_ARGS__ },
#define SETTING_ELSEWHERE(NAME, ...) { .name = NAME, .kind = SETTING_ELSEWHERE, __VA_ARGS__ },
#include "settings.def"
#undef SETTING
#undef SETTING_ELSEWHERE
};
#define CONFIG_NSETTINGS (sizeof config_table / sizeof config_table[0])

/* Each kind writes one field type (text fields CONFIG_TEXT_MAX long); a
 * mismatched entry fails the build. */
enum {
    CONFIG_F_TEXT = 1, CONFIG_F_U64, CONFIG_F_DOUBLE, CONFIG_F_INT, CONFIG_F_I64,
    CONFIG_F_STRING = CONFIG_F_TEXT, CONFIG_F_PREFIX = CONFIG_F_TEXT, CONFIG_F_PATH = CONFIG_F_TEXT,
    CONFIG_F_USER_DIR = CONFIG_F_TEXT, CONFIG_F_SIZE = CONFIG_F_U64, CONFIG_F_RATIO = CONFIG_F_DOUBLE,
    CONFIG_F_BOOL = CONFIG_F_INT, CONFIG_F_ENUM = CONFIG_F_INT, CONFIG_F_SECONDS = CONFIG_F_I64,
    CONFIG_F_TIMEOUT = CONFIG_F_INT,
};
#define CONFIG_FIELD_TYPE(f)                                                                  \
    _Generic((f), char *: CONFIG_F_TEXT, uint64_t: CONFIG_F_U64, double: CONFIG_F_DOUBLE,    \
             int: CONFIG_F_INT, int64_t: CONFIG_F_I64, default: 0)
#define SETTING(NAME, KIND, FIELD, ...)                                                      \
    _Static_assert(CONFIG_FIELD_TYPE(((struct shimfs_config *)0)->FIELD) == CONFIG_F_##KIND, \
                   #NAME ": the field's type does not match the kind");                     \
    _Static_assert(CONFIG_F_##KIND != CONFIG_F_TEXT ||                                       \
                       sizeof(((struct shimfs_config *)0)->FIELD) == CONFIG_TEXT_MAX,        \
                   #NAME ": a text field holds CONFIG_TEXT_MAX bytes");
#define SETTING_ELSEWHERE(NAME, ...)
#include "settings.def"
#undef SETTING
#undef SETTING_ELSEWHERE

const struct setting *config_settings(size_t *n)
{
    *n = CONFIG_NSETTINGS;
    return config_table;
}

static int config_parse_int(const char *v, double lo, double hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -EINVAL;
    *out = (int)n;
    return 0;
}

static int config_parse_enum(const struct setting *s, const char *v, int *out)
{
    for (int i = 0; s->choices[i]; i++)
        if (strcmp(v, s->choices[i]) == 0 || (v[0] == '0' + i && !v[1])) {
            *out = i;
            return 0;
        }
    return -EINVAL;
}

/* v into the field at f, by s's kind (contract in config.h). */
int config_parse(const struct setting *s, const char *v, void *f)
{
    char *end;
    double d;
    int64_t ns;
    assert(s && v && f);
    switch (s->kind) {
    case SETTING_STRING:
    case SETTING_PATH:
    case SETTING_USER_DIR:
        snprintf(f, CONFIG_TEXT_MAX, "%s", v);
        return 0;
    case SETTING_PREFIX:
        return config_normalize_prefix(v, f, CONFIG_TEXT_MAX);
    case SETTING_SIZE:
        return layout_parse_size(v, f) == 0 ? 0 : -EINVAL;
    case SETTING_RATIO:
        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || *end || !(d >= s->lo && d < s->hi)) /* NaN fails too */
            return -EINVAL;
        *(double *)f = d;
        return 0;
    case SETTING_INT:
    case SETTING_BOOL:
        return config_parse_int(v, s->lo, s->hi, f);
    case SETTING_ENUM:
        return config_parse_enum(s, v, f);
    case SETTING_SECONDS:
        if (config_parse_seconds(v, &ns) < 0)
            return -EINVAL;
        *(int64_t *)f = ns < s->lo * 1e9 ? (int64_t)(s->lo * 1e9)
                      : ns > s->hi * 1e9 ? (int64_t)(s->hi * 1e9) : ns;
        return *(int64_t *)f == ns ? 0 : -ERANGE;
    case SETTING_TIMEOUT:
        if (config_parse_seconds(v, &ns) < 0 || ns < s->lo * 1e9 || ns > s->hi * 1e9)
            return -EINVAL;
        *(int *)f = (int)(ns / 1000000);
        return 0;
    case SETTING_ELSEWHERE:
        break;
    }
    return -EINVAL;
}

/* The one line a bad value costs; the default is then kept. */
static void config_warn(const struct setting *s, const char *v, const char *def)
{
    switch (s->kind) {
    case SETTING_SIZE:
        log_warn("config", "%s=%s is not a size (try 100G); using the default", s->name, v);
        break;
    case SETTING_RATIO:
        log_warn("config", "%s=%s must be in [%g, %g); using %s", s->name, v, s->lo, s->hi, def);
        break;
    case SETTING_INT:
    case SETTING_BOOL:
        log_warn("config", "%s=%s must be a whole number from %d to %d; using the default",
                 s->name, v, (int)s->lo, (int)s->hi);
        break;
    case SETTING_ENUM: {
        char names[256] = "";
        size_t n = 0;
        for (int i = 0; s->choices[i] && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i == 0 ? ""
                                  : s->choices[i + 1] ? ", " : " or ", s->choices[i]);
        log_warn("config", "%s=%s must be %s; using %s", s->name, v, names, def);
        break;
    }
    case SETTING_SECONDS:
        log_warn("config", "%s=%s is not a number of seconds; using the default", s->name, v);
        break;
    case SETTING_TIMEOUT:
        log_warn("config", "%s=%s must be a number of seconds from %g to %g; using the default",
                 s->name, v, s->lo, s->hi);
        break;
    case SETTING_PREFIX:
        log_warn("config", "%s=%s must be an absolute path other than /; using %s", s->name, v, def);
        break;
    default: /* text kinds take any value */
        break;
    }
}

/* The field's value when the variable is unset or bad. */
static void config_default(const struct setting *s, void *f)
{
    if (s->kind == SETTING_USER_DIR) {
        snprintf(f, CONFIG_TEXT_MAX, "%s%u", s->def, (unsigned)geteuid()); /* one per user */
        return;
    }
    int rc = config_parse(s, s->def ? s->def : "", f);
    assert(rc == 0 || !s->def); /* test_config checks every default parses */
    (void)rc;
}

static void config_apply(const struct setting *s, void *f)
{
    const char *v = s->secure ? secure_getenv(s->name) : getenv(s->name);
    if (!v || !*v) {
        config_default(s, f);
        return;
    }
    int rc = config_parse(s, v, f);
    if (rc == -ERANGE) {
        int low = *(int64_t *)f == (int64_t)(s->lo * 1e9);
        log_warn("config", "%s=%s is %s %g seconds; using %g", s->name, v,
                 low ? "below the minimum," : "above the maximum,", low ? s->lo : s->hi,
                 low ? s->lo : s->hi);
    } else if (rc < 0) {
        config_default(s, f);
        config_warn(s, v, s->def);
    }
}

void config_load(struct shimfs_config *c)
{
    memset(c, 0, sizeof *c);
    log_configure(secure_getenv("SHIMFS_LOG"));
    for (size_t i = 0; i < CONFIG_NSETTINGS; i++)
        if (config_table[i].kind != SETTING_ELSEWHERE)
            config_apply(&config_table[i], (char *)c + config_table[i].offset);
    c->prefix_len = strlen(c->prefix);
}

/* settings.h - the table of every setting shimfs reads from the environment.
 *
 * Owns the shape of one setting: its variable, kind (which parser reads it
 * and what field type holds it), default (written as a user would write it,
 * read by the same parser), bounds, and its documentation. The entries
 * themselves are the X-macro list core/settings.def; this header is libc
 * only and header only, so the shim (which cannot link the engine) and the
 * engine read the same defaults:
 *   - core/config.c expands the list into its parsing table (config_load);
 *   - the shim asks settings_default() for the few it reads itself;
 *   - `shimfs --help`, `shimfs help settings` and `shimfs settings
 *     --markdown` (the reference of docs/configuration.md) print it.
 * Adding a setting: one entry in settings.def and, when config_load parses
 * it, its field in struct shimfs_config (config.h), then regenerate the docs
 * (`make docs`).
 */
#ifndef SHIMFS_SETTINGS_H
#define SHIMFS_SETTINGS_H

#include <stddef.h>
#include <string.h>

/* The per-user default cache folder is this root followed by the euid. */
#define SETTINGS_CACHE_ROOT "/var/tmp/shimfs-"

/* What parses a value, and the field type that holds it in struct
 * shimfs_config (config.c checks the pairing at compile time). */
enum setting_kind {
    SETTING_STRING,   /* char[]: taken as it is */
    SETTING_PREFIX,   /* char[]: an absolute path other than /, normalised */
    SETTING_PATH,     /* char[]: a file or program; default empty */
    SETTING_USER_DIR, /* char[]: a folder; default `def` followed by the euid */
    SETTING_SIZE,     /* uint64_t bytes: "100G" (K, M, G, T binary) */
    SETTING_RATIO,    /* double in [lo, hi) */
    SETTING_INT,      /* int from lo to hi */
    SETTING_BOOL,     /* int, 0 or 1 */
    SETTING_ENUM,     /* int: index of one of `choices` (the digit too) */
    SETTING_SECONDS,  /* int64_t ns: "0.5"; below lo or above hi: raised or lowered to it */
    SETTING_TIMEOUT,  /* int ms: seconds from lo to hi */
    SETTING_ELSEWHERE /* read by another module (named in `doc`); listed here for the docs */
};

/* The sections of docs/configuration.md's reference, in order. */
enum setting_section { SETTING_VOLUME, SETTING_CACHE, SETTING_TIME, SETTING_DIAG, SETTING_NSECTIONS };

struct setting {
    const char *name;              /* the variable; several, comma separated, for ELSEWHERE */
    enum setting_kind kind;
    size_t offset;                 /* of its field in struct shimfs_config (config.c) */
    const char *def;               /* the default as a user writes it; NULL: unset */
    double lo, hi;                 /* bounds (INT, RATIO, SECONDS, TIMEOUT) */
    const char *const *choices;    /* ENUM: the names, NULL-terminated, by value */
    int secure;                    /* names a file or program: secure_getenv (see config.c) */
    enum setting_section section;
    const char *shown;             /* the default as the docs say it, when not `def` */
    const char *values;            /* the values as the docs say them, when the kind does not */
    const char *summary;           /* one line, for `shimfs --help` */
    const char *doc;               /* the reference text (Markdown) */
};

/* The default text of the setting `name` (a config_load setting, named
 * without quotes in settings.def), or NULL. For the shim's few reads; a
 * constant name folds to the constant at -O1 and above. */
static inline const char *settings_default(const char *name)
{
#define SETTING(NAME, KIND, FIELD, ...)          \
    if (strcmp(name, #NAME) == 0)                \
        return ((struct setting){ __VA_ARGS__ }).def;
#define SETTING_ELSEWHERE(NAME, ...)
#include "settings.def"
#undef SETTING
#undef SETTING_ELSEWHERE
    return NULL;
}

#endif

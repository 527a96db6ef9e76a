/* fuzz_meta_url.c - libFuzzer target: the database URL or conninfo string
 * (SHIMFS_META, --meta) as metadata-sql/ takes it: meta_open checks it and
 * builds the description that every log line about the database carries
 * (meta_conn_describe). Never connects. Promises checked: no memory error,
 * and the description does not depend on the password (so never shows
 * it). */
/* The engine's own functions and handle, not core's handle (core/meta.h). */
#define SHIMFS_META_IMPL
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("SHIMFS_LOG", "error", 1);
    unsetenv("PGHOST");
    unsetenv("PGUSER");
    unsetenv("PGDATABASE");
    unsetenv("PGPORT");
    return 0;
}

/* The parsed options back as a keyword=value string, the password (if
 * any) replaced by pw: what the description must not depend on. */
static char *fuzz_rebuild(PQconninfoOption *opts, const char *pw)
{
    size_t cap = 64;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        cap += strlen(o->keyword) + 2 * (o->val ? strlen(o->val) : 0) + strlen(pw) + 8;
    char *out = malloc(cap), *w = out;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        int is_pw = !strcmp(o->keyword, "password");
        const char *v = is_pw ? pw : o->val;
        if (!v)
            continue;
        w += sprintf(w, "%s='", o->keyword);
        for (; *v; v++) {
            if (*v == '\\' || *v == '\'')
                *w++ = '\\';
            *w++ = *v;
        }
        *w++ = '\'';
        *w++ = ' ';
    }
    *w = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct meta *m = NULL;
    if (meta_open(s, &m) == 0) {
        assert(memchr(m->describe, 0, sizeof m->describe));
        char *err = NULL;
        PQconninfoOption *opts = *s ? PQconninfoParse(s, &err) : NULL;
        if (opts) {
            char *a = fuzz_rebuild(opts, "pw-one"), *b = fuzz_rebuild(opts, "other-secret");
            char da[512], db[512];
            meta_conn_describe(a, da, sizeof da);
            meta_conn_describe(b, db, sizeof db);
            assert(!strcmp(da, db));
            free(a);
            free(b);
        }
        PQconninfoFree(opts);
        PQfreemem(err);
        meta_close(m);
    }
    free(s);
    return 0;
}

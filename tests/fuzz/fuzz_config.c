/* fuzz_config.c - libFuzzer target: the settings a user gives in the
 * environment (core/config.c: SHIMFS_META, the database URL or conninfo;
 * SHIMFS_PREFIX, sizes, seconds, counts...). The input is lines; line i
 * becomes the value of the i-th setting config_load parses (the table of
 * core/settings.def, so a new setting is fuzzed without an edit here;
 * settings read elsewhere are skipped). Promises checked: no memory
 * error, and whatever the values, the prefix is absolute and normalised
 * (or the default) and the strings are NUL-terminated. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "settings.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("SHIMFS_LOG", "error", 1); /* unparsable values are warned about: keep quiet */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *line = buf;
    size_t n;
    const struct setting *t = config_settings(&n);
    for (size_t i = 0; i < n; i++) {
        if (t[i].kind == SETTING_ELSEWHERE)
            continue;
        char *nl = line ? strchr(line, '\n') : NULL;
        if (nl)
            *nl = '\0';
        if (line)
            setenv(t[i].name, line, 1);
        else
            unsetenv(t[i].name);
        line = nl ? nl + 1 : NULL;
    }
    static struct shimfs_config c;
    config_load(&c);
    assert(memchr(c.meta, 0, sizeof c.meta) && memchr(c.cache_dir, 0, sizeof c.cache_dir));
    assert(c.prefix[0] == '/' && strlen(c.prefix) == c.prefix_len);
    assert(c.prefix_len == 1 || c.prefix[c.prefix_len - 1] != '/');
    free(buf);
    return 0;
}

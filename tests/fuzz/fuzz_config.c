/* fuzz_config.c - libFuzzer target: the settings a user gives in the
 * environment (core/config.c: SHIMFS_META, the database URL or conninfo;
 * SHIMFS_PREFIX, sizes, seconds, counts...). The input is lines; line i
 * becomes the value of variable i below. Promises checked: no memory
 * error, and whatever the values, the prefix is absolute and normalised
 * (or the default) and the strings are NUL-terminated. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const char *const fuzz_vars[] = {
    "SHIMFS_META", "SHIMFS_PREFIX", "SHIMFS_CACHE_DIR", "SHIMFS_CACHE_SIZE",
    "SHIMFS_FREE_SPACE_RATIO", "SHIMFS_CACHE_VERIFY", "SHIMFS_BUFFER_SIZE", "SHIMFS_PREFETCH",
    "SHIMFS_ATTR_TTL", "SHIMFS_ENTRY_TTL", "SHIMFS_NEGATIVE_TTL", "SHIMFS_READ_ONLY",
    "SHIMFS_NODE_META", "SHIMFS_WRITEBACK", "SHIMFS_IO_URING", "SHIMFS_THREADS",
    "SHIMFS_AGENT", "SHIMFS_AGENT_POLL", "SHIMFS_AGENT_IDLE",
};

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
    for (size_t i = 0; i < sizeof fuzz_vars / sizeof fuzz_vars[0]; i++) {
        char *nl = line ? strchr(line, '\n') : NULL;
        if (nl)
            *nl = '\0';
        if (line)
            setenv(fuzz_vars[i], line, 1);
        else
            unsetenv(fuzz_vars[i]);
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

/* fuzz_shim_path.c - libFuzzer target: the shim's path arithmetic
 * (shim/shim_path.c), which sees every path every host program passes to
 * libc. Input: one byte of buffer size, a prefix line, then a path. The
 * source is included, as tests/unit/test_shim_path.c does (it is pure).
 * Promises checked: no memory error, no write past the given size, and a
 * normalised path is absolute, free of "//", "." and "..", and normalises
 * to itself. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/shim_path.c"

static void fuzz_check_normal(const char *p)
{
    assert(p[0] == '/');
    assert(!strstr(p, "//") && !strstr(p, "/./") && !strstr(p, "/../"));
    size_t n = strlen(p);
    assert(n == 1 || p[n - 1] != '/');
    assert(!(n >= 2 && !strcmp(p + n - 2, "/.")) && !(n >= 3 && !strcmp(p + n - 3, "/..")));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = (size_t)data[0] * 32 + 1; /* 1 .. 8161 bytes */
    char *in = malloc(size);
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    char *nl = strchr(in, '\n');
    const char *path = nl ? nl + 1 : in;
    if (nl)
        *nl = '\0';
    char *out = malloc(cap), *again = malloc(cap + 1), prefix[4096];

    if (shim_path_normalize(path, out, cap) == 0) {
        assert(strlen(out) < cap);
        fuzz_check_normal(out);
        assert(shim_path_normalize(out, again, cap) == 0 && !strcmp(out, again));
    }
    (void)shim_path_irregular(path);
    (void)shim_path_has_dotdot(path);
    (void)shim_path_fd_alias(path, 1234);
    if (shim_path_join(in, path, out, cap) == 0)
        assert(strlen(out) < cap);
    if (shim_path_prefix(in, prefix, sizeof prefix) == 0) {
        size_t plen = strlen(prefix);
        fuzz_check_normal(prefix);
        (void)shim_path_under(prefix, plen, path);
        if (path[0] == '/') {
            int rc = shim_path_classify(prefix, plen, path, out, cap);
            assert(rc == 0 || rc == 1 || rc < 0);
            if (rc == 1)
                assert(strlen(out) < cap);
            if (shim_path_normalize(path, again, cap) == 0)
                (void)shim_path_is_ancestor(again, prefix, plen);
        }
    }
    free(out);
    free(again);
    free(in);
    return 0;
}

/* fuzz_objstore_url.c - libFuzzer target: bucket URLs (SHIMFS_BUCKET,
 * `shimfs format --bucket`, the volume's settings row) as parsed by
 * core/objstore/objstore_url.c. Promises checked: no memory error; a parsed URL's
 * fields are NUL-terminated and its description fits the buffer; a key
 * prefix is "" or ends in exactly one '/' with no empty, "." or ".."
 * segment (every key of the volume lives under it); the first bytes
 * choose the environment (region and endpoint) s3:// URLs read. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objstore.h"
#include "s3_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const endpoints[] = { NULL, "http://127.0.0.1:9000", "https://h/", "h" };
    if (size > 0) {
        const char *e = endpoints[data[0] & 3];
        if (e)
            setenv("AWS_ENDPOINT_URL", e, 1);
        else
            unsetenv("AWS_ENDPOINT_URL");
        data++;
        size--;
    }
    char *url = malloc(size + 1);
    if (!url)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    struct obj_url u;
    if (obj_parse_url(url, &u) == 0) {
        assert(u.scheme == OBJ_FILE || u.scheme == OBJ_HTTP || u.scheme == OBJ_HTTPS);
        assert(memchr(u.host, 0, sizeof u.host) && memchr(u.bucket, 0, sizeof u.bucket));
        assert(memchr(u.path, 0, sizeof u.path) && memchr(u.region, 0, sizeof u.region));
        assert(memchr(u.prefix, 0, sizeof u.prefix));
        size_t pl = strlen(u.prefix);
        assert(pl == 0 || (u.prefix[pl - 1] == '/' && u.prefix[0] != '/'));
        assert(!strstr(u.prefix, "//") && !strstr(u.prefix, "/./") && !strstr(u.prefix, "/../"));
        assert(strncmp(u.prefix, "./", 2) != 0 && strncmp(u.prefix, "../", 3) != 0);
        assert(u.host[0] || u.scheme == OBJ_FILE);
        assert(u.virtual_host == 0 || u.virtual_host == 1);
        char small[16], big[8192];
        obj_url_describe(&u, small, sizeof small);
        obj_url_describe(&u, big, sizeof big);
        assert(strlen(small) < sizeof small);
    }
    free(url);
    return 0;
}

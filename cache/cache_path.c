/* cache_path.c - from object keys to safe relative paths, and small I/O
 * helpers the other cache files share.
 *
 * Promises: a key accepted by cache_key_check can never name anything
 * outside blocks/ (no "..", ".", empty or absolute components), so a bad key
 * is a miss, never a stray file. Keys are used as relative paths as is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "cache_internal.h"

int cache_key_check(const char *key)
{
    if (!key || !*key || *key == '/')
        return -EINVAL;
    const char *comp = key;
    for (const char *p = key;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        size_t n = (size_t)(p - comp);
        if (n == 0 || n > NAME_MAX)
            return -EINVAL;
        if (comp[0] == '.' && (n == 1 || (n == 2 && comp[1] == '.')))
            return -EINVAL;
        if (*p == '\0')
            return (size_t)(p - key) < CACHE_KEY_MAX ? 0 : -EINVAL;
        comp = p + 1;
    }
}

/* The block length named at the end of the key ("..._<len>"), 0 if none:
 * lets a short read be recognised as a truncated file without an fstat. */
uint64_t cache_key_len(const char *key)
{
    const char *end = key + strlen(key), *p = end;
    uint64_t v = 0, mul = 1;
    while (p > key && p[-1] >= '0' && p[-1] <= '9' && end - p < 12) {
        p--;
        v += (uint64_t)(*p - '0') * mul;
        mul *= 10;
    }
    if (p == end || p == key || p[-1] != '_')
        return 0;
    return v;
}

uint64_t cache_key_hash(const char *key)
{
    return XXH3_64bits(key, strlen(key));
}

/* Create the parent directories of `rel` under dirfd (0700). */
int cache_mkdirs(int dirfd, const char *rel)
{
    char path[CACHE_KEY_MAX];
    size_t n = strlen(rel);
    if (n >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, rel, n + 1);
    for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdirat(dirfd, path, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

/* mkdir -p of an absolute or relative path, new components 0700. */
int cache_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Bytes a block of `size` is accounted for: what it takes on disk (whole
 * fs blocks), plus its sidecar where checksums cannot live in an xattr. */
uint64_t cache_cost(const struct cache *c, uint64_t size)
{
    uint64_t cost = (size + CACHE_PAGE - 1) / CACHE_PAGE * CACHE_PAGE;
    if (cost == 0)
        cost = CACHE_PAGE;
    return cost + (c->xattr_mode < 0 ? CACHE_PAGE : 0);
}

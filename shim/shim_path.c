/* shim_path.c - pure path arithmetic (see shim_path.h). Hot: every path a
 * program passes goes through shim_path_under, so the common outside case
 * is one memcmp that fails early, plus a short scan for "//" and "/.".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim_path.h"

/* Append component [c, c+n) to out (length *len) as "/c". */
static int shim_path_push(char *out, size_t *len, size_t cap, const char *c, size_t n)
{
    if (*len + 1 + n + 1 > cap)
        return -ENAMETOOLONG;
    out[(*len)++] = '/';
    memcpy(out + *len, c, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

static void shim_path_pop(char *out, size_t *len)
{
    while (*len > 0 && out[*len - 1] != '/')
        (*len)--;
    if (*len > 0)
        (*len)--;
    out[*len] = '\0';
}

static int shim_path_is_dot(const char *c, size_t n) { return n == 1 && c[0] == '.'; }
static int shim_path_is_dotdot(const char *c, size_t n)
{
    return n == 2 && c[0] == '.' && c[1] == '.';
}

/* Walk the components of absolute `in` into out (lexically: "//" and "."
 * dropped; ".." pops, or is refused with -EINVAL unless dotdot_ok). With
 * stop (slen bytes) the walk ends as soon as a component pushed makes out
 * equal to stop, *rest then pointing at what follows in `in`. Returns
 * out's length. */
static int shim_path_walk(const char *in, char *out, size_t cap, int dotdot_ok,
                          const char *stop, size_t slen, const char **rest)
{
    if (!in || in[0] != '/' || cap < 2)
        return -EINVAL;
    size_t len = 0;
    out[0] = '\0';
    for (const char *s = in; *s;) {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if (n == 0 || shim_path_is_dot(s, n)) {
            s = e;
            continue;
        }
        if (shim_path_is_dotdot(s, n)) {
            if (!dotdot_ok)
                return -EINVAL;
            shim_path_pop(out, &len);
        } else {
            int rc = shim_path_push(out, &len, cap, s, n);
            if (rc < 0)
                return rc;
            if (stop && len == slen && memcmp(out, stop, slen) == 0) {
                *rest = e;
                break;
            }
        }
        s = e;
    }
    return (int)len;
}

int shim_path_prefix(const char *in, char *out, size_t cap)
{
    int rc = shim_path_walk(in, out, cap, 0, NULL, 0, NULL);
    return rc == 0 ? -EINVAL : rc < 0 ? rc : 0;
}

int shim_path_normalize(const char *in, char *out, size_t cap)
{
    int rc = shim_path_walk(in, out, cap, 1, NULL, 0, NULL);
    if (rc == 0)
        memcpy(out, "/", 2);
    return rc < 0 ? rc : 0;
}

const char *shim_path_under(const char *prefix, size_t plen, const char *abs)
{
    if (abs[0] != '/' || strncmp(abs, prefix, plen) != 0)
        return NULL;
    return (abs[plen] == '\0' || abs[plen] == '/') ? abs + plen : NULL;
}

const char *shim_path_default_marker(const char *root, const char *prefix, size_t plen,
                                     const char *abs)
{
    size_t rlen = strlen(root);
    if (strncmp(abs, root, rlen) != 0)
        return NULL;
    const char *p = abs + rlen;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (strncmp(p, "/cwd", 4) != 0)
        return NULL;
    return shim_path_under(prefix, plen, p + 4);
}

int shim_path_irregular(const char *abs)
{
    for (const char *s = strchr(abs, '/'); s; s = strchr(s + 1, '/')) {
        if (s[1] == '/')
            return 1;
        if (s[1] == '.') {
            const char *t = s[2] == '.' ? s + 3 : s + 2;
            if (*t == '/' || *t == '\0')
                return 1;
        }
    }
    return 0;
}

/* vpath = "/" + rest, or "/" when rest is empty. */
static int shim_path_vpath(const char *rest, char *vpath, size_t cap)
{
    while (rest[0] == '/' && rest[1] == '/')
        rest++;
    size_t n = strlen(rest);
    if (n == 0) {
        if (cap < 2)
            return -ENAMETOOLONG;
        memcpy(vpath, "/", 2);
        return 1;
    }
    if (n + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(vpath, rest, n + 1);
    return 1;
}

int shim_path_classify(const char *prefix, size_t plen, const char *abs, char *vpath,
                       size_t cap)
{
    const char *rest = shim_path_under(prefix, plen, abs);
    if (rest)
        return shim_path_vpath(rest, vpath, cap);
    if (abs[0] != '/' || !shim_path_irregular(abs))
        return 0;
    char out[4096];
    const char *after = NULL;
    int rc = shim_path_walk(abs, out, sizeof out, 1, prefix, plen, &after);
    if (rc < 0)
        return rc;
    return after ? shim_path_vpath(after, vpath, cap) : 0;
}

int shim_path_join(const char *base, const char *rel, char *out, size_t cap)
{
    size_t bl = strlen(base), rl = strlen(rel);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    if (bl + 1 + rl + 1 > cap)
        return -ENAMETOOLONG;
    memmove(out, base, bl);
    out[bl] = '/';
    memcpy(out + bl + 1, rel, rl + 1);
    return 0;
}

int shim_path_has_dotdot(const char *rel)
{
    for (const char *s = strstr(rel, ".."); s; s = strstr(s + 1, "..")) {
        int starts = s == rel || s[-1] == '/';
        int ends = s[2] == '\0' || s[2] == '/';
        if (starts && ends)
            return 1;
    }
    return 0;
}

int shim_path_is_ancestor(const char *dir, const char *prefix, size_t plen)
{
    if (dir[0] == '/' && dir[1] == '\0')
        return plen > 0;
    size_t dl = strlen(dir);
    return dl < plen && memcmp(dir, prefix, dl) == 0 && prefix[dl] == '/';
}

/* Digits of a descriptor number filling all of s; -1 if not. */
static int shim_path_fdnum(const char *s)
{
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

int shim_path_fd_alias(const char *abs, int pid)
{
    static const char *const std[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
    if (strncmp(abs, "/dev/", 5) == 0) {
        if (strncmp(abs + 5, "fd/", 3) == 0)
            return shim_path_fdnum(abs + 8);
        for (int i = 0; i < 3; i++)
            if (strcmp(abs, std[i]) == 0)
                return i;
        return -1;
    }
    if (strncmp(abs, "/proc/", 6) != 0)
        return -1;
    const char *s = abs + 6;
    if (strncmp(s, "self/", 5) == 0 || strncmp(s, "thread-self/", 12) == 0) {
        s = strchr(s, '/') + 1;
    } else {
        char *end;
        long p = strtol(s, &end, 10);
        if (end == s || *end != '/' || p != pid)
            return -1;
        s = end + 1;
    }
    return strncmp(s, "fd/", 3) == 0 ? shim_path_fdnum(s + 3) : -1;
}

/* shim_glibc.c - glibc functions that reach files through glibc's own
 * internal calls, which no preload can interpose: remove (__unlink,
 * __rmdir), pathconf (__statfs) and glob/glob64 (__opendir, __lstat64).
 * On a volume path each is rebuilt from the interposed calls; elsewhere
 * each goes to libc with one prefix test added.
 */
#include "shim.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "shim_cwd.h"
#include "shim_mem.h"
#include "shim_ns.h"
#include "shim_core.h"

SHIM_EXPORT int remove(const char *path)
{
    struct shim_ns ns;
    if (shim_bypass() || !shim_mem_str_ok(path))
        return REAL(remove)(path);
    int c = shim_ns_resolve(AT_FDCWD, path, 0, &ns);
    if (c == 0)
        return REAL(remove)(ns.path);
    if (c < 0)
        return shim_fail(c);
    /* glibc's order: unlink, then rmdir when unlink said EISDIR */
    if (unlink(path) == 0)
        return 0;
    return errno == EISDIR ? rmdir(path) : -1;
}

/* The volume's answer for the limits that are its own; the rest are the
 * kernel's and the same on every local file system. */
SHIM_EXPORT long pathconf(const char *path, int name)
{
    struct shim_ns ns;
    if (shim_bypass() || !shim_mem_str_ok(path))
        return REAL(pathconf)(path, name);
    int c = shim_ns_resolve(AT_FDCWD, path, 0, &ns);
    if (c == 0)
        return REAL(pathconf)(ns.path, name);
    if (c < 0)
        return shim_fail(c);
    struct stat st;
    if (stat(path, &st) < 0) /* the kernel's answer for a missing path */
        return -1;
    switch (name) {
    case _PC_NAME_MAX: {
        struct statvfs sv;
        return statvfs(path, &sv) < 0 ? -1 : (long)sv.f_namemax;
    }
    case _PC_FILESIZEBITS:
        return 64;
    case _PC_LINK_MAX:
        return 65000; /* as ext4: the volume keeps a 64-bit count */
    case _PC_2_SYMLINKS:
        return 1;
    default:
        return REAL(pathconf)("/", name);
    }
}

/* 1 when the pattern names volume paths: absolute under the prefix, or
 * relative with the cwd in the volume. */
static int shim_glob_volume(const char *pat)
{
    if (pat[0] == '/') {
        size_t n = strlen(shim_cfg.prefix);
        return strncmp(pat, shim_cfg.prefix, n) == 0 && (pat[n] == '/' || pat[n] == '\0');
    }
    if (pat[0] == '~')
        return 0; /* a home in the volume is not supported by glob here */
    char cwd[SHIM_PATH_MAX];
    size_t len;
    return shim_cwd_virtual(cwd, sizeof cwd, &len) == 0;
}

static int shim_glob_stat(const char *p, struct stat *st) { return stat(p, st); }
static int shim_glob_lstat(const char *p, struct stat *st) { return lstat(p, st); }
static void *shim_glob_opendir(const char *p) { return opendir(p); }
static void *shim_glob_readdir(void *d) { return readdir((DIR *)d); }
static void shim_glob_closedir(void *d) { closedir((DIR *)d); }

#define SHIM_GLOB_ALT(g)                                                       \
    do {                                                                       \
        (g)->gl_opendir = shim_glob_opendir;                                   \
        (g)->gl_readdir = (__typeof__((g)->gl_readdir))shim_glob_readdir;      \
        (g)->gl_closedir = shim_glob_closedir;                                 \
        (g)->gl_stat = (__typeof__((g)->gl_stat))shim_glob_stat;               \
        (g)->gl_lstat = (__typeof__((g)->gl_lstat))shim_glob_lstat;            \
    } while (0)

SHIM_EXPORT int glob(const char *pat, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
    if (shim_bypass() || (flags & GLOB_ALTDIRFUNC) || !shim_mem_str_ok(pat) || !g ||
        !shim_glob_volume(pat))
        return REAL(glob)(pat, flags, errfunc, g);
    SHIM_GLOB_ALT(g);
    return REAL(glob)(pat, flags | GLOB_ALTDIRFUNC, errfunc, g);
}

SHIM_EXPORT int glob64(const char *pat, int flags, int (*errfunc)(const char *, int), glob64_t *g)
{
    if (shim_bypass() || (flags & GLOB_ALTDIRFUNC) || !shim_mem_str_ok(pat) || !g ||
        !shim_glob_volume(pat))
        return REAL(glob64)(pat, flags, errfunc, g);
    SHIM_GLOB_ALT(g);
    return REAL(glob64)(pat, flags | GLOB_ALTDIRFUNC, errfunc, g);
}

/* shim_namespace.c - namespace changes: mkdir, mkdirat, rmdir, unlink,
 * unlinkat, rename, renameat, renameat2, link, linkat, symlink, symlinkat,
 * mknod, mknodat, __xmknod, __xmknodat, mkfifo, mkfifoat, and the temporary
 * file makers (mkstemp family, mkdtemp), whose glibc versions open through
 * internal calls. On the volume: EEXIST/ENOENT/ENOTDIR where the kernel
 * checks those first, else EROFS, until the write path fills them in.
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_ns.h"

#define SHIM_NS_GATE(var, dirfd, path, want, nofollow)                   \
    struct shim_ns var;                                                  \
    do {                                                                 \
        int g_ = shim_ns_check(dirfd, path, want, nofollow, &var);       \
        if (g_ < 0)                                                      \
            return shim_fail(g_);                                        \
    } while (0)

SHIM_EXPORT int mkdir(const char *path, mode_t mode)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_CREATE, 1);
    return REAL(mkdir)(ns.path, mode);
}

SHIM_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
    SHIM_NS_GATE(ns, dirfd, path, SHIM_NS_CREATE, 1);
    return REAL(mkdirat)(ns.dirfd, ns.path, mode);
}

SHIM_EXPORT int rmdir(const char *path)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_EXISTING, 1);
    return REAL(rmdir)(ns.path);
}

SHIM_EXPORT int unlink(const char *path)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_EXISTING, 1);
    return REAL(unlink)(ns.path);
}

SHIM_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    SHIM_NS_GATE(ns, dirfd, path, SHIM_NS_EXISTING, 1);
    return REAL(unlinkat)(ns.dirfd, ns.path, flags);
}

SHIM_EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                          unsigned flags)
{
    SHIM_NS_GATE(from, olddirfd, oldpath, SHIM_NS_EXISTING, 1);
    SHIM_NS_GATE(to, newdirfd, newpath, SHIM_NS_PARENT, 1);
    return REAL(renameat2)(from.dirfd, from.path, to.dirfd, to.path, flags);
}

SHIM_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    SHIM_NS_GATE(from, olddirfd, oldpath, SHIM_NS_EXISTING, 1);
    SHIM_NS_GATE(to, newdirfd, newpath, SHIM_NS_PARENT, 1);
    return REAL(renameat)(from.dirfd, from.path, to.dirfd, to.path);
}

SHIM_EXPORT int rename(const char *oldpath, const char *newpath)
{
    SHIM_NS_GATE(from, AT_FDCWD, oldpath, SHIM_NS_EXISTING, 1);
    SHIM_NS_GATE(to, AT_FDCWD, newpath, SHIM_NS_PARENT, 1);
    return REAL(rename)(from.path, to.path);
}

SHIM_EXPORT int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                       int flags)
{
    SHIM_NS_GATE(from, olddirfd, oldpath, SHIM_NS_EXISTING, !(flags & AT_SYMLINK_FOLLOW));
    SHIM_NS_GATE(to, newdirfd, newpath, SHIM_NS_CREATE, 1);
    return REAL(linkat)(from.dirfd, from.path, to.dirfd, to.path, flags);
}

SHIM_EXPORT int link(const char *oldpath, const char *newpath)
{
    SHIM_NS_GATE(from, AT_FDCWD, oldpath, SHIM_NS_EXISTING, 1);
    SHIM_NS_GATE(to, AT_FDCWD, newpath, SHIM_NS_CREATE, 1);
    return REAL(link)(from.path, to.path);
}

SHIM_EXPORT int symlinkat(const char *target, int dirfd, const char *linkpath)
{
    SHIM_NS_GATE(ns, dirfd, linkpath, SHIM_NS_CREATE, 1);
    return REAL(symlinkat)(target, ns.dirfd, ns.path);
}

SHIM_EXPORT int symlink(const char *target, const char *linkpath)
{
    SHIM_NS_GATE(ns, AT_FDCWD, linkpath, SHIM_NS_CREATE, 1);
    return REAL(symlink)(target, ns.path);
}

SHIM_EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_CREATE, 1);
    return REAL(mknod)(ns.path, mode, dev);
}

SHIM_EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
    SHIM_NS_GATE(ns, dirfd, path, SHIM_NS_CREATE, 1);
    return REAL(mknodat)(ns.dirfd, ns.path, mode, dev);
}

SHIM_EXPORT int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_CREATE, 1);
    return REAL(__xmknod)(ver, ns.path, mode, dev);
}

SHIM_EXPORT int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev)
{
    SHIM_NS_GATE(ns, dirfd, path, SHIM_NS_CREATE, 1);
    return REAL(__xmknodat)(ver, ns.dirfd, ns.path, mode, dev);
}

SHIM_EXPORT int mkfifo(const char *path, mode_t mode)
{
    SHIM_NS_GATE(ns, AT_FDCWD, path, SHIM_NS_CREATE, 1);
    return REAL(mkfifo)(ns.path, mode);
}

SHIM_EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
    SHIM_NS_GATE(ns, dirfd, path, SHIM_NS_CREATE, 1);
    return REAL(mkfifoat)(ns.dirfd, ns.path, mode);
}

/* A temporary-name template in the volume: EINVAL for a bad template (as
 * glibc), else the parent's answer (EROFS when it exists). 0: host. The
 * escaped case is rare enough to let libc try the original name. */
static int shim_ns_template(char *tmpl, int suffixlen)
{
    struct shim_ns ns;
    size_t n = tmpl ? strlen(tmpl) : 0;
    if (suffixlen < 0 || n < 6 + (size_t)suffixlen ||
        strncmp(tmpl + n - suffixlen - 6, "XXXXXX", 6) != 0) {
        return shim_ns_check(AT_FDCWD, tmpl, SHIM_NS_PARENT, 1, &ns) < 0 ? -EINVAL : 0;
    }
    int rc = shim_ns_check(AT_FDCWD, tmpl, SHIM_NS_PARENT, 1, &ns);
    return rc < 0 ? rc : 0;
}

#define SHIM_TMPL_GATE(tmpl, suffixlen)                   \
    do {                                                  \
        int g_ = shim_ns_template(tmpl, suffixlen);       \
        if (g_ < 0)                                       \
            return shim_fail(g_);                         \
    } while (0)

SHIM_EXPORT int mkstemp(char *tmpl)
{
    SHIM_TMPL_GATE(tmpl, 0);
    return REAL(mkstemp)(tmpl);
}

SHIM_EXPORT int mkstemp64(char *tmpl)
{
    SHIM_TMPL_GATE(tmpl, 0);
    return REAL(mkstemp64)(tmpl);
}

SHIM_EXPORT int mkostemp(char *tmpl, int flags)
{
    SHIM_TMPL_GATE(tmpl, 0);
    return REAL(mkostemp)(tmpl, flags);
}

SHIM_EXPORT int mkostemp64(char *tmpl, int flags)
{
    SHIM_TMPL_GATE(tmpl, 0);
    return REAL(mkostemp64)(tmpl, flags);
}

SHIM_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
    SHIM_TMPL_GATE(tmpl, suffixlen);
    return REAL(mkstemps)(tmpl, suffixlen);
}

SHIM_EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
    SHIM_TMPL_GATE(tmpl, suffixlen);
    return REAL(mkstemps64)(tmpl, suffixlen);
}

SHIM_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
    SHIM_TMPL_GATE(tmpl, suffixlen);
    return REAL(mkostemps)(tmpl, suffixlen, flags);
}

SHIM_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
    SHIM_TMPL_GATE(tmpl, suffixlen);
    return REAL(mkostemps64)(tmpl, suffixlen, flags);
}

SHIM_EXPORT char *mkdtemp(char *tmpl)
{
    int g = shim_ns_template(tmpl, 0);
    if (g < 0) {
        errno = -g;
        return NULL;
    }
    return REAL(mkdtemp)(tmpl);
}

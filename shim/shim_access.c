/* shim_access.c - permission checks: access, faccessat, euidaccess,
 * eaccess. The engine checks the volume attributes as the kernel would
 * (W_OK answers EROFS on a read-only volume).
 */
#include "shim.h"

#include <unistd.h>

#include "shim_resolve.h"
#include "shim_core.h"

/* 1 when handled (*ret set), 0: ask libc. */
static int shim_access_path(int dirfd, const char *path, int mode, int flags, int *ret)
{
    int nofollow = flags & AT_SYMLINK_NOFOLLOW;
    struct shim_target t;
    int c = shim_resolve(dirfd, path, nofollow ? 0 : SHIM_RESOLVE_ALIAS, &t);
    if (c == 0)
        return 0;
    if (c < 0) {
        *ret = shim_fail(c);
        return 1;
    }
    char host[VFS_HOST_MAX];
    int eacc = (flags & AT_EACCESS) != 0;
    int rc = SHIM_VFS_LOAD(access, t.vpath, mode, nofollow ? VFS_NOFOLLOW : 0, eacc, host, sizeof host);
    if (rc == VFS_ESCAPED)
        *ret = REAL(faccessat)(AT_FDCWD, host, mode, flags);
    else
        *ret = rc < 0 ? shim_fail(rc) : 0;
    return 1;
}

SHIM_EXPORT int access(const char *path, int mode)
{
    int r;
    return shim_access_path(AT_FDCWD, path, mode, 0, &r) ? r : REAL(access)(path, mode);
}

SHIM_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
    int r;
    return shim_access_path(dirfd, path, mode, flags, &r) ? r
                                                          : REAL(faccessat)(dirfd, path, mode, flags);
}

SHIM_EXPORT int euidaccess(const char *path, int mode)
{
    int r;
    return shim_access_path(AT_FDCWD, path, mode, AT_EACCESS, &r) ? r
                                                                  : REAL(euidaccess)(path, mode);
}

SHIM_EXPORT int eaccess(const char *path, int mode)
{
    int r;
    return shim_access_path(AT_FDCWD, path, mode, AT_EACCESS, &r) ? r : REAL(eaccess)(path, mode);
}

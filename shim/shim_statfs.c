/* shim_statfs.c - file-system statistics: statfs, fstatfs, statvfs,
 * fstatvfs (and 64-bit twins). The volume reports the engine's numbers and
 * its own type magic ("SHIM"), so df and stat -f describe the volume, not
 * the memfd or marker directory behind a descriptor or cwd.
 */
#include "shim.h"

#include <string.h>

#include "shim_fd.h"
#include "shim_resolve.h"
#include "shim_stat.h"
#include "shim_core.h"

#define SHIM_FS_MAGIC 0x5348494d
#define SHIM_ST_VALID 0x0020

_Static_assert(sizeof(struct statfs) == sizeof(struct statfs64), "statfs64 is statfs here");
_Static_assert(sizeof(struct statvfs) == sizeof(struct statvfs64), "statvfs64 is statvfs here");

static void shim_statfs_from(const struct statvfs *sv, struct statfs *sf)
{
    memset(sf, 0, sizeof *sf);
    sf->f_type = SHIM_FS_MAGIC;
    sf->f_bsize = (long)sv->f_bsize;
    sf->f_frsize = (long)sv->f_frsize;
    sf->f_blocks = sv->f_blocks;
    sf->f_bfree = sv->f_bfree;
    sf->f_bavail = sv->f_bavail;
    sf->f_files = sv->f_files;
    sf->f_ffree = sv->f_ffree;
    sf->f_fsid.__val[0] = (int)(sv->f_fsid & 0xffffffffu);
    sf->f_fsid.__val[1] = (int)(sv->f_fsid >> 32);
    sf->f_namelen = (long)sv->f_namemax;
    sf->f_flags = (long)(sv->f_flag | SHIM_ST_VALID);
}

/* Volume statistics for a path (fd < 0) or descriptor. 1 handled (*ret, errno),
 * 0 host. On an escape, *host holds the host path to ask instead (2). */
static int shim_statfs_target(int fd, const char *path, struct statvfs *sv, char *host,
                              int *ret)
{
    struct stat st;
    int r = 0;
    if (fd < 0) {
        struct shim_target t;
        int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
        if (c == 0)
            return 0;
        if (c < 0) {
            *ret = shim_fail(c);
            return 1;
        }
        int rc = SHIM_VFS_LOAD(stat, t.vpath, 0, &st, host, VFS_HOST_MAX);
        if (rc == VFS_ESCAPED)
            return 2;
        if (rc < 0) {
            *ret = shim_fail(rc);
            return 1;
        }
    } else if (!shim_stat_fd(fd, &st, &r)) {
        return 0;
    } else if (r < 0) {
        *ret = r;
        return 1;
    }
    int rc = SHIM_VFS_LOAD(statvfs, sv);
    *ret = rc < 0 ? shim_fail(rc) : 0;
    return 1;
}

static int shim_statfs_any(int fd, const char *path, struct statfs *sf, int *ret)
{
    struct statvfs sv;
    char host[VFS_HOST_MAX];
    int h = shim_statfs_target(fd, path, &sv, host, ret);
    if (h == 2)
        *ret = REAL(statfs)(host, sf);
    else if (h == 1 && *ret == 0)
        shim_statfs_from(&sv, sf);
    return h != 0;
}

static int shim_statvfs_any(int fd, const char *path, struct statvfs *sv, int *ret)
{
    char host[VFS_HOST_MAX];
    int h = shim_statfs_target(fd, path, sv, host, ret);
    if (h == 2)
        *ret = REAL(statvfs)(host, sv);
    return h != 0;
}

SHIM_EXPORT int statfs(const char *path, struct statfs *sf)
{
    int r;
    return shim_statfs_any(-1, path, sf, &r) ? r : REAL(statfs)(path, sf);
}

SHIM_EXPORT int statfs64(const char *path, struct statfs64 *sf)
{
    int r;
    return shim_statfs_any(-1, path, (struct statfs *)sf, &r)
               ? r
               : REAL(statfs64)(path, sf);
}

SHIM_EXPORT int fstatfs(int fd, struct statfs *sf)
{
    int r;
    return shim_statfs_any(fd < 0 ? INT_MAX : fd, NULL, sf, &r) ? r : REAL(fstatfs)(fd, sf);
}

SHIM_EXPORT int fstatfs64(int fd, struct statfs64 *sf)
{
    int r;
    return shim_statfs_any(fd < 0 ? INT_MAX : fd, NULL, (struct statfs *)sf, &r) ? r : REAL(fstatfs64)(fd, sf);
}

SHIM_EXPORT int statvfs(const char *path, struct statvfs *sv)
{
    int r;
    return shim_statvfs_any(-1, path, sv, &r) ? r : REAL(statvfs)(path, sv);
}

SHIM_EXPORT int statvfs64(const char *path, struct statvfs64 *sv)
{
    int r;
    return shim_statvfs_any(-1, path, (struct statvfs *)sv, &r)
               ? r
               : REAL(statvfs64)(path, sv);
}

SHIM_EXPORT int fstatvfs(int fd, struct statvfs *sv)
{
    int r;
    return shim_statvfs_any(fd < 0 ? INT_MAX : fd, NULL, sv, &r) ? r : REAL(fstatvfs)(fd, sv);
}

SHIM_EXPORT int fstatvfs64(int fd, struct statvfs64 *sv)
{
    int r;
    return shim_statvfs_any(fd < 0 ? INT_MAX : fd, NULL, (struct statvfs *)sv, &r) ? r : REAL(fstatvfs64)(fd, sv);
}

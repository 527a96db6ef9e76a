/* shim_resolve.c - host or volume? (see shim_resolve.h). The first test is
 * the guard, the second the prefix comparison: everything else runs only
 * for paths that can concern the volume.
 */
#include "shim.h"

#include <string.h>

#include "shim_cwd.h"
#include "shim_fd.h"
#include "shim_mem.h"
#include "shim_path.h"
#include "shim_resolve.h"
#include "shim_core.h"

struct shim_ofd *shim_resolve_alias_ofd(const char *path, int *fd)
{
    if (shim_bypass() || !shim_fd_dir || !path || path[0] != '/' ||
        (path[1] != 'p' && path[1] != 'd'))
        return NULL;
    *fd = shim_path_fd_alias(path, shim_cfg.pid);
    return *fd >= 0 ? shim_fd_get(*fd, 1) : NULL;
}

/* "/proc/self/fd/N" of a volume descriptor: the file's own volume path.
 * An adopted descriptor knows no path: the host answers (open and stat
 * check for that case first). */
static int shim_resolve_alias(const char *path, struct shim_target *t)
{
    int fd;
    struct shim_ofd *o = shim_resolve_alias_ofd(path, &fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int rc = shim_ofd_file(o, fd, &f);
    if (rc == 0) {
        const char *vp = shim_vfs->file_path(f);
        rc = 0;
        if (vp[0] == '/' && strlen(vp) < sizeof t->vpath) {
            strcpy(t->vpath, vp);
            rc = 1;
        }
    }
    shim_ofd_put(o);
    return rc;
}

/* Relative path under a directory descriptor the table knows. */
static int shim_resolve_at(struct shim_ofd *o, int dirfd, const char *path,
                           struct shim_target *t)
{
    if (o->kind == SHIM_OFD_ANCESTOR) {
        char full[SHIM_VPATH_MAX];
        if (shim_path_join(o->host, path, full, sizeof full) < 0)
            return -ENAMETOOLONG;
        return shim_path_classify(shim_cfg.prefix, shim_cfg.prefix_len, full, t->vpath,
                                  sizeof t->vpath);
    }
    struct vfs_file *f;
    int rc = shim_ofd_file(o, dirfd, &f);
    if (rc < 0)
        return rc;
    if (!o->isdir)
        return -ENOTDIR;
    const char *base = shim_vfs->file_path(f);
    if (base[0] != '/')
        return -EIO; /* adopted across exec: the inode is known, not its path */
    return shim_path_join(base, path, t->vpath, sizeof t->vpath) < 0 ? -ENAMETOOLONG : 1;
}

/* A volume path from a path argument the kernel would refuse as too long
 * (PATH_MAX bytes with its NUL): the joined path may be longer, the
 * argument may not. */
static int shim_resolve_len(int rc, const char *path)
{
    return rc == 1 && strnlen(path, SHIM_PATH_MAX) >= SHIM_PATH_MAX ? -ENAMETOOLONG : rc;
}

int shim_resolve(int dirfd, const char *path, int flags, struct shim_target *t)
{
    if (shim_bypass() || !path)
        return 0;
    shim_init();
    if (SHIM_UNLIKELY(!shim_cfg.enabled))
        return 0;
    if (!(flags & SHIM_RESOLVE_CHECKED) && SHIM_UNLIKELY(!shim_mem_str_ok(path)))
        return -EFAULT; /* the first read of the program's string */
    if (path[0] == '/') {
        int rc = shim_path_classify(shim_cfg.prefix, shim_cfg.prefix_len, path, t->vpath,
                                    sizeof t->vpath);
        if (rc != 0 || !(flags & SHIM_RESOLVE_ALIAS) || !shim_fd_dir)
            return shim_resolve_len(rc, path);
        return (path[1] == 'p' || path[1] == 'd') ? shim_resolve_alias(path, t) : 0;
    }
    if (path[0] == '\0')
        return 0;
    if (dirfd != AT_FDCWD) {
        if (!shim_fd_peek(dirfd))
            return 0;
        struct shim_ofd *o = shim_fd_get_any(dirfd);
        if (!o)
            return 0;
        int rc = shim_resolve_at(o, dirfd, path, t);
        shim_ofd_put(o);
        return shim_resolve_len(rc, path);
    }
    return shim_resolve_len(shim_cwd_resolve(path, t->vpath, sizeof t->vpath), path);
}

void shim_resolve_track_dir(int dirfd, const char *path, int fd)
{
    if (fd < 0 || shim_bypass() || !shim_cfg.enabled || !path)
        return;
    char abs[SHIM_PATH_MAX], norm[SHIM_PATH_MAX];
    const char *p = path;
    if (path[0] != '/') {
        if (dirfd == AT_FDCWD) {
            if (shim_cwd_host_abs(path, abs, sizeof abs) < 0)
                return;
        } else {
            struct shim_ofd *o = shim_fd_get_any(dirfd);
            int rc = -1;
            if (o && o->kind == SHIM_OFD_ANCESTOR)
                rc = shim_path_join(o->host, path, abs, sizeof abs);
            shim_ofd_put(o);
            if (rc < 0)
                return;
        }
        p = abs;
    }
    if (shim_path_normalize(p, norm, sizeof norm) < 0 ||
        !shim_path_is_ancestor(norm, shim_cfg.prefix, shim_cfg.prefix_len))
        return;
    struct shim_ofd *o = shim_ofd_new_ancestor(norm);
    if (o)
        shim_fd_install(fd, o);
}

/* shim_ns.c - the shared helpers of modifying calls (see shim_ns.h). */
#include "shim.h"

#include "shim_ns.h"
#include "shim_core.h"

int shim_ns_resolve(int dirfd, const char *path, int alias, struct shim_ns *ns)
{
    ns->dirfd = dirfd;
    ns->path = path;
    return shim_resolve(dirfd, path, alias ? SHIM_RESOLVE_ALIAS : 0, &ns->t);
}

int shim_ns_fd(int fd, struct shim_ofd **o, struct vfs_file **f)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return 0;
    struct shim_ofd *p = shim_fd_get(fd, 1);
    if (!p)
        return 0;
    if (shim_bypass()) {
        shim_ofd_put(p);
        return -EBADF;
    }
    int rc = shim_ofd_file(p, fd, f);
    if (rc < 0) {
        shim_ofd_put(p);
        return rc;
    }
    *o = p;
    return 1;
}

/* shim_ns.c - the gate of modifying calls (see shim_ns.h). */
#include "shim.h"

#include <string.h>

#include "shim_fd.h"
#include "shim_ns.h"
#include "shim_resolve.h"
#include "shim_vfs.h"

/* The parent of a volume path ("/a/b/" -> "/a"). */
static void shim_ns_parent(const char *vpath, char *out, size_t cap)
{
    snprintf(out, cap, "%s", vpath);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash == out || !slash)
        strcpy(out, "/");
    else
        *slash = '\0';
}

int shim_ns_parent_check(const char *vpath)
{
    char parent[SHIM_PATH_MAX], host[VFS_HOST_MAX];
    struct stat st;
    shim_ns_parent(vpath, parent, sizeof parent);
    int rc = shim_vfs_stat(parent, 0, &st, host, sizeof host);
    if (rc == VFS_ESCAPED)
        return -EXDEV; /* the parent is on the host, the name in the volume */
    if (rc < 0)
        return rc;
    return S_ISDIR(st.st_mode) ? -EROFS : -ENOTDIR;
}

int shim_ns_check(int dirfd, const char *path, int want, int nofollow, struct shim_ns *ns)
{
    ns->dirfd = dirfd;
    ns->path = path;
    struct shim_target t;
    int c = shim_resolve(dirfd, path, 0, &t);
    if (c <= 0)
        return c;
    struct stat st;
    int flags = (nofollow || want != SHIM_NS_EXISTING) ? VFS_NOFOLLOW : 0;
    int rc = shim_vfs_stat(t.vpath, flags, &st, ns->host, sizeof ns->host);
    if (rc == VFS_ESCAPED) {
        ns->dirfd = AT_FDCWD;
        ns->path = ns->host;
        return 0;
    }
    if (want == SHIM_NS_EXISTING)
        return rc < 0 ? rc : -EROFS;
    if (rc == 0)
        return want == SHIM_NS_CREATE ? -EEXIST : -EROFS;
    return rc == -ENOENT ? shim_ns_parent_check(t.vpath) : rc;
}

int shim_ns_fd(int fd, int badf)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    /* checked under the guard too: the engine's stale descriptor number
     * may now be the program's volume file (see shim_close.c) */
    if (SHIM_LIKELY(!p) || p->kind != SHIM_OFD_VOLUME)
        return 0;
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return 0;
    shim_ofd_put(o);
    return badf ? -EBADF : -EROFS;
}

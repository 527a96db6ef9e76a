/* shim_socket.c - AF_UNIX sockets named by a volume path: bind, connect.
 *
 * A socket bound at a volume path is a volume inode of type S_IFSOCK (so
 * stat, readdir, chmod, chown and unlink see it as on a local disk), and
 * the kernel socket behind it is bound in the abstract namespace under a
 * name made of the volume's device number and the inode number. connect
 * to the volume path looks the inode up (the kernel's rules: ENOENT,
 * ECONNREFUSED for another type, EACCES without write permission) and
 * connects to that name. So a socket is reachable by the processes of the
 * node that bound it (its network namespace), as sockets on NFS are.
 * A name the program sees from getsockname is the abstract one.
 * Addresses outside the volume, abstract and unnamed ones go to libc.
 */
#include "shim.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "shim_core.h"
#include "shim_mem.h"
#include "shim_ns.h"

/* 1 with *ns resolved to a volume path when addr names one, 0 when libc
 * answers, -errno. */
static int shim_sock_volume(const struct sockaddr *addr, socklen_t len, struct shim_ns *ns)
{
    if (!addr || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof(struct sockaddr_un))
        return 0;
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
    if (!shim_mem_str_ok((const char *)addr)) /* sun_family: 1, 0 on every Linux */
        return 0;                             /* the kernel answers EFAULT */
    if (un->sun_family != AF_UNIX || !shim_mem_str_ok(un->sun_path) || un->sun_path[0] == '\0')
        return 0;
    char path[sizeof un->sun_path + 1];
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    memcpy(path, un->sun_path, n);
    path[n] = '\0';
    int rc = shim_ns_resolve(AT_FDCWD, path, 0, ns);
    if (rc > 0) /* ns->t.vpath is a copy, independent of path */
        return 1;
    return rc < 0 ? rc : 0;
}

/* The host address an escaped volume path continues at. */
static int shim_sock_host(const struct shim_ns *ns, struct sockaddr_un *un, socklen_t *len)
{
    size_t n = strlen(ns->host);
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, ns->host, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* The abstract address of the volume socket vpath stands for. */
static void shim_sock_abstract(const struct stat *st, struct sockaddr_un *un, socklen_t *len)
{
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    int n = snprintf(un->sun_path + 1, sizeof un->sun_path - 1, "shimfs-sock/%llx/%llx",
                     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

SHIM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct shim_ns ns;
    int rc = shim_sock_volume(addr, len, &ns);
    if (rc <= 0)
        return rc < 0 ? shim_fail(rc) : REAL(bind)(fd, addr, len);
    struct sockaddr_un un;
    socklen_t ulen;
    rc = SHIM_VFS_LOAD(mknod, ns.t.vpath, S_IFSOCK | 0777, 0, ns.host, sizeof ns.host);
    if (rc == VFS_ESCAPED) { /* ".." or a symlink led out of the volume */
        rc = shim_sock_host(&ns, &un, &ulen);
        return rc < 0 ? shim_fail(rc) : REAL(bind)(fd, (const struct sockaddr *)&un, ulen);
    }
    if (rc == -EEXIST)
        rc = -EADDRINUSE;
    struct stat st;
    if (rc == 0)
        rc = SHIM_VFS(stat, ns.t.vpath, VFS_NOFOLLOW, &st, ns.host, sizeof ns.host);
    if (rc < 0)
        return shim_fail(rc);
    shim_sock_abstract(&st, &un, &ulen);
    if (REAL(bind)(fd, (const struct sockaddr *)&un, ulen) == 0)
        return 0;
    int saved = errno;
    (void)SHIM_VFS(unlink, ns.t.vpath, ns.host, sizeof ns.host);
    errno = saved;
    return -1;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct shim_ns ns;
    int rc = shim_sock_volume(addr, len, &ns);
    if (rc <= 0)
        return rc < 0 ? shim_fail(rc) : REAL(connect)(fd, addr, len);
    struct stat st;
    struct sockaddr_un un;
    socklen_t ulen;
    rc = SHIM_VFS_LOAD(stat, ns.t.vpath, 0, &st, ns.host, sizeof ns.host);
    if (rc == 0 && !S_ISSOCK(st.st_mode))
        rc = -ECONNREFUSED;
    if (rc == 0)
        rc = SHIM_VFS(access, ns.t.vpath, W_OK, 0, 1, ns.host, sizeof ns.host);
    if (rc == VFS_ESCAPED) {
        rc = shim_sock_host(&ns, &un, &ulen);
        return rc < 0 ? shim_fail(rc) : REAL(connect)(fd, (const struct sockaddr *)&un, ulen);
    }
    if (rc < 0)
        return shim_fail(rc);
    shim_sock_abstract(&st, &un, &ulen);
    return REAL(connect)(fd, (const struct sockaddr *)&un, ulen);
}

/* shim_getdents.c - getdents64 on a volume directory descriptor (the
 * libc symbol; a raw syscall(SYS_getdents64) reads the empty memfd and
 * sees no entries).
 *
 * Entries are packed as linux_dirent64 with d_off cookies. The kernel
 * offset of the placeholder stores the position (cookie - first cookie), so
 * lseek(fd, 0, SEEK_SET) rewinds and dup'ed or inherited descriptors share
 * it, as with a real directory.
 */
#include "shim.h"

#include <string.h>
#include <unistd.h>

#include "shim_dir.h"
#include "shim_fd.h"
#include "shim_core.h"

/* Pack entries from the ofd's stream into buf; lock held. */
static ssize_t shim_getdents_fill(int fd, struct shim_ofd *o, struct vfs_file *f, char *buf,
                                  size_t len)
{
    if (!o->dir) {
        int rc = SHIM_VFS(dir_open, f, &o->dir);
        if (rc < 0)
            return rc;
        o->dir_base = SHIM_VFS(dir_tell, o->dir);
        o->dir_kpos = 0;
    }
    off_t kpos = REAL(lseek)(fd, 0, SEEK_CUR);
    if (kpos < 0)
        return -errno;
    if (kpos != o->dir_kpos) {
        int rc = SHIM_VFS(dir_seek, o->dir, o->dir_base + kpos);
        if (rc < 0)
            return rc;
    }
    size_t used = 0;
    for (;;) {
        long before = SHIM_VFS(dir_tell, o->dir);
        struct vfs_dirent e;
        int rc = SHIM_VFS(dir_next, o->dir, &e);
        if (rc < 0 && used == 0)
            return rc;
        if (rc <= 0)
            break;
        struct dirent64 d;
        shim_dir_fill(&d, &e, SHIM_VFS(dir_tell, o->dir) - o->dir_base);
        if (used + d.d_reclen > len) {
            SHIM_VFS(dir_seek, o->dir, before); /* it goes first next time */
            if (used == 0)
                return -EINVAL;
            break;
        }
        memcpy(buf + used, &d, d.d_reclen);
        used += d.d_reclen;
    }
    o->dir_kpos = SHIM_VFS(dir_tell, o->dir) - o->dir_base;
    if (REAL(lseek)(fd, o->dir_kpos, SEEK_SET) < 0)
        return -errno;
    return (ssize_t)used;
}

SHIM_EXPORT ssize_t getdents64(int fd, void *buf, size_t len)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return REAL(getdents64)(fd, buf, len);
    struct vfs_file *f;
    ssize_t rc = shim_ofd_file(o, fd, &f);
    if (rc == 0 && !o->isdir)
        rc = -ENOTDIR;
    if (rc == 0) {
        pthread_mutex_lock(&o->lock);
        rc = shim_getdents_fill(fd, o, f, buf, len);
        pthread_mutex_unlock(&o->lock);
    }
    shim_ofd_put(o);
    return rc < 0 ? shim_fail((int)rc) : rc;
}

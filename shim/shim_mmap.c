/* shim_mmap.c - mapping and access hints: mmap, mmap64, posix_fadvise,
 * posix_fadvise64, readahead.
 *
 * A native descriptor maps natively. A placeholder maps the engine's
 * materialised copy (vfs_mmap_fd: one copy per open file, made on the first
 * mmap), which is what numpy and safetensors need. A shared writable
 * mapping of a read-only file is refused with EACCES, as the kernel does
 * for an O_RDONLY descriptor (the memfd behind it is read-write).
 * WILLNEED hints start the engine's prefetch.
 */
#include "shim.h"

#include <sys/mman.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_core.h"

/* 1 when handled (*ret), 0: map the descriptor natively. */
static int shim_mmap_volume(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                            void **ret)
{
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return 0;
    int shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
    int rc = 0;
    int writer = (o->flags & O_ACCMODE) != O_RDONLY;
    if ((o->flags & O_PATH))
        rc = -EBADF;
    else if (shared && (prot & PROT_WRITE))
        rc = writer ? -ENODEV : -EACCES; /* no shared writable maps of volume files */
    else if (o->isdir)
        rc = -ENODEV;
    else if (o->native) {
        shim_ofd_put(o);
        rc = shim_check_fd(fd); /* the map shows the bytes: check them first */
        if (rc == 0)
            return 0;
        errno = -rc;
        *ret = MAP_FAILED;
        return 1;
    }
    struct vfs_file *f;
    int mfd = -1;
    if (rc == 0)
        rc = shim_ofd_file(o, fd, &f);
    if (rc == 0 && writer)
        rc = SHIM_VFS(fsync, f); /* the copy mapped is made of committed data */
    if (rc == 0)
        rc = SHIM_VFS(mmap_fd, f, &mfd);
    shim_ofd_put(o);
    if (rc < 0) {
        errno = -rc;
        *ret = MAP_FAILED;
        return 1;
    }
    *ret = REAL(mmap)(addr, len, prot, flags, mfd, off);
    return 1;
}

static inline int shim_mmap_candidate(int flags, int fd)
{
    return !(flags & MAP_ANONYMOUS) && SHIM_UNLIKELY(shim_fd_peek(fd) != NULL) && !shim_bypass();
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *r;
    if (shim_mmap_candidate(flags, fd) && shim_mmap_volume(addr, len, prot, flags, fd, off, &r))
        return r;
    return REAL(mmap)(addr, len, prot, flags, fd, off);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    void *r;
    if (shim_mmap_candidate(flags, fd) && shim_mmap_volume(addr, len, prot, flags, fd, off, &r))
        return r;
    return REAL(mmap64)(addr, len, prot, flags, fd, off);
}

/* The hint for a volume descriptor: 1 when handled (*err is the error
 * number, posix_fadvise style), 0: not ours. */
static int shim_fadvise_volume(int fd, off_t off, off_t len, int advice, int *err)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int rc = (advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE || len < 0) ? -EINVAL : 0;
    if (rc == 0 && (o->isdir || (o->flags & O_PATH)))
        rc = o->isdir ? -EINVAL : -EBADF;
    if (rc == 0)
        rc = shim_ofd_file(o, fd, &f);
    if (rc == 0)
        rc = SHIM_VFS(fadvise, f, (uint64_t)(off < 0 ? 0 : off), (uint64_t)len, advice);
    shim_ofd_put(o);
    *err = -rc;
    return 1;
}

SHIM_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
    int err;
    return shim_fadvise_volume(fd, off, len, advice, &err) ? err
                                                           : REAL(posix_fadvise)(fd, off, len, advice);
}

SHIM_EXPORT int posix_fadvise64(int fd, off64_t off, off64_t len, int advice)
{
    int err;
    return shim_fadvise_volume(fd, off, len, advice, &err)
               ? err
               : REAL(posix_fadvise64)(fd, off, len, advice);
}

SHIM_EXPORT ssize_t readahead(int fd, off64_t off, size_t count)
{
    int err;
    off_t len = count > (size_t)INT64_MAX ? INT64_MAX : (off_t)count;
    if (!shim_fadvise_volume(fd, off, len, POSIX_FADV_WILLNEED, &err))
        return REAL(readahead)(fd, off, count);
    return err ? shim_fail(-err) : 0;
}

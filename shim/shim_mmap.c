/* shim_mmap.c - mapping and access hints: mmap, mmap64, posix_fadvise,
 * posix_fadvise64, readahead.
 *
 * A native descriptor maps natively. A placeholder maps what the engine
 * hands out (vfs_map_open): for a MAP_SHARED map of a file open O_RDWR,
 * the file's working copy, shared by the node's processes that map it,
 * whose changes commit at msync(MS_SYNC), munmap, fsync and close
 * (shim_maps.c keeps the maps by address); otherwise a copy of the file
 * (numpy, safetensors), mapped through a read-only descriptor for an
 * O_RDONLY file so that mprotect(PROT_WRITE) of a shared map is refused
 * (EACCES) as the kernel does. An O_WRONLY file cannot be mapped
 * (EACCES), nor a read-only one shared and writable.
 * WILLNEED hints start the engine's prefetch.
 */
#include "shim.h"

#include <sys/mman.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_core.h"
#include "shim_maps.h"
#include "shim_sync.h"

/* A descriptor of the same file that only reads: the kernel then refuses
 * a later mprotect(PROT_WRITE) of a shared map (EACCES), as it would for
 * the program's O_RDONLY descriptor. Consumes fd. */
static int shim_mmap_readonly(int fd)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int ro = REAL(open)(proc, O_RDONLY | O_CLOEXEC);
    int err = errno;
    REAL(close)(fd);
    return ro < 0 ? -err : ro;
}

/* 1 when handled (*ret), 0: map the descriptor natively. */
static int shim_mmap_volume(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                            void **ret)
{
    struct shim_ofd *o = shim_fd_get(fd, 1);
    if (!o)
        return 0;
    int shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
    int acc = o->flags & O_ACCMODE, rc = 0;
    if ((o->flags & O_PATH))
        rc = -EBADF;
    else if (acc == O_WRONLY || (shared && (prot & PROT_WRITE) && acc == O_RDONLY))
        rc = -EACCES; /* as the kernel: a map reads; a shared writable one writes too */
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
    int mfd = -1, writer = acc == O_RDWR;
    if (rc == 0)
        rc = shim_ofd_file(o, fd, &f);
    if (rc == 0)
        rc = SHIM_VFS(map_open, f, shared && writer, &mfd);
    if (rc == 0 && !writer)
        rc = mfd = shim_mmap_readonly(mfd);
    if (rc < 0) {
        shim_ofd_put(o);
        errno = -rc;
        *ret = MAP_FAILED;
        return 1;
    }
    *ret = REAL(mmap)(addr, len, prot, flags, mfd, off);
    int err = errno;
    REAL(close)(mfd);
    if (*ret != MAP_FAILED && (flags & MAP_FIXED) && shim_maps_active())
        shim_maps_unmapped(*ret, len); /* whatever was mapped there is gone */
    if (*ret != MAP_FAILED && shared && writer) {
        shim_sync_exit_commit();          /* a map left at exit commits too */
        shim_maps_add(*ret, len, off, o); /* the map holds the open file */
    } else {
        shim_ofd_put(o);
    }
    errno = err;
    return 1;
}

static inline int shim_mmap_candidate(int flags, int fd)
{
    return !(flags & MAP_ANONYMOUS) && SHIM_UNLIKELY(shim_fd_peek(fd) != NULL) && !shim_bypass();
}

/* MAP_FIXED over a shared map of a volume file unmaps it: it commits. */
static inline void *shim_mmap_fixed(void *r, size_t len, int flags)
{
    if (SHIM_UNLIKELY((flags & MAP_FIXED) && shim_maps_active()) && r != MAP_FAILED) {
        int saved = errno;
        shim_maps_unmapped(r, len);
        errno = saved;
    }
    return r;
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *r;
    if (shim_mmap_candidate(flags, fd) && shim_mmap_volume(addr, len, prot, flags, fd, off, &r))
        return r;
    return shim_mmap_fixed(REAL(mmap)(addr, len, prot, flags, fd, off), len, flags);
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    void *r;
    if (shim_mmap_candidate(flags, fd) && shim_mmap_volume(addr, len, prot, flags, fd, off, &r))
        return r;
    return shim_mmap_fixed(REAL(mmap64)(addr, len, prot, flags, fd, off), len, flags);
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

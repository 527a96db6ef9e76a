/* shim_sync.c - durability and size on volume descriptors: fsync,
 * fdatasync, syncfs, sync, sync_file_range, ftruncate, ftruncate64,
 * truncate, truncate64, fallocate, fallocate64, posix_fallocate,
 * posix_fallocate64, and the commit of still-open writers at exit().
 *
 * fsync and fdatasync are commit points (close-to-open): the engine
 * uploads what is buffered and commits it in one transaction, and their
 * failure (the store or database unreachable) comes back as EIO with the
 * bytes still buffered, so a later fsync can commit them. They, syncfs and
 * sync are also the durability points of group commit: a close's commit
 * is visible at once but not waited for (SHIMFS_SYNC_CLOSE), and these
 * wait for it (sync and syncfs: for every process's and node's).
 */
#include "shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_ns.h"
#include "shim_sync.h"
#include "shim_settle.h"
#include "shim_core.h"
#include "shim_maps.h"

/* Run body with (o, f) for a volume descriptor, or return pass_call. */
#define SHIM_SYNC_FD(fd, o, f, body, pass_call) SHIM_NS_FD_CALL(fd, o, f, body, pass_call)

static int shim_sync_file(struct shim_ofd *o, struct vfs_file *f)
{
    return (o->flags & O_PATH) ? -EBADF : SHIM_VFS(fsync, f, VFS_FSYNC_FILE);
}

SHIM_EXPORT int fsync(int fd)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fsync)(fd);
    SHIM_SYNC_FD(fd, o, f, shim_sync_file(o, f), REAL(fsync)(fd));
}

SHIM_EXPORT int fdatasync(int fd)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fdatasync)(fd);
    SHIM_SYNC_FD(fd, o, f, shim_sync_file(o, f), REAL(fdatasync)(fd));
}

/* ---- every writer of this process ---- */
typedef int (*shim_sync_fn)(int fd, struct shim_ofd *o, struct vfs_file *f);

/* fn on every volume descriptor open for writing (a file shared by dup
 * comes once per number; the second commit finds nothing to do). */
static int shim_sync_each_writer(shim_sync_fn fn)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    int first_err = 0;
    for (unsigned p = 0; dir && p < shim_fd_cap >> SHIM_FD_PAGE_SHIFT; p++) {
        struct shim_ofd **page = __atomic_load_n(&dir[p], __ATOMIC_ACQUIRE);
        for (unsigned i = 0; page && i <= SHIM_FD_PAGE_MASK; i++) {
            struct shim_ofd *q = __atomic_load_n(&page[i], __ATOMIC_ACQUIRE);
            if (!q || q->kind != SHIM_OFD_VOLUME || shim_ns_writable(q) < 0 || q->isdir)
                continue;
            int fd = (int)((p << SHIM_FD_PAGE_SHIFT) | i);
            struct shim_ofd *o;
            struct vfs_file *f;
            if (shim_ns_fd(fd, &o, &f) <= 0)
                continue;
            int rc = fn(fd, o, f);
            if (rc < 0 && first_err == 0)
                first_err = rc;
            shim_ofd_put(o);
        }
    }
    return first_err;
}

static int shim_sync_commit_one(int fd, struct shim_ofd *o, struct vfs_file *f)
{
    (void)o;
    int rc = shim_settle(fd);
    if (rc == 0)
        rc = SHIM_VFS(fsync, f, 0);
    if (rc < 0)
        shim_log(SHIM_LOG_ERROR, "exit: committing descriptor %d (%s) failed: %s; its last writes "
                 "are lost", fd, shim_vfs->file_path(f), strerror(-rc));
    return rc;
}

static void shim_sync_at_exit(void)
{
    if (shim_in_vfork_child())
        return;
    /* stdio flushes after the atexit handlers: its last bytes first */
    fflush(NULL);
    shim_sync_each_writer(shim_sync_commit_one);
    shim_maps_commit_all(); /* maps whose descriptors were closed */
}

/* The process whose writers the exit handler commits. fork inherits the
 * handler but not this claim: a child that never writes does not publish
 * its parent's half-written buffers when it exits; a child that writes
 * claims it for itself. */
static pid_t shim_sync_exit_pid, shim_sync_exit_done;

/* atexit handlers run last-registered first, and libcrypto's cleanup is
 * one of them (registered when the engine starts libcurl): a handler
 * registered before the engine loaded would upload with a dead libcrypto.
 * So the handler is registered again once the engine is up, and only the
 * first run (the latest registration) works. */
static void shim_sync_exit_handler(void)
{
    pid_t me = getpid();
    if (__atomic_load_n(&shim_sync_exit_pid, __ATOMIC_ACQUIRE) != me || shim_sync_exit_done == me)
        return;
    shim_sync_exit_done = me;
    shim_sync_at_exit();
}

void shim_sync_exit_commit(void)
{
    static int registered; /* 1 before the engine loaded, 2 after */
    pid_t me = shim_cfg.pid;
    int want = shim_core_loaded() ? 2 : 1;
    if (SHIM_LIKELY(__atomic_load_n(&shim_sync_exit_pid, __ATOMIC_ACQUIRE) == me &&
                    __atomic_load_n(&registered, __ATOMIC_ACQUIRE) >= want))
        return;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    if (registered < want && atexit(shim_sync_exit_handler) == 0)
        __atomic_store_n(&registered, want, __ATOMIC_RELEASE);
    __atomic_store_n(&shim_sync_exit_pid, me, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
}

static int shim_syncfs_one(int fd, struct shim_ofd *o, struct vfs_file *f)
{
    (void)fd;
    (void)o;
    return SHIM_VFS(fsync, f, 0); /* shim_sync_volume flushes the WAL for all after */
}

/* syncfs and sync of the volume (the engine loaded): every writer of this
 * process commits, then every commit acknowledged on the volume, any
 * process's or node's, is made durable; the first failure. */
static int shim_sync_volume(void)
{
    int c = shim_sync_each_writer(shim_syncfs_one);
    int s = SHIM_VFS(sync_volume);
    return c < 0 ? c : s;
}

/* syncfs of the volume (shim_sync_volume). */
SHIM_EXPORT int syncfs(int fd)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(syncfs)(fd);
    struct shim_ofd *o;
    struct vfs_file *f;
    int c = shim_ns_fd(fd, &o, &f);
    if (c == 0)
        return REAL(syncfs)(fd);
    if (c < 0)
        return shim_fail(c);
    shim_ofd_put(o);
    c = shim_sync_volume();
    return c < 0 ? shim_fail(c) : 0;
}

/* sync: the host's file systems, then the volume as syncfs does it. It
 * loads the engine in a process that never used the volume (the `sync`
 * command): other processes' closes are made durable too. It cannot fail,
 * so a failure is one log line. */
SHIM_EXPORT void sync(void)
{
    REAL(sync)();
    if (shim_bypass() || shim_in_vfork_child())
        return;
    int c = shim_core_load();
    if (c == 0)
        c = shim_sync_volume();
    if (c < 0)
        shim_log(SHIM_LOG_ERROR, "sync: the volume's last commits may not be durable: %s",
                 strerror(-c));
}

/* Writeback of a range: the engine commits whole files, so a request to
 * start writeback commits; the wait-only flags have nothing to wait for. */
static int shim_sync_range(struct shim_ofd *o, struct vfs_file *f, off64_t off, off64_t n,
                           unsigned flags)
{
    if (flags & ~(unsigned)(SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER))
        return -EINVAL;
    if (off < 0 || n < 0)
        return -EINVAL;
    return (flags & SYNC_FILE_RANGE_WRITE) ? shim_sync_file(o, f) : 0;
}

SHIM_EXPORT int sync_file_range(int fd, off64_t off, off64_t n, unsigned flags)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(sync_file_range)(fd, off, n, flags);
    SHIM_SYNC_FD(fd, o, f, shim_sync_range(o, f, off, n, flags),
                 REAL(sync_file_range)(fd, off, n, flags));
}

/* ---- size ---- */
static int shim_sync_ftruncate(struct shim_ofd *o, struct vfs_file *f, off64_t len)
{
    if (o->flags & O_PATH)
        return -EBADF;
    if (len < 0)
        return -EINVAL;
    if (o->isdir)
        return -EINVAL;
    /* the kernel's answer for a descriptor not open for writing */
    if ((o->flags & O_ACCMODE) == O_RDONLY)
        return -EINVAL;
    return SHIM_VFS(ftruncate, f, (uint64_t)len);
}

SHIM_EXPORT int ftruncate(int fd, off_t len)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(ftruncate)(fd, len);
    SHIM_SYNC_FD(fd, o, f, shim_sync_ftruncate(o, f, len), REAL(ftruncate)(fd, len));
}

SHIM_EXPORT int ftruncate64(int fd, off64_t len)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(ftruncate64)(fd, len);
    SHIM_SYNC_FD(fd, o, f, shim_sync_ftruncate(o, f, len), REAL(ftruncate64)(fd, len));
}

static int shim_truncate_vfs(struct shim_ns *ns, off64_t len)
{
    if (len < 0)
        return -EINVAL;
    return SHIM_VFS_LOAD(truncate, ns->t.vpath, (uint64_t)len, ns->host, sizeof ns->host);
}

SHIM_EXPORT int truncate(const char *path, off_t len)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, shim_truncate_vfs(&ns, len), REAL(truncate)(ns.path, len));
}

SHIM_EXPORT int truncate64(const char *path, off64_t len)
{
    struct shim_ns ns;
    SHIM_NS_CALL(ns, AT_FDCWD, path, 1, shim_truncate_vfs(&ns, len),
                 REAL(truncate64)(ns.path, len));
}

/* ---- space ---- */
static int shim_sync_fallocate(struct shim_ofd *o, struct vfs_file *f, int mode, off64_t off,
                               off64_t len)
{
    if (off < 0 || len <= 0)
        return -EINVAL;
    if (shim_ns_writable(o) < 0)
        return -EBADF;
    if (o->isdir)
        return -EISDIR;
    if (off > INT64_MAX - len)
        return -EFBIG;
    return SHIM_VFS(fallocate, f, mode, (uint64_t)off, (uint64_t)len);
}

SHIM_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fallocate)(fd, mode, off, len);
    SHIM_SYNC_FD(fd, o, f, shim_sync_fallocate(o, f, mode, off, len),
                 REAL(fallocate)(fd, mode, off, len));
}

SHIM_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)))
        return REAL(fallocate64)(fd, mode, off, len);
    SHIM_SYNC_FD(fd, o, f, shim_sync_fallocate(o, f, mode, off, len),
                 REAL(fallocate64)(fd, mode, off, len));
}

/* posix_fallocate returns the error number instead of setting errno. */
static int shim_posix_fallocate(int fd, off64_t off, off64_t len, int *err)
{
    struct shim_ofd *o;
    struct vfs_file *f;
    int c = shim_ns_fd(fd, &o, &f);
    if (c <= 0) {
        *err = -c;
        return c < 0;
    }
    *err = -shim_sync_fallocate(o, f, 0, off, len);
    shim_ofd_put(o);
    return 1;
}

SHIM_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
    int err;
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)) || !shim_posix_fallocate(fd, off, len, &err))
        return REAL(posix_fallocate)(fd, off, len);
    return err;
}

SHIM_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    int err;
    if (SHIM_LIKELY(!shim_ns_fd_candidate(fd)) || !shim_posix_fallocate(fd, off, len, &err))
        return REAL(posix_fallocate64)(fd, off, len);
    return err;
}

/* shim_core.c - loads the engine (libshimfs-core.so) on the first touch of
 * the prefix and is the only place that calls it.
 *
 * Why lazily: linking libcurl and libpq into the preload costs every
 * process ~3 ms at start; a process that never touches the prefix must not
 * pay it, nor connect anywhere. The engine is dlopened RTLD_LOCAL under the
 * recursion guard (its constructors and libraries call open/read/stat), its
 * vfs_* functions land in a table, and vfs_init runs once. A failure logs
 * one line; volume paths then fail with EIO and everything else works.
 */
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "shim_mem.h"
#include "shim_vfs.h"

#define SHIM_VFS_LIST(X) \
    X(int, init, (void)) \
    X(void, after_fork, (void)) \
    X(int, stat, (const char *, int, struct stat *, char *, size_t)) \
    X(int, access, (const char *, int, int, int, char *, size_t)) \
    X(int, readlink, (const char *, char *, size_t, char *, size_t)) \
    X(int, realpath, (const char *, char *, size_t, char *, size_t)) \
    X(int, statvfs, (struct statvfs *)) \
    X(int, getxattr, (const char *, int, const char *, void *, size_t, char *, size_t)) \
    X(int, listxattr, (const char *, int, char *, size_t, char *, size_t)) \
    X(int, open, (const char *, int, mode_t, struct vfs_file **, char *, size_t)) \
    X(int, file_fd, (const struct vfs_file *)) \
    X(int, file_native, (const struct vfs_file *)) \
    X(int, file_unchecked, (const struct vfs_file *)) \
    X(int, file_check, (struct vfs_file *, const void *, size_t, uint64_t, int *)) \
    X(int, file_follow, (struct vfs_file *, int *)) \
    X(int, file_isdir, (const struct vfs_file *)) \
    X(const char *, file_path, (const struct vfs_file *)) \
    X(int, fstat, (struct vfs_file *, struct stat *)) \
    X(ssize_t, pread, (struct vfs_file *, void *, size_t, uint64_t)) \
    X(int, mmap_fd, (struct vfs_file *, int *)) \
    X(int, fadvise, (struct vfs_file *, uint64_t, uint64_t, int)) \
    X(int, release, (struct vfs_file *)) \
    X(int, adopt, (int, uint64_t, int, struct vfs_file **)) \
    X(int, dir_open, (struct vfs_file *, struct vfs_dir **)) \
    X(int, dir_next, (struct vfs_dir *, struct vfs_dirent *)) \
    X(long, dir_tell, (struct vfs_dir *)) \
    X(int, dir_seek, (struct vfs_dir *, long)) \
    X(void, dir_close, (struct vfs_dir *)) \
    X(int, fgetxattr, (struct vfs_file *, const char *, void *, size_t)) \
    X(int, flistxattr, (struct vfs_file *, char *, size_t)) \
    SHIM_VFS_WRITE_LIST(X)

/* The write path (shim_write.c, shim_sync.c, shim_lock.c, the namespace
 * and attribute families). */
#define SHIM_VFS_WRITE_LIST(X) \
    X(ssize_t, pwrite, (struct vfs_file *, const void *, size_t, uint64_t)) \
    X(int, fsync, (struct vfs_file *)) \
    X(int, ftruncate, (struct vfs_file *, uint64_t)) \
    X(int, fallocate, (struct vfs_file *, int, uint64_t, uint64_t)) \
    X(uint64_t, file_size, (struct vfs_file *)) \
    X(int, file_flags, (const struct vfs_file *)) \
    X(int, lock_fd, (struct vfs_file *)) \
    X(int, mkdir, (const char *, mode_t, char *, size_t)) \
    X(int, rmdir, (const char *, char *, size_t)) \
    X(int, unlink, (const char *, char *, size_t)) \
    X(int, rename, (const char *, const char *, unsigned)) \
    X(int, link, (const char *, const char *, int)) \
    X(int, symlink, (const char *, const char *, char *, size_t)) \
    X(int, mknod, (const char *, mode_t, dev_t, char *, size_t)) \
    X(int, chmod, (const char *, struct vfs_file *, mode_t, int, char *, size_t)) \
    X(int, chown, (const char *, struct vfs_file *, uid_t, gid_t, int, char *, size_t)) \
    X(int, utimens, (const char *, struct vfs_file *, const struct timespec *, int, char *, size_t)) \
    X(int, truncate, (const char *, uint64_t, char *, size_t)) \
    X(int, setxattr, (const char *, struct vfs_file *, const char *, const void *, size_t, int, int, \
                      char *, size_t)) \
    X(int, removexattr, (const char *, struct vfs_file *, const char *, int, char *, size_t))

#define SHIM_VFS_FIELD(ret, name, params) ret (*name) params;
static struct { SHIM_VFS_LIST(SHIM_VFS_FIELD) } shim_ops;
#undef SHIM_VFS_FIELD

static pthread_mutex_t shim_core_lock = PTHREAD_MUTEX_INITIALIZER;
static int shim_core_state;    /* 0 not tried, 1 ready, -errno failed */

static int shim_core_start(void);

static int shim_core_resolve(void *h)
{
    void *p;
#define SHIM_VFS_RESOLVE(ret, name, params)                                       \
    if (!(p = dlsym(h, "vfs_" #name))) {                                           \
        shim_log(SHIM_LOG_ERROR, "cannot use %s: vfs_%s missing", shim_cfg.core_lib, #name); \
        return -EIO;                                                               \
    }                                                                              \
    shim_ops.name = (ret (*) params)p;
    SHIM_VFS_LIST(SHIM_VFS_RESOLVE)
#undef SHIM_VFS_RESOLVE
    return 0;
}

/* Occupy the free descriptors below SHIM_CORE_LOW_FDS while the engine
 * starts, so its long-lived descriptors (database socket, cache
 * directories) land above the numbers shells and programs pick by hand
 * (`exec 3< file` would dup2 over them). Returns how many are held. */
#define SHIM_CORE_LOW_FDS 10

static int shim_core_hold_low_fds(int *held)
{
    int n = 0;
    while (n < SHIM_CORE_LOW_FDS) {
        int fd = REAL(open)("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (fd >= SHIM_CORE_LOW_FDS) {
            REAL(close)(fd);
            break;
        }
        held[n++] = fd;
    }
    return n;
}

static int shim_core_open(void)
{
    int held[SHIM_CORE_LOW_FDS];
    int nheld = shim_core_hold_low_fds(held);
    int rc = shim_core_start();
    for (int i = 0; i < nheld; i++)
        REAL(close)(held[i]);
    return rc;
}

static int shim_core_start(void)
{
    void *h = dlopen(shim_cfg.core_lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        shim_log(SHIM_LOG_ERROR, "cannot load the engine %s: %s; volume paths fail with EIO",
                 shim_cfg.core_lib, why ? why : "unknown error");
        return -EIO;
    }
    int rc = shim_core_resolve(h);
    if (rc < 0)
        return rc;
    rc = shim_ops.init();
    /* vfs_init logged why; programs see EIO on volume paths */
    return rc < 0 ? -EIO : 1;
}

int shim_core_load(void)
{
    int s = __atomic_load_n(&shim_core_state, __ATOMIC_ACQUIRE);
    if (SHIM_LIKELY(s == 1))
        return 0;
    if (s < 0)
        return s;
    /* a vfork child shares our memory and dies at exec: never start the
     * engine (threads, connections) there */
    if (shim_in_vfork_child())
        return -EIO;
    int saved = errno;
    pthread_mutex_lock(&shim_core_lock);
    s = shim_core_state;
    if (s == 0) {
        shim_guard++;
        s = shim_core_open();
        shim_guard--;
        __atomic_store_n(&shim_core_state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&shim_core_lock);
    errno = saved;
    return s == 1 ? 0 : s;
}

int shim_core_loaded(void) { return __atomic_load_n(&shim_core_state, __ATOMIC_ACQUIRE) == 1; }

void shim_core_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_core_lock = fresh;
    if (!shim_core_loaded())
        return;
    shim_guard++;
    shim_ops.after_fork();
    shim_guard--;
}

/* Run one engine call under the guard with errno preserved. */
#define SHIM_ENGINE(stmt)                 \
    do {                                  \
        int shim_saved_errno_ = errno;    \
        shim_guard++;                     \
        stmt;                             \
        shim_guard--;                     \
        errno = shim_saved_errno_;        \
    } while (0)

#define SHIM_LOAD_OR_FAIL()               \
    do {                                  \
        int shim_rc_ = shim_core_load();  \
        if (shim_rc_ < 0)                 \
            return shim_rc_;              \
    } while (0)

int shim_vfs_stat(const char *vp, int flags, struct stat *st, char *host, size_t hcap)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.stat(vp, flags, st, host, hcap));
    return r;
}

int shim_vfs_access(const char *vp, int mode, int flags, int eaccess, char *host, size_t hcap)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.access(vp, mode, flags, eaccess, host, hcap));
    return r;
}

/* A length-returning call answered VFS_ESCAPED iff it wrote a host path. */
static ssize_t shim_vfs_length(int r, const char *host, int *escaped)
{
    *escaped = r == VFS_ESCAPED && host[0] == '/';
    return *escaped ? 0 : r;
}

ssize_t shim_vfs_readlink(const char *vp, char *buf, size_t cap, char *host, size_t hcap,
                          int *escaped)
{
    *escaped = 0;
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.readlink(vp, buf, cap, host, hcap));
    return shim_vfs_length(r, host, escaped);
}

ssize_t shim_vfs_getxattr(const char *vp, int flags, const char *name, void *buf, size_t cap,
                          char *host, size_t hcap, int *escaped)
{
    *escaped = 0;
    if (!shim_mem_str_ok(name))
        return -EFAULT; /* the kernel reads the name first */
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.getxattr(vp, flags, name, buf, cap, host, hcap));
    return shim_vfs_length(r, host, escaped);
}

ssize_t shim_vfs_listxattr(const char *vp, int flags, char *buf, size_t cap, char *host,
                           size_t hcap, int *escaped)
{
    *escaped = 0;
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.listxattr(vp, flags, buf, cap, host, hcap));
    return shim_vfs_length(r, host, escaped);
}

int shim_vfs_realpath(const char *vp, char *out, size_t cap, char *host, size_t hcap)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.realpath(vp, out, cap, host, hcap));
    return r;
}

int shim_vfs_statvfs(struct statvfs *st)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    SHIM_ENGINE(r = shim_ops.statvfs(st));
    return r;
}

int shim_vfs_open(const char *vp, int flags, mode_t mode, struct vfs_file **out, char *host,
                  size_t hcap)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    host[0] = '\0';
    SHIM_ENGINE(r = shim_ops.open(vp, flags, mode, out, host, hcap));
    return r;
}

/* Accessors of an open file: the engine is loaded if a file exists. */
int shim_vfs_file_fd(const struct vfs_file *f) { return shim_ops.file_fd(f); }
int shim_vfs_file_native(const struct vfs_file *f) { return shim_ops.file_native(f); }
int shim_vfs_file_isdir(const struct vfs_file *f) { return shim_ops.file_isdir(f); }
int shim_vfs_file_unchecked(const struct vfs_file *f) { return shim_ops.file_unchecked(f); }

int shim_vfs_file_check(struct vfs_file *f, const void *buf, size_t n, uint64_t off, int *newfd)
{
    int r;
    SHIM_ENGINE(r = shim_ops.file_check(f, buf, n, off, newfd));
    return r;
}
const char *shim_vfs_file_path(const struct vfs_file *f) { return shim_ops.file_path(f); }

int shim_vfs_file_follow(struct vfs_file *f, int *newfd)
{
    int r;
    *newfd = -1;
    SHIM_ENGINE(r = shim_ops.file_follow(f, newfd));
    return r;
}

int shim_vfs_fstat(struct vfs_file *f, struct stat *st)
{
    int r;
    SHIM_ENGINE(r = shim_ops.fstat(f, st));
    return r;
}

ssize_t shim_vfs_pread(struct vfs_file *f, void *buf, size_t len, uint64_t off)
{
    ssize_t r;
    SHIM_ENGINE(r = shim_ops.pread(f, buf, len, off));
    return r;
}

int shim_vfs_mmap_fd(struct vfs_file *f, int *fd)
{
    int r;
    SHIM_ENGINE(r = shim_ops.mmap_fd(f, fd));
    return r;
}

int shim_vfs_fadvise(struct vfs_file *f, uint64_t off, uint64_t len, int advice)
{
    int r;
    SHIM_ENGINE(r = shim_ops.fadvise(f, off, len, advice));
    return r;
}

int shim_vfs_release(struct vfs_file *f)
{
    int r = 0;
    if (f && shim_core_loaded())
        SHIM_ENGINE(r = shim_ops.release(f));
    return r;
}

int shim_vfs_adopt(int fd, uint64_t ino, int flags, struct vfs_file **out)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    SHIM_ENGINE(r = shim_ops.adopt(fd, ino, flags, out));
    return r;
}

int shim_vfs_dir_open(struct vfs_file *f, struct vfs_dir **out)
{
    int r;
    SHIM_ENGINE(r = shim_ops.dir_open(f, out));
    return r;
}

int shim_vfs_dir_next(struct vfs_dir *d, struct vfs_dirent *e)
{
    int r;
    SHIM_ENGINE(r = shim_ops.dir_next(d, e));
    return r;
}

long shim_vfs_dir_tell(struct vfs_dir *d)
{
    long r;
    SHIM_ENGINE(r = shim_ops.dir_tell(d));
    return r;
}

int shim_vfs_dir_seek(struct vfs_dir *d, long pos)
{
    int r;
    SHIM_ENGINE(r = shim_ops.dir_seek(d, pos));
    return r;
}

void shim_vfs_dir_close(struct vfs_dir *d)
{
    if (d)
        SHIM_ENGINE(shim_ops.dir_close(d));
}

ssize_t shim_vfs_fgetxattr(struct vfs_file *f, const char *name, void *buf, size_t cap)
{
    int r;
    if (!shim_mem_str_ok(name))
        return -EFAULT;
    SHIM_ENGINE(r = shim_ops.fgetxattr(f, name, buf, cap));
    return r;
}

ssize_t shim_vfs_flistxattr(struct vfs_file *f, char *buf, size_t cap)
{
    int r;
    SHIM_ENGINE(r = shim_ops.flistxattr(f, buf, cap));
    return r;
}

/* ---- the write path ---- */
ssize_t shim_vfs_pwrite(struct vfs_file *f, const void *buf, size_t len, uint64_t off)
{
    ssize_t r;
    SHIM_ENGINE(r = shim_ops.pwrite(f, buf, len, off));
    return r;
}

int shim_vfs_fsync(struct vfs_file *f)
{
    int r;
    SHIM_ENGINE(r = shim_ops.fsync(f));
    return r;
}

int shim_vfs_ftruncate(struct vfs_file *f, uint64_t size)
{
    int r;
    SHIM_ENGINE(r = shim_ops.ftruncate(f, size));
    return r;
}

int shim_vfs_fallocate(struct vfs_file *f, int mode, uint64_t off, uint64_t len)
{
    int r;
    SHIM_ENGINE(r = shim_ops.fallocate(f, mode, off, len));
    return r;
}

uint64_t shim_vfs_file_size(struct vfs_file *f)
{
    uint64_t r;
    SHIM_ENGINE(r = shim_ops.file_size(f));
    return r;
}

int shim_vfs_file_flags(const struct vfs_file *f) { return shim_ops.file_flags(f); }

int shim_vfs_lock_fd(struct vfs_file *f)
{
    int r;
    SHIM_ENGINE(r = shim_ops.lock_fd(f));
    return r;
}

/* Path calls (or attribute calls on an open file, host NULL): the
 * engine may not be loaded yet. */
#define SHIM_VFS_PATH_CALL(call)          \
    do {                                  \
        SHIM_LOAD_OR_FAIL();              \
        int r_;                           \
        if (host)                         \
            host[0] = '\0';               \
        SHIM_ENGINE(r_ = (call));         \
        return r_;                        \
    } while (0)

int shim_vfs_mkdir(const char *vp, mode_t mode, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.mkdir(vp, mode, host, hcap));
}

int shim_vfs_rmdir(const char *vp, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.rmdir(vp, host, hcap));
}

int shim_vfs_unlink(const char *vp, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.unlink(vp, host, hcap));
}

int shim_vfs_rename(const char *from, const char *to, unsigned flags)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    SHIM_ENGINE(r = shim_ops.rename(from, to, flags));
    return r;
}

int shim_vfs_link(const char *from, const char *to, int follow)
{
    SHIM_LOAD_OR_FAIL();
    int r;
    SHIM_ENGINE(r = shim_ops.link(from, to, follow));
    return r;
}

int shim_vfs_symlink(const char *target, const char *vp, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.symlink(target, vp, host, hcap));
}

int shim_vfs_mknod(const char *vp, mode_t mode, dev_t dev, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.mknod(vp, mode, dev, host, hcap));
}

int shim_vfs_chmod(const char *vp, struct vfs_file *f, mode_t mode, int flags, char *host,
                   size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.chmod(vp, f, mode, flags, host, hcap));
}

int shim_vfs_chown(const char *vp, struct vfs_file *f, uid_t uid, gid_t gid, int flags,
                   char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.chown(vp, f, uid, gid, flags, host, hcap));
}

int shim_vfs_utimens(const char *vp, struct vfs_file *f, const struct timespec times[2],
                     int flags, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.utimens(vp, f, times, flags, host, hcap));
}

int shim_vfs_truncate(const char *vp, uint64_t size, char *host, size_t hcap)
{
    SHIM_VFS_PATH_CALL(shim_ops.truncate(vp, size, host, hcap));
}

int shim_vfs_setxattr(const char *vp, struct vfs_file *f, const char *name, const void *val,
                      size_t len, int xflags, int flags, char *host, size_t hcap)
{
    if (!shim_mem_str_ok(name))
        return -EFAULT;
    SHIM_VFS_PATH_CALL(shim_ops.setxattr(vp, f, name, val, len, xflags, flags, host, hcap));
}

int shim_vfs_removexattr(const char *vp, struct vfs_file *f, const char *name, int flags,
                         char *host, size_t hcap)
{
    if (!shim_mem_str_ok(name))
        return -EFAULT;
    SHIM_VFS_PATH_CALL(shim_ops.removexattr(vp, f, name, flags, host, hcap));
}

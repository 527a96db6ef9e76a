/* shim_vfs.h - the shim's only door to the engine: one wrapper per vfs_*
 * function of core/vfs.h, called through a table filled when
 * libshimfs-core.so is dlopened on the first touch of the prefix.
 *
 * Every wrapper loads the engine if needed, runs the call under the
 * recursion guard, keeps errno unchanged, and returns what vfs returns
 * (-EIO when the engine could not be loaded or initialised). Host buffers
 * are cleared before the call, so host[0] == '/' tells an escape apart from
 * a length of 1 in the length-returning calls.
 */
#ifndef SHIM_VFS_H
#define SHIM_VFS_H

#include "vfs.h"

/* 0 once the engine is loaded and vfs_init succeeded, else -errno. */
int shim_core_load(void);
int shim_core_loaded(void);
void shim_core_after_fork(void);

int shim_vfs_stat(const char *vp, int flags, struct stat *st, char *host, size_t hcap);
int shim_vfs_access(const char *vp, int mode, int flags, int eaccess, char *host, size_t hcap);
/* Length-returning calls: *escaped is set when the answer is in host. */
ssize_t shim_vfs_readlink(const char *vp, char *buf, size_t cap, char *host, size_t hcap,
                          int *escaped);
ssize_t shim_vfs_getxattr(const char *vp, int flags, const char *name, void *buf, size_t cap,
                          char *host, size_t hcap, int *escaped);
ssize_t shim_vfs_listxattr(const char *vp, int flags, char *buf, size_t cap, char *host,
                           size_t hcap, int *escaped);
int shim_vfs_realpath(const char *vp, char *out, size_t cap, char *host, size_t hcap);
int shim_vfs_statvfs(struct statvfs *st);

int shim_vfs_open(const char *vp, int flags, mode_t mode, struct vfs_file **out, char *host,
                  size_t hcap);
int shim_vfs_file_fd(const struct vfs_file *f);
int shim_vfs_file_native(const struct vfs_file *f);
int shim_vfs_file_isdir(const struct vfs_file *f);
int shim_vfs_file_unchecked(const struct vfs_file *f);
int shim_vfs_file_check(struct vfs_file *f, const void *buf, size_t n, uint64_t off, int *newfd);
int shim_vfs_file_follow(struct vfs_file *f, int *newfd);
const char *shim_vfs_file_path(const struct vfs_file *f);
int shim_vfs_fstat(struct vfs_file *f, struct stat *st);
ssize_t shim_vfs_pread(struct vfs_file *f, void *buf, size_t len, uint64_t off);
int shim_vfs_mmap_fd(struct vfs_file *f, int *fd);
int shim_vfs_fadvise(struct vfs_file *f, uint64_t off, uint64_t len, int advice);
/* Returns the commit error of buffered writes (close reports it). */
int shim_vfs_release(struct vfs_file *f);
int shim_vfs_adopt(int fd, uint64_t ino, int flags, struct vfs_file **out);

int shim_vfs_dir_open(struct vfs_file *f, struct vfs_dir **out);
int shim_vfs_dir_next(struct vfs_dir *d, struct vfs_dirent *e);
long shim_vfs_dir_tell(struct vfs_dir *d);
int shim_vfs_dir_seek(struct vfs_dir *d, long pos);
void shim_vfs_dir_close(struct vfs_dir *d);

ssize_t shim_vfs_fgetxattr(struct vfs_file *f, const char *name, void *buf, size_t cap);
ssize_t shim_vfs_flistxattr(struct vfs_file *f, char *buf, size_t cap);

/* ---- the write path (close-to-open: data is committed at fsync and at
 * the last close; their errors come back there) ---- */
ssize_t shim_vfs_pwrite(struct vfs_file *f, const void *buf, size_t len, uint64_t off);
int shim_vfs_fsync(struct vfs_file *f);
int shim_vfs_ftruncate(struct vfs_file *f, uint64_t size);
int shim_vfs_fallocate(struct vfs_file *f, int mode, uint64_t off, uint64_t len);
uint64_t shim_vfs_file_size(struct vfs_file *f);
int shim_vfs_file_flags(const struct vfs_file *f);
int shim_vfs_lock_fd(struct vfs_file *f);
/* Path calls answer VFS_ESCAPED with the host path in host, as the
 * lookups do; rename and link answer -EXDEV for an escape. */
int shim_vfs_mkdir(const char *vp, mode_t mode, char *host, size_t hcap);
int shim_vfs_rmdir(const char *vp, char *host, size_t hcap);
int shim_vfs_unlink(const char *vp, char *host, size_t hcap);
int shim_vfs_rename(const char *from, const char *to, unsigned flags);
int shim_vfs_link(const char *from, const char *to, int follow);
int shim_vfs_symlink(const char *target, const char *vp, char *host, size_t hcap);
int shim_vfs_mknod(const char *vp, mode_t mode, dev_t dev, char *host, size_t hcap);
/* Attribute changes by path (f NULL) or on an open file (vp NULL). */
int shim_vfs_chmod(const char *vp, struct vfs_file *f, mode_t mode, int flags, char *host,
                   size_t hcap);
int shim_vfs_chown(const char *vp, struct vfs_file *f, uid_t uid, gid_t gid, int flags,
                   char *host, size_t hcap);
int shim_vfs_utimens(const char *vp, struct vfs_file *f, const struct timespec times[2],
                     int flags, char *host, size_t hcap);
int shim_vfs_truncate(const char *vp, uint64_t size, char *host, size_t hcap);
int shim_vfs_setxattr(const char *vp, struct vfs_file *f, const char *name, const void *val,
                      size_t len, int xflags, int flags, char *host, size_t hcap);
int shim_vfs_removexattr(const char *vp, struct vfs_file *f, const char *name, int flags,
                         char *host, size_t hcap);

#endif

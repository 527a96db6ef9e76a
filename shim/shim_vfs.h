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

#endif

/* vfs.h - the engine behind the shim: paths, attributes, open files,
 * directories, metadata caches. The shim calls only these functions (through
 * the table in shim/shim_core.c, because libshimfs-core.so is loaded lazily).
 *
 * Paths given to vfs are volume paths: the part after SHIMFS_PREFIX, starting
 * with "/" ("/" is the root). vfs resolves ".", "..", "//" and symlinks
 * itself, like the kernel. When resolution leaves the volume (".." above the
 * root, or an absolute symlink target outside the prefix) the call returns
 * VFS_ESCAPED and writes the host path to continue with into `host`.
 *
 * Consistency is close-to-open: attributes and entries are cached for
 * SHIMFS_ATTR_TTL / SHIMFS_ENTRY_TTL / SHIMFS_NEGATIVE_TTL (forever with
 * SHIMFS_READ_ONLY=1); open() revalidates a file whose cached attributes
 * are older than the TTL. A cached stat never touches the network.
 *
 * All functions return 0 or a negative errno; infrastructure failures
 * (database or store unreachable, volume not formatted) log one line and
 * come back as -EIO (-ENODEV before the volume could be opened at all).
 * Thread-safe.
 */
#ifndef SHIMFS_VFS_H
#define SHIMFS_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#define VFS_ESCAPED 1          /* positive: continue on the host with `host` */
#define VFS_NOFOLLOW 0x1       /* do not follow a final symlink */
#define VFS_HOST_MAX 4096

struct vfs_file;
struct vfs_dir;

/* Lazily open the volume for this process (config from the environment).
 * Cheap after the first call. Returns 0 or the cached failure. */
int vfs_init(void);
/* In a fork child, before anything else: forget inherited connections,
 * rings and threads (they belong to the parent). */
void vfs_after_fork(void);

/* stat / lstat. */
int vfs_stat(const char *vpath, int flags, struct stat *st, char *host, size_t hcap);
/* access / faccessat: mode is R_OK|W_OK|X_OK|F_OK; eaccess = use effective ids. */
int vfs_access(const char *vpath, int mode, int flags, int eaccess, char *host, size_t hcap);
int vfs_readlink(const char *vpath, char *buf, size_t cap, char *host, size_t hcap);
/* Canonical volume path of vpath (all symlinks resolved, must exist). */
int vfs_realpath(const char *vpath, char *out, size_t cap, char *host, size_t hcap);
int vfs_statvfs(struct statvfs *st);
int vfs_getxattr(const char *vpath, int flags, const char *name, void *buf, size_t cap,
                 char *host, size_t hcap);
int vfs_listxattr(const char *vpath, int flags, char *buf, size_t cap, char *host, size_t hcap);

/* ---- files ---- */
/* Open a file or directory (open(2) flags; O_DIRECTORY honoured; writes
 * answer -EROFS until the write path exists). On success *out is the open
 * file and vfs_file_fd() its kernel descriptor, made with O_CLOEXEC if
 * flags has it. The descriptor is either "native" (its bytes are the file's
 * bytes: a cache file or a memfd holding the content; reads need no
 * interception) or a placeholder memfd named "shimfs:<ino>" whose kernel
 * offset is the file position (so dup, fork and exec share it). */
int vfs_open(const char *vpath, int flags, mode_t mode, struct vfs_file **out,
             char *host, size_t hcap);
int vfs_file_fd(const struct vfs_file *f);
int vfs_file_native(const struct vfs_file *f);
int vfs_file_isdir(const struct vfs_file *f);
/* The volume path the file was opened by (for *at() calls and fchdir). */
const char *vfs_file_path(const struct vfs_file *f);
int vfs_fstat(struct vfs_file *f, struct stat *st);
ssize_t vfs_pread(struct vfs_file *f, void *buf, size_t len, uint64_t off);
/* A descriptor holding the whole file's bytes (for mmap of a placeholder
 * file): materialised once into an unlinked cache-dir file, then reused. */
int vfs_mmap_fd(struct vfs_file *f, int *fd);
/* posix_fadvise / readahead hint: WILLNEED prefetches into the cache. */
int vfs_fadvise(struct vfs_file *f, uint64_t off, uint64_t len, int advice);
/* Drop the open file (the shim closes the kernel descriptor itself). */
void vfs_release(struct vfs_file *f);
/* Re-adopt an inherited placeholder (exec child): the memfd's name gives the
 * inode; flags are the descriptor's open flags. */
int vfs_adopt(int fd, uint64_t ino, int flags, struct vfs_file **out);

/* ---- directories ---- */
struct vfs_dirent {
    uint64_t ino;
    unsigned char type;      /* DT_REG, DT_DIR, DT_LNK ... */
    uint16_t namelen;
    char name[256];          /* NUL terminated */
};
/* Directory stream over an open directory file: entries come in pages
 * (readdir-plus, keyset pagination) so memory stays bounded; "." and ".."
 * come first. Attributes of every entry land in the attribute cache. */
int vfs_dir_open(struct vfs_file *f, struct vfs_dir **out);
/* Next entry, or 0 at the end (return 1 with *e filled). */
int vfs_dir_next(struct vfs_dir *d, struct vfs_dirent *e);
/* Position cookies for telldir/seekdir/getdents: opaque, monotone. */
long vfs_dir_tell(struct vfs_dir *d);
int vfs_dir_seek(struct vfs_dir *d, long pos);
void vfs_dir_close(struct vfs_dir *d);

/* Fill a struct stat from attributes (dev, blksize, blocks included). */
struct meta_attr;
void vfs_attr_to_stat(const struct meta_attr *a, struct stat *st);

#endif

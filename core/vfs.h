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
#define VFS_FRESH 0x2          /* ask the database for the final name, not the caches */
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
 * offset is the file position (so dup, fork and exec share it). Files
 * opened for writing always get a placeholder. O_CREAT, O_EXCL, O_TRUNC
 * and O_APPEND work; O_TMPFILE answers -EOPNOTSUPP (as the kernel does on
 * file systems without it; programs fall back to a named temporary). */
int vfs_open(const char *vpath, int flags, mode_t mode, struct vfs_file **out,
             char *host, size_t hcap);
int vfs_file_fd(const struct vfs_file *f);
int vfs_file_native(const struct vfs_file *f);
/* A native descriptor (a cache file) this process has not checked yet: the
 * shim calls vfs_file_check before the program may use its bytes, with
 * what the program's first read put in its buffer (buf, n at off; NULL to
 * have the file read). 0: checked; 1: the cache file was corrupt, *newfd is
 * a descriptor holding the right bytes that must take the program's
 * descriptor's place (the bytes read must be read again); -errno. */
int vfs_file_unchecked(const struct vfs_file *f);
/* A reader following others' commits (fstat, read at end of file): once
 * its view is older than SHIMFS_ATTR_TTL the attributes are asked again;
 * if the file changed, the descriptor reads the new version. 1 changed
 * (a native descriptor's replacement in *newfd, to dup3 over the
 * program's: same position), 0 unchanged or not due. Writers keep their
 * own view. */
int vfs_file_follow(struct vfs_file *f, int *newfd);
int vfs_file_check(struct vfs_file *f, const void *buf, size_t n, uint64_t off, int *newfd);
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
/* Drop the open file (the shim closes the kernel descriptor itself).
 * Commits buffered writes first; returns that commit's error (close(2)
 * reports it) but releases the file whatever happens. */
int vfs_release(struct vfs_file *f);
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

/* ---- writes (close-to-open: data and size are committed at fsync and
 * close; the error of a failed upload or commit is returned there) ---- */
/* pwrite/write on an open file. Buffered in memory up to SHIMFS_BUFFER_SIZE,
 * uploaded as new slices. An append (an O_APPEND file, or off ==
 * VFS_APPEND for RWF_APPEND) goes to the end of the file as committed: this
 * descriptor sees it at its own end until the commit places it after
 * whatever others committed meanwhile (no append overwrites another). */
#define VFS_APPEND UINT64_MAX
ssize_t vfs_pwrite(struct vfs_file *f, const void *buf, size_t len, uint64_t off);
/* Upload buffered data and commit it (fsync, fdatasync, close). */
int vfs_fsync(struct vfs_file *f);
int vfs_ftruncate(struct vfs_file *f, uint64_t size);
/* posix_fallocate: extends the size (mode 0 / FALLOC_FL_KEEP_SIZE only). */
int vfs_fallocate(struct vfs_file *f, int mode, uint64_t off, uint64_t len);
/* Current size as this descriptor sees it (lseek SEEK_END). */
uint64_t vfs_file_size(struct vfs_file *f);
/* The open flags the file was opened with (F_GETFL). */
int vfs_file_flags(const struct vfs_file *f);
/* A descriptor of this inode's node-wide lock file, for flock/fcntl locks
 * (shared by every process on the node; opened once per open file). */
int vfs_lock_fd(struct vfs_file *f);

/* Namespace changes by path; 0 or -errno as the kernel answers. */
int vfs_mkdir(const char *vpath, mode_t mode, char *host, size_t hcap);
int vfs_rmdir(const char *vpath, char *host, size_t hcap);
int vfs_unlink(const char *vpath, char *host, size_t hcap);
int vfs_rename(const char *from, const char *to, unsigned flags);
int vfs_link(const char *from, const char *to, int follow);
int vfs_symlink(const char *target, const char *vpath, char *host, size_t hcap);
int vfs_mknod(const char *vpath, mode_t mode, dev_t dev, char *host, size_t hcap);
/* Attribute changes by path (flags: VFS_NOFOLLOW) or on an open file (f). */
int vfs_chmod(const char *vpath, struct vfs_file *f, mode_t mode, int flags, char *host, size_t hcap);
int vfs_chown(const char *vpath, struct vfs_file *f, uid_t uid, gid_t gid, int flags, char *host, size_t hcap);
/* times[0] atime, times[1] mtime; NULL = now; UTIME_NOW / UTIME_OMIT honoured. */
int vfs_utimens(const char *vpath, struct vfs_file *f, const struct timespec times[2], int flags,
                char *host, size_t hcap);
int vfs_truncate(const char *vpath, uint64_t size, char *host, size_t hcap);
int vfs_setxattr(const char *vpath, struct vfs_file *f, const char *name, const void *val, size_t len,
                 int xflags, int flags, char *host, size_t hcap);
int vfs_removexattr(const char *vpath, struct vfs_file *f, const char *name, int flags,
                    char *host, size_t hcap);
/* xattr reads on an open file. */
int vfs_fgetxattr(struct vfs_file *f, const char *name, void *buf, size_t cap);
int vfs_flistxattr(struct vfs_file *f, char *buf, size_t cap);

/* ---- the node cache, for warmup and stats ---- */
struct vfs_block {
    uint64_t id;            /* slice id */
    uint32_t index, len;    /* block index in the slice, block length */
    char key[160];          /* object key */
};
typedef int (*vfs_block_cb)(void *arg, const struct vfs_block *b);
/* Every stored block an open regular file's content uses, each once. */
int vfs_file_blocks(struct vfs_file *f, vfs_block_cb cb, void *arg);
/* Bring a block into the node cache (GET, verify, publish): 1 if it was
 * cached already, 0 if fetched now, or -errno. Blocks until it is in.
 * page_cache 0: written to disk directly where it can be (fetch_warm). */
int vfs_warm_block(const struct vfs_block *b, int page_cache);
int vfs_block_cached(const struct vfs_block *b);
int vfs_evict_block(const struct vfs_block *b);
/* Commit writeback journals left on this node by dead processes
 * (`shimfs flush`); *committed gets how many. */
int vfs_flush_journals(int *committed);
/* Wait for this process's queued cache writes to reach the disk. */
int vfs_cache_flush(void);
struct vfs_stats {
    uint64_t cache_hits, cache_misses, cache_bytes_hit, cache_used, cache_limit, cache_files,
             cache_evictions, cache_corrupt;
    uint64_t gets, get_bytes, get_ns_total, shared_waits, prefetched;
    int cache_on;
};
int vfs_get_stats(struct vfs_stats *st);

/* Fill a struct stat from attributes (dev, blksize, blocks included). */
struct meta_attr;
void vfs_attr_to_stat(const struct meta_attr *a, struct stat *st);

#endif

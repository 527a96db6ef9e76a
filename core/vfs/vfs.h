/* vfs.h - the engine behind the shim: paths, attributes, open files,
 * directories, metadata caches. Every call is one line of VFS_CALLS below:
 * that line declares vfs_NAME and puts it in struct vfs_ops, the table
 * libshimfs-core.so exports as the one symbol `vfs_ops` (vfs_ops.c). The
 * shim, which loads the engine lazily, resolves that symbol once and calls
 * through it; tools linked with the engine call vfs_NAME directly.
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
/* The longest volume path the engine walks: a program's path (< PATH_MAX)
 * joined to its cwd may be longer than PATH_MAX, as on a local disk. */
#define VFS_PATH_MAX 8192
/* vfs_pwrite's offset for an append (RWF_APPEND): see vfs_pwrite. */
#define VFS_APPEND UINT64_MAX
/* vfs_fsync: the file's durability, whoever committed it (fsync(2)) */
#define VFS_FSYNC_FILE 0x1

struct vfs_file;
struct vfs_dir;
struct meta_attr;

/* One directory entry of vfs_dir_next. */
struct vfs_dirent {
    uint64_t ino;
    unsigned char type;      /* DT_REG, DT_DIR, DT_LNK ... */
    uint16_t namelen;
    char name[256];          /* NUL terminated */
};

/* A stored block, for warmup and stats. */
struct vfs_block {
    uint64_t id;            /* slice id */
    uint32_t index, len;    /* block index in the slice, block length */
    char key[160];          /* object key */
};
typedef int (*vfs_block_cb)(void *arg, const struct vfs_block *b);

struct vfs_stats {
    uint64_t cache_hits, cache_misses, cache_bytes_hit, cache_used, cache_limit, cache_files,
             cache_evictions, cache_corrupt;
    uint64_t gets, get_bytes, get_ns_total, shared_waits, prefetched;
    int cache_on;
};

/* The shim's hooks, handed over before init (vfs_host): log_emit decides
 * where each engine log line goes, so none goes into a volume file
 * (log_set_emit); thread_enter runs first in every engine thread, so its
 * libc calls are libc's and never re-enter the file system
 * (thread_set_enter). Either may be NULL. */
struct vfs_host {
    void (*log_emit)(const char *line, size_t len);
    void (*thread_enter)(void);
};

/* X(return type, NAME, (parameters)) for every vfs_NAME. Adding a call:
 * one line here and its definition in a vfs_*.c file. */
#define VFS_CALLS(X) \
    /* Lazily open the volume for this process (config from the environment).
     * Cheap after the first call. Returns 0 or the cached failure. */ \
    X(int, init, (void)) \
    /* In a fork child, before anything else: forget inherited connections,
     * rings and threads (they belong to the parent). */ \
    X(void, after_fork, (void)) \
    /* Before the process gives up root (setuid and friends): keep what lets
     * its commits invalidate the node's shared answers (volume_keep_marks).
     * Nothing when the volume is open already. */ \
    X(void, before_setuid, (void)) \
    /* What the host (the shim) lends the engine, before init: see struct
     * vfs_host. */ \
    X(void, host, (const struct vfs_host *h)) \
    \
    /* stat / lstat. */ \
    X(int, stat, (const char *vpath, int flags, struct stat *st, char *host, size_t hcap)) \
    /* access / faccessat: mode is R_OK|W_OK|X_OK|F_OK; eaccess = use
     * effective ids. */ \
    X(int, access, (const char *vpath, int mode, int flags, int eaccess, char *host, \
                    size_t hcap)) \
    X(int, readlink, (const char *vpath, char *buf, size_t cap, char *host, size_t hcap)) \
    /* Canonical volume path of vpath (all symlinks resolved, must exist). */ \
    X(int, realpath, (const char *vpath, char *out, size_t cap, char *host, size_t hcap)) \
    X(int, statvfs, (struct statvfs *st)) \
    X(int, getxattr, (const char *vpath, int flags, const char *name, void *buf, size_t cap, \
                      char *host, size_t hcap)) \
    X(int, listxattr, (const char *vpath, int flags, char *buf, size_t cap, char *host, \
                       size_t hcap)) \
    \
    /* ---- files ---- */ \
    /* Open a file or directory (open(2) flags; O_DIRECTORY honoured). On
     * success *out is the open file and vfs_file_fd() its kernel
     * descriptor, made with O_CLOEXEC if flags has it. The descriptor is
     * either "native" (its bytes are the file's bytes: a cache file or a
     * memfd holding the content; reads need no interception) or a
     * placeholder memfd named "shimfs:<ino>" whose kernel offset is the
     * file position (so dup, fork and exec share it). Files opened for
     * writing always get a placeholder. O_CREAT, O_EXCL, O_TRUNC and
     * O_APPEND work; O_TMPFILE answers -EOPNOTSUPP (as the kernel does on
     * file systems without it; programs fall back to a named temporary). */ \
    X(int, open, (const char *vpath, int flags, mode_t mode, struct vfs_file **out, \
                  char *host, size_t hcap)) \
    X(int, file_fd, (const struct vfs_file *f)) \
    X(int, file_native, (const struct vfs_file *f)) \
    /* A native descriptor (a cache file) this process has not checked yet:
     * the shim calls vfs_file_check before the program may use its bytes,
     * with what the program's first read put in its buffer (buf, n at off;
     * NULL to have the file read). 0: checked; 1: the cache file was
     * corrupt, *newfd is a descriptor holding the right bytes that must
     * take the program's descriptor's place (the bytes read must be read
     * again); -errno. */ \
    X(int, file_unchecked, (const struct vfs_file *f)) \
    X(int, file_check, (struct vfs_file *f, const void *buf, size_t n, uint64_t off, \
                        int *newfd)) \
    /* A reader following others' commits (fstat, read at end of file):
     * once its view is older than SHIMFS_ATTR_TTL the attributes are asked
     * again; if the file changed, the descriptor reads the new version.
     * 1 changed (a native descriptor's replacement in *newfd, to dup3 over
     * the program's: same position), 0 unchanged or not due. Writers keep
     * their own view. */ \
    X(int, file_follow, (struct vfs_file *f, int *newfd)) \
    X(int, file_isdir, (const struct vfs_file *f)) \
    /* The volume path the file was opened by (for *at() calls and fchdir). */ \
    X(const char *, file_path, (const struct vfs_file *f)) \
    X(int, fstat, (struct vfs_file *f, struct stat *st)) \
    X(ssize_t, pread, (struct vfs_file *f, void *buf, size_t len, uint64_t off)) \
    /* A descriptor holding the whole file's bytes (for mmap of a
     * placeholder file): materialised once into an unlinked cache-dir
     * file, then reused. */ \
    X(int, mmap_fd, (struct vfs_file *f, int *fd)) \
    /* A new descriptor (the caller closes it once mapped) to mmap for a
     * map of f. shared (MAP_SHARED of a file open for writing): the
     * file's working copy, shared with the node's processes that map it;
     * from then until release f reads, writes and truncates through it,
     * fsync and release commit what changed in it
     * (vfs_map.c). Otherwise the working copy when this process has one,
     * else the copy of vfs_mmap_fd (a writer commits first). */ \
    X(int, map_open, (struct vfs_file *f, int shared, int *fd)) \
    /* Commit what a shared map of [off, off+len) of the file changed (with
     * any extension of the file, and its size): munmap and msync(MS_SYNC).
     * 0 when f has no working copy. */ \
    X(int, map_sync, (struct vfs_file *f, uint64_t off, uint64_t len)) \
    /* posix_fadvise / readahead hint: WILLNEED prefetches into the cache. */ \
    X(int, fadvise, (struct vfs_file *f, uint64_t off, uint64_t len, int advice)) \
    /* Drop the open file (the shim closes the kernel descriptor itself).
     * Commits buffered writes first; returns that commit's error (close(2)
     * reports it) but releases the file whatever happens. */ \
    X(int, release, (struct vfs_file *f)) \
    /* Re-adopt an inherited placeholder (exec child): the memfd's name
     * gives the inode; flags are the descriptor's open flags. */ \
    X(int, adopt, (int fd, uint64_t ino, int flags, struct vfs_file **out)) \
    \
    /* ---- directories ---- */ \
    /* Directory stream over an open directory file: entries come in pages
     * (readdir-plus, keyset pagination) so memory stays bounded; "." and
     * ".." come first. Attributes of every entry land in the attribute
     * cache. */ \
    X(int, dir_open, (struct vfs_file *f, struct vfs_dir **out)) \
    /* Next entry, or 0 at the end (return 1 with *e filled). */ \
    X(int, dir_next, (struct vfs_dir *d, struct vfs_dirent *e)) \
    /* Position cookies for telldir/seekdir/getdents: opaque, monotone. */ \
    X(long, dir_tell, (struct vfs_dir *d)) \
    X(int, dir_seek, (struct vfs_dir *d, long pos)) \
    X(void, dir_close, (struct vfs_dir *d)) \
    \
    /* ---- writes (close-to-open: data and size are committed at fsync and
     * close; the error of a failed upload or commit is returned there) ---- */ \
    /* pwrite/write on an open file. Buffered in memory up to
     * SHIMFS_BUFFER_SIZE, uploaded as new slices. An append (an O_APPEND
     * file, or off == VFS_APPEND for RWF_APPEND) goes to the end of the
     * file as committed: this descriptor sees it at its own end until the
     * commit places it after whatever others committed meanwhile (no
     * append overwrites another). */ \
    X(ssize_t, pwrite, (struct vfs_file *f, const void *buf, size_t len, uint64_t off)) \
    /* fsync, fdatasync: upload buffered data and commit it, and make this
     * process's earlier commits (its closes: group commit) durable. With
     * VFS_FSYNC_FILE (the program's own fsync), also what other processes
     * committed to the file before: their closes are not waited for
     * either, and a descriptor that committed nothing itself flushes the
     * database's WAL for them (one round trip). -EIO when the store or
     * the database fails (the bytes stay buffered). */ \
    X(int, fsync, (struct vfs_file *f, int flags)) \
    /* sync, syncfs: every commit acknowledged on the volume's database
     * before this call, any process's or node's, is durable when it
     * returns (one round trip; the caller commits its open writers
     * first). -EIO, -ETIMEDOUT... when the database fails. */ \
    X(int, sync_volume, (void)) \
    X(int, ftruncate, (struct vfs_file *f, uint64_t size)) \
    /* posix_fallocate: extends the size (mode 0 / FALLOC_FL_KEEP_SIZE only). */ \
    X(int, fallocate, (struct vfs_file *f, int mode, uint64_t off, uint64_t len)) \
    /* Current size as this descriptor sees it (lseek SEEK_END). */ \
    X(uint64_t, file_size, (struct vfs_file *f)) \
    /* The open flags the file was opened with (F_GETFL). */ \
    X(int, file_flags, (const struct vfs_file *f)) \
    /* A descriptor of this inode's node-wide lock file, for flock/fcntl
     * locks (shared by every process on the node; opened once per open
     * file). */ \
    X(int, lock_fd, (struct vfs_file *f)) \
    \
    /* Namespace changes by path; 0 or -errno as the kernel answers. rename
     * and link answer -EXDEV for an escape. */ \
    X(int, mkdir, (const char *vpath, mode_t mode, char *host, size_t hcap)) \
    X(int, rmdir, (const char *vpath, char *host, size_t hcap)) \
    X(int, unlink, (const char *vpath, char *host, size_t hcap)) \
    X(int, rename, (const char *from, const char *to, unsigned flags)) \
    X(int, link, (const char *from, const char *to, int follow)) \
    X(int, symlink, (const char *target, const char *vpath, char *host, size_t hcap)) \
    X(int, mknod, (const char *vpath, mode_t mode, dev_t dev, char *host, size_t hcap)) \
    /* Attribute changes by path (flags: VFS_NOFOLLOW) or on an open file
     * (f, vpath NULL). */ \
    X(int, chmod, (const char *vpath, struct vfs_file *f, mode_t mode, int flags, char *host, \
                   size_t hcap)) \
    X(int, chown, (const char *vpath, struct vfs_file *f, uid_t uid, gid_t gid, int flags, \
                   char *host, size_t hcap)) \
    /* times[0] atime, times[1] mtime; NULL = now; UTIME_NOW / UTIME_OMIT
     * honoured. */ \
    X(int, utimens, (const char *vpath, struct vfs_file *f, const struct timespec times[2], \
                     int flags, char *host, size_t hcap)) \
    X(int, truncate, (const char *vpath, uint64_t size, char *host, size_t hcap)) \
    X(int, setxattr, (const char *vpath, struct vfs_file *f, const char *name, \
                      const void *val, size_t len, int xflags, int flags, char *host, \
                      size_t hcap)) \
    X(int, removexattr, (const char *vpath, struct vfs_file *f, const char *name, int flags, \
                         char *host, size_t hcap)) \
    /* xattr reads on an open file. */ \
    X(int, fgetxattr, (struct vfs_file *f, const char *name, void *buf, size_t cap)) \
    X(int, flistxattr, (struct vfs_file *f, char *buf, size_t cap)) \
    \
    /* ---- the node cache, for warmup and stats ---- */ \
    /* Every stored block an open regular file's content uses, each once. */ \
    X(int, file_blocks, (struct vfs_file *f, vfs_block_cb cb, void *arg)) \
    /* Bring a block into the node cache (GET, verify, publish): 1 if it
     * was cached already, 0 if fetched now, or -errno. Blocks until it is
     * in. page_cache 0: written to disk directly where it can be
     * (fetch_warm). */ \
    X(int, warm_block, (const struct vfs_block *b, int page_cache)) \
    X(int, block_cached, (const struct vfs_block *b)) \
    X(int, evict_block, (const struct vfs_block *b)) \
    /* Commit writeback journals left on this node by dead processes
     * (`shimfs flush`); *committed gets how many. */ \
    X(int, flush_journals, (int *committed)) \
    /* Wait for this process's queued cache writes to reach the disk. */ \
    X(int, cache_flush, (void)) \
    X(int, get_stats, (struct vfs_stats *st)) \
    /* Fill a struct stat from attributes (dev, blksize, blocks included). */ \
    X(void, attr_to_stat, (const struct meta_attr *a, struct stat *st)) \
    \
    /* ---- node-local copies, for execve and the dynamic loader
     * (vfs_materialize.c) ---- */ \
    /* A verified copy of the regular file vpath (symlinks followed) in the
     * node's mirror tree, its host path written to out: the copy of the
     * file whose canonical volume path is P is vfs_materialize_root + P,
     * shared by the user's processes of the node, copied again only when
     * the file changed, replaced by rename (a running or mapped old copy
     * stays valid). Mode 0500 when the volume file has any x bit, else
     * 0400; execute permission is the caller's to check on the volume.
     * -ENOENT, -ENOTDIR, -ELOOP as a walk; -EACCES for a non-regular file
     * or without read permission (effective ids); -EIO without a cache
     * folder of our own; VFS_ESCAPED with the host path in host. */ \
    X(int, materialize, (const char *vpath, char *out, size_t cap, char *host, size_t hcap)) \
    /* The mirror tree's root (a host path; it may not exist yet):
     * <cache folder>/exec/<volume uuid>. -ENOTSUP without a cache folder. */ \
    X(int, materialize_root, (char *out, size_t cap)) \
    /* The node agent's side of a process's question (agent_ask.h, kind
     * 'd': dir's listing, its first `limit` entries or whole when limit is
     * larger; 'w': a walk from dir by names[0..n)): asked as
     * any process of the node asks it, its answer left in the node's
     * files; flags AGENT_ASK_FRESH: no answer older than the question
     * unless the agent's chain vouches for it. 0 when it is there, else
     * -errno (vfs_agent.c). */ \
    X(int, node_answer, (char kind, int flags, uint64_t dir, int limit, \
                         const char *const *names, const size_t *lens, int n))

#define VFS_DECLARE_(ret, name, params) ret vfs_##name params;
VFS_CALLS(VFS_DECLARE_)
#undef VFS_DECLARE_

/* The table of every call: `size` is sizeof(struct vfs_ops), so that a
 * loader can refuse a library from another build. */
struct vfs_ops {
    size_t size;
#define VFS_FIELD_(ret, name, params) ret (*name) params;
    VFS_CALLS(VFS_FIELD_)
#undef VFS_FIELD_
};
extern const struct vfs_ops vfs_ops;

#endif

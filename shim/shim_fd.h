/* shim_fd.h - the descriptor table: kernel descriptor number -> the open
 * volume file behind it.
 *
 * One shim_ofd per open file description (dup, dup2, fcntl(F_DUPFD) and
 * fork share it, like the kernel's struct file); each table slot holds one
 * reference, and each call using an ofd pins it for its duration. ofds are
 * never returned to malloc (they are recycled), so a racing reader of a
 * slot never touches unmapped memory. Reads of the table are lock-free:
 * a process with no volume descriptor pays one load per call.
 *
 * "Ancestor" entries remember host directories that are ancestors of the
 * prefix (opened with O_DIRECTORY), so openat(fd_of("/mnt"), "shimfs/x")
 * reaches the volume.
 */
#ifndef SHIM_FD_H
#define SHIM_FD_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim.h"

struct vfs_file;
struct vfs_dir;

enum shim_ofd_kind { SHIM_OFD_VOLUME = 1, SHIM_OFD_ANCESTOR = 2 };

struct shim_ofd {
    int refs;                  /* atomic: table slots + pins */
    int kind;
    struct vfs_file *file;     /* atomic; NULL until an inherited one is adopted */
    uint64_t adopt_ino;
    int flags;                 /* the volume open flags (F_GETFL) */
    int native;                /* the kernel descriptor holds the bytes */
    int unchecked;             /* native, first-use check still due (shim_check.c) */
    int isdir;
    dev_t dev;                 /* identity of the kernel file at open */
    ino_t ino;
    pthread_mutex_t lock;      /* position updates, getdents state, adoption */
    struct vfs_dir *dir;       /* getdents64 stream, made on first use */
    long dir_base;             /* dir position of the first entry */
    long dir_kpos;             /* kernel offset matching dir's position */
    char *host;                /* ancestor entries: the host directory */
    off_t wsize;               /* writers: the memfd's size and mtime when bytes written */
    int64_t wmtime;            /* behind the shim's back were last taken (shim_settle) */
    struct shim_ofd *next_free;
};

#define SHIM_FD_PAGE_SHIFT 10
#define SHIM_FD_PAGE_MASK ((1u << SHIM_FD_PAGE_SHIFT) - 1)

extern struct shim_ofd ***shim_fd_dir;   /* pages, allocated on first install */
extern unsigned shim_fd_cap;

/* Unpinned look: for "is this descriptor ours at all?" on hot paths. */
static inline struct shim_ofd *shim_fd_peek(int fd)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (__builtin_expect(dir == NULL, 1) || (unsigned)fd >= shim_fd_cap)
        return NULL;
    struct shim_ofd **page = __atomic_load_n(&dir[(unsigned)fd >> SHIM_FD_PAGE_SHIFT],
                                             __ATOMIC_ACQUIRE);
    return page ? __atomic_load_n(&page[(unsigned)fd & SHIM_FD_PAGE_MASK], __ATOMIC_ACQUIRE)
                : NULL;
}

/* Pinned lookup of a volume descriptor (NULL if none). With verify, the
 * kernel file is checked to still be the one opened (a descriptor closed
 * behind the shim's back and reused is forgotten). */
struct shim_ofd *shim_fd_get(int fd, int verify);
/* The prologue of a call on a descriptor: the pinned volume ofd behind fd
 * when the shim answers the call, NULL when libc does (not a volume
 * descriptor: one load; or inside the engine). */
static inline struct shim_ofd *shim_fd_volume(int fd)
{
    if (SHIM_LIKELY(!shim_fd_peek(fd)) || shim_bypass())
        return NULL;
    return shim_fd_get(fd, 1);
}
/* Pinned lookup of any entry (volume or ancestor). */
struct shim_ofd *shim_fd_get_any(int fd);
/* Drop a reference; the last one releases the volume file and returns
 * what the release returned (a write commit error). */
int shim_ofd_put(struct shim_ofd *o);
struct shim_ofd *shim_ofd_ref(struct shim_ofd *o);

/* New ofd (one reference) for an open volume file on descriptor fd. */
struct shim_ofd *shim_ofd_new(struct vfs_file *f, int fd, int flags);
/* Record the kernel file now behind fd as o's (after it was replaced). */
void shim_ofd_reidentify(struct shim_ofd *o, int fd);
/* Inherited placeholder waiting for vfs_adopt. */
struct shim_ofd *shim_ofd_new_adopt(int fd, uint64_t ino, int native, int isdir);
struct shim_ofd *shim_ofd_new_ancestor(const char *host);

/* The open volume file (adopting an inherited one first); 0 or -errno. */
int shim_ofd_file(struct shim_ofd *o, int fd, struct vfs_file **f);

/* Put o in slot fd, consuming one reference of o; a stale entry there is
 * dropped. -EMFILE if fd is beyond the table. */
int shim_fd_install(int fd, struct shim_ofd *o);
/* Drop slot fd (before the kernel close); the release error if this was
 * the last reference. */
int shim_fd_forget(int fd);
/* Drop slots [lo, hi]. */
void shim_fd_forget_range(unsigned lo, unsigned hi);
/* A descriptor the kernel just handed out cannot have a live entry. */
static inline void shim_fd_fresh(int fd)
{
    if (__builtin_expect(fd >= 0 && shim_fd_peek(fd) != NULL, 0))
        shim_fd_forget(fd);
}
/* newfd now refers to the same open file as oldfd. */
void shim_fd_dup(int oldfd, int newfd);

/* Exec inheritance: find placeholders in /proc/self/fd (constructor). */
void shim_fd_scan_inherited(void);
/* Fork child: reset locks other threads may have held. */
void shim_fd_after_fork(void);

#endif

/* shim_dir.c - directory streams: opendir, fdopendir, readdir(64),
 * readdir(64)_r, closedir, rewinddir, seekdir, telldir, dirfd.
 *
 * glibc's DIR is opaque and filled by its internal getdents, which the shim
 * cannot see, so a volume directory gets the shim's own stream cast to
 * DIR *, recognised through the registry (shim_reg.h). Entries come from
 * vfs_dir_next (readdir-plus pages: the lstat that usually follows is a
 * cache hit). The stream owns a real descriptor, so dirfd() works.
 */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_dir.h"
#include "shim_fd.h"
#include "shim_open.h"
#include "shim_reg.h"
#include "shim_resolve.h"
#include "shim_core.h"

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent64 is dirent here");

struct shim_dirstream {
    int fd;
    struct shim_ofd *ofd;      /* pinned for the stream's life */
    struct vfs_dir *dir;
    long base;                 /* position cookie of the first entry */
    pthread_mutex_t lock;
    struct dirent64 ent;
};

/* A stream over volume directory descriptor fd (owned from now on). */
static DIR *shim_dir_make(int fd, struct shim_ofd *o)
{
    struct vfs_file *f;
    int rc = shim_ofd_file(o, fd, &f);
    if (rc == 0 && !o->isdir)
        rc = -ENOTDIR;
    struct shim_dirstream *s = NULL;
    if (rc == 0) {
        s = calloc(1, sizeof *s);
        rc = s ? SHIM_VFS(dir_open, f, &s->dir) : -ENOMEM;
    }
    if (rc == 0 && shim_reg_put(&shim_dir_reg, s, s) < 0) {
        SHIM_VFS_VOID(dir_close, s->dir);
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(s);
        shim_ofd_put(o);
        errno = -rc;
        return NULL;
    }
    s->fd = fd;
    s->ofd = o;
    s->base = SHIM_VFS(dir_tell, s->dir);
    pthread_mutex_init(&s->lock, NULL);
    return (DIR *)s;
}

static struct shim_dirstream *shim_dir_find(DIR *d)
{
    if (SHIM_LIKELY(shim_reg_empty(&shim_dir_reg)))
        return NULL;
    return shim_reg_get(&shim_dir_reg, d);
}

SHIM_EXPORT DIR *opendir(const char *path)
{
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0) {
        DIR *d = REAL(opendir)(path);
        if (d)
            shim_open_host_done(AT_FDCWD, path, O_DIRECTORY, REAL(dirfd)(d));
        return d;
    }
    if (c < 0) {
        errno = -c;
        return NULL;
    }
    struct vfs_file *f = NULL;
    int fd = shim_open_file(t.vpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &f);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    return fdopendir(fd);
}

SHIM_EXPORT DIR *fdopendir(int fd)
{
    struct shim_ofd *o = shim_bypass() ? NULL : shim_fd_get(fd, 1);
    if (!o)
        return REAL(fdopendir)(fd);
    if (o->flags & O_PATH) {
        shim_ofd_put(o);
        errno = EBADF;
        return NULL;
    }
    return shim_dir_make(fd, o);
}

/* Next entry into s->ent; NULL at the end (errno untouched) or on error. */
static struct dirent64 *shim_dir_next(struct shim_dirstream *s)
{
    struct vfs_dirent e;
    pthread_mutex_lock(&s->lock);
    int rc = SHIM_VFS(dir_next, s->dir, &e);
    struct dirent64 *out = NULL;
    if (rc > 0) {
        shim_dir_fill(&s->ent, &e, SHIM_VFS(dir_tell, s->dir));
        out = &s->ent;
    } else if (rc < 0) {
        errno = -rc;
    }
    pthread_mutex_unlock(&s->lock);
    return out;
}

void shim_dir_fill(struct dirent64 *d, const struct vfs_dirent *e, long next)
{
    d->d_ino = e->ino;
    d->d_off = next;
    d->d_type = e->type;
    size_t n = e->namelen < sizeof d->d_name ? e->namelen : sizeof d->d_name - 1;
    memcpy(d->d_name, e->name, n);
    d->d_name[n] = '\0';
    d->d_reclen = (unsigned short)((offsetof(struct dirent64, d_name) + n + 1 + 7) & ~(size_t)7);
}

SHIM_EXPORT struct dirent *readdir(DIR *d)
{
    struct shim_dirstream *s = shim_dir_find(d);
    return s ? (struct dirent *)shim_dir_next(s) : REAL(readdir)(d);
}

SHIM_EXPORT struct dirent64 *readdir64(DIR *d)
{
    struct shim_dirstream *s = shim_dir_find(d);
    return s ? shim_dir_next(s) : REAL(readdir64)(d);
}

static int shim_dir_next_r(struct shim_dirstream *s, struct dirent64 *entry,
                           struct dirent64 **result)
{
    int saved = errno;
    errno = 0;
    struct dirent64 *e = shim_dir_next(s);
    int err = e ? 0 : errno;
    errno = saved;
    if (e)
        memcpy(entry, e, e->d_reclen < sizeof *entry ? e->d_reclen : sizeof *entry);
    *result = e ? entry : NULL;
    return err;
}

SHIM_EXPORT int readdir_r(DIR *d, struct dirent *entry, struct dirent **result)
{
    struct shim_dirstream *s = shim_dir_find(d);
    if (!s)
        return REAL(readdir_r)(d, entry, result);
    return shim_dir_next_r(s, (struct dirent64 *)entry, (struct dirent64 **)result);
}

SHIM_EXPORT int readdir64_r(DIR *d, struct dirent64 *entry, struct dirent64 **result)
{
    struct shim_dirstream *s = shim_dir_find(d);
    return s ? shim_dir_next_r(s, entry, result) : REAL(readdir64_r)(d, entry, result);
}

/* glibc closes with its internal close: drop a table entry first (an
 * ancestor directory). Not inlined: d is not declared nonnull here. */
static __attribute__((noinline)) int shim_dir_close_host(DIR *d)
{
    int fd = d ? REAL(dirfd)(d) : -1;
    if (shim_fd_peek(fd))
        shim_fd_forget(fd);
    return REAL(closedir)(d);
}

SHIM_EXPORT int closedir(DIR *d)
{
    struct shim_dirstream *s = SHIM_LIKELY(shim_reg_empty(&shim_dir_reg))
                                   ? NULL
                                   : shim_reg_take(&shim_dir_reg, d);
    if (!s)
        return shim_dir_close_host(d);
    if (s->dir)
        SHIM_VFS_VOID(dir_close, s->dir);
    shim_ofd_put(s->ofd);
    shim_fd_forget(s->fd);
    int r = REAL(close)(s->fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return r;
}

SHIM_EXPORT void rewinddir(DIR *d)
{
    struct shim_dirstream *s = shim_dir_find(d);
    if (!s) {
        REAL(rewinddir)(d);
        return;
    }
    pthread_mutex_lock(&s->lock);
    SHIM_VFS(dir_seek, s->dir, s->base);
    pthread_mutex_unlock(&s->lock);
}

SHIM_EXPORT void seekdir(DIR *d, long pos)
{
    struct shim_dirstream *s = shim_dir_find(d);
    if (!s) {
        REAL(seekdir)(d, pos);
        return;
    }
    pthread_mutex_lock(&s->lock);
    SHIM_VFS(dir_seek, s->dir, pos);
    pthread_mutex_unlock(&s->lock);
}

SHIM_EXPORT long telldir(DIR *d)
{
    struct shim_dirstream *s = shim_dir_find(d);
    if (!s)
        return REAL(telldir)(d);
    pthread_mutex_lock(&s->lock);
    long pos = SHIM_VFS(dir_tell, s->dir);
    pthread_mutex_unlock(&s->lock);
    return pos;
}

SHIM_EXPORT int dirfd(DIR *d)
{
    struct shim_dirstream *s = shim_dir_find(d);
    return s ? s->fd : REAL(dirfd)(d);
}

/* shim_stdio.c - stdio on volume files: fopen, fopen64, fdopen, freopen,
 * freopen64, fileno, fileno_unlocked, fclose.
 *
 * glibc's FILE reads through its internal read, not the public symbol, so
 * a FILE around a placeholder would read the empty memfd. A native
 * descriptor (its bytes are the file's) is wrapped by glibc itself; a
 * placeholder gets an fopencookie stream whose callbacks read through the
 * shim, and fileno() answers the placeholder descriptor. Both kinds are
 * registered so fclose can drop the table entry that glibc's internal
 * close would leave behind.
 */
#include "shim.h"

#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_check.h"
#include "shim_fd.h"
#include "shim_open.h"
#include "shim_read.h"
#include "shim_reg.h"
#include "shim_resolve.h"
#include "shim_settle.h"
#include "shim_core.h"
#include "shim_write.h"

struct shim_stream {
    int fd;
    int cookie;                /* 1: fopencookie stream; 0: glibc FILE on a native fd */
};

int shim_open_mode_flags(const char *mode)
{
    static const struct { char c; int flags; } base[] = {
        { 'r', O_RDONLY }, { 'w', O_WRONLY | O_CREAT | O_TRUNC }, { 'a', O_WRONLY | O_CREAT | O_APPEND },
    };
    int flags = -EINVAL;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        if (mode && mode[0] == base[i].c)
            flags = base[i].flags;
    if (flags < 0)
        return flags;
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
        else if (*m == 'x')
            flags |= O_EXCL;
    }
    return flags;
}

static ssize_t shim_cookie_read(void *c, char *buf, size_t n)
{
    struct shim_stream *s = c;
    ssize_t r = shim_read_buf(s->fd, buf, n, -1);
    if (r == SHIM_READ_PASS)
        return REAL(read)(s->fd, buf, n);
    return r < 0 ? shim_fail((int)r) : r;
}

/* glibc treats a short count as an error: write all of it. */
static ssize_t shim_cookie_write(void *c, const char *buf, size_t n)
{
    struct shim_stream *s = c;
    size_t done = 0;
    while (done < n) {
        ssize_t r = shim_write_buf(s->fd, buf + done, n - done, -1);
        if (r == SHIM_WRITE_PASS)
            r = REAL(write)(s->fd, buf + done, n - done);
        else if (r < 0)
            r = shim_fail((int)r);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return done > 0 ? (ssize_t)done : -1;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static int shim_cookie_seek(void *c, off64_t *pos, int whence)
{
    struct shim_stream *s = c;
    off_t r = shim_read_lseek(s->fd, *pos, whence);
    if (r == SHIM_READ_PASS)
        r = REAL(lseek)(s->fd, *pos, whence) < 0 ? -errno : REAL(lseek)(s->fd, 0, SEEK_CUR);
    if (r < 0)
        return shim_fail((int)r);
    *pos = r;
    return 0;
}

static int shim_cookie_close(void *c)
{
    struct shim_stream *s = c;
    int r = close(s->fd);
    free(s);
    return r;
}

static const cookie_io_functions_t shim_cookie_io = {
    .read = shim_cookie_read,
    .write = shim_cookie_write,
    .seek = shim_cookie_seek,
    .close = shim_cookie_close,
};

/* A FILE over volume descriptor fd (owned from now on); NULL + errno. */
static FILE *shim_stdio_wrap(int fd, const char *mode)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    struct shim_stream *s = malloc(sizeof *s);
    if (!s) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    s->fd = fd;
    int rc = p && p->native ? shim_check_fd(fd) : 0; /* glibc reads a native FILE itself */
    if (rc < 0) {
        close(fd);
        free(s);
        errno = -rc;
        return NULL;
    }
    s->cookie = !(p && p->native);
    FILE *fp = s->cookie ? fopencookie(s, mode, shim_cookie_io) : REAL(fdopen)(fd, mode);
    if (!fp || shim_reg_put(&shim_file_reg, fp, s) < 0) {
        int err = fp ? ENOMEM : errno;
        if (fp)
            fclose(fp); /* a cookie stream closes fd and frees s */
        else {
            close(fd);
            free(s);
        }
        errno = err;
        return NULL;
    }
    return fp;
}

/* Open a volume path for stdio: fd in the table, or a host fd (escape). */
static int shim_stdio_open(const struct shim_target *t, const char *mode, struct vfs_file **f)
{
    int flags = shim_open_mode_flags(mode);
    if (flags < 0)
        return flags;
    *f = NULL;
    return shim_open_file(t->vpath, flags, 0666, f);
}

static FILE *shim_fopen_any(const char *path, const char *mode,
                            FILE *(*real)(const char *, const char *))
{
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0) {
        FILE *fp = real(path, mode);
        if (fp)
            shim_fd_fresh(REAL(fileno)(fp));
        return fp;
    }
    struct vfs_file *f;
    int fd = c < 0 ? c : shim_stdio_open(&t, mode, &f);
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    if (!f) { /* escaped to the host */
        FILE *fp = REAL(fdopen)(fd, mode);
        if (!fp)
            REAL(close)(fd);
        return fp;
    }
    return shim_stdio_wrap(fd, mode);
}

SHIM_EXPORT FILE *fopen(const char *path, const char *mode)
{
    return shim_fopen_any(path, mode, REAL(fopen));
}

SHIM_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    return shim_fopen_any(path, mode, REAL(fopen64));
}

SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
    struct shim_ofd *o = shim_bypass() ? NULL : shim_fd_get(fd, 1);
    if (!o)
        return REAL(fdopen)(fd, mode);
    int flags = shim_open_mode_flags(mode);
    int acc = o->flags & O_ACCMODE;
    shim_ofd_put(o);
    /* as glibc checks the descriptor's access mode against the mode */
    if (flags < 0 || ((flags & O_ACCMODE) != O_RDONLY && acc == O_RDONLY)) {
        errno = EINVAL;
        return NULL;
    }
    return shim_stdio_wrap(fd, mode);
}

static struct shim_stream *shim_stdio_find(FILE *fp)
{
    return SHIM_LIKELY(shim_reg_empty(&shim_file_reg)) ? NULL : shim_reg_get(&shim_file_reg, fp);
}

SHIM_EXPORT int fileno(FILE *fp)
{
    struct shim_stream *s = shim_stdio_find(fp);
    return s ? s->fd : REAL(fileno)(fp);
}

SHIM_EXPORT int fileno_unlocked(FILE *fp)
{
    struct shim_stream *s = shim_stdio_find(fp);
    return s ? s->fd : REAL(fileno_unlocked)(fp);
}

/* A glibc FILE of ours on a volume writer (an inherited stdout, a shell's
 * redirected stream): its bytes went to the memfd through glibc's internal
 * write, and glibc closes it with its internal close. Flush, take the
 * bytes, commit, and report the commit as fclose's. */
static int shim_fclose_writer(FILE *fp)
{
    int fd = REAL(fileno)(fp);
    struct shim_ofd *p = fd >= 0 && !shim_bypass() ? shim_fd_peek(fd) : NULL;
    if (SHIM_LIKELY(!p) || p->kind != SHIM_OFD_VOLUME || (p->flags & O_ACCMODE) == O_RDONLY)
        return 0;
    fflush(fp);
    int rc = shim_settle(fd);
    int rel = shim_fd_forget(fd);
    return rc < 0 ? rc : rel;
}

SHIM_EXPORT int fclose(FILE *fp)
{
    struct shim_stream *s = SHIM_LIKELY(shim_reg_empty(&shim_file_reg))
                                ? NULL
                                : shim_reg_take(&shim_file_reg, fp);
    if (s && !s->cookie) {
        shim_fd_forget(s->fd); /* glibc closes it with its internal close */
        free(s);
    }
    int commit = s ? 0 : shim_fclose_writer(fp);
    int r = REAL(fclose)(fp); /* a cookie stream's close callback frees s */
    if (r == 0 && commit < 0) {
        errno = -commit;
        return EOF;
    }
    return r;
}

/* A descriptor holding the bytes of the volume file open on fd: fd itself
 * when native, else a fresh open of the engine's materialised copy. */
static int shim_freopen_bytes(int fd, struct vfs_file *f, int *owned)
{
    struct shim_ofd *p = shim_fd_peek(fd);
    *owned = 0;
    if (!f || (p && p->native)) {
        int rc = shim_check_fd(fd);
        return rc < 0 ? rc : fd;
    }
    int mfd;
    int rc = SHIM_VFS(mmap_fd, f, &mfd);
    if (rc < 0)
        return rc;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", mfd);
    int nfd = REAL(open)(proc, O_RDONLY | O_CLOEXEC);
    if (nfd < 0)
        return -errno;
    *owned = 1;
    return nfd;
}

/* freopen of a glibc FILE onto a volume file: reopen it on /dev/null (glibc
 * keeps the descriptor number, so stdin stays 0), then dup the bytes onto
 * that number. */
static FILE *shim_freopen_plain(FILE *fp, const char *mode, int fd, struct vfs_file *f,
                                FILE *(*real)(const char *, const char *, FILE *))
{
    int owned;
    int src = shim_freopen_bytes(fd, f, &owned);
    if (src < 0) {
        close(fd);
        errno = -src;
        return NULL;
    }
    FILE *r = real("/dev/null", strchr(mode, 'e') ? "re" : "r", fp);
    int target = r ? REAL(fileno)(r) : -1;
    if (target < 0 || REAL(dup3)(src, target, strchr(mode, 'e') ? O_CLOEXEC : 0) < 0) {
        int err = errno;
        if (owned)
            REAL(close)(src);
        close(fd);
        errno = err;
        return NULL;
    }
    if (owned) {
        shim_fd_fresh(target);
        REAL(close)(src);
    } else {
        shim_fd_dup(src, target);
    }
    close(fd);
    return r;
}

/* freopen of one of our cookie streams: swap its descriptor. */
static FILE *shim_freopen_cookie(FILE *fp, struct shim_stream *s, int fd)
{
    fflush(fp);
    __fpurge(fp);
    clearerr(fp);
    close(s->fd);
    s->fd = fd;
    return fp;
}

static FILE *shim_freopen_any(const char *path, const char *mode, FILE *fp,
                              FILE *(*real)(const char *, const char *, FILE *))
{
    struct shim_stream *s = shim_stdio_find(fp);
    char full[SHIM_PATH_MAX];
    if (!path && s) {
        /* same file, new mode: reopen the volume path, not the memfd */
        struct shim_ofd *o = shim_fd_get(s->fd, 0);
        struct vfs_file *f = NULL;
        if (o && shim_ofd_file(o, s->fd, &f) == 0)
            snprintf(full, sizeof full, "%s%s", shim_cfg.prefix, shim_vfs->file_path(f));
        shim_ofd_put(o);
        if (!f) {
            errno = EBADF;
            return NULL;
        }
        path = full;
    }
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0 && !s)
        return real(path, mode, fp);
    struct vfs_file *f = NULL;
    int fd;
    if (c == 0) { /* our cookie stream onto a host file */
        int flags = shim_open_mode_flags(mode);
        fd = flags < 0 ? flags : REAL(open)(path, flags, 0666);
        if (fd < 0 && flags >= 0)
            fd = -errno;
    } else {
        fd = c < 0 ? c : shim_stdio_open(&t, mode, &f);
    }
    if (fd < 0) {
        errno = -fd;
        return NULL;
    }
    if (s && s->cookie)
        return shim_freopen_cookie(fp, s, fd);
    if (s) {
        shim_reg_take(&shim_file_reg, fp);
        shim_fd_forget(s->fd); /* real freopen closes it internally */
        free(s);
    }
    return shim_freopen_plain(fp, mode, fd, f, real);
}

/* An exec'ed program whose standard input is an inherited placeholder
 * (`md5sum < big-file`): glibc's stdin reads fd 0 with its internal read
 * and would see the empty memfd, so stdin becomes a cookie stream on fd 0.
 * glibc documents stdin as an ordinary variable programs may assign. */
void shim_stdio_adopt_stdin(void)
{
    struct shim_ofd *p = shim_fd_peek(0);
    if (!p || p->kind != SHIM_OFD_VOLUME || p->native || p->isdir)
        return;
    struct shim_stream *s = malloc(sizeof *s);
    if (!s)
        return;
    s->fd = 0;
    s->cookie = 1;
    FILE *fp = fopencookie(s, "r", shim_cookie_io);
    if (!fp || shim_reg_put(&shim_file_reg, fp, s) < 0) {
        free(s); /* fp (if any) stays unused: closing it would close fd 0 */
        return;
    }
    stdin = fp;
}

SHIM_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    return shim_freopen_any(path, mode, fp, REAL(freopen));
}

SHIM_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    return shim_freopen_any(path, mode, fp, REAL(freopen64));
}

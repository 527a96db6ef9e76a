/* io.c - see io.h. */
#include "io.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    assert(buf || len == 0);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    assert(buf || len == 0);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int io_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    assert(buf || len == 0);
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int io_fd_high(int fd)
{
    if (fd < 0 || fd >= IO_FD_FLOOR)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, IO_FD_FLOOR);
    int err = errno;
    close(fd);
    errno = err;
    return high;
}

/* The numbers below the floor are one resource of the process (its fd
 * table), so the hold is one too: counted, filled by the first holder and
 * topped up by each (a number the program freed meanwhile), let go by the
 * last. Per-caller holds raced: while one thread held 4-9, a second found
 * nothing free to hold, the first let go, and the second's socketpair
 * landed at 4. Only filling and emptying run under the lock; the library
 * call between them (a PostgreSQL connect may take seconds) does not. */
static pthread_mutex_t io_low_mu = PTHREAD_MUTEX_INITIALIZER;
static int io_low_users;
static int io_low_fd[IO_FD_FLOOR];
static int io_low_n;
static pthread_once_t io_low_once = PTHREAD_ONCE_INIT;

/* libc's functions, found past this library's own (RTLD_NEXT finds them
 * from the preloaded library and from a tool alike); io.h says why. */
typedef int (*io_statx_fn)(int, const char *, int, unsigned, struct statx *);
typedef ssize_t (*io_write_fn)(int, const void *, size_t);
typedef int (*io_openat_fn)(int, const char *, int, ...);
static struct {
    io_statx_fn statx;
    io_write_fn write;
    io_openat_fn openat;
    io_syscall_fn syscall;
} io_libc;
static pthread_once_t io_libc_once = PTHREAD_ONCE_INIT;

static void io_libc_find(void)
{
    io_libc.statx = (io_statx_fn)dlsym(RTLD_NEXT, "statx");
    io_libc.write = (io_write_fn)dlsym(RTLD_NEXT, "write");
    io_libc.openat = (io_openat_fn)dlsym(RTLD_NEXT, "openat");
    io_libc.syscall = (io_syscall_fn)dlsym(RTLD_NEXT, "syscall");
    /* a static tool: the names here are libc's */
    if (!io_libc.statx)
        io_libc.statx = statx;
    if (!io_libc.write)
        io_libc.write = write;
    if (!io_libc.openat)
        io_libc.openat = openat;
    if (!io_libc.syscall)
        io_libc.syscall = syscall;
}

static int io_ident(int fd, struct statx *sx)
{
    pthread_once(&io_libc_once, io_libc_find);
    return io_libc.statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, sx);
}

int io_file_id(int fd, struct io_file_id *id)
{
    assert(id);
    struct statx sx;
    if (io_ident(fd, &sx) < 0) {
        id->dev = 0;
        id->ino = 0;
        return -errno;
    }
    id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id->ino = sx.stx_ino;
    return 0;
}

ssize_t io_libc_write(int fd, const void *buf, size_t len)
{
    pthread_once(&io_libc_once, io_libc_find);
    return io_libc.write(fd, buf, len);
}

io_syscall_fn io_libc_syscall(void)
{
    pthread_once(&io_libc_once, io_libc_find);
    return io_libc.syscall;
}

int io_libc_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    pthread_once(&io_libc_once, io_libc_find);
    return io_libc.openat(dirfd, path, flags, mode);
}

static int io_is_ours(int fd)
{
    /* a program may have dup2'd its own file onto a held number: that one
     * is the program's now, and closing it would lose the program's file */
    struct statx sx;
    return io_ident(fd, &sx) == 0 && S_ISCHR(sx.stx_mode) && sx.stx_rdev_major == 1 &&
           sx.stx_rdev_minor == 3;
}

static void io_low_empty(void)
{
    while (io_low_n > 0) {
        int fd = io_low_fd[--io_low_n];
        if (io_is_ours(fd))
            close(fd);
    }
}

static void io_low_prepare(void) { pthread_mutex_lock(&io_low_mu); }
static void io_low_parent(void) { pthread_mutex_unlock(&io_low_mu); }
static void io_low_child(void)
{
    /* the holders were threads of the parent; the child's program owns
     * its low numbers again */
    io_low_empty();
    io_low_users = 0;
    pthread_mutex_init(&io_low_mu, NULL);
}

static void io_low_init(void)
{
    pthread_atfork(io_low_prepare, io_low_parent, io_low_child);
}

static void io_low_look(struct io_low *at)
{
    for (int fd = 0; fd < IO_FD_FLOOR; fd++)
        (void)io_file_id(fd, &at->id[fd]);
}

void io_hold_low(struct io_low *was)
{
    assert(was);
    pthread_once(&io_low_once, io_low_init);
    pthread_mutex_lock(&io_low_mu);
    io_low_users++;
    while (io_low_n < IO_FD_FLOOR) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (fd >= IO_FD_FLOOR) {
            close(fd);
            break;
        }
        io_low_fd[io_low_n++] = fd;
    }
    io_low_look(was);
    pthread_mutex_unlock(&io_low_mu);
}

int io_release_low(const struct io_low *was)
{
    assert(was);
    struct io_low now;
    pthread_mutex_lock(&io_low_mu);
    io_low_look(&now);
    assert(io_low_users > 0);
    if (io_low_users > 0 && --io_low_users == 0)
        io_low_empty();
    pthread_mutex_unlock(&io_low_mu);
    for (int fd = 0; fd < IO_FD_FLOOR; fd++)
        if (now.id[fd].dev != was->id[fd].dev || now.id[fd].ino != was->id[fd].ino)
            return 1;
    return 0;
}

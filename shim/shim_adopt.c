/* shim_adopt.c - exec inheritance: a program started by a shimmed parent
 * may hold volume descriptors (`bash -c 'cat < file'`). The constructor
 * finds the open descriptors once (one poll() over the descriptor range,
 * or /proc/self/fd when the limit is large), keeps the memfds among them
 * (F_GET_SEALS) and records the engine's, recognised by their names
 * ("/memfd:shimfs:<ino> (deleted)" and the -dir, -path, -data kinds); the
 * engine adopts them on first use (vfs_adopt). Cache files hold the bytes
 * and read natively (fstat then shows the cache file, not the volume).
 */
#include "shim.h"

#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_fd.h"
#include "shim_sync.h"

struct shim_adopt_kind {
    const char *tag;     /* memfd name before ":<ino>" */
    int native, isdir;
};

static const struct shim_adopt_kind shim_adopt_kinds[] = {
    { "/memfd:shimfs:", 0, 0 },
    { "/memfd:shimfs-dir:", 0, 1 },
    { "/memfd:shimfs-path:", 0, 0 },
    { "/memfd:shimfs-data:", 1, 0 },
};

/* An unsealed "shimfs:" placeholder was open for writing (the engine
 * seals readers' placeholders): adopt it as a writer, with the access
 * mode and O_APPEND the kernel file carries, and commit it at exit. */
static void shim_adopt_writer(struct shim_ofd *o, int fd, int seals)
{
    if (o->native || o->isdir || (seals & F_SEAL_WRITE))
        return;
    int fl = REAL(fcntl)(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
        return;
    o->flags = fl & (O_ACCMODE | O_APPEND);
    shim_sync_exit_commit();
}

static void shim_adopt_one(int fd, const char *link, int seals)
{
    for (size_t k = 0; k < sizeof shim_adopt_kinds / sizeof shim_adopt_kinds[0]; k++) {
        const struct shim_adopt_kind *kind = &shim_adopt_kinds[k];
        size_t n = strlen(kind->tag);
        if (strncmp(link, kind->tag, n) != 0)
            continue;
        char *end;
        unsigned long long ino = strtoull(link + n, &end, 10);
        if (end == link + n || strcmp(end, " (deleted)") != 0)
            return;
        struct shim_ofd *o = shim_ofd_new_adopt(fd, ino, kind->native, kind->isdir);
        if (o && kind == &shim_adopt_kinds[0])
            shim_adopt_writer(o, fd, seals);
        if (o)
            shim_fd_install(fd, o);
        return;
    }
}

/* A descriptor whose kernel file is a memfd (F_GET_SEALS works only on
 * those): read its name. One fcntl per open descriptor, a readlink only for
 * memfds. */
static void shim_adopt_probe(int fd)
{
    int seals = REAL(fcntl)(fd, F_GET_SEALS);
    if (seals < 0)
        return;
    char proc[40], link[128];
    memcpy(proc, "/proc/self/fd/", 14);
    int n = 14, digits[12], nd = 0;
    for (unsigned v = (unsigned)fd; nd == 0 || v; v /= 10)
        digits[nd++] = (int)(v % 10);
    while (nd)
        proc[n++] = (char)('0' + digits[--nd]);
    proc[n] = '\0';
    ssize_t len = REAL(readlink)(proc, link, sizeof link - 1);
    if (len <= 0)
        return;
    link[len] = '\0';
    shim_adopt_one(fd, link, seals);
}

/* Which descriptors are open: one poll() per 1024 numbers (POLLNVAL marks
 * the closed ones), far cheaper than listing /proc/self/fd. Used when the
 * descriptor limit is small enough to cover every possible number. */
static int shim_adopt_poll(unsigned limit)
{
    struct pollfd p[1024];
    for (unsigned base = 0; base < limit; base += 1024) {
        unsigned n = limit - base < 1024 ? limit - base : 1024;
        for (unsigned i = 0; i < n; i++) {
            p[i].fd = (int)(base + i);
            p[i].events = 0;
            p[i].revents = 0;
        }
        if (poll(p, n, 0) < 0)
            return -1;
        for (unsigned i = 0; i < n; i++)
            if (!(p[i].revents & POLLNVAL))
                shim_adopt_probe(p[i].fd);
    }
    return 0;
}

/* Every open descriptor from /proc/self/fd (exact, slower). */
static void shim_adopt_list(void)
{
    int dfd = REAL(open)("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    char buf[4096];
    for (int rounds = 0; rounds < 1 << 16; rounds++) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9')
                continue;
            int fd = atoi(d->d_name);
            if (fd != dfd)
                shim_adopt_probe(fd);
        }
    }
    REAL(close)(dfd);
}

void shim_fd_scan_inherited(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= 4096 &&
        shim_adopt_poll((unsigned)rl.rlim_cur) == 0)
        return;
    shim_adopt_list();
}

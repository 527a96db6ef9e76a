/* shim_exec_plan.c - what the kernel is handed for an exec of a volume
 * path (shim_exec.h): the kernel's checks on each file of the chain, its
 * node-local copy, and the `#!` lines read from those copies.
 */
#include "shim.h"

#include <elf.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_core.h"
#include "shim_dl.h"
#include "shim_exec.h"
#include "shim_fd.h"
#include "shim_resolve.h"

/* 1 when this process holds volume inode ino open for writing (the
 * kernel's ETXTBSY). Only volume descriptors are looked at. */
static int shim_exec_writing(uint64_t ino)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    if (!dir || !shim_core_loaded())
        return 0;
    for (unsigned fd = 0; fd < shim_fd_cap; fd++) {
        if (!__atomic_load_n(&dir[fd >> SHIM_FD_PAGE_SHIFT], __ATOMIC_ACQUIRE)) {
            fd |= SHIM_FD_PAGE_MASK;
            continue;
        }
        struct shim_ofd *o = shim_fd_peek((int)fd);
        if (!o || o->kind != SHIM_OFD_VOLUME || (o->flags & O_ACCMODE) == O_RDONLY)
            continue;
        struct vfs_file *f = __atomic_load_n(&o->file, __ATOMIC_ACQUIRE);
        struct stat st;
        if (f && SHIM_VFS(fstat, f, &st) == 0 && (uint64_t)st.st_ino == ino)
            return 1;
    }
    return 0;
}

/* The `#!` line in hdr[0..n): interpreter and optional argument as the
 * kernel splits them (blanks around, one argument with its inner blanks).
 * 0, or -ENOEXEC for a line with no interpreter. */
static int shim_exec_parse(const char *hdr, size_t n, char *interp, char *arg, char *has_arg)
{
    size_t i = 2, end = 2;
    while (end < n && hdr[end] != '\n')
        end++;
    while (i < end && (hdr[i] == ' ' || hdr[i] == '\t'))
        i++;
    size_t s = i;
    while (i < end && hdr[i] != ' ' && hdr[i] != '\t' && hdr[i] != '\0')
        i++;
    if (i == s)
        return -ENOEXEC;
    memcpy(interp, hdr + s, i - s);
    interp[i - s] = '\0';
    while (i < end && (hdr[i] == ' ' || hdr[i] == '\t'))
        i++;
    size_t e = end;
    while (e > i && (hdr[e - 1] == ' ' || hdr[e - 1] == '\t' || hdr[e - 1] == '\r'))
        e--;
    for (size_t k = i; k < e; k++)
        if (hdr[k] == '\0')
            e = k;
    *has_arg = e > i;
    memcpy(arg, hdr + i, e - i);
    arg[e - i] = '\0';
    return 0;
}

static void shim_exec_host(struct shim_exec_plan *p, const char *host)
{
    if (strlen(host) >= sizeof p->file)
        p->err = -ENAMETOOLONG;
    else
        strcpy(p->file, host);
}

/* The chain from volume path vpath: each file checked and copied, each
 * `#!` line followed, until a binary or a host file. */
static void shim_exec_chain(const char *vpath, int atflags, struct shim_exec_plan *p)
{
    char cur[SHIM_PATH_MAX], host[VFS_HOST_MAX];
    snprintf(cur, sizeof cur, "%s", vpath);
    for (int level = 0;; level++) {
        struct stat st;
        int nofollow = level == 0 && (atflags & AT_SYMLINK_NOFOLLOW);
        int rc = SHIM_VFS_LOAD(stat, cur, nofollow ? VFS_NOFOLLOW : 0, &st, host, sizeof host);
        if (rc == VFS_ESCAPED) {
            shim_exec_host(p, host);
            return;
        }
        if (rc == 0 && S_ISLNK(st.st_mode))
            rc = -ELOOP;
        else if (rc == 0 && !S_ISREG(st.st_mode))
            rc = -EACCES;
        if (rc == 0)
            rc = SHIM_VFS(access, cur, X_OK, 0, 1, host, sizeof host);
        if (rc == 0 && shim_exec_writing((uint64_t)st.st_ino))
            rc = -ETXTBSY;
        if (rc == 0)
            rc = SHIM_VFS(materialize, cur, p->file, sizeof p->file, host, sizeof host);
        if (rc == VFS_ESCAPED) {
            shim_exec_host(p, host);
            return;
        }
        if (rc < 0) {
            p->err = rc;
            return;
        }
        char hdr[SHIM_EXEC_LINE];
        int fd = REAL(open)(p->file, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? REAL(read)(fd, hdr, sizeof hdr) : -1;
        if (fd >= 0)
            REAL(close)(fd);
        if (n < 2 || hdr[0] != '#' || hdr[1] != '!') {
            if (n >= SELFMAG && !memcmp(hdr, ELFMAG, SELFMAG))
                shim_dl_prepare_exec(p->file); /* its libraries in the volume */
            return; /* a binary (or garbage: the kernel answers ENOEXEC) */
        }
        if (level == SHIM_EXEC_DEPTH) {
            p->err = -ELOOP;
            return;
        }
        rc = shim_exec_parse(hdr, (size_t)n, p->interp[level], p->arg[level], &p->has_arg[level]);
        if (rc < 0) {
            p->err = rc;
            return;
        }
        p->levels = level + 1;
        struct shim_target t;
        int c = shim_resolve(AT_FDCWD, p->interp[level], SHIM_RESOLVE_CHECKED, &t);
        if (c == 0) {
            shim_exec_host(p, p->interp[level]); /* the kernel does the rest */
            return;
        }
        if (c < 0) {
            p->err = c;
            return;
        }
        snprintf(cur, sizeof cur, "%s", t.vpath);
    }
}

/* A vfork child shares our memory and must not start or use the engine:
 * a forked helper (its own copy) makes the plan and writes it back. */
static void shim_exec_chain_helper(const char *vpath, int atflags, struct shim_exec_plan *p)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        p->err = -errno;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        REAL(close)(fds[0]);
        shim_exec_chain(vpath, atflags, p);
        const char *b = (const char *)p;
        for (size_t off = 0; off < sizeof *p;) {
            ssize_t w = REAL(write)(fds[1], b + off, sizeof *p - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    REAL(close)(fds[1]);
    size_t got = 0;
    while (pid > 0 && got < sizeof *p) {
        ssize_t r = REAL(read)(fds[0], (char *)p + got, sizeof *p - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    REAL(close)(fds[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    if (got != sizeof *p) {
        memset(p, 0, sizeof *p);
        p->err = pid < 0 ? -EAGAIN : -EIO;
    }
}

int shim_exec_plan(int dirfd, const char *path, int atflags, struct shim_exec_plan *p)
{
    struct shim_target t;
    int c = shim_resolve(dirfd, path, SHIM_RESOLVE_ALIAS, &t);
    if (SHIM_LIKELY(c == 0))
        return 0;
    p->err = 0;
    p->levels = 0;
    p->file[0] = '\0';
    if (c > 0 && snprintf(p->abs, sizeof p->abs, "%s%s", shim_cfg.prefix, t.vpath) >=
                     (int)sizeof p->abs)
        c = -ENAMETOOLONG;
    if (c < 0)
        p->err = c;
    else if (shim_in_vfork_child())
        shim_exec_chain_helper(t.vpath, atflags, p);
    else
        shim_exec_chain(t.vpath, atflags, p);
    return 1;
}

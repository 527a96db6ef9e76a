/* shim_exec_plan.c - what the kernel is handed for an exec of a volume
 * path (shim_exec.h): the kernel's checks on each file of the chain, its
 * node-local copy, and the `#!` lines read from those copies.
 */
#include "shim.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim_core.h"
#include "shim_dl.h"
#include "shim_exec.h"
#include "shim_fd.h"
#include "shim_helper.h"
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
    char cur[SHIM_VPATH_MAX], host[VFS_HOST_MAX];
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

/* Plans made for vfork children, kept in this process's memory (which a
 * vfork child shares: what the child learns, the parent keeps), so that a
 * program run again and again through subprocess costs no helper fork
 * each time. A plan is used for min(SHIMFS_ATTR_TTL, 1 s) after it was
 * made (the attribute cache's rule: an exec is an open), while its copy
 * is still there and this process has no volume file open for writing
 * (ETXTBSY needs the engine). Slots are seqlocks: odd while written. */
#define SHIM_EXEC_KEPT 4
static struct shim_exec_kept {
    unsigned seq;
    int64_t at_ns;
    char vpath[SHIM_PATH_MAX];
    struct shim_exec_plan plan;
} shim_exec_kept[SHIM_EXEC_KEPT];
static unsigned shim_exec_kept_next;

static int64_t shim_exec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t shim_exec_kept_ttl(void)
{
    const char *v = getenv("SHIMFS_ATTR_TTL");
    char *end;
    double ttl = v && *v ? strtod(v, &end) : 1.0;
    if (!v || !*v || *end || !(ttl >= 0))
        ttl = 1.0;
    return (int64_t)((ttl < 1.0 ? ttl : 1.0) * 1e9);
}

/* This process holds a volume file open for writing (no engine call). */
static int shim_exec_any_writer(void)
{
    struct shim_ofd ***dir = __atomic_load_n(&shim_fd_dir, __ATOMIC_ACQUIRE);
    for (unsigned fd = 0; dir && fd < shim_fd_cap; fd++) {
        if (!__atomic_load_n(&dir[fd >> SHIM_FD_PAGE_SHIFT], __ATOMIC_ACQUIRE)) {
            fd |= SHIM_FD_PAGE_MASK;
            continue;
        }
        struct shim_ofd *o = shim_fd_peek((int)fd);
        if (o && o->kind == SHIM_OFD_VOLUME && (o->flags & O_ACCMODE) != O_RDONLY)
            return 1;
    }
    return 0;
}

static int shim_exec_kept_get(const char *vpath, struct shim_exec_plan *p)
{
    int64_t ttl = shim_exec_kept_ttl(), now = shim_exec_now();
    if (ttl <= 0 || shim_exec_any_writer())
        return 0;
    for (int i = 0; i < SHIM_EXEC_KEPT; i++) {
        struct shim_exec_kept *k = &shim_exec_kept[i];
        unsigned s1 = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
        if ((s1 & 1) || now - k->at_ns > ttl || strcmp(k->vpath, vpath) != 0)
            continue;
        memcpy(p, &k->plan, sizeof *p);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&k->seq, __ATOMIC_RELAXED) != s1 || p->err != 0 ||
            strcmp(k->vpath, vpath) != 0)
            continue;
        return REAL(access)(p->file, X_OK) == 0;
    }
    return 0;
}

static void shim_exec_kept_put(const char *vpath, const struct shim_exec_plan *p)
{
    if (p->err != 0 || strlen(vpath) >= SHIM_PATH_MAX)
        return;
    unsigned i = __atomic_fetch_add(&shim_exec_kept_next, 1, __ATOMIC_RELAXED) % SHIM_EXEC_KEPT;
    struct shim_exec_kept *k = &shim_exec_kept[i];
    unsigned s = __atomic_load_n(&k->seq, __ATOMIC_RELAXED);
    if ((s & 1) ||
        !__atomic_compare_exchange_n(&k->seq, &s, s + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return; /* another writer has it */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    k->at_ns = shim_exec_now();
    strcpy(k->vpath, vpath);
    memcpy(&k->plan, p, sizeof *p);
    __atomic_store_n(&k->seq, s + 2, __ATOMIC_RELEASE);
}

/* A vfork child must not use the engine: a forked helper makes the plan
 * (p->abs and p->atflags say what to plan). */
static void shim_exec_chain_in_helper(void *buf)
{
    struct shim_exec_plan *p = buf;
    shim_exec_chain(p->abs + shim_cfg.prefix_len, p->atflags, p);
}

static void shim_exec_chain_helper(const char *vpath, int atflags, struct shim_exec_plan *p)
{
    p->atflags = atflags;
    int rc = shim_helper_run(shim_exec_chain_in_helper, p, sizeof *p);
    if (rc < 0) {
        p->levels = 0;
        p->err = rc == -EIO ? -EIO : -EAGAIN;
        return;
    }
    if (!(atflags & AT_SYMLINK_NOFOLLOW))
        shim_exec_kept_put(vpath, p);
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
    if (c > 0 &&
        snprintf(p->abs, sizeof p->abs, "%s%s", shim_cfg.prefix, t.vpath) >= (int)sizeof p->abs)
        c = -ENAMETOOLONG;
    if (c < 0)
        p->err = c;
    else if (!shim_in_vfork_child())
        shim_exec_chain(t.vpath, atflags, p);
    else if ((atflags & AT_SYMLINK_NOFOLLOW) || !shim_exec_kept_get(t.vpath, p))
        shim_exec_chain_helper(t.vpath, atflags, p);
    return 1;
}

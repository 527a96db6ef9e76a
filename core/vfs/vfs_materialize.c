/* vfs_materialize.c - node-local copies of volume files, for what the
 * kernel and the dynamic loader must open themselves (execve, the
 * interpreter of a script, libraries).
 *
 * Owns the mirror tree <cache folder>/exec/<volume uuid>/: the copy of a
 * volume file whose canonical path is P is the host file root + P, so a
 * library's $ORIGIN and the relative layout of a program's tree hold in
 * the mirror as on the volume (canonical: `..` in the mirror means what
 * it means on the volume after symlinks). The cache folder is the
 * effective uid's alone (trust.h), so the tree is per node and per user:
 * folders 0700, files 0400 or 0500 (an x bit when the volume file has
 * any: who may run it is decided against the volume's mode, not here).
 *
 * Promises:
 *  - the bytes come through the engine (verified blocks, the node cache);
 *  - a copy is written to a temporary file under exec/tmp/ and rename()d
 *    into place, so a process running or mapping the old copy keeps its
 *    inode, and processes of the node materialising the same file at once
 *    each publish a whole copy (the last rename wins, both are right);
 *  - a copy carries a stamp (xattr user.shimfs.stamp: inode, size, mtime)
 *    and its mtime is the volume file's: an unchanged file is never read
 *    again, a changed one (new content, or replaced by another inode) is
 *    copied afresh. On a file system without user xattrs only size and
 *    mtime are compared.
 * Limits: copies are not counted in SHIMFS_CACHE_SIZE and are removed
 * only with the cache folder; a crash leaves its temporary file in
 * exec/tmp/ (removed once older than a day, by the next copy made).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "trust.h"
#include "vfs_internal.h"

#define VFS_MAT_XATTR "user.shimfs.stamp"
#define VFS_MAT_TMP_AGE (24 * 3600)

static int vfs_mat_root(const struct vfs_engine *e, char *out, size_t cap)
{
    if (!e->cfg.cache_dir[0])
        return -ENOTSUP;
    int n = snprintf(out, cap, "%s/exec/%s", e->cfg.cache_dir, e->settings.uuid);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int vfs_materialize_root(char *out, size_t cap)
{
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    return vfs_mat_root(vfs_opened(), out, cap);
}

static mode_t vfs_mat_mode(const struct meta_attr *a)
{
    return (a->mode & 0111) ? 0500 : 0400;
}

static void vfs_mat_stamp(const struct meta_attr *a, char *buf, size_t cap)
{
    snprintf(buf, cap, "v1 %" PRIu64 " %" PRIu64 " %" PRId64, a->ino, a->size, a->mtime_ns);
}

/* 1 when the copy at path is ours and holds version *a. */
static int vfs_mat_current(const char *path, const struct meta_attr *a)
{
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || trust_stat_ok(&st) < 0)
        return 0;
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((uint64_t)st.st_size != a->size || mt != a->mtime_ns ||
        (st.st_mode & 07777) != vfs_mat_mode(a))
        return 0;
    char want[96], have[96];
    vfs_mat_stamp(a, want, sizeof want);
    ssize_t n = lgetxattr(path, VFS_MAT_XATTR, have, sizeof have - 1);
    if (n < 0)
        return errno == ENOTSUP; /* no xattrs here: size and mtime are all we have */
    have[n] = '\0';
    return strcmp(have, want) == 0;
}

/* Open (making them 0700) the folders of rel under the trusted root fd;
 * returns the descriptor of the last folder and points *leaf at the name. */
static int vfs_mat_dirs(int rootfd, char *rel, char **leaf)
{
    int at = rootfd;
    char *p = rel;
    while (*p == '/')
        p++;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        struct stat st;
        if (fstatat(at, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            (void)unlinkat(at, p, 0); /* a file the volume has since made a folder */
        int fd = trust_subdir_open(at, p, 1);
        *slash = '/';
        if (at != rootfd)
            close(at);
        if (fd < 0)
            return fd;
        at = fd;
        p = slash + 1;
        while (*p == '/')
            p++;
    }
    *leaf = p;
    return at == rootfd ? dup(rootfd) : at;
}

/* Temporary files left by crashed processes, older than a day. */
static void vfs_mat_sweep(int tmpfd)
{
    int fd = dup(tmpfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    time_t now = time(NULL);
    struct dirent *de;
    for (int k = 0; k < 1000 && (de = readdir(d)); k++) {
        struct stat st;
        if (de->d_name[0] != '.' && fstatat(tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            now - st.st_mtime > VFS_MAT_TMP_AGE)
            (void)unlinkat(tmpfd, de->d_name, 0);
    }
    closedir(d);
}

/* Copy version *a (its map m) to a temporary file and rename it to canon
 * under root. */
static int vfs_mat_write(const char *root, const char *canon, const struct meta_attr *a,
                         struct vfs_smap *m)
{
    struct vfs_engine *e = vfs_opened();
    char top[sizeof e->cfg.cache_dir + 64];
    snprintf(top, sizeof top, "%s", e->cfg.cache_dir);
    int cfd = trust_dir_open(top, sizeof top);
    if (cfd < 0)
        return cfd;
    int xfd = trust_subdir_open(cfd, "exec", 1);
    close(cfd);
    if (xfd < 0)
        return xfd;
    int tmpfd = trust_subdir_open(xfd, "tmp", 1);
    int rootfd = trust_subdir_open(xfd, e->settings.uuid, 1);
    close(xfd);
    int rc = tmpfd < 0 ? tmpfd : rootfd;
    char rel[VFS_HOST_MAX], *leaf = NULL;
    int dirfd = -1, fd = -1;
    char tname[64];
    if (rc >= 0) {
        snprintf(rel, sizeof rel, "%s", canon);
        rc = dirfd = vfs_mat_dirs(rootfd, rel, &leaf);
    }
    if (rc >= 0 && !*leaf)
        rc = -EISDIR;
    if (rc >= 0) {
        static unsigned seq;
        snprintf(tname, sizeof tname, "m-%d-%u-%llx", (int)getpid(),
                 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED), (unsigned long long)vfs_now_ns());
        rc = fd = trust_file_open(tmpfd, tname, O_WRONLY | O_CREAT | O_EXCL, 0600);
    }
    if (rc >= 0) {
        vfs_prefetch_range(m, 0, 0, 0); /* every block at once, not one GET after another */
        char stamp[96];
        vfs_mat_stamp(a, stamp, sizeof stamp);
        struct timespec ts[2] = {
            { .tv_sec = a->mtime_ns / 1000000000, .tv_nsec = a->mtime_ns % 1000000000 },
            { .tv_sec = a->mtime_ns / 1000000000, .tv_nsec = a->mtime_ns % 1000000000 },
        };
        rc = vfs_fill_fd(m, fd);
        if (rc == 0 && fsetxattr(fd, VFS_MAT_XATTR, stamp, strlen(stamp), 0) < 0 &&
            errno != ENOTSUP)
            rc = -errno;
        if (rc == 0 && (fchmod(fd, vfs_mat_mode(a)) < 0 || futimens(fd, ts) < 0))
            rc = -errno;
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && renameat(tmpfd, tname, dirfd, leaf) < 0) {
            rc = -errno;
            if (rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST) {
                /* a folder the volume has since made a file: set it aside */
                char aside[96];
                snprintf(aside, sizeof aside, "%s.dir", tname);
                if (renameat(dirfd, leaf, tmpfd, aside) == 0 &&
                    renameat(tmpfd, tname, dirfd, leaf) == 0)
                    rc = 0;
            }
        }
        if (rc < 0)
            (void)unlinkat(tmpfd, tname, 0);
        else if (vfs_now_ns() % 64 == 0)
            vfs_mat_sweep(tmpfd);
    }
    if (rc < 0 && rc != -EIO)
        log_warn("vfs", "materialising %s under %s: %s", canon, root, strerror(-rc));
    if (dirfd >= 0)
        close(dirfd);
    if (tmpfd >= 0)
        close(tmpfd);
    if (rootfd >= 0)
        close(rootfd);
    return rc < 0 ? rc : 0;
}

int vfs_materialize(const char *vpath, char *out, size_t cap, char *host, size_t hcap)
{
    assert(vpath && out);
    int rc = vfs_init();
    if (rc < 0)
        return rc;
    struct vfs_engine *e = vfs_opened();
    struct meta_attr a;
    char canon[VFS_HOST_MAX];
    rc = vfs_resolve(vpath, 0, &a, canon, host, hcap);
    if (rc != 0)
        return rc; /* an error, or VFS_ESCAPED: the host path is in host */
    if (!S_ISREG(a.mode))
        return -EACCES;
    rc = vfs_check_access(&a, R_OK, 1);
    if (rc < 0)
        return rc;
    char root[VFS_HOST_MAX];
    rc = vfs_mat_root(e, root, sizeof root);
    if (rc == -ENOTSUP) {
        log_once(&e->warned_no_exec, LOG_WARN, "vfs",
                 "no cache folder this user owns alone "
                 "(see the trust line): volume files cannot be run or loaded (EIO)");
        return -EIO;
    }
    if (rc < 0)
        return rc;
    int n = snprintf(out, cap, "%s%s", root, canon);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    if (vfs_mat_current(out, &a))
        return 0;
    struct vfs_smap *m = NULL;
    rc = vfs_load_smap(&a, &m); /* the newest version: a is updated with it */
    if (rc < 0)
        return vfs_errno(rc);
    if (!vfs_mat_current(out, &a))
        rc = vfs_mat_write(root, canon, &a, m);
    vfs_smap_put(m);
    return rc;
}

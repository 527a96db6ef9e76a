/* trust.c - the owner and mode checks of trust.h, done on descriptors
 * (fstat of what was opened, never a stat of a name that could change
 * between the check and the use).
 *
 * Why the ancestors too: a folder of ours inside a folder another user can
 * write (without the sticky bit) can be renamed away and replaced by theirs
 * between two processes' opens, and some users of the cache folder (the
 * writeback staging folder, the working copies of mmap) reach it by name.
 */
#include "trust.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int trust_logged;

/* above: the folder what is checked for, when what is one of its parents */
static int trust_refuse_in(const char *what, const char *above, const struct stat *st,
                           const char *why)
{
    log_once(&trust_logged, LOG_WARN, "trust",
             "%s%s%s: %s (owner uid %u, mode %04o; this process runs as uid %u): not used (EPERM), "
             "so no other user's bytes are read as volume data; see SHIMFS_CACHE_DIR in "
             "docs/configuration.md", what, above ? ", above " : "", above ? above : "", why,
             (unsigned)st->st_uid,
             (unsigned)(st->st_mode & 07777), (unsigned)geteuid());
    return -EPERM;
}

static int trust_refuse(const char *what, const struct stat *st, const char *why)
{
    return trust_refuse_in(what, NULL, st, why);
}

static int trust_why_not(const struct stat *st, const char **why)
{
    if (st->st_uid != geteuid())
        *why = "owned by another user";
    else if (st->st_mode & (S_IWGRP | S_IWOTH))
        *why = "writable by group or others";
    else
        return 0;
    return -EPERM;
}

int trust_stat_ok(const struct stat *st)
{
    const char *why;
    assert(st);
    return trust_why_not(st, &why);
}

int trust_fd_check(int fd, const char *what)
{
    struct stat st;
    const char *why;
    assert(what);
    if (fstat(fd, &st) < 0)
        return -errno;
    return trust_why_not(&st, &why) < 0 ? trust_refuse(what, &st, why) : 0;
}

/* mkdir -p, new folders 0700 (the umask can only narrow that). */
static int trust_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = c;
        if (!c)
            return 0;
    }
}

/* Every folder above real (an absolute path without symlinks): owned by
 * root or us, and not writable by others unless sticky. */
static int trust_ancestors(const char *real)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", real);
    for (char *slash = strrchr(buf, '/'); slash; slash = strrchr(buf, '/')) {
        if (slash == buf)
            slash[1] = '\0';    /* "/" itself */
        else
            *slash = '\0';
        struct stat st;
        if (lstat(buf, &st) < 0)
            return -errno;
        if (st.st_uid != 0 && st.st_uid != geteuid())
            return trust_refuse_in(buf, real, &st, "owned by another user (not root)");
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
            return trust_refuse_in(buf, real, &st, "writable by others without the sticky bit");
        if (slash == buf)
            break;
    }
    return 0;
}

/* The last folder whose ancestors passed, as given and resolved: the
 * volume, its cache and its node metadata each open the same folder at
 * start-up, and the walk above it costs a few dozen system calls. What
 * only root or we can change stays checked; the folder itself is checked
 * again on every open. */
static pthread_mutex_t trust_memo_lock = PTHREAD_MUTEX_INITIALIZER;
static char trust_memo_in[PATH_MAX], trust_memo_real[PATH_MAX];

static int trust_memo_get(const char *path, char *real)
{
    pthread_mutex_lock(&trust_memo_lock);
    int hit = trust_memo_real[0] && (strcmp(path, trust_memo_in) == 0 ||
                                     strcmp(path, trust_memo_real) == 0);
    if (hit)
        strcpy(real, trust_memo_real);
    pthread_mutex_unlock(&trust_memo_lock);
    return hit;
}

static void trust_memo_set(const char *path, const char *real)
{
    pthread_mutex_lock(&trust_memo_lock);
    if (strlen(path) < sizeof trust_memo_in) {
        strcpy(trust_memo_in, path);
        strcpy(trust_memo_real, real);
    }
    pthread_mutex_unlock(&trust_memo_lock);
}

int trust_dir_open(char *path, size_t cap)
{
    char real[PATH_MAX];
    if (!path || !*path)
        return -EINVAL;
    int rc = 0, fd = -1;
    int memo = trust_memo_get(path, real);
    if (memo && (fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 &&
        errno == ENOENT)
        memo = 0;   /* wiped since: make it again */
    if (!memo) {
        if (!realpath(path, real) && (errno != ENOENT || (rc = trust_mkdirs(path)) < 0 ||
                                      !realpath(path, real)))
            return rc < 0 ? rc : -errno;
        if ((rc = trust_ancestors(real)) < 0)
            return rc;
        trust_memo_set(path, real);
        fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return errno == ELOOP ? -EPERM : -errno;   /* became a symlink since */
    if ((rc = trust_fd_check(fd, real)) < 0) {
        close(fd);
        return rc;
    }
    if (strlen(real) >= cap) {
        close(fd);
        return -ENAMETOOLONG;
    }
    strcpy(path, real);
    return fd;
}

int trust_subdir_open(int at, const char *name, int create)
{
    assert(name);
    if (create && mkdirat(at, name, 0700) < 0 && errno != EEXIST)
        return -errno;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ELOOP && errno != ENOTDIR)
            return -errno;
        struct stat st = { 0 };
        (void)fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW);
        return trust_refuse(name, &st, "a symlink or not a folder");
    }
    int rc = trust_fd_check(fd, name);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int trust_file_open(int at, const char *name, int flags, mode_t mode)
{
    assert(name);
    int fd = openat(at, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno != ELOOP)
            return -errno;
        struct stat st = { 0 };
        (void)fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW);
        return trust_refuse(name, &st, "a symlink");
    }
    int rc = trust_fd_check(fd, name);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

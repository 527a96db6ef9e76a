/* shim_cwd.c - the virtual working directory (see shim_cwd.h) and the
 * calls that change or report it: chdir, fchdir, getcwd, getwd,
 * get_current_dir_name and their FORTIFY twins.
 *
 * State is process-wide: a mode read lock-free on every relative path, and
 * the paths behind a mutex (only taken when the mode says they matter). A
 * vfork child (subprocess's cwd=) keeps its own (shim_cwd_child), so the
 * parent's stays right.
 */
#include "shim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_cwd.h"
#include "shim_fd.h"
#include "shim_helper.h"
#include "shim_path.h"
#include "shim_resolve.h"
#include "shim_core.h"

enum shim_cwd_mode {
    SHIM_CWD_HOST = 0,      /* unrelated to the prefix: relative paths are host paths */
    SHIM_CWD_VOLUME = 1,    /* inside the volume: relative paths are volume paths */
    SHIM_CWD_ANCESTOR = 2,  /* a host ancestor of the prefix: join and classify */
};

static pthread_mutex_t shim_cwd_lock = PTHREAD_MUTEX_INITIALIZER;
static int shim_cwd_mode;                /* atomic */
static int shim_hcwd_known;
static char shim_hcwd[SHIM_PATH_MAX];    /* host cwd when known */
static char shim_vcwd[SHIM_PATH_MAX];    /* volume cwd in SHIM_CWD_VOLUME */

static int shim_cwd_marker(const char *vpath, char *out, size_t cap);

/* The mode of host cwd hcwd (vcwd, cap: the volume cwd when it is one). */
static int shim_cwd_classify(const char *hcwd, char *vcwd, size_t cap)
{
    const char *rest = NULL;
    if (strncmp(hcwd, shim_cfg.marker_root, shim_cfg.marker_len) == 0 &&
        (hcwd[shim_cfg.marker_len] == '\0' || hcwd[shim_cfg.marker_len] == '/'))
        rest = hcwd + shim_cfg.marker_len; /* an inherited marker */
    else if ((rest = shim_path_default_marker(SHIM_DEFAULT_CACHE_ROOT, shim_cfg.prefix,
                                              shim_cfg.prefix_len, hcwd)))
        ; /* another user's (the cache is per user) */
    else
        rest = shim_path_under(shim_cfg.prefix, shim_cfg.prefix_len, hcwd);
    if (rest) {
        snprintf(vcwd, cap, "%s", rest[0] ? rest : "/");
        return SHIM_CWD_VOLUME;
    }
    return shim_path_is_ancestor(hcwd, shim_cfg.prefix, shim_cfg.prefix_len) ? SHIM_CWD_ANCESTOR
                                                                             : SHIM_CWD_HOST;
}

/* Classify the host cwd just read into shim_hcwd; lock held. */
static void shim_cwd_classify_host(void)
{
    int mode = shim_cwd_classify(shim_hcwd, shim_vcwd, sizeof shim_vcwd);
    __atomic_store_n(&shim_cwd_mode, mode, __ATOMIC_RELEASE);
}

/* A vfork child's own working directory. It shares our memory, so its
 * chdir must leave the state above alone (it is the parent's: a
 * subprocess with cwd= moved the parent's view of its own cwd); its
 * relative paths use this instead. The pid that chdir'ed is kept in the
 * thread's TLS, which a vfork child shares only with the parent thread it
 * suspends: other threads never see it (no cost, no race), and that
 * thread forgets it when it runs again. The paths are one per process:
 * two threads whose vfork children chdir at the same time share them. */
static __thread pid_t shim_cwd_child_pid __attribute__((tls_model("initial-exec")));
static struct {
    int mode, hknown;
    char hcwd[SHIM_PATH_MAX], vcwd[SHIM_PATH_MAX];
} shim_cwd_child;

/* 1 when this process is the vfork child that chdir'ed. */
static int shim_cwd_child_active(void)
{
    pid_t p = shim_cwd_child_pid;
    if (SHIM_LIKELY(p == 0))
        return 0;
    if (p == getpid())
        return 1;
    shim_cwd_child_pid = 0; /* the parent thread again: its child exec'd or left */
    return 0;
}

static int shim_cwd_child_resolve(const char *rel, char *vpath, size_t cap)
{
    char full[SHIM_PATH_MAX];
    if (shim_cwd_child.mode == SHIM_CWD_VOLUME)
        return shim_path_join(shim_cwd_child.vcwd, rel, vpath, cap) < 0 ? -ENAMETOOLONG : 1;
    if (!shim_cwd_child.hknown)
        return 0;
    if (shim_path_join(shim_cwd_child.hcwd, rel, full, sizeof full) < 0)
        return -ENAMETOOLONG;
    return shim_path_classify(shim_cfg.prefix, shim_cfg.prefix_len, full, vpath, cap);
}

/* chdir in a vfork child to host path (the kernel's) or volume path
 * canon (its marker); both NULL: the kernel cwd was changed already. */
static int shim_cwd_child_enter(const char *host, const char *canon)
{
    char marker[SHIM_PATH_MAX];
    if (canon) {
        int rc = shim_cwd_marker(canon, marker, sizeof marker);
        if (rc < 0)
            return rc;
        host = marker;
    }
    if (host && REAL(chdir)(host) != 0)
        return -errno;
    shim_cwd_child_pid = 0;
    if (canon) {
        snprintf(shim_cwd_child.vcwd, sizeof shim_cwd_child.vcwd, "%s", canon);
        shim_cwd_child.mode = SHIM_CWD_VOLUME;
    } else {
        shim_cwd_child.hknown =
            REAL(getcwd)(shim_cwd_child.hcwd, sizeof shim_cwd_child.hcwd) != NULL;
        shim_cwd_child.mode = shim_cwd_child.hknown
                                  ? shim_cwd_classify(shim_cwd_child.hcwd, shim_cwd_child.vcwd,
                                                      sizeof shim_cwd_child.vcwd)
                                  : SHIM_CWD_HOST;
    }
    shim_cwd_child_pid = getpid();
    return 0;
}

/* The kernel cwd changed on the host: read it again. */
static void shim_cwd_refresh(void)
{
    pthread_mutex_lock(&shim_cwd_lock);
    shim_hcwd_known = REAL(getcwd)(shim_hcwd, sizeof shim_hcwd) != NULL;
    if (shim_hcwd_known)
        shim_cwd_classify_host();
    else
        __atomic_store_n(&shim_cwd_mode, SHIM_CWD_HOST, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&shim_cwd_lock);
}

void shim_cwd_init(void) { shim_cwd_refresh(); }

void shim_cwd_after_fork(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    shim_cwd_lock = fresh;
}

int shim_cwd_resolve(const char *rel, char *vpath, size_t cap)
{
    if (SHIM_UNLIKELY(shim_cwd_child_active()))
        return shim_cwd_child_resolve(rel, vpath, cap);
    int mode = __atomic_load_n(&shim_cwd_mode, __ATOMIC_ACQUIRE);
    if (mode == SHIM_CWD_HOST && !shim_path_has_dotdot(rel))
        return 0;
    char full[SHIM_VPATH_MAX];
    int rc;
    pthread_mutex_lock(&shim_cwd_lock);
    if (shim_cwd_mode == SHIM_CWD_VOLUME)
        rc = shim_path_join(shim_vcwd, rel, vpath, cap) < 0 ? -ENAMETOOLONG : 1;
    else if (!shim_hcwd_known)
        rc = 0;
    else
        rc = shim_path_join(shim_hcwd, rel, full, sizeof full) < 0 ? -ENAMETOOLONG : 2;
    pthread_mutex_unlock(&shim_cwd_lock);
    if (rc != 2)
        return rc;
    return shim_path_classify(shim_cfg.prefix, shim_cfg.prefix_len, full, vpath, cap);
}

int shim_cwd_host_abs(const char *rel, char *out, size_t cap)
{
    if (SHIM_UNLIKELY(shim_cwd_child_active()))
        return shim_cwd_child.hknown && shim_cwd_child.mode != SHIM_CWD_VOLUME
                   ? shim_path_join(shim_cwd_child.hcwd, rel, out, cap)
                   : -ENOENT;
    int rc = -ENOENT;
    pthread_mutex_lock(&shim_cwd_lock);
    if (shim_hcwd_known && shim_cwd_mode != SHIM_CWD_VOLUME)
        rc = shim_path_join(shim_hcwd, rel, out, cap);
    pthread_mutex_unlock(&shim_cwd_lock);
    return rc;
}

/* mkdir -p of the marker for vpath; the deepest path made is chdir'ed to.
 * The cache folder and what is above it are made 0700 (the engine's rule,
 * core/trust.h); from the cache folder down, every existing component must
 * be a real folder of this user: a symlink planted by another user would
 * otherwise move the kernel's cwd (used by unintercepted calls and static
 * children) wherever that user wants. */
static int shim_cwd_marker(const char *vpath, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", shim_cfg.marker_root, strcmp(vpath, "/") ? vpath : "");
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    size_t cache_len = strlen(shim_cfg.cache_dir);
    for (char *s = out + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        int below = (size_t)(s - out) > cache_len;  /* inside cwd/: empty markers */
        struct stat st;
        if (REAL(mkdir)(out, below ? 0755 : 0700) == 0) {
            if (below)
                REAL(chmod)(out, 0755); /* a child running as another user may sit in it */
        } else if (errno != EEXIST) {
            return -errno;
        } else if ((size_t)(s - out) >= cache_len &&
                   (REAL(lstat)(out, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
                    (st.st_mode & (S_IWGRP | S_IWOTH)))) {
            errno = EPERM;
            return -EPERM;
        }
        *s = c;
        if (c == '\0')
            return 0;
    }
}

/* What chdir checks before entering a volume folder: 0 (canon set),
 * VFS_ESCAPED (host set) or -errno. */
static int shim_cwd_check(const char *vpath, char *canon, char *host)
{
    int rc = SHIM_VFS_LOAD(realpath, vpath, canon, SHIM_PATH_MAX, host, VFS_HOST_MAX);
    if (rc != 0)
        return rc;
    struct stat st;
    rc = SHIM_VFS_LOAD(stat, canon, 0, &st, host, VFS_HOST_MAX);
    if (rc < 0)
        return rc;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return SHIM_VFS_LOAD(access, canon, X_OK, 0, 0, host, VFS_HOST_MAX);
}

struct shim_cwd_question {
    int rc;
    char vpath[SHIM_PATH_MAX], canon[SHIM_PATH_MAX], host[VFS_HOST_MAX];
};

static void shim_cwd_check_in_helper(void *buf)
{
    struct shim_cwd_question *q = buf;
    q->rc = shim_cwd_check(q->vpath, q->canon, q->host);
}

/* A vfork child: the checks by a helper, the state its own. */
static int shim_cwd_enter_child(const char *vpath)
{
    struct shim_cwd_question q;
    q.rc = -EIO;
    snprintf(q.vpath, sizeof q.vpath, "%s", vpath);
    int rc = shim_helper_run(shim_cwd_check_in_helper, &q, sizeof q);
    if (rc < 0)
        return rc;
    if (q.rc == VFS_ESCAPED)
        return shim_cwd_child_enter(q.host, NULL);
    return q.rc < 0 ? q.rc : shim_cwd_child_enter(NULL, q.canon);
}

int shim_cwd_enter(const char *vpath)
{
    if (shim_in_vfork_child())
        return shim_cwd_enter_child(vpath);
    char canon[SHIM_PATH_MAX], host[VFS_HOST_MAX];
    int rc = shim_cwd_check(vpath, canon, host);
    if (rc == VFS_ESCAPED) {
        if (REAL(chdir)(host) != 0)
            return -errno;
        shim_cwd_refresh();
        return 0;
    }
    if (rc < 0)
        return rc;
    char marker[SHIM_PATH_MAX];
    static int warned;
    int saved = errno;
    if (shim_cwd_marker(canon, marker, sizeof marker) < 0 || REAL(chdir)(marker) != 0)
        shim_log_once(&warned, SHIM_LOG_WARN,
                      "cannot use the cwd marker %s: %s; the kernel cwd stays where it was",
                      marker, strerror(errno));
    errno = saved;
    pthread_mutex_lock(&shim_cwd_lock);
    snprintf(shim_vcwd, sizeof shim_vcwd, "%s", canon);
    __atomic_store_n(&shim_cwd_mode, SHIM_CWD_VOLUME, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&shim_cwd_lock);
    return 0;
}

/* After the kernel cwd moved on the host: the process's state, or a
 * vfork child's own. */
static void shim_cwd_moved(void)
{
    if (shim_bypass() || !shim_cfg.enabled)
        return;
    if (shim_in_vfork_child())
        (void)shim_cwd_child_enter(NULL, NULL);
    else
        shim_cwd_refresh();
}

SHIM_EXPORT int chdir(const char *path)
{
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0) {
        int r = REAL(chdir)(path);
        if (r == 0)
            shim_cwd_moved();
        return r;
    }
    if (c < 0)
        return shim_fail(c);
    int rc = shim_cwd_enter(t.vpath);
    return rc < 0 ? shim_fail(rc) : 0;
}

SHIM_EXPORT int fchdir(int fd)
{
    struct shim_ofd *o = shim_bypass() ? NULL : shim_fd_get(fd, 0);
    if (!o) {
        int r = REAL(fchdir)(fd);
        if (r == 0)
            shim_cwd_moved();
        return r;
    }
    struct vfs_file *f;
    int rc = shim_ofd_file(o, fd, &f);
    if (rc == 0 && !o->isdir)
        rc = -ENOTDIR;
    if (rc == 0) {
        const char *path = shim_vfs->file_path(f);
        /* an adopted descriptor knows its inode, not its path */
        rc = path[0] == '/' ? shim_cwd_enter(path) : -EIO;
    }
    shim_ofd_put(o);
    return rc < 0 ? shim_fail(rc) : 0;
}

int shim_cwd_virtual(char *out, size_t cap, size_t *len)
{
    if (SHIM_UNLIKELY(shim_cwd_child_active())) {
        if (shim_cwd_child.mode != SHIM_CWD_VOLUME)
            return 1;
        const char *v = strcmp(shim_cwd_child.vcwd, "/") ? shim_cwd_child.vcwd : "";
        int n = snprintf(out, cap, "%s%s", shim_cfg.prefix, v);
        *len = n < 0 ? 0 : (size_t)n;
        return (n < 0 || (size_t)n >= cap) ? -ERANGE : 0;
    }
    if (shim_bypass() || __atomic_load_n(&shim_cwd_mode, __ATOMIC_ACQUIRE) != SHIM_CWD_VOLUME)
        return 1;
    int rc = 1;
    pthread_mutex_lock(&shim_cwd_lock);
    if (shim_cwd_mode == SHIM_CWD_VOLUME) {
        const char *v = strcmp(shim_vcwd, "/") ? shim_vcwd : "";
        int n = snprintf(out, cap, "%s%s", shim_cfg.prefix, v);
        rc = (n < 0 || (size_t)n >= cap) ? -ERANGE : 0;
        *len = n < 0 ? 0 : (size_t)n;
    }
    pthread_mutex_unlock(&shim_cwd_lock);
    return rc;
}

SHIM_EXPORT char *getcwd(char *buf, size_t size)
{
    char full[SHIM_PATH_MAX];
    size_t len = 0;
    int rc = shim_cwd_virtual(full, sizeof full, &len);
    if (rc == 1)
        return REAL(getcwd)(buf, size);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    if (!buf) {
        size_t cap = size > len ? size : len + 1;
        buf = malloc(cap);
        if (!buf) {
            errno = ENOMEM;
            return NULL;
        }
        size = cap;
    } else if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (len + 1 > size) {
        errno = ERANGE;
        return NULL;
    }
    memcpy(buf, full, len + 1);
    return buf;
}

SHIM_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
    if (size > buflen)
        REAL(__chk_fail)();
    return getcwd(buf, size);
}

SHIM_EXPORT char *getwd(char *buf)
{
    char full[SHIM_PATH_MAX];
    size_t len = 0;
    if (shim_cwd_virtual(full, sizeof full, &len) == 1)
        return REAL(getwd)(buf);
    if (len + 1 > PATH_MAX) {
        snprintf(buf, PATH_MAX, "%s", strerror(ERANGE));
        errno = ERANGE;
        return NULL;
    }
    memcpy(buf, full, len + 1);
    return buf;
}

SHIM_EXPORT char *__getwd_chk(char *buf, size_t buflen)
{
    char *r = getcwd(buf, buflen);
    if (!r && errno == ERANGE)
        REAL(__chk_fail)();
    return r;
}

SHIM_EXPORT char *get_current_dir_name(void)
{
    char full[SHIM_PATH_MAX];
    size_t len = 0;
    if (shim_cwd_virtual(full, sizeof full, &len) == 1)
        return REAL(get_current_dir_name)();
    return strdup(full);
}

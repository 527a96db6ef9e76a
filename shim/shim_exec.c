/* shim_exec.c - the exec family: execve, execv, execvp, execvpe, execl,
 * execle, execlp, fexecve, execveat, and the PATH search they and
 * posix_spawnp share (shim_exec.h).
 *
 * glibc's execv*, execl* and fexecve reach the kernel through its
 * internal execve, which interposition never sees, so each is answered
 * here. A path outside the prefix costs one comparison and goes to libc
 * untouched; execvp and execlp search PATH themselves only when an entry
 * of PATH may lead into the volume, and follow glibc's rules then (EACCES
 * remembered and the search goes on; ENOENT, ENOTDIR, ESTALE, ENODEV,
 * ETIMEDOUT go on; ENOEXEC runs the file with /bin/sh; anything else
 * stops).
 */
#include "shim.h"

#include <paths.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_core.h"
#include "shim_cwd.h"
#include "shim_exec.h"
#include "shim_fd.h"
#include "shim_path.h"

extern char **environ;

#define SHIM_EXEC_ARGS_MAX 65536 /* execl's list is copied to the stack */

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    shim_init();
    struct shim_exec_plan p;
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass() || !shim_exec_plan(AT_FDCWD, path, 0, &p))
        return REAL(execve)(path, argv, envp);
    return shim_fail(shim_exec_run(&p, path, argv, envp, NULL, NULL, NULL));
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

int shim_exec_path_has_volume(const char *path)
{
    int cwd_in = -1;
    for (const char *s = path;;) {
        const char *e = strchrnul(s, ':');
        size_t n = (size_t)(e - s);
        if (n == 0 || s[0] != '/') {
            if (cwd_in < 0) {
                char vp[SHIM_PATH_MAX];
                cwd_in = shim_cwd_resolve(".", vp, sizeof vp) == 1;
            }
            if (cwd_in)
                return 1;
        } else if (n >= shim_cfg.prefix_len &&
                   memcmp(s, shim_cfg.prefix, shim_cfg.prefix_len) == 0 &&
                   (n == shim_cfg.prefix_len || s[shim_cfg.prefix_len] == '/')) {
            return 1;
        }
        if (!*e)
            return 0;
        s = e + 1;
    }
}

/* glibc's fallback for a file the kernel cannot run: /bin/sh file args. */
static int shim_exec_sh(const char *file, char *const argv[], char *const envp[])
{
    size_t argc = 0;
    while (argv && argv[argc])
        argc++;
    if (argc > SHIM_EXEC_ARGS_MAX)
        return -E2BIG;
    char *av[argc + 2];
    av[0] = (char *)_PATH_BSHELL;
    av[1] = (char *)file;
    for (size_t i = 1; i < argc; i++)
        av[i + 1] = argv[i];
    av[argc > 0 ? argc + 1 : 2] = NULL;
    execve(_PATH_BSHELL, av, envp);
    return -errno;
}

/* One candidate of the search: -errno of its exec (it returned), or for
 * a spawn its answer. */
static int shim_exec_try(const char *cand, char *const argv[], char *const envp[], pid_t *pid,
                         const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr)
{
    if (pid) {
        /* libc's spawn child reports a missing file only after a clone:
         * the candidates that cannot run are skipped here */
        if (faccessat(AT_FDCWD, cand, X_OK, AT_EACCESS) < 0 &&
            (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
            return -errno;
        return -posix_spawn(pid, cand, fa, attr, argv, envp);
    }
    execve(cand, argv, envp);
    return -errno;
}

int shim_exec_search(const char *file, const char *path, char *const argv[], char *const envp[],
                     pid_t *pid, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr)
{
    size_t flen = strlen(file);
    if (flen > NAME_MAX)
        return pid ? ENAMETOOLONG : -ENAMETOOLONG;
    int eacces = 0;
    for (const char *s = path;;) {
        const char *e = strchrnul(s, ':');
        size_t n = (size_t)(e - s);
        char cand[SHIM_PATH_MAX];
        if (n + flen + 2 <= sizeof cand) {
            memcpy(cand, s, n);
            if (n)
                cand[n++] = '/';
            memcpy(cand + n, file, flen + 1);
            int rc = shim_exec_try(cand, argv, envp, pid, fa, attr);
            if (rc == 0)
                return 0; /* spawned */
            switch (-rc) {
            case EACCES: eacces = 1; break;
            case ENOENT:
            case ESTALE:
            case ENOTDIR:
            case ENODEV:
            case ETIMEDOUT: break;
            case ENOEXEC:
                if (!pid)
                    return shim_exec_sh(cand, argv, envp);
                return ENOEXEC;
            default: return pid ? -rc : rc;
            }
        }
        if (!*e)
            break;
        s = e + 1;
    }
    int err = eacces ? EACCES : ENOENT;
    return pid ? err : -err;
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    shim_init();
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass() || shim_str_is_null(file) || !*file)
        return REAL(execvpe)(file, argv, envp);
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        return errno == ENOEXEC ? shim_fail(shim_exec_sh(file, argv, envp)) : -1;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin"; /* glibc's default */
    if (SHIM_LIKELY(!shim_exec_path_has_volume(path)))
        return REAL(execvpe)(file, argv, envp);
    return shim_fail(shim_exec_search(file, path, argv, envp, NULL, NULL, NULL));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

/* How many arguments an execl list holds (arg and those up to NULL). */
static size_t shim_execl_count(const char *arg, va_list ap)
{
    va_list c;
    va_copy(c, ap);
    size_t n = 0;
    if (arg)
        for (n = 1; va_arg(c, char *) && n <= SHIM_EXEC_ARGS_MAX;)
            n++;
    va_end(c);
    return n;
}

/* av[0..argc) from the list, NULL ended; the list's NULL is consumed. */
static void shim_execl_fill(const char *arg, va_list *ap, size_t argc, char **av)
{
    av[0] = (char *)arg;
    for (size_t i = 1; i < argc; i++)
        av[i] = va_arg(*ap, char *);
    if (argc)
        (void)va_arg(*ap, char *);
    av[argc] = NULL;
}

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = shim_execl_count(arg, ap);
    if (argc > SHIM_EXEC_ARGS_MAX) {
        va_end(ap);
        return shim_fail(-E2BIG);
    }
    char *av[argc + 1];
    shim_execl_fill(arg, &ap, argc, av);
    va_end(ap);
    return execve(path, av, environ);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = shim_execl_count(arg, ap);
    if (argc > SHIM_EXEC_ARGS_MAX) {
        va_end(ap);
        return shim_fail(-E2BIG);
    }
    char *av[argc + 1];
    shim_execl_fill(arg, &ap, argc, av);
    va_end(ap);
    return execvpe(file, av, environ);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t argc = shim_execl_count(arg, ap);
    if (argc > SHIM_EXEC_ARGS_MAX) {
        va_end(ap);
        return shim_fail(-E2BIG);
    }
    char *av[argc + 1];
    shim_execl_fill(arg, &ap, argc, av);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, av, envp);
}

/* The volume path of a volume descriptor, as an absolute path: 1, 0 when
 * fd is not one (or knows no path: an inherited descriptor). */
static int shim_exec_fd_path(int fd, char *out, size_t cap)
{
    struct shim_ofd *o = shim_fd_volume(fd);
    if (!o)
        return 0;
    struct vfs_file *f;
    int ok = 0;
    if (o->kind == SHIM_OFD_VOLUME && shim_ofd_file(o, fd, &f) == 0) {
        const char *vp = shim_vfs->file_path(f);
        ok = vp[0] == '/' && snprintf(out, cap, "%s%s", shim_cfg.prefix, vp) < (int)cap;
    }
    shim_ofd_put(o);
    return ok;
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    shim_init();
    char abs[SHIM_PATH_MAX];
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass() || !shim_exec_fd_path(fd, abs, sizeof abs))
        return REAL(fexecve)(fd, argv, envp);
    return execve(abs, argv, envp);
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                         int flags)
{
    shim_init();
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass())
        return REAL(execveat)(dirfd, path, argv, envp, flags);
    char abs[SHIM_PATH_MAX];
    if (!shim_str_is_null(path) && !*path && (flags & AT_EMPTY_PATH)) {
        if (!shim_exec_fd_path(dirfd, abs, sizeof abs))
            return REAL(execveat)(dirfd, path, argv, envp, flags);
        return execve(abs, argv, envp);
    }
    struct shim_exec_plan p;
    if (!shim_exec_plan(dirfd, path, flags & AT_SYMLINK_NOFOLLOW, &p))
        return REAL(execveat)(dirfd, path, argv, envp, flags);
    return shim_fail(
        shim_exec_run(&p, path[0] == '/' ? path : p.abs, argv, envp, NULL, NULL, NULL));
}

/* exec_calls.c - runs a program through one of libc's exec or spawn
 * entry points, for tests/integration/test_exec.sh.
 *
 *   exec_calls MODE FILE ARG0 [ARGS...]
 *
 * MODE: execve, execve-noenv (an envp of PATH only), execv, execvp,
 * execvpe, execl, execlp, execle (up to 3 arguments after ARG0), fexecve
 * (FILE opened read-only), execveat (FILE's folder and name), spawn,
 * spawnp (posix_spawn, posix_spawnp; waits and prints "exit=N"), vfork
 * (execve in a vfork child), write-exec (FILE held open for writing, then
 * execve). A failed call prints "errno=NAME" and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failed(const char *what, int err)
{
    printf("%serrno=%s\n", what, strerrorname_np(err));
    fflush(stdout);
    return 1;
}

static int waited(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return failed("wait ", errno);
    printf("exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: exec_calls MODE FILE ARG0 [ARGS...]\n");
        return 2;
    }
    const char *mode = argv[1], *file = argv[2];
    char **av = argv + 3;
    int n = argc - 3;
    const char *a1 = n > 1 ? av[1] : NULL, *a2 = n > 2 ? av[2] : NULL, *a3 = n > 3 ? av[3] : NULL;
    fflush(stdout);
    if (!strcmp(mode, "execve")) {
        execve(file, av, environ);
    } else if (!strcmp(mode, "execve-noenv")) {
        char *env[] = { "PATH=/usr/bin:/bin", NULL };
        execve(file, av, env);
    } else if (!strcmp(mode, "execv")) {
        execv(file, av);
    } else if (!strcmp(mode, "execvp")) {
        execvp(file, av);
    } else if (!strcmp(mode, "execvpe")) {
        execvpe(file, av, environ);
    } else if (!strcmp(mode, "execl")) {
        execl(file, av[0], a1, a2, a3, (char *)NULL);
    } else if (!strcmp(mode, "execlp")) {
        execlp(file, av[0], a1, a2, a3, (char *)NULL);
    } else if (!strcmp(mode, "execle")) {
        execle(file, av[0], a1, a2, a3, (char *)NULL, environ);
    } else if (!strcmp(mode, "fexecve")) {
        int fd = open(file, O_RDONLY);
        if (fd < 0)
            return failed("open ", errno);
        fexecve(fd, av, environ);
    } else if (!strcmp(mode, "execveat")) {
        char d[4096], b[4096];
        snprintf(d, sizeof d, "%s", file);
        snprintf(b, sizeof b, "%s", file);
        int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
        if (dfd < 0)
            return failed("open ", errno);
        execveat(dfd, basename(b), av, environ, 0);
    } else if (!strcmp(mode, "spawn") || !strcmp(mode, "spawnp")) {
        pid_t pid;
        int rc = !strcmp(mode, "spawn") ? posix_spawn(&pid, file, NULL, NULL, av, environ)
                                        : posix_spawnp(&pid, file, NULL, NULL, av, environ);
        return rc ? failed("", rc) : waited(pid);
    } else if (!strcmp(mode, "vfork")) {
        static volatile int err;
        pid_t pid = vfork();
        if (pid == 0) {
            execve(file, av, environ);
            err = errno;
            _exit(127);
        }
        if (pid < 0)
            return failed("vfork ", errno);
        if (waited(pid))
            return 1;
        return err ? failed("", err) : 0;
    } else if (!strcmp(mode, "write-exec")) {
        int fd = open(file, O_WRONLY);
        if (fd < 0)
            return failed("open ", errno);
        execve(file, av, environ);
    } else {
        fprintf(stderr, "exec_calls: unknown mode %s\n", mode);
        return 2;
    }
    return failed("", errno);
}

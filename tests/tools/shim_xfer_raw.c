/* shim_xfer_raw.c - in-kernel copies reached through syscall(), as cp-like
 * tools issue them, on a volume file (issue 12: a raw copy_file_range of a
 * placeholder answered 0 forever and the caller spun).
 *
 *   shim_xfer_raw SRC DSTDIR VOLDST
 *
 * Copies SRC (a volume file, larger than a block) to DSTDIR/{cfr,sendfile,
 * splice} with raw SYS_copy_file_range, SYS_sendfile and SYS_splice (through
 * a pipe), each loop running until it has the whole size, and copies SRC
 * into VOLDST (a volume path) with raw splice from a pipe. A call that
 * moves nothing before the size is reached is reported as "stuck" after 50
 * tries instead of spinning. One line per copy: name, bytes, result.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define XFER_STUCK 50

/* Runs one raw call of `kind` from in to out; returns what it returns. */
static long xfer_step(const char *kind, int in, int out, size_t want)
{
    if (strcmp(kind, "cfr") == 0)
        return syscall(SYS_copy_file_range, in, NULL, out, NULL, want, 0);
    if (strcmp(kind, "sendfile") == 0)
        return syscall(SYS_sendfile, out, in, NULL, want);
    return syscall(SYS_splice, in, NULL, out, NULL, want, 0);
}

/* Copy size bytes in -> out with kind; prints the outcome line. */
static int xfer_loop(const char *kind, int in, int out, long long size)
{
    long long done = 0;
    int idle = 0;
    while (done < size && idle < XFER_STUCK) {
        size_t want = size - done > (1 << 20) ? (1 << 20) : (size_t)(size - done);
        long n = xfer_step(kind, in, out, want);
        if (n < 0) {
            printf("%s %lld %s\n", kind, done, strerrorname_np(errno));
            return 1;
        }
        idle = n == 0 ? idle + 1 : 0;
        done += n;
    }
    printf("%s %lld %s\n", kind, done, done == size ? "ok" : "stuck");
    return done == size ? 0 : 1;
}

/* Through a pipe: a child splices the file into it, we splice it out. */
static int xfer_pipe(const char *label, int in, int out, long long size)
{
    int p[2];
    if (pipe(p) < 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int rc = xfer_loop("splice", in, p[1], size);
        fflush(stdout);
        _exit(rc);
    }
    close(p[1]);
    long long done = 0;
    int idle = 0;
    while (done < size && idle < XFER_STUCK) {
        long n = syscall(SYS_splice, p[0], NULL, out, NULL, (size_t)1 << 20, 0);
        if (n < 0) {
            printf("%s %lld %s\n", label, done, strerrorname_np(errno));
            break;
        }
        idle = n == 0 ? idle + 1 : 0;
        done += n;
    }
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    printf("%s %lld %s\n", label, done, done == size ? "ok" : "stuck");
    return done == size && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SRC DSTDIR VOLDST\n", argv[0]);
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) < 0) {
        perror(argv[1]);
        return 2;
    }
    const char *kinds[] = { "cfr", "sendfile" };
    int bad = 0;
    char path[4096];
    for (int i = 0; i < 2; i++) {
        int in = open(argv[1], O_RDONLY);
        snprintf(path, sizeof path, "%s/%s", argv[2], kinds[i]);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0) {
            perror(kinds[i]);
            return 2;
        }
        bad |= xfer_loop(kinds[i], in, out, st.st_size);
        close(in);
        close(out);
    }
    int in = open(argv[1], O_RDONLY);
    snprintf(path, sizeof path, "%s/splice", argv[2]);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bad |= xfer_pipe("splice-out", in, out, st.st_size);
    close(in);
    close(out);
    in = open(argv[1], O_RDONLY);
    out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bad |= xfer_pipe("splice-into-volume", in, out, st.st_size);
    close(in);
    if (close(out) < 0) {
        printf("close %s\n", strerrorname_np(errno));
        bad = 1;
    }
    return bad;
}

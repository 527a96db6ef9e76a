/* shim_helper.c - engine work for a vfork child in a forked helper
 * (shim_helper.h). The helper is a normal fork (the shim's fork handler
 * gives it a fresh engine); it writes its answer and leaves with _exit.
 */
#include "shim.h"

#include <sys/wait.h>
#include <unistd.h>

#include "shim_helper.h"

int shim_helper_run(void (*fn)(void *buf), void *buf, size_t len)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid == 0) {
        REAL(close)(fds[0]);
        fn(buf);
        for (size_t off = 0; off < len;) {
            ssize_t w = REAL(write)(fds[1], (char *)buf + off, len - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    int err = pid < 0 ? -errno : 0;
    REAL(close)(fds[1]);
    size_t got = 0;
    while (pid > 0 && got < len) {
        ssize_t r = REAL(read)(fds[0], (char *)buf + got, len - got);
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
    if (err == 0 && got != len)
        err = -EIO;
    return err;
}

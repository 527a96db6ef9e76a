/* shim_log.c - the shim's own tiny logger (core/log.h lives in the engine,
 * which may not be loaded). Same contract and format: one line per event,
 * "shimfs[pid] LEVEL shim: what: why", level and destination from SHIMFS_LOG
 * ("error", "warn", "info", "debug", optionally ",file=PATH"; default warn
 * to stderr; the file is created 0600 and never opened through a symlink:
 * then the lines stay on stderr). Never allocates; writes with the real write(2).
 *
 * Not into a volume file: when the destination is one (a job's
 * `exec > /mnt/data/log 2>&1`), a line written raw to its stand-in landed
 * out of place and overwrote the program's own bytes (by hand: "program
 * line 2\n" lost its newline, and most debug lines vanished), and one
 * written through the file system may wait on the very thread that logs.
 * Such lines go to the node's log file, shimfs.log in SHIMFS_CACHE_DIR
 * (0600, never through a symlink), where a line about a failing volume is
 * not at that volume's mercy; raw as before only when it cannot be opened.
 */
#include "shim.h"

#include "io.h"
#include "shim_fd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int shim_log_level = SHIM_LOG_WARN;
static int shim_log_fd = 2;
static int shim_log_node_fd = -2; /* -2: not opened yet; -1: cannot be */

void shim_log_configure(const char *spec)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    if (!spec || !*spec)
        return;
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(spec, names[i], n) == 0 && (spec[n] == '\0' || spec[n] == ','))
            shim_log_level = i;
    }
    const char *file = strstr(spec, "file=");
    if (file && file[5]) {
        /* The log may say which volume paths a program touched: 0600. Never
         * through a symlink (another user's link would make us append to,
         * or create, a file of their choosing), never blocking on a FIFO
         * nobody reads. */
        int fd = REAL(open)(file + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                                      O_NONBLOCK | O_NOCTTY, 0600);
        if (fd >= 0)
            shim_log_fd = fd;
    }
}

static void shim_log_v(enum shim_log_level level, const char *fmt, va_list ap)
{
    static const char *const tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };
    if ((int)level > shim_log_level)
        return;
    int saved = errno;
    char line[1024];
    int n = snprintf(line, sizeof line, "shimfs[%d] %s shim: ", (int)getpid(), tags[level]);
    if (n < 0)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    shim_log_emit(line, len);
    errno = saved;
}

/* The node's log file, opened on the first line that needs it; kept at
 * IO_FD_FLOOR or above (core/io.h: where shells do not dup2). */
static int shim_log_node(void)
{
    int fd = __atomic_load_n(&shim_log_node_fd, __ATOMIC_ACQUIRE);
    if (fd != -2)
        return fd;
    char path[SHIM_PATH_MAX + 16];
    int opened = -1;
    if ((size_t)snprintf(path, sizeof path, "%s/shimfs.log", shim_cfg.cache_dir) < sizeof path)
        opened = REAL(open)(
            path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY,
            0600);
    /* the cache folder is this user's (core/trust.h), but the file is
     * checked anyway: one planted there by another user (writable by all)
     * would be handed volume paths */
    struct stat st;
    if (opened >= 0 && (REAL(fstat)(opened, &st) != 0 || !S_ISREG(st.st_mode) ||
                        st.st_uid != geteuid() || (st.st_mode & 077))) {
        REAL(close)(opened);
        opened = -1;
    }
    if (opened >= 0 && opened < IO_FD_FLOOR) {
        int high = REAL(fcntl)(opened, F_DUPFD_CLOEXEC, IO_FD_FLOOR);
        REAL(close)(opened);
        opened = high;
    }
    int want = -2;
    if (!__atomic_compare_exchange_n(&shim_log_node_fd, &want, opened < 0 ? -1 : opened, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (opened >= 0)
            REAL(close)(opened); /* another thread's won */
        return want;
    }
    return opened < 0 ? -1 : opened;
}

void shim_log_emit(const char *line, size_t len)
{
    int fd = shim_log_fd;
    if (shim_fd_peek(fd)) {
        int node = shim_log_node();
        if (node >= 0)
            fd = node;
    }
    ssize_t w = REAL(write)(fd, line, len);
    (void)w;
}

void shim_log(enum shim_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    shim_log_v(level, fmt, ap);
    va_end(ap);
}

void shim_log_once(int *flag, enum shim_log_level level, const char *fmt, ...)
{
    if (__atomic_exchange_n(flag, 1, __ATOMIC_RELAXED))
        return;
    va_list ap;
    va_start(ap, fmt);
    shim_log_v(level, fmt, ap);
    va_end(ap);
}

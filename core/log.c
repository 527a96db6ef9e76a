/* log.c - one line per event to stderr or a file, filtered by SHIMFS_LOG.
 *
 * Formats into a stack buffer and emits it with a single write(2), libc's
 * (io_libc_write), so a line is never interleaved with another thread's and
 * the shim never sees its own logging: through the shim's write (or its
 * syscall(), which sends a volume descriptor's writes there) a line for a
 * stderr redirected into the volume entered the file system from whatever
 * thread logged, and an upload thread logging its failure waited on the
 * lock of the writer waiting for it. Inside the preloaded library the
 * shim's emit takes the line instead (log_set_emit): it knows a volume
 * descriptor and sends such a line to the node's log file. Never
 * allocates.
 */
#include "log.h"

#include "io.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static int log_level_now = LOG_WARN;
static int log_fd = 2;
static void (*log_emit_fn)(const char *line, size_t len);

void log_set_emit(void (*emit)(const char *line, size_t len))
{
    __atomic_store_n(&log_emit_fn, emit, __ATOMIC_RELEASE);
}

static int log_parse_level(const char *s, size_t n)
{
    for (int i = 0; i < 4; i++)
        if (strlen(log_names[i]) == n && strncmp(s, log_names[i], n) == 0)
            return i;
    return -1;
}

void log_configure(const char *spec)
{
    if (!spec || !*spec)
        return;
    size_t n = strcspn(spec, ",");
    int lv = log_parse_level(spec, n);
    if (lv >= 0)
        log_level_now = lv;
    const char *file = strstr(spec, "file=");
    if (file) {
        /* as the shim's log (shim_log.c): 0600, no symlink, no FIFO wait */
        int fd = io_libc_openat(
            AT_FDCWD, file + 5,
            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
        if (fd >= 0)
            log_fd = fd;
    }
}

int log_enabled(enum log_level level) { return (int)level <= log_level_now; }

static void log_vemit(enum log_level level, const char *module, const char *fmt, va_list ap)
{
    char line[1024];
    int saved = errno;
    assert(level >= LOG_ERROR && level <= LOG_DEBUG && module && fmt); /* log_names[level] */
    int n = snprintf(line, sizeof line, "shimfs[%d] %s %s: ", (int)getpid(),
                     log_names[level], module);
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    void (*emit)(const char *, size_t) = __atomic_load_n(&log_emit_fn, __ATOMIC_ACQUIRE);
    if (emit)
        emit(line, (size_t)n);
    else
        (void)io_libc_write(log_fd, line, (size_t)n);
    errno = saved;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, module, fmt, ap);
    va_end(ap);
}

void log_once(int *flag, enum log_level level, const char *module, const char *fmt, ...)
{
    assert(flag);
    if (__atomic_exchange_n(flag, 1, __ATOMIC_RELAXED))
        return;
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, module, fmt, ap);
    va_end(ap);
}

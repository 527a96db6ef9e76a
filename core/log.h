/* log.h - the one way shimfs reports what went wrong.
 *
 * Contract: one line per event, "shimfs[pid] LEVEL module: what: why".
 * Level and destination come from SHIMFS_LOG ("error", "warn", "info",
 * "debug", optionally ",file=/path"; default "warn" to stderr).
 * Never pass credentials to these functions: callers log keys, hosts and
 * errno strings, never secrets. Safe from any thread; never allocates on
 * the heap; writes with libc's write(2) so it cannot recurse into the shim,
 * or through the writer the shim handed over (log_set_emit).
 * module, fmt and log_once's flag are non-NULL and level is one of
 * enum log_level (asserted).
 */
#ifndef SHIMFS_LOG_H
#define SHIMFS_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Parse a SHIMFS_LOG value; NULL means defaults. Idempotent. */
void log_configure(const char *spec);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log at most once per process for a given flag (for "io_uring refused"). */
void log_once(int *flag, enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The shim knows which descriptors are volume files, and a line must not go
 * into one from here: written raw to its stand-in it lands out of place
 * and can overwrite the program's own bytes, and through the file system
 * it may wait on the very thread that logs. Its emit (shim_log_emit)
 * then decides where each whole, formatted line goes. NULL: libc's write
 * to the SHIMFS_LOG destination. */
void log_set_emit(void (*emit)(const char *line, size_t len));

#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, mod, __VA_ARGS__); } while (0)
#define log_debug(mod, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, mod, __VA_ARGS__); } while (0)

#endif

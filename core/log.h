/* log.h - the one way shimfs reports what went wrong.
 *
 * Contract: one line per event, "shimfs[pid] LEVEL module: what: why".
 * Level and destination come from SHIMFS_LOG ("error", "warn", "info",
 * "debug", optionally ",file=/path"; default "warn" to stderr).
 * Never pass credentials to these functions: callers log keys, hosts and
 * errno strings, never secrets. Safe from any thread; never allocates on
 * the heap; writes with the real write(2) so it cannot recurse into the shim.
 * module, fmt and log_once's flag are non-NULL and level is one of
 * enum log_level (asserted).
 */
#ifndef SHIMFS_LOG_H
#define SHIMFS_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Parse a SHIMFS_LOG value; NULL means defaults. Idempotent. */
void log_configure(const char *spec);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log at most once per process for a given flag (for "io_uring refused"). */
void log_once(int *flag, enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...)  do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, mod, __VA_ARGS__); } while (0)
#define log_debug(mod, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, mod, __VA_ARGS__); } while (0)

#endif

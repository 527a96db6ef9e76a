/* shim.h - what the shim's files share: the recursion guard, the process
 * configuration, the errno edge and the export marker. Include it first in
 * every shim C file: it switches off FORTIFY and 64-bit redirections so the
 * shim can define the libc symbols under their real names.
 *
 * The shim interposes libc and nothing else; it reaches the engine only
 * through shim_core.h (libshimfs-core.so, loaded on first use of the prefix).
 */
#ifndef SHIM_H
#define SHIM_H

#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#undef _TIME_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* libc declares path arguments nonnull; a buggy program's NULL must still
 * get EFAULT from the kernel, not a crash in an optimised-away check. */
#pragma GCC optimize("no-delete-null-pointer-checks")

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "settings.h"
#include "shim_real.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_PATH_MAX 4096
/* A volume path: a program's path (shorter than PATH_MAX, as the kernel
 * demands of every path argument) joined to a cwd or a directory
 * descriptor's path, which the kernel lets be longer (pjdfstest's 03.t). */
#define SHIM_VPATH_MAX (2 * SHIM_PATH_MAX)
/* The default cache folder is this + the effective uid (core/settings.h). */
#define SHIM_DEFAULT_CACHE_ROOT SETTINGS_CACHE_ROOT
#define SHIM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHIM_LIKELY(x) __builtin_expect(!!(x), 1)

/* Depth of engine calls on this thread: while non-zero every interposed
 * function goes straight to libc (libcurl, libpq and libc call them too).
 * initial-exec: the preload is in static TLS, so no __tls_get_addr (which
 * may allocate) on the hot path. */
extern __thread int shim_guard __attribute__((tls_model("initial-exec")));

static inline int shim_bypass(void) { return shim_guard != 0; }

/* The kernel's edge: a negative errno becomes errno and -1. */
static inline int shim_fail(int neg)
{
    errno = -neg;
    return -1;
}

/* Process configuration, fixed at start-up (shim_init). */
struct shim_config {
    int enabled;                    /* a usable prefix is configured */
    pid_t pid;                      /* this process (fork updates it) */
    size_t prefix_len;
    char prefix[SHIM_PATH_MAX];     /* normalised, no trailing '/' */
    char cache_dir[SHIM_PATH_MAX];  /* SHIMFS_CACHE_DIR */
    size_t marker_len;
    char marker_root[SHIM_PATH_MAX];/* cache_dir + "/cwd" + prefix */
    char core_lib[SHIM_PATH_MAX];   /* libshimfs-core.so to dlopen */
};
extern struct shim_config shim_cfg;
extern int shim_ready;

void shim_init_once(void);
static inline void shim_init(void)
{
    if (SHIM_UNLIKELY(!__atomic_load_n(&shim_ready, __ATOMIC_ACQUIRE)))
        shim_init_once();
}

/* True in a vfork/CLONE_VM child sharing our memory: touch no shared state. */
int shim_in_vfork_child(void);

/* Tiny logger: SHIMFS_LOG=error|warn|info|debug[,file=PATH], default warn. */
enum shim_log_level { SHIM_LOG_ERROR, SHIM_LOG_WARN, SHIM_LOG_INFO, SHIM_LOG_DEBUG };
void shim_log_configure(const char *spec);
/* Where one formatted line of the shim's or the engine's goes: the
 * SHIMFS_LOG destination, unless that descriptor is a volume file (then the
 * node's log file, shimfs.log in SHIMFS_CACHE_DIR). Any thread; no lock. */
void shim_log_emit(const char *line, size_t len);
void shim_log(enum shim_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Log once per process for the given flag. */
void shim_log_once(int *flag, enum shim_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A pointer the compiler must not reason about: libc declares most path
 * arguments nonnull, and GCC then deletes NULL tests on them (utimensat
 * and fchownat read a NULL path that way). The empty asm hides where the
 * value came from. */
static inline const char *shim_opaque(const char *s)
{
    __asm__("" : "+r"(s));
    return s;
}

/* NULL tests on arguments libc declares nonnull (Linux accepts NULL in
 * some, e.g. utimensat). */
static inline int shim_str_is_null(const char *s) { return shim_opaque(s) == NULL; }

/* Open-mode helpers shared by the open family and stdio. */
static inline int shim_open_wants_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#endif

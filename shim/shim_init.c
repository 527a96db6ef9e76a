/* shim_init.c - process start-up of the shim: real symbols, configuration,
 * the inherited working directory and descriptors, fork handlers.
 *
 * Promise: cheap (no engine, no network, a handful of system calls), safe
 * to run from the first interposed call if another library's constructor
 * calls in before ours, and never fatal: a bad SHIMFS_PREFIX logs one line
 * and the shim stays out of the way. The defaults it falls back on are the
 * engine's, from the one table core/settings.def (settings_default).
 */
#include "shim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>

#include "shim_cwd.h"
#include "shim_check.h"
#include "shim_fd.h"
#include "shim_path.h"
#include "shim_reg.h"
#include "shim_stdio.h"
#include "shim_core.h"
#include "shim_maps.h"

__thread int shim_guard __attribute__((tls_model("initial-exec")));
struct shim_config shim_cfg;
int shim_ready;

int shim_in_vfork_child(void) { return getpid() != shim_cfg.pid; }

/* secure_getenv: a variable naming what the shim opens or loads (the
 * engine, the log file, the cache folder) is never taken from the caller
 * of a setuid or file-capability program (see also shim_init_config). */
static const char *shim_env(const char *name, const char *fallback)
{
    const char *v = secure_getenv(name);
    return v && *v ? v : fallback;
}

/* dst = a + b (+ c), truncated to SHIM_PATH_MAX; 0 or -ENAMETOOLONG.
 * (No snprintf: start-up should not page in stdio for /bin/true.) */
static int shim_init_cat(char *dst, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    if (la + lb + lc + 1 > SHIM_PATH_MAX)
        return -ENAMETOOLONG;
    memmove(dst, a, la);
    memcpy(dst + la, b, lb);
    if (c)
        memcpy(dst + la + lb, c, lc);
    dst[la + lb + lc] = '\0';
    return 0;
}

/* SHIMFS_CACHE_DIR's default, as the engine makes it (a USER_DIR setting
 * of core/settings.def: its default followed by the euid). */
static void shim_init_default_cache(char *out, size_t cap)
{
    const char *root = settings_default("SHIMFS_CACHE_DIR");
    char digits[16];
    int n = 0;
    unsigned uid = (unsigned)geteuid();
    do
        digits[n++] = (char)('0' + uid % 10);
    while ((uid /= 10) && n < (int)sizeof digits);
    size_t len = strlen(root);
    if (len + (size_t)n + 1 > cap) {
        out[0] = '\0';
        return;
    }
    memcpy(out, root, len);
    while (n > 0)
        out[len++] = digits[--n];
    out[len] = '\0';
}

/* The engine sits next to the preload unless SHIMFS_CORE_LIB says. */
static void shim_init_core_path(void)
{
    const char *env = secure_getenv("SHIMFS_CORE_LIB");
    if (env && *env) {
        shim_init_cat(shim_cfg.core_lib, env, "", NULL);
        return;
    }
    Dl_info info;
    char dir[SHIM_PATH_MAX] = ".";
    if (dladdr((void *)shim_init_once, &info) && info.dli_fname && strchr(info.dli_fname, '/') &&
        shim_init_cat(dir, info.dli_fname, "", NULL) == 0) {
        *strrchr(dir, '/') = '\0';
        if (dir[0] == '\0')
            strcpy(dir, "/");
    }
    if (dir[0] != '/') {
        /* relative LD_PRELOAD: anchor it now, before any chdir */
        char cwd[SHIM_PATH_MAX], joined[SHIM_PATH_MAX];
        if (REAL(getcwd)(cwd, sizeof cwd) && shim_path_join(cwd, dir, joined, sizeof joined) == 0)
            shim_init_cat(dir, joined, "", NULL);
    }
    shim_init_cat(shim_cfg.core_lib, dir, "/libshimfs-core.so", NULL);
}

static void shim_init_config(void)
{
    shim_cfg.pid = getpid();
    if (getauxval(AT_SECURE))
        return; /* setuid/setgid/capabilities: the caller's environment chose
                   the prefix and the database; stay out of the way */
    shim_log_configure(secure_getenv("SHIMFS_LOG"));
    const char *prefix = shim_env("SHIMFS_PREFIX", settings_default("SHIMFS_PREFIX"));
    if (shim_path_prefix(prefix, shim_cfg.prefix, sizeof shim_cfg.prefix) < 0) {
        shim_log(SHIM_LOG_ERROR, "SHIMFS_PREFIX=%s: not a usable absolute path; shim disabled",
                 prefix);
        return;
    }
    shim_cfg.prefix_len = strlen(shim_cfg.prefix);
    char fallback[64];
    shim_init_default_cache(fallback, sizeof fallback);
    const char *cache = shim_env("SHIMFS_CACHE_DIR", fallback);
    if (shim_path_prefix(cache, shim_cfg.cache_dir, sizeof shim_cfg.cache_dir) < 0)
        strcpy(shim_cfg.cache_dir, fallback);
    if (shim_init_cat(shim_cfg.marker_root, shim_cfg.cache_dir, "/cwd", shim_cfg.prefix) < 0) {
        shim_log(SHIM_LOG_ERROR, "SHIMFS_CACHE_DIR too long; shim disabled");
        return;
    }
    shim_cfg.marker_len = strlen(shim_cfg.marker_root);
    shim_init_core_path();
    shim_cfg.enabled = 1;
}

static void shim_atfork_child(void)
{
    shim_cfg.pid = getpid();
    shim_fd_after_fork();
    shim_cwd_after_fork();
    shim_reg_after_fork();
    shim_maps_after_fork();
    shim_core_after_fork();
}

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

static void shim_init_run(void)
{
    shim_guard++;
    shim_real_init();
    shim_init_config();
    if (shim_cfg.enabled) {
        shim_cwd_init();
        shim_fd_scan_inherited();
        shim_stdio_adopt_stdin();
    }
    pthread_atfork(shim_check_before_fork, NULL, shim_atfork_child);
    shim_guard--;
    __atomic_store_n(&shim_ready, 1, __ATOMIC_RELEASE);
}

void shim_init_once(void) { pthread_once(&shim_once, shim_init_run); }

__attribute__((constructor)) static void shim_constructor(void) { shim_init(); }

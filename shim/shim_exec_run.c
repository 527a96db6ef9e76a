/* shim_exec_run.c - the argv and environment a planned exec runs with
 * (shim_exec.h), and the exec or spawn itself.
 *
 * The environment keeps the volume for the child even when the caller
 * passes one without it (env -i, a sanitised envp): LD_PRELOAD gets the
 * shim (this process's LD_PRELOAD value when it names the shim, so an
 * ASan runtime before it stays first; prepended to the caller's own
 * LD_PRELOAD), and every SHIMFS_* and LD_AUDIT variable of this process's
 * environment (now, or else as it started) that envp lacks is added. Only execs of volume files are
 * touched; a program cleaning the environment for a host program gets
 * exactly what it asked for.
 *
 * Arrays up to SHIM_EXEC_STACK entries live on the stack (a vfork child
 * must not malloc); longer ones are mapped.
 */
#include "shim.h"

#include <dlfcn.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_exec.h"

#define SHIM_EXEC_STACK 2048

extern char **environ;

/* The environment the process started with: its array lives on the
 * initial stack and is never freed, so its SHIMFS_* survive a clearenv
 * (env -i) or an environ the program replaced. */
static char **shim_exec_env0;
__attribute__((constructor)) static void shim_exec_keep_env0(void)
{
    shim_exec_env0 = environ;
}

/* (char *const[]: what argv and environ are; C would not convert them to
 * const char *const[] without a cast) */
// cppcheck-suppress constParameter
static size_t shim_exec_count(char *const v[])
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The variable name (up to '=') of e equals that of n. */
static int shim_exec_same_name(const char *e, const char *n)
{
    size_t k = strcspn(n, "=");
    return strncmp(e, n, k) == 0 && e[k] == '=';
}

static const char *shim_exec_lookup(char *const v[], const char *name)
{
    size_t k = strlen(name);
    for (size_t i = 0; v && v[i]; i++)
        if (strncmp(v[i], name, k) == 0 && v[i][k] == '=')
            return v[i] + k + 1;
    return NULL;
}

/* The shim's own file (LD_PRELOAD names it). */
static const char *shim_exec_self(void)
{
    static char self[SHIM_PATH_MAX];
    if (!self[0]) {
        Dl_info info;
        if (dladdr((void *)shim_exec_self, &info) && info.dli_fname && info.dli_fname[0] == '/')
            snprintf(self, sizeof self, "%s", info.dli_fname);
        else
            snprintf(self, sizeof self, "libshimfs.so");
    }
    return self;
}

static int shim_exec_names_shim(const char *v)
{
    const char *self = shim_exec_self(), *base = strrchr(self, '/');
    return v && (strstr(v, self) || strstr(v, base ? base + 1 : self));
}

/* envp plus what keeps the volume, into out (cap entries, NULL ended);
 * buf holds a rewritten LD_PRELOAD. */
static void shim_exec_env(char *const envp[], char **out, size_t cap, char *buf, size_t bcap)
{
    size_t n = 0;
    const char *theirs = shim_exec_lookup(envp, "LD_PRELOAD");
    const char *mine = shim_exec_lookup(environ, "LD_PRELOAD");
    if (!shim_exec_names_shim(mine))
        mine = shim_exec_lookup(shim_exec_env0, "LD_PRELOAD");
    if (!shim_exec_names_shim(mine))
        mine = shim_exec_self();
    int fixed = shim_exec_names_shim(theirs);
    if (!fixed) {
        int w = theirs && *theirs ? snprintf(buf, bcap, "LD_PRELOAD=%s:%s", mine, theirs)
                                  : snprintf(buf, bcap, "LD_PRELOAD=%s", mine);
        fixed = w < 0 || (size_t)w >= bcap; /* too long: leave theirs alone */
    }
    for (size_t i = 0; envp && envp[i] && n + 1 < cap; i++)
        if (fixed || !shim_exec_same_name(envp[i], "LD_PRELOAD="))
            out[n++] = envp[i];
    if (!fixed && n + 1 < cap)
        out[n++] = buf;
    char **from[2] = { environ, shim_exec_env0 };
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; from[k] && from[k][i] && n + 1 < cap; i++) {
            char *e = from[k][i];
            if ((strncmp(e, "SHIMFS_", 7) != 0 && strncmp(e, "LD_AUDIT=", 9) != 0) ||
                !strchr(e, '='))
                continue;
            int have = 0;
            for (size_t j = 0; j < n && !have; j++)
                have = shim_exec_same_name(out[j], e);
            if (!have)
                out[n++] = e;
        }
    }
    out[n] = NULL;
}

/* argv of the plan: the interpreters (innermost script's first), the
 * script as named, then argv[1..]; a binary keeps argv as it is. */
static size_t shim_exec_argv(const struct shim_exec_plan *p, const char *name, char *const argv[],
                             char **out)
{
    size_t n = 0, argc = shim_exec_count(argv);
    if (p->levels == 0) {
        for (size_t i = 0; i < argc; i++)
            out[n++] = argv[i];
    } else {
        for (int l = p->levels - 1; l >= 0; l--) {
            out[n++] = (char *)p->interp[l];
            if (p->has_arg[l])
                out[n++] = (char *)p->arg[l];
        }
        out[n++] = (char *)name;
        for (size_t i = 1; i < argc; i++)
            out[n++] = argv[i];
    }
    out[n] = NULL;
    return n;
}

static int shim_exec_run_with(const struct shim_exec_plan *p, const char *name, char *const argv[],
                              char *const envp[], pid_t *pid, const posix_spawn_file_actions_t *fa,
                              const posix_spawnattr_t *attr, char **av, char **ev, size_t ecap)
{
    char pre[2 * SHIM_PATH_MAX];
    shim_exec_argv(p, name, argv, av);
    shim_exec_env(envp, ev, ecap, pre, sizeof pre);
    if (pid)
        return REAL(posix_spawn)(pid, p->file, fa, attr, av, ev);
    REAL(execve)(p->file, av, ev);
    return -errno;
}

int shim_exec_run(const struct shim_exec_plan *p, const char *name, char *const argv[],
                  char *const envp[], pid_t *pid, const posix_spawn_file_actions_t *fa,
                  const posix_spawnattr_t *attr)
{
    if (p->err < 0)
        return pid ? -p->err : p->err;
    size_t acap = shim_exec_count(argv) + 2 * SHIM_EXEC_DEPTH + 2;
    size_t ecap =
        shim_exec_count(envp) + shim_exec_count(environ) + shim_exec_count(shim_exec_env0) + 2;
    if (acap + ecap <= SHIM_EXEC_STACK) {
        char *av[acap], *ev[ecap];
        return shim_exec_run_with(p, name, argv, envp, pid, fa, attr, av, ev, ecap);
    }
    size_t len = (acap + ecap) * sizeof(char *);
    char **m = REAL(mmap)(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return pid ? ENOMEM : -ENOMEM;
    int rc = shim_exec_run_with(p, name, argv, envp, pid, fa, attr, m, m + acap, ecap);
    REAL(munmap)(m, len);
    return rc;
}

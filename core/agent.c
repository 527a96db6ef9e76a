/* agent.c - the node agent (see agent.h): starting it from a library
 * without the host program noticing, and its polling loop.
 *
 * Why a snapshot may be used past its TTL: every directory answer carries
 * the database's change token read just before it in the same round trip
 * (meta_read_dir_all), and each poll publishes the token it read with the
 * poll's start time. Tokens are equal only if no transaction committed in
 * between, so a snapshot whose token equals the published one was still
 * exact when that poll began. Nothing depends on the agent's history: a
 * restarted agent vouches for old snapshots as soon as its first poll
 * sees their token, and a missed poll only lets the stamp age.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "libdir.h"
#include "log.h"
#include "meta.h"
#include "nodemeta.h"

#define AGENT_RESPAWN_NS (10 * 1000000000LL)
#define AGENT_GIVE_UP_NS (60 * 1000000000LL)
#define AGENT_RETRY_NS 1000000000LL
#define AGENT_STACK (64 * 1024)

extern char **environ;

int agent_alive(const struct nodemeta *nm, int64_t now)
{
    int64_t age = now - nodemeta_verified(nm);
    return age < AGENT_STALE_NS && age > -AGENT_STALE_NS;
}

/* ---- starting one ---- */

/* The shimfs binary: SHIMFS_AGENT, else beside this library (a copied
 * folder) or in the bin/ of its install prefix (lib/shimfs/../../bin). */
static int agent_binary(const struct shimfs_config *cfg, char *out, size_t cap)
{
    if (cfg->agent[0]) {
        snprintf(out, cap, "%s", cfg->agent);
        return access(out, X_OK) == 0 ? 0 : -errno;
    }
    static const char *const rel[] = { "shimfs", "../../bin/shimfs" };
    char dir[4096];
    libdir_get(dir, sizeof dir);
    if (!dir[0])
        return -ENOENT;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        int n = snprintf(out, cap, "%s%s", dir, rel[i]);
        if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

struct agent_exec {
    const char *path;
    char *const *argv;
    char *const *envp;
};

/* The child, sharing the parent's memory until execve (CLONE_VFORK): raw
 * system calls only (the shim interposes libc's), nothing allocated, all
 * signals blocked by the parent. Its descriptors are its own copy: it
 * keeps none of them but /dev/null as 0, 1 and 2. */
static int agent_child(void *arg)
{
    const struct agent_exec *x = arg;
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
        for (long fd = 3; fd < 4096; fd++)
            syscall(SYS_close, fd);
    long nul = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
    for (long fd = 0; nul >= 0 && fd < 3; fd++)
        if (fd != nul)
            syscall(SYS_dup3, nul, fd, 0);
    if (nul > 2)
        syscall(SYS_close, nul);
    syscall(SYS_execve, x->path, x->argv, x->envp);
    syscall(SYS_exit, 127);
    return 127;
}

/* The host's environment without LD_PRELOAD (the agent is no host). */
static char **agent_env(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + 1, sizeof *env);
    for (size_t i = 0, k = 0; env && i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    return env;
}

/* `shimfs agent --detach`: it forks the agent and exits at once, so the
 * only process the host ever has is this short one, reaped here. */
static int agent_spawn(const char *path)
{
    char *const argv[] = { (char *)path, (char *)"agent", (char *)"--detach", NULL };
    char **env = agent_env();
    char *stack = malloc(AGENT_STACK);
    if (!env || !stack) {
        free(env);
        free(stack);
        return -ENOMEM;
    }
    struct agent_exec x = { path, argv, env };
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* no exit signal: neither SIGCHLD nor a host's wait(-1) sees it */
    pid_t pid = clone(agent_child, stack + AGENT_STACK, CLONE_VM | CLONE_VFORK, &x);
    int rc = pid < 0 ? -errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
        ;
    if (rc == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
        rc = -ECHILD;
    free(stack);
    free(env);
    return rc;
}

void agent_ensure(const struct shimfs_config *cfg, struct nodemeta *nm)
{
    if (!nm || cfg->read_only || strcmp(cfg->agent, "0") == 0)
        return;
    int64_t now = nodemeta_now();
    if (agent_alive(nm, now) || !nodemeta_claim_spawn(nm, now, AGENT_RESPAWN_NS))
        return;
    int saved = errno;
    char path[4096];
    int rc = agent_binary(cfg, path, sizeof path);
    if (rc == 0)
        rc = agent_spawn(path);
    if (rc < 0)
        log_debug("agent", "no node agent started (%s): processes connect once their TTL is past",
                  rc == -ENOENT ? "no shimfs binary beside the library; set SHIMFS_AGENT"
                                : strerror(-rc));
    errno = saved;
}

/* ---- its loop ---- */

/* Sleep until the wall time `until` or a stop. */
static void agent_sleep_until(int64_t until, const volatile int *stop)
{
    for (;;) {
        int64_t left = until - nodemeta_now();
        if (left <= 0 || *stop)
            return;
        struct timespec ts = { left / 1000000000LL, left % 1000000000LL };
        nanosleep(&ts, NULL);
    }
}

/* Why it should leave now, or NULL. */
static const char *agent_should_leave(const struct shimfs_config *cfg, struct nodemeta *nm,
                                      int64_t started, int64_t now, int64_t down_since)
{
    int64_t used = nodemeta_used(nm);
    if (nodemeta_replaced(nm))
        return "the cache folder was wiped";
    if (now - (used > started ? used : started) > cfg->agent_idle_ns)
        return "no process used the node's metadata for SHIMFS_AGENT_IDLE";
    if (down_since && now - down_since > AGENT_GIVE_UP_NS)
        return "the database stayed unreachable for a minute";
    return NULL;
}

int agent_run(const struct shimfs_config *cfg, struct meta *m, struct nodemeta *nm,
              volatile int *stop)
{
    int lock = nodemeta_agent_lock(nm);
    if (lock < 0)
        return lock;
    int64_t poll = cfg->agent_poll_ns < 10000000 ? 10000000
                   : cfg->agent_poll_ns > 1000000000 ? 1000000000 : cfg->agent_poll_ns;
    int64_t started = nodemeta_now(), down_since = 0;
    /* Reap sessions that expired (crashed writers anywhere): their
     * reservations, and orphans only they kept, go. Once a timeout. */
    int64_t reap_every = cfg->session_timeout_ns, next_reap = started + reap_every;
    int reaping = 1;
    const char *why = NULL;
    log_info("agent", "serving the node (pid %d, a poll every %lld ms)", (int)getpid(),
             (long long)(poll / 1000000));
    while (!*stop) {
        int64_t t0 = nodemeta_now();
        if ((why = agent_should_leave(cfg, nm, started, t0, down_since)))
            break;
        uint64_t token;
        int rc = meta_change_token(m, &token);
        if (rc < 0) {
            if (!down_since)
                log_warn("agent", "cannot poll the database: %s; the node's processes use their "
                         "TTL until it answers", strerror(-rc));
            down_since = down_since ? down_since : t0;
            agent_sleep_until(t0 + AGENT_RETRY_NS, stop);
            continue;
        }
        if (down_since)
            log_info("agent", "the database answers again");
        down_since = 0;
        nodemeta_set_verified(nm, t0, getpid(), token);
        if (reaping && t0 >= next_reap) {
            int reaped = 0, dropped = meta_session_reap(m, cfg->session_timeout_ns, &reaped);
            if (dropped < 0 && dropped != -ECONNREFUSED) {
                log_info("agent", "not reaping sessions (%s); gc --delete does", strerror(-dropped));
                reaping = 0;
            } else if (reaped || dropped) {
                log_info("agent", "reaped %d expired sessions, dropped %d orphans", reaped, dropped);
            }
            next_reap = t0 + reap_every;
        }
        agent_sleep_until(t0 + poll, stop);
    }
    nodemeta_set_verified(nm, 0, 0, 0);
    log_info("agent", "leaving: %s", why ? why : "asked to stop");
    close(lock);
    return 0;
}

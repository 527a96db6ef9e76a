/* agent.c - the node agent (see agent.h): starting it from a library
 * without the host program noticing, and its polling loop.
 *
 * Why a snapshot may be used past its TTL: each poll reads the volume's
 * change log (meta_changes_since) from the horizon of the previous poll,
 * marks the directories changed since (nodemeta_mark_remote), then
 * publishes the poll's start time. The horizon is the xmin of the previous
 * poll's snapshot: every transaction that snapshot did not see (still
 * running, or not begun) has an id >= it, and the trigger of schema 3
 * stamps every row a transaction writes with that id; so a change that
 * commits after one poll's snapshot is in the next poll's answer, whatever
 * order ids were taken and commits happened in. A snapshot asked after
 * the chain of polls began (nodemeta_chain_start, after the first poll)
 * whose directory no poll marked since was therefore exact when the last
 * poll began; so was one asked before, whose change token is the one the
 * agent read just after its first poll (the same database state: no
 * commit between the two questions). Rows stay in the answers while an
 * older transaction of the
 * server runs (the horizon waits for it); a row already reported with the
 * same transaction id is not marked again.
 *
 * A directory the node holds a snapshot of is patched instead of marked
 * (schema 5, agent_patch_dir): its names changed since the same horizon
 * are read after the poll, with their files' block maps, and appended to
 * the snapshot's delta; the node's readers take the folder, and open the
 * changed files, as if it had been read again.
 * Those rows are at least as new as the poll's snapshot, so the patched
 * snapshot is as exact as a marked one read again would be; a change they
 * show that committed after the poll's snapshot is in the next poll too,
 * and applied again to the same end.
 *
 * A volume older than schema 3 has no log: the agent then compares the
 * server's snapshot (pg_current_snapshot(), cluster-wide) with the
 * previous poll's and marks everything when it moved, as before.
 * Nothing depends on an agent's history: a restarted agent starts a new
 * chain, and a missed poll only lets the stamp age.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_http.h"
#include "config.h"
#include "io.h"
#include "libdir.h"
#include "log.h"
#include "meta.h"
#include "nodemeta.h"
#include "thread.h"

#define AGENT_RESPAWN_NS (10 * 1000000000LL)
#define AGENT_GIVE_UP_NS (60 * 1000000000LL)
#define AGENT_RETRY_NS 1000000000LL
#define AGENT_STACK (64 * 1024)
/* Rows of each kind one poll reads; past that it marks everything. */
#define AGENT_CHANGES_MAX 4096
#define AGENT_SWEEP_NS (60 * 1000000000LL)
#define AGENT_SWEEP_MAX 4096

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
    io_syscall_fn sys; /* libc's syscall(), found before the clone */
};

/* The child, sharing the parent's memory until execve (CLONE_VFORK): libc's
 * raw system calls only (the shim's close would edit the parent's table
 * of volume descriptors, shared here), nothing allocated, all signals
 * blocked by the parent. Its descriptors are its own copy: it keeps none
 * of them but /dev/null as 0, 1 and 2. */
static int agent_child(void *arg)
{
    const struct agent_exec *x = arg;
    io_syscall_fn sys = x->sys;
    if (sys(SYS_close_range, 3U, ~0U, 0U) < 0)
        for (long fd = 3; fd < 4096; fd++)
            sys(SYS_close, fd);
    long nul = sys(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
    for (long fd = 0; nul >= 0 && fd < 3; fd++)
        if (fd != nul)
            sys(SYS_dup3, nul, fd, 0);
    if (nul > 2)
        sys(SYS_close, nul);
    sys(SYS_execve, x->path, x->argv, x->envp);
    sys(SYS_exit, 127);
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

/* Reaps the `--detach` process off the caller's path: it loads the
 * shimfs binary and forks before it exits (2-3 ms of a cold process's
 * first question, measured), which the caller need not wait for. Runs
 * with every signal blocked (inherited from agent_spawn). A host that
 * calls execve before the launcher exits loses this thread: the launcher
 * then stays a zombie until the host exits (no exit signal: a wait(-1)
 * of the new program never meets it). */
static void *agent_reaper(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    int st = 0;
    while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        log_debug("agent", "no node agent started (`shimfs agent --detach` failed): "
                           "processes connect once their TTL is past");
    return NULL;
}

/* `shimfs agent --detach`: it forks the agent and exits at once, so the
 * only process the host ever has is this short one, reaped by a small
 * detached thread (or here, when no thread can be made). */
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
    struct agent_exec x = { path, argv, env, io_libc_syscall() };
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* no exit signal: neither SIGCHLD nor a host's wait(-1) sees it;
     * CLONE_VFORK: back here once it has called execve, so its stack and
     * environment are free to go */
    pid_t pid = clone(agent_child, stack + AGENT_STACK, CLONE_VM | CLONE_VFORK, &x);
    int rc = pid < 0 ? -errno : 0;
    pthread_t t;
    pthread_attr_t attr;
    int threaded = 0;
    if (pid > 0 && pthread_attr_init(&attr) == 0) {
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void)pthread_attr_setstacksize(&attr, AGENT_STACK);
        threaded = thread_start(&t, &attr, agent_reaper, (void *)(intptr_t)pid) == 0;
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0 && !threaded)
        (void)agent_reaper((void *)(intptr_t)pid);
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

/* The metrics endpoint's socket (-1: none); the loop's waits serve it. */
static int agent_http_fd = -1;

/* Sleep until the wall time `until` or a stop, answering metrics
 * requests meanwhile (each bounded: agent_http.h). */
static void agent_sleep_until(const struct shimfs_config *cfg, int64_t until,
                              const volatile int *stop)
{
    for (;;) {
        int64_t left = until - nodemeta_now();
        if (left <= 0 || *stop)
            return;
        if (agent_http_fd >= 0) {
            (void)agent_http_serve(agent_http_fd, cfg, until);
            continue;
        }
        struct timespec ts = { left / 1000000000LL, left % 1000000000LL };
        nanosleep(&ts, NULL);
    }
}

/* SHIMFS_METRICS_ADDR: the endpoint, or one line saying why not. */
static void agent_http_start(const struct shimfs_config *cfg)
{
    if (!cfg->metrics_addr[0])
        return;
    int fd = agent_http_listen(cfg->metrics_addr);
    if (fd == -EINVAL)
        log_warn("agent",
                 "SHIMFS_METRICS_ADDR=%s: not a loopback IPv4 address and port "
                 "(127.0.0.1:9567); no metrics endpoint",
                 cfg->metrics_addr);
    else if (fd < 0)
        log_warn("agent", "metrics endpoint %s: %s; none served", cfg->metrics_addr, strerror(-fd));
    else
        log_info("agent", "metrics on http://%s/metrics", cfg->metrics_addr);
    agent_http_fd = fd;
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

/* ---- what it watches ---- */

enum { AGENT_NONE, AGENT_LOG, AGENT_TOKEN };

/* A change row, keyed by inode (a deleted directory's with the top bit). */
struct agent_row { uint64_t key, chg, dir[2]; int ndir; };

struct agent_watch {
    int mode;
    uint64_t since;             /* AGENT_LOG: the previous poll's horizon (0: no chain yet) */
    uint64_t token;             /* AGENT_TOKEN: the previous poll's token */
    struct agent_row *prev, *cur;   /* rows of the previous and this poll, by key */
    int nprev, ncur, capprev, capcur;
    int err;
};

static int agent_row_cmp(const void *a, const void *b)
{
    const struct agent_row *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static int agent_u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The directories whose snapshots a change row makes stale: a directory
 * (its listing and attributes) and its parent (which lists it); a file's
 * parent; none known (ndir 0, a file with several names): asked after
 * (agent_mark_new). */
static void agent_row_cb(void *arg, const struct meta_change *c)
{
    struct agent_watch *w = arg;
    if (w->ncur == w->capcur) {
        int cap = w->capcur ? 2 * w->capcur : 1024;
        struct agent_row *p = realloc(w->cur, (size_t)cap * sizeof *p);
        if (!p) {
            w->err = -ENOMEM;
            return;
        }
        w->cur = p;
        w->capcur = cap;
    }
    struct agent_row *r = &w->cur[w->ncur++];
    *r = (struct agent_row){ .key = c->ino | (c->gone ? 1ULL << 63 : 0), .chg = c->chg };
    if (c->gone) {
        r->dir[r->ndir++] = c->ino;
    } else if ((c->mode & 0170000) == 0040000) {
        r->dir[r->ndir++] = c->ino;
        r->dir[r->ndir++] = c->parent;
    } else if (c->parent) {
        r->dir[r->ndir++] = c->parent;
    }
}

/* ---- patching the node's snapshots with others' changes ---- */

/* The names of each kind (set, removed) one directory's patch takes (as
 * many in the answer means more: the folder is marked), and the names all
 * patches of one poll take: each two of them step the node's ring of
 * local commits (1024 slots) by one, and a process whose cached answers
 * lag by a whole ring drops them all. */
#define AGENT_PATCH_DIR 64
#define AGENT_PATCH_POLL 256
/* The directories one poll patches, each one round trip of the agent's
 * (a folder of any size is patched): past them the poll marks the rest,
 * and their next readers on the node read them again. */
#define AGENT_PATCH_DIRS 64
/* Files with several names whose folders one poll asks for (one query
 * each), and the names each may have; past either, the poll marks all. */
#define AGENT_LINKS_POLL 32
#define AGENT_LINK_NAMES 16

struct agent_names {
    uint64_t dir;
    int n, bad;
    int same;       /* 2: records of names dir had (nodemeta_change.touch) */
    /* AGENT_PATCH_DIR of each kind (names set, names gone) */
    struct nodemeta_change c[2 * AGENT_PATCH_DIR];
    struct meta_attr a[2 * AGENT_PATCH_DIR];
    char name[2 * AGENT_PATCH_DIR][META_NAME_MAX + 1];
    /* the files' block maps: name i's at maps + map_at[i] (pointed to once
     * all came: the array grows meanwhile) */
    size_t map_at[2 * AGENT_PATCH_DIR];
    struct meta_slice_rec *maps;
    size_t nmaps, maps_cap;
};

static void agent_name_cb(void *arg, const char *name, size_t nlen, const struct meta_attr *a,
                          const struct meta_slice_rec *map, int nmap)
{
    struct agent_names *p = arg;
    /* a file with several names: the other folders listing it are not
     * named by the log (its row says parent 0), so the poll marks all */
    if (a && a->parent != p->dir)
        p->bad = -EMLINK;
    if (p->n == 2 * AGENT_PATCH_DIR || nlen > META_NAME_MAX) {
        p->bad = -E2BIG;
        return;
    }
    int i = p->n++;
    memcpy(p->name[i], name, nlen);
    p->name[i][nlen] = 0;
    if (a)
        p->a[i] = *a;
    p->c[i] = (struct nodemeta_change){
        .name = p->name[i], .nlen = nlen, .a = a ? &p->a[i] : NULL, .touch = p->same
    };
    if (!a || nmap < 0)
        return; /* no map: the node's readers of that file ask for it */
    if (p->nmaps + (size_t)nmap > p->maps_cap) {
        size_t cap = p->maps_cap ? p->maps_cap : 256;
        while (cap < p->nmaps + (size_t)nmap)
            cap *= 2;
        struct meta_slice_rec *m = realloc(p->maps, cap * sizeof *m);
        if (!m)
            return;
        p->maps = m;
        p->maps_cap = cap;
    }
    if (nmap > 0)
        memcpy(p->maps + p->nmaps, map, (size_t)nmap * sizeof *map);
    p->map_at[i] = p->nmaps;
    p->nmaps += (size_t)nmap;
    p->c[i].nmap = nmap;
    p->c[i].with_map = 1;
}

/* Bring the node's snapshot of dir (a folder of any size the node holds)
 * up to the changes since horizon since: its changed names, with their
 * files' block maps (meta_dir_changes), appended to its delta as the node's
 * own commits append theirs, each group of two under a local sequence
 * step marking dir (a snapshot of dir asked before it, and not the one
 * patched, is stale then; see nodemeta_dir_patch). own_row: dir's own row
 * is among the poll's changes; when it is not, no name of dir came or
 * went (every such change writes the parent's row), so the records are
 * same-inode sets, which keep the snapshot's attributes of dir (a name
 * that came after the poll's snapshot makes the records unplaceable, and
 * the reader reads the folder afresh). 0 when patched, or -errno: the
 * caller marks dir instead (*budget: names left this poll). */
static int agent_patch_dir(struct meta *m, struct nodemeta *nm, uint64_t dir, uint64_t since,
                           int own_row, struct agent_names *p, int *budget)
{
    p->dir = dir;
    p->n = p->bad = 0;
    p->nmaps = 0;
    p->same = own_row ? 0 : 2;
    if (*budget <= 0)
        return -E2BIG;
    struct meta_attr self;
    int64_t asked = nodemeta_now();
    /* A process of the node may commit a change in dir after the answer
     * was read and append its record before this one: appended after it,
     * the answer's older row would have the last word (a chown shown
     * undone: pjdfstest rmdir/11.t, once in a full run). So no group goes
     * in when a local commit changed dir since the question began. */
    uint64_t from = nodemeta_gen(nm);
    int rc = meta_dir_changes(m, dir, since, *budget < AGENT_PATCH_DIR ? *budget : AGENT_PATCH_DIR,
                              agent_name_cb, p, &self);
    if (rc < 0)
        return rc;
    if (p->bad)
        return p->bad;
    if (p->n == 0)
        return -ENODATA;    /* only its own attributes changed: asked again */
    *budget -= p->n;
    for (int i = 0; i < p->n; i++)
        if (p->c[i].with_map)
            p->c[i].map = p->maps + p->map_at[i];
    rc = 0;
    for (int i = 0; i < p->n && rc == 0; i += 2) {
        uint64_t seq = nodemeta_mark_local(nm, &dir, 1) + 1;
        rc = nodemeta_local_changed(nm, dir, from, seq - 1)
                 ? -ESTALE
                 : nodemeta_dir_patch(nm, dir, seq, &p->c[i], p->n - i < 2 ? p->n - i : 2);
        from = seq; /* its own step */
    }
    /* names came or went: dir's own times moved with them, and its row of
     * the same snapshot goes with them (the root's attributes are every
     * walk's start: without them each new process of the node asked) */
    if (rc == 0 && own_row && self.ino == dir) {
        uint64_t seq = nodemeta_mark_local(nm, &dir, 1) + 1;
        struct nodemeta_change c = { .a = &self, .self = 1, .at_ns = asked };
        rc = nodemeta_local_changed(nm, dir, from, seq - 1) ? -ESTALE
                                                       : nodemeta_dir_patch(nm, dir, seq, &c, 1);
    }
    return rc;
}

/* The directories of this poll's rows not already reported by the
 * previous poll with the same transaction id: the snapshots the node holds
 * of them patched (meta_dir_changes from the horizon since), the others
 * marked (and all of them when a row names none). Returns how many
 * directories were marked (-1: all); *patched: how many patched. */
static int agent_mark_new(struct agent_watch *w, struct meta *m, struct nodemeta *nm,
                          uint64_t since, int *patched)
{
    *patched = 0;
    if (w->ncur == 0)
        return 0;
    qsort(w->cur, (size_t)w->ncur, sizeof *w->cur, agent_row_cmp);
    /* dirs[0..n): changed directories (2 a row, and the folders of the
     * names of AGENT_LINKS_POLL files with several); gone[0..ng): deleted
     * ones, never patched */
    size_t cap = 2 * (size_t)w->ncur + AGENT_LINKS_POLL * AGENT_LINK_NAMES;
    uint64_t *dirs = malloc((cap + (size_t)w->ncur + 1) * sizeof *dirs);
    uint64_t *gone = dirs ? dirs + cap : NULL;
    int n = 0, ng = 0, links = 0, all = !dirs;
    for (int i = 0; i < w->ncur && !all; i++) {
        const struct agent_row *r = &w->cur[i];
        const struct agent_row *old = w->nprev
            ? bsearch(r, w->prev, (size_t)w->nprev, sizeof *r, agent_row_cmp) : NULL;
        if (old && old->chg == r->chg)
            continue;
        if (r->ndir == 0) {
            /* a file with several names (its row names no folder): the
             * folders of its names now; those it lost changed rows of
             * their own. Too many, or a volume older than schema 5: all. */
            int k = links++ < AGENT_LINKS_POLL
                ? meta_name_parents(m, r->key, dirs + n, AGENT_LINK_NAMES) : -E2BIG;
            if (k < 0)
                all = 1;
            else
                n += k;
            continue;
        }
        for (int k = 0; k < r->ndir; k++)
            dirs[n++] = r->dir[k];
        if (r->key >> 63)
            gone[ng++] = r->dir[0];
    }
    if (all) {
        nodemeta_mark_remote(nm, NULL, -1);
        free(dirs);
        return -1;
    }
    qsort(dirs, (size_t)n, sizeof *dirs, agent_u64_cmp);
    qsort(gone, (size_t)ng, sizeof *gone, agent_u64_cmp);
    struct agent_names *p = calloc(1, sizeof *p);
    int u = 0, budget = AGENT_PATCH_POLL, tries = 0;
    for (int i = 0; i < n; i++) {
        if (i && dirs[i - 1] == dirs[i])
            continue;
        struct agent_row own = { .key = dirs[i] };
        /* only folders the node holds a snapshot of, never one deleted */
        int rc = nodemeta_dir_held(nm, dirs[i]) < 0 ||
                         bsearch(&dirs[i], gone, (size_t)ng, sizeof *gone, agent_u64_cmp)
                     ? -ENOENT
                 : !p                          ? -ENOMEM
                 : tries++ >= AGENT_PATCH_DIRS ? -E2BIG
                                               : 0;
        if (rc == 0)
            rc = agent_patch_dir(m, nm, dirs[i], since,
                                 bsearch(&own, w->cur, (size_t)w->ncur, sizeof own, agent_row_cmp) != NULL,
                                 p, &budget);
        if (rc == 0) {
            ++*patched;
            continue;
        }
        if (rc != -ENOENT && rc != -ENODATA && rc != -ENOMEM)
            log_debug("agent", "directory %llu marked, not patched: %s",
                      (unsigned long long)dirs[i], strerror(-rc));
        dirs[u++] = dirs[i];
    }
    if (p)
        free(p->maps);
    free(p);
    if (u)
        nodemeta_mark_remote(nm, dirs, u);
    free(dirs);
    return u;
}

/* One poll of the change log. -EOPNOTSUPP: the volume has none. */
static int agent_poll_log(struct agent_watch *w, struct meta *m, struct nodemeta *nm,
                          uint64_t *published)
{
    uint64_t horizon = 0;
    w->ncur = 0;
    w->err = 0;
    int rc = meta_changes_since(m, w->since, AGENT_CHANGES_MAX, &horizon, agent_row_cb, w);
    if (rc < 0 && rc != -E2BIG)
        return rc;
    int marked = 0, patched = 0;
    if (!w->since) {
        /* from now on no change escapes the polls; and the token, asked
         * after this poll, names the state it started from: answers the
         * node's processes took before, of that same state, are covered
         * too (nodemeta.c, nm_covered) */
        uint64_t token = 0;
        if (meta_change_token(m, &token) < 0)
            token = 0;
        nodemeta_chain_start(nm, token);
        log_debug("agent", "watching the volume's change log from transaction %llu",
                  (unsigned long long)horizon);
    } else if (rc == -E2BIG || w->err) {
        nodemeta_mark_remote(nm, NULL, -1);
        marked = -1;
    } else {
        marked = agent_mark_new(w, m, nm, w->since, &patched);
    }
    if (marked || patched)
        log_debug("agent", "%d changes since transaction %llu: %s %d directories, patched %d",
                  w->ncur, (unsigned long long)w->since, marked < 0 ? "marked all" : "marked",
                  marked < 0 ? 0 : marked, patched);
    struct agent_row *t = w->prev;
    int tcap = w->capprev;
    w->prev = w->cur;
    w->capprev = w->capcur;
    w->nprev = w->err ? 0 : w->ncur;
    w->cur = t;
    w->capcur = tcap;
    w->since = horizon ? horizon : 1;
    *published = horizon;
    return 0;
}

/* One poll of the server-wide token (volumes older than schema 3). */
static int agent_poll_token(struct agent_watch *w, struct meta *m, struct nodemeta *nm,
                            uint64_t *published)
{
    uint64_t token;
    int rc = meta_change_token(m, &token);
    if (rc < 0)
        return rc;
    if (!w->token)
        nodemeta_chain_start(nm, token);
    else if (token != w->token)
        nodemeta_mark_remote(nm, NULL, -1);
    w->token = token;
    *published = token;
    return 0;
}

/* The log when the volume has one (whether it has is asked again every
 * 30 s: a writer may upgrade it), else the token. */
static int agent_poll(struct agent_watch *w, struct meta *m, struct nodemeta *nm, uint64_t *published)
{
    int rc = agent_poll_log(w, m, nm, published);
    if (rc != -EOPNOTSUPP) {
        if (rc == 0 && w->mode != AGENT_LOG) {
            if (w->mode == AGENT_TOKEN)
                log_info("agent", "the volume has a change log now: only changed directories "
                         "are re-read");
            w->mode = AGENT_LOG;
            w->token = 0;
        }
        return rc;
    }
    if (w->mode != AGENT_TOKEN) {
        log_info("agent", "the volume's schema has no change log (version < 3): any commit on "
                 "the server ends the vouching for the node's snapshots until a writer upgrades it");
        w->mode = AGENT_TOKEN;
        w->since = 0;
    }
    return agent_poll_token(w, m, nm, published);
}

/* The poll, shared by the loop and the node's processes' sync questions
 * (AGENT_ASK_SYNC): a process that must not trust an answer older than
 * itself (a read open of a name the node's listing lacks: another node
 * may have created it just before this process started) has the agent
 * poll now instead of asking the database for each such name. */
struct agent_sync {
    pthread_mutex_t mu;
    struct agent_watch *w;
    struct meta *m;
    struct nodemeta *nm;
    int64_t last;       /* the wall start of the last poll published */
    const struct agent_answers *ans;
};

/* One poll, published; none when one that began at or after `after` was
 * published already (so questions arriving together share one). 0, or
 * the poll's -errno. */
static int agent_sync_poll(struct agent_sync *s, int64_t after)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->last < after) {
        int64_t t0 = nodemeta_now();
        uint64_t published = 0;
        rc = agent_poll(s->w, s->m, s->nm, &published);
        if (rc == 0) {
            nodemeta_set_verified(s->nm, t0, getpid(), published);
            s->last = t0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The server's questions: a sync is the agent's own, the rest its
 * engine's (ans->fn). */
static int agent_sync_answer(void *arg, char kind, int flags, uint64_t dir, int limit,
                             const char *const *names, const size_t *lens, int n)
{
    struct agent_sync *s = arg;
    if (kind == AGENT_ASK_SYNC)
        return agent_sync_poll(s, nodemeta_now());
    return s->ans->fn(s->ans->arg, kind, flags, dir, limit, names, lens, n);
}

/* Answers past any use: a walk's serves one TTL from its question (the
 * agent never vouches for them), so files older than twice the longer
 * TTL, and a minute, are garbage; so are folders' snapshots as old that
 * the chain does not vouch for (nodemeta_sweep_dirs). None goes with
 * SHIMFS_READ_ONLY (answers that never expire). At most AGENT_SWEEP_MAX
 * of each a sweep, so a poll is never late by much. */
static void agent_sweep(const struct shimfs_config *cfg, struct nodemeta *nm, int64_t now)
{
    if (cfg->read_only)
        return;
    int64_t ttl = cfg->attr_ttl_ns > cfg->entry_ttl_ns ? cfg->attr_ttl_ns : cfg->entry_ttl_ns;
    int64_t age = 2 * ttl > AGENT_SWEEP_NS ? 2 * ttl : AGENT_SWEEP_NS;
    int gone = nodemeta_sweep(nm, 'w', now - age, AGENT_SWEEP_MAX);
    int dirs = nodemeta_sweep_dirs(nm, now - age, AGENT_SWEEP_MAX);
    if (gone > 0 || dirs > 0)
        log_debug("agent", "removed %d walk answers and %d folder snapshots older than %lld s",
                  gone > 0 ? gone : 0, dirs > 0 ? dirs : 0, (long long)(age / 1000000000LL));
}

int agent_run(const struct shimfs_config *cfg, struct meta *m, struct nodemeta *nm,
              volatile int *stop, const struct agent_answers *ans)
{
    int lock = nodemeta_agent_lock(nm);
    if (lock < 0)
        return lock;
    struct agent_watch w = { .mode = AGENT_NONE };
    struct agent_sync sync = { PTHREAD_MUTEX_INITIALIZER, &w, m, nm, 0, ans };
    /* the node is ours now: its socket too */
    struct agent_server *srv = NULL;
    if (ans && ans->workers > 0) {
        int src = agent_server_start(nm, ans->workers, agent_sync_answer, &sync, &srv);
        if (src < 0)
            log_warn("agent", "answering the node's processes: %s; they ask the database "
                     "themselves", strerror(-src));
    }
    int64_t poll = cfg->agent_poll_ns < 10000000 ? 10000000
                   : cfg->agent_poll_ns > 1000000000 ? 1000000000 : cfg->agent_poll_ns;
    int64_t started = nodemeta_now(), down_since = 0;
    /* Reap sessions that expired (crashed writers anywhere): their
     * reservations, and orphans only they kept, go. Once a timeout. */
    int64_t reap_every = cfg->session_timeout_ns, next_reap = started + reap_every;
    int reaping = 1;
    int64_t next_sweep = started + AGENT_SWEEP_NS;
    const char *why = NULL;
    log_info("agent", "serving the node (pid %d, a poll every %lld ms)", (int)getpid(),
             (long long)(poll / 1000000));
    agent_http_start(cfg);
    while (!*stop) {
        int64_t t0 = nodemeta_now();
        if ((why = agent_should_leave(cfg, nm, started, t0, down_since)))
            break;
        int rc = agent_sync_poll(&sync, INT64_MAX);
        if (rc < 0) {
            if (!down_since)
                log_warn("agent", "cannot poll the database: %s; the node's processes use their "
                         "TTL until it answers", strerror(-rc));
            down_since = down_since ? down_since : t0;
            agent_sleep_until(cfg, t0 + AGENT_RETRY_NS, stop);
            continue;
        }
        if (down_since)
            log_info("agent", "the database answers again");
        down_since = 0;
        if (t0 >= next_sweep) {
            agent_sweep(cfg, nm, t0);
            next_sweep = t0 + AGENT_SWEEP_NS;
        }
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
        agent_sleep_until(cfg, t0 + poll, stop);
    }
    uint64_t answered, failed;
    agent_server_counts(srv, &answered, &failed);
    agent_server_stop(srv);
    if (srv)
        log_info("agent", "answered %llu questions of the node's processes (%llu not)",
                 (unsigned long long)answered, (unsigned long long)failed);
    nodemeta_set_verified(nm, 0, 0, 0);
    free(w.prev);
    free(w.cur);
    if (agent_http_fd >= 0)
        close(agent_http_fd);
    agent_http_fd = -1;
    log_info("agent", "leaving: %s", why ? why : "asked to stop");
    close(lock);
    return 0;
}

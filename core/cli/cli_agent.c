/* cli_agent.c - `shimfs agent`: the node agent (core/agent/agent.h), and
 * `shimfs agent --status` to see whether one serves this node.
 *
 * The library starts it as `shimfs agent --detach` with the host's
 * environment (minus LD_PRELOAD), so it reaches the same database and
 * cache folder as the processes it serves. --detach forks and returns at
 * once; the agent then leaves its session and working directory (it must
 * not pin a mount or take a terminal's signals) and logs, unless
 * SHIMFS_LOG says otherwise, its few lines (start, leave, database down
 * and back) to $SHIMFS_CACHE_DIR/agent.log.
 * It may also be run in the foreground (a sidecar, a test).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "nodeconn.h"
#include "nodemeta.h"
#include "vfs.h"

static const char cli_agent_usage[] =
    "usage: shimfs agent [--detach | --status] [--meta URL]\n"
    "\n"
    "Serve this node as its metadata agent: one database connection that\n"
    "polls for commits, so the node's processes reuse their shared snapshots\n"
    "past the TTL instead of each connecting. Processes under LD_PRELOAD\n"
    "start it by themselves; it leaves after SHIMFS_AGENT_IDLE unused.\n"
    "\n"
    "  --detach    fork into the background and return at once\n"
    "  --status    say whether an agent serves this node (exit 0) or not (3), and how\n"
    "              many of the node's connections (SHIMFS_NODE_CONNS) are open\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

static volatile int cli_agent_stop;

/* Threads (and connections of its engine) answering the node's processes:
 * a few, so that questions of other folders do not queue behind a slow
 * one, and the node's other connections stay the processes'. */
#define CLI_AGENT_WORKERS 3

static int cli_agent_answer(void *arg, char kind, int flags, uint64_t dir, int limit,
                            const char *const *names, const size_t *lens, int n)
{
    (void)arg;
    return vfs_node_answer(kind, flags, dir, limit, names, lens, n);
}

static void cli_agent_on_signal(int sig)
{
    (void)sig;
    cli_agent_stop = 1;
}

/* How many of the node's connection slots are held now. */
static void cli_agent_conns(const struct shimfs_config *cfg, struct nodemeta *nm)
{
    struct nodeconn *nc;
    if (cfg->node_conns > 0 && nodeconn_open(nm, cfg->node_conns, 0, &nc) == 0) {
        printf("connections: %d of the node's %d open (SHIMFS_NODE_CONNS)\n", nodeconn_in_use(nc),
               cfg->node_conns);
        nodeconn_close(nc);
    }
}

static int cli_agent_status(const struct shimfs_config *cfg, struct nodemeta *nm)
{
    int64_t now = nodemeta_now(), at = nodemeta_verified(nm);
    if (!agent_alive(nm, now)) {
        printf("agent: none serves this node (processes connect once their TTL is past)\n");
        cli_agent_conns(cfg, nm);
        return 3;
    }
    printf("agent: serving this node (pid %lld), last poll %lld ms ago\n",
           (long long)nodemeta_agent_pid(nm), (long long)((now - at) / 1000000));
    cli_agent_conns(cfg, nm);
    return CLI_OK;
}

/* Into the background: the caller gets 0 as soon as the agent exists. */
static int cli_agent_detach(const struct shimfs_config *cfg)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    setsid();
    /* the log first: a relative SHIMFS_CACHE_DIR names a folder from here */
    const char *log = secure_getenv("SHIMFS_LOG");
    if (strcmp(log ? log : "", CLI_LOG_QUIET) == 0) {
        char spec[2 * 4096 + 64], cwd[4096];
        if (cfg->cache_dir[0] != '/' && getcwd(cwd, sizeof cwd))
            snprintf(spec, sizeof spec, "info,file=%s/%s/agent.log", cwd, cfg->cache_dir);
        else
            snprintf(spec, sizeof spec, "info,file=%s/agent.log", cfg->cache_dir);
        log_configure(spec);
        /* and so for the engine that answers questions (config_load
         * configures the log again, from the environment) */
        setenv("SHIMFS_LOG", spec, 1);
    }
    if (chdir("/") < 0) {
        /* nothing pins: "/" always exists */
    }
    return 0;
}

static int cli_agent_serve(const struct shimfs_config *cfg, struct nodemeta *nm, int detach)
{
    if (detach && cli_agent_detach(cfg) < 0)
        return cli_fail("agent", "cannot fork", "%s", strerror(errno));
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the library started it with all blocked */
    struct sigaction sa = { .sa_handler = cli_agent_on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct meta *m;
    int rc = meta_open(cfg->meta, &m);
    if (rc < 0)
        return cli_meta_fail("agent", NULL, rc);
    meta_set_timeout(m, cfg->meta_timeout_ms);
    /* its one connection counts among the node's; it keeps its slot
     * (polls every 200 ms) unless that would leave processes too few */
    struct nodeconn *nc = NULL;
    if (cfg->node_conns > 0 && nodeconn_open(nm, cfg->node_conns, cfg->node_conns >= NODECONN_AGENT_MIN, &nc) == 0)
        meta_set_conn_gate(m, nodeconn_gate(nc));
    /* the questions of the node's processes run on an engine of the
     * agent's own (opened at the first): one that never starts or asks an
     * agent, with a few connections of the node's */
    setenv("SHIMFS_AGENT", "0", 1);
    setenv("SHIMFS_AGENT_ASK", "0", 1);
    char conns[16];
    snprintf(conns, sizeof conns, "%d", CLI_AGENT_WORKERS);
    setenv("SHIMFS_META_CONNS", conns, 0);
    struct agent_answers ans = { cfg->agent_ask && cfg->node_conns >= NODECONN_AGENT_MIN
                                     ? CLI_AGENT_WORKERS : 0,
                                 cli_agent_answer, NULL };
    rc = agent_run(cfg, m, nm, &cli_agent_stop, &ans);
    meta_close(m);
    nodeconn_close(nc);
    if (rc == -EBUSY)
        return detach ? CLI_OK : cli_fail("agent", "not started", "another agent already serves this node");
    return rc < 0 ? cli_fail("agent", "stopped", "%s", strerror(-rc)) : CLI_OK;
}

int cli_cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {
        { "detach", no_argument, NULL, 'd' },
        { "status", no_argument, NULL, 's' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, code = CLI_OK, detach = 0, status = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'd')
            detach = 1;
        else if (c == 's')
            status = 1;
        else if (cli_common_option(c, "agent", cli_agent_usage, argv, &code) < 0)
            return code;
    }
    if (optind < argc)
        return cli_usage_error("agent", "unexpected argument '%s'", argv[optind]);
    if (detach && status)
        return cli_usage_error("agent", "--detach and --status exclude each other");
    struct shimfs_config cfg;
    config_load(&cfg);
    if (!cfg.node_meta || !cfg.cache_dir[0])
        return cli_fail("agent", "nothing to serve", "node metadata sharing is off (SHIMFS_NODE_META=0)");
    struct nodemeta *nm;
    int rc = nodemeta_open(cfg.cache_dir, cfg.meta, &nm);
    if (rc < 0)
        return cli_fail("agent", cfg.cache_dir, "cannot use its meta folder: %s", strerror(-rc));
    code = status ? cli_agent_status(&cfg, nm) : cli_agent_serve(&cfg, nm, detach);
    nodemeta_close(nm);
    return code;
}

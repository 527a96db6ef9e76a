/* meta_conn.c - one PostgreSQL connection: opening it, and turning libpq's
 * failures into the errno values meta.h promises.
 *
 * Promises: a connect ends by the call's deadline; a failed one is
 * reported to meta_down.c, which logs "cannot connect to HOST/DB: <libpq's
 * reason>" once per outage interval (libpq never puts the password in its
 * messages, and the description is built without it); statement failures
 * log one line unless they are namespace answers; serialization failures
 * and deadlocks mark the connection so the transaction can be rerun.
 *
 * Poolers (SHIMFS_META_POOLER): behind PgBouncer no startup options are
 * sent (it refuses them), and in transaction mode nothing may outlive a
 * transaction, so statements go unnamed (meta_exec.c). Both are also
 * detected when the setting is missing: a refused "options" startup
 * parameter reconnects without it, and a named statement the server does
 * not know (26000) or already has (42P05) can only mean our session moved
 * to another server connection: the handle switches to unnamed statements
 * and the transaction reruns. Each detection logs one line.
 */
#include "meta_int.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Connect-time failures carry no SQLSTATE in libpq, only a message. The
 * order matters: the first needle found wins. */
static const struct { const char *needle; int err; } meta_connect_errors[] = {
    { "password authentication failed", -EACCES },
    { "no password supplied", -EACCES },
    { "authentication failed", -EACCES },
    { "pg_hba.conf", -EACCES },
    { "permission denied", -EACCES },
    { "role \"", -EACCES },                 /* role "x" does not exist */
    { "does not exist", -ENODEV },          /* database "x" does not exist */
    { "Connection refused", -ECONNREFUSED },
    { "No such file or directory", -ECONNREFUSED }, /* no unix socket */
    { "starting up", -ECONNREFUSED },
    { "shutting down", -ECONNREFUSED },
    { "No route to host", -EHOSTUNREACH },
    { "Network is unreachable", -EHOSTUNREACH },
    { "could not translate host name", -EHOSTUNREACH },
    { "timeout expired", -EHOSTUNREACH },
};

/* SQLSTATEs of failed statements; a two-letter entry matches the class. */
enum { MEQ_QUIET = 1, MEQ_RETRY = 2, MEQ_UNFORMATTED = 4, MEQ_LOST = 8, MEQ_POOLER = 16 };
static const struct { const char *state; int err; int flags; } meta_sql_errors[] = {
    { "40001", -EAGAIN, MEQ_QUIET | MEQ_RETRY },   /* serialization_failure */
    { "40P01", -EAGAIN, MEQ_QUIET | MEQ_RETRY },   /* deadlock_detected */
    { "23505", -EEXIST, MEQ_QUIET | MEQ_RETRY },   /* unique_violation: lost a race */
    { "22012", -ESTALE, MEQ_QUIET | MEQ_RETRY },   /* division_by_zero: a guess was wrong */
    { "26000", -EAGAIN, MEQ_POOLER },              /* invalid_sql_statement_name */
    { "42P05", -EAGAIN, MEQ_POOLER },              /* duplicate_prepared_statement */
    { "42P01", -ENODEV, MEQ_UNFORMATTED },         /* undefined_table */
    { "42883", -ENODEV, MEQ_UNFORMATTED },         /* undefined_function */
    { "3F000", -ENODEV, MEQ_UNFORMATTED },         /* invalid_schema_name */
    { "28", -EACCES, 0 },                          /* invalid authorization */
    { "42501", -EACCES, 0 },                       /* insufficient_privilege */
    { "53100", -ENOSPC, 0 },                       /* disk_full */
    { "53200", -ENOMEM, 0 },                       /* out_of_memory */
    { "57P", -ECONNREFUSED, MEQ_LOST },            /* session terminated, shutdown */
    { "08", -ECONNREFUSED, MEQ_LOST },             /* connection exception */
};

/* libpq messages span lines; a log line must not. */
static void meta_one_line(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\n') {
            if (in[1] == '\0')
                break;
            out[o++] = ';';
            out[o++] = ' ';
        } else if (*in != '\r' && *in != '\t') {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static int meta_connect_errno(const char *msg)
{
    for (size_t i = 0; i < sizeof meta_connect_errors / sizeof meta_connect_errors[0]; i++)
        if (strstr(msg, meta_connect_errors[i].needle))
            return meta_connect_errors[i].err;
    return -EIO;
}

static void meta_notice(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    meta_one_line(message, line, sizeof line);
    log_debug(META_LOG, "server notice: %s", line);
}

/* libpq's keywords: our defaults come before dbname so that anything the
 * caller's URL or conninfo says wins (expand_dbname processes in order).
 * Keepalives and tcp_user_timeout let the kernel find a dead peer of an
 * idle pooled connection; statement_timeout makes the server give up
 * about when we do (not sent through a pooler, nor with
 * SHIMFS_META_PREPARE=0: PgBouncer refuses the "options" startup
 * parameter, and a session setting must not outlive our transaction on a
 * pooled server connection: meta_exec.c sets statement_timeout in each
 * transaction instead). None of them bounds a call by itself:
 * meta_conn_wait does. */
static int meta_sends_options(const struct meta *m)
{
    return __atomic_load_n(&m->pooler, __ATOMIC_ACQUIRE) == META_POOLER_NONE
        && __atomic_load_n(&m->use_prepare, __ATOMIC_ACQUIRE) && !getenv("PGOPTIONS");
}

int meta_pooler_from_env(void)
{
    const char *s = getenv("SHIMFS_META_POOLER");
    if (!s || !*s || !strcmp(s, "none"))
        return META_POOLER_NONE;
    if (!strcmp(s, "session"))
        return META_POOLER_SESSION;
    if (!strcmp(s, "transaction"))
        return META_POOLER_TRANSACTION;
    log_warn(META_LOG, "SHIMFS_META_POOLER=%s: not none, session or transaction; using none", s);
    return META_POOLER_NONE;
}

/* The pooler's two warnings are said once per process, not per handle:
 * a process may hold several (the node agent: its polls' and its
 * engine's), each finding the same pooler. */
static int meta_conn_said_unprepare, meta_conn_said_options;

static int meta_conn_say_once(int *said)
{
    return !__atomic_exchange_n(said, 1, __ATOMIC_RELAXED);
}

void meta_conn_unprepare(struct meta *m, const char *why)
{
    int was = 1;
    if (__atomic_compare_exchange_n(&m->use_prepare, &was, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
        meta_conn_say_once(&meta_conn_said_unprepare))
        log_warn(META_LOG, "%s: %s: the server session changed under the connection (a pooler "
                 "in transaction mode?); sending unnamed statements from now on "
                 "(set SHIMFS_META_POOLER=transaction)", m->describe, why);
}

static PGconn *meta_connect_start(const struct meta *m)
{
    const char *keys[12], *vals[12];
    char ct[16], idle[16], intvl[16], uto[16], opts[64];
    int n = 0, t = m->timeout_ms;
    int t_s = (t + 999) / 1000;
    snprintf(ct, sizeof ct, "%d", t_s < 2 ? 2 : t_s);
    snprintf(idle, sizeof idle, "%d", t_s / 3 < 1 ? 1 : t_s / 3);
    snprintf(intvl, sizeof intvl, "%d", t_s / 6 < 1 ? 1 : t_s / 6);
    snprintf(uto, sizeof uto, "%d", t);
    snprintf(opts, sizeof opts, "-c statement_timeout=%d", t);
    if (!getenv("PGCONNECT_TIMEOUT")) {
        keys[n] = "connect_timeout";
        vals[n++] = ct;
    }
    keys[n] = "keepalives";
    vals[n++] = "1";
    keys[n] = "keepalives_idle";
    vals[n++] = idle;
    keys[n] = "keepalives_interval";
    vals[n++] = intvl;
    keys[n] = "keepalives_count";
    vals[n++] = "3";
    keys[n] = "tcp_user_timeout";
    vals[n++] = uto;
    if (meta_sends_options(m)) {
        keys[n] = "options";
        vals[n++] = opts;
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "shimfs";
    keys[n] = "dbname";
    vals[n++] = (m->conninfo && *m->conninfo) ? m->conninfo : NULL;
    keys[n] = NULL;
    vals[n] = NULL;
    return PQconnectStartParams(keys, vals, 1);
}

/* Drives a started connection to its end by the deadline: 0, or -ETIMEDOUT
 * (the caller closes it), or -1 with libpq's message in the connection. */
static int meta_connect_finish(PGconn *pg, int64_t deadline_ns)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        if (st == PGRES_POLLING_OK)
            return 0;
        if (st == PGRES_POLLING_FAILED)
            return -1;
        int64_t left = deadline_ns - meta_mono_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pf = { PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0 };
        if (pf.fd < 0)
            return -1;
        int r = poll(&pf, 1, (int)((left + 999999) / 1000000));
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0)
            st = PQconnectPoll(pg);
    }
}

/* Shells dup2 onto small numbers (`exec 3> file`), which silently closes
 * whatever held them: the connection's socket must not sit there
 * (io_hold_low while connecting). */
#define META_FD_FLOOR IO_FD_FLOOR

/* One connection, made again without startup options when a pooler
 * refuses them. */
static PGconn *meta_connect_try(struct meta_conn *c, int *rc)
{
    PGconn *pg;
    for (int attempt = 0;; attempt++) {
        int options = meta_sends_options(c->m);
        pg = meta_connect_start(c->m);
        *rc = pg && PQstatus(pg) != CONNECTION_BAD ? meta_connect_finish(pg, c->deadline_ns) : -1;
        if (*rc != -1 || !options || attempt > 0 ||
            !strstr(PQerrorMessage(pg), "unsupported startup parameter"))
            break;
        /* PgBouncer's answer to "options": connect again without them. */
        PQfinish(pg);
        int none = META_POOLER_NONE;
        if (__atomic_compare_exchange_n(&c->m->pooler, &none, META_POOLER_SESSION, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
            meta_conn_say_once(&meta_conn_said_options))
            log_warn(META_LOG, "%s: the server refuses startup options (a pooler such as "
                     "PgBouncer?); connecting without them (set SHIMFS_META_POOLER)",
                     c->m->describe);
    }
    return pg;
}

int meta_conn_connect(struct meta_conn *c)
{
    assert(c->deadline_ns > 0);
    meta_conn_drop(c);
    int rc = meta_down_check(c->m);
    if (rc < 0)
        return rc;
    if ((rc = meta_gate_acquire(c)) < 0)
        return rc;
    PGconn *pg;
    for (int low_try = 0;; low_try++) {
        struct io_low was;
        io_hold_low(&was);
        pg = meta_connect_try(c, &rc);
        io_release_low(&was);
        if (!pg || rc < 0 || PQsocket(pg) >= IO_FD_FLOOR || low_try == IO_LOW_TRIES - 1)
            break;
        /* the program closed a low number while we held the rest, and the
         * socket took it: a shell's dup2 there would cut the connection */
        PQfinish(pg);
    }
    if (!pg) {
        char why[600];
        snprintf(why, sizeof why, "cannot connect to %s: out of memory", c->m->describe);
        meta_down_failed(c->m, -ENOMEM, why);
        return -ENOMEM;
    }
    if (rc < 0) {
        char why[1200], msg[512];
        int err = rc;
        if (rc == -ETIMEDOUT) {
            snprintf(why, sizeof why, "cannot connect to %s: no answer within %d ms",
                     c->m->describe, c->m->timeout_ms);
        } else {
            meta_one_line(PQerrorMessage(pg), msg, sizeof msg);
            err = meta_connect_errno(msg);
            snprintf(why, sizeof why, "cannot connect to %s: %s", c->m->describe, msg);
        }
        PQfinish(pg);
        meta_down_failed(c->m, err, why);
        return err;
    }
    meta_down_ok(c->m);
    PQsetNoticeProcessor(pg, meta_notice, NULL);
    if (PQsetnonblocking(pg, 1) != 0 || !PQenterPipelineMode(pg)) {
        log_error(META_LOG, "%s: cannot enter pipeline mode", c->m->describe);
        PQfinish(pg);
        return -EIO;
    }
    c->pg = pg;
    memset(c->prepared, 0, sizeof c->prepared);
    c->in_block = 0;
    return 0;
}

/* After PQfinish of a connection under a slot: wait, at most
 * META_GATE_CLOSE_MS, until the server ends it (fd: a duplicate of its
 * socket). PostgreSQL takes the backend out of pg_stat_activity and gives
 * back its max_connections place before the socket closes, so the slot is
 * then free at once; a backend still exiting when the next process of the
 * node connects would count twice on a loaded server. 1 when seen. */
static int meta_conn_wait_closed(int fd)
{
    int64_t until = meta_mono_ns() + (int64_t)META_GATE_CLOSE_MS * 1000000;
    char buf[256];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return 0;
        int64_t left = until - meta_mono_ns();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        (void)poll(&p, 1, (int)(left / 1000000) + 1);
    }
}

void meta_conn_end(struct meta_conn *c, int wait)
{
    int closed = 0;
    if (c->pg) {
        int fd = wait && c->slot >= 0 && PQstatus(c->pg) == CONNECTION_OK
                     ? fcntl(PQsocket(c->pg), F_DUPFD_CLOEXEC, META_FD_FLOOR)
                     : -1;
        PQfinish(c->pg);
        if (fd >= 0) {
            closed = meta_conn_wait_closed(fd);
            close(fd);
        }
    }
    c->pg = NULL;
    meta_gate_release(c, closed);
    c->in_block = 0;
    memset(c->prepared, 0, sizeof c->prepared);
}

void meta_conn_drop(struct meta_conn *c)
{
    meta_conn_end(c, 1);
}

int meta_conn_broken(const struct meta_conn *c)
{
    return !c->pg || PQstatus(c->pg) != CONNECTION_OK;
}

static int meta_sql_errno(const char *state, int *flags)
{
    for (size_t i = 0; i < sizeof meta_sql_errors / sizeof meta_sql_errors[0]; i++) {
        size_t n = strlen(meta_sql_errors[i].state);
        if (strncmp(state, meta_sql_errors[i].state, n) == 0) {
            *flags = meta_sql_errors[i].flags;
            return meta_sql_errors[i].err;
        }
    }
    *flags = 0;
    return -EIO;
}

int meta_conn_error(struct meta_conn *c, const PGresult *r, const char *what)
{
    char why[512];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state) {
        /* No SQLSTATE: libpq itself failed, nearly always a lost server. */
        meta_one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg), why, sizeof why);
        if (meta_conn_broken(c)) {
            if (c->m->quiet)
                log_debug(META_LOG, "%s: connection lost during %s: %s", c->m->describe, what, why);
            else
                log_warn(META_LOG, "%s: connection lost during %s: %s", c->m->describe, what, why);
            return -ECONNREFUSED;
        }
        log_error(META_LOG, "%s: %s: %s", c->m->describe, what, why);
        return -EIO;
    }
    int flags;
    int err = meta_sql_errno(state, &flags);
    if ((flags & MEQ_POOLER) && __atomic_load_n(&c->m->use_prepare, __ATOMIC_ACQUIRE)) {
        meta_conn_unprepare(c->m, what);
        c->retry = c->moved = 1;
        return err;
    }
    if (flags & MEQ_POOLER)
        err = -EIO;     /* unnamed statements cannot cause it: report it */
    if (flags & MEQ_RETRY)
        c->retry = 1;
    if (flags & MEQ_LOST || meta_conn_broken(c)) {
        /* The server ended the session; a read reconnects once by itself.
         * A read server's loss is reported by meta_route.c. */
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        meta_one_line(msg ? msg : "", why, sizeof why);
        if (c->m->quiet)
            log_debug(META_LOG, "%s: connection lost during %s: %s", c->m->describe, what, why);
        else
            log_warn(META_LOG, "%s: connection lost during %s: %s", c->m->describe, what, why);
    } else if (flags & MEQ_UNFORMATTED) {
        log_error(META_LOG, "%s: volume not formatted: run shimfs format", c->m->describe);
    } else if (!(flags & MEQ_QUIET)) {
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        meta_one_line(msg ? msg : "", why, sizeof why);
        log_error(META_LOG, "%s: %s (SQLSTATE %s)", what, why, state);
    }
    return err;
}

/* "user@host:port/db", with libpq's defaults where the conninfo is silent;
 * the password is never read from the parsed options. */
void meta_conn_describe(const char *conninfo, char *buf, size_t cap)
{
    const char *host = getenv("PGHOST"), *port = getenv("PGPORT");
    const char *db = getenv("PGDATABASE"), *user = getenv("PGUSER");
    const char *hostaddr = NULL;
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "hostaddr"))
            hostaddr = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
        else if (!strcmp(o->keyword, "user"))
            user = o->val;
    }
    if (!host || !*host)
        host = hostaddr ? hostaddr : "localhost";
    snprintf(buf, cap, "%s%s%s:%s/%s", user ? user : "", user ? "@" : "", host,
             port ? port : "5432", db ? db : (user ? user : "postgres"));
    PQconninfoFree(opts);
    PQfreemem(err);
}

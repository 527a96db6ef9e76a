/* cli_session.c - a session for a shimfs command that uploads (import):
 * its slice-id reservations are recorded with it, so gc never deletes a
 * block the command may still commit, and a heartbeat thread keeps it
 * alive however long one file takes. Ended (with its reservations) when
 * the command is done; a killed command's session expires and is reaped.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int running, stop;
    struct meta *m;
    int64_t every_ns;
} cs = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *cli_session_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&cs.lock);
    while (!cs.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + cs.every_ns;
        ts = (struct timespec){ (time_t)(t / 1000000000LL), (long)(t % 1000000000LL) };
        if (pthread_cond_timedwait(&cs.cond, &cs.lock, &ts) != ETIMEDOUT || cs.stop)
            continue;
        pthread_mutex_unlock(&cs.lock);
        uint64_t sid = meta_session_id(cs.m);
        if (sid && meta_session_heartbeat(cs.m, sid) == -ENOENT) {
            fprintf(stderr, "shimfs: session %llu was reaped; commits of blocks uploaded before "
                    "fail\n", (unsigned long long)sid);
            meta_session_forget(cs.m, sid);
        }
        pthread_mutex_lock(&cs.lock);
    }
    pthread_mutex_unlock(&cs.lock);
    return NULL;
}

int cli_session_begin(const char *cmd, struct volume *v)
{
    char host[256] = "";
    assert(cmd && v && !cs.running); /* one session at a time: cli_session_end first */
    if (gethostname(host, sizeof host - 1) < 0)
        host[0] = '\0';
    int rc = meta_session_start(v->meta, host, (int)getpid(), v->cfg.session_timeout_ns);
    if (rc < 0)
        return cli_fail(cmd, meta_describe(v->meta), "cannot open a session: %s", strerror(-rc));
    cs.m = v->meta;
    cs.every_ns = v->cfg.session_timeout_ns / 3;
    cs.stop = 0;
    cs.running = pthread_create(&cs.thread, NULL, cli_session_thread, NULL) == 0;
    return 0;
}

void cli_session_end(struct volume *v)
{
    assert(v);
    if (cs.running) {
        pthread_mutex_lock(&cs.lock);
        cs.stop = 1;
        pthread_cond_broadcast(&cs.cond);
        pthread_mutex_unlock(&cs.lock);
        pthread_join(cs.thread, NULL);
        cs.running = 0;
    }
    (void)meta_session_end(v->meta);
}

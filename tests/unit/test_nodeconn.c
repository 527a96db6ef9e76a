/* test_nodeconn.c - the node's connection slots and shared questions
 * (core/agent/nodeconn.c): cap slots are handed out and no more; a waiter
 * is seen by the holders (contended) and gets a slot released meanwhile;
 * one that gets none gives up by its deadline with ETIMEDOUT; two handles
 * (two processes' worth) share the same slots; a fork child holds none of
 * its parent's slots and cannot take them; a slot released is taken again
 * only after the grace; a question asked while another asks it waits for
 * it (and says so), a nested one on the same lock does not wait. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nodeconn.h"
#include "nodemeta.h"

#define CONN "postgresql://u:pw@127.0.0.1:5432/db"

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(p);
    return 0;
}

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char dir[64];
static struct nodemeta *nm;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/shimfs-tnodeconn-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(nodemeta_open(dir, CONN, &nm), 0);
}

static void teardown(void)
{
    nodemeta_close(nm);
    nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

START_TEST(test_cap_and_deadline)
{
    struct nodeconn *a, *b;
    ck_assert_int_eq(nodeconn_open(nm, 2, 0, &a), 0);
    ck_assert_int_eq(nodeconn_open(nm, 2, 0, &b), 0);
    const struct meta_conn_gate *ga = nodeconn_gate(a), *gb = nodeconn_gate(b);
    int s0 = ga->acquire(ga->arg, mono() + 1000000000LL);
    int s1 = gb->acquire(gb->arg, mono() + 1000000000LL);
    ck_assert(s0 >= 0 && s0 < 2 && s1 >= 0 && s1 < 2 && s0 != s1);
    ck_assert_int_eq(nodeconn_in_use(a), 2);
    ck_assert_int_eq(ga->contended(ga->arg), 0);
    /* a third, from either handle, waits until its deadline */
    int64_t t0 = mono();
    ck_assert_int_eq(ga->acquire(ga->arg, t0 + 100000000LL), -ETIMEDOUT);
    int64_t took = mono() - t0;
    ck_assert(took >= 100000000LL && took < 1000000000LL);
    ga->release(ga->arg, s0);
    ck_assert_int_eq(nodeconn_in_use(a), 1);
    /* taken again, but only after the grace of the closed connection */
    t0 = mono();
    int s2 = gb->acquire(gb->arg, t0 + 1000000000LL);
    ck_assert_int_eq(s2, s0);
    ck_assert(mono() - t0 >= 10000000LL);
    gb->release(gb->arg, s1);
    gb->release(gb->arg, s2);
    ck_assert_int_eq(nodeconn_in_use(a), 0);
    nodeconn_close(a);
    nodeconn_close(b);
}
END_TEST

/* A connection the server was seen to end (META_GATE_CLOSED): its slot
 * is taken again at once, without the grace a backend still exiting
 * would need; the agent's slot is its own. */
START_TEST(test_closed_no_grace_and_agent_slot)
{
    struct nodeconn *a, *b, *agent;
    ck_assert_int_eq(nodeconn_open(nm, 1, 0, &a), 0);
    ck_assert_int_eq(nodeconn_open(nm, 1, 0, &b), 0);
    const struct meta_conn_gate *ga = nodeconn_gate(a), *gb = nodeconn_gate(b);
    int s = ga->acquire(ga->arg, mono() + 1000000000LL);
    ck_assert_int_eq(s, 0);
    ga->release(ga->arg, s | META_GATE_CLOSED);
    ck_assert_int_eq(nodeconn_in_use(a), 0);
    int64_t t0 = mono();
    ck_assert_int_eq(gb->acquire(gb->arg, t0 + 1000000000LL), 0);
    ck_assert_msg(mono() - t0 < 10000000LL, "a slot closed for sure waited %lld ns",
                  (long long)(mono() - t0));
    gb->release(gb->arg, 0);
    nodeconn_close(a);
    nodeconn_close(b);

    /* 4 slots: the processes share 3, the agent has the last */
    ck_assert_int_eq(nodeconn_open(nm, 4, 0, &a), 0);
    ck_assert_int_eq(nodeconn_open(nm, 4, 1, &agent), 0);
    ga = nodeconn_gate(a);
    const struct meta_conn_gate *gg = nodeconn_gate(agent);
    int got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = ga->acquire(ga->arg, mono() + 1000000000LL);
        ck_assert(got[i] >= 0 && got[i] < 3);
    }
    ck_assert_int_eq(ga->acquire(ga->arg, mono() + 50000000LL), -ETIMEDOUT);
    ck_assert_int_eq(gg->acquire(gg->arg, mono() + 1000000000LL), 3);
    ck_assert_int_eq(nodeconn_in_use(a), 4);
    for (int i = 0; i < 3; i++)
        ga->release(ga->arg, got[i] | META_GATE_CLOSED);
    gg->release(gg->arg, 3 | META_GATE_CLOSED);
    nodeconn_close(a);
    nodeconn_close(agent);
}
END_TEST

/* A slot given back without the server seen to end its connection (a
 * process's exit does not wait for it): the next taker takes another free
 * slot at once rather than wait out that one's grace; only when every free
 * slot is in its grace does it wait. */
START_TEST(test_grace_slot_taken_last)
{
    struct nodeconn *a;
    ck_assert_int_eq(nodeconn_open(nm, 2, 0, &a), 0);
    const struct meta_conn_gate *ga = nodeconn_gate(a);
    int s = ga->acquire(ga->arg, mono() + 1000000000LL);
    ck_assert(s == 0 || s == 1);
    ga->release(ga->arg, s); /* in its grace now */
    int64_t t0 = mono();
    int t = ga->acquire(ga->arg, t0 + 1000000000LL);
    ck_assert_msg(t == 1 - s, "took slot %d (in its grace) while slot %d was free", t, 1 - s);
    ck_assert_msg(mono() - t0 < 10000000LL, "a free slot without grace waited %lld ns",
                  (long long)(mono() - t0));
    /* both in their grace: the taker waits for one */
    ga->release(ga->arg, t);
    t0 = mono();
    int u = ga->acquire(ga->arg, t0 + 1000000000LL);
    ck_assert(u == 0 || u == 1);
    ck_assert(mono() - t0 >= 10000000LL);
    ga->release(ga->arg, u | META_GATE_CLOSED);
    nodeconn_close(a);
}
END_TEST

struct waiter {
    const struct meta_conn_gate *g;
    int slot;
};

static void *wait_slot(void *arg)
{
    struct waiter *w = arg;
    w->slot = w->g->acquire(w->g->arg, mono() + 5000000000LL);
    return NULL;
}

START_TEST(test_waiter_seen_and_served)
{
    struct nodeconn *a, *b;
    ck_assert_int_eq(nodeconn_open(nm, 1, 0, &a), 0);
    ck_assert_int_eq(nodeconn_open(nm, 1, 0, &b), 0);
    const struct meta_conn_gate *ga = nodeconn_gate(a);
    int s = ga->acquire(ga->arg, mono() + 1000000000LL);
    ck_assert_int_eq(s, 0);
    struct waiter w = { nodeconn_gate(b), -100 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, wait_slot, &w), 0);
    int seen = 0;
    for (int i = 0; i < 500 && !seen; i++) {
        seen = ga->contended(ga->arg);
        usleep(2000);
    }
    ck_assert_msg(seen, "the holder never saw the waiter");
    ga->release(ga->arg, s);
    pthread_join(t, NULL);
    ck_assert_int_eq(w.slot, 0);
    ck_assert_int_eq(ga->contended(ga->arg), 0); /* nobody waits now */
    w.g->release(w.g->arg, w.slot);
    nodeconn_close(a);
    nodeconn_close(b);
}
END_TEST

START_TEST(test_fork_child_holds_nothing)
{
    struct nodeconn *a;
    ck_assert_int_eq(nodeconn_open(nm, 1, 0, &a), 0);
    const struct meta_conn_gate *g = nodeconn_gate(a);
    int s = g->acquire(g->arg, mono() + 1000000000LL);
    ck_assert_int_eq(s, 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        nodeconn_after_fork(a);
        /* the parent's slot is not the child's: it waits, then gives up */
        int rc = g->acquire(g->arg, mono() + 100000000LL);
        _exit(rc == -ETIMEDOUT ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(nodeconn_in_use(a), 1); /* and it took nothing from the parent */
    g->release(g->arg, s);
    ck_assert_int_eq(nodeconn_in_use(a), 0);
    nodeconn_close(a);
}
END_TEST

struct asker {
    uint64_t key;
    int waited, token;
};

static void *ask(void *arg)
{
    struct asker *q = arg;
    q->token = nodeconn_flight_begin(nm, q->key, &q->waited);
    nodeconn_flight_end(q->token);
    return NULL;
}

START_TEST(test_flights)
{
    int waited = -1;
    int tok = nodeconn_flight_begin(nm, 42, &waited);
    ck_assert(tok >= 0);
    ck_assert_int_eq(waited, 0);
    /* nested on the same lock: asked at once, never a wait for itself */
    int waited2 = -1;
    ck_assert_int_eq(nodeconn_flight_begin(nm, 42, &waited2), -EDEADLK);
    ck_assert_int_eq(waited2, 0);
    struct asker q = { 42, -1, -1 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, ask, &q), 0);
    usleep(50000);
    nodeconn_flight_end(tok);
    pthread_join(t, NULL);
    ck_assert(q.token >= 0);
    ck_assert_int_eq(q.waited, 1);
    /* once nobody asks, nobody waits */
    struct asker r = { 42, -1, -1 };
    ask(&r);
    ck_assert(r.token >= 0);
    ck_assert_int_eq(r.waited, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nodeconn");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 20);
    tcase_add_test(t, test_cap_and_deadline);
    tcase_add_test(t, test_waiter_seen_and_served);
    tcase_add_test(t, test_closed_no_grace_and_agent_slot);
    tcase_add_test(t, test_grace_slot_taken_last);
    tcase_add_test(t, test_fork_child_holds_nothing);
    tcase_add_test(t, test_flights);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

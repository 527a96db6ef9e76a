/* test_vfs_engine.c - the engine's fork handler (core/vfs/vfs_engine.c): a
 * child forked while parent threads hold the engine's locks, run its
 * threads and hold its batches gets every lock free, no thread, queue or
 * batch of the parent's, and what stays true (the open-inode table, the
 * caches' contents, the umask) kept. No volume is opened: no services. */
#include <check.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "vfs.h"
#include "vfs_engine.h"

/* Every mutex of the engine, listed here independently of the fork table
 * so a part missing from the table fails this test. */
static pthread_mutex_t *engine_locks(size_t i)
{
    pthread_mutex_t *all[] = {
        &vfs_eng.open.lock, &vfs_eng.stats.lock, &vfs_eng.mc.lock, &vfs_eng.opens.lock,
        &vfs_eng.dirseq.lock, &vfs_eng.subdirs.lock, &vfs_eng.session.lock, &vfs_eng.ids.lock,
        &vfs_eng.wb.lock, &vfs_eng.wb.recover,
    };
    return i < sizeof all / sizeof all[0] ? all[i] : NULL;
}

/* Run fn in a fork child after vfs_after_fork; its exit status. */
static int in_child(int (*fn)(void))
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        vfs_after_fork();
        _exit(fn());
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "the child did not exit (signal %d)", WTERMSIG(st));
    return WEXITSTATUS(st);
}

static int child_locks_free(void)
{
    int bad = 0;
    for (size_t i = 0; engine_locks(i); i++) {
        if (pthread_mutex_trylock(engine_locks(i)) != 0)
            bad |= 1 << i;
        else
            pthread_mutex_unlock(engine_locks(i));
    }
    return bad;
}

/* Held by parent threads at fork (as a statvfs or a cache fill in flight
 * would): free in the child. The statvfs figures' lock was not reset
 * before the engine held it. */
START_TEST(test_fork_frees_every_lock)
{
    for (size_t i = 0; engine_locks(i); i++)
        pthread_mutex_lock(engine_locks(i));
    int bad = in_child(child_locks_free);
    for (size_t i = 0; engine_locks(i); i++)
        pthread_mutex_unlock(engine_locks(i));
    ck_assert_msg(bad == 0, "locks still held in the child (bit i = engine_locks(i)): %#x", bad);
}
END_TEST

static int child_parent_work_gone(void)
{
    struct vfs_engine *e = &vfs_eng;
    int bad = 0;
    bad |= (e->session.thread || e->session.busy || e->session.cond_ready) << 0;
    bad |= (e->session.head != e->session.tail) << 1;
    bad |= (e->wb.thread || e->wb.busy || e->wb.head != e->wb.tail) << 2;
    bad |= (e->ids.next != e->ids.end || e->ids.sid) << 3;
    bad |= !e->session.exit_hooked << 4;      /* the inherited atexit handler stays */
    bad |= (e->opens.umask != 027 || !e->opens.umask_known) << 5;
    bad |= (e->mc.count != 7) << 6;           /* the caches still answer */
    return bad;
}

/* The parent's threads, queues and id batch are the parent's. */
START_TEST(test_fork_forgets_parent_work)
{
    struct vfs_engine *e = &vfs_eng;
    e->session.thread = e->session.busy = 1;
    e->session.exit_hooked = 1;
    e->session.head = 3;
    e->wb.thread = 1;
    e->wb.head = 2;
    e->wb.busy = 1;
    e->ids.next = 64;
    e->ids.end = 128;
    e->ids.sid = 9;
    e->opens.umask = 027;
    e->opens.umask_known = 1;
    e->mc.count = 7;
    int bad = in_child(child_parent_work_gone);
    ck_assert_msg(bad == 0, "parent state left in the child (bits): %#x", bad);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vfs_engine");
    TCase *tc = tcase_create("fork");
    tcase_add_test(tc, test_fork_frees_every_lock);
    tcase_add_test(tc, test_fork_forgets_parent_work);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

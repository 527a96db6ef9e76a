/* test_io_floor.c - the descriptor floor (core/io.c): what the engine makes
 * sits at IO_FD_FLOOR or above, and the hold on the low numbers is one for
 * the process, shared by overlapping holders. */
#include "io.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(fd_high_moves_a_low_number)
{
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_lt(fd, IO_FD_FLOOR);
    int high = io_fd_high(fd);
    ck_assert_int_ge(high, IO_FD_FLOOR);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* the low number is free again */
    ck_assert(fcntl(high, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(io_fd_high(-1), -1);
    ck_assert_int_eq(io_fd_high(high), high);
    close(high);
}
END_TEST

/* The race CI hit: one thread's hold ended while another's library call
 * was still making descriptors; with a hold per caller the second had
 * found nothing free to hold and its socketpair landed at 4. */
START_TEST(overlapping_holds_keep_the_numbers_until_the_last)
{
    struct io_low a, b;
    io_hold_low(&a);
    io_hold_low(&b);
    ck_assert_int_eq(io_release_low(&a), 0); /* the first holder is done; the second is not */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_ge(sv[0], IO_FD_FLOOR);
    ck_assert_int_ge(sv[1], IO_FD_FLOOR);
    ck_assert_int_eq(io_release_low(&b), 0);
    int fd = open("/dev/null", O_RDONLY);
    ck_assert_int_lt(fd, IO_FD_FLOOR); /* and the program has them back */
    close(fd);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(a_number_the_program_took_over_is_left_alone)
{
    char path[] = "/tmp/shimfs-io-floor-XXXXXX";
    int mine = mkstemp(path);
    ck_assert_int_ge(mine, 0);
    unlink(path);
    struct io_low was;
    io_hold_low(&was);
    /* the program dup2s onto a number the hold filled */
    ck_assert_int_eq(dup2(mine, 7), 7);
    ck_assert_int_eq(io_release_low(&was), 1);
    struct stat a, b;
    ck_assert_int_eq(fstat(7, &a), 0);
    ck_assert_int_eq(fstat(mine, &b), 0);
    ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    close(7);
    close(mine);
}
END_TEST

/* What CI caught next: the program closed a number of its own while a
 * background thread held the rest, and io_uring's ring took it. */
START_TEST(a_number_the_program_freed_during_the_hold_is_reported)
{
    int prog = open("/dev/zero", O_RDONLY); /* the program's, below the floor */
    ck_assert_int_lt(prog, IO_FD_FLOOR);
    struct io_low was;
    io_hold_low(&was);
    close(prog);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(sv[0], prog); /* the library's descriptor landed low */
    ck_assert_int_eq(io_release_low(&was), 1);
    close(sv[0]);
    close(sv[1]);
    io_hold_low(&was); /* and a hold where nothing changed says so */
    ck_assert_int_eq(io_release_low(&was), 0);
}
END_TEST

START_TEST(a_fork_child_starts_without_the_hold)
{
    struct io_low was;
    io_hold_low(&was);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_RDONLY);
        _exit(fd >= 0 && fd < IO_FD_FLOOR ? 0 : 1);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    io_release_low(&was);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_floor");
    TCase *tc = tcase_create("floor");
    tcase_add_test(tc, fd_high_moves_a_low_number);
    tcase_add_test(tc, overlapping_holds_keep_the_numbers_until_the_last);
    tcase_add_test(tc, a_number_the_program_took_over_is_left_alone);
    tcase_add_test(tc, a_number_the_program_freed_during_the_hold_is_reported);
    tcase_add_test(tc, a_fork_child_starts_without_the_hold);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

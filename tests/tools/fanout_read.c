/* fanout_read.c - one cold reader of the fan-out test
 * (tests/integration/test_meta_fanout.sh): small, so that hundreds of them
 * start at once on a 2-core machine.
 *
 *   fanout_read START_FD_WAIT N DIR...
 *
 * Waits until START_FD_WAIT (a fifo path, or "-") can be opened for reading
 * (the test opens its writing end when every reader has started: they begin
 * together), then, for every DIR, stat()s, open()s and reads to the end
 * the files DIR/f1 .. DIR/fN. Prints one line per failure ("path: call:
 * strerror") and, at the end, "ok FILES FIRST_MS TOTAL_MS" (milliseconds
 * from the start to its first file read whole, and to the last) or
 * "failed K of FILES"; exits 1 when anything failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fanout_one(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("%s: stat: %s\n", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: open: %s\n", path, strerror(errno));
        return -1;
    }
    char buf[65536];
    ssize_t n;
    long long total = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += n;
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err) {
        printf("%s: read: %s\n", path, strerror(err));
        return -1;
    }
    if (total != (long long)st.st_size) {
        printf("%s: read %lld bytes of %lld\n", path, total, (long long)st.st_size);
        return -1;
    }
    return 0;
}

static double fanout_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fanout_read START_FIFO|- N DIR...\n");
        return 2;
    }
    if (strcmp(argv[1], "-") != 0) {
        int fd = open(argv[1], O_RDONLY); /* blocks until the test opens it for writing */
        if (fd >= 0)
            close(fd);
    }
    double t0 = fanout_ms(), first = -1;
    int n = atoi(argv[2]), files = 0, failed = 0;
    for (int d = 3; d < argc; d++) {
        for (int k = 1; k <= n; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/f%d", argv[d], k);
            files++;
            int rc = fanout_one(path);
            failed += rc < 0;
            if (rc == 0 && first < 0)
                first = fanout_ms() - t0;
        }
    }
    if (failed)
        printf("failed %d of %d\n", failed, files);
    else
        printf("ok %d %.0f %.0f\n", files, first, fanout_ms() - t0);
    return failed ? 1 : 0;
}

/* tiny_files.c - durable small-file creation rate of one writer.
 *
 *   tiny_files DIR COUNT SIZE [fsync|sync|syncfs]
 * Creates DIR/fNNNNNN, COUNT files of SIZE bytes each, one after another:
 * open(O_CREAT|O_TRUNC) + write + (fsync if asked) + close, and with
 * `sync` one sync() after the last close (`syncfs`: one syncfs() of DIR,
 * which leaves the host's other file systems alone), inside the time
 * measured: then
 * every file is durable when the clock stops, as on a local file system
 * (through the shim a close's commit is visible at once but made durable
 * by fsync, sync or exit; with SHIMFS_SYNC_CLOSE=1 by each close). Prints
 * "COUNT files of SIZE bytes in S s = R files/s"; exit status 1 on the
 * first failure (named).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double tiny_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: tiny_files DIR COUNT SIZE [fsync|sync|syncfs]\n");
        return 2;
    }
    const char *dir = argv[1];
    long count = strtol(argv[2], NULL, 10), size = strtol(argv[3], NULL, 10);
    int fsync_each = argc > 4 && strcmp(argv[4], "fsync") == 0;
    int sync_end = argc > 4 && strcmp(argv[4], "sync") == 0;
    int syncfs_end = argc > 4 && strcmp(argv[4], "syncfs") == 0;
    if (count <= 0 || count > 10000000 || size < 0 || size > (64L << 20)) {
        fprintf(stderr, "tiny_files: bad COUNT or SIZE\n");
        return 2;
    }
    char *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return 1;
    /* incompressible bytes (xorshift64): zstd must not flatter the
     * inline rows' size */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (char)x;
    }
    char path[4096];
    double t0 = tiny_now();
    for (long i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/f%06ld", dir, i);
        memcpy(buf, &i, size >= (long)sizeof i ? sizeof i : (size_t)size); /* distinct files */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, (size_t)size) != size || (fsync_each && fsync(fd) < 0) ||
            close(fd) < 0) {
            fprintf(stderr, "tiny_files: %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    if (sync_end)
        sync();
    if (syncfs_end) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || syncfs(dfd) < 0) {
            fprintf(stderr, "tiny_files: syncfs %s: %s\n", dir, strerror(errno));
            return 1;
        }
        close(dfd);
    }
    double dt = tiny_now() - t0;
    printf("%ld files of %ld bytes in %.3f s = %.0f files/s\n", count, size, dt, count / dt);
    free(buf);
    return 0;
}

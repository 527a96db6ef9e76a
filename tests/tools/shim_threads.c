/* shim_threads.c - many threads reading the same files at once, for the
 * shim's integration test (tests/integration/test_shim_read.sh).
 *
 *   shim_threads [-t THREADS] [-r ROUNDS] ROOT REL...
 *
 * Every thread reads every file ROUNDS times, each thread with its own
 * access pattern (read() in 64 KiB steps, pread() at odd offsets and
 * sizes, a dup()ed descriptor with lseek, mmap), and hashes the bytes.
 * Prints "REL SIZE HASH" per file once all threads agree; exits 1 if any
 * thread saw different bytes or any call failed. Run it once on the volume
 * and once on a local copy: the outputs must be equal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)

struct job {
    const char *root;
    char **rels;
    int nfiles, rounds, id;
    uint64_t *hashes;          /* per file, first thread to finish sets it */
    int64_t *sizes;
    pthread_mutex_t *lock;
    int failures;
};

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Hash the whole file with the thread's pattern; -1 on error. */
static int hash_file(const char *path, int pattern, uint64_t *hash, int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    static __thread unsigned char buf[BUF_SIZE];
    uint64_t h = 0xcbf29ce484222325ull;
    int64_t total = 0;
    int rc = 0;
    if (pattern == 3 && st.st_size > 0) {
        unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = -1;
        } else {
            h = fnv(h, m, (size_t)st.st_size);
            total = st.st_size;
            munmap(m, (size_t)st.st_size);
        }
    } else if (pattern == 1) {
        size_t step = 37 * 1024 + 11;
        for (int64_t off = 0;; off += (int64_t)step) {
            ssize_t n = pread(fd, buf, step, off);
            if (n < 0) {
                rc = -1;
                break;
            }
            if (n == 0)
                break;
            h = fnv(h, buf, (size_t)n);
            total += n;
        }
    } else {
        int rfd = fd;
        if (pattern == 2) { /* a dup shares the position: read through both */
            rfd = dup(fd);
            if (rfd < 0 || lseek(fd, 0, SEEK_SET) != 0)
                rc = -1;
        }
        for (int turn = 0; rc == 0; turn++) {
            ssize_t n = read(turn % 2 ? fd : rfd, buf, 64 * 1024);
            if (n < 0)
                rc = -1;
            if (n <= 0)
                break;
            h = fnv(h, buf, (size_t)n);
            total += n;
        }
        if (rfd != fd && rfd >= 0)
            close(rfd);
    }
    close(fd);
    if (rc == 0 && total != st.st_size)
        rc = -1;
    *hash = h;
    *size = total;
    return rc;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    char path[8192];
    for (int r = 0; r < j->rounds; r++) {
        for (int k = 0; k < j->nfiles; k++) {
            int i = (k + j->id) % j->nfiles;
            snprintf(path, sizeof path, "%s/%s", j->root, j->rels[i]);
            uint64_t h;
            int64_t size;
            if (hash_file(path, (j->id + r) % 4, &h, &size) != 0) {
                fprintf(stderr, "thread %d: %s: %s\n", j->id, path, strerror(errno));
                __atomic_add_fetch(&j->failures, 1, __ATOMIC_RELAXED);
                continue;
            }
            pthread_mutex_lock(j->lock);
            if (j->sizes[i] < 0) {
                j->sizes[i] = size;
                j->hashes[i] = h;
            } else if (j->sizes[i] != size || j->hashes[i] != h) {
                fprintf(stderr, "thread %d: %s: bytes differ from another thread's\n", j->id, path);
                j->failures++;
            }
            pthread_mutex_unlock(j->lock);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 16, rounds = 2, opt;
    while ((opt = getopt(argc, argv, "t:r:")) != -1) {
        if (opt == 't')
            threads = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            return 2;
    }
    if (optind + 2 > argc || threads < 1 || threads > 256 || rounds < 1) {
        fprintf(stderr, "usage: shim_threads [-t THREADS] [-r ROUNDS] ROOT REL...\n");
        return 2;
    }
    int nfiles = argc - optind - 1;
    uint64_t *hashes = calloc((size_t)nfiles, sizeof *hashes);
    int64_t *sizes = malloc((size_t)nfiles * sizeof *sizes);
    struct job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    if (!hashes || !sizes || !jobs || !tids)
        return 1;
    for (int i = 0; i < nfiles; i++)
        sizes[i] = -1;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){ .root = argv[optind], .rels = argv + optind + 1, .nfiles = nfiles,
                                .rounds = rounds, .id = t, .hashes = hashes, .sizes = sizes,
                                .lock = &lock };
        if (pthread_create(&tids[t], NULL, worker, &jobs[t]) != 0)
            return 1;
    }
    int failures = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        failures += jobs[t].failures;
    }
    for (int i = 0; i < nfiles; i++)
        printf("%s %lld %016llx\n", argv[optind + 1 + i], (long long)sizes[i],
               (unsigned long long)hashes[i]);
    free(hashes);
    free(sizes);
    free(jobs);
    free(tids);
    return failures ? 1 : 0;
}

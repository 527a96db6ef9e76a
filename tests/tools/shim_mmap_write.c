/* shim_mmap_write.c - shared writable maps, step by step
 * (tests/integration/test_mmap_write.sh).
 *
 *   shim_mmap_write commit PATH SIZE HOW SEED READY GO
 *       maps PATH (O_RDWR, made SIZE bytes) MAP_SHARED, fills it with the
 *       pattern of SEED, then commits by HOW: msync (MS_SYNC), async
 *       (msync MS_ASYNC, then munmap once GO exists), munmap, closefirst
 *       (close the descriptor, write through the map, munmap), fsync,
 *       exit (leaves the map and the descriptor to exit). Creates READY
 *       after the commit point and waits (bounded, 30 s) for GO.
 *   shim_mmap_write check PATH SIZE SEED
 *       reads PATH with read() and with a fresh map: "read ok map ok" or
 *       the first bad offset of each.
 *   shim_mmap_write mix PATH OPS SEED
 *       mapped writes, write(), ftruncate, mapped reads and pread on one
 *       descriptor, a second open's long-lived map and a forked child's
 *       write through an inherited map, every byte checked against a
 *       model: "mix ok N" or the first difference.
 *   shim_mmap_write calls DIR
 *       what the kernel answers for maps of O_RDONLY / O_WRONLY files,
 *       mprotect(PROT_WRITE), MAP_PRIVATE writes, one line per call: the
 *       output on a local directory and on a volume directory must match.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)((i * 131u + seed * 7u + (i >> 12)) & 0xff);
}

static int die(const char *what)
{
    printf("%s: %s\n", what, strerror(errno));
    return 1;
}

static void wait_for(const char *path)
{
    for (int i = 0; i < 3000 && access(path, F_OK) != 0; i++)
        usleep(10000);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
}

static int cmd_commit(const char *path, size_t size, const char *how, unsigned seed,
                      const char *ready, const char *go)
{
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return die("open");
    if (ftruncate(fd, (off_t)size) < 0)
        return die("ftruncate");
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return die("mmap");
    int closefirst = strcmp(how, "closefirst") == 0;
    if (closefirst && close(fd) < 0)
        return die("close");
    for (size_t i = 0; i < size; i++)
        p[i] = pat(seed, i);
    int rc = 0;
    if (strcmp(how, "msync") == 0)
        rc = msync(p, size, MS_SYNC);
    else if (strcmp(how, "async") == 0)
        rc = msync(p, size, MS_ASYNC);
    else if (strcmp(how, "munmap") == 0 || closefirst)
        rc = munmap(p, size);
    else if (strcmp(how, "fsync") == 0)
        rc = fsync(fd);
    else if (strcmp(how, "exit") == 0) {
        printf("exit\n");
        exit(0); /* no munmap, no close: exit's commit */
    }
    if (rc < 0)
        return die(how);
    touch(ready);
    wait_for(go);
    if (strcmp(how, "async") == 0 && munmap(p, size) < 0)
        return die("munmap");
    if (!closefirst && close(fd) < 0)
        return die("close");
    printf("%s done\n", how);
    return 0;
}

static long first_bad(const unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, i))
            return (long)i;
    return -1;
}

static int cmd_check(const char *path, size_t size, unsigned seed)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return die("open");
    unsigned char *b = malloc(size + 1);
    size_t got = 0;
    ssize_t r;
    while (got < size + 1 && (r = read(fd, b + got, size + 1 - got)) > 0)
        got += (size_t)r;
    long bad = got != size ? (long)got : first_bad(b, size, seed);
    if (bad < 0)
        printf("read ok");
    else
        printf("read bad at %ld (got %zu bytes)", bad, got);
    unsigned char *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return die(" map");
    bad = first_bad(p, size, seed);
    if (bad < 0)
        printf(" map ok\n");
    else
        printf(" map bad at %ld\n", bad);
    munmap(p, size);
    free(b);
    close(fd);
    return 0;
}

/* ---- mix: one descriptor, every way in, against a model ---- */
#define MIX_MAX (300 * 1024)

static unsigned long mix_rand(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

static int mix_compare(const char *what, int op, const unsigned char *got,
                       const unsigned char *want, size_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[off + i]) {
            printf("op %d %s: byte %zu is %u, want %u\n", op, what, off + i, got[i], want[off + i]);
            return 1;
        }
    return 0;
}

static int cmd_mix(const char *path, int ops, unsigned long seed)
{
    unsigned char *model = calloc(1, MIX_MAX), *buf = malloc(MIX_MAX);
    size_t size = 0;
    long pg = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int fd2 = open(path, O_RDWR);
    if (fd < 0 || fd2 < 0)
        return die("open");
    /* the second open's map, kept across every op: coherent with the first */
    if (ftruncate(fd, MIX_MAX) < 0)
        return die("ftruncate");
    unsigned char *keep = mmap(NULL, MIX_MAX, PROT_READ, MAP_SHARED, fd2, 0);
    if (keep == MAP_FAILED)
        return die("mmap keep");
    if (ftruncate(fd, 0) < 0)
        return die("ftruncate");
    for (int op = 0; op < ops; op++) {
        size_t off = mix_rand(&seed) % (MIX_MAX - 1), n = 1 + mix_rand(&seed) % 20000;
        if (off + n > MIX_MAX)
            n = MIX_MAX - off;
        int kind = (int)(mix_rand(&seed) % 6);
        if (kind == 0) { /* write() at off */
            for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)mix_rand(&seed);
            if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
                return die("pwrite");
            memcpy(model + off, buf, n);
            if (off + n > size)
                size = off + n;
        } else if (kind == 1 && size > 0) { /* mapped write inside the file */
            off %= size;
            if (off + n > size)
                n = size - off;
            size_t base = off & ~(size_t)(pg - 1);
            unsigned char *p =
                mmap(NULL, off + n - base, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
            if (p == MAP_FAILED)
                return die("mmap write");
            for (size_t i = 0; i < n; i++)
                p[off - base + i] = model[off + i] = (unsigned char)mix_rand(&seed);
            if (msync(p, off + n - base, 0) < 0 || munmap(p, off + n - base) < 0)
                return die("msync/munmap");
        } else if (kind == 2) { /* ftruncate */
            size_t ns = mix_rand(&seed) % MIX_MAX;
            if (ftruncate(fd, (off_t)ns) < 0)
                return die("ftruncate");
            if (ns < size)
                memset(model + ns, 0, size - ns);
            size = ns;
        } else if (kind == 3 && size > 0) { /* mapped read */
            off %= size;
            if (off + n > size)
                n = size - off;
            size_t base = off & ~(size_t)(pg - 1);
            unsigned char *p = mmap(NULL, off + n - base, PROT_READ, MAP_SHARED, fd, (off_t)base);
            if (p == MAP_FAILED)
                return die("mmap read");
            int bad = mix_compare("map read", op, p + (off - base), model, off, n);
            munmap(p, off + n - base);
            if (bad)
                return 1;
        } else if (kind == 4) { /* pread through the second open */
            ssize_t r = pread(fd2, buf, n, (off_t)off);
            size_t want = off >= size ? 0 : (off + n > size ? size - off : n);
            if (r != (ssize_t)want) {
                printf("op %d pread: %zd bytes, want %zu\n", op, r, want);
                return 1;
            }
            if (mix_compare("pread", op, buf, model, off, want))
                return 1;
        } else if (kind == 5 && size > 0) { /* the long-lived map of the other open */
            off %= size;
            if (off + n > size)
                n = size - off;
            if (mix_compare("kept map", op, keep + off, model, off, n))
                return 1;
        }
        struct stat st;
        if (fstat(fd2, &st) < 0 || (size_t)st.st_size != size) {
            printf("op %d: fstat size %lld, want %zu\n", op, (long long)st.st_size, size);
            return 1;
        }
    }
    /* fork: the child writes through a map it inherited */
    if (size < 4096 && ftruncate(fd, 4096) == 0)
        size = 4096;
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return die("mmap fork");
    pid_t child = fork();
    if (child == 0) {
        memcpy(p, "child!", 6);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    memcpy(model, "child!", 6);
    if (mix_compare("after fork", ops, p, model, 0, 6) || munmap(p, size) < 0)
        return 1;
    munmap(keep, MIX_MAX);
    close(fd2);
    if (close(fd) < 0)
        return die("close");
    /* what was committed, read again through a new open */
    fd = open(path, O_RDONLY);
    ssize_t r = fd < 0 ? -1 : pread(fd, buf, MIX_MAX, 0);
    if (r != (ssize_t)size) {
        printf("reopen: %zd bytes, want %zu\n", r, size);
        return 1;
    }
    if (mix_compare("reopen", ops, buf, model, 0, size))
        return 1;
    close(fd);
    printf("mix ok %d\n", ops);
    return 0;
}

/* ---- calls: the kernel's answers ---- */
static void say(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : strerror(errno));
}

static int cmd_calls(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/calls", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || pwrite(fd, "0123456789", 10, 0) != 10 || close(fd) < 0)
        return die("setup");
    long pg = sysconf(_SC_PAGESIZE);
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY), rw = open(path, O_RDWR);
    void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    say("O_RDONLY shared writable map", p != MAP_FAILED);
    p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, ro, 0);
    say("O_RDONLY shared read map", p != MAP_FAILED);
    if (p != MAP_FAILED) {
        say("mprotect(PROT_WRITE) of it", mprotect(p, (size_t)pg, PROT_READ | PROT_WRITE) == 0);
        munmap(p, (size_t)pg);
    }
    p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    say("O_RDONLY private writable map", p != MAP_FAILED);
    if (p != MAP_FAILED) {
        memcpy(p, "PRIVATE", 7);
        munmap(p, (size_t)pg);
    }
    p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, wo, 0);
    say("O_WRONLY map", p != MAP_FAILED);
    p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
    say("O_RDWR private writable map", p != MAP_FAILED);
    if (p != MAP_FAILED) {
        memcpy(p, "private", 7);
        say("msync of it", msync(p, (size_t)pg, MS_SYNC) == 0);
        munmap(p, (size_t)pg);
    }
    p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    say("O_RDWR shared writable map", p != MAP_FAILED);
    if (p != MAP_FAILED) {
        memcpy((char *)p + 5, "ab", 2);
        say("msync MS_SYNC", msync(p, (size_t)pg, MS_SYNC) == 0);
        say("msync MS_ASYNC", msync(p, (size_t)pg, MS_ASYNC) == 0);
        say("msync MS_SYNC|MS_ASYNC", msync(p, (size_t)pg, MS_SYNC | MS_ASYNC) == 0);
        say("munmap", munmap(p, (size_t)pg) == 0);
    }
    char b[16] = { 0 };
    ssize_t n = pread(rw, b, sizeof b - 1, 0);
    printf("read back (same open): %zd \"%s\"\n", n, b);
    close(ro);
    close(wo);
    close(rw);
    ro = open(path, O_RDONLY);
    memset(b, 0, sizeof b);
    n = pread(ro, b, sizeof b - 1, 0);
    printf("read back (new open): %zd \"%s\"\n", n, b);
    close(ro);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 8 && strcmp(argv[1], "commit") == 0)
        return cmd_commit(argv[2], strtoul(argv[3], NULL, 0), argv[4],
                          (unsigned)strtoul(argv[5], NULL, 0), argv[6], argv[7]);
    if (argc == 5 && strcmp(argv[1], "check") == 0)
        return cmd_check(argv[2], strtoul(argv[3], NULL, 0), (unsigned)strtoul(argv[4], NULL, 0));
    if (argc == 5 && strcmp(argv[1], "mix") == 0)
        return cmd_mix(argv[2], atoi(argv[3]), strtoul(argv[4], NULL, 0));
    if (argc == 3 && strcmp(argv[1], "calls") == 0)
        return cmd_calls(argv[2]);
    fprintf(stderr, "usage: see the header of shim_mmap_write.c\n");
    return 2;
}

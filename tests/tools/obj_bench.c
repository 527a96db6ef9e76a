/* obj_bench.c - parallel PUT/GET throughput of the object store.
 *
 *   obj_bench URL COUNT SIZE_KIB [PARALLEL]
 * PUTs COUNT objects of SIZE_KIB KiB with one obj_batch, GETs them back
 * with another (and checks every byte), then deletes them. Prints MiB/s
 * and objects/s per phase; exit status 1 if anything failed.
 */
#include "log.h"
#include "objstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bench_phase(struct obj_store *st, const char *name, struct obj_request *r, int n,
                       size_t size)
{
    double t0 = bench_now();
    int rc = obj_batch(st, r, n);
    double dt = bench_now() - t0;
    double mib = (double)n * (double)size / (1024.0 * 1024.0);
    printf("%-6s %5d x %6zu KiB: %7.2f s  %8.1f MiB/s  %8.1f objects/s%s\n", name, n, size / 1024,
           dt, name[0] == 'D' ? 0.0 : mib / dt, n / dt, rc ? "  (FAILED)" : "");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: obj_bench URL COUNT SIZE_KIB [PARALLEL]\n");
        return 2;
    }
    log_configure(getenv("SHIMFS_LOG"));
    int n = atoi(argv[2]);
    size_t size = (size_t)atol(argv[3]) * 1024;
    struct obj_options o = { .max_retries = 6, .max_parallel = argc > 4 ? atoi(argv[4]) : 32 };
    struct obj_store *st;
    if (n <= 0 || size == 0 || obj_open(argv[1], &o, &st) != 0)
        return 2;
    unsigned char *data = malloc((size_t)n * size), *back = malloc((size_t)n * size);
    struct obj_request *r = calloc((size_t)n, sizeof *r);
    char (*keys)[64] = calloc((size_t)n, sizeof *keys);
    if (!data || !back || !r || !keys)
        return 2;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)n * size; i += 8) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        memcpy(data + i, &s, 8);
    }
    for (int i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "bench-%d/%06d", (int)getpid(), i);
        r[i] = (struct obj_request){ .op = OBJ_PUT, .key = keys[i], .buf = data + (size_t)i * size, .len = size };
    }
    int bad = bench_phase(st, "PUT", r, n, size) != 0;
    for (int i = 0; i < n; i++)
        r[i] = (struct obj_request){ .op = OBJ_GET, .key = keys[i], .buf = back + (size_t)i * size, .cap = size };
    bad |= bench_phase(st, "GET", r, n, size) != 0;
    bad |= memcmp(data, back, (size_t)n * size) != 0;
    for (int i = 0; i < n; i++)
        r[i] = (struct obj_request){ .op = OBJ_DELETE, .key = keys[i] };
    bad |= bench_phase(st, "DELETE", r, n, size) != 0;
    obj_close(st);
    free(data);
    free(back);
    free(r);
    free(keys);
    if (bad)
        fprintf(stderr, "obj_bench: some requests failed or read back wrong bytes\n");
    return bad;
}

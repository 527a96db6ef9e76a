/* obj_cli.c - drive the object store from the shell, one operation per
 * run: what tests/integration/sigv4_botocore.sh uses to make our client
 * send real requests.
 *
 *   obj_cli URL put KEY FILE        (FILE "-" = stdin)
 *   obj_cli URL get KEY [OFF LEN]   (bytes to stdout)
 *   obj_cli URL head KEY            (prints the size)
 *   obj_cli URL delete KEY
 *   obj_cli URL list [PREFIX]       (prints "SIZE KEY" lines)
 *   obj_cli URL rawlist QUERY       (GET the bucket with QUERY sent as is)
 *   obj_cli URL getloop KEY MS THREADS   (THREADS threads GET KEY again and
 *                                   again for MS milliseconds, one store:
 *                                   prints "gets=N failed=N fetches=N", the
 *                                   last being credential fetches)
 * Exit status 0 on success, 1 with "obj_cli: OP: strerror" on failure.
 */
#include "config.h"
#include "log.h"
#include "objstore.h"
#include "s3_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static int cli_fail(const char *op, long rc)
{
    fprintf(stderr, "obj_cli: %s: %s\n", op, strerror((int)-rc));
    return 1;
}

static char *cli_slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!f || !buf)
        return NULL;
    for (size_t r; (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap && !(buf = realloc(buf, cap *= 2)))
            return NULL;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static int cli_put(struct obj_store *st, const char *key, const char *path)
{
    size_t len = 0;
    char *data = cli_slurp(path, &len);
    if (!data)
        return cli_fail("put", -errno);
    int rc = obj_put(st, key, data, len);
    free(data);
    return rc ? cli_fail("put", rc) : 0;
}

static int cli_get(struct obj_store *st, const char *key, int argc, char **argv)
{
    uint64_t off = 0, size = 0;
    size_t len = 0;
    if (argc >= 2) {
        off = strtoull(argv[0], NULL, 10);
        len = strtoull(argv[1], NULL, 10);
        size = len;
    } else {
        int rc = obj_head(st, key, &size);
        if (rc)
            return cli_fail("get", rc);
    }
    char *buf = malloc(size ? size : 1);
    ssize_t n = buf ? obj_get(st, key, off, len, buf, size) : -ENOMEM;
    if (n >= 0)
        fwrite(buf, 1, (size_t)n, stdout);
    free(buf);
    return n < 0 ? cli_fail("get", n) : 0;
}

static int cli_print(void *arg, const char *key, uint64_t size)
{
    (void)arg;
    printf("%llu %s\n", (unsigned long long)size, key);
    return 0;
}

static int cli_rawlist(struct obj_store *st, const char *query)
{
    char *buf = malloc(1 << 20);
    ssize_t n = buf ? s3_debug_get_raw_query(st, query, buf, 1 << 20) : -ENOMEM;
    if (n >= 0)
        fwrite(buf, 1, (size_t)n, stdout);
    free(buf);
    return n < 0 ? cli_fail("rawlist", n) : 0;
}

struct cli_loop {
    struct obj_store *st;
    const char *key;
    struct timespec end;
    long gets, failed;
    int first_err;
};

static int cli_before(const struct timespec *end)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < end->tv_sec || (now.tv_sec == end->tv_sec && now.tv_nsec < end->tv_nsec);
}

/* Bounded by the end time and by 1e6 requests. */
static void *cli_loop_thread(void *arg)
{
    struct cli_loop *l = arg;
    char *buf = malloc(1 << 20);
    for (long i = 0; buf && i < 1000000 && cli_before(&l->end); i++) {
        ssize_t n = obj_get(l->st, l->key, 0, 0, buf, 1 << 20);
        __atomic_add_fetch(&l->gets, 1, __ATOMIC_RELAXED);
        if (n < 0) {
            __atomic_add_fetch(&l->failed, 1, __ATOMIC_RELAXED);
            int zero = 0;
            __atomic_compare_exchange_n(&l->first_err, &zero, (int)n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        }
    }
    free(buf);
    return NULL;
}

static int cli_getloop(struct obj_store *st, const char *key, long ms, int threads)
{
    struct cli_loop l = { .st = st, .key = key };
    pthread_t t[64];
    if (threads < 1 || threads > 64 || ms < 1)
        return 2;
    clock_gettime(CLOCK_MONOTONIC, &l.end);
    l.end.tv_sec += ms / 1000;
    l.end.tv_nsec += (ms % 1000) * 1000000L;
    if (l.end.tv_nsec >= 1000000000L) {
        l.end.tv_sec++;
        l.end.tv_nsec -= 1000000000L;
    }
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&t[started], NULL, cli_loop_thread, &l) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    printf("gets=%ld failed=%ld fetches=%llu\n", l.gets, l.failed,
           (unsigned long long)s3_debug_cred_fetches(st));
    if (l.first_err)
        cli_fail("getloop", l.first_err);
    return l.failed || started < threads ? 1 : 0;
}

static int cli_run(struct obj_store *st, const char *op, int argc, char **argv)
{
    uint64_t size;
    int rc;
    if (strcmp(op, "put") == 0 && argc == 2)
        return cli_put(st, argv[0], argv[1]);
    if (strcmp(op, "get") == 0 && (argc == 1 || argc == 3))
        return cli_get(st, argv[0], argc - 1, argv + 1);
    if (strcmp(op, "head") == 0 && argc == 1) {
        if ((rc = obj_head(st, argv[0], &size)))
            return cli_fail("head", rc);
        printf("%llu\n", (unsigned long long)size);
        return 0;
    }
    if (strcmp(op, "delete") == 0 && argc == 1)
        return (rc = obj_delete(st, argv[0])) ? cli_fail("delete", rc) : 0;
    if (strcmp(op, "list") == 0 && argc <= 1)
        return (rc = obj_list(st, argc ? argv[0] : "", cli_print, NULL)) ? cli_fail("list", rc) : 0;
    if (strcmp(op, "rawlist") == 0 && argc == 1)
        return cli_rawlist(st, argv[0]);
    if (strcmp(op, "getloop") == 0 && argc == 3)
        return cli_getloop(st, argv[0], atol(argv[1]), atoi(argv[2]));
    fprintf(stderr, "usage: obj_cli URL put KEY FILE | get KEY [OFF LEN] | head KEY |"
                    " delete KEY | list [PREFIX] | rawlist QUERY | getloop KEY MS THREADS\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct obj_store *st;
    log_configure(getenv("SHIMFS_LOG"));
    if (argc < 3)
        return cli_run(NULL, "", 0, NULL);
    /* the settings a volume's store takes from the environment */
    struct shimfs_config cfg;
    config_load(&cfg);
    struct obj_options oo = { .max_retries = -1, .payload = cfg.s3_payload };
    int rc = obj_open(argv[1], &oo, &st);
    if (rc)
        return cli_fail("open", rc);
    rc = cli_run(st, argv[2], argc - 3, argv + 3);
    obj_close(st);
    return rc;
}

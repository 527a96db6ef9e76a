/* test_objstore.c - the object store against real backends (Check).
 *
 * The same suite runs on a file:// bucket (a fresh temporary directory)
 * and on S3 (SHIMFS_TEST_S3_URL, credentials from AWS_*; every key under a
 * prefix unique to this run). A third case drives the S3 client against
 * tiny loopback HTTP servers run by the test itself, to count attempts:
 * 5xx retried, 4xx not, timeouts and refused connections bounded in time.
 * Build: cc -Icore ... tests/integration/test_objstore.c build/libshimfs-core.a
 *        $(pkg-config --libs libcurl expat libcrypto check) -lm -pthread
 */
#include "objstore.h"
#include "s3_internal.h"
#include "log.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_file_url[256];
static const char *g_url;           /* the backend of the running case */
static char g_run[64];              /* key prefix unique to this run */
static struct obj_store *g_st;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void key_of(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%s%s", g_run, what);
}

/* Bytes that depend on the key and the position, so a misplaced range or
 * a swapped object is noticed. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (unsigned char)(s >> 16);
    }
}

static void open_store(const char *url)
{
    struct obj_options o = { .max_retries = 3, .timeout_ms = 30000,
                             .connect_timeout_ms = 3000, .max_parallel = 16 };
    g_url = url;
    ck_assert_msg(url && *url, "SHIMFS_TEST_S3_URL is not set (scripts/services.sh start)");
    ck_assert_int_eq(obj_open(url, &o, &g_st), 0);
}

static void setup_file(void) { open_store(g_file_url); }
static void setup_s3(void) { open_store(getenv("SHIMFS_TEST_S3_URL")); }
static void teardown(void)
{
    obj_close(g_st);
    g_st = NULL;
}

static int is_s3(void) { return strncmp(g_url, "file:", 5) != 0; }

/* ---- the shared suite --------------------------------------------------- */

START_TEST(put_get_head_roundtrip)
{
    char key[256];
    size_t n = 1 << 20;
    unsigned char *data = malloc(n), *back = malloc(n);
    uint64_t size = 0;
    fill(data, n, 1);
    key_of(key, sizeof key, "rt/one");
    ck_assert_int_eq(obj_put(g_st, key, data, n), 0);
    ck_assert_int_eq(obj_head(g_st, key, &size), 0);
    ck_assert_uint_eq(size, n);
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, n), (ssize_t)n);
    ck_assert(memcmp(data, back, n) == 0);
    /* "Whole object" into a buffer one byte short must not truncate silently. */
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, n - 1), -EOVERFLOW);
    /* Objects are replaced whole. */
    ck_assert_int_eq(obj_put(g_st, key, "xyz", 3), 0);
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, n), 3);
    ck_assert(memcmp(back, "xyz", 3) == 0);
    free(data);
    free(back);
}
END_TEST

START_TEST(ranges)
{
    char key[256], empty[256];
    unsigned char data[10000], back[10000];
    fill(data, sizeof data, 2);
    key_of(key, sizeof key, "range/obj");
    key_of(empty, sizeof empty, "range/empty");
    ck_assert_int_eq(obj_put(g_st, key, data, sizeof data), 0);
    ck_assert_int_eq(obj_get(g_st, key, 1234, 1000, back, sizeof back), 1000);
    ck_assert(memcmp(back, data + 1234, 1000) == 0);
    ck_assert_int_eq(obj_get(g_st, key, 9990, 100, back, sizeof back), 10);   /* short at end */
    ck_assert(memcmp(back, data + 9990, 10) == 0);
    ck_assert_int_eq(obj_get(g_st, key, 10000, 100, back, sizeof back), 0);   /* at end */
    ck_assert_int_eq(obj_get(g_st, key, 20000, 100, back, sizeof back), 0);   /* past end */
    ck_assert_int_eq(obj_get(g_st, key, 9000, 0, back, sizeof back), 1000);   /* to the end */
    ck_assert(memcmp(back, data + 9000, 1000) == 0);
    ck_assert_int_eq(obj_get(g_st, key, 0, 100, back, 50), -EINVAL);         /* len > cap */
    /* An empty object: S3 answers a ranged GET with 416, which reads as 0. */
    ck_assert_int_eq(obj_put(g_st, empty, NULL, 0), 0);
    ck_assert_int_eq(obj_get(g_st, empty, 0, 10, back, sizeof back), 0);
    ck_assert_int_eq(obj_get(g_st, empty, 0, 0, back, sizeof back), 0);
    uint64_t size = 99;
    ck_assert_int_eq(obj_head(g_st, empty, &size), 0);
    ck_assert_uint_eq(size, 0);
}
END_TEST

START_TEST(missing_keys)
{
    char key[256];
    unsigned char b[16];
    uint64_t size;
    key_of(key, sizeof key, "missing/never-written");
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, b, sizeof b), -ENOENT);
    ck_assert_int_eq(obj_get(g_st, key, 5, 5, b, sizeof b), -ENOENT);
    ck_assert_int_eq(obj_head(g_st, key, &size), -ENOENT);
    ck_assert_int_eq(obj_delete(g_st, key), 0);
    ck_assert_int_eq(obj_put(g_st, key, "1", 1), 0);
    ck_assert_int_eq(obj_delete(g_st, key), 0);
    ck_assert_int_eq(obj_head(g_st, key, &size), -ENOENT);
    ck_assert_int_eq(obj_delete(g_st, key), 0);
    ck_assert_int_eq(obj_get(g_st, "", 0, 0, b, sizeof b), -EINVAL);
}
END_TEST

static const char *const odd_names[] = {
    "odd/with space/and  two.bin",
    "odd/na\xc3\xafve/\xc3\xa9 \xc3\xbc \xf0\x9f\x98\x80.bin",
    "odd/chars a+b=c&d%e~f,g;h@i(j)k!l'm*n$o",
    "odd/query?not#fragment",
};

struct collect {
    char keys[2048][128];
    uint64_t sizes[2048];
    int n, stop_at;
};

static int collect_cb(void *arg, const char *key, uint64_t size)
{
    struct collect *c = arg;
    if (c->n < 2048) {
        snprintf(c->keys[c->n], sizeof c->keys[0], "%s", key);
        c->sizes[c->n] = size;
    }
    c->n++;
    return c->stop_at && c->n >= c->stop_at ? 42 : 0;
}

START_TEST(keys_with_spaces_and_utf8)
{
    int n = (int)(sizeof odd_names / sizeof *odd_names);
    char key[256], prefix[256];
    unsigned char back[64];
    for (int i = 0; i < n; i++) {
        key_of(key, sizeof key, odd_names[i]);
        ck_assert_int_eq(obj_put(g_st, key, key, strlen(key)), 0);
        ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, sizeof back), (ssize_t)strlen(key) > 64 ? -EOVERFLOW : (ssize_t)strlen(key));
    }
    struct collect *c = calloc(1, sizeof *c);
    key_of(prefix, sizeof prefix, "odd/");
    ck_assert_int_eq(obj_list(g_st, prefix, collect_cb, c), 0);
    ck_assert_int_eq(c->n, n);
    for (int i = 0; i < n; i++) {
        int found = 0;
        key_of(key, sizeof key, odd_names[i]);
        for (int j = 0; j < c->n; j++)
            found |= strcmp(c->keys[j], key) == 0 && c->sizes[j] == strlen(key);
        ck_assert_msg(found, "key \"%s\" missing from the listing", key);
    }
    free(c);
}
END_TEST

/* 1,200 keys: more than one S3 page (1,000), so continuation is used. */
START_TEST(list_1200_keys)
{
    enum { N = 1200 };
    struct obj_request *r = calloc(N, sizeof *r);
    char (*keys)[128] = calloc(N, sizeof *keys);
    char prefix[256];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "%slist/k%05d", g_run, i);
        r[i] = (struct obj_request){ .op = OBJ_PUT, .key = keys[i], .buf = keys[i], .len = (size_t)(i % 7) };
    }
    ck_assert_int_eq(obj_batch(g_st, r, N), 0);
    struct collect *c = calloc(1, sizeof *c);
    key_of(prefix, sizeof prefix, "list/");
    ck_assert_int_eq(obj_list(g_st, prefix, collect_cb, c), 0);
    ck_assert_int_eq(c->n, N);
    for (int i = 0; i < N; i++) {
        ck_assert_str_eq(c->keys[i], keys[i]);          /* all there, in order */
        ck_assert_uint_eq(c->sizes[i], (uint64_t)(i % 7));
    }
    /* A narrower prefix, a prefix matching nothing, a callback that stops. */
    memset(c, 0, sizeof *c);
    key_of(prefix, sizeof prefix, "list/k0011");
    ck_assert_int_eq(obj_list(g_st, prefix, collect_cb, c), 0);
    ck_assert_int_eq(c->n, 10);
    ck_assert_str_eq(c->keys[0], keys[110]);
    memset(c, 0, sizeof *c);
    key_of(prefix, sizeof prefix, "list/nothing-here");
    ck_assert_int_eq(obj_list(g_st, prefix, collect_cb, c), 0);
    ck_assert_int_eq(c->n, 0);
    memset(c, 0, sizeof *c);
    c->stop_at = 1005;
    key_of(prefix, sizeof prefix, "list/");
    ck_assert_int_eq(obj_list(g_st, prefix, collect_cb, c), 42);
    ck_assert_int_eq(c->n, 1005);
    free(c);
    free(keys);
    free(r);
}
END_TEST

/* 100 PUTs and 100 GETs in parallel, one GET of a missing key among them. */
START_TEST(batch_parallel)
{
    enum { N = 100, SZ = 40000 };
    struct obj_request r[N + 1];
    static char keys[N + 1][128];
    unsigned char *data = malloc((size_t)N * SZ), *back = malloc((size_t)(N + 1) * SZ);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "%sbatch/%03d", g_run, i);
        fill(data + (size_t)i * SZ, SZ, 100 + (unsigned)i);
        r[i] = (struct obj_request){ .op = OBJ_PUT, .key = keys[i], .buf = data + (size_t)i * SZ, .len = SZ };
    }
    double t0 = now_s();
    ck_assert_int_eq(obj_batch(g_st, r, N), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(r[i].result, SZ);
    for (int i = 0; i < N; i++) {
        size_t off = (size_t)(i % 3) * 1000, len = i % 2 ? 0 : 5000;
        r[i] = (struct obj_request){ .op = OBJ_GET, .key = keys[i], .buf = back + (size_t)i * SZ,
                                     .cap = SZ, .len = len, .off = off };
    }
    snprintf(keys[N], sizeof keys[N], "%sbatch/missing", g_run);
    r[N] = (struct obj_request){ .op = OBJ_GET, .key = keys[N], .buf = back + (size_t)N * SZ, .cap = SZ };
    ck_assert_int_eq(obj_batch(g_st, r, N + 1), -ENOENT);
    for (int i = 0; i < N; i++) {
        size_t off = (size_t)(i % 3) * 1000, want = i % 2 ? SZ - off : 5000;
        ck_assert_int_eq(r[i].result, (ssize_t)want);
        ck_assert(memcmp(back + (size_t)i * SZ, data + (size_t)i * SZ + off, want) == 0);
    }
    ck_assert_int_eq(r[N].result, -ENOENT);
    for (int i = 0; i < N; i++)
        r[i] = (struct obj_request){ .op = OBJ_DELETE, .key = keys[i] };
    ck_assert_int_eq(obj_batch(g_st, r, N), 0);
    uint64_t size;
    ck_assert_int_eq(obj_head(g_st, keys[7], &size), -ENOENT);
    fprintf(stderr, "  %s: batch of %d PUT+GET+DELETE in %.2f s\n", g_url, N, now_s() - t0);
    free(data);
    free(back);
}
END_TEST

struct worker {
    int id;
    int errors;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[256];
    unsigned char data[3000], back[3000];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "%sthreads/%d/%d", g_run, w->id, i);
        fill(data, sizeof data, (unsigned)(w->id * 100 + i));
        if (obj_put(g_st, key, data, sizeof data) != 0 ||
            obj_get(g_st, key, 0, 0, back, sizeof back) != (ssize_t)sizeof back ||
            memcmp(data, back, sizeof data) != 0)
            w->errors++;
    }
    return NULL;
}

START_TEST(many_threads_one_store)
{
    enum { T = 8 };
    pthread_t t[T];
    struct worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (struct worker){ .id = i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
    }
}
END_TEST

START_TEST(fork_child_uses_fresh_connections)
{
    char key[256];
    unsigned char back[8];
    key_of(key, sizeof key, "fork/obj");
    ck_assert_int_eq(obj_put(g_st, key, "parent", 6), 0);
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, sizeof back), 6);
    uint64_t before = s3_debug_connections_opened(g_st);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        obj_after_fork(g_st);
        int ok = obj_get(g_st, key, 0, 0, back, sizeof back) == 6 && memcmp(back, "parent", 6) == 0 &&
                 obj_put(g_st, key, "parent", 6) == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's connection survived the child untouched. */
    ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, sizeof back), 6);
    if (is_s3())
        ck_assert_uint_eq(s3_debug_connections_opened(g_st), before);
}
END_TEST

START_TEST(connections_are_reused)
{
    char key[256];
    unsigned char back[8];
    if (!is_s3())
        return;
    key_of(key, sizeof key, "reuse/obj");
    ck_assert_int_eq(obj_put(g_st, key, "x", 1), 0);
    uint64_t before = s3_debug_connections_opened(g_st);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(obj_get(g_st, key, 0, 0, back, sizeof back), 1);
    ck_assert_uint_le(s3_debug_connections_opened(g_st) - before, 1);
}
END_TEST

/* ---- loopback servers: what the client does on failures ---------------- */

struct lb_reply {
    int status;                 /* 0: read the request, never answer */
    const char *body;
};

struct lb_server {
    int fd, port;
    pthread_t thread;
    const struct lb_reply *script;
    int nscript;
    int hits;                   /* requests received; atomic */
    int stop;                   /* atomic */
    int saw_auth;               /* some request had an Authorization header */
    int saw_sha;                /* every request had x-amz-content-sha256 */
};

/* Read one request (headers and Content-Length body); 0 when the client
 * closed, -1 on a timeout or a stop. */
static int lb_read_request(struct lb_server *s, int c, char *buf, size_t cap)
{
    size_t n = 0, need = 0;
    for (int waits = 0; waits < 200 && !__atomic_load_n(&s->stop, __ATOMIC_RELAXED); ) {
        struct pollfd p = { .fd = c, .events = POLLIN };
        if (poll(&p, 1, 50) == 0) {
            waits++;
            continue;
        }
        ssize_t r = recv(c, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && !need) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            need = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (need && n >= need)
            return 1;
    }
    return -1;
}

static void lb_answer(struct lb_server *s, int c, const char *req)
{
    int i = __atomic_fetch_add(&s->hits, 1, __ATOMIC_SEQ_CST);
    const struct lb_reply *r = &s->script[i < s->nscript ? i : s->nscript - 1];
    char head[256];
    if (strcasestr(req, "\r\nauthorization: AWS4-HMAC-SHA256 Credential="))
        s->saw_auth = 1;
    if (!strcasestr(req, "\r\nx-amz-content-sha256: "))
        s->saw_sha = 0;
    if (r->status == 0)
        return;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
                     "Content-Type: application/xml\r\n\r\n", r->status, strlen(r->body));
    if (send(c, head, (size_t)n, MSG_NOSIGNAL) < 0 || send(c, r->body, strlen(r->body), MSG_NOSIGNAL) < 0)
        return;
}

static void *lb_main(void *arg)
{
    struct lb_server *s = arg;
    static __thread char req[65536];
    while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
        struct pollfd p = { .fd = s->fd, .events = POLLIN };
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        while (lb_read_request(s, c, req, sizeof req) == 1)
            lb_answer(s, c, req);
        close(c);
    }
    return NULL;
}

static int lb_listen(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void lb_start(struct lb_server *s, const struct lb_reply *script, int n)
{
    memset(s, 0, sizeof *s);
    s->script = script;
    s->nscript = n;
    s->saw_sha = 1;
    s->fd = lb_listen(&s->port);
    ck_assert_int_eq(listen(s->fd, 16), 0);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, lb_main, s), 0);
}

static void lb_stop(struct lb_server *s)
{
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static struct obj_store *lb_open(struct lb_server *s, int retries, int timeout_ms)
{
    char url[128];
    struct obj_store *st;
    struct obj_options o = { .max_retries = retries, .timeout_ms = timeout_ms,
                             .connect_timeout_ms = 1000, .max_parallel = 4 };
    snprintf(url, sizeof url, "http://127.0.0.1:%d/bucket", s->port);
    ck_assert_int_eq(obj_open(url, &o, &st), 0);
    return st;
}

#define SLOWDOWN "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"

START_TEST(server_errors_are_retried)
{
    static const struct lb_reply script[] = { { 503, SLOWDOWN }, { 503, SLOWDOWN }, { 200, "hello" } };
    struct lb_server s;
    char buf[16];
    lb_start(&s, script, 3);
    struct obj_store *st = lb_open(&s, 6, 5000);
    ck_assert_int_eq(obj_get(st, "k", 0, 0, buf, sizeof buf), 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 3);
    ck_assert(s.saw_sha);
    obj_close(st);
    lb_stop(&s);
}
END_TEST

START_TEST(retries_are_bounded)
{
    static const struct lb_reply script[] = { { 500, "<Error><Code>InternalError</Code></Error>" } };
    struct lb_server s;
    char buf[16];
    lb_start(&s, script, 1);
    struct obj_store *st = lb_open(&s, 2, 5000);
    ck_assert_int_eq(obj_get(st, "k", 0, 0, buf, sizeof buf), -EIO);
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 3);
    obj_close(st);
    lb_stop(&s);
}
END_TEST

START_TEST(client_errors_are_final)
{
    static const struct lb_reply denied[] = { { 403, "<Error><Code>AccessDenied</Code></Error>" } };
    static const struct lb_reply nobucket[] = { { 404, "<Error><Code>NoSuchBucket</Code></Error>" } };
    static const struct lb_reply range[] = { { 416, "<Error><Code>InvalidRange</Code></Error>" } };
    struct lb_server s;
    char buf[16];
    uint64_t size;

    lb_start(&s, denied, 1);
    struct obj_store *st = lb_open(&s, 6, 5000);
    ck_assert_int_eq(obj_get(st, "k", 0, 0, buf, sizeof buf), -EACCES);
    ck_assert_int_eq(obj_put(st, "k", "x", 1), -EACCES);
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 2);
    obj_close(st);
    lb_stop(&s);

    lb_start(&s, nobucket, 1);
    st = lb_open(&s, 6, 5000);
    ck_assert_int_eq(obj_head(st, "k", &size), -ENOENT);
    ck_assert_int_eq(obj_delete(st, "k"), -ENOENT);     /* a missing bucket is not "done" */
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 2);
    obj_close(st);
    lb_stop(&s);

    lb_start(&s, range, 1);
    st = lb_open(&s, 6, 5000);
    ck_assert_int_eq(obj_get(st, "k", 0, 10, buf, sizeof buf), 0);
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 1);
    obj_close(st);
    lb_stop(&s);
}
END_TEST

START_TEST(silent_server_times_out)
{
    static const struct lb_reply script[] = { { 0, "" } };
    struct lb_server s;
    char buf[16];
    lb_start(&s, script, 1);
    struct obj_store *st = lb_open(&s, 1, 300);
    double t0 = now_s();
    ck_assert_int_eq(obj_get(st, "k", 0, 0, buf, sizeof buf), -ETIMEDOUT);
    double dt = now_s() - t0;
    ck_assert_msg(dt >= 0.6 && dt < 3.0, "two 300 ms attempts took %.2f s", dt);
    ck_assert_int_eq(__atomic_load_n(&s.hits, __ATOMIC_SEQ_CST), 2);
    obj_close(st);
    lb_stop(&s);
}
END_TEST

START_TEST(refused_connection_fails_fast)
{
    int port, fd = lb_listen(&port);
    close(fd);                  /* a loopback port with nobody listening */
    char url[128], buf[16];
    struct obj_store *st;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/bucket", port);
    ck_assert_int_eq(obj_open(url, NULL, &st), 0);      /* default: 6 retries */
    double t0 = now_s();
    ck_assert_int_eq(obj_get(st, "k", 0, 0, buf, sizeof buf), -ECONNREFUSED);
    struct obj_request r = { .op = OBJ_PUT, .key = "k", .buf = "x", .len = 1 };
    ck_assert_int_eq(obj_batch(st, &r, 1), -ECONNREFUSED);
    double dt = now_s() - t0;
    /* 6 backoffs of at most 50..1600 ms: 3.15 s each call at worst. */
    ck_assert_msg(dt < 7.0, "two refused requests took %.2f s", dt);
    obj_close(st);
}
END_TEST

START_TEST(signed_only_with_credentials)
{
    static const struct lb_reply ok[] = { { 200, "" } };
    struct lb_server s;
    lb_start(&s, ok, 1);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    /* No other source of the chain either: nothing read from $HOME, no
     * request to the link-local IMDS address (loopback only in tests). */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    struct obj_store *st = lb_open(&s, 0, 5000);
    ck_assert_int_eq(obj_put(st, "k", "x", 1), 0);
    ck_assert(!s.saw_auth && s.saw_sha);
    obj_close(st);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    st = lb_open(&s, 0, 5000);
    ck_assert_int_eq(obj_put(st, "k", "x", 1), 0);
    ck_assert(s.saw_auth && s.saw_sha);
    obj_close(st);
    lb_stop(&s);
}
END_TEST

/* ---- TLS: verified by default, AWS_CA_BUNDLE, tls_verify=0 --------------- */

/* A loopback HTTPS server (python's ssl + http.server) with a self-signed
 * certificate for 127.0.0.1, answering 200 "hello" to any GET. */
static const char tls_server_py[] =
    "import ssl, sys, os\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.send_header('Content-Length', '5')\n"
    "        self.end_headers(); self.wfile.write(b'hello')\n"
    "d = sys.argv[1]\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(d + '/cert.pem', d + '/key.pem')\n"
    "srv = ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "open(d + '/port.tmp', 'w').write(str(srv.server_address[1]))\n"
    "os.rename(d + '/port.tmp', d + '/port')\n"
    "import threading; threading.Timer(60, lambda: os._exit(3)).start()\n"
    "srv.serve_forever()\n";

struct tls_server {
    char dir[64];
    pid_t pid;
    int port;
};

static void tls_start(struct tls_server *t)
{
    char cmd[512], path[128];
    strcpy(t->dir, "/tmp/shimfs-objtls.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>/dev/null",
             t->dir, t->dir);
    ck_assert_int_eq(system(cmd), 0);
    t->pid = fork();
    ck_assert_int_ge(t->pid, 0);
    if (t->pid == 0) {
        execl("/usr/bin/python3", "python3", "-c", tls_server_py, t->dir, (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof path, "%s/port", t->dir);
    for (int i = 0; i < 100 && access(path, F_OK) != 0; i++)
        usleep(50000);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%d", &t->port), 1);
    fclose(f);
}

static void tls_stop(struct tls_server *t)
{
    char cmd[128];
    kill(t->pid, SIGTERM);
    waitpid(t->pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static ssize_t tls_get(struct tls_server *t, const char *query, char *buf, size_t cap)
{
    char url[160];
    struct obj_store *st;
    struct obj_options o = { .max_retries = 2, .timeout_ms = 5000, .connect_timeout_ms = 2000 };
    snprintf(url, sizeof url, "https://127.0.0.1:%d/bucket%s", t->port, query);
    ck_assert_int_eq(obj_open(url, &o, &st), 0);
    ssize_t n = obj_get(st, "k", 0, 0, buf, cap);
    obj_close(st);
    return n;
}

START_TEST(tls_is_verified)
{
    struct tls_server t;
    char buf[16], ca[128];
    tls_start(&t);
    unsetenv("AWS_CA_BUNDLE");
    ck_assert_int_eq(tls_get(&t, "", buf, sizeof buf), -EIO);               /* self-signed */
    snprintf(ca, sizeof ca, "%s/cert.pem", t.dir);
    setenv("AWS_CA_BUNDLE", ca, 1);
    ck_assert_int_eq(tls_get(&t, "", buf, sizeof buf), 5);                  /* trusted now */
    ck_assert(memcmp(buf, "hello", 5) == 0);
    setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem", 1);                      /* falls back */
    ck_assert_int_eq(tls_get(&t, "", buf, sizeof buf), -EIO);
    setenv("AWS_CA_BUNDLE", t.dir, 1);                                      /* a directory */
    ck_assert_int_eq(tls_get(&t, "", buf, sizeof buf), -EIO);
    unsetenv("AWS_CA_BUNDLE");
    ck_assert_int_eq(tls_get(&t, "?tls_verify=0", buf, sizeof buf), 5);     /* opted out */
    tls_stop(&t);
}
END_TEST

/* ---- wiring ------------------------------------------------------------- */

static void add_backend_tests(TCase *tc)
{
    tcase_add_test(tc, put_get_head_roundtrip);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, missing_keys);
    tcase_add_test(tc, keys_with_spaces_and_utf8);
    tcase_add_test(tc, list_1200_keys);
    tcase_add_test(tc, batch_parallel);
    tcase_add_test(tc, many_threads_one_store);
    tcase_add_test(tc, fork_child_uses_fresh_connections);
    tcase_add_test(tc, connections_are_reused);
    tcase_set_timeout(tc, 120);
}

static int file_cleanup_cb(void *arg, const char *key, uint64_t size)
{
    (void)size;
    return obj_delete(arg, key) == 0 ? 0 : 1;
}

/* A file:// bucket holds volume data: other users of the host must not
 * read it, whatever the umask (objects 0600, folders 0700). */
START_TEST(file_objects_are_private)
{
    char key[256], path[4096];
    unsigned char data[100];
    fill(data, sizeof data, 9);
    mode_t old = umask(0);
    key_of(key, sizeof key, "private/deep/obj");
    int rc = obj_put(g_st, key, data, sizeof data);
    umask(old);
    ck_assert_int_eq(rc, 0);
    const char *root = g_file_url + strlen("file://");
    char sub[256];
    snprintf(sub, sizeof sub, "%s", key);
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", root, key);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_msg((sb.st_mode & 07777) == 0600, "object mode %o", (unsigned)(sb.st_mode & 07777));
    for (char *s = strrchr(sub, '/'); s; s = strrchr(sub, '/')) {
        *s = '\0';
        snprintf(path, sizeof path, "%s/%s", root, sub);
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_msg((sb.st_mode & 07777) == 0700, "folder %s mode %o", path,
                      (unsigned)(sb.st_mode & 07777));
    }
    ck_assert_int_eq(obj_delete(g_st, key), 0);
}
END_TEST

/* Remove everything this run wrote (S3 bucket and temporary directory). */
static void cleanup_run(const char *url)
{
    struct obj_store *st;
    if (!url || obj_open(url, NULL, &st) != 0)
        return;
    obj_list(st, g_run, file_cleanup_cb, st);
    obj_close(st);
}

int main(void)
{
    char dir[] = "/tmp/shimfs-objtest.XXXXXX";
    log_configure(getenv("SHIMFS_LOG"));
    if (!mkdtemp(dir))
        return EXIT_FAILURE;
    snprintf(g_file_url, sizeof g_file_url, "file://%s", dir);
    snprintf(g_run, sizeof g_run, "objtest-%d-%ld/", (int)getpid(), (long)time(NULL));

    Suite *s = suite_create("objstore");
    TCase *file = tcase_create("file");
    tcase_add_checked_fixture(file, setup_file, teardown);
    add_backend_tests(file);
    tcase_add_test(file, file_objects_are_private);
    suite_add_tcase(s, file);
    TCase *s3 = tcase_create("s3");
    tcase_add_checked_fixture(s3, setup_s3, teardown);
    add_backend_tests(s3);
    suite_add_tcase(s, s3);
    TCase *net = tcase_create("loopback");
    tcase_add_test(net, server_errors_are_retried);
    tcase_add_test(net, retries_are_bounded);
    tcase_add_test(net, client_errors_are_final);
    tcase_add_test(net, silent_server_times_out);
    tcase_add_test(net, refused_connection_fails_fast);
    tcase_add_test(net, signed_only_with_credentials);
    tcase_add_test(net, tls_is_verified);
    tcase_set_timeout(net, 30);
    suite_add_tcase(s, net);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cleanup_run(getenv("SHIMFS_TEST_S3_URL"));
    cleanup_run(g_file_url);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

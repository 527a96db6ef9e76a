/* shim_tmpname.c - temporary names in the volume: mkstemp, mkstemp64,
 * mkostemp, mkostemp64, mkstemps, mkstemps64, mkostemps, mkostemps64,
 * mkdtemp.
 *
 * glibc's versions create the file with its internal open, which the shim
 * cannot see, so a template inside the volume is filled here: six random
 * characters, O_CREAT|O_EXCL (or mkdir), another name on EEXIST, a bounded
 * number of times. Host templates go to libc.
 */
#include "shim.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shim_ns.h"
#include "shim_open.h"
#include "shim_core.h"

#define SHIM_TMP_TRIES 1000
#define SHIM_TMP_X 6

static const char shim_tmp_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* Six fresh characters at x: getrandom, or (without it) the clock mixed
 * with the pid and a counter, which only has to differ between tries. */
static void shim_tmp_fill(char *x)
{
    unsigned char r[SHIM_TMP_X];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        static unsigned counter;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 32 ^
                     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0xBF58476D1CE4E5B9ULL;
        for (int i = 0; i < SHIM_TMP_X; i++, v >>= 8)
            r[i] = (unsigned char)v;
    }
    for (int i = 0; i < SHIM_TMP_X; i++)
        x[i] = shim_tmp_chars[r[i] % (sizeof shim_tmp_chars - 1)];
}

/* The XXXXXX of tmpl with suffixlen characters after it, or NULL. */
static char *shim_tmp_x(char *tmpl, int suffixlen)
{
    size_t n = strlen(tmpl);
    if (suffixlen < 0 || n < SHIM_TMP_X + (size_t)suffixlen)
        return NULL;
    char *x = tmpl + n - suffixlen - SHIM_TMP_X;
    return strncmp(x, "XXXXXX", SHIM_TMP_X) == 0 ? x : NULL;
}

/* One attempt at the name now in tmpl: a descriptor (file) or 0 (dir),
 * -EEXIST to try again, another -errno to give up. */
static int shim_tmp_try(const char *tmpl, int dir, int flags)
{
    struct shim_ns ns;
    int c = shim_ns_resolve(AT_FDCWD, tmpl, 0, &ns);
    if (c < 0)
        return c;
    if (c == 0) { /* the name left the volume since the first look: the host's */
        if (dir)
            return REAL(mkdir)(tmpl, 0700) < 0 ? -errno : 0;
        int fd = REAL(open)(tmpl, O_RDWR | O_CREAT | O_EXCL | flags, 0600);
        return fd < 0 ? -errno : fd;
    }
    if (dir) {
        c = SHIM_VFS_LOAD(mkdir, ns.t.vpath, 0700, ns.host, sizeof ns.host);
        if (c == VFS_ESCAPED)
            c = REAL(mkdir)(ns.host, 0700) < 0 ? -errno : 0;
        return c;
    }
    return shim_open_file(ns.t.vpath, O_RDWR | O_CREAT | O_EXCL | flags, 0600, NULL);
}

/* 1 when tmpl is in the volume (*ret: the descriptor, 0 or -errno);
 * 0: libc's. */
static int shim_tmp_make(char *tmpl, int suffixlen, int flags, int dir, int *ret)
{
    struct shim_ns ns;
    if (shim_ns_resolve(AT_FDCWD, tmpl, 0, &ns) == 0)
        return 0;
    char *x = shim_tmp_x(tmpl, suffixlen);
    if (!x) {
        *ret = -EINVAL;
        return 1;
    }
    int rc = -EEXIST;
    for (int i = 0; i < SHIM_TMP_TRIES && rc == -EEXIST; i++) {
        shim_tmp_fill(x);
        rc = shim_tmp_try(tmpl, dir, flags & ~O_ACCMODE);
    }
    if (rc < 0)
        memcpy(x, "XXXXXX", SHIM_TMP_X); /* as glibc: the template back as it was */
    *ret = rc;
    return 1;
}

#define SHIM_TMP_FILE(tmpl, suffixlen, flags, real_call)             \
    do {                                                            \
        int r_;                                                     \
        if (shim_str_is_null(tmpl) || !shim_tmp_make(tmpl, suffixlen, flags, 0, &r_)) \
            return real_call;                                       \
        return r_ < 0 ? shim_fail(r_) : r_;                         \
    } while (0)

SHIM_EXPORT int mkstemp(char *tmpl) { SHIM_TMP_FILE(tmpl, 0, 0, REAL(mkstemp)(tmpl)); }

SHIM_EXPORT int mkstemp64(char *tmpl) { SHIM_TMP_FILE(tmpl, 0, 0, REAL(mkstemp64)(tmpl)); }

SHIM_EXPORT int mkostemp(char *tmpl, int flags)
{
    SHIM_TMP_FILE(tmpl, 0, flags, REAL(mkostemp)(tmpl, flags));
}

SHIM_EXPORT int mkostemp64(char *tmpl, int flags)
{
    SHIM_TMP_FILE(tmpl, 0, flags, REAL(mkostemp64)(tmpl, flags));
}

SHIM_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
    SHIM_TMP_FILE(tmpl, suffixlen, 0, REAL(mkstemps)(tmpl, suffixlen));
}

SHIM_EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
    SHIM_TMP_FILE(tmpl, suffixlen, 0, REAL(mkstemps64)(tmpl, suffixlen));
}

SHIM_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
    SHIM_TMP_FILE(tmpl, suffixlen, flags, REAL(mkostemps)(tmpl, suffixlen, flags));
}

SHIM_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
    SHIM_TMP_FILE(tmpl, suffixlen, flags, REAL(mkostemps64)(tmpl, suffixlen, flags));
}

SHIM_EXPORT char *mkdtemp(char *tmpl)
{
    int r;
    if (shim_str_is_null(tmpl) || !shim_tmp_make(tmpl, 0, 0, 1, &r))
        return REAL(mkdtemp)(tmpl);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return tmpl;
}

/* shim_scandir.c - scandir, scandir64, scandirat, scandirat64 for volume
 * directories, rebuilt over the shim's own directory streams (glibc's
 * versions read through its internal getdents, which the shim cannot see).
 * Same contract: filtered, sorted with compar, malloc'ed entries.
 */
#include "shim.h"

#include <stdlib.h>
#include <string.h>

#include "shim_open.h"
#include "shim_resolve.h"

/* The caller's filter and comparison, in either ABI spelling. */
struct shim_scan_fns {
    shim_filter_fn filter;
    shim_compar_fn compar;
    shim_filter64_fn filter64;
    shim_compar64_fn compar64;
};

static int shim_scan_keep(const struct shim_scan_fns *fns, const struct dirent64 *e)
{
    if (fns->filter64)
        return fns->filter64(e);
    if (fns->filter)
        return fns->filter((const struct dirent *)e);
    return 1;
}

static int shim_scan_cmp(const void *a, const void *b, void *arg)
{
    const struct shim_scan_fns *fns = arg;
    if (fns->compar64)
        return fns->compar64((const struct dirent64 **)a, (const struct dirent64 **)b);
    return fns->compar((const struct dirent **)a, (const struct dirent **)b);
}

static void shim_scan_free(struct dirent64 **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Read every kept entry of an open stream; count or -errno. */
static int shim_scan_read(DIR *d, const struct shim_scan_fns *fns, struct dirent64 ***out)
{
    struct dirent64 **list = NULL;
    size_t n = 0, cap = 0;
    int saved = errno;
    for (;;) {
        errno = 0;
        struct dirent64 *e = readdir64(d);
        if (!e) {
            if (errno != 0) {
                int err = errno;
                shim_scan_free(list, n);
                return -err;
            }
            break;
        }
        if (!shim_scan_keep(fns, e))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct dirent64 **grown = realloc(list, ncap * sizeof *grown);
            if (!grown) {
                shim_scan_free(list, n);
                return -ENOMEM;
            }
            list = grown;
            cap = ncap;
        }
        list[n] = malloc(e->d_reclen);
        if (!list[n]) {
            shim_scan_free(list, n);
            return -ENOMEM;
        }
        memcpy(list[n++], e, e->d_reclen);
    }
    errno = saved;
    if (n > 1 && (fns->compar || fns->compar64))
        qsort_r(list, n, sizeof *list, shim_scan_cmp, (void *)fns);
    *out = list;
    return (int)n;
}

/* 1 when handled (*ret), 0: ask libc. */
static int shim_scan(int dirfd, const char *path, struct dirent64 ***out,
                     const struct shim_scan_fns *fns, int *ret)
{
    struct shim_target t;
    int c = shim_resolve(dirfd, path, SHIM_RESOLVE_ALIAS, &t);
    if (c == 0)
        return 0;
    int rc = c;
    if (c > 0) {
        rc = shim_open_file(t.vpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, NULL);
        if (rc >= 0) {
            DIR *d = fdopendir(rc);
            if (!d) {
                rc = -errno;
            } else {
                rc = shim_scan_read(d, fns, out);
                closedir(d);
            }
        }
    }
    *ret = rc < 0 ? shim_fail(rc) : rc;
    return 1;
}

SHIM_EXPORT int scandir(const char *path, struct dirent ***list, shim_filter_fn filter,
                        shim_compar_fn compar)
{
    struct shim_scan_fns fns = { .filter = filter, .compar = compar };
    int r;
    return shim_scan(AT_FDCWD, path, (struct dirent64 ***)list, &fns, &r)
               ? r
               : REAL(scandir)(path, list, filter, compar);
}

SHIM_EXPORT int scandir64(const char *path, struct dirent64 ***list, shim_filter64_fn filter,
                          shim_compar64_fn compar)
{
    struct shim_scan_fns fns = { .filter64 = filter, .compar64 = compar };
    int r;
    return shim_scan(AT_FDCWD, path, list, &fns, &r) ? r
                                                     : REAL(scandir64)(path, list, filter, compar);
}

SHIM_EXPORT int scandirat(int dirfd, const char *path, struct dirent ***list,
                          shim_filter_fn filter, shim_compar_fn compar)
{
    struct shim_scan_fns fns = { .filter = filter, .compar = compar };
    int r;
    return shim_scan(dirfd, path, (struct dirent64 ***)list, &fns, &r)
               ? r
               : REAL(scandirat)(dirfd, path, list, filter, compar);
}

SHIM_EXPORT int scandirat64(int dirfd, const char *path, struct dirent64 ***list,
                            shim_filter64_fn filter, shim_compar64_fn compar)
{
    struct shim_scan_fns fns = { .filter64 = filter, .compar64 = compar };
    int r;
    return shim_scan(dirfd, path, list, &fns, &r)
               ? r
               : REAL(scandirat64)(dirfd, path, list, filter, compar);
}

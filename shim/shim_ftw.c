/* shim_ftw.c - nftw, nftw64, ftw, ftw64 for trees that start in the
 * volume. glibc's walkers use internal opendir/stat calls the shim cannot
 * see, so the walk is redone over the public (interposed) functions with
 * the same contract: FTW_PHYS, FTW_MOUNT, FTW_DEPTH, FTW_CHDIR,
 * FTW_ACTIONRETVAL; FTW_F/D/DNR/NS/SL/SLN/DP; each directory visited once.
 *
 * Each directory's names are read in full and its stream closed before
 * descending, so the walk holds one directory stream at a time whatever
 * nopenfd says.
 */
#include "shim.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_resolve.h"

enum { SHIM_FTW_MAX_DEPTH = 4096 };

struct shim_ftw {
    int flags;
    int old_ftw;               /* ftw(): three-argument callback, old flag set */
    shim_nftw_fn nfn;
    shim_ftw_fn ofn;
    dev_t dev;                 /* FTW_MOUNT: the start's file system */
    void *visited;             /* tsearch tree of directory identities */
    char path[SHIM_PATH_MAX];
};

struct shim_ftw_id {
    dev_t dev;
    ino_t ino;
};

static int shim_ftw_id_cmp(const void *a, const void *b)
{
    const struct shim_ftw_id *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* 1 if (dev, ino) was seen before; records it otherwise. */
static int shim_ftw_seen(struct shim_ftw *w, const struct stat *st)
{
    struct shim_ftw_id key = { st->st_dev, st->st_ino };
    if (tfind(&key, &w->visited, shim_ftw_id_cmp))
        return 1;
    struct shim_ftw_id *id = malloc(sizeof *id);
    if (id) {
        *id = key;
        if (!tsearch(id, &w->visited, shim_ftw_id_cmp))
            free(id);
    }
    return 0;
}

static int shim_ftw_call(struct shim_ftw *w, const struct stat *st, int type, int base, int level)
{
    if (w->old_ftw) {
        /* ftw knows no SL, DP, SLN: they read as F, D, NS */
        static const int map[] = { [FTW_F] = FTW_F, [FTW_D] = FTW_D, [FTW_DNR] = FTW_DNR,
                                   [FTW_NS] = FTW_NS, [FTW_SL] = FTW_F, [FTW_DP] = FTW_D,
                                   [FTW_SLN] = FTW_NS };
        return w->ofn(w->path, st, map[type]);
    }
    struct FTW f = { .base = base, .level = level };
    return w->nfn(w->path, st, type, &f);
}

/* What the walk's system calls see: the full path, or the name alone once
 * FTW_CHDIR moved into its directory. */
static const char *shim_ftw_name(struct shim_ftw *w, int base)
{
    return (w->flags & FTW_CHDIR) ? w->path + base : w->path;
}

/* The names of a directory (without "." and ".."); NULL if unreadable. */
static char **shim_ftw_names(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent64 *e; (e = readdir64(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **grown = realloc(names, (cap + 1) * sizeof *grown);
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (!names)
        names = calloc(1, sizeof *names);
    *count = n;
    return names;
}

static void shim_ftw_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int shim_ftw_walk(struct shim_ftw *w, size_t len, int base, int level);

/* Walk the entries of directory w->path (already reported unless DEPTH). */
static int shim_ftw_children(struct shim_ftw *w, size_t len, int base, int level, char **names,
                             size_t n)
{
    int cwdfd = -1, rc = 0;
    if (w->flags & FTW_CHDIR) {
        cwdfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cwdfd < 0 || chdir(shim_ftw_name(w, base)) != 0) {
            if (cwdfd >= 0)
                close(cwdfd);
            return -1;
        }
    }
    int sep = len > 0 && w->path[len - 1] == '/' ? 0 : 1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t nl = strlen(names[i]);
        if (len + (size_t)sep + nl + 1 > sizeof w->path) {
            errno = ENAMETOOLONG;
            rc = -1;
            break;
        }
        if (sep)
            w->path[len] = '/';
        memcpy(w->path + len + sep, names[i], nl + 1);
        rc = shim_ftw_walk(w, len + (size_t)sep + nl, (int)(len + (size_t)sep), level + 1);
        if ((w->flags & FTW_ACTIONRETVAL) && rc == FTW_SKIP_SUBTREE)
            rc = 0;
        if ((w->flags & FTW_ACTIONRETVAL) && rc == FTW_SKIP_SIBLINGS) {
            rc = 0;
            break;
        }
    }
    w->path[len] = '\0';
    if (cwdfd >= 0) {
        int saved = errno;
        if (fchdir(cwdfd) != 0 && rc == 0)
            rc = -1;
        close(cwdfd);
        errno = saved;
    }
    return rc;
}

static int shim_ftw_dir(struct shim_ftw *w, const struct stat *st, size_t len, int base,
                        int level)
{
    if ((w->flags & FTW_MOUNT) && st->st_dev != w->dev)
        return 0;
    if (!(w->flags & FTW_PHYS) && shim_ftw_seen(w, st))
        return 0;
    size_t n = 0;
    char **names = level < SHIM_FTW_MAX_DEPTH ? shim_ftw_names(shim_ftw_name(w, base), &n) : NULL;
    if (!names)
        return shim_ftw_call(w, st, FTW_DNR, base, level);
    int rc = 0;
    if (!(w->flags & FTW_DEPTH)) {
        rc = shim_ftw_call(w, st, FTW_D, base, level);
        if ((w->flags & FTW_ACTIONRETVAL) && rc == FTW_SKIP_SUBTREE) {
            shim_ftw_free(names, n);
            return 0;
        }
    }
    if (rc == 0)
        rc = shim_ftw_children(w, len, base, level, names, n);
    shim_ftw_free(names, n);
    if (rc == 0 && (w->flags & FTW_DEPTH))
        rc = shim_ftw_call(w, st, FTW_DP, base, level);
    return rc;
}

static int shim_ftw_walk(struct shim_ftw *w, size_t len, int base, int level)
{
    struct stat st;
    const char *name = shim_ftw_name(w, base);
    int phys = w->flags & FTW_PHYS;
    if ((phys ? lstat(name, &st) : stat(name, &st)) != 0) {
        int err = errno;
        if (!phys && err == ENOENT && lstat(name, &st) == 0 && S_ISLNK(st.st_mode))
            return shim_ftw_call(w, &st, FTW_SLN, base, level);
        if (level == 0) {
            errno = err;
            return -1;
        }
        memset(&st, 0, sizeof st);
        return shim_ftw_call(w, &st, FTW_NS, base, level);
    }
    if (S_ISDIR(st.st_mode))
        return shim_ftw_dir(w, &st, len, base, level);
    return shim_ftw_call(w, &st, S_ISLNK(st.st_mode) ? FTW_SL : FTW_F, base, level);
}

static int shim_ftw_run(struct shim_ftw *w, const char *path)
{
    size_t len = strlen(path);
    if (len == 0) {
        errno = ENOENT;
        return -1;
    }
    if (len >= sizeof w->path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(w->path, path, len + 1);
    size_t end = len;
    while (end > 1 && path[end - 1] == '/')
        end--;
    int base = (int)end;
    while (base > 0 && path[base - 1] != '/')
        base--;
    struct stat st;
    if ((w->flags & FTW_MOUNT) && stat(path, &st) == 0)
        w->dev = st.st_dev;
    int cwdfd = -1;
    if ((w->flags & FTW_CHDIR) && base > 0) {
        char dir[SHIM_PATH_MAX];
        memcpy(dir, path, (size_t)base);
        dir[base] = '\0';
        cwdfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cwdfd < 0 || chdir(dir) != 0) {
            if (cwdfd >= 0)
                close(cwdfd);
            return -1;
        }
    }
    int rc = shim_ftw_walk(w, len, base, 0);
    if (cwdfd >= 0) {
        int saved = errno;
        if (fchdir(cwdfd) != 0 && rc == 0)
            rc = -1;
        close(cwdfd);
        errno = saved;
    }
    tdestroy(w->visited, free);
    if ((w->flags & FTW_ACTIONRETVAL) && (rc == FTW_SKIP_SUBTREE || rc == FTW_SKIP_SIBLINGS))
        rc = 0;
    return rc;
}

/* 1 when the start is in the volume (walked here, *ret set), 0: libc. */
static int shim_ftw_start(const char *path, struct shim_ftw *w, int *ret)
{
    struct shim_target t;
    int c = shim_resolve(AT_FDCWD, path, 0, &t);
    if (c == 0)
        return 0;
    *ret = c < 0 ? shim_fail(c) : shim_ftw_run(w, path);
    return 1;
}

static int shim_nftw_any(const char *path, shim_nftw_fn fn, int flags, int *ret)
{
    struct shim_ftw *w = calloc(1, sizeof *w);
    if (!w)
        return 0;
    w->nfn = fn;
    w->flags = flags;
    int handled = shim_ftw_start(path, w, ret);
    free(w);
    return handled;
}

static int shim_ftw_any(const char *path, shim_ftw_fn fn, int *ret)
{
    struct shim_ftw *w = calloc(1, sizeof *w);
    if (!w)
        return 0;
    w->ofn = fn;
    w->old_ftw = 1;
    int handled = shim_ftw_start(path, w, ret);
    free(w);
    return handled;
}

SHIM_EXPORT int nftw(const char *path, shim_nftw_fn fn, int nopenfd, int flags)
{
    int r;
    return shim_nftw_any(path, fn, flags, &r) ? r : REAL(nftw)(path, fn, nopenfd, flags);
}

SHIM_EXPORT int nftw64(const char *path, shim_nftw64_fn fn, int nopenfd, int flags)
{
    int r;
    /* struct stat64 is struct stat on this ABI */
    union { shim_nftw64_fn f64; shim_nftw_fn f; } u = { .f64 = fn };
    return shim_nftw_any(path, u.f, flags, &r) ? r : REAL(nftw64)(path, fn, nopenfd, flags);
}

SHIM_EXPORT int ftw(const char *path, shim_ftw_fn fn, int nopenfd)
{
    int r;
    return shim_ftw_any(path, fn, &r) ? r : REAL(ftw)(path, fn, nopenfd);
}

SHIM_EXPORT int ftw64(const char *path, shim_ftw64_fn fn, int nopenfd)
{
    int r;
    union { shim_ftw64_fn f64; shim_ftw_fn f; } u = { .f64 = fn };
    return shim_ftw_any(path, u.f, &r) ? r : REAL(ftw64)(path, fn, nopenfd);
}

/* shim_dl.c - dlopen and dlmopen of libraries stored in the volume.
 *
 * The dynamic loader opens files itself, so a volume library is handed to
 * it as its node-local copy (vfs_materialize: mirror root + canonical
 * volume path, verified, shared by the node's processes of the user,
 * replaced by rename so a mapped old copy stays valid). Before that, the
 * dependencies the loader would find in the volume (DT_NEEDED through
 * DT_RPATH, LD_LIBRARY_PATH and DT_RUNPATH entries inside the prefix,
 * $ORIGIN included; shim_elf.c reads the copies) are materialised too, and
 * loaded first, dependencies before dependents, by their copies' paths:
 * the loader then finds each by its soname among the loaded objects and
 * never searches a volume folder the kernel does not know. $ORIGIN in a
 * copy points into the mirror, where its neighbours are, so a dependency
 * without a soname is still found that way. A name without '/' is looked
 * for the same way when LD_LIBRARY_PATH or the caller's own search lists
 * name the volume, or the caller is itself a copy.
 *
 * Promises: any other name goes to libc's dlopen as a tail call, after a
 * prefix comparison (and, for a name without '/', a look at the caller's
 * search lists): the loader still sees the program's return address as
 * the caller, whose DT_RUNPATH and namespace such a name is searched
 * with. A volume library the engine cannot copy goes to the loader under
 * its own name, which then fails as without the shim (one log line says
 * why). At most SHIM_DL_MAX_OBJECTS libraries are walked per call. No
 * lock: concurrent calls share copies through the materialiser, which
 * publishes each by rename; a constructor may itself dlopen.
 */
#include "shim.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_core.h"
#include "shim_dl.h"
#include "shim_elf.h"
#include "shim_path.h"
#include "shim_resolve.h"

#define SHIM_DL_MAX_OBJECTS 128

/* One library of a closure: its copy, and the closure's libraries it needs. */
struct shim_dl_obj {
    char *copy;
    unsigned short deps[32];
    unsigned ndeps;
    int loaded;
};

struct shim_dl_walk {
    char root[SHIM_PATH_MAX];
    size_t rlen;
    int fresh;    /* for a program about to start: nothing is loaded yet */
    char lib[64]; /* $LIB */
    unsigned n;
    struct shim_dl_obj obj[SHIM_DL_MAX_OBJECTS];
};

/* What the probe of a search found. */
struct shim_dl_find {
    char path[SHIM_PATH_MAX]; /* the copy (volume) or the host file */
    int volume;
    int err;
};

/* $LIB as glibc expands it: the folder its libc came from, relative to "/"
 * or "/usr" ("lib/x86_64-linux-gnu" on Debian, "lib64" on Fedora). */
static void shim_dl_lib(char *out, size_t cap)
{
    Dl_info info;
    snprintf(out, cap, "lib");
    if (dladdr((void *)strlen, &info) && info.dli_fname && info.dli_fname[0] == '/') {
        const char *f = info.dli_fname, *slash = strrchr(f, '/');
        if (!strncmp(f, "/usr/", 5))
            f += 4;
        size_t n = (size_t)(slash - f);
        if (n > 1 && n < cap) {
            memcpy(out, f + 1, n - 1);
            out[n - 1] = '\0';
        }
    }
}

/* The probe of shim_elf_search: a volume candidate is taken when the
 * engine can copy it, a host one when it exists. */
static int shim_dl_probe(void *ctx, const char *path)
{
    struct shim_dl_find *f = ctx;
    struct shim_target t;
    int in = shim_resolve(AT_FDCWD, path, 0, &t);
    if (in < 0)
        return 0;
    if (in == 0) {
        struct stat st; /* the loader takes a file, and skips a folder */
        if (REAL(stat)(path, &st) != 0 || S_ISDIR(st.st_mode) || strlen(path) >= sizeof f->path)
            return 0;
        strcpy(f->path, path);
        f->volume = 0;
        return 1;
    }
    char host[SHIM_PATH_MAX];
    int rc = SHIM_VFS_LOAD(materialize, t.vpath, f->path, sizeof f->path, host, sizeof host);
    if (rc == VFS_ESCAPED) /* a volume symlink to the host */
        return shim_dl_probe(ctx, host);
    if (rc == 0) {
        f->volume = 1;
        return 1;
    }
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES || rc == -ELOOP || rc == -EISDIR)
        return 0; /* the loader would go on to the next folder too */
    f->err = rc;
    return rc;
}

/* The folder of a copy as a volume path (the prefix + its canonical
 * path), for $ORIGIN: the loader's $ORIGIN for the copy is the mirror
 * folder, whose files are copies of this volume folder's. */
static int shim_dl_origin(const struct shim_dl_walk *w, const char *copy, char *out, size_t cap)
{
    if (strncmp(copy, w->root, w->rlen) != 0 || copy[w->rlen] != '/')
        return -EINVAL;
    const char *v = copy + w->rlen;
    const char *slash = strrchr(v, '/');
    size_t vl = (size_t)(slash - v);
    if (shim_cfg.prefix_len + vl + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(out, shim_cfg.prefix, shim_cfg.prefix_len);
    memcpy(out + shim_cfg.prefix_len, v, vl);
    out[shim_cfg.prefix_len + vl] = '\0';
    return 0;
}

static int shim_dl_add(struct shim_dl_walk *w, const char *copy)
{
    for (unsigned i = 0; i < w->n; i++)
        if (!strcmp(w->obj[i].copy, copy))
            return (int)i;
    if (w->n == SHIM_DL_MAX_OBJECTS)
        return -E2BIG;
    char *c = strdup(copy);
    if (!c)
        return -ENOMEM;
    w->obj[w->n] = (struct shim_dl_obj){ .copy = c };
    return (int)w->n++;
}

/* True when a library of that name is loaded already: the loader takes
 * it (by name or soname) before any search. */
static int shim_dl_is_loaded(const char *name)
{
    void *h = REAL(dlopen)(name, RTLD_LAZY | RTLD_NOLOAD);
    if (!h) {
        (void)dlerror();
        return 0;
    }
    dlclose(h);
    return 1;
}

/* The volume dependencies of library i (mapped from its copy). */
static void shim_dl_scan(struct shim_dl_walk *w, unsigned i, struct shim_elf_dyn *d,
                         struct shim_dl_find *f)
{
    int fd = REAL(open)(w->obj[i].copy, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    void *map = MAP_FAILED;
    if (REAL(fstat)(fd, &st) == 0 && st.st_size > 0)
        map = REAL(mmap)(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    REAL(close)(fd);
    if (map == MAP_FAILED)
        return;
    int rc = shim_elf_parse(map, (size_t)st.st_size, d);
    if (rc < 0 && rc != -ENOEXEC)
        shim_log(SHIM_LOG_WARN, "dlopen: %s: %s; its dependencies are left to the loader",
                 w->obj[i].copy, strerror(-rc));
    char origin[SHIM_PATH_MAX];
    int have_origin = shim_dl_origin(w, w->obj[i].copy, origin, sizeof origin) == 0;
    struct shim_elf_search s = { .rpath = d->rpath,
                                 .runpath = d->runpath,
                                 .llp = getenv("LD_LIBRARY_PATH"),
                                 .origin = have_origin ? origin : NULL,
                                 .lib = w->lib,
                                 .platform = (const char *)getauxval(AT_PLATFORM) };
    for (unsigned k = 0; rc == 0 && k < d->n_needed; k++) {
        const char *name = d->needed[k];
        memset(f, 0, sizeof *f);
        int found = strchr(name, '/') ? shim_dl_probe(f, name)
                    : !w->fresh && shim_dl_is_loaded(name)
                        ? 0
                        : shim_elf_search(&s, name, shim_dl_probe, f);
        if (found != 1 || !f->volume)
            continue;
        int j = shim_dl_add(w, f->path);
        if (j >= 0 && j != (int)i && w->obj[i].ndeps < 32)
            w->obj[i].deps[w->obj[i].ndeps++] = (unsigned short)j;
    }
    munmap(map, (size_t)st.st_size);
}

/* Walk the closure of w->obj[0]: every library added is scanned once. */
static void shim_dl_walk_all(struct shim_dl_walk *w)
{
    struct shim_elf_dyn *d = malloc(sizeof *d);
    struct shim_dl_find *f = malloc(sizeof *f);
    if (d && f)
        for (unsigned i = 0; i < w->n; i++)
            shim_dl_scan(w, i, d, f);
    free(d);
    free(f);
}

/* Load the dependencies of the top (obj[0]) by their copies' paths,
 * dependencies first; a cycle is broken by loading what is left in order.
 * Handles to drop once the top is loaded (it holds them then) in hs. */
static unsigned shim_dl_load_deps(struct shim_dl_walk *w, int mode, void **hs)
{
    unsigned nh = 0, left = w->n - 1;
    int progress = 1;
    mode &= RTLD_LAZY | RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE | RTLD_DEEPBIND;
    while (left > 0) {
        int force = !progress;
        progress = 0;
        for (unsigned i = w->n - 1; i >= 1 && left > 0; i--) {
            struct shim_dl_obj *o = &w->obj[i];
            if (o->loaded)
                continue;
            int ready = 1;
            for (unsigned k = 0; k < o->ndeps; k++)
                ready &= o->deps[k] == i || o->deps[k] == 0 || w->obj[o->deps[k]].loaded;
            if (!ready && !force)
                continue;
            o->loaded = 1;
            left--;
            progress = 1;
            void *h = REAL(dlopen)(o->copy, mode);
            if (h)
                hs[nh++] = h;
            else
                (void)dlerror(); /* the top's own dlopen reports what is missing */
            if (force)
                break;
        }
    }
    return nh;
}

static void shim_dl_free(struct shim_dl_walk *w)
{
    for (unsigned i = 0; i < w->n; i++)
        free(w->obj[i].copy);
    free(w);
}

/* The mirror root into w (the engine is loaded). */
static int shim_dl_root(struct shim_dl_walk *w)
{
    int rc = SHIM_VFS_LOAD(materialize_root, w->root, sizeof w->root);
    if (rc < 0)
        return rc;
    w->rlen = strlen(w->root);
    shim_dl_lib(w->lib, sizeof w->lib);
    return 0;
}

/* SHIMFS_MIRROR (the mirror root) for libshimfs-audit.so in the programs
 * this process starts; 0 or -errno. From dlopen only, never while an exec
 * is being planned (see shim_dl_prepare_exec). */
static int shim_dl_export_root(void)
{
    static int done;
    char root[SHIM_PATH_MAX];
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return 0;
    int rc = SHIM_VFS_LOAD(materialize_root, root, sizeof root);
    if (rc < 0)
        return rc;
    /* setenv: once per process, from dlopen or exec of a volume file;
     * the audit library of the programs this process starts reads it. */
    const char *cur = getenv("SHIMFS_MIRROR");
    if ((!cur || strcmp(cur, root) != 0) && setenv("SHIMFS_MIRROR", root, 1) < 0)
        return -errno;
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return 0;
}

/* Materialise the closure of a found copy (w->obj[0] set) and load its
 * dependencies; the handles to drop after the top's load in *hs. */
static unsigned shim_dl_prepare(struct shim_dl_walk *w, int mode, void **hs)
{
    if (mode & RTLD_NOLOAD)
        return 0;
    shim_dl_walk_all(w);
    return shim_dl_load_deps(w, mode, hs);
}

/* A volume file (its copy or the loader's own failure), or a name the
 * slow path found nothing for. */
static void *shim_dl_open_slow(long lmid, const char *file, int mode, const void *caller);

/* Does `file` need the slow path? Volume paths do; a name without '/'
 * does when LD_LIBRARY_PATH or the caller's search lists name the volume,
 * or the caller is a copy (its $ORIGIN neighbours may not be made yet). */
static __attribute__((noinline)) int shim_dl_wanted(const char *file, const void *caller)
{
    shim_init();
    if (!file || shim_bypass() || !shim_cfg.enabled || shim_in_vfork_child())
        return 0;
    if (strchr(file, '/')) {
        if (file[0] == '/' && !shim_path_under(shim_cfg.prefix, shim_cfg.prefix_len, file) &&
            !shim_path_irregular(file))
            return 0;
        struct shim_target t;
        return shim_resolve(AT_FDCWD, file, 0, &t) == 1;
    }
    const char *llp = getenv("LD_LIBRARY_PATH");
    if (llp && strstr(llp, shim_cfg.prefix))
        return 1;
    Dl_info info;
    struct link_map *lm = NULL;
    if (!caller || !dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return 0;
    if (lm->l_name && !strncmp(lm->l_name, shim_cfg.cache_dir, strlen(shim_cfg.cache_dir)))
        return 1;
    struct shim_elf_dyn *d = malloc(sizeof *d);
    if (!d)
        return 0;
    shim_elf_parse_loaded(lm->l_ld, lm->l_addr, d);
    int want = (d->rpath && strstr(d->rpath, shim_cfg.prefix)) ||
               (d->runpath && strstr(d->runpath, shim_cfg.prefix));
    free(d);
    return want;
}

/* The caller's search lists, for a name without '/'. */
static void shim_dl_caller_search(const void *caller, struct shim_dl_walk *w,
                                  struct shim_elf_dyn *d, struct shim_elf_search *s, char *origin,
                                  size_t cap)
{
    Dl_info info;
    struct link_map *lm = NULL;
    memset(d, 0, sizeof *d);
    origin[0] = '\0';
    if (caller && dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
        shim_elf_parse_loaded(lm->l_ld, lm->l_addr, d);
        const char *file = lm->l_name;
        if (file && file[0] == '/') {
            if (w->rlen && shim_dl_origin(w, file, origin, cap) == 0) {
                /* a copy: its $ORIGIN stands for its volume folder */
            } else if (strlen(file) < cap) {
                strcpy(origin, file);
                *strrchr(origin, '/') = '\0';
            }
        }
    }
    *s = (struct shim_elf_search){ .rpath = d->rpath,
                                   .runpath = d->runpath,
                                   .llp = getenv("LD_LIBRARY_PATH"),
                                   .origin = origin[0] ? origin : NULL,
                                   .lib = w->lib,
                                   .platform = (const char *)getauxval(AT_PLATFORM) };
}

static void *shim_dl_real_open(long lmid, const char *file, int mode)
{
    return lmid == LM_ID_BASE ? REAL(dlopen)(file, mode) : REAL(dlmopen)(lmid, file, mode);
}

static void *shim_dl_open_slow(long lmid, const char *file, int mode, const void *caller)
{
    struct shim_dl_walk *w = calloc(1, sizeof *w);
    struct shim_dl_find *f = calloc(1, sizeof *f);
    if (!w || !f || shim_core_load() < 0 || shim_dl_root(w) < 0) {
        free(f);
        if (w)
            shim_dl_free(w);
        return shim_dl_real_open(lmid, file, mode);
    }
    int found;
    if (strchr(file, '/')) {
        found = shim_dl_probe(f, file);
        if (found == 0)
            f->err = -ENOENT;
    } else {
        struct shim_elf_dyn *d = malloc(sizeof *d);
        char origin[SHIM_PATH_MAX];
        struct shim_elf_search s;
        found = 0;
        if (d && !shim_dl_is_loaded(file)) {
            shim_dl_caller_search(caller, w, d, &s, origin, sizeof origin);
            found = shim_elf_search(&s, file, shim_dl_probe, f);
        }
        free(d);
    }
    const char *use = file;
    void *hs[SHIM_DL_MAX_OBJECTS];
    unsigned nh = 0;
    if (found == 1 && f->volume && shim_dl_add(w, f->path) == 0) {
        use = w->obj[0].copy;
        (void)shim_dl_export_root();
        if (lmid == LM_ID_BASE)
            nh = shim_dl_prepare(w, mode, hs);
    } else if (found == 1) {
        use = f->path; /* on the host, where the loader would find it */
    } else if (f->err && f->err != -ENOENT) {
        shim_log(SHIM_LOG_WARN, "dlopen %s: cannot copy it from the volume: %s", file,
                 strerror(-f->err));
    }
    void *h = shim_dl_real_open(lmid, use, mode);
    if (h && use != file && f->volume)
        shim_log(SHIM_LOG_DEBUG, "dlopen %s: loaded its copy %s", file, use);
    for (unsigned i = 0; i < nh; i++)
        dlclose(hs[i]); /* the top holds what it needs */
    free(f);
    shim_dl_free(w);
    return h;
}

void shim_dl_prepare_exec(const char *copy)
{
    if (shim_in_vfork_child())
        return; /* shares our memory: no allocation */
    struct shim_dl_walk *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->fresh = 1;
    /* No SHIMFS_MIRROR here: setenv may move the environ array that the
     * caller is passing to this very exec as envp (execvp, posix_spawn
     * with environ), freeing it under the exec. The child's audit library
     * finds the mirror itself (the cache folder's only volume) or gets
     * SHIMFS_MIRROR from an earlier dlopen of this process. */
    if (shim_dl_root(w) == 0 && shim_dl_add(w, copy) == 0)
        shim_dl_walk_all(w);
    shim_dl_free(w);
}

/* The pass-through is a tail call (-foptimize-sibling-calls, on at -O2;
 * forced here for builds at -O0) so that libc sees our caller's return
 * address: nothing on this frame may have its address taken. */
#define SHIM_DL_TAIL __attribute__((optimize("O2", "optimize-sibling-calls")))

SHIM_EXPORT SHIM_DL_TAIL void *dlopen(const char *file, int mode)
{
    const void *caller = __builtin_return_address(0);
    if (SHIM_LIKELY(!shim_dl_wanted(file, caller)))
        return REAL(dlopen)(file, mode);
    return shim_dl_open_slow(LM_ID_BASE, file, mode, caller);
}

SHIM_EXPORT SHIM_DL_TAIL void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
    const void *caller = __builtin_return_address(0);
    if (SHIM_LIKELY(!shim_dl_wanted(file, caller)))
        return REAL(dlmopen)(lmid, file, mode);
    return shim_dl_open_slow(lmid, file, mode, caller);
}

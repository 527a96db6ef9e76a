/* shim_audit.c - libshimfs-audit.so, the rtld-audit library (LD_AUDIT) that
 * lets the dynamic loader's own searches find libraries of the volume.
 *
 * The loader opens libraries itself, without the preload: a DT_NEEDED
 * found through a DT_RPATH, DT_RUNPATH or LD_LIBRARY_PATH entry inside
 * the prefix is a path the kernel does not know. A path inside
 * SHIMFS_PREFIX stands for the same path under the mirror root (the
 * node-local copies of core/vfs/vfs_materialize.c) when that copy exists.
 * The copy is made beforehand by the shim (its dlopen, and exec,
 * materialise a library and its dependencies); the audit library never
 * makes one: it runs in the loader's own namespace, before and beside the
 * program, and cannot reach the engine.
 *
 * Why the search is done here, at LA_SER_ORIG, rather than candidate by
 * candidate: after a candidate fails, glibc stat()s its folder and, the
 * volume folder being unknown to the kernel, never tries that folder
 * again in the process. So for a name without '/', la_objsearch runs the
 * loader's search itself (shim_elf_search: the requester's DT_RPATH,
 * LD_LIBRARY_PATH, its DT_RUNPATH) when one of those lists names the
 * volume, and hands the loader the copy's full path; a volume path with
 * '/' (a DT_NEEDED or dlopen path) becomes its copy's path the same way.
 * A host folder that holds the name first wins, as it would.
 *
 * Where the mirror root comes from: SHIMFS_MIRROR, which the shim exports
 * to the programs it starts once its engine knows the volume (shim_dl.c);
 * without it, the one volume folder of the cache folder's mirror tree
 * (SHIMFS_CACHE_DIR/exec/<volume uuid>, looked at the first time a search
 * names the volume); with several there, none.
 * The audit library reads it when the loader loads it, so it serves the
 * loader's searches of programs started by a shim process (and of any
 * process started with SHIMFS_MIRROR set); in the process whose shim set
 * it, the shim's dlopen makes the loader find the copies itself. Without
 * it, every name is left alone. (The audit namespace is hidden from the
 * program's dl_iterate_phdr and _r_debug, and dlsym from an auditor into
 * the program's objects crashes in glibc 2.36: there is no cheap channel
 * from a running shim to its own process's auditor.)
 *
 * Promises: libc only (with the pure shim_elf.c and shim_path.c compiled
 * in); for a program whose search lists do not name the volume, a few
 * string comparisons per library; never fails a search (a name it cannot
 * map is handed back as it came, and the loader goes on as without it);
 * reads the environment once, when the loader loads it.
 */
#include <dirent.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings.h"
#include "shim_elf.h"
#include "shim_path.h"

#define SHIM_AUDIT_PATH_MAX 4096
#define SHIM_AUDIT_EXPORT __attribute__((visibility("default")))

static char shim_audit_prefix[SHIM_AUDIT_PATH_MAX];
static size_t shim_audit_plen;
static char shim_audit_env_root[SHIM_AUDIT_PATH_MAX];
static int shim_audit_root_tried;
static const char *shim_audit_llp;
static int shim_audit_llp_vol; /* LD_LIBRARY_PATH names the volume */
static char shim_audit_lib[32] = "lib";

/* src without trailing '/' into dst; 0, or -1 if relative, "/" or too long. */
static int shim_audit_copy_dir(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    while (n > 1 && src[n - 1] == '/')
        n--;
    if (n < 2 || src[0] != '/' || n >= SHIM_AUDIT_PATH_MAX)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* $LIB: glibc's is the folder its own libc came from, relative to "/"
 * or "/usr" ("lib/x86_64-linux-gnu" on Debian, "lib64" on Fedora). */
static void shim_audit_init_lib(void)
{
    Dl_info info;
    if (!dladdr((void *)strlen, &info) || !info.dli_fname)
        return;
    const char *f = info.dli_fname, *slash = strrchr(f, '/');
    if (!slash)
        return;
    if (!strncmp(f, "/usr/", 5))
        f += 4;
    size_t n = (size_t)(slash - f);
    if (f[0] == '/' && n > 1 && n < sizeof shim_audit_lib) {
        memcpy(shim_audit_lib, f + 1, n - 1);
        shim_audit_lib[n - 1] = '\0';
    }
}

SHIM_AUDIT_EXPORT unsigned int la_version(unsigned int version)
{
    const char *p = secure_getenv("SHIMFS_PREFIX");
    if (!p || !*p)
        p = settings_default("SHIMFS_PREFIX");
    if (shim_path_prefix(p, shim_audit_prefix, sizeof shim_audit_prefix) == 0)
        shim_audit_plen = strlen(shim_audit_prefix);
    if (shim_audit_copy_dir(shim_audit_env_root, secure_getenv("SHIMFS_MIRROR")) < 0)
        shim_audit_env_root[0] = '\0';
    shim_audit_llp = secure_getenv("LD_LIBRARY_PATH");
    shim_audit_llp_vol =
        shim_audit_plen && shim_audit_llp && strstr(shim_audit_llp, shim_audit_prefix) != NULL;
    shim_audit_init_lib();
    return version < LAV_CURRENT ? version : LAV_CURRENT;
}

/* The mirror root when SHIMFS_MIRROR does not say: the only volume
 * folder of <cache folder>/exec/ (the cache folder as the shim finds it:
 * SHIMFS_CACHE_DIR, else the default root + the euid). */
static const char *shim_audit_root(void)
{
    if (shim_audit_env_root[0] || shim_audit_root_tried)
        return shim_audit_env_root;
    shim_audit_root_tried = 1;
    char dir[SHIM_AUDIT_PATH_MAX];
    const char *cache = secure_getenv("SHIMFS_CACHE_DIR");
    int n = cache && cache[0] == '/'
                ? snprintf(dir, sizeof dir, "%s/exec", cache)
                : snprintf(dir, sizeof dir, "%s%u/exec", SETTINGS_CACHE_ROOT, (unsigned)geteuid());
    if (n < 0 || (size_t)n >= sizeof dir)
        return shim_audit_env_root;
    DIR *d = opendir(dir);
    if (!d)
        return shim_audit_env_root;
    char found[256] = "";
    int count = 0;
    struct dirent *e;
    for (int k = 0; k < 64 && (e = readdir(d)); k++) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp") || strlen(e->d_name) >= sizeof found)
            continue;
        strcpy(found, e->d_name);
        count++;
    }
    closedir(d);
    size_t fl = strlen(found);
    if (count == 1 && (size_t)n + 1 + fl < sizeof shim_audit_env_root) {
        memcpy(shim_audit_env_root, dir, (size_t)n);
        shim_audit_env_root[n] = '/';
        memcpy(shim_audit_env_root + n + 1, found, fl + 1);
    }
    return shim_audit_env_root;
}

/* The copy of volume path `path` (absolute, under the prefix) when it
 * exists, allocated (the loader may keep the name it is given: one
 * allocation per library found in the volume); else NULL. */
static char *shim_audit_copy(const char *path)
{
    char norm[SHIM_AUDIT_PATH_MAX];
    const char *root = shim_audit_root();
    if (!root[0] || shim_path_normalize(path, norm, sizeof norm) < 0)
        return NULL;
    const char *v = shim_path_under(shim_audit_prefix, shim_audit_plen, norm);
    if (!v || !*v)
        return NULL;
    size_t rl = strlen(root), vl = strlen(v);
    char *out = malloc(rl + vl + 1);
    if (!out)
        return NULL;
    memcpy(out, root, rl);
    memcpy(out + rl, v, vl + 1);
    if (access(out, R_OK) == 0)
        return out;
    free(out);
    return NULL;
}

static int shim_audit_in_prefix(const char *path)
{
    return path[0] == '/' && !strncmp(path, shim_audit_prefix, shim_audit_plen) &&
           (path[shim_audit_plen] == '/' || path[shim_audit_plen] == '\0');
}

struct shim_audit_find {
    char *copy; /* the volume file's copy, when that is what was found */
};

static int shim_audit_probe(void *ctx, const char *path)
{
    struct shim_audit_find *f = ctx;
    if (path[0] == '/' && shim_audit_in_prefix(path))
        return (f->copy = shim_audit_copy(path)) != NULL;
    /* A host file the loader would take first (or a relative one, which
     * it would look for in the host working directory); not a folder. */
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* A name without '/' needed by `req`: its copy when the loader's search
 * for it reaches a volume folder holding it, else NULL. */
static char *shim_audit_search(const char *name, struct link_map *req)
{
    struct shim_elf_dyn d;
    shim_elf_parse_loaded(req->l_ld, req->l_addr, &d);
    const char *file = req->l_name && req->l_name[0] ? req->l_name : NULL;
    /* Most programs' lists never name the volume: decide that before any
     * system call. */
    int vol = shim_audit_llp_vol || (d.rpath && strstr(d.rpath, shim_audit_prefix)) ||
              (d.runpath && strstr(d.runpath, shim_audit_prefix)) ||
              (file && shim_audit_in_prefix(file));
    if (!vol)
        return NULL;
    char origin[SHIM_AUDIT_PATH_MAX] = "";
    char exe[SHIM_AUDIT_PATH_MAX];
    if (!file) { /* the main program */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            file = exe;
        }
    }
    if (file && file[0] == '/' && strlen(file) < sizeof origin) {
        strcpy(origin, file);
        *strrchr(origin, '/') = '\0';
        if (!origin[0])
            strcpy(origin, "/");
    }
    struct shim_elf_search s = { .rpath = d.rpath,
                                 .runpath = d.runpath,
                                 .llp = shim_audit_llp,
                                 .origin = origin[0] ? origin : NULL,
                                 .lib = shim_audit_lib,
                                 .platform = (const char *)getauxval(AT_PLATFORM) };
    struct shim_audit_find f = { NULL };
    return shim_elf_search(&s, name, shim_audit_probe, &f) == 1 ? f.copy : NULL;
}

SHIM_AUDIT_EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    (void)lmid;
    *cookie = (uintptr_t)map;
    return 0;
}

SHIM_AUDIT_EXPORT char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    if (shim_audit_plen == 0 || !name)
        return (char *)name;
    char *copy = NULL;
    if (strchr(name, '/')) {
        if (shim_audit_in_prefix(name))
            copy = shim_audit_copy(name);
    } else if (flag == LA_SER_ORIG && cookie && *cookie) {
        copy = shim_audit_search(name, (struct link_map *)*cookie);
    }
    return copy ? copy : (char *)name;
}

/* objstore_file.c - the file:// backend: a directory tree with S3's keys.
 *
 * Key "a/b/c" is the file DIR/a/b/c. Promises: a put is all or nothing
 * (written aside as DIR/a/b/.shimfs-tmp.XXXXXX, fsynced, renamed, then the
 * directory fsynced so the name survives a crash); a get never sees half
 * an object; list yields keys in the same byte order as S3; deleting a
 * missing key succeeds. Keys with empty, "." or ".." components would
 * escape or alias the tree, so they are -EINVAL here. A key cannot be both
 * an object and the "directory" of other keys (S3 allows it; we never
 * make such keys). The tree holds volume data: objects are 0600 and
 * folders 0700 whatever the umask, so only the bucket's owner (the user
 * the volume's processes run as, see docs/design.md) can read them.
 */
#include "objstore_internal.h"
#include "log.h"
#include "io.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OBJ_TMP_PREFIX ".shimfs-tmp."
#define OBJ_FILE_THREADS 16

struct obj_file {
    char root[PATH_MAX];
};

static struct obj_file *obj_file_of(struct obj_store *st) { return st->priv; }

static int obj_file_open(struct obj_store *st)
{
    struct obj_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    snprintf(f->root, sizeof f->root, "%s", st->url.path);
    if (mkdir(f->root, 0700) != 0 && errno != EEXIST) {
        int rc = -errno;
        log_error("objstore", "%s: cannot create the bucket directory: %s", st->desc, strerror(-rc));
        free(f);
        return rc;
    }
    st->priv = f;
    return 0;
}

static void obj_file_close(struct obj_store *st) { free(st->priv); }

/* Nothing is shared with the parent but plain paths. */
static void obj_file_after_fork(struct obj_store *st) { (void)st; }

static int obj_file_key_ok(const char *key)
{
    const char *c = key;
    for (;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return -EINVAL;
        if (strncmp(c, OBJ_TMP_PREFIX, strlen(OBJ_TMP_PREFIX)) == 0)
            return -EINVAL;     /* would hide among our temporary files */
        if (!c[n])
            return 0;
        c += n + 1;
    }
}

static int obj_file_path(struct obj_store *st, const char *key, char *out)
{
    assert(st && key && *key && out); /* obj_check_key refused the rest */
    int rc = obj_file_key_ok(key);
    if (rc)
        return rc;
    int n = snprintf(out, PATH_MAX, "%s/%s", obj_file_of(st)->root, key);
    return n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

/* A key that runs through a regular file, or names a directory, is simply
 * not an object. */
static int obj_file_missing(int err)
{
    return err == ENOENT || err == ENOTDIR || err == EISDIR;
}

static ssize_t obj_file_get(struct obj_store *st, const char *key, uint64_t off,
                            size_t len, void *buf, size_t cap)
{
    char path[PATH_MAX];
    struct stat sb;
    assert((buf || cap == 0) && len <= cap); /* obj_get refused the rest */
    int rc = obj_file_path(st, key, path);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return obj_file_missing(errno) ? -ENOENT : -errno;
    ssize_t got;
    if (fstat(fd, &sb) != 0)
        got = -errno;
    else if (!S_ISREG(sb.st_mode))
        got = -ENOENT;
    else if (len == 0 && (uint64_t)sb.st_size > off && (uint64_t)sb.st_size - off > cap)
        got = -EOVERFLOW;       /* "whole object" does not fit the buffer */
    else
        got = io_pread_full(fd, buf, len ? len : cap, off);
    close(fd);
    return got;
}

/* mkdir -p of every directory above the object in path (inside root). */
static int obj_file_mkparents(const char *root, char *path)
{
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        int rc = mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -errno;
        *s = '/';
        if (rc)
            return rc;
    }
    return 0;
}

static int obj_file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int obj_file_write_tmp(char *tmp, const void *data, size_t len)
{
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* mkostemp made it 0600, which is what it keeps */
    int rc = io_write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

static int obj_file_put(struct obj_store *st, const char *key, const void *data, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = obj_file_path(st, key, path);
    if (rc == 0)
        rc = obj_file_mkparents(obj_file_of(st)->root, path);
    if (rc)
        goto out;
    char *slash = strrchr(path, '/');
    snprintf(tmp, sizeof tmp, "%.*s/" OBJ_TMP_PREFIX "XXXXXX", (int)(slash - path), path);
    rc = obj_file_write_tmp(tmp, data, len);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        goto out;
    }
    *slash = '\0';
    rc = obj_file_fsync_dir(path);
out:
    if (rc)
        log_error("objstore", "PUT %s in %s: %s", key, st->desc, strerror(-rc));
    return rc;
}

static int obj_file_head(struct obj_store *st, const char *key, uint64_t *size)
{
    char path[PATH_MAX];
    struct stat sb;
    int rc = obj_file_path(st, key, path);
    if (rc)
        return rc;
    if (stat(path, &sb) != 0)
        return obj_file_missing(errno) ? -ENOENT : -errno;
    if (!S_ISREG(sb.st_mode))
        return -ENOENT;
    *size = (uint64_t)sb.st_size;
    return 0;
}

static int obj_file_del(struct obj_store *st, const char *key)
{
    char path[PATH_MAX];
    int rc = obj_file_path(st, key, path);
    if (rc)
        return rc;
    if (unlink(path) != 0 && !obj_file_missing(errno)) {
        rc = -errno;
        log_error("objstore", "DELETE %s in %s: %s", key, st->desc, strerror(-rc));
    }
    return rc;
}

/* ---- list: a depth-first walk whose order is S3's byte order ---------- */

struct obj_walk {
    obj_list_cb cb;
    void *arg;
    char key[PATH_MAX];         /* the key being built, relative to root */
};

struct obj_dent {
    char *sortname;             /* name, plus '/' for a directory */
    int is_dir;
};

/* Sorting "x/" rather than "x" for a directory puts its keys exactly where
 * S3 would: "a-b" < "a/c" because '-' < '/'. */
static int obj_dent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct obj_dent *)a)->sortname, ((const struct obj_dent *)b)->sortname);
}

static int obj_dent_is_dir(int dfd, struct dirent *de, int *is_dir)
{
    struct stat sb;
    if (de->d_type != DT_UNKNOWN) {
        *is_dir = de->d_type == DT_DIR;
        return de->d_type == DT_DIR || de->d_type == DT_REG;
    }
    if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    *is_dir = S_ISDIR(sb.st_mode);
    return S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode);
}

static void obj_dents_free(struct obj_dent *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].sortname);
    free(v);
}

/* The entries of an open directory that may hold keys starting with
 * `filter`, sorted. */
static int obj_dents_read(DIR *d, const char *filter, struct obj_dent **out, int *count)
{
    struct obj_dent *v = NULL;
    int n = 0, cap = 0, rc = 0;
    size_t flen = strlen(filter);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        int is_dir = 0;
        if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0 ||
                                     strncmp(de->d_name, OBJ_TMP_PREFIX, strlen(OBJ_TMP_PREFIX)) == 0))
            continue;
        if (strncmp(de->d_name, filter, flen) != 0 || !obj_dent_is_dir(dirfd(d), de, &is_dir))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            struct obj_dent *nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        if (asprintf(&v[n].sortname, "%s%s", de->d_name, is_dir ? "/" : "") < 0) {
            rc = -ENOMEM;
            break;
        }
        v[n++].is_dir = is_dir;
    }
    if (rc) {
        obj_dents_free(v, n);
        return rc;
    }
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, obj_dent_cmp);
    *out = v;
    *count = n;
    return 0;
}

static int obj_walk_dir(struct obj_walk *w, int parent_fd, const char *dirname,
                        size_t keylen, const char *filter);

static int obj_walk_entry(struct obj_walk *w, int dfd, const struct obj_dent *e, size_t keylen)
{
    size_t nl = strlen(e->sortname);
    if (keylen + nl >= sizeof w->key)
        return 0;               /* cannot be a key: longer than any path */
    memcpy(w->key + keylen, e->sortname, nl + 1);
    int rc = 0;
    if (e->is_dir) {
        char name[NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)(nl - 1), e->sortname);
        rc = obj_walk_dir(w, dfd, name, keylen + nl, "");
    } else {
        struct stat sb;
        /* A file deleted while we walk is simply not listed. */
        if (fstatat(dfd, e->sortname, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
            rc = w->cb(w->arg, w->key, (uint64_t)sb.st_size);
    }
    w->key[keylen] = '\0';
    return rc;
}

/* Walk directory `dirname` (relative to parent_fd); keys below it start
 * with w->key[0..keylen) which already ends in '/' (or is empty). */
static int obj_walk_dir(struct obj_walk *w, int parent_fd, const char *dirname,
                        size_t keylen, const char *filter)
{
    int fd = openat(parent_fd, dirname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return obj_file_missing(errno) ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    struct obj_dent *v = NULL;
    int n = 0;
    int rc = obj_dents_read(d, filter, &v, &n);
    if (rc == 0)
        w->key[keylen] = '\0';
    for (int i = 0; rc == 0 && i < n; i++)
        rc = obj_walk_entry(w, dirfd(d), &v[i], keylen);
    obj_dents_free(v, n);
    closedir(d);
    return rc;
}

static int obj_file_list(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg)
{
    assert(st && prefix && cb);
    struct obj_walk *w = malloc(sizeof *w);
    char dir[PATH_MAX];
    if (!w)
        return -ENOMEM;
    w->cb = cb;
    w->arg = arg;
    /* Start in the deepest directory the prefix names; its last component
     * filters that directory's entries. */
    const char *slash = strrchr(prefix, '/');
    size_t dlen = slash ? (size_t)(slash - prefix) + 1 : 0;
    memcpy(w->key, prefix, dlen);
    w->key[dlen ? dlen - 1 : 0] = '\0';
    /* A prefix whose directories no key can have ("../", "a//") matches
     * nothing, and must not lead the walk outside the tree. */
    int n = snprintf(dir, sizeof dir, "%s/%.*s", obj_file_of(st)->root, (int)dlen, prefix);
    int rc = 0;
    if (n < (int)sizeof dir && (dlen == 0 || obj_file_key_ok(w->key) == 0)) {
        w->key[dlen ? dlen - 1 : 0] = dlen ? '/' : '\0';
        rc = obj_walk_dir(w, AT_FDCWD, dir, dlen, prefix + dlen);
    }
    if (rc < 0)
        log_error("objstore", "LIST %s in %s: %s", prefix, st->desc, strerror(-rc));
    free(w);
    return rc;
}

/* ---- batch: the same calls on a few threads ---------------------------- */

struct obj_file_batch {
    struct obj_store *st;
    struct obj_request *reqs;
};

static void obj_file_batch_one(void *arg, int i)
{
    struct obj_file_batch *b = arg;
    struct obj_request *r = &b->reqs[i];
    if (r->result < 0)
        return;
    switch (r->op) {
    case OBJ_GET:
        r->result = obj_file_get(b->st, r->key, r->off, r->len, r->buf, r->cap);
        break;
    case OBJ_PUT:
        r->result = obj_file_put(b->st, r->key, r->buf, r->len);
        if (r->result == 0)
            r->result = (ssize_t)r->len;
        break;
    default:
        assert(r->op == OBJ_DELETE); /* obj_batch refused other ops */
        r->result = obj_file_del(b->st, r->key);
        break;
    }
}

static void obj_file_batch(struct obj_store *st, struct obj_request *reqs, int n)
{
    struct obj_file_batch b = { st, reqs };
    int threads = st->opt.max_parallel < OBJ_FILE_THREADS ? st->opt.max_parallel : OBJ_FILE_THREADS;
    obj_pool_run(n, threads, obj_file_batch_one, &b);
}

const struct obj_backend obj_file_backend = {
    .size = sizeof(struct obj_backend),
    .open = obj_file_open,
    .close = obj_file_close,
    .after_fork = obj_file_after_fork,
    .get = obj_file_get,
    .put = obj_file_put,
    .head = obj_file_head,
    .del = obj_file_del,
    .list = obj_file_list,
    .batch = obj_file_batch,
};

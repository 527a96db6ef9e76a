/* cli_import_walk.c - import's producer: walks the local tree.
 *
 * Promises: never follows a symlink inside the tree (lstat semantics,
 * O_NOFOLLOW opens relative to the parent's descriptor, so long or deep
 * paths never hit PATH_MAX); creates each directory in the volume before
 * anything inside it; hands small regular files to the packer
 * (cli_import_pack.c), cuts every other one into 64 MiB chunks, one slice
 * each (ids reserved by the import's session in batches), and queues its
 * blocks for upload; sends symlinks (targets stored as is) straight to the
 * committer. In a directory that existed before the import, an existing
 * name is reported before any upload; a directory is merged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CLI_IMPORT_ID_BATCH 1024

static int64_t cli_ts_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cli_import_attr(struct meta_attr *a, const struct stat *st)
{
    memset(a, 0, sizeof *a);
    a->mode = st->st_mode;
    a->uid = st->st_uid;
    a->gid = st->st_gid;
    a->atime_ns = cli_ts_ns(st->st_atim);
    a->mtime_ns = cli_ts_ns(st->st_mtim);
}

/* The database failed under the walk: report once, stop everything. */
static int cli_import_walk_db_fail(struct cli_import *im, const char *lpath, int rc)
{
    char why[256], line[8192];
    int expect = 0;

    if (atomic_compare_exchange_strong(&im->fatal, &expect, rc)) {
        snprintf(line, sizeof line, "shimfs %s: %s: database %s: %s\n", im->cmd, lpath,
                 meta_describe(im->vol->meta), cli_meta_reason(rc, why, sizeof why));
        cli_import_say(im, line);
    }
    return rc;
}

int cli_import_slice_id(struct cli_import *im, uint64_t *id)
{
    if (im->id_left == 0) {
        int rc = meta_next_ids(im->vol->meta, META_ID_SLICE, CLI_IMPORT_ID_BATCH, &im->id_next);
        if (rc < 0)
            return rc;
        im->id_left = CLI_IMPORT_ID_BATCH;
    }
    *id = im->id_next++;
    im->id_left--;
    return 0;
}

/* In a directory that existed before, refuse a name that is taken now,
 * before its data is uploaded. 1: free, 0: taken (reported), <0: fatal. */
static int cli_import_name_free(struct cli_import *im, uint64_t parent, int fresh,
                                const char *name, const char *lpath)
{
    struct meta_attr a;
    int rc;

    if (fresh)
        return 1;
    rc = meta_lookup(im->vol->meta, parent, name, strlen(name), &a);
    if (rc == -ENOENT)
        return 1;
    if (rc == 0) {
        cli_import_local_error(im, lpath, "create", -EEXIST);
        return 0;
    }
    return cli_import_walk_db_fail(im, lpath, rc);
}

static struct cli_import_file *cli_import_file_new(char *lpath, uint64_t parent,
                                                   const struct stat *st)
{
    struct cli_import_file *f = calloc(1, sizeof *f);
    const char *slash = strrchr(lpath, '/');

    if (!f)
        return NULL;
    f->lpath = lpath;
    f->name = slash ? slash + 1 : lpath;
    f->nlen = strlen(f->name);
    f->parent = parent;
    f->fd = -1;
    cli_import_attr(&f->attr, st);
    return f;
}

static int cli_import_queue_blocks(struct cli_import *im, struct cli_import_file *f)
{
    for (uint32_t c = 0; c < f->nchunks; c++) {
        uint64_t base = (uint64_t)c * LAYOUT_CHUNK_SIZE, rest = f->size - base;
        uint32_t clen = rest < LAYOUT_CHUNK_SIZE ? (uint32_t)rest : (uint32_t)LAYOUT_CHUNK_SIZE;
        uint32_t nb = layout_block_count(clen, im->block_size);
        for (uint32_t i = 0; i < nb; i++) {
            if (atomic_load(&im->fatal))
                return -ECANCELED;
            struct cli_import_task t = {
                .file = f, .off = base + (uint64_t)i * im->block_size, .chunk = c,
                .index = i, .len = layout_block_len(clen, im->block_size, i),
            };
            atomic_fetch_add(&f->pending, 1);
            cli_import_pool_push(im, &t);
        }
    }
    return 0;
}

static int cli_import_regular(struct cli_import *im, int dfd, const char *name,
                              char *lpath, uint64_t parent)
{
    struct cli_import_file *f;
    struct stat st;
    int fd, rc;

    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = fd < 0 || !S_ISREG(st.st_mode) ? -errno : 0;
        cli_import_local_error(im, lpath, fd < 0 ? "open" : rc ? "stat" :
                               "changed while importing (no longer a regular file)", rc);
        if (fd >= 0)
            close(fd);
        free(lpath);
        return 0;
    }
    f = cli_import_file_new(lpath, parent, &st);
    if (!f) {
        close(fd);
        free(lpath);
        return -ENOMEM;
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    f->nchunks = (uint32_t)((f->size + LAYOUT_CHUNK_SIZE - 1) / LAYOUT_CHUNK_SIZE);
    f->slice_ids = calloc(f->nchunks ? f->nchunks : 1, sizeof *f->slice_ids);
    if (!f->slice_ids) {
        cli_import_file_free(f);
        return -ENOMEM;
    }
    if (f->size > 0 && f->size <= im->pack_max && f->size < im->pack_target)
        return cli_import_pack_add(im, f);
    for (uint32_t c = 0; c < f->nchunks; c++) {
        rc = cli_import_slice_id(im, &f->slice_ids[c]);
        if (rc < 0) {
            cli_import_walk_db_fail(im, lpath, rc);
            cli_import_file_free(f);
            return rc;
        }
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    cli_import_commit_wait_room(im);
    atomic_store(&f->pending, 1);
    if (cli_import_queue_blocks(im, f) < 0)
        cli_import_file_fail(f, -ECANCELED, NULL, 0, NULL);
    cli_import_file_release(im, f);
    return 0;
}

static int cli_import_symlink(struct cli_import *im, int dfd, const char *name,
                              char *lpath, uint64_t parent, const struct stat *st)
{
    size_t cap = (size_t)st->st_size + 1;
    struct cli_import_file *f;
    char *target;
    ssize_t n;

    if (cap < 2 || cap > 65536)
        cap = 4097;
    target = malloc(cap);
    if (!target) {
        free(lpath);
        return -ENOMEM;
    }
    n = readlinkat(dfd, name, target, cap);
    if (n < 0 || (size_t)n >= cap) {
        cli_import_local_error(im, lpath, "readlink", n < 0 ? -errno : -ENAMETOOLONG);
        free(target);
        free(lpath);
        return 0;
    }
    target[n] = '\0';
    f = cli_import_file_new(lpath, parent, st);
    if (!f) {
        free(target);
        free(lpath);
        return -ENOMEM;
    }
    f->target = target;
    f->size = (uint64_t)n;
    cli_import_commit_wait_room(im);
    atomic_store(&f->pending, 1);
    cli_import_file_release(im, f);
    return 0;
}

int cli_import_remember_dir(struct cli_import *im, uint64_t ino, const struct stat *st)
{
    if (im->ndirs == im->dirs_cap) {
        size_t cap = im->dirs_cap ? 2 * im->dirs_cap : 64;
        struct cli_import_dir *d = realloc(im->dirs, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        im->dirs = d;
        im->dirs_cap = cap;
    }
    im->dirs[im->ndirs++] = (struct cli_import_dir){
        ino, cli_ts_ns(st->st_atim), cli_ts_ns(st->st_mtim) };
    return 0;
}

/* Create (or merge into) the volume directory for local `name`, then walk it. */
static int cli_import_subdir(struct cli_import *im, int dfd, const char *name,
                             char *lpath, uint64_t parent, const struct stat *st)
{
    struct meta *m = im->vol->meta;
    struct meta_attr a;
    int fd, rc, fresh = 1;

    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        cli_import_local_error(im, lpath, "open", -errno);
        free(lpath);
        return 0;
    }
    cli_import_attr(&a, st);
    rc = meta_create(m, parent, name, strlen(name), &a, NULL, 1);
    if (rc == -EEXIST) {
        fresh = 0;
        rc = meta_lookup(m, parent, name, strlen(name), &a);
        if (rc == 0 && !S_ISDIR(a.mode))
            rc = -ENOTDIR;
    }
    if (rc == 0 && fresh)
        rc = cli_import_remember_dir(im, a.ino, st);
    if (rc < 0) {
        close(fd);
        if (rc == -ENOTDIR)
            cli_import_local_error(im, lpath, "exists in the volume as a non-directory", rc);
        else if (cli_import_namespace_err(rc))
            cli_import_local_error(im, lpath, "mkdir", rc);
        else
            cli_import_walk_db_fail(im, lpath, rc);
        free(lpath);
        return cli_import_namespace_err(rc) ? 0 : rc;
    }
    atomic_fetch_add(&im->dir_count, 1);
    rc = cli_import_walk(im, fd, lpath, a.ino, fresh);
    free(lpath);
    return rc;
}

static int cli_import_entry(struct cli_import *im, int dfd, const char *dlpath,
                            const char *name, uint64_t ino, int fresh)
{
    size_t dl = strlen(dlpath), nl = strlen(name);
    char *lpath = malloc(dl + nl + 2);
    struct stat st;
    int rc;

    if (!lpath)
        return -ENOMEM;
    memcpy(lpath, dlpath, dl);
    lpath[dl] = '/';
    memcpy(lpath + dl + 1, name, nl + 1);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        cli_import_local_error(im, lpath, "stat", -errno);
        free(lpath);
        return 0;
    }
    if (S_ISDIR(st.st_mode))
        return cli_import_subdir(im, dfd, name, lpath, ino, &st);
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        char line[8192];
        snprintf(line, sizeof line,
                 "shimfs %s: %s: skipped: not a regular file, directory or symlink\n",
                 im->cmd, lpath);
        cli_import_say(im, line);
        atomic_fetch_add(&im->skipped, 1);
        free(lpath);
        return 0;
    }
    rc = cli_import_name_free(im, ino, fresh, name, lpath);
    if (rc <= 0) {
        free(lpath);
        return rc;
    }
    if (S_ISLNK(st.st_mode))
        return cli_import_symlink(im, dfd, name, lpath, ino, &st);
    return cli_import_regular(im, dfd, name, lpath, ino);
}

int cli_import_walk(struct cli_import *im, int dfd, const char *lpath,
                    uint64_t ino, int fresh)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        cli_import_local_error(im, lpath, "opendir", -errno);
        close(dfd);
        return 0;
    }
    for (;;) {
        if (atomic_load(&im->fatal))
            break;
        errno = 0;
        e = readdir(d);
        if (!e) {
            if (errno)
                cli_import_local_error(im, lpath, "readdir", -errno);
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        rc = cli_import_entry(im, dfd, lpath, e->d_name, ino, fresh);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

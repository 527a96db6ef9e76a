/* cli_import_commit.c - import's committer: makes uploaded files visible.
 *
 * Promises: one thread takes finished files from the commit queue and
 * creates their entries, inodes and slice records with meta_import_files:
 * one transaction (one round trip) per batch of up to im->batch files, so
 * a batch is visible whole or not at all, and an interrupted import leaves
 * only whole batches behind. A file reaches this queue only after all its
 * blocks are in the store, so no entry ever names a missing object. A
 * name taken (or a parent gone) costs only its file; any other database
 * failure, the session fence included, stops the import. The walk is
 * held back while too many files wait (bounded memory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_IMPORT_LINGER_NS 20000000L   /* wait this long to fill a batch */
#define CLI_IMPORT_DIR_TIMES 100          /* directories' times per transaction */

/* Answers about one name that leave the rest of the import unharmed. */
static const int cli_import_namespace_errs[] = {
    EEXIST, ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG, EINVAL, ENOSPC, EDQUOT,
};

int cli_import_namespace_err(int err)
{
    for (size_t i = 0; i < sizeof cli_import_namespace_errs / sizeof (int); i++)
        if (-err == cli_import_namespace_errs[i])
            return 1;
    return 0;
}

/* The slice records of f, into recs (f->nchunks of them). */
static void cli_import_slices(const struct cli_import_file *f, struct meta_slice_rec *recs)
{
    if (f->packed) {
        recs[0] = (struct meta_slice_rec){ 0, { .pos = 0, .id = f->slice_ids[0],
                   .size = f->pack_size, .off = (uint32_t)f->pack_off, .len = (uint32_t)f->size } };
        return;
    }
    for (uint32_t c = 0; c < f->nchunks; c++) {
        uint64_t rest = f->size - (uint64_t)c * LAYOUT_CHUNK_SIZE;
        uint32_t len = rest < LAYOUT_CHUNK_SIZE ? (uint32_t)rest : (uint32_t)LAYOUT_CHUNK_SIZE;
        recs[c] = (struct meta_slice_rec){ c, { .pos = 0, .id = f->slice_ids[c],
                                                .size = len, .off = 0, .len = len } };
    }
}

static void cli_import_counted(struct cli_import *im, struct cli_import_file *f)
{
    if (S_ISLNK(f->attr.mode)) {
        atomic_fetch_add(&im->symlinks, 1);
        return;
    }
    atomic_fetch_add(&im->files, 1);
    atomic_fetch_add(&im->bytes, f->size);
    atomic_fetch_add(&im->progress.items, 1);
}

static void cli_import_commit_failed(struct cli_import *im, struct cli_import_file *f, int rc)
{
    if (cli_import_namespace_err(rc)) {
        cli_import_file_error(im, f, "create", rc, 0);
        return;
    }
    /* The database itself failed: say it once, then stop trying. */
    if (!im->db_failed)
        cli_import_file_error(im, f, "commit", rc, 1);
    im->db_failed = 1;
}

/* One transaction for the whole batch: every file in it becomes visible
 * at once, or (a database failure) none does. */
static void cli_import_commit_batch(struct cli_import *im, struct cli_import_file **fs, int n)
{
    struct meta_import_file *mf;
    struct meta_slice_rec *recs;
    size_t nrecs = 0;
    int rc;

    if (n == 0 || im->db_failed)
        return;
    for (int i = 0; i < n; i++)
        nrecs += fs[i]->target ? 0 : fs[i]->nchunks;
    mf = calloc((size_t)n, sizeof *mf);
    recs = calloc(nrecs ? nrecs : 1, sizeof *recs);
    if (!mf || !recs) {
        free(mf);
        free(recs);
        cli_import_commit_failed(im, fs[0], -ENOMEM);
        return;
    }
    nrecs = 0;
    for (int i = 0; i < n; i++) {
        struct cli_import_file *f = fs[i];
        mf[i] = (struct meta_import_file){
            .parent = f->parent, .name = f->name, .nlen = f->nlen,
            .mode = f->attr.mode, .uid = f->attr.uid, .gid = f->attr.gid, .size = f->size,
            .atime_ns = f->attr.atime_ns, .mtime_ns = f->attr.mtime_ns, .target = f->target,
        };
        if (!f->target && f->nchunks) {
            cli_import_slices(f, recs + nrecs);
            mf[i].slices = recs + nrecs;
            mf[i].nslices = (int)f->nchunks;
            nrecs += f->nchunks;
        }
    }
    rc = meta_import_files(im->vol->meta, mf, n);
    if (rc < 0) {
        cli_import_commit_failed(im, fs[0], cli_import_namespace_err(rc) ? -EIO : rc);
    } else {
        for (int i = 0; i < n; i++) {
            if (mf[i].result == 0)
                cli_import_counted(im, fs[i]);
            else
                cli_import_commit_failed(im, fs[i], mf[i].result);
        }
    }
    free(mf);
    free(recs);
}

/* Report files whose upload failed, commit the rest (fs is reordered). */
static void cli_import_commit_group(struct cli_import *im, struct cli_import_file **fs, int n)
{
    int good = 0;

    for (int i = 0; i < n; i++) {
        struct cli_import_file *f = fs[i];
        int err = atomic_load(&f->err);
        if (err == 0)
            fs[good++] = f;
        else
            cli_import_file_error(im, f, f->err_what ? f->err_what : "import", err,
                                  f->err_remote);
    }
    cli_import_commit_batch(im, fs, good);
}

static int cli_import_take(struct cli_import *im, struct cli_import_file **out)
{
    struct timespec until;
    int n = 0;

    pthread_mutex_lock(&im->clock);
    while (im->ccount == 0 && !im->cclosed)
        pthread_cond_wait(&im->cnot_empty, &im->clock);
    /* Linger a little for a fuller batch: fewer, larger transactions. */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += CLI_IMPORT_LINGER_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (im->ccount > 0 && im->ccount < im->batch && !im->cclosed)
        if (pthread_cond_timedwait(&im->cnot_empty, &im->clock, &until) != 0)
            break;
    while (n < im->batch && im->chead) {
        out[n++] = im->chead;
        im->chead = im->chead->next;
        im->ccount--;
    }
    if (!im->chead)
        im->ctail = NULL;
    pthread_mutex_unlock(&im->clock);
    return n;
}

static void *cli_import_committer(void *arg)
{
    struct cli_import *im = arg;
    struct cli_import_file **batch = im->cbatch, **copy = im->cbatch + im->batch;
    int n;

    while ((n = cli_import_take(im, batch)) > 0) {
        memcpy(copy, batch, (size_t)n * sizeof *batch);
        cli_import_commit_group(im, copy, n);
        for (int i = 0; i < n; i++)
            cli_import_file_free(batch[i]);
        pthread_mutex_lock(&im->clock);
        im->inflight -= n;
        pthread_cond_broadcast(&im->cspace);
        pthread_mutex_unlock(&im->clock);
    }
    return NULL;
}

void cli_import_commit_push(struct cli_import *im, struct cli_import_file *f)
{
    f->next = NULL;
    pthread_mutex_lock(&im->clock);
    if (im->ctail)
        im->ctail->next = f;
    else
        im->chead = f;
    im->ctail = f;
    im->ccount++;
    pthread_cond_signal(&im->cnot_empty);
    pthread_mutex_unlock(&im->clock);
}

void cli_import_commit_wait_room(struct cli_import *im)
{
    pthread_mutex_lock(&im->clock);
    while (im->inflight >= im->inflight_max)
        pthread_cond_wait(&im->cspace, &im->clock);
    im->inflight++;
    pthread_mutex_unlock(&im->clock);
}

int cli_import_commit_start(struct cli_import *im)
{
    pthread_mutex_init(&im->clock, NULL);
    pthread_cond_init(&im->cnot_empty, NULL);
    pthread_cond_init(&im->cspace, NULL);
    /* Above a batch and a pack (CLI_IMPORT_PACK_FILES), so the files of
     * an unfinished pack never hold the walk back for good. */
    im->inflight_max = 4 * im->batch > 16384 ? 4 * im->batch : 16384;
    im->cbatch = calloc(2 * (size_t)im->batch, sizeof *im->cbatch);
    if (!im->cbatch)
        return -ENOMEM;
    return -pthread_create(&im->committer, NULL, cli_import_committer, im);
}

void cli_import_commit_finish(struct cli_import *im)
{
    pthread_mutex_lock(&im->clock);
    im->cclosed = 1;
    pthread_cond_broadcast(&im->cnot_empty);
    pthread_mutex_unlock(&im->clock);
    pthread_join(im->committer, NULL);
    free(im->cbatch);
    im->cbatch = NULL;
}

struct cli_import_times { const struct cli_import_dir *d; size_t n; };

static int cli_import_times_fn(struct meta *m, void *arg)
{
    struct cli_import_times *t = arg;

    for (size_t i = 0; i < t->n; i++) {
        struct meta_attr a = { .atime_ns = t->d[i].atime_ns, .mtime_ns = t->d[i].mtime_ns };
        int rc = meta_setattr(m, t->d[i].ino, META_SET_ATIME | META_SET_MTIME, &a);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cli_import_commit_dir_times(struct cli_import *im)
{
    for (size_t i = 0; i < im->ndirs; i += CLI_IMPORT_DIR_TIMES) {
        size_t left = im->ndirs - i;
        struct cli_import_times t = { im->dirs + i, left < CLI_IMPORT_DIR_TIMES ? left : CLI_IMPORT_DIR_TIMES };
        int rc = meta_txn(im->vol->meta, cli_import_times_fn, &t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* cli_import_pool.c - import's upload workers: read, encode, put one block.
 *
 * Promises: the walk queues block tasks into a bounded ring, so at most
 * (ring + workers) blocks are in flight and each worker holds one raw and
 * one encoded buffer of at most a block: memory is bounded whatever the
 * file sizes. Workers pread the file themselves, so one large file is
 * uploaded by all workers at once. A pack (cli_import_pack.c) is one task
 * whose bytes the walk already holds (at most a block each, so ring plus
 * workers plus one open pack bound that memory too). Once a failure is
 * fatal, remaining tasks are skipped and their files marked abandoned
 * (never committed). A file goes to the commit queue only when every one
 * of its blocks is done; a pack's files when the pack is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "codec.h"
#include "objstore.h"

struct cli_import_buf {
    void *raw, *enc;
    size_t raw_cap, enc_cap;
};

void cli_import_file_fail(struct cli_import_file *f, int err, const char *what,
                          int remote, const char *key)
{
    int expect = 0;

    /* Only the first failure writes the details; they are read after the
     * last release, which the atomic pending count orders after this. */
    if (!atomic_compare_exchange_strong(&f->err, &expect, err))
        return;
    f->err_what = what;
    f->err_remote = remote;
    if (key)
        snprintf(f->err_key, sizeof f->err_key, "%s", key);
}

/* Room for `len` raw bytes and the encoding of `enc_len`. */
static int cli_import_buf_fit(struct cli_import_buf *b, size_t len, size_t enc_len)
{
    size_t bound = codec_bound(enc_len);

    if (len > b->raw_cap) {
        void *p = realloc(b->raw, len);
        if (!p)
            return -ENOMEM;
        b->raw = p;
        b->raw_cap = len;
    }
    if (bound > b->enc_cap) {
        void *p = realloc(b->enc, bound);
        if (!p)
            return -ENOMEM;
        b->enc = p;
        b->enc_cap = bound;
    }
    return 0;
}

/* len bytes at off, or -ENODATA when the file shrank while importing. */
static int cli_import_read(struct cli_import_file *f, void *buf, size_t len, uint64_t off)
{
    ssize_t n = io_pread_full(f->fd, buf, len, off);
    return n < 0 ? (int)n : (size_t)n < len ? -ENODATA : 0;
}

static void cli_import_block(struct cli_import *im, const struct cli_import_task *t,
                             struct cli_import_buf *b)
{
    struct cli_import_file *f = t->file;
    struct volume *v = im->vol;
    char key[LAYOUT_KEY_MAX];
    const void *raw;
    long n;
    int rc;

    if (atomic_load(&im->fatal)) {
        cli_import_file_fail(f, -ECANCELED, NULL, 0, NULL);
        return;
    }
    if (atomic_load(&f->err))
        return;
    rc = cli_import_buf_fit(b, f->pack_buf ? 0 : t->len, t->len);
    if (rc < 0) {
        cli_import_file_fail(f, rc, "memory", 0, NULL);
        return;
    }
    /* A pack's bytes are in memory already (the walk read them). */
    raw = f->pack_buf ? f->pack_buf + t->off : b->raw;
    rc = f->pack_buf ? 0 : cli_import_read(f, b->raw, t->len, t->off);
    if (rc < 0) {
        cli_import_file_fail(f, rc, rc == -ENODATA ? "read (file shrank while importing)" : "read",
                             0, NULL);
        return;
    }
    n = codec_encode(v->settings.compress_algo, v->settings.compress_level,
                     raw, t->len, b->enc, b->enc_cap);
    if (n < 0) {
        cli_import_file_fail(f, (int)n, "encode", 0, NULL);
        return;
    }
    rc = volume_block_key(v, f->slice_ids[t->chunk], t->index, t->len, key, sizeof key);
    if (rc < 0) {
        cli_import_file_fail(f, rc, "object key", 0, NULL);
        return;
    }
    rc = obj_put(v->store, key, b->enc, (size_t)n);
    if (rc < 0) {
        cli_import_file_fail(f, rc, "upload", 1, key);
        /* The store failing is fatal now, so siblings stop at once. */
        int expect = 0;
        atomic_compare_exchange_strong(&im->fatal, &expect, rc);
        return;
    }
    atomic_fetch_add(&im->progress.bytes, t->len);
}

void cli_import_file_release(struct cli_import *im, struct cli_import_file *f)
{
    if (atomic_fetch_sub(&f->pending, 1) != 1)
        return;
    if (f->pack_buf) {
        cli_import_pack_done(im, f);
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    cli_import_commit_push(im, f);
}

static void *cli_import_worker(void *arg)
{
    struct cli_import *im = arg;
    struct cli_import_buf b = { 0 };
    struct cli_import_task t;

    for (;;) {
        pthread_mutex_lock(&im->qlock);
        while (im->qcount == 0 && !im->qclosed)
            pthread_cond_wait(&im->qnot_empty, &im->qlock);
        if (im->qcount == 0) {
            pthread_mutex_unlock(&im->qlock);
            break;
        }
        t = im->ring[im->qhead];
        im->qhead = (im->qhead + 1) % im->qcap;
        im->qcount--;
        pthread_cond_signal(&im->qnot_full);
        pthread_mutex_unlock(&im->qlock);

        cli_import_block(im, &t, &b);
        cli_import_file_release(im, t.file);
    }
    free(b.raw);
    free(b.enc);
    return NULL;
}

void cli_import_pool_push(struct cli_import *im, const struct cli_import_task *t)
{
    pthread_mutex_lock(&im->qlock);
    while (im->qcount == im->qcap)
        pthread_cond_wait(&im->qnot_full, &im->qlock);
    im->ring[(im->qhead + im->qcount) % im->qcap] = *t;
    im->qcount++;
    pthread_cond_signal(&im->qnot_empty);
    pthread_mutex_unlock(&im->qlock);
}

int cli_import_pool_start(struct cli_import *im)
{
    int started = 0;

    im->qcap = 2 * im->threads;
    im->ring = calloc((size_t)im->qcap, sizeof *im->ring);
    im->workers = calloc((size_t)im->threads, sizeof *im->workers);
    if (!im->ring || !im->workers)
        return -ENOMEM;
    pthread_mutex_init(&im->qlock, NULL);
    pthread_cond_init(&im->qnot_empty, NULL);
    pthread_cond_init(&im->qnot_full, NULL);
    for (; started < im->threads; started++)
        if (pthread_create(&im->workers[started], NULL, cli_import_worker, im) != 0)
            break;
    if (started == 0)
        return -EAGAIN;
    im->threads = started;
    return 0;
}

void cli_import_pool_finish(struct cli_import *im)
{
    pthread_mutex_lock(&im->qlock);
    im->qclosed = 1;
    pthread_cond_broadcast(&im->qnot_empty);
    pthread_mutex_unlock(&im->qlock);
    for (int i = 0; i < im->threads; i++)
        pthread_join(im->workers[i], NULL);
    free(im->workers);
    free(im->ring);
    im->workers = NULL;
    im->ring = NULL;
}

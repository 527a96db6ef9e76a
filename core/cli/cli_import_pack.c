/* cli_import_pack.c - import's packer: many small files, one object.
 *
 * Promises: a regular file of at most pack_max bytes is read by the walk
 * into the current pack (its descriptor closed at once); a pack closes at
 * pack_target bytes (at most one block, so one object), at
 * CLI_IMPORT_PACK_FILES files, or at the end of the walk, and is uploaded
 * by the workers as one slice with an id the import's session reserved.
 * Each member becomes a file whose one slice record is its range of that
 * slice (layout.h's off/len), so reads, gc (an id stays referenced while
 * any member does), fsck and the cache need nothing new. Members reach the
 * committer only once the whole pack is stored; a pack that failed fails
 * every member (a fatal failure is reported once, through the first).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"

#define CLI_IMPORT_PACK_FILES 1024

static int cli_import_pack_open(struct cli_import *im)
{
    struct cli_import_file *p = calloc(1, sizeof *p);
    int rc;

    if (!p)
        return -ENOMEM;
    p->fd = -1;
    p->nchunks = 1;
    p->slice_ids = calloc(1, sizeof *p->slice_ids);
    p->pack_buf = malloc(im->pack_target);
    if (!p->slice_ids || !p->pack_buf) {
        free(p->pack_buf);
        cli_import_file_free(p);
        return -ENOMEM;
    }
    rc = cli_import_slice_id(im, &p->slice_ids[0]);
    if (rc < 0) {
        free(p->pack_buf);
        cli_import_file_free(p);
        return rc;
    }
    im->pack = p;
    return 0;
}

/* The whole file, or -ENODATA when it shrank while importing. */
static int cli_import_pack_read(int fd, char *buf, uint64_t len)
{
    ssize_t n = io_pread_full(fd, buf, (size_t)len, 0);
    return n < 0 ? (int)n : (uint64_t)n < len ? -ENODATA : 0;
}

int cli_import_pack_add(struct cli_import *im, struct cli_import_file *f)
{
    struct cli_import_file *p = im->pack;
    int rc;

    assert(f->fd >= 0 && f->size > 0 && f->size < im->pack_target);
    if (p && (p->size + f->size > im->pack_target || p->nmembers >= CLI_IMPORT_PACK_FILES)) {
        cli_import_pack_flush(im);
        p = NULL;
    }
    if (!p) {
        rc = cli_import_pack_open(im);
        if (rc < 0) {
            cli_import_file_free(f);
            return rc;
        }
        p = im->pack;
    }
    rc = cli_import_pack_read(f->fd, p->pack_buf + p->size, f->size);
    close(f->fd);
    f->fd = -1;
    if (rc < 0) {
        cli_import_local_error(im, f->lpath, rc == -ENODATA ? "read (file shrank while importing)"
                               : "read", rc);
        cli_import_file_free(f);
        return 0;
    }
    cli_import_commit_wait_room(im);
    f->packed = 1;
    f->nchunks = 1;
    f->slice_ids[0] = p->slice_ids[0];
    f->pack_off = p->size;
    p->size += f->size;
    f->pack_next = p->members;
    p->members = f;
    p->nmembers++;
    return 0;
}

void cli_import_pack_flush(struct cli_import *im)
{
    struct cli_import_file *p = im->pack;

    if (!p)
        return;
    im->pack = NULL;
    for (struct cli_import_file *f = p->members; f; f = f->pack_next)
        f->pack_size = (uint32_t)p->size;
    atomic_store(&p->pending, 1);
    if (p->size > 0 && !atomic_load(&im->fatal)) {
        struct cli_import_task t = { .file = p, .off = 0, .chunk = 0, .index = 0,
                                     .len = (uint32_t)p->size };
        atomic_fetch_add(&p->pending, 1);
        cli_import_pool_push(im, &t);
    } else if (p->size > 0) {
        cli_import_file_fail(p, -ECANCELED, NULL, 0, NULL);
    }
    cli_import_file_release(im, p);
}

void cli_import_pack_done(struct cli_import *im, struct cli_import_file *p)
{
    int err = atomic_load(&p->err), first = 1;
    struct cli_import_file *f = p->members, *next;

    for (; f; f = next) {
        next = f->pack_next;
        f->pack_next = NULL;
        if (err) {
            /* A fatal failure is said once; a local one (memory, encode)
             * is every member's own. */
            int fatal = p->err_remote || err == -ECANCELED;
            cli_import_file_fail(f, fatal && !first ? -ECANCELED : err, p->err_what,
                                 p->err_remote, p->err_key[0] ? p->err_key : NULL);
            first = 0;
        }
        cli_import_commit_push(im, f);
    }
    free(p->pack_buf);
    p->pack_buf = NULL;
    p->members = NULL;
    cli_import_file_free(p);
}

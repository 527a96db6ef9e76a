/* cli_import_report.c - how import tells the user about a file it could
 * not import, and the freeing of file records.
 *
 * Promises: one line per problem, "shimfs import: LOCAL_PATH: step: why",
 * naming the object key and the store for upload failures and the
 * database (never its password) for database failures; the progress bar is
 * erased first so the two never share a line. Store and database failures
 * mark the import fatal; files abandoned because of one stay silent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "objstore.h"

void cli_import_say(struct cli_import *im, const char *line)
{
    struct cli_progress *p = &im->progress;

    pthread_mutex_lock(&p->lock);
    if (p->tty && p->running)
        fputs("\r\033[K", stderr);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&p->lock);
}

void cli_import_local_error(struct cli_import *im, const char *lpath,
                            const char *what, int err)
{
    char line[8192];

    if (err)
        snprintf(line, sizeof line, "shimfs %s: %s: %s: %s\n", im->cmd, lpath, what,
                 err == -EEXIST ? "already exists in the volume" : strerror(err < 0 ? -err : err));
    else
        snprintf(line, sizeof line, "shimfs %s: %s: %s\n", im->cmd, lpath, what);
    cli_import_say(im, line);
    atomic_fetch_add(&im->errors, 1);
}

void cli_import_file_error(struct cli_import *im, struct cli_import_file *f,
                           const char *what, int err, int remote)
{
    char line[8192], why[256];
    int expect = 0;

    if (err == -ECANCELED)
        return;
    if (remote) {
        if (f->err_key[0])
            snprintf(line, sizeof line, "shimfs %s: %s: %s of %s: %s (store %s)\n",
                     im->cmd, f->lpath, what, f->err_key, strerror(-err),
                     obj_describe(im->vol->store));
        else
            snprintf(line, sizeof line, "shimfs %s: %s: %s: %s (database %s)\n",
                     im->cmd, f->lpath, what, cli_meta_reason(err, why, sizeof why),
                     meta_describe(im->vol->meta));
        atomic_compare_exchange_strong(&im->fatal, &expect, err);
    } else if (err == -EEXIST) {
        snprintf(line, sizeof line, "shimfs %s: %s: %s: already exists in the volume\n",
                 im->cmd, f->lpath, what);
    } else {
        snprintf(line, sizeof line, "shimfs %s: %s: %s: %s\n", im->cmd, f->lpath, what,
                 strerror(-err));
    }
    cli_import_say(im, line);
    atomic_fetch_add(&im->errors, 1);
}

void cli_import_file_free(struct cli_import_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->slice_ids);
    free(f->target);
    free(f->lpath);
    free(f);
}

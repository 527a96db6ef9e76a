/* cli_import.c - `shimfs import LOCAL_DIR VOLUME_PATH`: copy a tree in.
 *
 * Promises: the contents of LOCAL_DIR land in VOLUME_PATH (created with
 * its parents when missing; a created VOLUME_PATH takes LOCAL_DIR's mode,
 * owner and times). Directories, regular files and symlinks keep mode, uid,
 * gid, atime and mtime (ns); other file types are skipped with a line each.
 * Hard links are imported as separate files. A name that already exists in
 * the volume is an error for that file only (no overwrite); store or
 * database failures stop the import. Every file visible afterwards is
 * complete, even after a failure or an interruption: entries are created
 * only once their blocks are stored (blocks of files that never got an
 * entry are left for gc), and files become visible in whole batches (one
 * transaction each). Small files are packed many to one object.
 * Memory stays bounded by the number of threads times the block size, and
 * by the commit queue's limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

static const char cli_import_usage[] =
    "usage: shimfs import LOCAL_DIR VOLUME_PATH [options]\n"
    "\n"
    "Copy the tree under LOCAL_DIR into the volume directory VOLUME_PATH\n"
    "(\"/\" is the volume's root; created with its parents when missing).\n"
    "Directories, regular files and symlinks are imported with their mode,\n"
    "owner and times; symlinks are not followed and their targets are kept\n"
    "as they are. An existing name in the volume is reported as an error and\n"
    "left alone. Files become visible only once all their data is stored.\n"
    "\n"
    "  --threads N   parallel uploads (default SHIMFS_THREADS or 16; capped so\n"
    "                that N x 2 x block size fits in SHIMFS_BUFFER_SIZE)\n"
    "  --pack-max SIZE  files of at most SIZE bytes are packed, many to one\n"
    "                object of up to 1 MiB (default 16K; 0: one object per file)\n"
    "  --batch N     files made visible per transaction (default 2000, 1 to\n"
    "                10000)\n"
    "  --meta URL    database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help    this help\n"
    "\n"
    "A progress bar is drawn when stderr is a terminal; a summary line is\n"
    "printed at the end. Exit status 1 if any file could not be imported.\n";

struct cli_import_args {
    const char *local, *vpath;
    int threads, batch;
    uint64_t pack_max;
};

#define CLI_IMPORT_BATCH_DEFAULT 2000
#define CLI_IMPORT_BATCH_MAX 10000
#define CLI_IMPORT_PACK_MAX_DEFAULT (16 * 1024)
#define CLI_IMPORT_PACK_TARGET (1024 * 1024)

static int cli_import_parse(int argc, char **argv, struct cli_import_args *a, int *code)
{
    static const struct option opts[] = {
        { "threads", required_argument, NULL, 't' },
        { "batch", required_argument, NULL, 'b' },
        { "pack-max", required_argument, NULL, 'p' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;

    memset(a, 0, sizeof *a);
    a->batch = CLI_IMPORT_BATCH_DEFAULT;
    a->pack_max = CLI_IMPORT_PACK_MAX_DEFAULT;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, "import", cli_import_usage, argv, code);
        if (r < 0)
            return -1;
        if (r == 0 && c == 't') {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 256) {
                *code = cli_usage_error("import", "bad --threads '%s': want 1 to 256", optarg);
                return -1;
            }
            a->threads = (int)n;
        }
        if (r == 0 && c == 'b') {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > CLI_IMPORT_BATCH_MAX) {
                *code = cli_usage_error("import", "bad --batch '%s': want 1 to %d", optarg,
                                        CLI_IMPORT_BATCH_MAX);
                return -1;
            }
            a->batch = (int)n;
        }
        if (r == 0 && c == 'p' && layout_parse_size(optarg, &a->pack_max) < 0) {
            *code = cli_usage_error("import", "bad --pack-max '%s': want a size such as 64K",
                                    optarg);
            return -1;
        }
    }
    if (argc - optind != 2) {
        *code = cli_usage_error("import", argc - optind < 2 ? "want LOCAL_DIR and VOLUME_PATH"
                                                            : "too many arguments");
        return -1;
    }
    a->local = argv[optind];
    a->vpath = argv[optind + 1];
    for (const char *p = a->vpath; *p; p++)
        if (p[0] == '.' && p[1] == '.' && (p == a->vpath || p[-1] == '/') &&
            (p[2] == '/' || p[2] == '\0')) {
            *code = cli_usage_error("import", "VOLUME_PATH may not contain '..'");
            return -1;
        }
    return 0;
}

/* Find or create VOLUME_PATH, component by component. */
static int cli_import_dest(struct cli_import *im, const char *vpath, const struct stat *root,
                           uint64_t *ino, int *fresh)
{
    struct meta *m = im->vol->meta;
    char *copy = strdup(vpath), *save = NULL, *comp, *comps[1024];
    uint64_t cur = META_ROOT_INO;
    int rc = 0, n = 0;

    if (!copy)
        return cli_fail(im->cmd, vpath, "%s", strerror(ENOMEM));
    for (comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save))
        if (strcmp(comp, ".") != 0 && n < (int)(sizeof comps / sizeof comps[0]))
            comps[n++] = comp;
    *fresh = 0;
    for (int i = 0; i < n; i++) {
        struct meta_attr a;
        size_t len = strlen(comps[i]);
        int last = i == n - 1, created = 0;

        for (int tries = 0; tries < 3; tries++) {
            rc = meta_lookup(m, cur, comps[i], len, &a);
            if (rc != -ENOENT)
                break;
            memset(&a, 0, sizeof a);
            a.mode = S_IFDIR | (last ? (root->st_mode & 07777) : 0755);
            a.uid = last ? root->st_uid : getuid();
            a.gid = last ? root->st_gid : getgid();
            rc = meta_create(m, cur, comps[i], len, &a, NULL, 1);
            created = rc == 0;
            if (rc != -EEXIST)   /* EEXIST: created meanwhile, look again */
                break;
        }
        if (rc == 0 && !S_ISDIR(a.mode))
            rc = -ENOTDIR;
        if (rc == -ENOTDIR || rc == -ENAMETOOLONG) {
            rc = cli_fail(im->cmd, vpath, "'%s' %s", comps[i], rc == -ENOTDIR ?
                          "exists and is not a directory" : "is too long a name");
            goto out;
        }
        if (rc < 0) {
            rc = cli_meta_fail(im->cmd, meta_describe(m), rc);
            goto out;
        }
        *fresh = created;
        cur = a.ino;
    }
    *ino = cur;
    if (*fresh && (rc = cli_import_remember_dir(im, cur, root)) < 0)
        rc = cli_fail(im->cmd, vpath, "%s", strerror(-rc));
out:
    free(copy);
    return rc;
}

/* Count regular files and bytes up front, for the bar's ETA (terminal only). */
static uint64_t cli_import_count_files, cli_import_count_bytes;

static int cli_import_count_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode)) {
        cli_import_count_files++;
        cli_import_count_bytes += (uint64_t)st->st_size;
    }
    return 0;
}

static void cli_import_raise_nofile(void)
{
    struct rlimit rl;

    /* One descriptor per file in flight: at most the ring plus workers. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int cli_import_threads(const struct volume *v, int wanted)
{
    uint64_t per = 2 * (uint64_t)v->settings.block_size;
    uint64_t fit = per ? v->cfg.buffer_size / per : 1;
    int n = wanted > 0 ? wanted : v->cfg.threads > 0 ? v->cfg.threads : 16;

    if ((uint64_t)n > fit)
        n = fit > 0 ? (int)fit : 1;
    return n;
}

static void cli_import_summary(struct cli_import *im, double secs)
{
    double mib = atomic_load(&im->bytes) / 1048576.0;
    uint64_t files = atomic_load(&im->files);

    if (secs <= 0)
        secs = 1e-9;
    printf("imported %llu files, %llu dirs, %llu symlinks, %.1f MiB in %.2f s "
           "(%.0f files/s, %.1f MiB/s)\n",
           (unsigned long long)files, (unsigned long long)atomic_load(&im->dir_count),
           (unsigned long long)atomic_load(&im->symlinks), mib, secs, files / secs,
           mib / secs);
    fflush(stdout);
}

/* Walk, upload and commit; then the directories' times. */
static int cli_import_run(struct cli_import *im, int rootfd, const char *local,
                          uint64_t dest, int fresh)
{
    int rc;

    rc = cli_import_pool_start(im);
    if (rc < 0) {
        close(rootfd);
        return cli_fail(im->cmd, "threads", "%s", strerror(-rc));
    }
    rc = cli_import_commit_start(im);
    if (rc < 0) {
        close(rootfd);
        cli_import_pool_finish(im);
        return cli_fail(im->cmd, "threads", "%s", strerror(-rc));
    }
    rc = cli_import_walk(im, rootfd, local, dest, fresh);
    cli_import_pack_flush(im);
    cli_import_pool_finish(im);
    cli_import_commit_finish(im);
    if (atomic_load(&im->fatal))
        return CLI_FAIL;    /* already reported where it happened */
    if (rc < 0)
        return cli_fail(im->cmd, local, "%s", strerror(-rc));
    rc = cli_import_commit_dir_times(im);
    if (rc < 0)
        return cli_meta_fail(im->cmd, meta_describe(im->vol->meta), rc);
    return CLI_OK;
}

int cli_cmd_import(int argc, char **argv)
{
    struct cli_import_args a;
    struct cli_import im;
    struct stat root;
    uint64_t dest = 0;
    int code, fresh = 0, rootfd;
    double t0;

    if (cli_import_parse(argc, argv, &a, &code) < 0)
        return code;
    rootfd = open(a.local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0 || fstat(rootfd, &root) < 0) {
        code = cli_fail("import", a.local, "%s", strerror(errno));
        if (rootfd >= 0)
            close(rootfd);
        return code;
    }
    memset(&im, 0, sizeof im);
    im.cmd = "import";
    if (cli_open_volume(im.cmd, &im.vol) != 0) {
        close(rootfd);
        return CLI_FAIL;
    }
    if (cli_session_begin(im.cmd, im.vol) != 0) {
        close(rootfd);
        volume_close(im.vol);
        return CLI_FAIL;
    }
    im.block_size = im.vol->settings.block_size;
    im.threads = cli_import_threads(im.vol, a.threads);
    im.batch = a.batch;
    im.pack_max = a.pack_max;
    /* A pack is one object: at most a block. */
    im.pack_target = im.block_size < CLI_IMPORT_PACK_TARGET ? im.block_size : CLI_IMPORT_PACK_TARGET;
    cli_import_raise_nofile();
    t0 = cli_mono_s();
    code = cli_import_dest(&im, a.vpath, &root, &dest, &fresh);
    if (code != 0) {
        close(rootfd);
        free(im.dirs);
        cli_session_end(im.vol);
        volume_close(im.vol);
        return code;
    }
    if (isatty(STDERR_FILENO))
        nftw(a.local, cli_import_count_cb, 64, FTW_PHYS);
    cli_progress_start(&im.progress, "files", cli_import_count_files, cli_import_count_bytes);
    code = cli_import_run(&im, rootfd, a.local, dest, fresh);
    cli_progress_stop(&im.progress);
    cli_import_summary(&im, cli_mono_s() - t0);
    if (atomic_load(&im.errors)) {
        fprintf(stderr, "shimfs import: %llu entries could not be imported (see above)\n",
                (unsigned long long)atomic_load(&im.errors));
        code = CLI_FAIL;
    }
    free(im.dirs);
    cli_session_end(im.vol);
    volume_close(im.vol);
    return code;
}

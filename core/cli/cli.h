/* cli.h - the `shimfs` command line: commands, their shared helpers, and
 * the import pipeline's internal contract.
 *
 * Promises of every command: usage errors print one line on stderr and exit
 * CLI_USAGE (2); runtime failures print one line "shimfs CMD: what: why" on
 * stderr and exit CLI_FAIL (1); `--help` prints the command's usage on
 * stdout and exits 0. The library's own log lines are hidden unless the user
 * asked for them (SHIMFS_LOG or -v), so a failure reads as one clear line.
 */
#ifndef SHIMFS_CLI_H
#define SHIMFS_CLI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "meta.h"
#include "volume.h"

#define CLI_VERSION "0.1.0"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* One command of the dispatch table (core/cli/main.c). argv[0] is the
 * command's name; the function returns the process exit code. */
struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

int cli_cmd_agent(int argc, char **argv);
int cli_cmd_format(int argc, char **argv);
int cli_cmd_import(int argc, char **argv);
int cli_cmd_ls(int argc, char **argv);
int cli_cmd_stat(int argc, char **argv);
int cli_cmd_cat(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_version(int argc, char **argv);
int cli_cmd_warmup(int argc, char **argv);
int cli_cmd_stats(int argc, char **argv);
int cli_cmd_gc(int argc, char **argv);
int cli_cmd_fsck(int argc, char **argv);
int cli_cmd_flush(int argc, char **argv);
int cli_cmd_inject(int argc, char **argv);

/* ---- inventory for gc and fsck (cli_inventory.c) ---- */
struct cli_ref { uint64_t id; uint32_t size; };          /* a referenced slice */
struct cli_obj { uint64_t id; uint32_t index, len; uint64_t bytes; }; /* a stored block */
struct cli_inventory {
    const char *uuid;
    struct cli_ref *refs;      /* ascending id */
    size_t nrefs, refs_cap;
    struct cli_obj *objs;      /* ascending (id, index) */
    size_t nobjs, objs_cap;
    uint64_t foreign;          /* keys under chunks/ that are not block keys */
};
int cli_inventory_load(struct volume *v, struct cli_inventory *inv);
const struct cli_ref *cli_inventory_ref(const struct cli_inventory *inv, uint64_t id);
int cli_inventory_has(const struct cli_inventory *inv, uint64_t id, uint32_t index, uint32_t len);
void cli_inventory_free(struct cli_inventory *inv);

/* ---- messages (cli_util.c) ---- */
/* "shimfs CMD: what: why" on stderr. Returns CLI_FAIL. */
int cli_fail(const char *cmd, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "shimfs CMD: message (see shimfs CMD --help)" on stderr. Returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* strerror of a negative errno, with a shimfs-specific hint appended for
 * the database's answers (unreachable, auth refused, not formatted ...). */
const char *cli_meta_reason(int err, char *buf, size_t cap);
/* Report a database failure: "shimfs CMD: database DESC: reason". */
int cli_meta_fail(const char *cmd, const char *desc, int err);

/* ---- common options ---- */
enum { CLI_OPT_META = 0x1000 };
/* getopt_long loop prologue shared by every command: handles -h/--help and
 * --meta (exported as SHIMFS_META so the vfs and config see it), and reports
 * unknown options. Returns 1 if the option was handled, 0 if it is the
 * command's own, or -1 with *exit_code set when the command must stop. */
int cli_common_option(int c, const char *cmd, const char *usage, char **argv,
                      int *exit_code);
void cli_set_meta(const char *url);
/* A command's options as a table, parsed by cli_parse_options (one loop for
 * every command: the table says what each option writes where). */
enum cli_opt_kind {
    CLI_OPT_FLAG,    /* --NAME: *(int *)dest = 1 */
    CLI_OPT_INT,     /* --NAME N: *(int *)dest = N, from lo to hi */
    CLI_OPT_SECONDS, /* --NAME S: *(int64_t *)dest = S seconds in ns (a decimal number) */
    CLI_OPT_CHOICE,  /* --NAME: *(int *)dest = lo; two CHOICEs of one dest exclude each other */
};
struct cli_opt {
    const char *name;       /* the long option, without "--"; NULL ends the table */
    enum cli_opt_kind kind;
    void *dest;
    long lo, hi;
};
#define CLI_OPTS_MAX 16
/* getopt_long over opts, plus --meta and --help (cli_common_option).
 * operand: NULL when the command takes no arguments, else the name of
 * the one or more it needs ("PATH"). 0 with optind at the first operand,
 * or -1 with *exit_code set (a usage error said in one line, or --help). */
int cli_parse_options(int argc, char **argv, const char *cmd, const char *usage,
                      const struct cli_opt *opts, const char *operand, int *exit_code);
/* `shimfs settings` (cli_settings.c); the list for `shimfs --help`. */
int cli_cmd_settings(int argc, char **argv);
void cli_settings_list(FILE *out);
/* Hide library log lines unless the user asked for them: SHIMFS_LOG, when
 * the user set none, becomes CLI_LOG_QUIET (the CLI's own line says what
 * failed; the engine's go nowhere). */
#define CLI_LOG_QUIET "error,file=/dev/null"
void cli_log_setup(int verbose);

/* Open the volume named by the environment (SHIMFS_META); reports the
 * failure itself. Returns 0 or CLI_FAIL. */
int cli_open_volume(const char *cmd, struct volume **out);
/* A session for a command that uploads (cli_session.c): reservations
 * recorded with it, a heartbeat thread. begin reports its failure itself
 * (0 or CLI_FAIL); end stops the thread and closes the session. One at a
 * time: begin again only after end (asserted). */
int cli_session_begin(const char *cmd, struct volume *v);
void cli_session_end(struct volume *v);
/* The vfs for ls/stat/cat; reports the failure itself. 0 or CLI_FAIL. */
int cli_vfs_init(const char *cmd);
/* Report a vfs answer for `path`: VFS_ESCAPED names the host path it
 * leads to, negative errnos their strerror. Returns CLI_FAIL. */
int cli_vfs_fail(const char *cmd, const char *path, int rc, const char *host);
/* Warmup's page-cache choice (cli_warm_memory.c). cli_warm_memory: the
 * memory free for the page cache (SHIMFS_WARMUP_MEMORY, else MemAvailable
 * lowered to the container's room), *source naming where it came from; 0
 * or -errno. cli_warm_choose: 1 to warm `bytes` through the page cache, 0
 * around it, with the reason in `why` (one line, no newline). */
int cli_warm_memory(const struct shimfs_config *cfg, uint64_t *avail, const char **source);
int cli_warm_choose(const struct shimfs_config *cfg, uint64_t bytes, char *why, size_t cap);
/* Normalise a user's volume path: "" or "a/b" -> "/" or "/a/b". */
int cli_volume_path(const char *in, char *out, size_t cap);

/* ---- small utilities (cli_util.c, cli_uuid.c) ---- */
int64_t cli_now_ns(void);
double cli_mono_s(void);
/* "zstd:1" / "none". */
const char *cli_codec_spec(int algo, int level, char *buf, size_t cap);
/* A block size exactly: "4 MiB", "64 KiB". */
const char *cli_block_size(uint32_t n, char *buf, size_t cap);
/* Time as "2024-05-01 12:00:00.123456789 +0000" (local zone). */
const char *cli_format_time(int64_t ns, int with_ns, char *buf, size_t cap);
/* Fill buf with n bytes from /dev/urandom. 0 or -errno. */
int cli_random_bytes(void *buf, size_t n);
/* RFC 4122 version 4 uuid text (36 chars + NUL). 0 or -errno. */
int cli_uuid_v4(char out[37]);
/* "drwxr-xr-x" (11 bytes with NUL). */
const char *cli_mode_string(unsigned mode, char out[11]);
/* Print a name with control bytes, invalid UTF-8 and backslashes escaped
 * the way `ls -b` does (cli_escape.c). */
void cli_print_name(FILE *out, const char *name);
/* Join a volume directory path and a name ("/" + "a" -> "/a"). */
int cli_path_join(const char *dir, const char *name, char *out, size_t cap);

/* ---- progress (cli_progress.c) ----
 * Counters updated from any thread; a bar redrawn at most 10 times a second
 * on stderr when it is a terminal, nothing otherwise. */
struct cli_progress {
    const char *label;
    _Atomic uint64_t items, bytes;
    uint64_t items_total, bytes_total;   /* 0: unknown, no ETA */
    double start;
    int tty, running;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};
void cli_progress_start(struct cli_progress *p, const char *label,
                        uint64_t items_total, uint64_t bytes_total);
/* Stop the redraw thread and erase the bar. */
void cli_progress_stop(struct cli_progress *p);

/* ---- import pipeline (cli_import*.c) ----
 * walk (main thread) -> block tasks -> upload workers -> commit queue ->
 * committer thread (meta_import_files, one transaction per batch). Small
 * files are read by the walk into a pack, uploaded as one object (one
 * slice, each file a range of it) and committed once it is stored. A
 * file's entry is created only after every block of it is in the store. */
struct cli_import_file {
    struct cli_import_file *next;   /* commit queue link */
    char *lpath;                    /* local path, for messages */
    const char *name;               /* entry name (inside lpath) */
    size_t nlen;
    uint64_t parent;                /* volume directory inode */
    struct meta_attr attr;          /* type, mode, uid, gid, atime, mtime */
    char *target;                   /* symlinks */
    int fd;                         /* regular files while uploading */
    uint64_t size;
    uint32_t nchunks;
    uint64_t *slice_ids;            /* one per chunk */
    _Atomic int pending;            /* block tasks not finished (+1 held by walk) */
    _Atomic int err;                /* first failure (negative errno) */
    int err_remote;                 /* the failure came from the store */
    const char *err_what;           /* the step that failed ("read", "upload" ...) */
    char err_key[LAYOUT_KEY_MAX];   /* object key of a failed upload */
    /* packs: a pack is a file record of its own (pack_buf set, no fd)
     * whose members are committed when it is stored */
    char *pack_buf;                 /* a pack's bytes */
    struct cli_import_file *members;/* a pack's files */
    struct cli_import_file *pack_next; /* link among a pack's members */
    int nmembers;
    int packed;                     /* a member: its bytes are [pack_off, +size) */
    uint64_t pack_off;              /*   of slice slice_ids[0], whose length */
    uint32_t pack_size;             /*   is pack_size */
};

struct cli_import_task {
    struct cli_import_file *file;
    uint64_t off;                   /* file offset of the block */
    uint32_t chunk, index, len;     /* chunk, block index in its slice, length */
};

struct cli_import_dir { uint64_t ino; int64_t atime_ns, mtime_ns; };

struct cli_import {
    struct volume *vol;
    const char *cmd;
    int threads;
    uint32_t block_size;

    /* task queue (bounded ring) */
    pthread_mutex_t qlock;
    pthread_cond_t qnot_empty, qnot_full;
    struct cli_import_task *ring;
    int qcap, qhead, qcount, qclosed;
    pthread_t *workers;

    /* commit queue */
    pthread_mutex_t clock;
    pthread_cond_t cnot_empty, cspace;
    struct cli_import_file *chead, *ctail;
    int ccount, cclosed;
    int inflight, inflight_max;     /* files between walk and commit */
    struct cli_import_file **cbatch;/* the committer's batch (2 x batch slots) */
    pthread_t committer;

    /* slice ids handed out by the database in batches (walk thread only) */
    uint64_t id_next, id_left;

    /* packing small files (walk thread only) */
    struct cli_import_file *pack;   /* the pack being filled, or NULL */
    uint64_t pack_max;              /* files of at most this size are packed */
    uint32_t pack_target;           /* a pack is closed at this size */
    int batch;                      /* files per commit transaction */

    /* directories whose times are set once their contents exist */
    struct cli_import_dir *dirs;
    size_t ndirs, dirs_cap;

    _Atomic int fatal;              /* store or database failure: stop */
    _Atomic uint64_t errors;        /* files that could not be imported */
    _Atomic uint64_t files, symlinks, dir_count, bytes, skipped;
    int db_failed;                  /* committer: the database failed, stop trying */
    struct cli_progress progress;
};

int cli_import_pool_start(struct cli_import *im);
/* Queue one block; waits while the queue is full. */
void cli_import_pool_push(struct cli_import *im, const struct cli_import_task *t);
/* No more tasks: let the workers drain the queue and exit. */
void cli_import_pool_finish(struct cli_import *im);
/* The walk's hold on a file ends: when no block is pending either, the file
 * goes to the commit queue. */
void cli_import_file_release(struct cli_import *im, struct cli_import_file *f);

int cli_import_commit_start(struct cli_import *im);
void cli_import_commit_push(struct cli_import *im, struct cli_import_file *f);
/* Waits while too many files are between the walk and their commit. */
void cli_import_commit_wait_room(struct cli_import *im);
/* No more files: commit the rest and join the committer. */
void cli_import_commit_finish(struct cli_import *im);
/* 1 when a database answer concerns one name only (EEXIST, ENOENT ...),
 * so the import goes on; 0 for failures of the database itself. */
int cli_import_namespace_err(int err);
/* Set every created directory's times (after its contents exist). */
int cli_import_commit_dir_times(struct cli_import *im);
void cli_import_file_free(struct cli_import_file *f);
/* Report a failed file on stderr; store/database failures become fatal. */
void cli_import_file_error(struct cli_import *im, struct cli_import_file *f,
                           const char *what, int err, int remote);
/* Record a file's first failure (any thread); later ones are dropped.
 * -ECANCELED means "abandoned after a fatal failure elsewhere": silent. */
void cli_import_file_fail(struct cli_import_file *f, int err, const char *what,
                          int remote, const char *key);
/* One line on stderr, erasing the progress bar first so they never mix. */
void cli_import_say(struct cli_import *im, const char *line);
/* A local problem with path `lpath`: one line, counted, not fatal
 * (err 0: `what` says it all). */
void cli_import_local_error(struct cli_import *im, const char *lpath,
                            const char *what, int err);

/* Walk local directory `dfd` (named lpath; the walk closes it) into volume directory `ino`.
 * `fresh`: the volume directory was just created (nothing can exist in it). */
int cli_import_walk(struct cli_import *im, int dfd, const char *lpath,
                    uint64_t ino, int fresh);
int cli_import_remember_dir(struct cli_import *im, uint64_t ino,
                            const struct stat *st);
/* A slice id reserved by the import's session (walk thread only). */
int cli_import_slice_id(struct cli_import *im, uint64_t *id);
/* Add regular file f (open on f->fd, f->size bytes, 0 < size <= pack_max)
 * to the current pack: its bytes are read now and its descriptor closed.
 * 0 (a local read failure was reported and f freed), or <0: fatal. */
int cli_import_pack_add(struct cli_import *im, struct cli_import_file *f);
/* Close the current pack and queue its upload (walk thread only). */
void cli_import_pack_flush(struct cli_import *im);
/* The pack's upload ended: hand its members to the committer, free it. */
void cli_import_pack_done(struct cli_import *im, struct cli_import_file *p);

#endif

/* shim_exec.h - running programs and scripts stored in the volume (docs/exec.md).
 *
 * The kernel cannot open a volume path, so an exec of one is planned here:
 * the kernel's checks (ENOENT, ENOTDIR, EACCES for no x bit or a
 * non-regular file, ETXTBSY when this process has it open for writing),
 * then the file's node-local copy (vfs_materialize) is what the kernel
 * gets. A `#!` script is run as the kernel would run it, but by the shim:
 * interpreter [arg] <the script's path as given> args..., the interpreter
 * materialised too when it is in the volume (nested up to 4 levels, then
 * ELOOP), so a preloaded interpreter reads the script through the shim and
 * its $0 is the volume path. argv[0] of a binary is kept as given.
 *
 * A plan holds no pointers, so a vfork child (which must not start the
 * engine: it shares our memory) has it made by a forked helper and read
 * back through a pipe. Paths outside the prefix are never planned.
 */
#ifndef SHIM_EXEC_H
#define SHIM_EXEC_H

#include "shim.h"

#define SHIM_EXEC_DEPTH 4  /* nested interpreters, as the kernel allows */
#define SHIM_EXEC_LINE 256 /* the kernel reads this much of a `#!` line */

struct shim_exec_plan {
    int err;    /* 0 or -errno: the exec fails with it */
    int levels; /* `#!` scripts met (0: a binary) */
    int atflags; /* what was asked (AT_SYMLINK_NOFOLLOW) */
    char interp[SHIM_EXEC_DEPTH][SHIM_EXEC_LINE];
    char arg[SHIM_EXEC_DEPTH][SHIM_EXEC_LINE];
    char has_arg[SHIM_EXEC_DEPTH];
    char file[SHIM_PATH_MAX]; /* what the kernel is handed */
    char abs[SHIM_PATH_MAX];  /* the first file as an absolute path (prefix + its
                                    volume path): a script's name for execveat */
};

/* Plan the exec of (dirfd, path): 0 when it is the host's (call libc
 * unchanged), 1 when planned (p->err may say it fails). atflags:
 * AT_SYMLINK_NOFOLLOW (execveat). */
int shim_exec_plan(int dirfd, const char *path, int atflags, struct shim_exec_plan *p);

/* Run a plan: build argv (name: the path the program asked for, a
 * script's $0) and the environment (envp plus what keeps the volume:
 * LD_PRELOAD with the shim, and the SHIMFS_* and LD_AUDIT variables of
 * this process that envp lacks), then either execve (spawn_pid NULL;
 * returns -errno only on failure) or posix_spawn (returns its answer, an
 * errno value or 0). */
int shim_exec_run(const struct shim_exec_plan *p, const char *name, char *const argv[],
                  char *const envp[], pid_t *spawn_pid, const posix_spawn_file_actions_t *fa,
                  const posix_spawnattr_t *attr);

/* True when a PATH search for a name may end in the volume: an absolute
 * entry inside the prefix, or a relative one while the cwd is in it. */
int shim_exec_path_has_volume(const char *path);

/* The PATH search of execvp/posix_spawnp, done here because libc's uses
 * its internal execve: every entry in order, the first exec that works.
 * spawn_pid NULL: exec (returns -errno); else posix_spawn (returns errno
 * value or 0). */
int shim_exec_search(const char *file, const char *path, char *const argv[], char *const envp[],
                     pid_t *spawn_pid, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr);

#endif

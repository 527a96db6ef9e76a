/* shim_spawn.c - posix_spawn and posix_spawnp of volume files (what
 * Python's subprocess and many runtimes use).
 *
 * The plan (shim_exec.h) is made here in the parent, before libc's spawn
 * child (which shares our memory) exists; the child only runs the
 * planned file. posix_spawnp searches PATH itself only when an entry may
 * lead into the volume. File actions that change the child's working
 * directory (posix_spawn_file_actions_addchdir_np) are not seen: a
 * relative path is planned against this process's working directory.
 */
#include "shim.h"

#include <spawn.h>
#include <stdlib.h>
#include <string.h>

#include "shim_exec.h"

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    shim_init();
    struct shim_exec_plan p;
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass() || shim_in_vfork_child() ||
        !shim_exec_plan(AT_FDCWD, path, 0, &p))
        return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
    pid_t ignored;
    return shim_exec_run(&p, path, argv, envp, pid ? pid : &ignored, fa, attr);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    shim_init();
    if (SHIM_LIKELY(!shim_cfg.enabled) || shim_bypass() || shim_in_vfork_child() ||
        shim_str_is_null(file) || !*file)
        return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
    if (strchr(file, '/'))
        return posix_spawn(pid, file, fa, attr, argv, envp);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    if (SHIM_LIKELY(!shim_exec_path_has_volume(path)))
        return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
    pid_t ignored;
    return shim_exec_search(file, path, argv, envp, pid ? pid : &ignored, fa, attr);
}

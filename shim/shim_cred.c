/* shim_cred.c - changes of user: setuid, seteuid, setreuid, setresuid.
 *
 * A process that gives up root before its first volume call (pjdfstest -u,
 * su, a daemon dropping privileges) could not open the node's shared
 * metadata page afterwards (it is root's alone), so its commits would not
 * invalidate what the node's other processes cached: they would read the
 * state from before its change until their TTLs ran out. Before root gives
 * up its effective uid, the engine keeps that page open (the way an open
 * descriptor outlives a change of user). Only a root process pays, once.
 */
#include "shim.h"

#include <unistd.h>

#include "shim_core.h"

static void shim_cred_before(uid_t new_euid)
{
    if (SHIM_LIKELY(geteuid() != 0) || new_euid == 0 || new_euid == (uid_t)-1 ||
        !shim_cfg.enabled || shim_bypass())
        return;
    if (shim_core_load() == 0)
        SHIM_VFS_VOID(before_setuid);
}

SHIM_EXPORT int setuid(uid_t uid)
{
    shim_cred_before(uid);
    return REAL(setuid)(uid);
}

SHIM_EXPORT int seteuid(uid_t euid)
{
    shim_cred_before(euid);
    return REAL(seteuid)(euid);
}

SHIM_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
    shim_cred_before(euid);
    return REAL(setreuid)(ruid, euid);
}

SHIM_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    shim_cred_before(euid);
    return REAL(setresuid)(ruid, euid, suid);
}

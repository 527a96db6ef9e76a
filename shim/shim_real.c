/* shim_real.c - resolves the real libc functions (dlsym RTLD_NEXT) once.
 *
 * Promise: after shim_real_init every REAL(name) is callable. A symbol the
 * C library lacks (an older glibc without close_range, say) points at a stub
 * that fails with ENOSYS; no program linked against that glibc can call it
 * through us anyway.
 */
#include "shim.h"

#include <dlfcn.h>

#define SHIM_REAL_DEFINE(ret, name, params) ret (*shim_real_##name) params;
SHIM_REAL_LIST(SHIM_REAL_DEFINE)
#undef SHIM_REAL_DEFINE

static long shim_real_missing(void)
{
    errno = ENOSYS;
    return -1;
}

void shim_real_init(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
    void *p;
#define SHIM_REAL_RESOLVE(ret, name, params)                                   \
    p = dlsym(RTLD_NEXT, #name);                                               \
    shim_real_##name = (ret (*) params)(p ? p : (void *)shim_real_missing);
    SHIM_REAL_LIST(SHIM_REAL_RESOLVE)
#undef SHIM_REAL_RESOLVE
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

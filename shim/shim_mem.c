/* shim_mem.c - readable strings (see shim_mem.h). The probe is the kernel:
 * rt_sigprocmask with an invalid `how` copies the 8-byte set from the
 * address first (EFAULT when it cannot) and then refuses the `how`
 * (EINVAL), changing nothing. It needs no descriptor, no signal handler
 * and is allowed by every seccomp profile that lets a program run.
 * Also here: munmap, mremap and mprotect, which may take pages away, so
 * they make every thread forget what it saw; munmap, msync and mremap
 * also tell the registry of shared maps of volume files (shim_maps.c).
 */
#include "shim.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_maps.h"
#include "shim_mem.h"

/* 1 is no page address: an empty entry never matches (0 would be NULL's page). */
__thread uintptr_t shim_mem_seen[SHIM_MEM_WAYS] __attribute__((tls_model("initial-exec"))) = {
    1, 1, 1, 1
};

__thread unsigned shim_mem_seen_gen __attribute__((tls_model("initial-exec")));
unsigned shim_mem_gen;

/* Whether the page at `page` (grain-aligned, not 0) can be read. */
static int shim_mem_probe(uintptr_t page)
{
    int saved = errno;
    long r = REAL(syscall)(SYS_rt_sigprocmask, -1, (void *)page, NULL, (size_t)8);
    int ok = r < 0 && errno != EFAULT;
    errno = saved;
    return ok;
}

/* Make page the most recent entry (the inline test looks at entry 0 only). */
static void shim_mem_use(uintptr_t page)
{
    int i = 0;
    while (i < SHIM_MEM_WAYS - 1 && shim_mem_seen[i] != page)
        i++;
    for (; i > 0; i--)
        shim_mem_seen[i] = shim_mem_seen[i - 1];
    shim_mem_seen[0] = page;
}

int shim_mem_str_ok_slow(const char *s)
{
    uintptr_t a = (uintptr_t)s;
    if (a < SHIM_MEM_GRAIN)
        return 0; /* NULL and the page the kernel never maps */
    unsigned gen = __atomic_load_n(&shim_mem_gen, __ATOMIC_ACQUIRE);
    if (shim_mem_seen_gen != gen) {
        for (int i = 0; i < SHIM_MEM_WAYS; i++)
            shim_mem_seen[i] = 1;
        shim_mem_seen_gen = gen;
    }
    for (;;) {
        uintptr_t page = a & ~(uintptr_t)(SHIM_MEM_GRAIN - 1);
        if (!shim_mem_seen_page(page) && !shim_mem_probe(page))
            return 0;
        if (a == (uintptr_t)s)
            shim_mem_use(page);
        size_t room = page + SHIM_MEM_GRAIN - a;
        if (strnlen((const char *)a, room) < room)
            return 1;
        a = page + SHIM_MEM_GRAIN;
        if (a == 0)
            return 0; /* ran off the top of the address space */
    }
}

static void shim_mem_forget_all(void)
{
    __atomic_add_fetch(&shim_mem_gen, 1, __ATOMIC_RELEASE);
}

SHIM_EXPORT int munmap(void *addr, size_t len)
{
    int r = REAL(munmap)(addr, len);
    shim_mem_forget_all();
    if (SHIM_UNLIKELY(shim_maps_active()) && r == 0) {
        int saved = errno;
        shim_maps_unmapped(addr, len); /* a shared map of a volume file: commit */
        errno = saved;
    }
    return r;
}

/* msync(MS_SYNC) of a shared map of a volume file commits it
 * (shim_maps.c); MS_ASYNC and MS_INVALIDATE are the kernel's. */
SHIM_EXPORT int msync(void *addr, size_t len, int flags)
{
    int r = REAL(msync)(addr, len, flags);
    if (SHIM_UNLIKELY(shim_maps_active()) && r == 0 && (flags & MS_SYNC)) {
        int rc = shim_maps_sync(addr, len);
        if (rc < 0) {
            errno = -rc;
            r = -1;
        }
    }
    return r;
}

SHIM_EXPORT int mprotect(void *addr, size_t len, int prot)
{
    int r = REAL(mprotect)(addr, len, prot);
    if (!(prot & PROT_READ))
        shim_mem_forget_all();
    return r;
}

SHIM_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *want = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
    va_end(ap);
    void *r = (void *)REAL(syscall)(SYS_mremap, old, old_len, new_len, flags, want);
    shim_mem_forget_all();
    if (SHIM_UNLIKELY(shim_maps_active()) && r != MAP_FAILED)
        shim_maps_moved(old, r, new_len);
    return r;
}

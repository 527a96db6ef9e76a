/* shim_mem.h - is a string a program handed us readable? The kernel
 * answers EFAULT for a path it cannot read; the shim reads paths itself (to
 * tell the volume from the host) and must answer the same instead of
 * crashing its host program.
 *
 * Promise: shim_mem_str_ok(s) is 1 only when every byte of s up to and
 * including its NUL is readable, 0 for NULL and for a string that runs
 * into memory that is not. Cost: pages already seen readable by this
 * thread (a 4-entry cache) need a string scan bounded by the page; a new
 * page costs one system call (the kernel copies 8 bytes of it). munmap,
 * mremap and mprotect through libc's symbols empty every thread's cache
 * (a generation count). Known gap: libc's own unmapping (free() of a large
 * block) is not seen, so a path in a freed large block may be trusted
 * while its page is in the cache (a use-after-free in the program).
 */
#ifndef SHIM_MEM_H
#define SHIM_MEM_H

#include <stdint.h>
#include <string.h>

#include "shim.h"

#define SHIM_MEM_GRAIN 4096u   /* readability is uniform inside any page, and pages are multiples of this */
#define SHIM_MEM_WAYS 4

extern __thread uintptr_t shim_mem_seen[SHIM_MEM_WAYS] __attribute__((tls_model("initial-exec")));
extern __thread unsigned shim_mem_seen_gen __attribute__((tls_model("initial-exec")));
extern unsigned shim_mem_gen;   /* bumped by every unmapping and protection change */

int shim_mem_str_ok_slow(const char *s);

/* Entry 0 is the page used last; empty entries hold 1, which no page
 * address equals, and page 0 is never entered. */
static inline int shim_mem_seen_page(uintptr_t page)
{
    return page == shim_mem_seen[0] || page == shim_mem_seen[1] || page == shim_mem_seen[2] ||
           page == shim_mem_seen[3];
}

static inline int shim_mem_str_ok(const char *s)
{
    s = shim_opaque(s); /* may be NULL whatever libc's prototype says */
    uintptr_t a = (uintptr_t)s, page = a & ~(uintptr_t)(SHIM_MEM_GRAIN - 1);
    if (SHIM_LIKELY(page == shim_mem_seen[0]) &&
        SHIM_LIKELY(shim_mem_seen_gen == __atomic_load_n(&shim_mem_gen, __ATOMIC_ACQUIRE))) {
        size_t room = page + SHIM_MEM_GRAIN - a;
        if (SHIM_LIKELY(strnlen(s, room) < room))
            return 1;
    }
    return shim_mem_str_ok_slow(s);
}

/* "" (AT_EMPTY_PATH's test), never reading a bad pointer. */
static inline int shim_str_is_empty(const char *s)
{
    return shim_mem_str_ok(s) && s[0] == '\0';
}

/* -EFAULT for a path the kernel could not read, else 0. */
static inline int shim_mem_path(const char *s)
{
    return SHIM_LIKELY(shim_mem_str_ok(s)) ? 0 : -EFAULT;
}

#endif

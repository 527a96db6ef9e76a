/* shim_helper.h - engine work on behalf of a vfork child.
 *
 * A vfork child shares its parent's memory and must neither start nor use
 * the engine (its connections, threads and caches are the parent's). What
 * it needs from the engine (an exec plan, a chdir's checks) is done by a
 * forked helper: a process of its own, with its own copy of the memory,
 * whose answer comes back through a pipe.
 */
#ifndef SHIM_HELPER_H
#define SHIM_HELPER_H

#include <stddef.h>

/* Run fn(buf) in a forked helper and copy its buf (len bytes, no
 * pointers) back. 0, or -errno when the helper could not run or answer
 * (buf is then unchanged or partly written: the caller's to reset). */
int shim_helper_run(void (*fn)(void *buf), void *buf, size_t len);

#endif

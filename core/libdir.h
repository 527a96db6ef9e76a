/* libdir.h - the folder the engine's code was loaded from: where its
 * companion libraries (backend_lazy.c) and the `shimfs` binary the node
 * agent runs (agent.c) are looked for, so a copied folder, an installed
 * prefix and SHIMFS_CORE_LIB all work.
 */
#ifndef SHIMFS_LIBDIR_H
#define SHIMFS_LIBDIR_H

#include <stddef.h>

/* The folder, with a trailing '/', into out; "" when unknown. */
void libdir_get(char *out, size_t cap);

#endif

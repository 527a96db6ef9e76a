/* meta_ops.c - the PostgreSQL engine's table (struct meta_ops, meta.h):
 * the one symbol core/ resolves in libshimfs-pg.so (backend_lazy.h).
 * Filled from meta.h's lists: nothing to edit here when a call is added.
 */
#include "meta.h"

const struct meta_ops meta_pg_ops = {
    .size = sizeof(struct meta_ops),
#define META_HANDLE_ENTRY_(ret, name, params) .name = meta_##name,
#define META_ENTRY_(name, params, ...) .name = meta_##name,
    META_HANDLE_CALLS(META_HANDLE_ENTRY_)
    META_CALLS(META_ENTRY_)
#undef META_HANDLE_ENTRY_
#undef META_ENTRY_
};

/* backend_static.c - the backends linked in directly: the static engine
 * (libshimfs-core.a, for tests and tools) has metadata-sql/ and the S3
 * object store inside it, so their tables are at hand (backend_lazy.h).
 */
#include "backend_lazy.h"

#include <assert.h>

#include "meta.h"
#include "objstore_internal.h"

const void *backend_table(int which)
{
    assert(which >= 0 && which < BACKEND_COUNT);
    return which == BACKEND_PG ? (const void *)&meta_pg_ops : (const void *)&s3_backend;
}

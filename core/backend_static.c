/* backend_static.c - the backends linked in directly: the static engine
 * (libshimfs-core.a, for tests and tools) has metadata-sql/ and the S3
 * object store inside it, so nothing is loaded later (backend_lazy.h).
 */
#include "backend_lazy.h"

#include "s3_internal.h"

const struct obj_backend *obj_s3_backend(void)
{
    return &s3_backend;
}

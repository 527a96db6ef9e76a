/* backend_lazy.h - the engine's two network backends, each behind one
 * table of function pointers: libshimfs-pg.so (metadata-sql/, libpq)
 * exports `meta_pg_ops` (struct meta_ops, meta.h) and libshimfs-s3.so (the
 * S3 object store, libcurl) exports `s3_backend` (struct obj_backend,
 * s3_internal.h). Each table starts with its own size.
 *
 * Why: libpq and libcurl bring about 35 libraries (Kerberos, LDAP, two TLS
 * stacks) whose loading cost about 5 ms in every process; a process served
 * entirely by the node (metadata snapshots, block cache) needs neither.
 * So the shared engine loads a backend's library on the first call that
 * needs it (backend_lazy.c), next to libshimfs-core.so; the static
 * library (tests, tools) links both and points at the same tables
 * directly (backend_static.c). Callers are the same in both: core's
 * metadata handle (meta_handle.c) and the object store (objstore.c).
 */
#ifndef SHIMFS_BACKEND_LAZY_H
#define SHIMFS_BACKEND_LAZY_H

enum { BACKEND_PG, BACKEND_S3, BACKEND_COUNT };

/* The table of backend `which` (struct meta_ops for BACKEND_PG, struct
 * obj_backend for BACKEND_S3), or NULL when it cannot be had: its library
 * is missing, or is from another build (one log line per process, and the
 * failure is remembered). Cheap after the first call. */
const void *backend_table(int which);

#endif

/* backend_lazy.h - the engine's two network backends as libraries loaded on
 * first use: libshimfs-pg.so (metadata-sql/, libpq) and libshimfs-s3.so
 * (the S3 object store, libcurl), next to libshimfs-core.so.
 *
 * Why: libpq and libcurl bring about 35 libraries (Kerberos, LDAP, two TLS
 * stacks) whose loading cost about 5 ms in every process; a process served
 * entirely by the node (metadata snapshots, block cache) needs neither.
 * The static library (tests, tools) links both backends directly; there
 * obj_s3_backend() is plain and the meta_* calls are the real ones.
 */
#ifndef SHIMFS_BACKEND_LAZY_H
#define SHIMFS_BACKEND_LAZY_H

struct obj_backend;

enum { BACKEND_PG, BACKEND_S3, BACKEND_COUNT };

/* Load backend `which` once per process and let bind() take its symbols
 * (backend_lazy_sym). 1 when usable; 0 after one log line saying why not. */
int backend_lazy_get(int which, int (*bind)(void *lib));
void *backend_lazy_sym(void *lib, const char *name);

/* The S3 backend of objstore.c: lazy in the shared engine (its first
 * operation loads libshimfs-s3.so), direct in the static library. */
const struct obj_backend *obj_s3_backend(void);

#endif

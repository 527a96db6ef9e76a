/* shim_dl.h - libraries stored in the volume, for the dynamic loader
 * (shim_dl.c): dlopen/dlmopen of a volume library, and the dependency
 * closure that exec of a volume program can make before the loader runs.
 */
#ifndef SHIM_DL_H
#define SHIM_DL_H

/* Materialise the volume file vpath and the dependencies of it the loader
 * would find in the volume (DT_NEEDED through DT_RPATH, LD_LIBRARY_PATH
 * and DT_RUNPATH entries inside the prefix, $ORIGIN included), so that
 * the loader (with libshimfs-audit.so for searches outside $ORIGIN) finds
 * them all under the mirror root. The copy's host path in copy. 0 or
 * -errno (the file's own; a dependency that cannot be made is left to the
 * loader, which then reports it). Exports SHIMFS_MIRROR (see
 * shim_dl_export_root). */
int shim_dl_materialize(const char *vpath, char *copy, size_t cap);

/* Set SHIMFS_MIRROR (the mirror root, for libshimfs-audit.so in the
 * programs this process starts) once the engine is loaded; 0 or -errno. */
int shim_dl_export_root(void);

#endif

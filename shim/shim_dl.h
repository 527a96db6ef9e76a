/* shim_dl.h - libraries stored in the volume, for the dynamic loader
 * (shim_dl.c): dlopen/dlmopen of a volume library, and the dependency
 * closure that exec of a volume program makes before the loader runs.
 */
#ifndef SHIM_DL_H
#define SHIM_DL_H

/* Before exec of copy (a volume program's copy under the mirror root):
 * materialise the dependencies its loader will find in the volume
 * (DT_NEEDED through DT_RPATH, LD_LIBRARY_PATH and DT_RUNPATH entries
 * inside the prefix, $ORIGIN included), so that the loader finds them
 * under the mirror root ($ORIGIN in the copy) or through
 * libshimfs-audit.so. Best effort: a dependency that cannot be made is
 * the loader's to report. Not in a vfork child. Never touches the
 * environment (the caller's envp may be environ itself). */
void shim_dl_prepare_exec(const char *copy);

#endif

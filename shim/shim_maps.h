/* shim_maps.h - the shared maps of volume files open for writing, by
 * address: what munmap, msync and exit must commit (shim_maps.c). */
#ifndef SHIM_MAPS_H
#define SHIM_MAPS_H

#include <stddef.h>
#include <sys/types.h>

struct shim_ofd;

/* Any map registered? One load: the munmap/msync fast path. */
int shim_maps_active(void);
/* Record [addr, addr+len) as a shared map of o's file; takes over one
 * reference of o (the open file lives while the map does). */
void shim_maps_add(void *addr, size_t len, off_t off, struct shim_ofd *o);
/* [addr, addr+len) was unmapped (munmap, or MAP_FIXED over it): the
 * files mapped there commit what those maps changed, the maps gone drop
 * their references. */
void shim_maps_unmapped(void *addr, size_t len);
/* msync(MS_SYNC) of [addr, addr+len): the files mapped there commit;
 * 0 or the first commit's -errno. */
int shim_maps_sync(void *addr, size_t len);
/* mremap moved or resized a map starting at old. */
void shim_maps_moved(void *old, void *now, size_t len);
/* At exit: every mapped file commits. */
void shim_maps_commit_all(void);
void shim_maps_after_fork(void);

#endif

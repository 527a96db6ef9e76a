/* shim_settle.h - taking the bytes that reached a writer's placeholder
 * memfd behind the shim's back (see shim_settle.c). */
#ifndef SHIM_SETTLE_H
#define SHIM_SETTLE_H

struct shim_ofd;
struct vfs_file;

/* Turn them into writes of the file (appends on O_APPEND files) and
 * punch them out of the memfd. One fstat when nothing new arrived;
 * nothing at all for descriptors not open for writing. 0 or -errno. */
int shim_settle(int fd);
/* The same with o->lock held and (o, f) pinned by the caller. */
int shim_settle_locked(struct shim_ofd *o, int fd, struct vfs_file *f);

#endif

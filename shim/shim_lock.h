/* shim_lock.h - record locks of volume descriptors, for fcntl's owner
 * (shim_close.c). */
#ifndef SHIM_LOCK_H
#define SHIM_LOCK_H

/* fcntl(fd, cmd, arg) when cmd is a record-lock command and fd a volume
 * descriptor: 1 with the result (or -1 and errno) in *ret; 0: not ours. */
int shim_lock_fcntl(int fd, int cmd, void *arg, int *ret);

#endif

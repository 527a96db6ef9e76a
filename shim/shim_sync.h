/* shim_sync.h - commits outside fsync: at process exit. */
#ifndef SHIM_SYNC_H
#define SHIM_SYNC_H

/* This process holds a volume file open for writing: commit what is still
 * buffered when it exits through exit() (the kernel would have kept the
 * bytes; a process that never closes stdout must not lose them). Cheap
 * after the first call in a process. */
void shim_sync_exit_commit(void);

#endif

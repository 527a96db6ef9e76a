/* thread.h - the engine's threads, started one way.
 *
 * The engine runs inside the program (the preloaded library), where open,
 * write, fstat, syscall() and the rest are the shim's exports. On the
 * program's threads the shim raises its guard around every call into the
 * engine, so the engine's libc calls pass straight through; the engine's
 * own threads (uploads, read-ahead, the cache writer, the session and
 * writeback threads, the database idler) had no guard, and a call of
 * theirs on a descriptor or path of the volume entered the file system
 * again: a log line for a stderr that is a volume file waited on the lock
 * of the writer waiting for that upload, and a credentials file under a
 * HOME on the volume would be read through the volume it unlocks.
 * thread_start runs the host's enter hook (the shim's: raise the guard for
 * the thread's life) before fn, so every engine thread's libc calls are
 * libc's. Returns 0 or an errno value, as pthread_create does.
 */
#ifndef SHIMFS_THREAD_H
#define SHIMFS_THREAD_H

#include <pthread.h>

int thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
/* The host's hook, run first in every thread thread_start starts (NULL:
 * none, as in the tools). */
void thread_set_enter(void (*enter)(void));

#endif

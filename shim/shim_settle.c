/* shim_settle.c - bytes written into a writer's placeholder behind the
 * shim's back: glibc's stdio writes through its internal write, so
 * `ls > file` in an exec'ed child, a shell builtin's redirected stdout or
 * dprintf land in the memfd, not in the engine. They become writes of the
 * file, at close, dup2 over the descriptor, fclose, exit, and before the
 * shim's own writes on the same descriptor.
 *
 * They sit in the memfd at the offsets the kernel gave them (the memfd's
 * offset is the file position). The memfd is shared by every process
 * holding the open file (a shell and the commands it runs with the same
 * redirection), so what one takes it punches out, leaving the rest for the
 * others: the memfd is never truncated, and what reads as zero there is
 * either taken already or never written. Only the non-zero runs are
 * taken, and the zero gaps between them that lie past the file's end;
 * for a file opened with O_TRUNC or created (`cmd > file`) the skipped
 * zeros read back as zeros anyway (what is lost: zeros written over
 * existing bytes, and zeros at the very end of the output). O_APPEND runs
 * are appended in order.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim_ns.h"
#include "shim_settle.h"
#include "shim_core.h"

#define SHIM_SETTLE_CHUNK (1u << 20)

static int64_t shim_settle_mtime(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Take one non-zero run: write it, punch it out of the memfd. */
static int shim_settle_run(int fd, struct vfs_file *f, const char *p, size_t n, off_t off)
{
    ssize_t w = SHIM_VFS(pwrite, f, p, n, (uint64_t)off);
    if (w < 0)
        return (int)w;
    if (REAL(fallocate)(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)n) < 0)
        return -errno;
    return 0;
}

/* The non-zero runs of buf (n bytes at memfd offset off). A zero gap
 * between two runs is taken with them when it starts at or past the
 * file's end (as this descriptor sees it): those bytes read as zero
 * whether written or not, and one run instead of many keeps the writer's
 * buffer one piece, so binary output (a zero byte every ~256 bytes of
 * random data) is not cut into a slice and an upload per run. Inside the
 * file a gap stays untaken: a zero there may be a byte never written. */
static int shim_settle_chunk(int fd, struct vfs_file *f, const char *buf, size_t n, off_t off,
                             int append)
{
    uint64_t eof = append ? UINT64_MAX : SHIM_VFS(file_size, f);
    size_t i = 0;
    while (i < n) {
        while (i < n && buf[i] == 0)
            i++;
        size_t j = i;
        for (;;) {
            while (j < n && buf[j] != 0)
                j++;
            size_t k = j;
            while (k < n && buf[k] == 0)
                k++;
            if (k == n || (uint64_t)(off + (off_t)j) < eof)
                break;
            j = k; /* a gap at the end of the file, and more data after it */
        }
        if (j > i) {
            int rc = shim_settle_run(fd, f, buf + i, j - i, off + (off_t)i);
            if (rc < 0)
                return rc;
            if (!append && (uint64_t)(off + (off_t)j) > eof)
                eof = (uint64_t)(off + (off_t)j);
        }
        i = j;
    }
    return 0;
}

int shim_settle_locked(struct shim_ofd *o, int fd, struct vfs_file *f)
{
    struct stat st;
    if (REAL(fstat)(fd, &st) < 0)
        return -errno;
    if (SHIM_LIKELY(st.st_size == 0) ||
        (st.st_size == o->wsize && shim_settle_mtime(&st) == o->wmtime))
        return 0;
    /* SEEK_DATA moves the offset, which is the shared file position: seek
     * on a second open file of the same memfd */
    char proc[40];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int sfd = REAL(open)(proc, O_RDONLY | O_CLOEXEC);
    if (sfd < 0)
        return -errno;
    char *buf = malloc(SHIM_SETTLE_CHUNK);
    int rc = buf ? 0 : -ENOMEM;
    off_t off = 0;
    while (rc == 0 && off < st.st_size) {
        off_t data = REAL(lseek)(sfd, off, SEEK_DATA);
        if (data < 0) {
            rc = errno == ENXIO ? 0 : -errno;
            break;
        }
        ssize_t n = REAL(pread)(fd, buf, SHIM_SETTLE_CHUNK, data);
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        rc = shim_settle_chunk(fd, f, buf, (size_t)n, data, (o->flags & O_APPEND) != 0);
        off = data + n;
    }
    free(buf);
    REAL(close)(sfd);
    if (rc == 0 && REAL(fstat)(fd, &st) == 0) {
        o->wsize = st.st_size;
        o->wmtime = shim_settle_mtime(&st);
    }
    return rc;
}

int shim_settle(int fd)
{
    /* readers (the close of every file `cat` reads) pay one load */
    struct shim_ofd *p = shim_fd_peek(fd);
    if (SHIM_LIKELY(!p) || p->kind != SHIM_OFD_VOLUME || shim_ns_writable(p) < 0 || p->native ||
        p->isdir)
        return 0;
    struct shim_ofd *o;
    struct vfs_file *f;
    int rc = shim_ns_fd(fd, &o, &f);
    if (rc <= 0)
        return rc;
    if (shim_ns_writable(o) == 0 && !o->isdir && !o->native) {
        pthread_mutex_lock(&o->lock);
        rc = shim_settle_locked(o, fd, f);
        pthread_mutex_unlock(&o->lock);
    }
    shim_ofd_put(o);
    return rc;
}


/* vfs_fifo.c - named pipes of the volume.
 *
 * A FIFO made with mkfifo or mknod is a volume inode (stat, readdir,
 * chmod, chown, rename and unlink see it on every node). The pipe behind
 * it is a node-local FIFO in SHIMFS_FIFO_DIR (default /tmp/shimfs-fifo),
 * named by the volume's device number and the inode number and made by
 * the first open on the node; vfs_open answers VFS_ESCAPED with its path,
 * and the shim opens it natively, so blocking, O_NONBLOCK's ENXIO, poll
 * and SIGPIPE are the kernel's. So a FIFO connects the processes of one
 * node, as FIFOs on NFS connect the processes of one client.
 *
 * Why the folder is shared by every user: a FIFO connects processes of
 * different uids, and the cache folder is per uid. Why its names are
 * secret: another local user could make a pipe's name first and read what
 * a writer sends, or open a pipe the volume's bits deny them. So a pipe's
 * name is a 128-bit hash of the volume's uuid (which only the volume's
 * users learn) and the inode number, and the folder is 01733 (sticky,
 * anyone may add a name, nobody but its owner may list it). The folder is
 * used only when it is owned by root or this user, not listable by
 * others and sticky when others can write it (one warning and EACCES
 * otherwise: an admin makes it, as root, at node start); a name is used
 * only when it is a FIFO (lstat: a symlink is never followed).
 * A FIFO holds no data at rest. The volume's permission check is done
 * first (vfs_open_flags_check); the pipe is 0666 so that it never answers
 * differently from the volume. Unlinking the last name of a FIFO removes
 * this node's pipe; other nodes' stay (empty inodes) until their /tmp is
 * cleaned.
 */
#include "vfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "log.h"

static int vfs_fifo_logged;

static int vfs_fifo_refuse(const char *what, const struct stat *st)
{
    log_once(&vfs_fifo_logged, LOG_WARN, "vfs",
             "fifo: %s (owner uid %u, mode %04o): not used (EACCES); see SHIMFS_FIFO_DIR in "
             "docs/configuration.md", what, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777));
    return -EACCES;
}

#define VFS_FIFO_MODE 01733

/* The shared folder: made 01733 when missing, refused when someone else's
 * or listable by others. */
static int vfs_fifo_dir(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno != ENOENT)
            return -errno;
        if (mkdir(dir, VFS_FIFO_MODE) < 0 && errno != EEXIST)
            return -errno;
        if (lstat(dir, &st) < 0)
            return -errno;
    }
    if (!S_ISDIR(st.st_mode))
        return vfs_fifo_refuse("SHIMFS_FIFO_DIR is not a folder", &st);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return vfs_fifo_refuse("SHIMFS_FIFO_DIR belongs to another user", &st);
    if (st.st_uid == geteuid() && (st.st_mode & 07777) != VFS_FIFO_MODE) {
        if (chmod(dir, VFS_FIFO_MODE) < 0) /* the umask narrowed it, or it was listable */
            return -errno;
        st.st_mode = (st.st_mode & S_IFMT) | VFS_FIFO_MODE;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return vfs_fifo_refuse("SHIMFS_FIFO_DIR is writable by others and not sticky", &st);
    if (st.st_mode & (S_IRGRP | S_IROTH))
        return vfs_fifo_refuse("SHIMFS_FIFO_DIR is listable by others", &st);
    return 0;
}

/* 0 when the name at path is a pipe (never followed). */
static int vfs_fifo_is_pipe(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    return S_ISFIFO(st.st_mode) ? 0 : vfs_fifo_refuse("a node pipe's name holds something else", &st);
}

/* The pipe's path: SHIMFS_FIFO_DIR / hash(volume uuid, inode). */
static int vfs_fifo_path(const struct vfs_engine *e, uint64_t ino, char *out, size_t cap)
{
    char key[sizeof e->settings.uuid + 24];
    int k = snprintf(key, sizeof key, "%s/%llu", e->settings.uuid, (unsigned long long)ino);
    XXH128_hash_t h = XXH3_128bits(key, (size_t)k);
    int n = snprintf(out, cap, "%s/%016llx%016llx", e->cfg.fifo_dir, (unsigned long long)h.high64,
                     (unsigned long long)h.low64);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int vfs_fifo_host(const struct meta_attr *a, char *host, size_t hcap)
{
    struct vfs_engine *e = vfs_opened();
    assert(a && S_ISFIFO(a->mode) && host);
    if (!e)
        return -EIO;
    int rc = vfs_fifo_dir(e->cfg.fifo_dir);
    if (rc == 0)
        rc = vfs_fifo_path(e, a->ino, host, hcap);
    if (rc < 0)
        return rc;
    if (mkfifo(host, 0666) == 0)
        (void)chmod(host, 0666); /* the umask narrowed it; others of the node open it too */
    else if (errno != EEXIST)
        return -errno;
    rc = vfs_fifo_is_pipe(host);
    return rc < 0 ? rc : VFS_ESCAPED;
}

void vfs_fifo_forget(uint64_t ino)
{
    struct vfs_engine *e = vfs_opened();
    char path[VFS_HOST_MAX];
    if (e && vfs_fifo_path(e, ino, path, sizeof path) == 0)
        (void)unlink(path); /* best effort: another user's pipe stays (sticky) */
}

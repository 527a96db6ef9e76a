/* shim_xfer.c - in-kernel copies: sendfile, sendfile64, copy_file_range,
 * splice (also when reached through syscall(), shim_syscall.c).
 *
 * The kernel would copy a placeholder's (empty) memfd, so a placeholder
 * source is emulated: shim reads, real writes, with the same offset rules
 * (an explicit offset pointer is updated, otherwise the file position
 * advances). A native source copies in the kernel. A volume destination
 * is written through the shim's write path (the kernel would copy into the
 * placeholder memfd), from either kind of source. A source that is no
 * volume file and has no offset (splice's pipe) is read as a stream.
 */
#include "shim.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim_fd.h"
#include "shim_read.h"
#include "shim_write.h"

#define SHIM_XFER_CHUNK (1u << 20)

enum { SHIM_XFER_PASS = 0, SHIM_XFER_EMULATE = 1 };

static int shim_xfer_kind(int in, int out)
{
    if (shim_bypass())
        return SHIM_XFER_PASS;
    struct shim_ofd *po = shim_fd_peek(out), *pi = shim_fd_peek(in);
    if (SHIM_LIKELY(!po && !pi))
        return SHIM_XFER_PASS;
    if (po && po->kind == SHIM_OFD_VOLUME)
        return SHIM_XFER_EMULATE; /* the kernel would copy into the memfd */
    /* an unchecked cache file goes through the shim's read once (checked) */
    return pi && pi->kind == SHIM_OFD_VOLUME &&
           (!pi->native || __atomic_load_n(&pi->unchecked, __ATOMIC_ACQUIRE))
               ? SHIM_XFER_EMULATE : SHIM_XFER_PASS;
}

/* One write to out: through the shim's write path for a volume file. */
static ssize_t shim_xfer_write1(int out, const char *buf, size_t n, off_t off)
{
    ssize_t w = shim_write_buf(out, buf, n, off);
    if (w == SHIM_WRITE_PASS)
        return off >= 0 ? REAL(pwrite)(out, buf, n, off) : REAL(write)(out, buf, n);
    return w < 0 ? shim_fail((int)w) : w;
}

/* One read from in at pos: the shim's for a placeholder, else the kernel's. */
static ssize_t shim_xfer_read1(int in, char *buf, size_t n, off_t pos)
{
    ssize_t r = shim_read_buf(in, buf, n, pos);
    if (r == SHIM_READ_PASS) {
        r = REAL(pread)(in, buf, n, pos);
        if (r < 0)
            r = -errno;
    }
    return r;
}

/* Write all of buf to out (at *outoff when given); bytes written or -errno
 * when nothing was. */
static ssize_t shim_xfer_write(int out, const char *buf, size_t n, off64_t *outoff)
{
    size_t done = 0;
    for (int spins = 0; done < n && spins < 1 << 20; spins++) {
        off_t at = outoff ? *outoff + (off_t)done : -1;
        ssize_t w = shim_xfer_write1(out, buf + done, n - done, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return done > 0 ? (ssize_t)done : (w < 0 ? -errno : 0);
        done += (size_t)w;
    }
    if (outoff)
        *outoff += (off_t)done;
    return (ssize_t)done;
}

static ssize_t shim_xfer_emulate(int in, off64_t *inoff, int out, off64_t *outoff, size_t count)
{
    /* a pipe (splice) has no position: read it as it comes */
    int stream = !inoff && !shim_fd_peek(in);
    off_t pos = inoff ? *inoff : stream ? 0 : REAL(lseek)(in, 0, SEEK_CUR);
    if (pos < 0)
        return inoff ? -EINVAL : -errno;
    size_t cap = count < SHIM_XFER_CHUNK ? count : SHIM_XFER_CHUNK;
    char *buf = malloc(cap ? cap : 1);
    if (!buf)
        return -ENOMEM;
    ssize_t total = 0, err = 0;
    while ((size_t)total < count) {
        size_t want = count - (size_t)total < cap ? count - (size_t)total : cap;
        ssize_t n = stream ? REAL(read)(in, buf, want) : shim_xfer_read1(in, buf, want, pos);
        if (stream && n < 0)
            n = -errno;
        if (n <= 0) {
            err = n;
            break;
        }
        ssize_t w = shim_xfer_write(out, buf, (size_t)n, outoff);
        if (w <= 0) {
            err = w;
            break;
        }
        pos += w;
        total += w;
        if (w < n)
            break;
    }
    free(buf);
    if (total == 0 && err < 0)
        return err;
    if (inoff)
        *inoff = pos;
    else if (!stream)
        REAL(lseek)(in, pos, SEEK_SET);
    return total;
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    int kind = shim_xfer_kind(in, out);
    if (kind == SHIM_XFER_PASS)
        return REAL(sendfile)(out, in, off, count);
    ssize_t r = shim_xfer_emulate(in, off, out, NULL, count);
    return r < 0 ? shim_fail((int)r) : r;
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
    int kind = shim_xfer_kind(in, out);
    if (kind == SHIM_XFER_PASS)
        return REAL(sendfile64)(out, in, off, count);
    ssize_t r = shim_xfer_emulate(in, off, out, NULL, count);
    return r < 0 ? shim_fail((int)r) : r;
}

SHIM_EXPORT ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
                                    unsigned flags)
{
    int kind = shim_xfer_kind(in, out);
    if (kind == SHIM_XFER_PASS)
        return REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
    if (flags != 0)
        return shim_fail(-EINVAL);
    ssize_t r = shim_xfer_emulate(in, inoff, out, outoff, len);
    return r < 0 ? shim_fail((int)r) : r;
}

/* One side is a pipe (the kernel checks the rest when it is ours to do). */
SHIM_EXPORT ssize_t splice(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
                           unsigned flags)
{
    int kind = shim_xfer_kind(in, out);
    if (kind == SHIM_XFER_PASS)
        return REAL(splice)(in, inoff, out, outoff, len, flags);
    struct stat si, so;
    if (REAL(fstat)(in, &si) < 0 || REAL(fstat)(out, &so) < 0)
        return -1;
    if (!S_ISFIFO(si.st_mode) && !S_ISFIFO(so.st_mode))
        return shim_fail(-EINVAL);
    if ((S_ISFIFO(si.st_mode) && inoff) || (S_ISFIFO(so.st_mode) && outoff))
        return shim_fail(-ESPIPE);
    ssize_t r = shim_xfer_emulate(in, inoff, out, outoff, len);
    return r < 0 ? shim_fail((int)r) : r;
}

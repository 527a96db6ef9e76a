/* cli_uuid.c - random bytes from /dev/urandom and RFC 4122 version 4 uuids.
 *
 * Promises: a uuid is 122 random bits from the kernel's generator, printed
 * in the canonical lower-case 8-4-4-4-12 form; no fallback to a weak source
 * (a volume uuid names every object of the volume forever).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

int cli_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    assert(buf || n == 0);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? -errno : -EIO;
            close(fd);
            return e;
        }
        p += r;
        n -= (size_t)r;
    }
    close(fd);
    return 0;
}

int cli_uuid_v4(char out[37])
{
    unsigned char b[16];
    assert(out);
    int rc = cli_random_bytes(b, sizeof b);

    if (rc < 0)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* variant 10xx */
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
             b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* cli_cat.c - `shimfs cat VOLUME_PATH...`: stream volume files to stdout.
 *
 * Promises: reads through the vfs (vfs_open / vfs_pread, so the node cache
 * and checksums apply) in large pieces and writes every byte or fails; a
 * failed path is reported and the next one is still written, like cat(1);
 * exit 1 if any failed. Memory: one buffer, whatever the file size.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "vfs.h"

#define CLI_CAT_BUF (4u << 20)

static const char cli_cat_usage[] =
    "usage: shimfs cat [--meta URL] VOLUME_PATH...\n"
    "\n"
    "Write the contents of volume files to standard output.\n"
    "\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

static int cli_cat_copy(struct vfs_file *f, const char *arg, char *buf)
{
    uint64_t off = 0;

    for (;;) {
        ssize_t n = vfs_pread(f, buf, CLI_CAT_BUF, off);
        if (n < 0)
            return cli_fail("cat", arg, "read at offset %llu: %s",
                            (unsigned long long)off, strerror((int)-n));
        if (n == 0)
            return CLI_OK;
        int rc = io_write_all(STDOUT_FILENO, buf, (size_t)n);
        if (rc < 0)
            return cli_fail("cat", "standard output", "%s", strerror(-rc));
        off += (uint64_t)n;
    }
}

static int cli_cat_one(const char *arg, char *buf)
{
    char path[4096], host[VFS_HOST_MAX];
    struct vfs_file *f;
    int rc, fd;

    if (cli_volume_path(arg, path, sizeof path) < 0)
        return cli_fail("cat", arg, "%s", strerror(ENAMETOOLONG));
    rc = vfs_open(path, O_RDONLY | O_CLOEXEC, 0, &f, host, sizeof host);
    if (rc != 0)
        return cli_vfs_fail("cat", arg, rc, host);
    rc = vfs_file_isdir(f) ? cli_fail("cat", arg, "%s", strerror(EISDIR))
                           : cli_cat_copy(f, arg, buf);
    fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    return rc;
}

int cli_cmd_cat(int argc, char **argv)
{
    static const struct option opts[] = {
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int c, code = CLI_OK;
    char *buf;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (cli_common_option(c, "cat", cli_cat_usage, argv, &code) < 0)
            return code;
    if (optind >= argc)
        return cli_usage_error("cat", "missing VOLUME_PATH");
    if (cli_vfs_init("cat") != 0)
        return CLI_FAIL;
    buf = malloc(CLI_CAT_BUF);
    if (!buf)
        return cli_fail("cat", "buffer", "%s", strerror(ENOMEM));
    for (int i = optind; i < argc; i++)
        if (cli_cat_one(argv[i], buf) != CLI_OK)
            code = CLI_FAIL;
    free(buf);
    return code;
}

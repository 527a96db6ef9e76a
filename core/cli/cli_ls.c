/* cli_ls.c - `shimfs ls [-l] [-a|-A] VOLUME_PATH...`: list through the vfs.
 *
 * Promises: entries come in the vfs's order (byte order of names, as ls in
 * the C locale) and stream page by page, so a directory of millions of
 * entries lists in bounded memory; -l prints one line per entry (mode,
 * links, numeric uid and gid, size, mtime, name, "-> target" for symlinks)
 * from attributes the readdir-plus already cached. Hidden names are shown
 * with -A, and "." and ".." too with -a. Exit 1 if any path failed.
 * Names and symlink targets are printed escaped like `ls -b` (newlines,
 * escape sequences, invalid UTF-8, backslashes: cli_escape.c), so one
 * entry is always one line and a name cannot drive the terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vfs.h"

static const char cli_ls_usage[] =
    "usage: shimfs ls [-l] [-a|-A] [--meta URL] VOLUME_PATH...\n"
    "\n"
    "List volume directories (VOLUME_PATH starts at the volume's root \"/\").\n"
    "\n"
    "  -l          long format: mode, links, uid, gid, size, mtime, name\n"
    "  -a          include names starting with '.', and \".\" and \"..\"\n"
    "  -A          include names starting with '.', without \".\" and \"..\"\n"
    "  --meta URL  database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help  this help\n";

enum { CLI_LS_HIDE = 0, CLI_LS_ALMOST = 1, CLI_LS_ALL = 2 };

struct cli_ls {
    int longfmt, show;
};

static int cli_ls_shown(const struct cli_ls *o, const char *name)
{
    if (name[0] != '.')
        return 1;
    if (o->show == CLI_LS_ALL)
        return 1;
    if (o->show == CLI_LS_ALMOST)
        return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    return 0;
}

/* One -l line for `path`, shown as `name`. */
static int cli_ls_long(const char *path, const char *name, const struct stat *st)
{
    char mode[11], when[64], target[4096], host[VFS_HOST_MAX];
    int n = 0;

    if (S_ISLNK(st->st_mode)) {
        n = vfs_readlink(path, target, sizeof target - 1, host, sizeof host);
        if (n < 0)
            n = 0;
        target[n] = '\0';
    }
    printf("%s %3lu %5u %5u %12lld %s ", cli_mode_string(st->st_mode, mode),
           (unsigned long)st->st_nlink, (unsigned)st->st_uid, (unsigned)st->st_gid,
           (long long)st->st_size,
           cli_format_time((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec, 0,
                           when, sizeof when));
    cli_print_name(stdout, name);
    if (n > 0) {
        fputs(" -> ", stdout);
        cli_print_name(stdout, target);
    }
    putchar('\n');
    return 0;
}

static int cli_ls_entry(const struct cli_ls *o, const char *dir, const char *name)
{
    char path[8192], host[VFS_HOST_MAX];
    struct stat st;
    int rc;

    if (!o->longfmt) {
        cli_print_name(stdout, name);
        putchar('\n');
        return 0;
    }
    if (cli_path_join(dir, name, path, sizeof path) < 0)
        return cli_fail("ls", name, "%s", strerror(ENAMETOOLONG));
    rc = vfs_stat(path, VFS_NOFOLLOW, &st, host, sizeof host);
    if (rc != 0)
        return cli_vfs_fail("ls", path, rc, host);
    return cli_ls_long(path, name, &st);
}

static int cli_ls_dir(const struct cli_ls *o, const char *path)
{
    char host[VFS_HOST_MAX];
    struct vfs_file *f;
    struct vfs_dir *d;
    struct vfs_dirent e;
    int rc, fd, code = CLI_OK;

    rc = vfs_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &f, host, sizeof host);
    if (rc != 0)
        return cli_vfs_fail("ls", path, rc, host);
    rc = vfs_dir_open(f, &d);
    if (rc == 0) {
        while ((rc = vfs_dir_next(d, &e)) > 0)
            if (cli_ls_shown(o, e.name) && cli_ls_entry(o, path, e.name) != 0)
                code = CLI_FAIL;
        vfs_dir_close(d);
    }
    fd = vfs_file_fd(f);
    vfs_release(f);
    close(fd);
    if (rc < 0)
        return cli_vfs_fail("ls", path, rc, NULL);
    return code;
}

static int cli_ls_path(const struct cli_ls *o, const char *arg, int header)
{
    char path[4096], host[VFS_HOST_MAX];
    struct stat st;
    int rc;

    if (cli_volume_path(arg, path, sizeof path) < 0)
        return cli_fail("ls", arg, "%s", strerror(ENAMETOOLONG));
    /* Like ls: -l shows a symlink argument itself, plain ls follows it. */
    rc = vfs_stat(path, o->longfmt ? VFS_NOFOLLOW : 0, &st, host, sizeof host);
    if (rc != 0)
        return cli_vfs_fail("ls", arg, rc, host);
    if (!S_ISDIR(st.st_mode)) {
        if (o->longfmt)
            return cli_ls_long(path, arg, &st);
        cli_print_name(stdout, arg);
        putchar('\n');
        return CLI_OK;
    }
    if (header) {
        cli_print_name(stdout, arg);
        fputs(":\n", stdout);
    }
    return cli_ls_dir(o, path);
}

int cli_cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    struct cli_ls o = { 0, CLI_LS_HIDE };
    int c, code = CLI_OK;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hlaA", opts, NULL)) != -1) {
        int r = cli_common_option(c, "ls", cli_ls_usage, argv, &code);
        if (r < 0)
            return code;
        if (c == 'l')
            o.longfmt = 1;
        else if (c == 'a')
            o.show = CLI_LS_ALL;
        else if (c == 'A' && o.show != CLI_LS_ALL)
            o.show = CLI_LS_ALMOST;
    }
    if (optind >= argc)
        return cli_usage_error("ls", "missing VOLUME_PATH");
    if (cli_vfs_init("ls") != 0)
        return CLI_FAIL;
    for (int i = optind; i < argc; i++) {
        if (i > optind && argc - optind > 1)
            printf("\n");
        if (cli_ls_path(&o, argv[i], argc - optind > 1) != CLI_OK)
            code = CLI_FAIL;
    }
    fflush(stdout);
    return code;
}

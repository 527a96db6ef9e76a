/* cli_stat.c - `shimfs stat [-L] [-c FORMAT] VOLUME_PATH...`: attributes.
 *
 * Promises: the default output has stat(1)'s layout (size, blocks, IO
 * block, type, device, inode, links, mode, uid/gid, the three times with
 * nanoseconds); -c FORMAT takes stat(1)'s common specifiers (table below),
 * so scripts can compare with the local stat(1). Like stat(1) it does not
 * follow a final symlink unless -L. Exit 1 if any path failed.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "vfs.h"

static const char cli_stat_usage[] =
    "usage: shimfs stat [-L] [-c FORMAT] [--meta URL] VOLUME_PATH...\n"
    "\n"
    "Show the attributes of volume files, like stat(1).\n"
    "\n"
    "  -L, --dereference    follow a final symlink\n"
    "  -c, --format FORMAT  print FORMAT instead; specifiers as stat(1):\n"
    "                       %n %N %s %b %B %o %f %a %A %F %u %U %g %G %h %i %d\n"
    "                       %x %y %z (times) %X %Y %Z (epoch seconds) %%\n"
    "  --meta URL           database (libpq URL or conninfo); default SHIMFS_META\n"
    "  -h, --help           this help\n";

struct cli_stat_obj {
    const char *name, *path;
    struct stat st;
};

static const char *cli_stat_type(const struct stat *st)
{
    static const struct { unsigned bits; const char *name; } types[] = {
        { S_IFDIR, "directory" }, { S_IFLNK, "symbolic link" }, { S_IFIFO, "fifo" },
        { S_IFSOCK, "socket" }, { S_IFCHR, "character special file" },
        { S_IFBLK, "block special file" }, { S_IFREG, "regular file" },
    };

    if (S_ISREG(st->st_mode) && st->st_size == 0)
        return "regular empty file";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if ((st->st_mode & S_IFMT) == types[i].bits)
            return types[i].name;
    return "unknown";
}

static const char *cli_stat_user(uid_t uid)
{
    struct passwd *pw = getpwuid(uid);
    return pw ? pw->pw_name : "UNKNOWN";
}

static const char *cli_stat_group(gid_t gid)
{
    struct group *gr = getgrgid(gid);
    return gr ? gr->gr_name : "UNKNOWN";
}

static int64_t cli_stat_ns(struct timespec ts)
{
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cli_stat_time(FILE *out, struct timespec ts)
{
    char buf[96];
    fputs(cli_format_time(cli_stat_ns(ts), 1, buf, sizeof buf), out);
}

/* "name -> target" for symlinks; quoted as %N does when `q` is "'". */
static void cli_stat_named(FILE *out, const struct cli_stat_obj *o, const char *q)
{
    char target[4096], host[VFS_HOST_MAX];
    int n;

    fprintf(out, "%s%s%s", q, o->name, q);
    if (!S_ISLNK(o->st.st_mode))
        return;
    n = vfs_readlink(o->path, target, sizeof target - 1, host, sizeof host);
    if (n >= 0) {
        target[n] = '\0';
        fprintf(out, " -> %s%s%s", q, target, q);
    }
}

/* One stat(1) specifier (a table by switch). Returns 0, or -1 for an unknown one. */
static int cli_stat_spec(FILE *out, char spec, const struct cli_stat_obj *o)
{
    const struct stat *st = &o->st;
    char mode[11];

    switch (spec) {
    case 'n': fputs(o->name, out); break;
    case 'N': cli_stat_named(out, o, "'"); break;
    case 's': fprintf(out, "%lld", (long long)st->st_size); break;
    case 'b': fprintf(out, "%lld", (long long)st->st_blocks); break;
    case 'B': fputs("512", out); break;
    case 'o': fprintf(out, "%ld", (long)st->st_blksize); break;
    case 'f': fprintf(out, "%x", (unsigned)st->st_mode); break;
    case 'a': fprintf(out, "%o", (unsigned)(st->st_mode & 07777)); break;
    case 'A': fputs(cli_mode_string(st->st_mode, mode), out); break;
    case 'F': fputs(cli_stat_type(st), out); break;
    case 'u': fprintf(out, "%u", (unsigned)st->st_uid); break;
    case 'U': fputs(cli_stat_user(st->st_uid), out); break;
    case 'g': fprintf(out, "%u", (unsigned)st->st_gid); break;
    case 'G': fputs(cli_stat_group(st->st_gid), out); break;
    case 'h': fprintf(out, "%lu", (unsigned long)st->st_nlink); break;
    case 'i': fprintf(out, "%llu", (unsigned long long)st->st_ino); break;
    case 'd': fprintf(out, "%llu", (unsigned long long)st->st_dev); break;
    case 'x': cli_stat_time(out, st->st_atim); break;
    case 'y': cli_stat_time(out, st->st_mtim); break;
    case 'z': cli_stat_time(out, st->st_ctim); break;
    case 'X': fprintf(out, "%lld", (long long)st->st_atim.tv_sec); break;
    case 'Y': fprintf(out, "%lld", (long long)st->st_mtim.tv_sec); break;
    case 'Z': fprintf(out, "%lld", (long long)st->st_ctim.tv_sec); break;
    case '%': fputc('%', out); break;
    default: return -1;
    }
    return 0;
}

#define CLI_STAT_SPECS "nNsbBofaAFuUgGhidxyzXYZ%"

/* Checked before anything is printed, so a typo prints nothing else. */
static int cli_stat_check_format(const char *fmt)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        if (!p[1] || !strchr(CLI_STAT_SPECS, p[1]))
            return cli_usage_error("stat", "unknown format specifier '%%%c'", p[1] ? p[1] : ' ');
        p++;
    }
    return CLI_OK;
}

static int cli_stat_format(const char *fmt, const struct cli_stat_obj *o)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            putchar(*p);
        else
            cli_stat_spec(stdout, *++p, o);
    }
    putchar('\n');
    return CLI_OK;
}

static void cli_stat_default(const struct cli_stat_obj *o)
{
    const struct stat *st = &o->st;
    char mode[11];

    fputs("  File: ", stdout);
    cli_stat_named(stdout, o, "");
    printf("\n  Size: %-15lld Blocks: %-10lld IO Block: %-6ld %s\n",
           (long long)st->st_size, (long long)st->st_blocks, (long)st->st_blksize,
           cli_stat_type(st));
    printf("Device: %x,%x\tInode: %-11llu Links: %lu\n", major(st->st_dev), minor(st->st_dev),
           (unsigned long long)st->st_ino, (unsigned long)st->st_nlink);
    printf("Access: (%04o/%s)  Uid: (%5u/%8s)   Gid: (%5u/%8s)\n",
           (unsigned)(st->st_mode & 07777), cli_mode_string(st->st_mode, mode),
           (unsigned)st->st_uid, cli_stat_user(st->st_uid),
           (unsigned)st->st_gid, cli_stat_group(st->st_gid));
    static const char *labels[] = { "Access", "Modify", "Change" };
    const struct timespec *times[] = { &st->st_atim, &st->st_mtim, &st->st_ctim };
    for (int i = 0; i < 3; i++) {
        printf("%s: ", labels[i]);
        cli_stat_time(stdout, *times[i]);
        putchar('\n');
    }
}

static int cli_stat_one(const char *arg, int follow, const char *fmt)
{
    struct cli_stat_obj o;
    char path[4096], host[VFS_HOST_MAX];
    int rc;

    if (cli_volume_path(arg, path, sizeof path) < 0)
        return cli_fail("stat", arg, "%s", strerror(ENAMETOOLONG));
    rc = vfs_stat(path, follow ? 0 : VFS_NOFOLLOW, &o.st, host, sizeof host);
    if (rc != 0)
        return cli_vfs_fail("stat", arg, rc, host);
    o.name = arg;
    o.path = path;
    if (fmt)
        return cli_stat_format(fmt, &o);
    cli_stat_default(&o);
    return CLI_OK;
}

int cli_cmd_stat(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dereference", no_argument, NULL, 'L' },
        { "format", required_argument, NULL, 'c' },
        { "meta", required_argument, NULL, CLI_OPT_META },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *fmt = NULL;
    int c, follow = 0, code = CLI_OK;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hLc:", opts, NULL)) != -1) {
        int r = cli_common_option(c, "stat", cli_stat_usage, argv, &code);
        if (r < 0)
            return code;
        if (c == 'L')
            follow = 1;
        else if (c == 'c')
            fmt = optarg;
    }
    if (optind >= argc)
        return cli_usage_error("stat", "missing VOLUME_PATH");
    if (fmt && cli_stat_check_format(fmt) != CLI_OK)
        return CLI_USAGE;
    if (cli_vfs_init("stat") != 0)
        return CLI_FAIL;
    for (int i = optind; i < argc; i++) {
        if (cli_stat_one(argv[i], follow, fmt) != CLI_OK)
            code = CLI_FAIL;
    }
    fflush(stdout);
    return code;
}

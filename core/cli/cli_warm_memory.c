/* cli_warm_memory.c - whether `shimfs warmup` writes through the page cache
 * when the user did not say: by what fits in the node's memory.
 *
 * Promises: the memory counted as free for the page cache is
 * SHIMFS_WARMUP_MEMORY when set, else measured now: MemAvailable of
 * /proc/meminfo, lowered to the room under the container's memory limit
 * where there is one (cgroup v2 memory.max - memory.current at
 * /sys/fs/cgroup, v1 memory.limit_in_bytes - memory.usage_in_bytes at
 * /sys/fs/cgroup/memory: the container's own cgroup where it has a cgroup
 * namespace, as a pod does). The tree goes through the page cache when its
 * bytes are at most SHIMFS_WARMUP_MEMORY_SHARE of that, around it
 * otherwise: one choice for the run. (Not the first part through and the
 * rest around: a job reading a tree larger than memory pushes that part
 * out again in its first epoch, so it would only cost the node's other
 * files their place.) The reason is said in one line, for the user.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

#define CLI_WARM_MEMINFO "/proc/meminfo"
#define CLI_WARM_CG2 "/sys/fs/cgroup/"
#define CLI_WARM_CG1 "/sys/fs/cgroup/memory/"

/* The number a one-value file holds; -ENOENT if it has none ("max"). */
static int cli_warm_read_u64(const char *path, uint64_t *out)
{
    char line[64], *end;
    FILE *f = fopen(path, "re");

    if (!f)
        return -errno;
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -ENOENT;
    errno = 0;
    unsigned long long v = strtoull(line, &end, 10);
    if (errno || end == line || (*end && *end != '\n'))
        return -ENOENT;
    *out = v;
    return 0;
}

/* MemAvailable in bytes. */
static int cli_warm_meminfo(uint64_t *out)
{
    char line[128];
    unsigned long long kib;
    int rc = -ENOENT;
    FILE *f = fopen(CLI_WARM_MEMINFO, "re");

    if (!f)
        return -errno;
    while (rc != 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
            *out = (uint64_t)kib << 10;
            rc = 0;
        }
    fclose(f);
    return rc;
}

/* The room under a cgroup's limit: limit - usage (0 when over it). */
static int cli_warm_cgroup_room(const char *dir, const char *limit, const char *usage, uint64_t *out)
{
    char path[256];
    uint64_t lim, use;

    snprintf(path, sizeof path, "%s%s", dir, limit);
    if (cli_warm_read_u64(path, &lim) < 0)
        return -ENOENT;
    snprintf(path, sizeof path, "%s%s", dir, usage);
    if (cli_warm_read_u64(path, &use) < 0)
        return -ENOENT;
    *out = lim > use ? lim - use : 0;
    return 0;
}

int cli_warm_memory(const struct shimfs_config *cfg, uint64_t *avail, const char **source)
{
    uint64_t room;

    if (cfg->warmup_memory > 0) {
        *avail = cfg->warmup_memory;
        *source = "SHIMFS_WARMUP_MEMORY";
        return 0;
    }
    int rc = cli_warm_meminfo(avail);
    if (rc < 0)
        return rc;
    *source = "MemAvailable";
    if (cli_warm_cgroup_room(CLI_WARM_CG2, "memory.max", "memory.current", &room) == 0 ||
        cli_warm_cgroup_room(CLI_WARM_CG1, "memory.limit_in_bytes", "memory.usage_in_bytes",
                             &room) == 0) {
        if (room < *avail) {
            *avail = room;
            *source = "the container's memory limit";
        }
    }
    return 0;
}

int cli_warm_choose(const struct shimfs_config *cfg, uint64_t bytes, char *why, size_t cap)
{
    uint64_t avail;
    const char *source;
    int rc = cli_warm_memory(cfg, &avail, &source);

    if (rc < 0) {
        snprintf(why, cap, "around it (%s unreadable: %s)", CLI_WARM_MEMINFO, strerror(-rc));
        return 0;
    }
    double share = cfg->warmup_memory_share, fit = share * (double)avail;
    int through = bytes > 0 ? (double)bytes <= fit : share > 0;
    snprintf(why, cap, "%s it: the %.1f MiB to warm %s in %.1f MiB (%g of %.1f MiB free, %s)",
             through ? "through" : "around", bytes / 1048576.0, through ? "fit" : "do not fit",
             fit / 1048576.0, share, avail / 1048576.0, source);
    return through;
}

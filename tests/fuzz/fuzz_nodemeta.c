/* fuzz_nodemeta.c - libFuzzer target: the node's shared metadata files
 * ($SHIMFS_CACHE_DIR/meta/: directory snapshots, settings, blobs) that
 * every process of the node reads and any of them (or a crash, a full
 * disk) may have left torn. core/agent/nodemeta.c is included to reach its file
 * format. Input: one mode byte, then the file. Mode & 1: the bytes are
 * the whole file as found; else a header is built around them (right
 * magic, sizes and checksum, via nm_publish) so that the walk over the
 * payload's entries is reached. Promises checked: no memory error, and a
 * walk only ever hands out names and slices inside the file. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/agent/nodemeta.c"

static struct nodemeta *fuzz_nm;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/shimfs-fuzz-nodemeta.XXXXXX";
    if (!mkdtemp(dir) || nodemeta_open(dir, "", &fuzz_nm) < 0)
        abort();
    return 0;
}

static void fuzz_put_raw(const char *name, const uint8_t *p, size_t n)
{
    int fd = openat(fuzz_nm->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        fuzz_put_raw("d2a", p, n);
        fuzz_put_raw("settings", p, n);
    } else {
        struct nm_header h;
        memset(&h, 0, sizeof h);
        h.kind = data[0] & 2 ? NM_KIND_BLOB : NM_KIND_DIR;
        h.gen = nodemeta_gen(fuzz_nm);
        h.fetched_ns = nodemeta_now();
        h.dir = 42;
        h.has_dir_attr = (data[0] >> 2) & 1;
        nm_publish(fuzz_nm, "d2a", &h, p, n);
        nm_publish(fuzz_nm, "settings", &h, p, n);
    }
    struct nodemeta_snap s;
    if (nodemeta_dir_load(fuzz_nm, 42, -1, &s) == 0) {
        const char *name;
        size_t nlen;
        struct meta_attr a;
        uint64_t chunk;
        const struct layout_slice *slices;
        int ns, rc, steps = 0;
        while ((rc = nodemeta_snap_next(&s, &name, &nlen, &a, &chunk, &slices, &ns)) > 0) {
            if (rc == 1)
                assert(name >= s.p && name + nlen <= s.p + s.len);
            else
                assert((const char *)slices >= s.p &&
                       (const char *)(slices + ns) <= s.p + s.len);
            assert(++steps <= (int)s.len);
        }
        nodemeta_snap_free(&s);
    }
    struct meta_settings st;
    (void)nodemeta_load_settings(fuzz_nm, -1, &st);
    return 0;
}

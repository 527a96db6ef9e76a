/* fuzz_nodemeta.c - libFuzzer target: the node's shared metadata files
 * ($SHIMFS_CACHE_DIR/meta/: directory snapshots, settings, blobs) that
 * every process of the node reads and any of them (or a crash, a full
 * disk) may have left torn. core/agent/nodemeta.c is included to reach its file
 * format. Input: one mode byte, then the file. Mode & 1: the bytes are
 * the whole file as found; else a header is built around them (right
 * magic, sizes and checksum, via nm_publish) so that the walk over the
 * payload's entries is reached. Mode & 8: the bytes are the groups of a
 * delta (x2a) patching a valid empty snapshot, each group's head, tail
 * and checksum made right around its bytes, so that the records and the
 * block maps they carry are reached. Promises checked: no memory error,
 * and a walk only ever hands out names and slices inside the file (or
 * inside the delta's records and maps). */
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

/* A valid empty snapshot of 42, a local commit in 42 after it, and the
 * input as the groups of its delta: [records % 3][2-byte length][bytes]
 * each, a head (that commit's sequence) and a tail around them,
 * the checksum made right. Then every record, and every map, walked. */
static void fuzz_delta(const uint8_t *p, size_t n)
{
    struct nm_header h;
    memset(&h, 0, sizeof h);
    h.kind = NM_KIND_DIR;
    h.gen = nodemeta_gen(fuzz_nm);
    h.fetched_ns = nodemeta_now();
    h.dir = 42;
    nm_publish(fuzz_nm, "d2a", &h, NULL, 0);
    struct nm_header bh;
    if (nm_base_header(fuzz_nm, 42, &bh) < 0)
        abort();
    uint64_t d = 42;
    uint64_t seq = nodemeta_mark_local(fuzz_nm, &d, 1) + 1;
    struct nm_header xh;
    memset(&xh, 0, sizeof xh);
    xh.kind = NM_KIND_DELTA;
    xh.dir = 42;
    xh.token = bh.sum;
    xh.rseq = bh.gen;
    nm_publish(fuzz_nm, "x2a", &xh, NULL, 0);
    int fd = openat(fuzz_nm->dirfd, "x2a", O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        abort();
    char *g = malloc(NM_GROUP_MAX);
    for (size_t i = 0; g && i + 3 <= n;) {
        unsigned recs = p[i] % 3u;
        size_t len = (size_t)p[i + 1] | (size_t)p[i + 2] << 8;
        i += 3;
        if (len > n - i)
            len = n - i;
        size_t body = (len + 7) & ~(size_t)7;
        size_t bytes = sizeof(struct nm_group_head) + body + sizeof(struct nm_group_tail);
        if (bytes > NM_GROUP_MAX)
            break;
        memset(g, 0, bytes);
        struct nm_group_head hd = { .seq = seq, .n = recs, .bytes = (uint32_t)bytes };
        struct nm_group_tail tl = { .seq = seq, .bytes = (uint32_t)bytes };
        memcpy(g + sizeof hd, p + i, len);
        memcpy(g + bytes - sizeof tl, &tl, sizeof tl);
        memcpy(g, &hd, sizeof hd);
        hd.sum = XXH3_64bits(g, bytes);
        memcpy(g, &hd, sizeof hd);
        if (write(fd, g, bytes) != (ssize_t)bytes)
            abort();
        i += len;
    }
    free(g);
    close(fd);
    struct nodemeta_snap s;
    if (nodemeta_dir_load(fuzz_nm, 42, -1, &s) < 0)
        return;
    const char *name;
    size_t nlen;
    struct meta_attr a;
    int k, steps = 0;
    if (s.delta) {
        for (;;) {
            size_t pos = s.delta_pos;
            k = nodemeta_delta_next(&s, &name, &nlen, &a);
            if (k <= 0)
                break;
            assert(name >= s.delta && name + nlen <= s.delta + s.delta_len);
            struct nodemeta_snap m;
            if (nodemeta_delta_map(&s, pos, &m)) {
                uint64_t chunk;
                const struct layout_slice *sl;
                int ns;
                while (nodemeta_snap_next(&m, &name, &nlen, &a, &chunk, &sl, &ns) > 0) {
                    assert((const char *)sl >= s.delta_maps &&
                           (const char *)(sl + ns) <= s.delta_maps + s.delta_maps_len);
                    assert(++steps <= (int)n + 1);
                }
            }
            assert(++steps <= (int)n + 1);
        }
    }
    nodemeta_snap_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] & 8) {
        fuzz_delta(p, n);
        return 0;
    }
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

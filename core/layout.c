/* layout.c - chunk, slice and block arithmetic and object key naming.
 *
 * Pure: everything here is a function of its arguments, which is why the
 * unit tests can check it exhaustively (tests/unit/test_layout.c).
 */
#include "layout.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t layout_block_count(uint32_t size, uint32_t block_size)
{
    if (block_size == 0)
        return 0;
    return (uint32_t)(((uint64_t)size + block_size - 1) / block_size);
}

uint32_t layout_block_len(uint32_t size, uint32_t block_size, uint32_t index)
{
    uint64_t start = (uint64_t)index * block_size;
    if (block_size == 0 || start >= size)
        return 0;
    uint64_t left = size - start;
    return left < block_size ? (uint32_t)left : block_size;
}

int layout_block_key(char *buf, size_t cap, const char *uuid, uint64_t id,
                     uint32_t index, uint32_t len)
{
    assert(uuid && (buf || cap == 0));
    int n = snprintf(buf, cap, "%s/chunks/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "_%" PRIu32 "_%" PRIu32,
                     uuid, id / 1000000, id / 1000, id, index, len);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return n;
}

static int layout_parse_u64(const char **p, char stop, uint64_t *out)
{
    char *end;
    if (**p < '0' || **p > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno || *end != stop)
        return -EINVAL;
    *out = v;
    *p = end + (stop ? 1 : 0);
    return 0;
}

int layout_parse_key(const char *key, const char *uuid, uint64_t *id,
                     uint32_t *index, uint32_t *len)
{
    assert(key && id && index && len);
    const char *p = strstr(key, "/chunks/");
    if (!p)
        return -EINVAL;
    if (uuid && ((size_t)(p - key) != strlen(uuid) || strncmp(key, uuid, (size_t)(p - key)) != 0))
        return -EINVAL;
    p += 8;
    uint64_t d1, d2, v, ix, ln;
    if (layout_parse_u64(&p, '/', &d1) || layout_parse_u64(&p, '/', &d2) ||
        layout_parse_u64(&p, '_', &v) || layout_parse_u64(&p, '_', &ix) ||
        layout_parse_u64(&p, '\0', &ln))
        return -EINVAL;
    if (d1 != v / 1000000 || d2 != v / 1000 || ix > UINT32_MAX || ln > UINT32_MAX)
        return -EINVAL;
    *id = v;
    *index = (uint32_t)ix;
    *len = (uint32_t)ln;
    return 0;
}

/* Painter's algorithm over a small interval list: each slice, oldest
 * first, is painted over [from, end); the visible pieces are what is left.
 * Slice lists are kept short by compaction, so O(n^2) in the worst case
 * over a bounded list beats any clever structure. */
struct layout_span { uint32_t a, b; int slice; }; /* [a, b), slice -1 = hole */

static int layout_paint(struct layout_span *sp, int n, int cap, uint32_t a, uint32_t b, int slice)
{
    struct layout_span out[cap];
    int m = 0;
    for (int i = 0; i < n; i++) {
        struct layout_span s = sp[i];
        if (s.b <= a || s.a >= b) {
            if (m >= cap) return -ENOSPC;
            out[m++] = s;
            continue;
        }
        if (s.a < a) {
            if (m >= cap) return -ENOSPC;
            out[m++] = (struct layout_span){ s.a, a, s.slice };
        }
        if (s.b > b) {
            if (m + 2 > cap) return -ENOSPC;
            out[m++] = (struct layout_span){ a > s.a ? a : s.a, b, slice };
            out[m++] = (struct layout_span){ b, s.b, s.slice };
        } else {
            if (m >= cap) return -ENOSPC;
            out[m++] = (struct layout_span){ a > s.a ? a : s.a, s.b, slice };
        }
    }
    /* merge neighbours painted by the same slice */
    int k = 0;
    for (int i = 0; i < m; i++) {
        if (k > 0 && sp[k - 1].slice == out[i].slice && sp[k - 1].b == out[i].a)
            sp[k - 1].b = out[i].b;
        else
            sp[k++] = out[i];
    }
    return k;
}

int layout_resolve(const struct layout_slice *slices, int nslices,
                   uint32_t from, uint32_t len, struct layout_extent *out, int cap)
{
    /* nslices sizes an array on the stack below */
    assert(nslices >= 0 && (slices || nslices == 0) && cap >= 0 && (out || cap == 0));
    uint64_t end64 = (uint64_t)from + len;
    if (end64 > LAYOUT_CHUNK_SIZE)
        return -EINVAL;
    if (len == 0)
        return 0;
    uint32_t end = (uint32_t)end64;
    int scap = 2 * nslices + 2;
    struct layout_span sp[scap];
    int n = 1;
    sp[0] = (struct layout_span){ from, end, -1 };
    for (int i = 0; i < nslices; i++) {
        const struct layout_slice *s = &slices[i];
        uint64_t se = (uint64_t)s->pos + s->len;
        if (se > LAYOUT_CHUNK_SIZE || (s->id && (uint64_t)s->off + s->len > s->size))
            return -EINVAL;
        uint32_t a = s->pos > from ? s->pos : from;
        uint32_t b = se < end ? (uint32_t)se : end;
        if (a >= b)
            continue;
        n = layout_paint(sp, n, scap, a, b, s->id ? i : -1);
        if (n < 0)
            return n;
    }
    if (n > cap)
        return -ENOSPC;
    for (int i = 0; i < n; i++) {
        struct layout_extent *e = &out[i];
        e->pos = sp[i].a;
        e->len = sp[i].b - sp[i].a;
        if (sp[i].slice < 0) {
            e->id = 0; e->size = 0; e->off = 0;
        } else {
            const struct layout_slice *s = &slices[sp[i].slice];
            e->id = s->id;
            e->size = s->size;
            e->off = s->off + (sp[i].a - s->pos);
        }
    }
    return n;
}

int layout_parse_size(const char *s, uint64_t *out)
{
    static const struct { char unit; int shift; } units[] = {
        { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 }, { 'P', 50 },
    };
    char *end;
    assert(out);
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    int shift = 0;
    if (*end) {
        char u = (char)(*end & ~0x20);
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (units[i].unit == u)
                break;
        if (i == sizeof units / sizeof units[0])
            return -EINVAL;
        shift = units[i].shift;
        end++;
        if ((*end & ~0x20) == 'I' && (end[1] & ~0x20) == 'B')
            end += 2;
        else if ((*end & ~0x20) == 'B')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

const char *layout_format_size(uint64_t n, char *buf, size_t cap)
{
    static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    assert(buf && cap > 0);
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 5) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, cap, "%.1f %s", v, names[i]);
    return buf;
}

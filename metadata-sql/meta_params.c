/* meta_params.c - building statement parameters and decoding results.
 *
 * Integers travel as text (the server parses them to whatever the column
 * is, so int4 and int8 columns take the same helper); names and other raw
 * bytes travel in binary so no byte is ever escaped or reinterpreted.
 * Results are always requested in binary: integers come back big-endian
 * in their column's width, bytea as the raw bytes.
 */
#include "meta_int.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meta_p_init(struct meta_params *p) { p->n = 0; }

static int meta_p_slot(struct meta_params *p)
{
    /* A statement with more parameters than META_MAXP is a programming
     * error caught by the first test that runs it: the server then reports
     * a missing parameter. */
    return p->n < META_MAXP ? p->n++ : META_MAXP - 1;
}

void meta_p_int(struct meta_params *p, int64_t v)
{
    int i = meta_p_slot(p);
    snprintf(p->num[i], sizeof p->num[i], "%" PRId64, v);
    p->val[i] = p->num[i];
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void meta_p_bytes(struct meta_params *p, const void *b, size_t n)
{
    int i = meta_p_slot(p);
    p->val[i] = n ? (const char *)b : "";
    p->len[i] = (int)n;
    p->fmt[i] = 1;
}

void meta_p_text(struct meta_params *p, const char *s)
{
    int i = meta_p_slot(p);
    p->val[i] = s;
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void meta_p_null(struct meta_params *p)
{
    int i = meta_p_slot(p);
    p->val[i] = NULL;
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void meta_p_int_if(struct meta_params *p, int given, int64_t v)
{
    if (given)
        meta_p_int(p, v);
    else
        meta_p_null(p);
}

int meta_r_isnull(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int64_t meta_r_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (PQgetlength(r, row, col)) {
    case 1: return v[0];
    case 2: memcpy(&u16, v, 2); return (int16_t)be16toh(u16);
    case 4: memcpy(&u32, v, 4); return (int32_t)be32toh(u32);
    case 8: memcpy(&u64, v, 8); return (int64_t)be64toh(u64);
    default: return 0;
    }
}

const char *meta_r_bytes(const PGresult *r, int row, int col, size_t *len)
{
    *len = (size_t)PQgetlength(r, row, col);
    return PQgetvalue(r, row, col);
}

void meta_r_attr(const PGresult *r, int row, int col, struct meta_attr *a)
{
    a->ino = (uint64_t)meta_r_int(r, row, col + 0);
    a->mode = (uint32_t)meta_r_int(r, row, col + 1);
    a->uid = (uint32_t)meta_r_int(r, row, col + 2);
    a->gid = (uint32_t)meta_r_int(r, row, col + 3);
    a->nlink = (uint32_t)meta_r_int(r, row, col + 4);
    a->size = (uint64_t)meta_r_int(r, row, col + 5);
    a->atime_ns = meta_r_int(r, row, col + 6);
    a->mtime_ns = meta_r_int(r, row, col + 7);
    a->ctime_ns = meta_r_int(r, row, col + 8);
    a->parent = (uint64_t)meta_r_int(r, row, col + 9);
    a->rdev = (uint64_t)meta_r_int(r, row, col + 10);
}

static int meta_arr_reserve(struct meta_arr *a, size_t more)
{
    if (a->len + more + 2 <= a->cap)
        return 0;
    size_t cap = a->cap ? a->cap * 2 : 256;
    while (cap < a->len + more + 2)
        cap *= 2;
    char *b = realloc(a->buf, cap);
    if (!b)
        return -ENOMEM;
    a->buf = b;
    a->cap = cap;
    return 0;
}

int meta_arr_add(struct meta_arr *a, int64_t v)
{
    if (meta_arr_reserve(a, 24) < 0)
        return -ENOMEM;
    if (a->len == 0)
        a->buf[a->len++] = '{';
    a->len += (size_t)snprintf(a->buf + a->len, a->cap - a->len, "%s%" PRId64,
                               a->n ? "," : "", v);
    a->n++;
    return 0;
}

const char *meta_arr_str(struct meta_arr *a)
{
    if (meta_arr_reserve(a, 2) < 0)
        return NULL;
    if (a->len == 0)
        a->buf[a->len++] = '{';
    a->buf[a->len] = '}';
    a->buf[a->len + 1] = '\0';
    return a->buf;
}

void meta_arr_free(struct meta_arr *a)
{
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
    a->n = 0;
}

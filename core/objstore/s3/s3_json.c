/* s3_json.c - a strict JSON reader for the credential replies of the
 * container endpoint and IMDS: one object whose string members we want.
 *
 * Owns: RFC 8259 validation of the whole text (a reply that is cut or
 * malformed is refused, not half-read), string decoding (escapes,
 * surrogate pairs, UTF-8 checked), and a depth bound so hostile input
 * cannot exhaust the stack. Never logs: the text holds secrets.
 */
#include "s3_cred.h"

#include <errno.h>
#include <string.h>

#define S3_JSON_DEPTH 32

struct s3_jp {
    const unsigned char *p, *end;
    int depth;
};

static void s3_jp_ws(struct s3_jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int s3_jp_lit(struct s3_jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -EIO;
    j->p += n;
    return 0;
}

static int s3_jp_digits(struct s3_jp *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s ? 0 : -EIO;
}

static int s3_jp_number(struct s3_jp *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (s3_jp_digits(j))
        return -EIO;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (s3_jp_digits(j))
            return -EIO;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (s3_jp_digits(j))
            return -EIO;
    }
    return 0;
}

static int s3_jp_hex4(struct s3_jp *j, unsigned *v)
{
    *v = 0;
    if (j->end - j->p < 4)
        return -EIO;
    for (int i = 0; i < 4; i++) {
        unsigned c = *j->p++, d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 32) >= 'a' && (c | 32) <= 'f')
            d = (c | 32) - 'a' + 10;
        else
            return -EIO;
        *v = *v << 4 | d;
    }
    return 0;
}

/* Append code point cp to out (when out is not NULL); *n counts bytes. */
static int s3_jp_put(char *out, size_t cap, size_t *n, unsigned cp)
{
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        k = 4;
    }
    if (out) {
        if (cp == 0 || *n + k >= cap)
            return -EIO;        /* a NUL or a value that does not fit */
        memcpy(out + *n, b, k);
    }
    *n += k;
    return 0;
}

static int s3_jp_escape(struct s3_jp *j, unsigned *cp)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (j->p >= j->end)
        return -EIO;
    unsigned char c = *j->p++;
    if (c != 'u') {
        const char *at = c ? strchr(from, c) : NULL;
        if (!at)
            return -EIO;
        *cp = (unsigned char)to[at - from];
        return 0;
    }
    unsigned hi, lo;
    if (s3_jp_hex4(j, &hi))
        return -EIO;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return -EIO;            /* a lone low surrogate */
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        return 0;
    }
    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
        return -EIO;
    j->p += 2;
    if (s3_jp_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return -EIO;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return 0;
}

/* One raw UTF-8 sequence starting at j->p (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static int s3_jp_utf8(struct s3_jp *j, unsigned *cp)
{
    unsigned c = *j->p, need, min;
    if (c < 0x80) {
        *cp = c;
        j->p++;
        return 0;
    }
    if ((c & 0xe0) == 0xc0) {
        need = 1; min = 0x80; *cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        need = 2; min = 0x800; *cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        need = 3; min = 0x10000; *cp = c & 0x07;
    } else {
        return -EIO;
    }
    if ((size_t)(j->end - j->p) < need + 1)
        return -EIO;
    for (unsigned i = 1; i <= need; i++) {
        if ((j->p[i] & 0xc0) != 0x80)
            return -EIO;
        *cp = *cp << 6 | (j->p[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return -EIO;
    j->p += need + 1;
    return 0;
}

/* A string at j->p (on its opening quote); decoded into out when out is
 * not NULL. *n gets its decoded length. */
static int s3_jp_string(struct s3_jp *j, char *out, size_t cap, size_t *n)
{
    *n = 0;
    if (j->p >= j->end || *j->p != '"')
        return -EIO;
    j->p++;
    for (;;) {
        if (j->p >= j->end || *j->p < 0x20)
            return -EIO;        /* cut, or a raw control character */
        unsigned cp;
        if (*j->p == '"') {
            j->p++;
            break;
        }
        int rc = *j->p == '\\' ? (j->p++, s3_jp_escape(j, &cp)) : s3_jp_utf8(j, &cp);
        if (rc || s3_jp_put(out, cap, n, cp))
            return -EIO;
    }
    if (out)
        out[*n] = '\0';
    return 0;
}

static int s3_jp_value(struct s3_jp *j);

/* Object or array body after its opening bracket. */
static int s3_jp_container(struct s3_jp *j, int object)
{
    if (++j->depth > S3_JSON_DEPTH)
        return -EIO;
    char close = object ? '}' : ']';
    s3_jp_ws(j);
    if (j->p < j->end && *j->p == (unsigned char)close) {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        size_t n;
        s3_jp_ws(j);
        if (object) {
            if (s3_jp_string(j, NULL, 0, &n))
                return -EIO;
            s3_jp_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return -EIO;
        }
        if (s3_jp_value(j))
            return -EIO;
        s3_jp_ws(j);
        if (j->p >= j->end)
            return -EIO;
        unsigned char c = *j->p++;
        if (c == (unsigned char)close)
            break;
        if (c != ',')
            return -EIO;
    }
    j->depth--;
    return 0;
}

static int s3_jp_value(struct s3_jp *j)
{
    size_t n;
    s3_jp_ws(j);
    if (j->p >= j->end)
        return -EIO;
    switch (*j->p) {
    case '{':
        j->p++;
        return s3_jp_container(j, 1);
    case '[':
        j->p++;
        return s3_jp_container(j, 0);
    case '"':
        return s3_jp_string(j, NULL, 0, &n);
    case 't':
        return s3_jp_lit(j, "true");
    case 'f':
        return s3_jp_lit(j, "false");
    case 'n':
        return s3_jp_lit(j, "null");
    default:
        return s3_jp_number(j);
    }
}

/* Which wanted field a member name (raw, between quotes) is, or -1. The
 * name is decoded first: "Acc\u0065ssKeyId" is AccessKeyId. */
static int s3_jp_which(struct s3_jp *j, struct s3_json_field *f, int nf)
{
    char name[128];
    size_t n;
    const unsigned char *start = j->p;
    if (s3_jp_string(j, name, sizeof name, &n)) {
        j->p = start;           /* too long or holds a NUL: not one of ours */
        return s3_jp_string(j, NULL, 0, &n) ? -2 : -1;
    }
    for (int i = 0; i < nf; i++)
        if (strcmp(name, f[i].name) == 0)
            return i;
    return -1;
}

int s3_json_fields(const char *text, size_t len, struct s3_json_field *f, int nf)
{
    struct s3_jp j = { (const unsigned char *)text, (const unsigned char *)text + len, 1 };
    for (int i = 0; i < nf; i++) {
        f[i].found = 0;
        if (f[i].cap)
            f[i].out[0] = '\0';
    }
    s3_jp_ws(&j);
    if (j.p >= j.end || *j.p++ != '{')
        return -EIO;
    s3_jp_ws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            s3_jp_ws(&j);
            int w = s3_jp_which(&j, f, nf);
            if (w == -2)
                return -EIO;
            s3_jp_ws(&j);
            if (j.p >= j.end || *j.p++ != ':')
                return -EIO;
            s3_jp_ws(&j);
            size_t n;
            if (w >= 0) {
                if (f[w].found || s3_jp_string(&j, f[w].out, f[w].cap, &n))
                    return -EIO;
                f[w].found = 1;
            } else if (s3_jp_value(&j)) {
                return -EIO;
            }
            s3_jp_ws(&j);
            if (j.p >= j.end)
                return -EIO;
            unsigned char c = *j.p++;
            if (c == '}')
                break;
            if (c != ',')
                return -EIO;
        }
    }
    s3_jp_ws(&j);
    return j.p == j.end ? 0 : -EIO;
}

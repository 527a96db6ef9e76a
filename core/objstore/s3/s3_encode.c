/* s3_encode.c - the byte-exact text SigV4 signs: encoded paths, sorted
 * query strings, payload hashes.
 *
 * libcurl 7.88 signs the path and query exactly as they appear in the URL,
 * without sorting or re-encoding, so whatever we put in the URL must
 * already be SigV4's canonical form. That makes this file the one place
 * where a signature can be got right or wrong.
 */
#include "s3_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static int s3_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

int s3_uri_encode(const char *in, size_t n, int keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    assert((in || n == 0) && (out || cap == 0));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int keep = s3_unreserved(c) || (keep_slash && c == '/');
        if (o + (keep ? 1 : 3) >= cap)
            return -ENAMETOOLONG;
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= cap)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return (int)o;
}

struct s3_qpair {
    char *name;
    char *value;
};

static int s3_qpair_cmp(const void *a, const void *b)
{
    const struct s3_qpair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *s3_encode_dup(const char *s)
{
    size_t cap = strlen(s) * 3 + 1;
    char *out = malloc(cap);
    if (out && s3_uri_encode(s, strlen(s), 0, out, cap) < 0) {
        free(out);
        out = NULL;
    }
    return out;
}

static int s3_query_join(struct s3_qpair *pairs, int n, char *out, size_t cap)
{
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(pairs[i].name), vl = strlen(pairs[i].value);
        if (o + (i > 0) + nl + 1 + vl >= cap)
            return -ENAMETOOLONG;
        if (i > 0)
            out[o++] = '&';
        memcpy(out + o, pairs[i].name, nl);
        o += nl;
        out[o++] = '=';
        memcpy(out + o, pairs[i].value, vl);
        o += vl;
    }
    if (cap == 0)
        return -ENAMETOOLONG;
    out[o] = '\0';
    return (int)o;
}

int s3_query_build(const struct s3_qparam *params, int n, char *out, size_t cap)
{
    assert((params || n <= 0) && (out || cap == 0));
    struct s3_qpair *pairs = calloc(n > 0 ? (size_t)n : 1, sizeof *pairs);
    if (!pairs)
        return -ENOMEM;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        assert(params[i].name && params[i].value); /* s3_internal.h: never NULL */
        pairs[i].name = s3_encode_dup(params[i].name);
        pairs[i].value = s3_encode_dup(params[i].value);
        if (!pairs[i].name || !pairs[i].value)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        qsort(pairs, (size_t)n, sizeof *pairs, s3_qpair_cmp);
        rc = s3_query_join(pairs, n, out, cap);
    }
    for (int i = 0; i < n; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return rc;
}

void s3_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert((data || len == 0) && out);
    if (!EVP_Digest(len ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        /* Only on a broken libcrypto; a wrong hash makes the server refuse
         * the request, which is reported there. */
        memset(md, 0, sizeof md);
    }
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* objstore_url.c - bucket URLs: parsing and the secret-free description.
 *
 * Accepts exactly the forms of objstore.h and nothing else (-EINVAL): a
 * typo in an option must not silently become a different bucket. Never
 * accepts credentials inside the URL: they would end up in logs.
 */
#include "s3_internal.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int obj_url_copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap)
        return -EINVAL;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int obj_chars_ok(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return 0;
    }
    return n > 0;
}

static int obj_parse_file(const char *rest, struct obj_url *u)
{
    if (strncmp(rest, "localhost/", 10) == 0)
        rest += 9;
    if (rest[0] != '/' || strpbrk(rest, "?#"))
        return -EINVAL;
    size_t n = strlen(rest);
    while (n > 1 && rest[n - 1] == '/')
        n--;
    u->scheme = OBJ_FILE;
    return obj_url_copy(u->path, sizeof u->path, rest, n);
}

/* host[:port], where host may be an IPv6 literal in brackets. */
static int obj_parse_authority(const char *s, size_t n, struct obj_url *u)
{
    const char *colon = NULL;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !obj_chars_ok(s + 1, (size_t)(close - s - 1), ":."))
            return -EINVAL;
        if ((size_t)(close - s) + 1 < n)
            colon = close + 1;
        if (colon && *colon != ':')
            return -EINVAL;
    } else {
        colon = memchr(s, ':', n);
        if (!obj_chars_ok(s, colon ? (size_t)(colon - s) : n, ".-_"))
            return -EINVAL;
    }
    if (colon) {
        size_t plen = n - (size_t)(colon + 1 - s);
        if (plen == 0 || plen > 5 || !obj_chars_ok(colon + 1, plen, ""))
            return -EINVAL;
        for (size_t i = 0; i < plen; i++)
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return -EINVAL;
        long port = strtol(colon + 1, NULL, 10);
        if (port < 1 || port > 65535)
            return -EINVAL;
    }
    return obj_url_copy(u->host, sizeof u->host, s, n);
}

static int obj_opt_region(struct obj_url *u, const char *v, size_t n)
{
    return obj_chars_ok(v, n, "-_") ? obj_url_copy(u->region, sizeof u->region, v, n) : -EINVAL;
}

static int obj_opt_style(struct obj_url *u, const char *v, size_t n)
{
    int virt = n == 7 && strncmp(v, "virtual", 7) == 0;
    if (!virt && !(n == 4 && strncmp(v, "path", 4) == 0))
        return -EINVAL;
    u->virtual_host = virt;
    return 0;
}

static int obj_opt_tls_verify(struct obj_url *u, const char *v, size_t n)
{
    if (n != 1 || (v[0] != '0' && v[0] != '1'))
        return -EINVAL;
    u->tls_verify = v[0] == '1';
    return 0;
}

static const struct {
    const char *name;
    int (*set)(struct obj_url *u, const char *v, size_t n);
} obj_url_options[] = {
    { "region", obj_opt_region },
    { "style", obj_opt_style },
    { "tls_verify", obj_opt_tls_verify },
};

static int obj_parse_option(const char *opt, size_t n, struct obj_url *u)
{
    const char *eq = memchr(opt, '=', n);
    if (!eq)
        return -EINVAL;
    size_t kl = (size_t)(eq - opt);
    for (size_t i = 0; i < sizeof obj_url_options / sizeof *obj_url_options; i++)
        if (strlen(obj_url_options[i].name) == kl && strncmp(opt, obj_url_options[i].name, kl) == 0)
            return obj_url_options[i].set(u, eq + 1, n - kl - 1);
    return -EINVAL;             /* unknown option: a typo must not pass */
}

static int obj_parse_query(const char *q, struct obj_url *u)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 0) {
            int rc = obj_parse_option(q, n, u);
            if (rc)
                return rc;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

/* Region: the URL's, else AWS_REGION, else AWS_DEFAULT_REGION, else the
 * SDKs' us-east-1. */
static int obj_default_region(struct obj_url *u)
{
    static const char *const vars[] = { "AWS_REGION", "AWS_DEFAULT_REGION" };
    if (u->region[0])
        return 0;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *r = getenv(vars[i]);
        if (r && *r) {
            if (!obj_chars_ok(r, strlen(r), "-_") || strlen(r) >= sizeof u->region) {
                log_warn("objstore", "%s is not a region name: ignoring the bucket URL", vars[i]);
                return -EINVAL;
            }
            strcpy(u->region, r);
            return 0;
        }
    }
    strcpy(u->region, "us-east-1");
    return 0;
}

static int obj_parse_http(const char *rest, struct obj_url *u)
{
    size_t alen = strcspn(rest, "/?#");
    if (memchr(rest, '@', alen) || rest[alen] != '/')
        return -EINVAL;             /* no credentials in URLs; bucket required */
    int rc = obj_parse_authority(rest, alen, u);
    if (rc)
        return rc;
    const char *b = rest + alen + 1;
    size_t blen = strcspn(b, "/?#");
    if (!obj_chars_ok(b, blen, ".-_") || obj_url_copy(u->bucket, sizeof u->bucket, b, blen))
        return -EINVAL;
    const char *tail = b + blen;
    if (*tail == '/')
        tail++;
    if (*tail == '?')
        rc = obj_parse_query(tail + 1, u);
    else if (*tail)
        return -EINVAL;             /* a key prefix or fragment: not a bucket URL */
    if (rc == 0 && u->virtual_host && (!obj_chars_ok(u->bucket, blen, ".-") || u->host[0] == '['))
        return -EINVAL;             /* "bucket.host" must be a DNS name */
    return rc ? rc : obj_default_region(u);
}

int obj_parse_url(const char *url, struct obj_url *out)
{
    if (!url || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->tls_verify = 1;
    int rc = -EINVAL;
    if (strncasecmp(url, "file://", 7) == 0) {
        rc = obj_parse_file(url + 7, out);
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->scheme = OBJ_HTTP;
        rc = obj_parse_http(url + 7, out);
    } else if (strncasecmp(url, "https://", 8) == 0) {
        out->scheme = OBJ_HTTPS;
        rc = obj_parse_http(url + 8, out);
    }
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

void obj_url_describe(const struct obj_url *u, char *out, size_t cap)
{
    assert(u && out && cap > 0);
    if (u->scheme == OBJ_FILE)
        snprintf(out, cap, "file://%s", u->path);
    else
        snprintf(out, cap, "%s://%s/%s", u->scheme == OBJ_HTTPS ? "https" : "http",
                 u->host, u->bucket);
}

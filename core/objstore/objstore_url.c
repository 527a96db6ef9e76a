/* objstore_url.c - bucket URLs: parsing and the secret-free description.
 *
 * Accepts exactly the forms of objstore.h and nothing else (-EINVAL): a
 * typo in an option must not silently become a different bucket. Never
 * accepts credentials inside the URL: they would end up in logs. The
 * s3:// form and region defaults read AWS_REGION, AWS_DEFAULT_REGION,
 * AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL at parse time.
 */
#include "objstore_internal.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
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

/* Each option: region's text (set), or a two-way choice whose first word
 * sets the int at `field` to 1 and its second to 0. */
static const struct {
    const char *name;
    int (*set)(struct obj_url *u, const char *v, size_t n);
    const char *one, *other;
    size_t field;
} obj_url_options[] = {
    { "region", obj_opt_region, NULL, NULL, 0 },
    { "style", NULL, "virtual", "path", offsetof(struct obj_url, virtual_host) },
    { "tls_verify", NULL, "1", "0", offsetof(struct obj_url, tls_verify) },
    { "payload", NULL, "signed", "unsigned", offsetof(struct obj_url, sign_payload) },
};

static int obj_word_is(const char *v, size_t n, const char *word)
{
    return n == strlen(word) && strncmp(v, word, n) == 0;
}

static int obj_set_option(size_t i, struct obj_url *u, const char *v, size_t n)
{
    if (obj_url_options[i].set)
        return obj_url_options[i].set(u, v, n);
    int *f = (int *)(void *)((char *)u + obj_url_options[i].field);
    if (obj_word_is(v, n, obj_url_options[i].one))
        *f = 1;
    else if (obj_word_is(v, n, obj_url_options[i].other))
        *f = 0;
    else
        return -EINVAL;
    return 0;
}

static int obj_parse_option(const char *opt, size_t n, struct obj_url *u)
{
    const char *eq = memchr(opt, '=', n);
    if (!eq)
        return -EINVAL;
    size_t kl = (size_t)(eq - opt);
    for (size_t i = 0; i < sizeof obj_url_options / sizeof *obj_url_options; i++)
        if (strlen(obj_url_options[i].name) == kl && strncmp(opt, obj_url_options[i].name, kl) == 0)
            return obj_set_option(i, u, eq + 1, n - kl - 1);
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

/* A key prefix inside the bucket: segments of S3's safe characters
 * separated by single '/', no "." or ".." segment (a prefix is a folder
 * every key the volume writes lives under, and must mean one thing).
 * Stored with one trailing '/', or "" for the whole bucket. */
static int obj_parse_prefix(const char *p, size_t n, struct obj_url *u)
{
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0)
        return 0;
    if (n + 2 > sizeof u->prefix)
        return -EINVAL;
    for (size_t i = 0; i < n;) {
        size_t seg = 0;
        while (i + seg < n && p[i + seg] != '/')
            seg++;
        if (!obj_chars_ok(p + i, seg, "-_.!*'()") ||
            (seg == 1 && p[i] == '.') || (seg == 2 && p[i] == '.' && p[i + 1] == '.'))
            return -EINVAL;     /* also catches "//" (an empty segment) */
        i += seg + 1;
    }
    memcpy(u->prefix, p, n);
    u->prefix[n] = '/';
    u->prefix[n + 1] = '\0';
    return 0;
}

/* "/prefix?query" after the bucket (either may be absent). */
static int obj_parse_tail(const char *tail, struct obj_url *u)
{
    if (strchr(tail, '#'))
        return -EINVAL;
    if (*tail == '/')
        tail++;
    size_t plen = strcspn(tail, "?");
    int rc = obj_parse_prefix(tail, plen, u);
    if (rc == 0 && tail[plen] == '?')
        rc = obj_parse_query(tail + plen + 1, u);
    return rc;
}

/* "bucket.s3.REGION.amazonaws.com" or "bucket.s3.amazonaws.com" (also
 * s3-REGION, dualstack, .com.cn): AWS's virtual-hosted form, where the
 * path holds only the key prefix. The endpoint's part never contains
 * ".s3." again, so the last match splits a bucket that has dots. */
static int obj_split_aws_virtual(struct obj_url *u)
{
    char *h = u->host, *cut = NULL;
    size_t hl = strcspn(h, ":");
    static const char *const tails[] = { ".amazonaws.com", ".amazonaws.com.cn" };
    int aws = 0;
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        size_t tl = strlen(tails[i]);
        aws |= hl > tl && strncasecmp(h + hl - tl, tails[i], tl) == 0;
    }
    if (!aws || h[0] == '[')
        return 0;
    for (size_t i = 1; i + 3 < hl; i++)
        if (h[i - 1] == '.' && strncasecmp(h + i, "s3", 2) == 0 && (h[i + 2] == '.' || h[i + 2] == '-'))
            cut = h + i;
    if (!cut)
        return 0;
    size_t blen = (size_t)(cut - h) - 1;
    if (blen >= sizeof u->bucket || !obj_chars_ok(h, blen, ".-"))
        return -EINVAL;
    memcpy(u->bucket, h, blen);
    u->bucket[blen] = '\0';
    memmove(h, cut, strlen(cut) + 1);
    u->virtual_host = 1;
    /* s3.REGION.amazonaws.com / s3-REGION.amazonaws.com give the region */
    const char *r = h + 3, *dot = strchr(r, '.');
    if (!u->region[0] && dot && strncmp(r, "amazonaws.", 10) != 0 && strncmp(r, "dualstack.", 10) != 0 &&
        (size_t)(dot - r) < sizeof u->region && obj_chars_ok(r, (size_t)(dot - r), "-"))
        memcpy(u->region, r, (size_t)(dot - r));
    return 1;
}

static int obj_check_virtual(const struct obj_url *u)
{
    if (u->virtual_host && (!obj_chars_ok(u->bucket, strlen(u->bucket), ".-") || u->host[0] == '['))
        return -EINVAL;             /* "bucket.host" must be a DNS name */
    return 0;
}

static int obj_parse_http(const char *rest, struct obj_url *u)
{
    size_t alen = strcspn(rest, "/?#");
    if (memchr(rest, '@', alen))
        return -EINVAL;             /* no credentials in URLs */
    int rc = obj_parse_authority(rest, alen, u);
    if (rc)
        return rc;
    const char *tail = rest + alen;
    int virt = obj_split_aws_virtual(u);
    if (virt < 0)
        return virt;
    if (!virt) {
        if (*tail != '/')
            return -EINVAL;         /* bucket required */
        const char *b = tail + 1;
        size_t blen = strcspn(b, "/?#");
        if (!obj_chars_ok(b, blen, ".-_") || obj_url_copy(u->bucket, sizeof u->bucket, b, blen))
            return -EINVAL;
        tail = b + blen;
    }
    rc = obj_parse_tail(tail, u);
    if (rc == 0)
        rc = obj_check_virtual(u);
    return rc ? rc : obj_default_region(u);
}

/* AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (the SDKs' variables):
 * "http(s)://host[:port]" with nothing after the authority. 0 when set,
 * 1 when neither is, -EINVAL when the value is not such a URL. */
static int obj_env_endpoint(struct obj_url *u)
{
    static const char *const vars[] = { "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *e = getenv(vars[i]);
        if (!e || !*e)
            continue;
        const char *rest = NULL;
        if (strncasecmp(e, "http://", 7) == 0) {
            u->scheme = OBJ_HTTP;
            rest = e + 7;
        } else if (strncasecmp(e, "https://", 8) == 0) {
            u->scheme = OBJ_HTTPS;
            rest = e + 8;
        }
        size_t alen = rest ? strcspn(rest, "/?#@") : 0;
        if (!rest || strspn(rest + alen, "/") != strlen(rest + alen) ||
            obj_parse_authority(rest, alen, u) != 0) {
            log_warn("objstore", "%s is not an http(s)://host[:port] endpoint", vars[i]);
            return -EINVAL;
        }
        return 0;
    }
    return 1;
}

/* s3://bucket[/prefix][?options]: the endpoint from the environment, else
 * AWS's regional one (virtual-hosted unless the bucket has dots, which
 * would not match the wildcard certificate); a custom endpoint is
 * path-style unless ?style=virtual, as the SDKs do. */
static int obj_parse_s3(const char *rest, struct obj_url *u)
{
    size_t blen = strcspn(rest, "/?#");
    if (!obj_chars_ok(rest, blen, ".-_") || obj_url_copy(u->bucket, sizeof u->bucket, rest, blen))
        return -EINVAL;
    u->virtual_host = -1;           /* not chosen yet */
    int rc = obj_parse_tail(rest + blen, u);
    if (rc == 0)
        rc = obj_default_region(u);
    if (rc)
        return rc;
    rc = obj_env_endpoint(u);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        u->scheme = OBJ_HTTPS;
        if ((size_t)snprintf(u->host, sizeof u->host, "s3.%s.amazonaws.com", u->region) >= sizeof u->host)
            return -EINVAL;
        if (u->virtual_host < 0)
            u->virtual_host = !strchr(u->bucket, '.') && !strchr(u->bucket, '_');
    }
    if (u->virtual_host < 0)
        u->virtual_host = 0;
    return obj_check_virtual(u);
}

int obj_parse_url(const char *url, struct obj_url *out)
{
    if (!url || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->tls_verify = 1;
    out->sign_payload = -1; /* not chosen yet */
    int rc = -EINVAL;
    if (strncasecmp(url, "file://", 7) == 0) {
        rc = obj_parse_file(url + 7, out);
    } else if (strncasecmp(url, "http://", 7) == 0) {
        out->scheme = OBJ_HTTP;
        rc = obj_parse_http(url + 7, out);
    } else if (strncasecmp(url, "https://", 8) == 0) {
        out->scheme = OBJ_HTTPS;
        rc = obj_parse_http(url + 8, out);
    } else if (strncasecmp(url, "s3://", 5) == 0) {
        rc = obj_parse_s3(url + 5, out);
    }
    /* By default as botocore: a body goes unsigned only where TLS guards it.
     * Over plain http a signed body is what keeps someone in the path from
     * storing blocks of their own making for every later reader. */
    if (out->sign_payload < 0)
        out->sign_payload = out->scheme != OBJ_HTTPS;
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
        snprintf(out, cap, "%s://%s/%s%s%.*s", u->scheme == OBJ_HTTPS ? "https" : "http",
                 u->host, u->bucket, u->prefix[0] ? "/" : "",
                 u->prefix[0] ? (int)strlen(u->prefix) - 1 : 0, u->prefix);
}

/* s3_cred_http.c - the credential sources' exchanges: one HTTP request on
 * its own short-lived curl handle (fetches are rare: once an hour or so),
 * STS's XML reply read with expat, and the Expiration timestamps.
 *
 * Promises: bounded by the request's timeout; no redirect is followed (a
 * token must not be sent elsewhere); nothing here logs, so neither a
 * header nor a reply can leak into a log line.
 */
#include "s3_cred.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <expat.h>

struct s3_http_sink {
    char *out;
    size_t cap, len;
    int overflow;
};

static size_t s3_http_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct s3_http_sink *s = ud;
    size_t n = size * nmemb;
    if (s->len + n >= s->cap) {
        s->overflow = 1;
        return 0;
    }
    memcpy(s->out + s->len, p, n);
    s->len += n;
    s->out[s->len] = '\0';
    return n;
}

static int s3_http_errno(CURLcode cc, long os_errno)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return os_errno == EHOSTUNREACH || os_errno == ENETUNREACH ? -EHOSTUNREACH : -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

int s3_http(const struct s3_http_req *r, char *out, size_t cap)
{
    struct s3_http_sink sink = { out, cap, 0, 0 };
    struct curl_slist *h = NULL;
    CURL *e = curl_easy_init();
    if (!e || cap == 0)
        return -ENOMEM;
    out[0] = '\0';
    int bad = 0;
    for (const char *const *p = r->headers; p && *p && !bad; p++) {
        struct curl_slist *n = curl_slist_append(h, *p);
        bad = !n;
        h = n ? n : h;
    }
    const char *ca = secure_getenv("AWS_CA_BUNDLE");
    struct stat sb;
    bad = bad || curl_easy_setopt(e, CURLOPT_URL, r->url) ||
          curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
          curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
          curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
          curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms) ||
          curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms < 1000 ? r->timeout_ms : 1000L) ||
          curl_easy_setopt(e, CURLOPT_USERAGENT, "shimfs") ||
          curl_easy_setopt(e, CURLOPT_HTTPHEADER, h) ||
          curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s3_http_body) ||
          curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink) ||
          curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    if (!bad && r->body)
        bad = curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) != CURLE_OK;
    else if (!bad && strcmp(r->method, "PUT") == 0)
        bad = curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") != CURLE_OK;
    if (!bad && ca && *ca && stat(ca, &sb) == 0 && S_ISREG(sb.st_mode))
        bad = curl_easy_setopt(e, CURLOPT_CAINFO, ca) != CURLE_OK;
    int rc = -ENOMEM;
    if (!bad) {
        CURLcode cc = curl_easy_perform(e);
        long status = 0, os_errno = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os_errno);
        if (sink.overflow)
            rc = -EIO;
        else if (cc != CURLE_OK)
            rc = s3_http_errno(cc, os_errno);
        else
            rc = status > 0 ? (int)status : -EIO;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return rc;
}

/* ---- STS's reply ----------------------------------------------------------- */

enum { S3_STS_NONE, S3_STS_AKID, S3_STS_SECRET, S3_STS_TOKEN, S3_STS_EXP, S3_STS_CODE };

struct s3_sts {
    XML_Parser parser;
    int depth, in_creds_depth, in_error_depth, leaf, rc, ok_root, err_root;
    char *val[6];               /* indexed by the leaf enum, [0] unused */
    size_t len[6];
};

#define S3_STS_TEXT_MAX 16384

static const char *s3_sts_local(const char *name)
{
    const char *bar = strrchr(name, '|');
    return bar ? bar + 1 : name;
}

static void s3_sts_start(void *ud, const char *name, const char **attrs)
{
    struct s3_sts *s = ud;
    const char *l = s3_sts_local(name);
    (void)attrs;
    s->depth++;
    if (s->depth == 1) {
        s->ok_root = strcmp(l, "AssumeRoleWithWebIdentityResponse") == 0;
        s->err_root = strcmp(l, "ErrorResponse") == 0;
    } else if (strcmp(l, "Credentials") == 0 && s->ok_root) {
        s->in_creds_depth = s->depth;
    } else if (strcmp(l, "Error") == 0 && s->err_root) {
        s->in_error_depth = s->depth;
    } else if (s->in_creds_depth && s->depth == s->in_creds_depth + 1) {
        s->leaf = strcmp(l, "AccessKeyId") == 0 ? S3_STS_AKID :
                  strcmp(l, "SecretAccessKey") == 0 ? S3_STS_SECRET :
                  strcmp(l, "SessionToken") == 0 ? S3_STS_TOKEN :
                  strcmp(l, "Expiration") == 0 ? S3_STS_EXP : S3_STS_NONE;
    } else if (s->in_error_depth && s->depth == s->in_error_depth + 1 && strcmp(l, "Code") == 0) {
        s->leaf = S3_STS_CODE;
    }
    if (s->leaf && s->val[s->leaf]) {
        s->rc = -EIO;           /* twice: not a reply we understand */
        XML_StopParser(s->parser, XML_FALSE);
    }
}

static void s3_sts_end(void *ud, const char *name)
{
    struct s3_sts *s = ud;
    (void)name;
    if (s->leaf && !s->val[s->leaf])
        s->val[s->leaf] = calloc(1, 1);     /* present but empty */
    if (s->depth == s->in_creds_depth)
        s->in_creds_depth = 0;
    if (s->depth == s->in_error_depth)
        s->in_error_depth = 0;
    s->leaf = S3_STS_NONE;
    s->depth--;
}

static void s3_sts_text(void *ud, const char *t, int n)
{
    struct s3_sts *s = ud;
    if (!s->leaf)
        return;
    size_t have = s->len[s->leaf];
    if (have + (size_t)n > S3_STS_TEXT_MAX) {
        s->rc = -EIO;
        XML_StopParser(s->parser, XML_FALSE);
        return;
    }
    char *v = realloc(s->val[s->leaf], have + (size_t)n + 1);
    if (!v) {
        s->rc = -ENOMEM;
        XML_StopParser(s->parser, XML_FALSE);
        return;
    }
    memcpy(v + have, t, (size_t)n);
    v[have + (size_t)n] = '\0';
    s->val[s->leaf] = v;
    s->len[s->leaf] = have + (size_t)n;
}

int s3_sts_parse(const char *xml, size_t len, struct s3_creds *out, char *err_code, size_t cap)
{
    struct s3_sts s = { 0 };
    memset(out, 0, sizeof *out);
    if (cap)
        err_code[0] = '\0';
    s.parser = XML_ParserCreateNS(NULL, '|');
    if (!s.parser)
        return -ENOMEM;
    XML_SetUserData(s.parser, &s);
    XML_SetElementHandler(s.parser, s3_sts_start, s3_sts_end);
    XML_SetCharacterDataHandler(s.parser, s3_sts_text);
    if (XML_Parse(s.parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK && s.rc == 0)
        s.rc = -EIO;
    XML_ParserFree(s.parser);
    if (s.rc == 0 && s.err_root && s.val[S3_STS_CODE] && cap)
        snprintf(err_code, cap, "%s", s.val[S3_STS_CODE]);
    if (s.rc == 0 && (!s.ok_root || !s.val[S3_STS_AKID] || !*s.val[S3_STS_AKID] ||
                      !s.val[S3_STS_SECRET] || !*s.val[S3_STS_SECRET] || !s.val[S3_STS_EXP] ||
                      s3_cred_parse_time(s.val[S3_STS_EXP], &out->expires) != 0))
        s.rc = -EIO;
    if (s.rc == 0) {
        out->access_key = s.val[S3_STS_AKID];
        out->secret_key = s.val[S3_STS_SECRET];
        out->token = s.val[S3_STS_TOKEN] && *s.val[S3_STS_TOKEN] ? s.val[S3_STS_TOKEN] : NULL;
        s.val[S3_STS_AKID] = s.val[S3_STS_SECRET] = NULL;
        if (out->token)
            s.val[S3_STS_TOKEN] = NULL;
    } else {
        out->expires = 0;
    }
    for (int i = 1; i < 6; i++) {
        if (s.val[i])
            explicit_bzero(s.val[i], s.len[i]);
        free(s.val[i]);
    }
    return s.rc;
}

/* ---- timestamps --------------------------------------------------------------- */

int s3_cred_parse_time(const char *s, int64_t *out)
{
    struct tm tm = { 0 };
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p || strlen(s) < 19 || s[4] != '-')
        return -EINVAL;
    if (*p == '.') {            /* a fraction: ignored */
        p++;
        if (*p < '0' || *p > '9')
            return -EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 && strcmp(p, "+0000") != 0)
        return -EINVAL;         /* every AWS service answers in UTC */
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = (int64_t)t;
    return 0;
}

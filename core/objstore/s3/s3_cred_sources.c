/* s3_cred_sources.c - where AWS credentials come from, one function per
 * source, in the SDKs' order (s3_cred.h). Each says -ENOENT when it is not
 * configured here, so the chain goes on; a configured source that fails
 * logs one line naming itself (never a secret: not a token, not a reply
 * body, not a file's line) and returns -EIO.
 *
 * Not supported (documented in docs/configuration.md): profiles that
 * chain roles (role_arn, source_profile), credential_process and SSO;
 * such a profile is an error, not silently skipped. IMDSv1 (no token).
 */
#include "s3_cred.h"
#include "s3_internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S3_CRED_MOD "credentials"
#define S3_TOKEN_FILE_MAX (64u << 10)
#define S3_SHARED_FILE_MAX (1u << 20)
#define S3_REPLY_MAX (64u << 10)
#define S3_STS_TIMEOUT_MS 10000
#define S3_CONTAINER_TIMEOUT_MS 5000
#define S3_IMDS_TIMEOUT_MS 2000
#define S3_IMDS_DEFAULT "http://169.254.169.254"
#define S3_ECS_HOST "http://169.254.170.2"

void s3_creds_wipe(struct s3_creds *cr)
{
    char **field[] = { &cr->access_key, &cr->secret_key, &cr->token };
    for (size_t i = 0; i < sizeof field / sizeof *field; i++) {
        char *v = *field[i];
        if (v) {
            explicit_bzero(v, strlen(v));
            free(v);
            *field[i] = NULL;
        }
    }
}

static const char *s3_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Fill out from three strings (copied); token may be NULL or "". */
static int s3_creds_set(struct s3_creds *out, const char *akid, const char *secret,
                        const char *token, int64_t expires)
{
    out->access_key = strdup(akid);
    out->secret_key = strdup(secret);
    out->token = token && *token ? strdup(token) : NULL;
    out->expires = expires;
    if (!out->access_key || !out->secret_key || (token && *token && !out->token)) {
        s3_creds_wipe(out);
        return -ENOMEM;
    }
    return 0;
}

/* A whole small file, NUL-terminated: -ENOENT when it does not exist. */
static int s3_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
        close(fd);
        return -EIO;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t n = 0;
    while (buf && n < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -ENOMEM;
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void s3_free_text(char *s, size_t n)
{
    if (s) {
        explicit_bzero(s, n);
        free(s);
    }
}

/* A token from a file (rotated by its owner: read at every fetch), its
 * trailing white space cut. */
static int s3_read_token(const char *path, char **tok)
{
    size_t n;
    int rc = s3_read_file(path, S3_TOKEN_FILE_MAX, tok, &n);
    if (rc)
        return rc;
    while (n > 0 && strchr(" \t\r\n", (*tok)[n - 1]))
        (*tok)[--n] = '\0';
    if (n == 0 || strpbrk(*tok, "\r\n")) {
        s3_free_text(*tok, n);
        *tok = NULL;
        return -EINVAL;
    }
    return 0;
}

/* ---- environment -------------------------------------------------------------- */

static int s3_src_env(const char *region, struct s3_creds *out)
{
    (void)region;
    const char *akid = s3_env("AWS_ACCESS_KEY_ID"), *secret = s3_env("AWS_SECRET_ACCESS_KEY");
    if (!akid || !secret)
        return -ENOENT;
    return s3_creds_set(out, akid, secret, s3_env("AWS_SESSION_TOKEN"), 0);
}

/* ---- web identity (IRSA): STS AssumeRoleWithWebIdentity --------------------- */

/* "name=value" with value form-encoded, appended to *body. */
static int s3_form_add(char **body, const char *name, const char *value)
{
    size_t vl = strlen(value), cap = vl * 3 + 1;
    char *enc = malloc(cap), *next = NULL;
    int rc = enc ? s3_uri_encode(value, vl, 0, enc, cap) : -ENOMEM;
    if (rc >= 0 && asprintf(&next, "%s%s%s=%s", *body ? *body : "", *body ? "&" : "", name, enc) < 0) {
        next = NULL;
        rc = -ENOMEM;
    }
    s3_free_text(enc, enc ? strlen(enc) : 0);
    s3_free_text(*body, *body ? strlen(*body) : 0);
    *body = next;
    return rc < 0 ? rc : 0;
}

/* AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else the regional one. */
static char *s3_sts_endpoint(const char *region)
{
    const char *e = s3_env("AWS_ENDPOINT_URL_STS");
    char *url = NULL;
    if (!e)
        e = s3_env("AWS_ENDPOINT_URL");
    if (e) {
        size_t n = strlen(e);
        while (n > 0 && e[n - 1] == '/')
            n--;
        return asprintf(&url, "%.*s/", (int)n, e) < 0 ? NULL : url;
    }
    return asprintf(&url, "https://sts.%s.amazonaws.com/", region) < 0 ? NULL : url;
}

static int s3_src_web_identity(const char *region, struct s3_creds *out)
{
    const char *role = s3_env("AWS_ROLE_ARN"), *file = s3_env("AWS_WEB_IDENTITY_TOKEN_FILE");
    if (!role || !file)
        return -ENOENT;
    char *tok = NULL, *body = NULL, *url = s3_sts_endpoint(region), session[64];
    const char *name = s3_env("AWS_ROLE_SESSION_NAME");
    int rc = url ? s3_read_token(file, &tok) : -ENOMEM;
    if (rc && rc != -ENOMEM)
        log_error(S3_CRED_MOD, "web identity: cannot read the token file %s: %s", file, strerror(-rc));
    if (!name) {
        snprintf(session, sizeof session, "shimfs-%ld-%ld", (long)getpid(), (long)time(NULL));
        name = session;
    }
    if (rc == 0)
        rc = s3_form_add(&body, "Action", "AssumeRoleWithWebIdentity");
    if (rc == 0)
        rc = s3_form_add(&body, "RoleArn", role);
    if (rc == 0)
        rc = s3_form_add(&body, "RoleSessionName", name);
    if (rc == 0)
        rc = s3_form_add(&body, "Version", "2011-06-15");
    if (rc == 0)
        rc = s3_form_add(&body, "WebIdentityToken", tok);
    char *reply = rc == 0 ? malloc(S3_REPLY_MAX) : NULL;
    if (rc == 0 && !reply)
        rc = -ENOMEM;
    if (rc == 0) {
        static const char *const hdr[] = {
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL };
        struct s3_http_req req = { "POST", url, hdr, body, S3_STS_TIMEOUT_MS };
        char code[64] = "";
        int st = s3_http(&req, reply, S3_REPLY_MAX);
        if (st == 200 && s3_sts_parse(reply, strlen(reply), out, code, sizeof code) == 0) {
            rc = 0;
        } else {
            if (st > 0)
                s3_sts_parse(reply, strlen(reply), out, code, sizeof code);
            if (st > 0)
                log_error(S3_CRED_MOD, "web identity: STS at %s answered HTTP %d%s%s for role %s", url,
                          st, code[0] ? " " : "", code, role);
            else
                log_error(S3_CRED_MOD, "web identity: STS at %s: %s", url, strerror(-st));
            rc = -EIO;
        }
    }
    s3_free_text(reply, reply ? S3_REPLY_MAX : 0);
    s3_free_text(body, body ? strlen(body) : 0);
    s3_free_text(tok, tok ? strlen(tok) : 0);
    free(url);
    return rc == -ENOENT ? -EIO : rc;   /* configured: never "not here" */
}

/* ---- shared files: ~/.aws/credentials and ~/.aws/config ---------------------- */

struct s3_profile {
    const char *name;
    int config;                 /* parsing the config file: "[profile NAME]" */
    int seen;                   /* the section exists */
    char *akid, *secret, *token;
    const char *unsupported;    /* a setting we cannot honour */
};

static int s3_profile_section(const struct s3_profile *p, const char *section)
{
    if (!p->config)
        return strcmp(section, p->name) == 0;
    if (strcmp(p->name, "default") == 0 && strcmp(section, "default") == 0)
        return 1;
    if (strncmp(section, "profile", 7) != 0 || !strchr(" \t", section[7]))
        return 0;
    section += 8;
    section += strspn(section, " \t");
    return strcmp(section, p->name) == 0;
}

static int s3_profile_cb(void *arg, const char *section, const char *key, const char *value)
{
    struct s3_profile *p = arg;
    static const char *const unsupported[] = {
        "role_arn", "credential_process", "sso_session", "sso_start_url", "web_identity_token_file",
    };
    if (!s3_profile_section(p, section))
        return 0;
    p->seen = 1;
    char **slot = strcmp(key, "aws_access_key_id") == 0 ? &p->akid :
                  strcmp(key, "aws_secret_access_key") == 0 ? &p->secret :
                  strcmp(key, "aws_session_token") == 0 ? &p->token : NULL;
    if (slot) {
        s3_free_text(*slot, *slot ? strlen(*slot) : 0);
        *slot = strdup(value);
        return *slot ? 0 : -ENOMEM;
    }
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (strcmp(key, unsupported[i]) == 0)
            p->unsupported = unsupported[i];
    return 0;
}

static void s3_profile_free(struct s3_profile *p)
{
    s3_free_text(p->akid, p->akid ? strlen(p->akid) : 0);
    s3_free_text(p->secret, p->secret ? strlen(p->secret) : 0);
    s3_free_text(p->token, p->token ? strlen(p->token) : 0);
}

/* path: the variable's value, else ~/.aws/NAME. */
static char *s3_shared_path(const char *var, const char *name)
{
    const char *v = s3_env(var), *home = s3_env("HOME");
    char *path = NULL;
    if (v)
        return strdup(v);
    if (!home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || asprintf(&path, "%s/.aws/%s", home, name) < 0)
        return NULL;
    return path;
}

/* 0 read (or absent), -EIO logged. */
static int s3_shared_read(const char *path, struct s3_profile *p)
{
    char *text = NULL;
    size_t len = 0;
    int bad_line = 0, rc = s3_read_file(path, S3_SHARED_FILE_MAX, &text, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc == 0)
        rc = s3_ini_parse(text, len, s3_profile_cb, p, &bad_line);
    s3_free_text(text, len);
    if (rc == -EINVAL)
        log_error(S3_CRED_MOD, "shared files: %s line %d is not 'key = value', '[section]' or a comment",
                  path, bad_line);
    else if (rc)
        log_error(S3_CRED_MOD, "shared files: cannot read %s: %s", path, strerror(-rc));
    return rc ? -EIO : 0;
}

static int s3_src_shared(const char *region, struct s3_creds *out)
{
    (void)region;
    const char *want = s3_env("AWS_PROFILE");
    struct s3_profile cred = { .name = want ? want : "default" };
    struct s3_profile conf = { .name = cred.name, .config = 1 };
    char *cpath = s3_shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *fpath = s3_shared_path("AWS_CONFIG_FILE", "config");
    int rc = cpath && fpath ? 0 : -ENOMEM;
    if (rc == 0)
        rc = s3_shared_read(cpath, &cred);
    if (rc == 0)
        rc = s3_shared_read(fpath, &conf);
    /* The credentials file wins over the config file, key by key. */
    const char *akid = cred.akid ? cred.akid : conf.akid;
    const char *secret = cred.akid ? cred.secret : conf.secret;
    const char *token = cred.akid ? cred.token : conf.token;
    if (rc == 0 && akid && secret && *akid && *secret) {
        rc = s3_creds_set(out, akid, secret, token, 0);
    } else if (rc == 0 && (cred.unsupported || conf.unsupported)) {
        log_error(S3_CRED_MOD, "shared files: profile %s uses %s, which shimfs does not support "
                  "(give it static keys, or use web identity, container or IMDS credentials)",
                  cred.name, cred.unsupported ? cred.unsupported : conf.unsupported);
        rc = -EIO;
    } else if (rc == 0 && (cred.seen || conf.seen || want)) {
        /* A named profile must exist; an existing one must hold keys. */
        log_error(S3_CRED_MOD, "shared files: profile %s %s", cred.name,
                  cred.seen || conf.seen ? "has no aws_access_key_id and aws_secret_access_key"
                                         : "is in neither the credentials nor the config file");
        rc = -EIO;
    } else if (rc == 0) {
        rc = -ENOENT;
    }
    s3_profile_free(&cred);
    s3_profile_free(&conf);
    free(cpath);
    free(fpath);
    return rc;
}

/* ---- JSON replies: container credentials and IMDS -------------------------- */

/* The fields a container or IMDS reply must have. -EIO when it lacks one. */
static int s3_creds_json(const char *json, struct s3_creds *out)
{
    char akid[256], secret[256], exp[64], code[64];
    char *tok = malloc(S3_REPLY_MAX);
    if (!tok)
        return -ENOMEM;
    struct s3_json_field f[] = {
        { "AccessKeyId", akid, sizeof akid, 0 },
        { "SecretAccessKey", secret, sizeof secret, 0 },
        { "Token", tok, S3_REPLY_MAX, 0 },
        { "Expiration", exp, sizeof exp, 0 },
        { "Code", code, sizeof code, 0 },
    };
    int64_t expires = 0;
    int rc = s3_json_fields(json, strlen(json), f, 5);
    if (rc == 0 && (!f[0].found || !f[1].found || !*akid || !*secret || !f[3].found ||
                    s3_cred_parse_time(exp, &expires) != 0 || (f[4].found && strcmp(code, "Success") != 0)))
        rc = -EIO;
    if (rc == 0)
        rc = s3_creds_set(out, akid, secret, f[2].found ? tok : NULL, expires);
    explicit_bzero(secret, sizeof secret);
    s3_free_text(tok, S3_REPLY_MAX);
    return rc;
}

/* ---- container credentials (ECS, EKS Pod Identity) ------------------------- */

/* Plain http only to loopback or the container agents' link-local
 * addresses, as the SDKs require: the token must not cross a network. */
static int s3_container_host_ok(const char *url)
{
    static const char *const hosts[] = {
        "127.", "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
    };
    if (strncasecmp(url, "https://", 8) == 0)
        return 1;
    if (strncasecmp(url, "http://", 7) != 0)
        return 0;
    const char *h = url + 7;
    size_t hl = strcspn(h, ":/?#");
    if (h[0] == '[')
        hl = strcspn(h, "]") + 1;
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        size_t n = strlen(hosts[i]);
        if (hosts[i][n - 1] == '.' ? strncmp(h, hosts[i], n) == 0 && hl > n
                                   : hl == n && strncasecmp(h, hosts[i], n) == 0)
            return 1;
    }
    return 0;
}

static int s3_src_container(const char *region, struct s3_creds *out)
{
    (void)region;
    const char *rel = s3_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = s3_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tfile = s3_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    char *url = NULL, *tok = NULL, *hdr = NULL, *reply = NULL;
    if (!rel && !full)
        return -ENOENT;
    if (!rel)
        url = strdup(full);
    else if (rel[0] == '/' && asprintf(&url, "%s%s", S3_ECS_HOST, rel) < 0)
        url = NULL;
    int rc = 0;
    if (!url || !s3_container_host_ok(url)) {
        log_error(S3_CRED_MOD, "container: %s is not https:// nor http:// to loopback or the "
                  "container agent", rel ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" :
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI");
        rc = -EIO;
    } else if (tfile) {
        rc = s3_read_token(tfile, &tok);
        if (rc)
            log_error(S3_CRED_MOD, "container: cannot read the token file %s: %s", tfile, strerror(-rc));
    } else if (s3_env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        tok = strdup(s3_env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
        rc = !tok ? -ENOMEM : strpbrk(tok, "\r\n") ? -EINVAL : 0;
        if (rc == -EINVAL)
            log_error(S3_CRED_MOD, "container: AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
    }
    if (rc == 0 && tok && asprintf(&hdr, "Authorization: %s", tok) < 0) {
        hdr = NULL;
        rc = -ENOMEM;
    }
    if (rc == 0 && !(reply = malloc(S3_REPLY_MAX)))
        rc = -ENOMEM;
    if (rc == 0) {
        const char *const hdrs[] = { hdr, NULL };
        struct s3_http_req req = { "GET", url, hdr ? hdrs : NULL, NULL, S3_CONTAINER_TIMEOUT_MS };
        int st = s3_http(&req, reply, S3_REPLY_MAX);
        if (st == 200)
            rc = s3_creds_json(reply, out);
        if (st < 0)
            log_error(S3_CRED_MOD, "container: %s: %s", url, strerror(-st));
        else if (st != 200)
            log_error(S3_CRED_MOD, "container: %s answered HTTP %d", url, st);
        else if (rc)
            log_error(S3_CRED_MOD, "container: the reply of %s is not a credentials document", url);
        rc = st == 200 ? rc : -EIO;
    }
    s3_free_text(reply, reply ? S3_REPLY_MAX : 0);
    s3_free_text(hdr, hdr ? strlen(hdr) : 0);
    s3_free_text(tok, tok ? strlen(tok) : 0);
    free(url);
    return rc == 0 || rc == -ENOMEM ? rc : -EIO;
}

/* ---- IMDSv2 (EC2 instance profile) ------------------------------------------- */

static int s3_imds_get(const char *url, const char *tokhdr, char *out, size_t cap)
{
    const char *const hdrs[] = { tokhdr, NULL };
    struct s3_http_req req = { "GET", url, hdrs, NULL, S3_IMDS_TIMEOUT_MS };
    return s3_http(&req, out, cap);
}

static int s3_src_imds(const char *region, struct s3_creds *out)
{
    (void)region;
    const char *off = s3_env("AWS_EC2_METADATA_DISABLED");
    if (off && strcasecmp(off, "true") == 0)
        return -ENOENT;
    const char *base = s3_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    size_t bl;
    if (!base)
        base = S3_IMDS_DEFAULT;
    for (bl = strlen(base); bl > 0 && base[bl - 1] == '/'; bl--)
        ;
    char url[1024], tokhdr[256 + 40], role[130];
    char *reply = malloc(S3_REPLY_MAX);
    if (!reply)
        return -ENOMEM;
    int rc = -EIO;
    snprintf(url, sizeof url, "%.*s/latest/api/token", (int)bl, base);
    static const char *const ttl[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL };
    struct s3_http_req req = { "PUT", url, ttl, NULL, S3_IMDS_TIMEOUT_MS };
    int st = s3_http(&req, reply, 256);
    if (st < 0 && st != -EIO && st != -ENOMEM) {
        /* Nothing answers: not on EC2. */
        log_debug(S3_CRED_MOD, "IMDSv2: %s: %s", url, strerror(-st));
        s3_free_text(reply, S3_REPLY_MAX);
        return -ENOENT;
    }
    if (st == 200 && reply[0] && !strpbrk(reply, "\r\n")) {
        snprintf(tokhdr, sizeof tokhdr, "X-aws-ec2-metadata-token: %s", reply);
        snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/", (int)bl, base);
        st = s3_imds_get(url, tokhdr, reply, sizeof role);
        reply[strcspn(reply, "\r\n")] = '\0';
        if (st == 200 && reply[0] && strspn(reply, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                   "0123456789+=,.@_-") == strlen(reply)) {
            snprintf(role, sizeof role, "%.128s", reply);
            snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/%s",
                     (int)bl, base, role);
            st = s3_imds_get(url, tokhdr, reply, S3_REPLY_MAX);
            rc = st == 200 ? s3_creds_json(reply, out) : -EIO;
        }
        explicit_bzero(tokhdr, sizeof tokhdr);
    }
    if (rc == -EIO && st == 200)
        log_error(S3_CRED_MOD, "IMDSv2: %s: the reply is not what IMDS answers", url);
    else if (rc == -EIO && st > 0)
        log_error(S3_CRED_MOD, "IMDSv2: %s answered HTTP %d", url, st);
    else if (rc == -EIO)
        log_error(S3_CRED_MOD, "IMDSv2: %s: %s", url, strerror(-st));
    s3_free_text(reply, S3_REPLY_MAX);
    return rc;
}

const struct s3_cred_source s3_cred_sources[] = {
    { "environment", s3_src_env },
    { "web identity", s3_src_web_identity },
    { "shared files", s3_src_shared },
    { "container", s3_src_container },
    { "IMDSv2", s3_src_imds },
};
const int s3_cred_nsources = (int)(sizeof s3_cred_sources / sizeof *s3_cred_sources);

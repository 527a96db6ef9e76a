/* s3_cred.h - private to core/objstore/s3/s3_*.c: AWS credentials for signing.
 *
 * s3_cred.c          the chain and its cache: which source answers, the
 *                    current credentials shared by every thread of the
 *                    store, refresh ahead of expiry.
 * s3_cred_sources.c  the sources, in the AWS SDKs' order (Java v2 and
 *                    botocore): environment, web identity (STS
 *                    AssumeRoleWithWebIdentity), shared files
 *                    (~/.aws/credentials, ~/.aws/config), container
 *                    credentials (ECS / EKS Pod Identity), IMDSv2.
 * s3_cred_http.c     their HTTP exchanges, STS's XML reply, timestamps.
 * s3_json.c          the strict JSON reader for container and IMDS replies.
 * s3_ini.c           the reader of the shared files.
 *
 * Promises: a secret (secret key, session token, web identity token,
 * container authorization token) never reaches a log line, an error
 * message or a URL; secrets are wiped before their memory is freed. Same
 * conventions as objstore.h: 0 or a negative errno.
 */
#ifndef SHIMFS_S3_CRED_H
#define SHIMFS_S3_CRED_H

#include <stddef.h>
#include <stdint.h>

/* One set of credentials, shared by reference. The strings, token and gen
 * never change once published; expires and refresh_at change only under
 * the cache's lock (a server's ExpiredToken ends them early). */
struct s3_creds {
    char *access_key;
    char *secret_key;
    char *token;                /* session token, or NULL */
    int64_t expires;            /* Unix seconds; 0 = does not expire */
    /* the cache's */
    uint64_t gen;               /* which fetch made it: 1, 2, ... */
    int64_t refresh_at;         /* Unix ms: fetch anew from then on */
    int refs;
};

/* ---- the cache (s3_cred.c) ------------------------------------------------ */

struct s3_cred;

/* desc: the store, for log lines; region: for STS's default endpoint.
 * Reads nothing yet: the chain is resolved at the first s3_cred_get. */
/* share_dir: a folder of this user's alone where credentials that expire
 * are shared with the node's processes (NULL: none). */
struct s3_cred *s3_cred_create(const char *desc, const char *region, const char *share_dir);
void s3_cred_destroy(struct s3_cred *c);
/* In a forked child: a refresh another thread was running is gone. */
void s3_cred_after_fork(struct s3_cred *c);

/* Credentials to sign with now: 0 and *out (give it back with
 * s3_cred_put), 1 when no source has any (requests go unsigned), or -EIO
 * when the source failed and nothing valid is left (one log line per
 * failed fetch, naming the source). Thread-safe: while credentials are
 * still valid it never waits; when they are due for refresh one caller
 * fetches and the others go on with the old ones; only when none are
 * valid do callers wait, for at most one fetch, and a fetch never runs
 * twice at once. A failed fetch is not retried for a second. */
int s3_cred_get(struct s3_cred *c, const struct s3_creds **out);
void s3_cred_put(struct s3_cred *c, const struct s3_creds *cr);
/* The server refused the credentials of generation gen as expired: the
 * next s3_cred_get fetches anew (unless a newer set already replaced it). */
void s3_cred_expired(struct s3_cred *c, uint64_t gen);
/* Fetches so far (tests measure refresh with it). */
uint64_t s3_cred_fetches(const struct s3_cred *c);

/* ---- the sources (s3_cred_sources.c) ----------------------------------- */

struct s3_cred_source {
    const char *name;           /* for log lines: "environment", "IMDSv2", ... */
    /* 0 and *out filled; -ENOENT when this source is not configured here
     * (the chain goes on); another negative errno when it is configured
     * but failed (it has logged one line). */
    int (*fetch)(const char *region, struct s3_creds *out);
};
extern const struct s3_cred_source s3_cred_sources[];
extern const int s3_cred_nsources;

void s3_creds_wipe(struct s3_creds *cr);   /* free and zero the strings */

/* ---- sharing with the node's processes (s3_cred_share.c) ---------------- */

/* The file name (in the shared folder) of the identity the environment
 * selects for this store and region. */
void s3_cred_share_key(const char *desc, const char *region, char *out, size_t cap);
/* The lock of key's file (an fd to give to s3_cred_share_unlock), or -1
 * when it could not be had within a bound (then nothing is shared). */
int s3_cred_share_lock(const char *dir, const char *key);
void s3_cred_share_unlock(int fd);
/* Credentials another process stored (expires, refresh_at set): 0, or
 * -errno when there are none usable. */
int s3_cred_share_load(const char *dir, const char *key, struct s3_creds *out, int *source);
/* The text of a shared file parsed (buf is modified): 0 or -EINVAL. */
int s3_cred_share_parse(char *buf, struct s3_creds *out, int *source);
/* Store credentials that expire (refresh_at set) for the others. */
void s3_cred_share_store(const char *dir, const char *key, const struct s3_creds *cr, int source);

/* ---- HTTP for the sources (s3_cred_http.c) ------------------------------ */

struct s3_http_req {
    const char *method;         /* "GET", "PUT", "POST" */
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const char *body;           /* POST/PUT body or NULL */
    long timeout_ms;            /* the whole exchange */
};
/* Run one exchange; the reply body goes to out (NUL-terminated; longer
 * than cap - 1 bytes is -EIO). Returns the HTTP status, or -ECONNREFUSED,
 * -ETIMEDOUT, -EHOSTUNREACH (nothing answered), -EIO, -ENOMEM. */
int s3_http(const struct s3_http_req *r, char *out, size_t cap);

/* STS AssumeRoleWithWebIdentity reply -> *out; -EIO if it is not one.
 * On an <ErrorResponse>, its Code goes to err_code (else ""). */
int s3_sts_parse(const char *xml, size_t len, struct s3_creds *out, char *err_code, size_t cap);

/* "2026-12-06T08:00:00Z" (fraction and +00:00 allowed) -> Unix seconds,
 * -EINVAL otherwise. */
int s3_cred_parse_time(const char *s, int64_t *out);

/* ---- strict JSON (s3_json.c) ---------------------------------------------- */

struct s3_json_field {
    const char *name;           /* member of the top-level object */
    char *out;                  /* its string value, decoded */
    size_t cap;
    int found;
};
/* text must be exactly one JSON object (RFC 8259; whitespace around).
 * Wanted members must be strings that fit and hold no NUL; a wanted name
 * twice, malformed text, invalid UTF-8, nesting deeper than 32: -EIO.
 * Other members may hold any valid JSON. */
int s3_json_fields(const char *text, size_t len, struct s3_json_field *f, int n);

/* ---- the shared files' format (s3_ini.c) --------------------------------- */

/* "[section]" and "key = value" lines; '#' or ';' comment lines; lines
 * indented under a key with an empty value (nested settings such as
 * "s3 =") are skipped. cb gets trimmed section, key and value and returns
 * non-zero to stop (that value is returned). Anything else (a line with
 * no '=', a key before any section, an unclosed '[', a NUL byte, a line
 * over 4 KiB): -EINVAL with the line number in *bad_line. */
typedef int (*s3_ini_cb)(void *arg, const char *section, const char *key, const char *value);
int s3_ini_parse(const char *text, size_t len, s3_ini_cb cb, void *arg, int *bad_line);

#endif

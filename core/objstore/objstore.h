/* objstore.h - the object store: immutable named blobs in a bucket.
 *
 * Two backends behind one interface, chosen by the bucket URL:
 *   file:///dir            a directory tree with the same keys; writes go
 *                          to a temporary name and are renamed into place.
 *   http(s)://host[:port]/bucket[/prefix]   S3 over libcurl, path style;
 *                          signed with SigV4 ("aws:amz:REGION:s3").
 *   https://bucket.s3[.REGION].amazonaws.com[/prefix]   AWS's virtual-
 *                          hosted form (region taken from the host name).
 *   s3://bucket[/prefix]   endpoint from AWS_ENDPOINT_URL_S3 /
 *                          AWS_ENDPOINT_URL (path style), else AWS's
 *                          https://bucket.s3.REGION.amazonaws.com.
 * With a prefix, every key the store reads, writes and lists lives under
 * "prefix/", and obj_list's keys come back without it: two volumes on two
 * prefixes of one bucket never see each other's objects.
 * Credentials: the AWS chain of s3_cred.h (environment, web identity,
 * shared files, container, IMDSv2), region from AWS_REGION /
 * AWS_DEFAULT_REGION (default us-east-1), CA bundle from AWS_CA_BUNDLE
 * when it names a readable file (else the system store).
 * Options in the URL query: ?region=R&style=virtual|path&tls_verify=0
 * &payload=signed|unsigned (a PUT's x-amz-content-sha256: the body's SHA-256,
 * or UNSIGNED-PAYLOAD; by default unsigned over https only, as botocore).
 *
 * All functions are thread-safe and return 0 (or a length) on success and a
 * negative errno on failure: -ENOENT missing key, -EACCES/-EPERM refused
 * credentials, -EIO server error after retries, -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH, -EINVAL bad URL. A request ends by deadline_ms after it
 * first started (-ETIMEDOUT if nothing else failed first), retries and
 * backoff included; a stalled transfer (under 1 byte/s for a fifth of the
 * deadline, at least 2 s) is cut and retried within that bound.
 * Each failure after retries logs one line
 * with the operation, key, HTTP status and S3 error code (never credentials).
 */
#ifndef SHIMFS_OBJSTORE_H
#define SHIMFS_OBJSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct obj_store;

struct obj_options {
    int max_retries;      /* default 6 */
    int timeout_ms;       /* per attempt, default 30000 */
    int connect_timeout_ms; /* default 5000 */
    int deadline_ms;      /* per request, every attempt and backoff included
                             (SHIMFS_S3_TIMEOUT), default 60000 */
    int max_parallel;     /* default 32: connections for obj_batch */
    int payload;          /* OBJ_PAYLOAD_*: a PUT's body signed or not
                             (SHIMFS_S3_PAYLOAD); 0: as the URL says */
    const char *cred_dir; /* a folder of this user's alone (the cache folder) where
                             temporary credentials are shared by the node's
                             processes; NULL: not shared. Must outlive the store. */
};

/* Parsed bucket URL (exposed for tests and `shimfs status`). */
struct obj_url {
    int scheme;           /* OBJ_FILE, OBJ_HTTP, OBJ_HTTPS */
    char host[256];       /* host[:port] as given */
    char bucket[256];
    char path[4096];      /* file:// directory */
    char region[64];
    char prefix[512];     /* "" or "a/b/": every key lives under it */
    int virtual_host;     /* 1: bucket.host style */
    int tls_verify;
    int sign_payload; /* 1: PUT bodies hashed into the signature (?payload=) */
};
enum { OBJ_FILE = 1, OBJ_HTTP = 2, OBJ_HTTPS = 3 };
enum { OBJ_PAYLOAD_URL = 0, OBJ_PAYLOAD_SIGNED = 1, OBJ_PAYLOAD_UNSIGNED = 2 };
int obj_parse_url(const char *url, struct obj_url *out);

/* Open a store. opts may be NULL for defaults. Never connects here. */
int obj_open(const char *url, const struct obj_options *opts, struct obj_store **out);
void obj_close(struct obj_store *st);
/* Drop connections inherited over fork without touching the parent's
 * sockets' shared state; call in the child before any other use. */
void obj_after_fork(struct obj_store *st);

/* GET bytes [off, off+len) of key into buf (len == 0: whole object, buf of
 * cap bytes). Returns the number of bytes read (short at end of object). */
ssize_t obj_get(struct obj_store *st, const char *key, uint64_t off, size_t len,
                void *buf, size_t cap);
int obj_put(struct obj_store *st, const char *key, const void *data, size_t len);
/* Size of an object, -ENOENT when missing. */
int obj_head(struct obj_store *st, const char *key, uint64_t *size);
/* Deleting a missing key succeeds (S3 semantics). */
int obj_delete(struct obj_store *st, const char *key);

/* List keys under prefix in lexical order, following continuation tokens.
 * cb returns 0 to go on, non-zero to stop (that value is returned). */
typedef int (*obj_list_cb)(void *arg, const char *key, uint64_t size);
int obj_list(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg);

/* Many requests at once over parallel connections (curl multi for S3,
 * threads for file://). Each request's `result` gets the bytes moved or a
 * negative errno; the call returns 0 if all succeeded, else the first error. */
enum obj_op { OBJ_GET = 1, OBJ_PUT = 2, OBJ_DELETE = 3 };
struct obj_request {
    int op;
    const char *key;
    void *buf;            /* GET: destination (cap bytes); PUT: data */
    size_t len;           /* GET: bytes wanted (0 = whole); PUT: data length */
    size_t cap;           /* GET: buffer capacity */
    uint64_t off;         /* GET: first byte */
    ssize_t result;
};
int obj_batch(struct obj_store *st, struct obj_request *reqs, int n);

/* Description for logs and `shimfs status` (scheme://host/bucket, no secrets). */
const char *obj_describe(const struct obj_store *st);

#endif

/* s3_internal.h - private header of the object-store module
 * (core/objstore*.c and core/s3_*.c); nothing outside it includes this,
 * except the module's own tests and tools.
 *
 * Owns: the store handle shared by both backends, the backend table, and
 * the S3 pieces that are tested on their own (SigV4 encoding, XML replies,
 * error mapping). Same conventions as objstore.h: 0 or a negative errno.
 */
#ifndef SHIMFS_S3_INTERNAL_H
#define SHIMFS_S3_INTERNAL_H

#include "objstore.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the store and its backends (objstore.c dispatches) ---------------- */

/* The table of a backend; S3's is the one symbol libshimfs-s3.so exports
 * (backend_lazy.h). `size` is sizeof(struct obj_backend).
 * A backend sees only what objstore.c let through (and asserts it): a
 * store, a key that passed obj_check_key, a non-NULL prefix and callback,
 * buffers that match their lengths, and ops of enum obj_op. */
struct obj_backend {
    size_t size;
    int (*open)(struct obj_store *st);
    void (*close)(struct obj_store *st);
    void (*after_fork)(struct obj_store *st);
    ssize_t (*get)(struct obj_store *st, const char *key, uint64_t off,
                   size_t len, void *buf, size_t cap);
    int (*put)(struct obj_store *st, const char *key, const void *data, size_t len);
    int (*head)(struct obj_store *st, const char *key, uint64_t *size);
    int (*del)(struct obj_store *st, const char *key);
    int (*list)(struct obj_store *st, const char *prefix, obj_list_cb cb, void *arg);
    /* Runs every request whose result is 0 on entry (the others were
     * refused by obj_batch) and sets its result. */
    void (*batch)(struct obj_store *st, struct obj_request *reqs, int n);
};

struct obj_store {
    const struct obj_backend *be; /* atomic; S3: NULL until the first request */
    struct obj_url url;
    struct obj_options opt;
    char desc[600];
    void *priv;                 /* the backend's own state */
};

extern const struct obj_backend obj_file_backend;
extern const struct obj_backend s3_backend;

/* The store's backend, opened with it if this is the store's first
 * request (S3); NULL with *rc (-EIO: the backend cannot be loaded) when it
 * cannot be. */
const struct obj_backend *obj_backend_of(struct obj_store *st, int *rc);

/* Run fn(arg, i) for every i in [0, n) on at most nthreads threads (fewer
 * if threads cannot be made; the caller's thread always takes part).
 * fn is non-NULL and n >= 0 (asserted). */
void obj_pool_run(int n, int nthreads, void (*fn)(void *arg, int i), void *arg);

/* "scheme://host/bucket" or "file:///dir": never credentials. */
void obj_url_describe(const struct obj_url *u, char *out, size_t cap);

/* Validate arguments shared by both backends. */
int obj_check_key(const char *key);

/* ---- SigV4 encoding (s3_encode.c) --------------------------------------- */

/* Percent-encode in[0..n) the SigV4 way: A-Z a-z 0-9 - _ . ~ kept, '/'
 * kept only when keep_slash, every other byte %XX (upper-case hex).
 * Returns the length written (NUL-terminated) or -ENAMETOOLONG. */
int s3_uri_encode(const char *in, size_t n, int keep_slash, char *out, size_t cap);

struct s3_qparam {
    const char *name;
    const char *value;          /* "" for a bare name=; never NULL */
};
/* Build "a=1&b=2": every name and value encoded, sorted by encoded name
 * then value, because libcurl 7.88 signs the query string as given.
 * Returns the length or -ENAMETOOLONG / -ENOMEM. */
int s3_query_build(const struct s3_qparam *params, int n, char *out, size_t cap);

/* Lower-case hex SHA-256 of data (the x-amz-content-sha256 value). */
void s3_sha256_hex(const void *data, size_t len, char out[65]);
#define S3_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- S3 XML replies (s3_xml.c, libexpat) -------------------------------- */

struct s3_list_entry {
    char *key;
    uint64_t size;
};
struct s3_list_page {
    struct s3_list_entry *entries;
    int n, cap;
    int truncated;              /* IsTruncated was "true" */
    char *next_token;           /* NextContinuationToken, or NULL */
};
/* Parse one ListObjectsV2 page into *page (zeroed first). -EIO on text
 * that is not a well-formed ListBucketResult, -ENOMEM. */
int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_page *page);
void s3_list_page_free(struct s3_list_page *page);

struct s3_error_body {
    char code[64];              /* e.g. "NoSuchKey"; "" when absent */
    char message[256];
};
/* Parse an <Error> body; -EIO if it is not one (err is then empty). */
int s3_xml_parse_error(const char *xml, size_t len, struct s3_error_body *err);

/* ---- outcome of a request -> errno (s3_errors.c) ------------------------ */

/* curl_code: the transfer's CURLcode; os_errno: CURLINFO_OS_ERRNO; status:
 * the HTTP status (0 if none); s3_code: <Code> of the error body or "". */
int s3_errno(int curl_code, long os_errno, long status, const char *s3_code);

/* ---- test and tool hooks (s3_store.c) ----------------------------------- */

/* GET the bucket with a query string sent exactly as given (no sorting, no
 * encoding): only for the SigV4 proof, which must show that an unsorted
 * query is signed wrongly. Returns the body length or a negative errno. */
ssize_t s3_debug_get_raw_query(struct obj_store *st, const char *raw_query,
                               void *buf, size_t cap);
/* TCP connections opened so far (connection reuse is measurable). */
uint64_t s3_debug_connections_opened(const struct obj_store *st);
/* Credential fetches so far (refresh ahead of expiry is measurable). */
uint64_t s3_debug_cred_fetches(const struct obj_store *st);

#endif

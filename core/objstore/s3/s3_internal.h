/* s3_internal.h - private header of the S3 backend (core/objstore/s3/);
 * nothing outside it includes this, except its own tests and tools.
 *
 * Owns: the S3 pieces that are tested on their own (SigV4 encoding, XML
 * replies, error mapping) and the backend's test hooks. The store and the
 * backend table are the object-store module's (objstore_internal.h). Same
 * conventions as objstore.h: 0 or a negative errno.
 */
#ifndef SHIMFS_S3_INTERNAL_H
#define SHIMFS_S3_INTERNAL_H

#include "objstore_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

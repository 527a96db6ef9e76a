/* s3_errors.c - what a failed S3 request means, as a negative errno.
 *
 * Promises (objstore.h): -ENOENT for a missing key or bucket, -EACCES for
 * refused credentials, -EIO for server errors, -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH for the network. The S3 error code wins over the bare HTTP
 * status because it is more precise (a 404 can be NoSuchKey or
 * NoSuchBucket; a 403 can be a bad clock or a bad key). Everything else,
 * resets and TLS failures included, is -EIO: these errnos reach programs
 * through read(2), where EAGAIN or ECONNRESET would be misunderstood; the
 * log line says what really happened.
 */
#include "s3_internal.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

static const struct { const char *code; int err; } s3_code_errno[] = {
    { "NoSuchKey", -ENOENT },
    { "NoSuchBucket", -ENOENT },
    { "AccessDenied", -EACCES },
    { "InvalidAccessKeyId", -EACCES },
    { "SignatureDoesNotMatch", -EACCES },
    { "ExpiredToken", -EACCES },
    { "InvalidToken", -EACCES },
    { "RequestTimeTooSkewed", -EACCES },
    { "AllAccessDisabled", -EACCES },
    { "KeyTooLongError", -ENAMETOOLONG },
    { "EntityTooLarge", -EFBIG },
    { "RequestTimeout", -ETIMEDOUT },
};

static const struct { long lo, hi; int err; } s3_status_errno[] = {
    { 401, 401, -EACCES },
    { 403, 403, -EACCES },
    { 404, 404, -ENOENT },
    { 408, 408, -ETIMEDOUT },
    { 500, 599, -EIO },
};

static const struct { int curl; int err; } s3_curl_errno[] = {
    { CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT },
    { CURLE_COULDNT_CONNECT, -ECONNREFUSED },
    { CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH },
    { CURLE_COULDNT_RESOLVE_PROXY, -EHOSTUNREACH },
    { CURLE_URL_MALFORMAT, -EINVAL },
    { CURLE_OUT_OF_MEMORY, -ENOMEM },
};

/* A refused connect reports ECONNREFUSED in the OS errno, but the same
 * CURLcode also covers an unreachable host or network: trust the OS. */
static int s3_connect_errno(long os_errno)
{
    if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
        return -EHOSTUNREACH;
    if (os_errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return -ECONNREFUSED;
}

int s3_errno(int curl_code, long os_errno, long status, const char *s3_code)
{
    if (curl_code == CURLE_COULDNT_CONNECT)
        return s3_connect_errno(os_errno);
    if (curl_code != CURLE_OK) {
        for (size_t i = 0; i < sizeof s3_curl_errno / sizeof *s3_curl_errno; i++)
            if (s3_curl_errno[i].curl == curl_code)
                return s3_curl_errno[i].err;
        return -EIO;
    }
    if (status >= 200 && status <= 299)
        return 0;
    for (size_t i = 0; s3_code && i < sizeof s3_code_errno / sizeof *s3_code_errno; i++)
        if (strcmp(s3_code_errno[i].code, s3_code) == 0)
            return s3_code_errno[i].err;
    for (size_t i = 0; i < sizeof s3_status_errno / sizeof *s3_status_errno; i++)
        if (status >= s3_status_errno[i].lo && status <= s3_status_errno[i].hi)
            return s3_status_errno[i].err;
    return -EIO;
}

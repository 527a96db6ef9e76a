/* fuzz_s3_xml.c - libFuzzer target: the S3 server's XML replies
 * (core/objstore/s3/s3_xml.c), a ListObjectsV2 page or an error body, as any server
 * (or anything in between) may send them, and STS's
 * AssumeRoleWithWebIdentity reply (core/objstore/s3/s3_cred_http.c). The first byte
 * picks the parser.
 * Promises checked: no memory error, and a parsed page's entries are
 * NUL-terminated keys within the entry count. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "s3_internal.h"
#include "s3_cred.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 2) {
        struct s3_creds cr;
        char code[64];
        if (s3_sts_parse(xml, len, &cr, code, sizeof code) == 0) {
            assert(cr.access_key && *cr.access_key && cr.secret_key && *cr.secret_key);
            assert(cr.expires != 0);
            s3_creds_wipe(&cr);
        }
        assert(memchr(code, 0, sizeof code));
    } else if (data[0] & 1) {
        struct s3_error_body err;
        if (s3_xml_parse_error(xml, len, &err) == 0) {
            assert(memchr(err.code, 0, sizeof err.code));
            assert(memchr(err.message, 0, sizeof err.message));
        }
    } else {
        struct s3_list_page page;
        memset(&page, 0, sizeof page);
        if (s3_xml_parse_list(xml, len, &page) == 0) {
            assert(page.n >= 0 && page.n <= page.cap);
            for (int i = 0; i < page.n; i++)
                assert(page.entries[i].key && strlen(page.entries[i].key) < len + 1);
        }
        s3_list_page_free(&page);
    }
    return 0;
}

/* test_s3_xml.c - S3's XML replies (core/objstore/s3/s3_xml.c) and what an error
 * reply means as an errno (core/objstore/s3/s3_errors.c). */
#include "s3_internal.h"

#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static int parse_list(const char *xml, struct s3_list_page *p)
{
    return s3_xml_parse_list(xml, strlen(xml), p);
}

START_TEST(list_page)
{
    struct s3_list_page p;
    const char *xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult " NS "><Name>b</Name><Prefix>v/</Prefix><KeyCount>3</KeyCount>"
        "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        "<Contents><Key>v/a b&amp;c</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
        "<ETag>&quot;x&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Size>5368709120</Size><Owner><ID>o</ID><Key>not-a-key</Key></Owner>"
        "<Key>v/na\xc3\xafve</Key></Contents>"
        "<Contents>\n  <Key>v/&#x1F600;</Key>\n  <Size>0</Size>\n</Contents>"
        "</ListBucketResult>";
    ck_assert_int_eq(parse_list(xml, &p), 0);
    ck_assert_int_eq(p.n, 3);
    ck_assert_int_eq(p.truncated, 0);
    ck_assert_ptr_null(p.next_token);
    ck_assert_str_eq(p.entries[0].key, "v/a b&c");
    ck_assert_uint_eq(p.entries[0].size, 5);
    ck_assert_str_eq(p.entries[1].key, "v/na\xc3\xafve");
    ck_assert_uint_eq(p.entries[1].size, 5368709120ull);
    ck_assert_str_eq(p.entries[2].key, "v/\xf0\x9f\x98\x80");
    ck_assert_uint_eq(p.entries[2].size, 0);
    s3_list_page_free(&p);
    ck_assert_int_eq(p.n, 0);
}
END_TEST

START_TEST(truncated_page)
{
    struct s3_list_page p;
    const char *xml =
        "<ListBucketResult " NS "><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
        "<Contents><Key>k1</Key><Size>1</Size></Contents></ListBucketResult>";
    ck_assert_int_eq(parse_list(xml, &p), 0);
    ck_assert_int_eq(p.truncated, 1);
    ck_assert_str_eq(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    ck_assert_int_eq(p.n, 1);
    s3_list_page_free(&p);
}
END_TEST

START_TEST(empty_listing_and_prefixes)
{
    struct s3_list_page p;
    ck_assert_int_eq(parse_list("<ListBucketResult><KeyCount>0</KeyCount>"
                                "<IsTruncated>false</IsTruncated></ListBucketResult>", &p), 0);
    ck_assert_int_eq(p.n, 0);
    s3_list_page_free(&p);
    /* CommonPrefixes (delimiter listings) are not keys. */
    ck_assert_int_eq(parse_list("<ListBucketResult><CommonPrefixes><Prefix>a/</Prefix>"
                                "</CommonPrefixes><Contents><Key>b</Key><Size>2</Size></Contents>"
                                "</ListBucketResult>", &p), 0);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(p.entries[0].key, "b");
    s3_list_page_free(&p);
}
END_TEST

static const char *const garbage[] = {
    "",
    "not xml at all",
    "<html><body><h1>503 Service Unavailable</h1></body></html>",
    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>",       /* cut short */
    "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",  /* no Size */
    "<ListBucketResult><Contents><Size>3</Size></Contents></ListBucketResult>",/* no Key */
    "<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size></Size></Contents></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size>99999999999999999999999</Size></Contents></ListBucketResult>",
    "<Error><Code>NoSuchBucket</Code></Error>",                                /* wrong root */
    "<ListBucketResult><a><b><c><d><e><f><g><h><i><j><k><l><m><n><o><p><q><r><s><t><u><v><w>"
    "<x><y><z><A><B><C><D><E><F><G></G></F></E></D></C></B></A></z></y></x></w></v></u></t></s>"
    "</r></q></p></o></n></m></l></k></j></i></h></g></f></e></d></c></b></a></ListBucketResult>",
    "<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult><x/>",
};

START_TEST(garbage_is_eio)
{
    struct s3_list_page p;
    ck_assert_msg(parse_list(garbage[_i], &p) == -EIO, "accepted: %s", garbage[_i]);
    ck_assert_int_eq(p.n, 0);
    ck_assert_ptr_null(p.entries);
}
END_TEST

START_TEST(error_body)
{
    struct s3_error_body e;
    const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                      "<Message>The specified key does not exist.</Message><Key>a/b</Key>"
                      "<RequestId>4442587FB7D0A2F9</RequestId></Error>";
    ck_assert_int_eq(s3_xml_parse_error(xml, strlen(xml), &e), 0);
    ck_assert_str_eq(e.code, "NoSuchKey");
    ck_assert_str_eq(e.message, "The specified key does not exist.");
    const char *ns = "<Error " NS "><Message>m</Message><Code>SlowDown</Code></Error>";
    ck_assert_int_eq(s3_xml_parse_error(ns, strlen(ns), &e), 0);
    ck_assert_str_eq(e.code, "SlowDown");
    /* An over-long code is cut, never overflows. */
    char big[600] = "<Error><Code>";
    memset(big + 13, 'X', 400);
    strcpy(big + 413, "</Code></Error>");
    ck_assert_int_eq(s3_xml_parse_error(big, strlen(big), &e), 0);
    ck_assert_uint_eq(strlen(e.code), sizeof e.code - 1);
}
END_TEST

START_TEST(error_garbage)
{
    struct s3_error_body e;
    static const char *const bad[] = { "", "<html>503</html>", "<Error><Code>X</Code>",
                                       "<ListBucketResult></ListBucketResult>" };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(s3_xml_parse_error(bad[i], strlen(bad[i]), &e), -EIO);
        ck_assert_str_eq(e.code, "");
    }
}
END_TEST

START_TEST(errors_to_errno)
{
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 200, ""), 0);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 404, "NoSuchKey"), -ENOENT);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 404, "NoSuchBucket"), -ENOENT);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 404, ""), -ENOENT);         /* HEAD has no body */
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 403, "AccessDenied"), -EACCES);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 403, "SignatureDoesNotMatch"), -EACCES);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 403, ""), -EACCES);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 500, "InternalError"), -EIO);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 503, "SlowDown"), -EIO);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 429, ""), -EIO);
    ck_assert_int_eq(s3_errno(CURLE_OK, 0, 400, "InvalidArgument"), -EIO);
    ck_assert_int_eq(s3_errno(CURLE_OPERATION_TIMEDOUT, 0, 0, ""), -ETIMEDOUT);
    ck_assert_int_eq(s3_errno(CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, ""), -ECONNREFUSED);
    ck_assert_int_eq(s3_errno(CURLE_COULDNT_CONNECT, EHOSTUNREACH, 0, ""), -EHOSTUNREACH);
    ck_assert_int_eq(s3_errno(CURLE_COULDNT_RESOLVE_HOST, 0, 0, ""), -EHOSTUNREACH);
    ck_assert_int_eq(s3_errno(CURLE_RECV_ERROR, ECONNRESET, 0, ""), -EIO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s3_xml");
    TCase *tc = tcase_create("replies");
    tcase_add_test(tc, list_page);
    tcase_add_test(tc, truncated_page);
    tcase_add_test(tc, empty_listing_and_prefixes);
    tcase_add_loop_test(tc, garbage_is_eio, 0, (int)(sizeof garbage / sizeof *garbage));
    tcase_add_test(tc, error_body);
    tcase_add_test(tc, error_garbage);
    tcase_add_test(tc, errors_to_errno);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

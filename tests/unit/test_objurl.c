/* test_objurl.c - bucket URLs (obj_parse_url, obj_describe) and the
 * SigV4 encoding of object paths and query strings (core/objstore/s3/s3_encode.c). */
#include "objstore.h"
#include "s3_internal.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void no_region_env(void)
{
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
}

START_TEST(file_urls)
{
    struct obj_url u;
    ck_assert_int_eq(obj_parse_url("file:///var/tmp/bucket", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_FILE);
    ck_assert_str_eq(u.path, "/var/tmp/bucket");
    ck_assert_int_eq(obj_parse_url("file:///var/tmp/bucket//", &u), 0);
    ck_assert_str_eq(u.path, "/var/tmp/bucket");
    ck_assert_int_eq(obj_parse_url("file://localhost/data", &u), 0);
    ck_assert_str_eq(u.path, "/data");
    ck_assert_int_eq(obj_parse_url("FILE:///", &u), 0);
    ck_assert_str_eq(u.path, "/");
}
END_TEST

START_TEST(http_urls)
{
    struct obj_url u;
    no_region_env();
    ck_assert_int_eq(obj_parse_url("http://127.0.0.1:4599/shimfs-test", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTP);
    ck_assert_str_eq(u.host, "127.0.0.1:4599");
    ck_assert_str_eq(u.bucket, "shimfs-test");
    ck_assert_str_eq(u.region, "us-east-1");
    ck_assert_int_eq(u.virtual_host, 0);
    ck_assert_int_eq(u.tls_verify, 1);
    ck_assert_int_eq(u.sign_payload, 1); /* plain http: bodies signed */

    ck_assert_int_eq(obj_parse_url("https://s3.eu-west-3.amazonaws.com/my.bucket/"
                                   "?region=eu-west-3&style=virtual&tls_verify=0", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTPS);
    ck_assert_str_eq(u.host, "s3.eu-west-3.amazonaws.com");
    ck_assert_str_eq(u.bucket, "my.bucket");
    ck_assert_str_eq(u.region, "eu-west-3");
    ck_assert_int_eq(u.virtual_host, 1);
    ck_assert_int_eq(u.tls_verify, 0);
    ck_assert_int_eq(u.sign_payload, 0); /* https: TLS guards them */

    ck_assert_int_eq(obj_parse_url("http://[::1]:9000/b_1?style=path&tls_verify=1", &u), 0);
    ck_assert_str_eq(u.host, "[::1]:9000");
    ck_assert_str_eq(u.bucket, "b_1");
}
END_TEST

/* ?payload= overrides the scheme's default either way; s3:// follows the
 * endpoint it ends up at. */
START_TEST(payload_signing)
{
    struct obj_url u;
    no_region_env();
    ck_assert_int_eq(obj_parse_url("http://h/b?payload=unsigned", &u), 0);
    ck_assert_int_eq(u.sign_payload, 0);
    ck_assert_int_eq(obj_parse_url("https://h/b?style=path&payload=signed", &u), 0);
    ck_assert_int_eq(u.sign_payload, 1);
    ck_assert_int_eq(obj_parse_url("https://h/b/team?payload=unsigned", &u), 0);
    ck_assert_int_eq(u.sign_payload, 0);
    ck_assert_str_eq(u.prefix, "team/");
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL");
    ck_assert_int_eq(obj_parse_url("s3://b/p", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTPS);
    ck_assert_int_eq(u.sign_payload, 0);
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000", 1);
    ck_assert_int_eq(obj_parse_url("s3://b/p", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTP);
    ck_assert_int_eq(u.sign_payload, 1);
    ck_assert_int_eq(obj_parse_url("s3://b/p?payload=unsigned", &u), 0);
    ck_assert_int_eq(u.sign_payload, 0);
    unsetenv("AWS_ENDPOINT_URL_S3");
}
END_TEST

START_TEST(region_from_environment)
{
    struct obj_url u;
    no_region_env();
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    ck_assert_int_eq(obj_parse_url("http://h/b", &u), 0);
    ck_assert_str_eq(u.region, "ap-south-1");
    setenv("AWS_REGION", "eu-north-1", 1);
    ck_assert_int_eq(obj_parse_url("http://h/b", &u), 0);
    ck_assert_str_eq(u.region, "eu-north-1");
    ck_assert_int_eq(obj_parse_url("http://h/b?region=us-west-2", &u), 0);
    ck_assert_str_eq(u.region, "us-west-2");
    setenv("AWS_REGION", "eu north/1", 1);
    ck_assert_int_eq(obj_parse_url("http://h/b", &u), -EINVAL);
    no_region_env();
}
END_TEST

static void no_endpoint_env(void)
{
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_S3");
}

START_TEST(key_prefixes)
{
    struct obj_url u;
    no_region_env();
    ck_assert_int_eq(obj_parse_url("http://127.0.0.1:9000/bkt/team/vol1", &u), 0);
    ck_assert_str_eq(u.bucket, "bkt");
    ck_assert_str_eq(u.prefix, "team/vol1/");
    ck_assert_int_eq(obj_parse_url("http://h/bkt/team/vol1/?region=eu-west-1", &u), 0);
    ck_assert_str_eq(u.prefix, "team/vol1/");
    ck_assert_str_eq(u.region, "eu-west-1");
    ck_assert_int_eq(obj_parse_url("http://h/bkt/", &u), 0);
    ck_assert_str_eq(u.prefix, "");
    ck_assert_int_eq(obj_parse_url("http://h/bkt/a.b-c_d!e*f'g(h)/x", &u), 0);
    ck_assert_str_eq(u.prefix, "a.b-c_d!e*f'g(h)/x/");
    char d[600];
    obj_url_describe(&u, d, sizeof d);
    ck_assert_str_eq(d, "http://h/bkt/a.b-c_d!e*f'g(h)/x");
}
END_TEST

START_TEST(aws_virtual_hosted)
{
    struct obj_url u;
    no_region_env();
    ck_assert_int_eq(obj_parse_url("https://my-bkt.s3.eu-west-3.amazonaws.com/jobs/7", &u), 0);
    ck_assert_str_eq(u.host, "s3.eu-west-3.amazonaws.com");
    ck_assert_str_eq(u.bucket, "my-bkt");
    ck_assert_str_eq(u.prefix, "jobs/7/");
    ck_assert_str_eq(u.region, "eu-west-3");
    ck_assert_int_eq(u.virtual_host, 1);
    /* a bucket with dots: the last ".s3." splits */
    ck_assert_int_eq(obj_parse_url("https://a.s3.b.s3.amazonaws.com", &u), 0);
    ck_assert_str_eq(u.bucket, "a.s3.b");
    ck_assert_str_eq(u.host, "s3.amazonaws.com");
    ck_assert_str_eq(u.region, "us-east-1");
    ck_assert_int_eq(obj_parse_url("https://b.s3-us-west-2.amazonaws.com/p?style=path", &u), 0);
    ck_assert_str_eq(u.region, "us-west-2");
    ck_assert_int_eq(u.virtual_host, 0);
    ck_assert_str_eq(u.bucket, "b");
    /* the explicit region wins over the host's */
    ck_assert_int_eq(obj_parse_url("https://b.s3.eu-west-3.amazonaws.com/?region=us-east-2", &u), 0);
    ck_assert_str_eq(u.region, "us-east-2");
    /* path style on AWS: the first segment is the bucket */
    ck_assert_int_eq(obj_parse_url("https://s3.eu-west-3.amazonaws.com/bkt/p/q", &u), 0);
    ck_assert_str_eq(u.bucket, "bkt");
    ck_assert_str_eq(u.prefix, "p/q/");
    ck_assert_int_eq(u.virtual_host, 0);
    /* other hosts: virtual style only when asked */
    ck_assert_int_eq(obj_parse_url("http://minio.local:9000/bkt/p?style=virtual", &u), 0);
    ck_assert_str_eq(u.host, "minio.local:9000");
    ck_assert_int_eq(u.virtual_host, 1);
}
END_TEST

START_TEST(s3_scheme)
{
    struct obj_url u;
    no_region_env();
    no_endpoint_env();
    ck_assert_int_eq(obj_parse_url("s3://bkt/team/a", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTPS);
    ck_assert_str_eq(u.host, "s3.us-east-1.amazonaws.com");
    ck_assert_str_eq(u.bucket, "bkt");
    ck_assert_str_eq(u.prefix, "team/a/");
    ck_assert_int_eq(u.virtual_host, 1);
    setenv("AWS_REGION", "ap-southeast-2", 1);
    ck_assert_int_eq(obj_parse_url("s3://my.bkt", &u), 0);
    ck_assert_str_eq(u.host, "s3.ap-southeast-2.amazonaws.com");
    ck_assert_int_eq(u.virtual_host, 0);            /* dots: path style */
    ck_assert_str_eq(u.prefix, "");
    ck_assert_int_eq(obj_parse_url("s3://bkt/p?style=path&region=eu-west-1", &u), 0);
    ck_assert_str_eq(u.host, "s3.eu-west-1.amazonaws.com");
    ck_assert_int_eq(u.virtual_host, 0);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    ck_assert_int_eq(obj_parse_url("s3://bkt/p", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTP);
    ck_assert_str_eq(u.host, "127.0.0.1:9000");
    ck_assert_int_eq(u.virtual_host, 0);            /* custom endpoint: path style */
    setenv("AWS_ENDPOINT_URL_S3", "https://acct.r2.cloudflarestorage.com/", 1);
    ck_assert_int_eq(obj_parse_url("s3://bkt/p?style=virtual", &u), 0);
    ck_assert_int_eq(u.scheme, OBJ_HTTPS);
    ck_assert_str_eq(u.host, "acct.r2.cloudflarestorage.com");
    ck_assert_int_eq(u.virtual_host, 1);
    setenv("AWS_ENDPOINT_URL_S3", "https://h/some/path", 1);
    ck_assert_int_eq(obj_parse_url("s3://bkt/p", &u), -EINVAL);
    setenv("AWS_ENDPOINT_URL_S3", "ftp://h", 1);
    ck_assert_int_eq(obj_parse_url("s3://bkt/p", &u), -EINVAL);
    no_endpoint_env();
    no_region_env();
}
END_TEST

static const char *const bad_urls[] = {
    "", "bucket", "ftp://h/b", "s3://", "s3:///p", "s3://b#f", "s3://b/a//c",
    "s3://b/../x", "s3://b?style=diagonal", "s3://bad bucket/p", "file://relative/dir", "file:///a?x=1", "file:///a#f",
    "file://otherhost/dir", "http://", "http://h", "http://h/", "http:///b", "http://h?region=x",
    "http://user:secret@h/b", "http://AKIA@h/b", "http://h:0/b", "http://h:65536/b",
    "http://h:99999999/b", "http://h:ab/b", "http://h:/b", "http://h/b/a//k", "http://h/b/./k",
    "http://h/b/k/../x", "http://h/b/k%2F", "http://h/b/k#f", "http://h/b/k y",
    "https://Bad_B.s3.eu-west-1.amazonaws.com/p",
    "http://h/b#frag", "http://h/b?style=sideways", "http://h/b?tls_verify=2",
    "http://h/b?tls_verify=", "http://h/b?payload=", "http://h/b?payload=yes", "http://h/b?payload=Signed",
    "http://h/b?unknown=1", "http://h/b?region=", "http://h/b?region",
    "http://h/b?region=eu%20west", "http://ho st/b", "http://h/bu cket", "http://h/b%20",
    "http://h/Bad_Bucket?style=virtual", "http://[::1]:9000/b?style=virtual", "http://[::1/b",
    "http://[::1]x/b",
};

START_TEST(bad_urls_are_einval)
{
    struct obj_url u;
    const char *url = bad_urls[_i];
    memset(&u, 0x5a, sizeof u);
    ck_assert_msg(obj_parse_url(url, &u) == -EINVAL, "accepted \"%s\"", url);
    ck_assert_int_eq(u.scheme, 0);      /* nothing half-filled */
    ck_assert_int_eq(obj_parse_url(NULL, &u), -EINVAL);
}
END_TEST

START_TEST(describe_never_shows_credentials)
{
    struct obj_store *st;
    setenv("AWS_ACCESS_KEY_ID", "AKIDSECRETIDENTITY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "VerySecretKeyMaterial", 1);
    setenv("AWS_SESSION_TOKEN", "SessionTokenMaterial", 1);
    /* Port 1 on loopback: obj_open must not connect anywhere. */
    ck_assert_int_eq(obj_open("http://127.0.0.1:1/bkt?region=eu-west-1", NULL, &st), 0);
    const char *d = obj_describe(st);
    ck_assert_str_eq(d, "http://127.0.0.1:1/bkt");
    ck_assert_ptr_null(strstr(d, "AKID"));
    ck_assert_ptr_null(strstr(d, "Secret"));
    obj_close(st);
    char dir[] = "/tmp/shimfs-objurl.XXXXXX", url[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(url, sizeof url, "file://%s", dir);
    ck_assert_int_eq(obj_open(url, NULL, &st), 0);
    ck_assert_str_eq(obj_describe(st), url);
    obj_close(st);
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(obj_open("http://u:p@h/b", NULL, &st), -EINVAL);
    ck_assert_ptr_null(st);
}
END_TEST

/* ---- SigV4 encoding ------------------------------------------------------ */

START_TEST(uri_encode_keeps_only_unreserved)
{
    char out[256];
    ck_assert_int_eq(s3_uri_encode("AZaz09-_.~", 10, 0, out, sizeof out), 10);
    ck_assert_str_eq(out, "AZaz09-_.~");
    const char *key = "dir one/na\xc3\xafve \xc3\xa9.bin";
    s3_uri_encode(key, strlen(key), 1, out, sizeof out);
    ck_assert_str_eq(out, "dir%20one/na%C3%AFve%20%C3%A9.bin");
    s3_uri_encode(key, strlen(key), 0, out, sizeof out);
    ck_assert_str_eq(out, "dir%20one%2Fna%C3%AFve%20%C3%A9.bin");
    const char *reserved = "!*'()+=&?#%:;@,$[] \"<>^`{|}\\";
    s3_uri_encode(reserved, strlen(reserved), 1, out, sizeof out);
    ck_assert_str_eq(out, "%21%2A%27%28%29%2B%3D%26%3F%23%25%3A%3B%40%2C%24%5B%5D%20%22%3C%3E%5E%60%7B%7C%7D%5C");
    ck_assert_int_eq(s3_uri_encode("a\x01\x7f", 3, 1, out, sizeof out), 7);
    ck_assert_str_eq(out, "a%01%7F");
}
END_TEST

START_TEST(uri_encode_respects_capacity)
{
    char out[8];
    ck_assert_int_eq(s3_uri_encode("abcdefg", 7, 1, out, 8), 7);     /* exact fit */
    ck_assert_int_eq(s3_uri_encode("abcdefgh", 8, 1, out, 8), -ENAMETOOLONG);
    ck_assert_int_eq(s3_uri_encode("abcde f", 7, 1, out, 8), -ENAMETOOLONG);
    ck_assert_int_eq(s3_uri_encode("", 0, 1, out, 1), 0);
    ck_assert_int_eq(s3_uri_encode("", 0, 1, out, 0), -ENAMETOOLONG);
}
END_TEST

START_TEST(query_sorted_and_encoded)
{
    char out[512];
    /* The order ListObjectsV2 is usually written in, which 7.88 would sign
     * as is: we must emit it sorted. */
    struct s3_qparam q[] = {
        { "list-type", "2" }, { "prefix", "vol/chunks/a b" },
        { "continuation-token", "1/x+y=z&\xc3\xa9" }, { "max-keys", "1000" },
    };
    ck_assert_int_gt(s3_query_build(q, 4, out, sizeof out), 0);
    ck_assert_str_eq(out, "continuation-token=1%2Fx%2By%3Dz%26%C3%A9&list-type=2&max-keys=1000"
                          "&prefix=vol%2Fchunks%2Fa%20b");
}
END_TEST

START_TEST(query_sorted_by_encoded_name_then_value)
{
    char out[256];
    /* Raw, "az" < "a\xc3\xa9"; encoded, "a%C3%A9" < "az": SigV4 sorts the
     * encoded form. Equal names sort by value. */
    struct s3_qparam q[] = { { "az", "2" }, { "a\xc3\xa9", "1" }, { "b", "2" }, { "b", "1" }, { "a", "" } };
    ck_assert_int_gt(s3_query_build(q, 5, out, sizeof out), 0);
    ck_assert_str_eq(out, "a=&a%C3%A9=1&az=2&b=1&b=2");
    ck_assert_int_eq(s3_query_build(q, 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(s3_query_build(q, 5, out, 10), -ENAMETOOLONG);
}
END_TEST

START_TEST(payload_hashes)
{
    char hex[65];
    s3_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, S3_EMPTY_SHA256);
    s3_sha256_hex(NULL, 0, hex);
    ck_assert_str_eq(hex, S3_EMPTY_SHA256);
    s3_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("objurl");
    TCase *url = tcase_create("url");
    tcase_add_test(url, file_urls);
    tcase_add_test(url, http_urls);
    tcase_add_test(url, payload_signing);
    tcase_add_test(url, region_from_environment);
    tcase_add_test(url, key_prefixes);
    tcase_add_test(url, aws_virtual_hosted);
    tcase_add_test(url, s3_scheme);
    tcase_add_loop_test(url, bad_urls_are_einval, 0, (int)(sizeof bad_urls / sizeof *bad_urls));
    tcase_add_test(url, describe_never_shows_credentials);
    suite_add_tcase(s, url);
    TCase *enc = tcase_create("sigv4-encoding");
    tcase_add_test(enc, uri_encode_keeps_only_unreserved);
    tcase_add_test(enc, uri_encode_respects_capacity);
    tcase_add_test(enc, query_sorted_and_encoded);
    tcase_add_test(enc, query_sorted_by_encoded_name_then_value);
    tcase_add_test(enc, payload_hashes);
    suite_add_tcase(s, enc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* test_s3_cred.c - the pure parts of the AWS credential chain: the strict
 * JSON reader of container/IMDS replies (core/objstore/s3/s3_json.c), the shared
 * files' format (core/objstore/s3/s3_ini.c), STS's XML reply and the Expiration
 * timestamps (core/objstore/s3/s3_cred_http.c). The sources themselves are tested
 * against loopback stand-ins in tests/integration/test_s3_credentials.sh. */
#include "s3_cred.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int json(const char *text, char *akid, char *token)
{
    struct s3_json_field f[] = {
        { "AccessKeyId", akid, 32, 0 },
        { "Token", token, 32, 0 },
    };
    return s3_json_fields(text, strlen(text), f, 2);
}

START_TEST(json_reads_wanted_strings)
{
    char a[32], t[32];
    ck_assert_int_eq(json(" {\"Code\":\"Success\",\"AccessKeyId\":\"ASIA1\",\"n\":[1,2.5e-3,{\"x\":null}],"
                          "\"Token\":\"a\\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00\"}\n", a, t), 0);
    ck_assert_str_eq(a, "ASIA1");
    ck_assert_str_eq(t, "a\"b\\c/d\xc3\xa9\xf0\x9f\x98\x80");
    /* a member name is decoded before it is compared */
    ck_assert_int_eq(json("{\"Acc\\u0065ssKeyId\":\"X\"}", a, t), 0);
    ck_assert_str_eq(a, "X");
    ck_assert_str_eq(t, "");
    ck_assert_int_eq(json("{}", a, t), 0);
}
END_TEST

static const char *const bad_json[] = {
    "", "[]", "\"x\"", "{", "{\"AccessKeyId\":\"A\"", "{\"AccessKeyId\":\"A\",}", "{,}",
    "{\"AccessKeyId\":1}", "{\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\"}",
    "{\"AccessKeyId\":\"A\"} x", "{\"AccessKeyId\":\"A\"}{}", "{'AccessKeyId':'A'}",
    "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":tru}",
    "{\"a\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\udc00\"}",
    "{\"a\":\"\\ud800x\"}", "{\"a\":\"\t\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
    "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}", "{\"AccessKeyId\":\"\\u0000\"}",
    "{\"AccessKeyId\":\"0123456789012345678901234567890123456789\"}", "{\"a\" 1}",
    "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\"::1}", "{\"a\":\"x\"",
};

START_TEST(json_refuses_malformed)
{
    char a[32], t[32];
    ck_assert_msg(json(bad_json[_i], a, t) == -EIO, "accepted %s", bad_json[_i]);
}
END_TEST

START_TEST(json_depth_is_bounded)
{
    char a[32], t[32], deep[200];
    /* 31 nested arrays under the object: depth 32, accepted; 40: refused */
    snprintf(deep, sizeof deep, "{\"a\":%.*s%.*s}", 31, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
             31, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    ck_assert_int_eq(json(deep, a, t), 0);
    snprintf(deep, sizeof deep, "{\"a\":%.*s%.*s}", 40, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
             40, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    ck_assert_int_eq(json(deep, a, t), -EIO);
}
END_TEST

/* ---- ini ----------------------------------------------------------------- */

static char ini_seen[1024];

static int ini_cb(void *arg, const char *section, const char *key, const char *value)
{
    (void)arg;
    size_t n = strlen(ini_seen);
    snprintf(ini_seen + n, sizeof ini_seen - n, "%s|%s|%s;", section, key, value);
    return 0;
}

static int ini(const char *text, int *line)
{
    ini_seen[0] = '\0';
    return s3_ini_parse(text, strlen(text), ini_cb, NULL, line);
}

START_TEST(ini_reads_the_aws_format)
{
    int line;
    ck_assert_int_eq(ini("# comment\n[default]\naws_access_key_id = AKID \r\n"
                         "aws_secret_access_key=a=b\n; other\n\n[ profile  dev ]\n"
                         "s3 =\n  max_concurrent_requests = 4\n  addressing_style = path\n"
                         "region = eu-west-1\nempty =", &line), 0);
    ck_assert_str_eq(ini_seen, "default|aws_access_key_id|AKID;default|aws_secret_access_key|a=b;"
                               "profile  dev|s3|;profile  dev|region|eu-west-1;profile  dev|empty|;");
    ck_assert_int_eq(line, 0);
}
END_TEST

START_TEST(ini_refuses_with_line_number)
{
    int line;
    ck_assert_int_eq(ini("key = before any section\n", &line), -EINVAL);
    ck_assert_int_eq(line, 1);
    ck_assert_int_eq(ini("[default]\nok = 1\nno equals sign\n", &line), -EINVAL);
    ck_assert_int_eq(line, 3);
    ck_assert_int_eq(ini("[default\n", &line), -EINVAL);
    ck_assert_int_eq(ini("[]\n", &line), -EINVAL);
    ck_assert_int_eq(ini("[default]\n = v\n", &line), -EINVAL);
    ck_assert_int_eq(line, 2);
    ck_assert_int_eq(s3_ini_parse("[a]\nk=v\0x", 9, ini_cb, NULL, &line), -EINVAL);
    /* an indented line under a key with a value is not a nested setting */
    ck_assert_int_eq(ini("[a]\nk = v\n  nested = 1\n", &line), 0);
    ck_assert_str_eq(ini_seen, "a|k|v;a|nested|1;");
}
END_TEST

/* ---- STS and timestamps --------------------------------------------------------- */

START_TEST(sts_reply)
{
    static const char ok[] =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>sub</SubjectFromWebIdentityToken>"
        "<Credentials><AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>sec/ret+</SecretAccessKey>"
        "<SessionToken>tok&amp;en</SessionToken><Expiration>2026-12-06T08:00:00Z</Expiration>"
        "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    struct s3_creds cr;
    char code[64];
    ck_assert_int_eq(s3_sts_parse(ok, strlen(ok), &cr, code, sizeof code), 0);
    ck_assert_str_eq(cr.access_key, "ASIAWEB");
    ck_assert_str_eq(cr.secret_key, "sec/ret+");
    ck_assert_str_eq(cr.token, "tok&en");
    ck_assert_int_eq(cr.expires, 1796544000);
    s3_creds_wipe(&cr);
    ck_assert_ptr_null(cr.access_key);
    static const char err[] = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code></Error></ErrorResponse>";
    ck_assert_int_eq(s3_sts_parse(err, strlen(err), &cr, code, sizeof code), -EIO);
    ck_assert_str_eq(code, "InvalidIdentityToken");
    ck_assert_ptr_null(cr.access_key);
    /* no Expiration, or a second AccessKeyId: not a reply we trust */
    static const char noexp[] = "<AssumeRoleWithWebIdentityResponse><R><Credentials><AccessKeyId>A"
        "</AccessKeyId><SecretAccessKey>B</SecretAccessKey></Credentials></R></AssumeRoleWithWebIdentityResponse>";
    ck_assert_int_eq(s3_sts_parse(noexp, strlen(noexp), &cr, code, sizeof code), -EIO);
    static const char twice[] = "<AssumeRoleWithWebIdentityResponse><R><Credentials><AccessKeyId>A"
        "</AccessKeyId><AccessKeyId>C</AccessKeyId><SecretAccessKey>B</SecretAccessKey><Expiration>"
        "2026-12-06T08:00:00Z</Expiration></Credentials></R></AssumeRoleWithWebIdentityResponse>";
    ck_assert_int_eq(s3_sts_parse(twice, strlen(twice), &cr, code, sizeof code), -EIO);
    ck_assert_int_eq(s3_sts_parse("<x", 2, &cr, code, sizeof code), -EIO);
}
END_TEST

START_TEST(timestamps)
{
    int64_t t;
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00Z", &t), 0);
    ck_assert_int_eq(t, 1796544000);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00.999Z", &t), 0);
    ck_assert_int_eq(t, 1796544000);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00+00:00", &t), 0);
    ck_assert_int_eq(t, 1796544000);
    ck_assert_int_eq(s3_cred_parse_time("1970-01-01T00:00:01Z", &t), 0);
    ck_assert_int_eq(t, 1);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00+01:00", &t), -EINVAL);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00", &t), -EINVAL);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06 08:00:00Z", &t), -EINVAL);
    ck_assert_int_eq(s3_cred_parse_time("2026-12-06T08:00:00.Z", &t), -EINVAL);
    ck_assert_int_eq(s3_cred_parse_time("", &t), -EINVAL);
}
END_TEST

/* The file the node's processes share (s3_cred_share.c). */
START_TEST(share_file_format)
{
    char good[] = "shimfs-credentials 1\n2\n1796544000\n1796543700000\nASIA1\nsecret\ntok\n";
    struct s3_creds c;
    int src = -1;
    ck_assert_int_eq(s3_cred_share_parse(good, &c, &src), 0);
    ck_assert_int_eq(src, 2);
    ck_assert_str_eq(c.access_key, "ASIA1");
    ck_assert_str_eq(c.secret_key, "secret");
    ck_assert_str_eq(c.token, "tok");
    ck_assert_int_eq(c.expires, 1796544000);
    ck_assert_int_eq(c.refresh_at, 1796543700000);
    s3_creds_wipe(&c);
    char notoken[] = "shimfs-credentials 1\n0\n5\n6\nA\nB\n-\n";
    ck_assert_int_eq(s3_cred_share_parse(notoken, &c, &src), 0);
    ck_assert_ptr_null(c.token);
    s3_creds_wipe(&c);
    static const char *const bad[] = {
        "", "shimfs-credentials 1\n", "shimfs-credentials 2\n0\n5\n6\nA\nB\nC\n",
        "shimfs-credentials 1\n0\n0\n6\nA\nB\nC\n",   /* static keys are never shared */
        "shimfs-credentials 1\n99\n5\n6\nA\nB\nC\n",  /* no such source */
        "shimfs-credentials 1\n-1\n5\n6\nA\nB\nC\n", "shimfs-credentials 1\n0\n5x\n6\nA\nB\nC\n",
        "shimfs-credentials 1\n0\n5\n6\n\nB\nC\n", "shimfs-credentials 1\n0\n5\n6\nA\nB\nC",
        "shimfs-credentials 1\n0\n5\n6\nA\nB\nC\nextra\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", bad[i]);
        ck_assert_msg(s3_cred_share_parse(buf, &c, &src) == -EINVAL, "accepted bad[%zu]", i);
    }
    /* the name depends on what selects the identity */
    char k1[64], k2[64], k3[64];
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/a", 1);
    s3_cred_share_key("http://h/b", "us-east-1", k1, sizeof k1);
    s3_cred_share_key("http://h/b", "us-east-1", k3, sizeof k3);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/b", 1);
    s3_cred_share_key("http://h/b", "us-east-1", k2, sizeof k2);
    unsetenv("AWS_ROLE_ARN");
    ck_assert_str_eq(k1, k3);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq((int)strlen(k1), 12 + 32);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s3_cred");
    TCase *j = tcase_create("json");
    tcase_add_test(j, json_reads_wanted_strings);
    tcase_add_loop_test(j, json_refuses_malformed, 0, (int)(sizeof bad_json / sizeof *bad_json));
    tcase_add_test(j, json_depth_is_bounded);
    suite_add_tcase(s, j);
    TCase *i = tcase_create("ini");
    tcase_add_test(i, ini_reads_the_aws_format);
    tcase_add_test(i, ini_refuses_with_line_number);
    suite_add_tcase(s, i);
    TCase *x = tcase_create("sts");
    tcase_add_test(x, sts_reply);
    tcase_add_test(x, timestamps);
    tcase_add_test(x, share_file_format);
    suite_add_tcase(s, x);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

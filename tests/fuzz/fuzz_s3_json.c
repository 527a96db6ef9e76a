/* fuzz_s3_json.c - libFuzzer target: the strict JSON reader of credential
 * replies (core/objstore/s3/s3_json.c), fed what a container-credentials endpoint or
 * IMDS (or anything pretending to be one) may send, and the timestamps of
 * their Expiration field (s3_cred_parse_time). Promises checked: no memory
 * error or overrun of a small output buffer; a found value is NUL-
 * terminated within its capacity and holds no NUL; strictness: an accepted
 * document cut before its closing brace is refused, and the same document
 * with white space around it is accepted with the same values. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3_cred.h"

#define NF 4

static int parse(const char *text, size_t len, char out[NF][24])
{
    struct s3_json_field f[NF] = {
        { "AccessKeyId", out[0], 24, 0 }, { "SecretAccessKey", out[1], 24, 0 },
        { "Token", out[2], 24, 0 }, { "Expiration", out[3], 24, 0 },
    };
    int rc = s3_json_fields(text, len, f, NF);
    for (int i = 0; rc == 0 && i < NF; i++)
        assert(!f[i].found || memchr(out[i], 0, 24));
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 3);
    if (!text)
        return 0;
    memcpy(text + 1, data, size);
    text[0] = ' ';
    text[size + 1] = '\n';
    text[size + 2] = '\0';
    int64_t t;
    (void)s3_cred_parse_time(text + 1, &t);
    char a[NF][24], b[NF][24];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    if (parse(text + 1, size, a) == 0) {
        assert(parse(text, size + 2, b) == 0);
        assert(memcmp(a, b, sizeof a) == 0);
        size_t end = size;
        while (end > 0 && strchr(" \t\r\n", text[end]))
            end--;
        assert(end > 0 && text[end] == '}');
        assert(parse(text + 1, end - 1, b) != 0);
    }
    free(text);
    return 0;
}

/* fuzz_s3_ini.c - libFuzzer target: the reader of ~/.aws/credentials and
 * ~/.aws/config (core/objstore/s3/s3_ini.c), on any text a user's files may hold.
 * Promises checked: no memory error; every setting handed out has a
 * non-empty key and a section, all trimmed and without line breaks; a
 * refusal names a line that exists; a callback's stop value comes back. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "s3_cred.h"

struct seen {
    int n, stop_at;
};

static void trimmed(const char *s, int may_be_empty)
{
    size_t n = strlen(s);
    assert(may_be_empty || n > 0);
    assert(!strpbrk(s, "\n"));
    if (n)
        assert(!strchr(" \t\r\v\f", s[0]) && !strchr(" \t\r\v\f", s[n - 1]));
}

static int cb(void *arg, const char *section, const char *key, const char *value)
{
    struct seen *s = arg;
    trimmed(section, 0);
    trimmed(key, 0);
    trimmed(value, 1);
    return ++s->n == s->stop_at ? 42 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct seen s = { 0, data[0] % 8 };
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int lines = 1, bad = -1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    int rc = s3_ini_parse(text, len, cb, &s, &bad);
    assert(rc == 0 || rc == -EINVAL || rc == 42);
    assert(rc != 42 || (s.stop_at && s.n == s.stop_at));
    assert(rc == -EINVAL ? bad >= 0 && bad <= lines : bad == 0);
    return 0;
}

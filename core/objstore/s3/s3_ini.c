/* s3_ini.c - the format of ~/.aws/credentials and ~/.aws/config.
 *
 * Owns: splitting the text into sections and "key = value" settings the
 * way the AWS CLI reads them (full-line '#'/';' comments, values kept as
 * written after trimming, nested settings indented under "name =" skipped).
 * Anything else is refused with its line number, never its text: these
 * files hold secrets, and a line we misread could be one.
 */
#include "s3_cred.h"

#include <errno.h>
#include <string.h>

#define S3_INI_LINE_MAX 4096

static int s3_ini_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Trim [*s, *s + *n) in place. */
static void s3_ini_trim(const char **s, size_t *n)
{
    while (*n > 0 && s3_ini_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && s3_ini_space((*s)[*n - 1]))
        (*n)--;
}

int s3_ini_parse(const char *text, size_t len, s3_ini_cb cb, void *arg, int *bad_line)
{
    char section[S3_INI_LINE_MAX] = "", key[S3_INI_LINE_MAX], value[S3_INI_LINE_MAX];
    int have_section = 0, nested = 0, line = 0;
    *bad_line = 0;
    if (memchr(text, '\0', len))
        return -EINVAL;
    for (size_t at = 0; at < len;) {
        const char *s = text + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + 1;
        line++;
        *bad_line = line;
        if (n >= S3_INI_LINE_MAX)
            return -EINVAL;
        int indented = n > 0 && s3_ini_space(s[0]) && s[0] != '\r';
        s3_ini_trim(&s, &n);
        if (n == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (indented && nested)
            continue;           /* "s3 =\n  max_concurrent_requests = 4" */
        nested = 0;
        if (s[0] == '[') {
            if (s[n - 1] != ']')
                return -EINVAL;
            const char *name = s + 1;
            size_t nn = n - 2;
            s3_ini_trim(&name, &nn);
            if (nn == 0 || memchr(name, '[', nn) || memchr(name, ']', nn))
                return -EINVAL;
            memcpy(section, name, nn);
            section[nn] = '\0';
            have_section = 1;
            continue;
        }
        const char *eq = memchr(s, '=', n);
        if (!eq || !have_section)
            return -EINVAL;
        const char *k = s, *v = eq + 1;
        size_t kn = (size_t)(eq - s), vn = n - kn - 1;
        s3_ini_trim(&k, &kn);
        s3_ini_trim(&v, &vn);
        if (kn == 0)
            return -EINVAL;
        memcpy(key, k, kn);
        key[kn] = '\0';
        memcpy(value, v, vn);
        value[vn] = '\0';
        nested = vn == 0;
        int rc = cb(arg, section, key, value);
        if (rc) {
            explicit_bzero(value, sizeof value);
            *bad_line = 0;
            return rc;
        }
    }
    explicit_bzero(value, sizeof value);
    *bad_line = 0;
    return 0;
}

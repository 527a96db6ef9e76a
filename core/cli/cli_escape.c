/* cli_escape.c - names printed so that a terminal shows them and nothing
 * else: a volume name may hold any byte but '/' and NUL, and a newline or
 * an escape sequence in one would forge lines or drive the terminal.
 *
 * The style is `ls -b` (GNU "escape" quoting) for what is not printable:
 * \a \b \t \n \v \f \r as such, other control bytes and bytes that are not
 * valid UTF-8 as \ooo (three octal digits), the C1 controls U+0080..U+009F
 * as the \ooo of their two bytes, and a backslash as \\. Printable text,
 * UTF-8 included, and spaces are printed as they are (unlike ls -b, which
 * writes "\ "), so plain names read as before. See docs/operations.md.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Length of the valid UTF-8 sequence at s (2..4), 0 if there is none. */
static int cli_utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* overlong */
        else if (c == 0xED)
            hi = 0x9F;          /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;          /* past U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

static void cli_put_octal(FILE *out, unsigned char c)
{
    fprintf(out, "\\%03o", c);
}

void cli_print_name(FILE *out, const char *name)
{
    static const char named[] = "\a\b\t\n\v\f\r";
    static const char letters[] = "abtnvfr";
    assert(out && name);
    const unsigned char *s = (const unsigned char *)name;
    while (*s) {
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x7F) {
            if (c == '\\')
                fputc('\\', out);
            fputc(c, out);
            s++;
            continue;
        }
        const char *k = strchr(named, c); /* c is not NUL: the loop stops there */
        if (k) {
            fputc('\\', out);
            fputc(letters[k - named], out);
            s++;
            continue;
        }
        int n = c >= 0x80 ? cli_utf8_len(s) : 0;
        if (n == 2 && c == 0xC2 && s[1] <= 0x9F) {
            cli_put_octal(out, s[0]);       /* a C1 control: CSI is 0xC2 0x9B */
            cli_put_octal(out, s[1]);
        } else if (n > 0) {
            fwrite(s, 1, (size_t)n, out);
        } else {
            cli_put_octal(out, c);
            n = 1;
        }
        s += n;
    }
}

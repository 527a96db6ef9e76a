/* cli_settings.c - `shimfs settings`: the table of settings (core/settings.def)
 * printed for people.
 *
 * Owns three views of the one table (config_settings): the list in
 * `shimfs --help` (name, default, one line), the explanation of
 * `shimfs settings` / `shimfs help settings` (each setting with its values
 * and its reference text), and `shimfs settings --markdown`, which is the
 * reference section of docs/configuration.md byte for byte
 * (scripts/settings-doc.sh writes it there and checks it).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static const char *const cli_settings_titles[SETTING_NSECTIONS] = {
    [SETTING_VOLUME] = "Where the volume is",
    [SETTING_CACHE] = "Caches and consistency",
    [SETTING_TIME] = "Time bounds (hung or dead servers)",
    [SETTING_DIAG] = "Diagnostics",
};

#define CLI_SETTINGS_BEGIN "<!-- settings: generated from core/settings.def by `make docs`; edit that file -->"
#define CLI_SETTINGS_END "<!-- end of settings -->"

static const char cli_settings_usage[] =
    "usage: shimfs settings [--markdown]\n"
    "\n"
    "Every setting shimfs reads from the environment: its default, the values it\n"
    "takes and what it does. A bad value is logged once and the default used.\n"
    "\n"
    "Options:\n"
    "  --markdown  the reference section of docs/configuration.md\n";

/* Markdown to plain text: drop the backticks and bold marks. */
static void cli_settings_plain(const char *md, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = md; *p && n + 1 < cap; p++)
        if (*p != '`' && !(p[0] == '*' && p[1] == '*') && !(p[0] == '*' && p > md && p[-1] == '*'))
            out[n++] = *p;
    out[n] = '\0';
}

/* The default as the docs show it (Markdown). */
static void cli_settings_default(const struct setting *s, char *out, size_t cap)
{
    if (s->shown)
        snprintf(out, cap, "%s", s->shown);
    else if (s->def)
        snprintf(out, cap, "`%s`", s->def);
    else
        snprintf(out, cap, "unset");
}

/* The values a setting takes, from its kind and bounds (Markdown). */
static void cli_settings_values(const struct setting *s, char *out, size_t cap)
{
    size_t n = 0;
    if (s->values) {
        snprintf(out, cap, "%s", s->values);
        return;
    }
    switch (s->kind) {
    case SETTING_STRING:    snprintf(out, cap, "text"); break;
    case SETTING_PREFIX:    snprintf(out, cap, "absolute path, not `/`"); break;
    case SETTING_PATH:      snprintf(out, cap, "path"); break;
    case SETTING_USER_DIR:  snprintf(out, cap, "folder"); break;
    case SETTING_SIZE:      snprintf(out, cap, "bytes, or `K`, `M`, `G`, `T`"); break;
    case SETTING_RATIO:     snprintf(out, cap, "%g to %g (not %g)", s->lo, s->hi, s->hi); break;
    case SETTING_INT:       snprintf(out, cap, "%d to %d", (int)s->lo, (int)s->hi); break;
    case SETTING_BOOL:      snprintf(out, cap, "`0` or `1`"); break;
    case SETTING_ENUM:
        out[0] = '\0';
        for (int i = 0; s->choices[i] && n < cap; i++)
            n += (size_t)snprintf(out + n, cap - n, "%s`%s`", i ? ", " : "", s->choices[i]);
        break;
    case SETTING_SECONDS:
        if (s->lo > 0)
            snprintf(out, cap, "seconds, at least %g", s->lo);
        else
            snprintf(out, cap, "seconds");
        break;
    case SETTING_TIMEOUT:   snprintf(out, cap, "seconds, %g to %g", s->lo, s->hi); break;
    case SETTING_ELSEWHERE:
        if (s->hi > s->lo)
            snprintf(out, cap, "%g to %g", s->lo, s->hi);
        else
            snprintf(out, cap, "text");
        break;
    }
}

/* "A, B" -> "`A`, `B`" */
static void cli_settings_names_md(const char *names, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = names; *p && n < cap;) {
        size_t len = strcspn(p, ", ");
        n += (size_t)snprintf(out + n, cap - n, "%s`%.*s`", p == names ? "" : ", ", (int)len, p);
        p += len;
        p += strspn(p, ", ");
    }
}

/* Walk the table section by section: a heading, then each entry. */
static void cli_settings_walk(FILE *out, void (*heading)(FILE *, const char *),
                              void (*entry)(FILE *, const struct setting *))
{
    size_t count;
    const struct setting *t = config_settings(&count);

    for (int sec = 0; sec < SETTING_NSECTIONS; sec++) {
        heading(out, cli_settings_titles[sec]);
        for (size_t i = 0; i < count; i++)
            if ((int)t[i].section == sec)
                entry(out, &t[i]);
    }
}

static void cli_settings_md_heading(FILE *out, const char *title)
{
    fprintf(out, "\n## %s\n\n| variable | default | values | meaning |\n| --- | --- | --- | --- |\n",
            title);
}

static void cli_settings_md_entry(FILE *out, const struct setting *s)
{
    char name[256], def[256], values[256];

    cli_settings_names_md(s->name, name, sizeof name);
    cli_settings_default(s, def, sizeof def);
    cli_settings_values(s, values, sizeof values);
    fprintf(out, "| %s | %s | %s | %s |\n", name, def, values, s->doc);
}

static void cli_settings_markdown(FILE *out)
{
    size_t count;
    const struct setting *t = config_settings(&count);
    char name[256];

    fprintf(out, "%s\n", CLI_SETTINGS_BEGIN);
    cli_settings_walk(out, cli_settings_md_heading, cli_settings_md_entry);
    fprintf(out, "\n## Variables a privileged program ignores\n\n"
                 "The variables that name a file, a folder or a program shimfs opens or runs\n"
                 "are read with `secure_getenv`:");
    size_t nsecure = 0, k = 0;
    for (size_t i = 0; i < count; i++)
        nsecure += t[i].secure != 0;
    for (size_t i = 0; i < count; i++)
        if (t[i].secure) {
            cli_settings_names_md(t[i].name, name, sizeof name);
            k++;
            fprintf(out, "%s %s", k == 1 ? "" : k == nsecure ? " and" : ",", name);
        }
    fprintf(out, ".\n"
                 "A setuid, setgid or file-capability program (`AT_SECURE`; the library can\n"
                 "only be there through `/etc/ld.so.preload`) never takes them from its\n"
                 "caller, and the shim stays out of such a program altogether: its caller's\n"
                 "environment would otherwise choose the prefix and the database behind\n"
                 "paths the program trusts.\n\n%s\n", CLI_SETTINGS_END);
}

/* text, wrapped to 76 columns, each line indented by 4 */
static void cli_settings_wrap(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t len = strlen(p);
        if (len > 72) {
            len = 72;
            while (len > 0 && p[len] != ' ')
                len--;
            if (len == 0)
                len = strcspn(p, " ");
        }
        fprintf(out, "    %.*s\n", (int)len, p);
        p += len;
        p += strspn(p, " ");
    }
}

static void cli_settings_text_heading(FILE *out, const char *title)
{
    fprintf(out, "\n%s\n\n", title);
}

static void cli_settings_text_entry(FILE *out, const struct setting *s)
{
    char md[4096], def[256], values[256];

    cli_settings_default(s, md, sizeof md);
    cli_settings_plain(md, def, sizeof def);
    cli_settings_values(s, md, sizeof md);
    cli_settings_plain(md, values, sizeof values);
    fprintf(out, "  %s\n    default: %s; values: %s%s\n", s->name, def, values,
            s->secure ? "; ignored by setuid programs" : "");
    cli_settings_plain(s->doc, md, sizeof md);
    cli_settings_wrap(out, md);
    fputc('\n', out);
}

static void cli_settings_explain(FILE *out)
{
    fprintf(out, "Settings (environment variables). A bad value is logged once and the\n"
                 "default used.\n");
    cli_settings_walk(out, cli_settings_text_heading, cli_settings_text_entry);
}

void cli_settings_list(FILE *out)
{
    size_t count;
    const struct setting *t = config_settings(&count);
    char def[256], plain[256];

    fprintf(out, "  %-24s %s\n", "VARIABLE", "what it sets [default]");
    for (size_t i = 0; i < count; i++) {
        cli_settings_default(&t[i], plain, sizeof plain);
        cli_settings_plain(plain, def, sizeof def);
        if (strlen(t[i].name) > 24)
            fprintf(out, "  %s\n  %-24s", t[i].name, "");
        else
            fprintf(out, "  %-24s", t[i].name);
        fprintf(out, " %s [%s]\n", t[i].summary, def);
    }
}

int cli_cmd_settings(int argc, char **argv)
{
    int markdown = 0, code;
    const struct cli_opt opts[] = {
        { "markdown", CLI_OPT_FLAG, &markdown, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };
    if (cli_parse_options(argc, argv, "settings", cli_settings_usage, opts, NULL, &code) < 0)
        return code;
    if (markdown)
        cli_settings_markdown(stdout);
    else
        cli_settings_explain(stdout);
    return CLI_OK;
}

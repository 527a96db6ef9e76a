/* s3_xml.c - read S3's XML replies: ListObjectsV2 pages and <Error> bodies.
 *
 * libexpat does the parsing; this file only keeps a stack of the elements
 * it cares about and collects the text of a few leaves. Anything that is
 * not the expected document (wrong root, malformed XML, a <Contents>
 * without <Key> or with a non-numeric <Size>) is -EIO: a listing that was
 * misread would make gc delete live objects, so doubt means failure.
 */
#include "s3_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

enum s3_tag {
    S3_T_NONE, S3_T_OTHER, S3_T_LIST, S3_T_CONTENTS, S3_T_KEY, S3_T_SIZE,
    S3_T_TRUNCATED, S3_T_TOKEN, S3_T_ERROR, S3_T_CODE, S3_T_MESSAGE,
};

/* Which element, under which parent, means what. */
static const struct { enum s3_tag parent; const char *name; enum s3_tag tag; } s3_xml_rules[] = {
    { S3_T_NONE, "ListBucketResult", S3_T_LIST },
    { S3_T_NONE, "Error", S3_T_ERROR },
    { S3_T_LIST, "Contents", S3_T_CONTENTS },
    { S3_T_LIST, "IsTruncated", S3_T_TRUNCATED },
    { S3_T_LIST, "NextContinuationToken", S3_T_TOKEN },
    { S3_T_CONTENTS, "Key", S3_T_KEY },
    { S3_T_CONTENTS, "Size", S3_T_SIZE },
    { S3_T_ERROR, "Code", S3_T_CODE },
    { S3_T_ERROR, "Message", S3_T_MESSAGE },
};

#define S3_XML_DEPTH 32
#define S3_XML_TEXT_MAX 65536

struct s3_xml {
    XML_Parser parser;
    enum s3_tag root_wanted;
    enum s3_tag stack[S3_XML_DEPTH];
    int depth;
    int rc;
    char *text;
    size_t text_len, text_cap;
    /* the <Contents> being read */
    char *key;
    uint64_t size;
    int have_size;
    struct s3_list_page *page;
    struct s3_error_body *err;
};

static void s3_xml_fail(struct s3_xml *x, int rc)
{
    if (x->rc == 0)
        x->rc = rc;
    XML_StopParser(x->parser, XML_FALSE);
}

/* With namespace processing on, names arrive as "uri|Local". */
static const char *s3_xml_local(const char *name)
{
    const char *bar = strrchr(name, '|');
    return bar ? bar + 1 : name;
}

static enum s3_tag s3_xml_classify(enum s3_tag parent, const char *name)
{
    for (size_t i = 0; i < sizeof s3_xml_rules / sizeof *s3_xml_rules; i++)
        if (s3_xml_rules[i].parent == parent && strcmp(s3_xml_rules[i].name, name) == 0)
            return s3_xml_rules[i].tag;
    return S3_T_OTHER;
}

static int s3_xml_is_leaf(enum s3_tag t)
{
    return t == S3_T_KEY || t == S3_T_SIZE || t == S3_T_TRUNCATED ||
           t == S3_T_TOKEN || t == S3_T_CODE || t == S3_T_MESSAGE;
}

static void XMLCALL s3_xml_start(void *ud, const char *name, const char **attrs)
{
    struct s3_xml *x = ud;
    (void)attrs;
    if (x->rc)
        return;
    enum s3_tag parent = x->depth ? x->stack[x->depth - 1] : S3_T_NONE;
    enum s3_tag t = s3_xml_classify(parent, s3_xml_local(name));
    if (x->depth >= S3_XML_DEPTH || (x->depth == 0 && t != x->root_wanted)) {
        s3_xml_fail(x, -EIO);
        return;
    }
    if (t == S3_T_CONTENTS) {
        free(x->key);
        x->key = NULL;
        x->have_size = 0;
    }
    x->stack[x->depth++] = t;
    x->text_len = 0;
}

static void XMLCALL s3_xml_chars(void *ud, const char *s, int len)
{
    struct s3_xml *x = ud;
    if (x->rc || x->depth == 0 || !s3_xml_is_leaf(x->stack[x->depth - 1]))
        return;
    size_t need = x->text_len + (size_t)len + 1;
    if (need > S3_XML_TEXT_MAX) {
        s3_xml_fail(x, -EIO);
        return;
    }
    if (need > x->text_cap) {
        size_t cap = x->text_cap ? x->text_cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        char *t = realloc(x->text, cap);
        if (!t) {
            s3_xml_fail(x, -ENOMEM);
            return;
        }
        x->text = t;
        x->text_cap = cap;
    }
    memcpy(x->text + x->text_len, s, (size_t)len);
    x->text_len += (size_t)len;
    x->text[x->text_len] = '\0';
}

static int s3_xml_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -EIO;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -EIO;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int s3_xml_add_entry(struct s3_xml *x)
{
    struct s3_list_page *p = x->page;
    if (!x->key || !x->have_size)
        return -EIO;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        struct s3_list_entry *e = realloc(p->entries, (size_t)cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        p->entries = e;
        p->cap = cap;
    }
    p->entries[p->n].key = x->key;
    p->entries[p->n].size = x->size;
    p->n++;
    x->key = NULL;
    return 0;
}

static void s3_xml_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int s3_xml_leaf_done(struct s3_xml *x, enum s3_tag t, const char *text)
{
    switch (t) {
    case S3_T_KEY:
        free(x->key);
        x->key = strdup(text);
        return x->key ? 0 : -ENOMEM;
    case S3_T_SIZE:
        x->have_size = 1;
        return s3_xml_parse_u64(text, &x->size);
    case S3_T_TRUNCATED:
        x->page->truncated = strcmp(text, "true") == 0;
        return 0;
    case S3_T_TOKEN:
        free(x->page->next_token);
        x->page->next_token = strdup(text);
        return x->page->next_token ? 0 : -ENOMEM;
    case S3_T_CODE:
        s3_xml_copy(x->err->code, sizeof x->err->code, text);
        return 0;
    case S3_T_MESSAGE:
        s3_xml_copy(x->err->message, sizeof x->err->message, text);
        return 0;
    default:
        return 0;
    }
}

static void XMLCALL s3_xml_end(void *ud, const char *name)
{
    struct s3_xml *x = ud;
    (void)name;
    if (x->rc || x->depth == 0)
        return;
    enum s3_tag t = x->stack[--x->depth];
    int rc = 0;
    if (s3_xml_is_leaf(t))
        rc = s3_xml_leaf_done(x, t, x->text_len ? x->text : "");
    else if (t == S3_T_CONTENTS)
        rc = s3_xml_add_entry(x);
    x->text_len = 0;
    if (rc)
        s3_xml_fail(x, rc);
}

static int s3_xml_run(struct s3_xml *x, const char *xml, size_t len)
{
    if (len > (size_t)INT32_MAX)
        return -EIO;
    x->parser = XML_ParserCreateNS(NULL, '|');
    if (!x->parser)
        return -ENOMEM;
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, s3_xml_start, s3_xml_end);
    XML_SetCharacterDataHandler(x->parser, s3_xml_chars);
    if (XML_Parse(x->parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK && x->rc == 0)
        x->rc = -EIO;
    XML_ParserFree(x->parser);
    free(x->text);
    free(x->key);
    return x->rc;
}

int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_page *page)
{
    struct s3_xml x = { .root_wanted = S3_T_LIST, .page = page };
    struct s3_error_body unused;
    x.err = &unused;
    assert(page && (xml || len == 0));
    memset(page, 0, sizeof *page);
    int rc = s3_xml_run(&x, xml, len);
    if (rc)
        s3_list_page_free(page);
    return rc;
}

void s3_list_page_free(struct s3_list_page *page)
{
    for (int i = 0; i < page->n; i++)
        free(page->entries[i].key);
    free(page->entries);
    free(page->next_token);
    memset(page, 0, sizeof *page);
}

int s3_xml_parse_error(const char *xml, size_t len, struct s3_error_body *err)
{
    struct s3_list_page unused = { 0 };
    struct s3_xml x = { .root_wanted = S3_T_ERROR, .err = err, .page = &unused };
    assert(err && (xml || len == 0));
    memset(err, 0, sizeof *err);
    int rc = s3_xml_run(&x, xml, len);
    s3_list_page_free(&unused);
    if (rc)
        memset(err, 0, sizeof *err);
    return rc;
}

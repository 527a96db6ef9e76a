/* cli_inject.h - the contract between the files of `shimfs inject`.
 *
 * The command never re-emits YAML: it parses the input with libyaml only to
 * learn where things are (byte offsets of every node), then copies the input
 * through with generated text spliced in at those offsets. What it did not
 * edit comes out byte for byte: comments, key order, quoting, other
 * documents.
 *
 *   cli_inject_tree.c  the input as a tree of nodes with byte offsets
 *   cli_inject_edit.c  positions in the text, splices, generated lines
 *   cli_inject_list.c  new items for a list-valued key of a mapping
 *   cli_inject_pod.c   what one pod spec gains (containers, volumes, env)
 *   cli_inject.c       the command: options, kinds, where pod specs are
 */
#ifndef SHIMFS_CLI_INJECT_H
#define SHIMFS_CLI_INJECT_H

#include <stddef.h>
#include <stdio.h>

/* ---- the tree (cli_inject_tree.c) ---- */
enum inj_kind { INJ_SCALAR, INJ_SEQ, INJ_MAP, INJ_ALIAS };

struct inj_node {
    enum inj_kind kind;
    int flow;                 /* a flow collection ([..], {..}), or a scalar in one */
    int block_scalar;         /* a literal (|) or folded (>) scalar */
    int quoted;               /* 0 plain, '\'' or '"' */
    size_t start, end;        /* byte offsets in the input; end is one past */
    char *value;              /* scalars: the parsed value (NUL-terminated) */
    struct inj_node **kid;    /* SEQ: items; MAP: key, value, key, value ... */
    size_t nkid, cap;
};

struct inj_doc { struct inj_node *root; };

struct inj_stream {
    const char *buf;          /* the input, not owned */
    size_t len;
    const char *eol;          /* "\r\n" when the input uses it, else "\n" */
    struct inj_doc *docs;
    size_t ndocs;
    struct inj_node **all;    /* every node, for freeing */
    size_t nall, allcap;
};

/* Parse buf (UTF-8) into documents. 0, -ENOMEM, or -EINVAL with a message
 * ("line L, column C: problem") in err. */
int inj_parse(struct inj_stream *s, const char *buf, size_t len, char *err, size_t errcap);
void inj_stream_free(struct inj_stream *s);

/* The value of `key` in a mapping (NULL when absent or not a mapping). */
struct inj_node *inj_get(const struct inj_node *map, const char *key);
/* The key node of `key` in a mapping, or NULL. */
struct inj_node *inj_get_key(const struct inj_node *map, const char *key);
/* The value of scalar node `n`, or NULL when it is not a scalar. */
const char *inj_str(const struct inj_node *n);
/* The item of a sequence of mappings whose `name` is `name`, or NULL. */
struct inj_node *inj_named(const struct inj_node *seq, const char *name);

/* ---- splices and generated text (cli_inject_edit.c) ---- */
struct inj_buf { char *p; size_t len, cap; int oom; };

struct inj_edit {
    size_t off, del;          /* replace input bytes [off, off + del) ... */
    char *text;               /* ... with this (owned) */
    size_t seq;               /* creation order: ties at one offset keep it */
};

struct inj_edits {
    const struct inj_stream *s;
    struct inj_edit *v;
    size_t n, cap;
    int oom;
    int eol_added;            /* the input lacked a final eol; one was added */
};

/* Append text (printf) as one line at `indent` spaces, with the input's eol. */
void inj_line(struct inj_buf *b, const struct inj_stream *s, int indent, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Append one line: `indent` spaces, prefix (raw YAML such as "- name: "),
 * the scalar v (inj_scalar), the input's eol. */
void inj_kv(struct inj_buf *b, const struct inj_stream *s, int indent, const char *prefix,
            const char *v);
/* Append raw text. */
void inj_put(struct inj_buf *b, const char *text, size_t len);
/* Append a scalar that reads back as the string v: plain when that is
 * safe in block context, else double-quoted. */
void inj_scalar(struct inj_buf *b, const char *v);
/* Like inj_scalar, in the quoting style of `like` (plain stays plain only
 * when safe, and never inside a flow collection). */
void inj_scalar_like(struct inj_buf *b, const char *v, const struct inj_node *like);

/* Column (bytes from the start of its line) of input offset off. Offsets
 * given to these functions lie within the input (off <= len, asserted). */
int inj_col(const struct inj_stream *s, size_t off);

/* Queue a splice; takes b's text (b is reset). */
void inj_splice(struct inj_edits *e, size_t off, size_t del, struct inj_buf *b);
/* Insert b's lines (already indented) as new lines after node n: at the
 * start of the line after its last content (a line break first when the
 * input ends there without one). 0, -EINVAL when the end cannot be told
 * (an empty sequence item), or -ENOTSUP when n ends in a block scalar
 * (|, >) that ends the input without a line break (one added would change
 * its value). b is consumed either way. */
int inj_insert_after(struct inj_edits *e, const struct inj_node *n, struct inj_buf *b);
/* Insert b's lines as new lines before the line holding offset off; only
 * spaces may precede off on that line. */
int inj_insert_before(struct inj_edits *e, size_t off, struct inj_buf *b);
/* Write the input with every splice applied. 0, -EINVAL (overlapping
 * splices: nothing written) or the write's -errno. */
int inj_write(struct inj_edits *e, FILE *out);
void inj_edits_free(struct inj_edits *e);

/* ---- a list-valued key of a block mapping (cli_inject_list.c) ---- */
/* How a list gets items: appended to it, written in place of an empty or
 * null value, or added with its key at the end of the mapping. */
enum inj_list_mode { INJ_APPEND, INJ_REPLACE, INJ_ADD_KEY };

struct inj_list {
    const char *key;
    struct inj_node *map, *seq;
    enum inj_list_mode mode;
    int kcol, dcol;           /* column of the mapping's keys, of the items' dashes */
    struct inj_buf items;     /* the new items' lines, indented at dcol */
};

/* NULL when n is a block node of this kind, else why it cannot be edited
 * ("is an alias; ...", "is not a list", "is in flow style ..."). */
const char *inj_block_problem(const struct inj_node *n, enum inj_kind kind);
/* Find list `key` of block mapping `map`; sd: new lists' dash column past
 * their key's. 0, or -EINVAL with *why (inj_block_problem's phrase). */
int inj_list_open(const struct inj_stream *s, struct inj_node *map, const char *key, int sd,
                  struct inj_list *l, const char **why);
/* Queue l's items (none: nothing). front: before the first item of an
 * existing list. 0 or inj_insert_after's errors. */
int inj_list_queue(struct inj_edits *e, struct inj_list *l, int front);
/* Queue the lists of one mapping, appends before new keys; frees items. */
int inj_lists_queue(struct inj_edits *e, struct inj_list *l, size_t n);

/* ---- one pod spec (cli_inject_pod.c) ---- */
struct inj_opts {
    const char *prefix;       /* SHIMFS_PREFIX */
    const char *secret;       /* envFrom secretRef */
    const char *image;        /* the init container's image */
    const char *image_prefix; /* where the image holds shimfs (make install PREFIX=) */
    const char *lib_dir;      /* where the shared emptyDir is mounted */
    const char *cache_dir;    /* SHIMFS_CACHE_DIR, a folder in the cache volume */
    const char *cache_size;   /* SHIMFS_CACHE_SIZE, or NULL */
    const char *cache_host_path; /* cache volume: hostPath, or ... */
    const char *cache_pvc;    /* ... a PersistentVolumeClaim, else an emptyDir */
    const char **only;        /* inject these containers only (NULL: all) */
    size_t nonly;
    const char **warm;        /* volume paths shimfs-warmup fills the cache with */
    size_t nwarm;
    char lib[4096];           /* lib_dir/libshimfs.so */
    char audit[4096];         /* lib_dir/libshimfs-audit.so (LD_AUDIT) */
    char cache_mount[4096];   /* the cache volume's mount: cache_dir's parent */
};

#define INJ_INIT_NAME  "shimfs-init"
#define INJ_WARM_NAME  "shimfs-warmup"
#define INJ_LIB_VOL    "shimfs-lib"
#define INJ_CACHE_VOL  "shimfs-cache"

/* Queue the edits that give pod spec `spec` shimfs. `where` names it for
 * messages ("document 2 (Deployment web)"). 0, or -EINVAL with one line in
 * err when the spec has a shape this command does not edit. */
int inj_pod(struct inj_edits *e, const struct inj_opts *o, struct inj_node *spec,
            const char *where, char *err, size_t errcap);

#endif

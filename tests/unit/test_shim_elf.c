/* test_shim_elf.c - the ELF dynamic-section reader and search-path tokens
 * of shim/shim_elf.c (compiled in directly; it is pure). Good files: this
 * test's own executable (it needs libc.so.6) and a synthetic library with
 * DT_NEEDED, DT_RPATH, DT_RUNPATH and DT_SONAME; a static image (no
 * PT_DYNAMIC) has no names. Corrupt files are -ENOEXEC and never read out
 * of bounds: every truncation of the synthetic file, a bad magic, class,
 * byte order, type or header size, program headers past the end or
 * overflowing, a dynamic section past the end, a string table outside its
 * segment or unmapped, string indexes past the table, a string without
 * its NUL; too many DT_NEEDED is -E2BIG. Token expansion: $ORIGIN,
 * ${ORIGIN}, $LIB, $PLATFORM, unknown tokens kept, a missing value drops
 * the element, overflow; list iteration with empty elements. The search
 * order (DT_RPATH unless DT_RUNPATH, LD_LIBRARY_PATH, DT_RUNPATH) and the
 * reading of loaded objects' dynamic sections (this process's). */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/shim_elf.c"

/* A synthetic library: header, two program headers (PT_LOAD of the whole
 * file at VBASE, PT_DYNAMIC), the dynamic section, then the strings. */
#define VBASE 0x400000u
#define STRS "\0libfoo.so.1\0libbar.so\0$ORIGIN/../lib\0/opt/x:$ORIGIN\0libme.so.3\0"
enum { S_FOO = 1, S_BAR = 13, S_RPATH = 23, S_RUNPATH = 38, S_SONAME = 53 };

struct image {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    Elf64_Dyn dyn[8];
    char str[sizeof STRS];
};

static void image_make(struct image *im)
{
    memset(im, 0, sizeof *im);
    memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
    im->eh.e_ident[EI_CLASS] = ELFCLASS64;
    im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    im->eh.e_ident[EI_VERSION] = EV_CURRENT;
    im->eh.e_type = ET_DYN;
    im->eh.e_machine = EM_X86_64;
    im->eh.e_version = EV_CURRENT;
    im->eh.e_phoff = offsetof(struct image, ph);
    im->eh.e_ehsize = sizeof im->eh;
    im->eh.e_phentsize = sizeof(Elf64_Phdr);
    im->eh.e_phnum = 2;
    im->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
                              .p_offset = 0,
                              .p_vaddr = VBASE,
                              .p_filesz = sizeof *im,
                              .p_memsz = sizeof *im };
    im->ph[1] = (Elf64_Phdr){ .p_type = PT_DYNAMIC,
                              .p_offset = offsetof(struct image, dyn),
                              .p_vaddr = VBASE + offsetof(struct image, dyn),
                              .p_filesz = sizeof im->dyn };
    Elf64_Dyn d[] = {
        { DT_NEEDED, { S_FOO } },      { DT_NEEDED, { S_BAR } },
        { DT_RPATH, { S_RPATH } },     { DT_RUNPATH, { S_RUNPATH } },
        { DT_SONAME, { S_SONAME } },   { DT_STRTAB, { VBASE + offsetof(struct image, str) } },
        { DT_STRSZ, { sizeof STRS } }, { DT_NULL, { 0 } },
    };
    memcpy(im->dyn, d, sizeof d);
    memcpy(im->str, STRS, sizeof STRS);
}

static int parse(const void *b, size_t n)
{
    struct shim_elf_dyn d;
    return shim_elf_parse(b, n, &d);
}

START_TEST(test_synthetic)
{
    struct image im;
    struct shim_elf_dyn d;
    image_make(&im);
    ck_assert_int_eq(shim_elf_parse(&im, sizeof im, &d), 0);
    ck_assert_uint_eq(d.n_needed, 2);
    ck_assert_str_eq(d.needed[0], "libfoo.so.1");
    ck_assert_str_eq(d.needed[1], "libbar.so");
    ck_assert_str_eq(d.rpath, "$ORIGIN/../lib");
    ck_assert_str_eq(d.runpath, "/opt/x:$ORIGIN");
    ck_assert_str_eq(d.soname, "libme.so.3");
    /* the names point into the buffer */
    ck_assert_ptr_eq(d.needed[0], im.str + S_FOO);

    /* unaligned buffer */
    char *odd = malloc(sizeof im + 1);
    memcpy(odd + 1, &im, sizeof im);
    ck_assert_int_eq(shim_elf_parse(odd + 1, sizeof im, &d), 0);
    ck_assert_str_eq(d.needed[1], "libbar.so");
    free(odd);
}
END_TEST

START_TEST(test_self)
{
    FILE *f = fopen("/proc/self/exe", "rb");
    ck_assert_ptr_nonnull(f);
    size_t cap = 64 << 20, n;
    char *b = malloc(cap);
    n = fread(b, 1, cap, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    struct shim_elf_dyn d;
    ck_assert_int_eq(shim_elf_parse(b, n, &d), 0);
    int libc = 0;
    for (unsigned i = 0; i < d.n_needed; i++)
        libc |= !strcmp(d.needed[i], "libc.so.6");
    ck_assert(libc);
    free(b);
}
END_TEST

START_TEST(test_static)
{
    struct image im;
    struct shim_elf_dyn d;
    image_make(&im);
    im.ph[1].p_type = PT_NOTE;
    ck_assert_int_eq(shim_elf_parse(&im, sizeof im, &d), 0);
    ck_assert_uint_eq(d.n_needed, 0);
    ck_assert_ptr_null(d.runpath);
    /* a dynamic section with nothing to name needs no string table */
    image_make(&im);
    memset(im.dyn, 0, sizeof im.dyn);
    ck_assert_int_eq(shim_elf_parse(&im, sizeof im, &d), 0);
    ck_assert_uint_eq(d.n_needed, 0);
}
END_TEST

START_TEST(test_truncated)
{
    struct image im;
    image_make(&im);
    /* Each prefix on the heap at its exact size: ASan sees any overread. */
    for (size_t n = 0; n < sizeof im; n++) {
        char *b = malloc(n ? n : 1);
        memcpy(b, &im, n);
        ck_assert_int_eq(parse(b, n), -ENOEXEC);
        free(b);
    }
}
END_TEST

START_TEST(test_bad_header)
{
    struct image im;
    image_make(&im);
    im.eh.e_ident[1] = 'X';
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_ident[EI_CLASS] = ELFCLASS32;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_type = ET_REL;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_phentsize = 32;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_phnum = PN_XNUM;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_phnum = 3; /* the third runs into the dynamic section: fine */
    ck_assert_int_eq(parse(&im, sizeof im), 0);
    im.eh.e_phnum = 60; /* past the end */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.eh.e_phoff = UINT64_MAX - 8; /* overflows */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
}
END_TEST

START_TEST(test_bad_dynamic)
{
    struct image im;
    image_make(&im);
    im.ph[1].p_offset = sizeof im - 8;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.ph[1].p_filesz = UINT64_MAX;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im); /* no DT_NULL: the section's end stops the walk */
    im.dyn[7] = (Elf64_Dyn){ DT_FLAGS, { 0 } };
    ck_assert_int_eq(parse(&im, sizeof im), 0);
    image_make(&im); /* no DT_STRTAB */
    im.dyn[5].d_tag = DT_FLAGS;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im); /* no DT_STRSZ */
    im.dyn[6].d_tag = DT_FLAGS;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
}
END_TEST

START_TEST(test_bad_strings)
{
    struct image im;
    image_make(&im);
    im.dyn[5].d_un.d_ptr = 0x100; /* STRTAB at an unmapped address */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.dyn[5].d_un.d_ptr = VBASE + sizeof im - 4; /* near the segment's end */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.dyn[6].d_un.d_val = sizeof im - offsetof(struct image, str) + 1; /* past the segment */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.dyn[6].d_un.d_val = UINT64_MAX;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.dyn[0].d_un.d_val = sizeof STRS; /* index past the table */
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im);
    im.dyn[3].d_un.d_val = UINT64_MAX - 1;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im); /* the soname's NUL outside the (shortened) table */
    im.dyn[6].d_un.d_val = S_SONAME + 4;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im); /* the segment ends before the table does */
    im.ph[0].p_filesz = offsetof(struct image, str) + 8;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
    image_make(&im); /* the PT_LOAD segment claims bytes past the file */
    im.ph[0].p_filesz = sizeof im + 4096;
    ck_assert_int_eq(parse(&im, sizeof im), -ENOEXEC);
}
END_TEST

START_TEST(test_too_many_needed)
{
    size_t n = SHIM_ELF_MAX_NEEDED + 1;
    size_t dynoff = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
    size_t stroff = dynoff + (n + 3) * sizeof(Elf64_Dyn), len = stroff + 8;
    unsigned char *b = calloc(1, len);
    struct image im;
    image_make(&im);
    im.ph[0].p_filesz = len;
    im.ph[1].p_offset = dynoff;
    im.ph[1].p_filesz = (n + 3) * sizeof(Elf64_Dyn);
    memcpy(b, &im, dynoff);
    Elf64_Dyn *d = (Elf64_Dyn *)(b + dynoff);
    d[0] = (Elf64_Dyn){ DT_STRTAB, { VBASE + stroff } };
    d[1] = (Elf64_Dyn){ DT_STRSZ, { 8 } };
    for (size_t i = 0; i < n; i++)
        d[2 + i] = (Elf64_Dyn){ DT_NEEDED, { 1 } };
    memcpy(b + stroff, "\0liba\0\0", 8);
    ck_assert_int_eq(parse(b, len), -E2BIG);
    d[2 + n - 1].d_tag = DT_NULL; /* exactly the maximum */
    struct shim_elf_dyn out;
    ck_assert_int_eq(shim_elf_parse(b, len, &out), 0);
    ck_assert_uint_eq(out.n_needed, SHIM_ELF_MAX_NEEDED);
    ck_assert_str_eq(out.needed[SHIM_ELF_MAX_NEEDED - 1], "liba");
    free(b);
}
END_TEST

static const char *expand(const char *e, const char *origin)
{
    static char out[64];
    int r =
        shim_elf_expand(e, strlen(e), origin, "lib/x86_64-linux-gnu", "x86_64", out, sizeof out);
    return r == 0 ? out : r == -ENOENT ? "ENOENT" : "ENAMETOOLONG";
}

START_TEST(test_expand)
{
    ck_assert_str_eq(expand("$ORIGIN", "/mnt/v/lib"), "/mnt/v/lib");
    ck_assert_str_eq(expand("$ORIGIN/../dep", "/a"), "/a/../dep");
    ck_assert_str_eq(expand("${ORIGIN}/x", "/a"), "/a/x");
    ck_assert_str_eq(expand("/p/$LIB/q", "/a"), "/p/lib/x86_64-linux-gnu/q");
    ck_assert_str_eq(expand("/p/${PLATFORM}", "/a"), "/p/x86_64");
    ck_assert_str_eq(expand("/p/$PLATFORMX", "/a"), "/p/$PLATFORMX");
    ck_assert_str_eq(expand("/p/$ORIGINAL", "/a"), "/p/$ORIGINAL");
    ck_assert_str_eq(expand("/p/${ORIGIN", "/a"), "/p/${ORIGIN");
    ck_assert_str_eq(expand("/p/$", "/a"), "/p/$");
    ck_assert_str_eq(expand("$HOME/x", "/a"), "$HOME/x");
    ck_assert_str_eq(expand("$ORIGIN/x", NULL), "ENOENT");
    ck_assert_str_eq(expand("/plain", NULL), "/plain");
    ck_assert_str_eq(expand("$ORIGIN/$ORIGIN/$ORIGIN/$ORIGIN", "/a/very/long/origin/folder/name"),
                     "ENAMETOOLONG");
    char out[4];
    ck_assert_int_eq(shim_elf_expand("abcd", 4, NULL, NULL, NULL, out, sizeof out), -ENAMETOOLONG);
    ck_assert_int_eq(shim_elf_expand("abc", 4 - 1, NULL, NULL, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "abc");
    ck_assert_int_eq(shim_elf_expand("a", 1, NULL, NULL, NULL, out, 0), -ENAMETOOLONG);
    /* only the element's bytes are read */
    ck_assert_int_eq(shim_elf_expand("$ORIGIN:x", 7, "/o", NULL, NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "/o");
}
END_TEST

START_TEST(test_elems)
{
    const char *pos = "/a:b::/c:", *e;
    size_t n;
    const char *want[] = { "/a", "b", ".", "/c", "." };
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(shim_elf_next_elem(&pos, ":", &e, &n), 1);
        ck_assert_uint_eq(n, strlen(want[i]));
        ck_assert(!memcmp(e, want[i], n));
    }
    ck_assert_int_eq(shim_elf_next_elem(&pos, ":", &e, &n), 0);
    pos = "/x;/y";
    ck_assert_int_eq(shim_elf_next_elem(&pos, ":;", &e, &n), 1);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(shim_elf_next_elem(&pos, ":;", &e, &n), 1);
    ck_assert(!memcmp(e, "/y", 2));
    ck_assert_int_eq(shim_elf_next_elem(&pos, ":;", &e, &n), 0);
}
END_TEST

/* The probe of test_search: records every candidate; "found" is taken. */
struct probe_log {
    char seen[16][128];
    int n;
    const char *found;
    int err;
};

static int probe(void *ctx, const char *path)
{
    struct probe_log *l = ctx;
    if (l->n < 16)
        snprintf(l->seen[l->n++], sizeof l->seen[0], "%s", path);
    if (l->err && l->n == 2)
        return l->err;
    return l->found && !strcmp(path, l->found);
}

START_TEST(test_search)
{
    struct probe_log l = { .found = NULL };
    struct shim_elf_search s = { .rpath = "/r1:$ORIGIN/r2",
                                 .llp = "/l1;/l2/",
                                 .origin = "/o",
                                 .lib = "lib64",
                                 .platform = "x86_64" };
    /* RPATH, then LD_LIBRARY_PATH (';' too, trailing '/' dropped), no RUNPATH */
    ck_assert_int_eq(shim_elf_search(&s, "libz.so", probe, &l), 0);
    ck_assert_int_eq(l.n, 4);
    ck_assert_str_eq(l.seen[0], "/r1/libz.so");
    ck_assert_str_eq(l.seen[1], "/o/r2/libz.so");
    ck_assert_str_eq(l.seen[2], "/l1/libz.so");
    ck_assert_str_eq(l.seen[3], "/l2/libz.so");
    /* a DT_RUNPATH, even empty, hides DT_RPATH; it comes after LD_LIBRARY_PATH */
    memset(&l, 0, sizeof l);
    s.runpath = "$ORIGIN/../$LIB:/u/${PLATFORM}";
    l.found = "/o/../lib64/libz.so";
    ck_assert_int_eq(shim_elf_search(&s, "libz.so", probe, &l), 1);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.seen[0], "/l1/libz.so");
    ck_assert_str_eq(l.seen[2], "/o/../lib64/libz.so");
    memset(&l, 0, sizeof l);
    s.runpath = "";
    s.llp = "";
    ck_assert_int_eq(shim_elf_search(&s, "libz.so", probe, &l), 0);
    ck_assert_int_eq(l.n, 0);
    /* $ORIGIN unknown: the element is dropped; an error stops the search */
    memset(&l, 0, sizeof l);
    s = (struct shim_elf_search){ .runpath = "$ORIGIN/a:/b:/c:/d", .origin = NULL };
    l.err = -EIO;
    ck_assert_int_eq(shim_elf_search(&s, "x.so", probe, &l), -EIO);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.seen[0], "/b/x.so");
}
END_TEST

/* The loaded form: this program's own dynamic section and libc's. */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        struct shim_elf_dyn d;
        shim_elf_parse_loaded((const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr),
                              info->dlpi_addr, &d);
        if (d.soname && !strcmp(d.soname, "libc.so.6"))
            ((int *)data)[0]++;
        for (unsigned k = 0; k < d.n_needed; k++)
            if (!strcmp(d.needed[k], "libcheck.so.0") || !strcmp(d.needed[k], "libc.so.6"))
                ((int *)data)[1]++;
    }
    return 0;
}

START_TEST(test_loaded)
{
    int found[2] = { 0, 0 };
    dl_iterate_phdr(phdr_cb, found);
    ck_assert_int_eq(found[0], 1); /* libc's soname */
    ck_assert_int_gt(found[1], 0); /* someone needs libc */
    struct shim_elf_dyn d;
    shim_elf_parse_loaded(NULL, 0, &d);
    ck_assert_uint_eq(d.n_needed, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shim_elf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_synthetic);
    tcase_add_test(tc, test_self);
    tcase_add_test(tc, test_static);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_bad_header);
    tcase_add_test(tc, test_bad_dynamic);
    tcase_add_test(tc, test_bad_strings);
    tcase_add_test(tc, test_too_many_needed);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_elems);
    tcase_add_test(tc, test_search);
    tcase_add_test(tc, test_loaded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

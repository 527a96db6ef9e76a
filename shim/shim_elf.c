/* shim_elf.c - the dynamic section of an untrusted ELF64 image and the
 * loader's search-path tokens (see shim_elf.h). Every read goes through
 * shim_elf_range, which refuses a range that overflows or leaves the
 * buffer; structures are copied out with memcpy (the buffer need not be
 * aligned).
 */
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "shim_elf.h"

/* True when [off, off + n) lies inside a buffer of len bytes. */
static int shim_elf_range(uint64_t off, uint64_t n, size_t len)
{
    return off <= len && n <= len - off;
}

/* The file offset of virtual address addr, through the PT_LOAD segment
 * whose file image holds it; *room is how many file bytes of that segment
 * follow it. -1 when no segment maps it. */
static int shim_elf_vaddr(const uint8_t *b, size_t len, const Elf64_Ehdr *eh, uint64_t addr,
                          uint64_t *off, uint64_t *room)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, b + eh->e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || addr < ph.p_vaddr || addr - ph.p_vaddr >= ph.p_filesz)
            continue;
        if (!shim_elf_range(ph.p_offset, ph.p_filesz, len))
            return -1;
        *off = ph.p_offset + (addr - ph.p_vaddr);
        *room = ph.p_filesz - (addr - ph.p_vaddr);
        return 0;
    }
    return -1;
}

/* The string at index idx of the table [tab, tab + tabsz): NULL unless it
 * ends inside the table. */
static const char *shim_elf_str(const uint8_t *tab, uint64_t tabsz, uint64_t idx)
{
    if (idx >= tabsz)
        return NULL;
    const char *s = (const char *)tab + idx;
    return memchr(s, '\0', tabsz - idx) ? s : NULL;
}

static int shim_elf_header(const uint8_t *b, size_t len, Elf64_Ehdr *eh)
{
    if (len < sizeof *eh)
        return -ENOEXEC;
    memcpy(eh, b, sizeof *eh);
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return -ENOEXEC;
#if __BYTE_ORDER == __LITTLE_ENDIAN
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return -ENOEXEC;
#else
    if (eh->e_ident[EI_DATA] != ELFDATA2MSB)
        return -ENOEXEC;
#endif
    if (eh->e_type != ET_DYN && eh->e_type != ET_EXEC)
        return -ENOEXEC;
    /* PN_XNUM (more headers than e_phnum holds) does not occur in
     * libraries; such a file is refused rather than half read. */
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == PN_XNUM ||
        !shim_elf_range(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), len))
        return -ENOEXEC;
    return 0;
}

int shim_elf_parse(const void *buf, size_t len, struct shim_elf_dyn *out)
{
    const uint8_t *b = buf;
    Elf64_Ehdr eh;
    memset(out, 0, sizeof *out);
    int r = shim_elf_header(b, len, &eh);
    if (r < 0)
        return r;

    Elf64_Phdr dyn = { .p_type = PT_NULL };
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, b + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_DYNAMIC) {
            dyn = ph;
            break;
        }
    }
    if (dyn.p_type != PT_DYNAMIC)
        return 0; /* static: nothing to find */
    if (!shim_elf_range(dyn.p_offset, dyn.p_filesz, len))
        return -ENOEXEC;

    /* First pass: where the string table is, and the string indexes. */
    uint64_t strtab = 0, strsz = 0, rpath = UINT64_MAX, runpath = UINT64_MAX, soname = UINT64_MAX;
    int have_strtab = 0, have_strsz = 0;
    uint64_t needed[SHIM_ELF_MAX_NEEDED];
    unsigned n_needed = 0;
    uint64_t n = dyn.p_filesz / sizeof(Elf64_Dyn);
    for (uint64_t i = 0; i < n; i++) {
        Elf64_Dyn d;
        memcpy(&d, b + dyn.p_offset + i * sizeof d, sizeof d);
        if (d.d_tag == DT_NULL)
            break;
        switch (d.d_tag) {
        case DT_STRTAB:
            strtab = d.d_un.d_ptr;
            have_strtab = 1;
            break;
        case DT_STRSZ:
            strsz = d.d_un.d_val;
            have_strsz = 1;
            break;
        case DT_RPATH: rpath = d.d_un.d_val; break;
        case DT_RUNPATH: runpath = d.d_un.d_val; break;
        case DT_SONAME: soname = d.d_un.d_val; break;
        case DT_NEEDED:
            if (n_needed == SHIM_ELF_MAX_NEEDED)
                return -E2BIG;
            needed[n_needed++] = d.d_un.d_val;
            break;
        default: break;
        }
    }
    int any = n_needed || rpath != UINT64_MAX || runpath != UINT64_MAX || soname != UINT64_MAX;
    if (!any)
        return 0;
    if (!have_strtab || !have_strsz)
        return -ENOEXEC;

    /* DT_STRTAB is an address: the loaded image's, found through PT_LOAD.
     * The table must lie inside that segment's file bytes. */
    uint64_t toff, room;
    if (shim_elf_vaddr(b, len, &eh, strtab, &toff, &room) < 0 || strsz > room)
        return -ENOEXEC;
    const uint8_t *tab = b + toff;

    for (unsigned i = 0; i < n_needed; i++)
        if (!(out->needed[i] = shim_elf_str(tab, strsz, needed[i])))
            return -ENOEXEC;
    out->n_needed = n_needed;
    if (rpath != UINT64_MAX && !(out->rpath = shim_elf_str(tab, strsz, rpath)))
        return -ENOEXEC;
    if (runpath != UINT64_MAX && !(out->runpath = shim_elf_str(tab, strsz, runpath)))
        return -ENOEXEC;
    if (soname != UINT64_MAX && !(out->soname = shim_elf_str(tab, strsz, soname)))
        return -ENOEXEC;
    return 0;
}

void shim_elf_parse_loaded(const void *l_ld, unsigned long base, struct shim_elf_dyn *out)
{
    const Elf64_Dyn *d = l_ld;
    uint64_t strtab = 0, rpath = UINT64_MAX, runpath = UINT64_MAX, soname = UINT64_MAX;
    memset(out, 0, sizeof *out);
    if (!d)
        return;
    for (; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_STRTAB: strtab = d->d_un.d_ptr; break;
        case DT_RPATH: rpath = d->d_un.d_val; break;
        case DT_RUNPATH: runpath = d->d_un.d_val; break;
        case DT_SONAME: soname = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!strtab)
        return;
    const char *tab = (const char *)(uintptr_t)(strtab >= base ? strtab : strtab + base);
    for (d = l_ld; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_NEEDED && out->n_needed < SHIM_ELF_MAX_NEEDED)
            out->needed[out->n_needed++] = tab + d->d_un.d_val;
    out->rpath = rpath != UINT64_MAX ? tab + rpath : NULL;
    out->runpath = runpath != UINT64_MAX ? tab + runpath : NULL;
    out->soname = soname != UINT64_MAX ? tab + soname : NULL;
}

/* Length of the token `ref` at s (just after '$'): "ref" followed by the
 * end or '/', or "{ref}"; 0 if s is not that token. */
static size_t shim_elf_token(const char *s, size_t n, const char *ref)
{
    size_t rl = strlen(ref);
    if (n >= rl + 2 && s[0] == '{' && !memcmp(s + 1, ref, rl) && s[rl + 1] == '}')
        return rl + 2;
    if (n >= rl && !memcmp(s, ref, rl) && (n == rl || s[rl] == '/'))
        return rl;
    return 0;
}

int shim_elf_expand(const char *elem, size_t elen, const char *origin, const char *lib,
                    const char *platform, char *out, size_t cap)
{
    static const char *const names[] = { "ORIGIN", "LIB", "PLATFORM" };
    const char *vals[] = { origin, lib, platform };
    size_t o = 0;
    if (cap == 0)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < elen;) {
        const char *piece = elem + i;
        size_t plen = 1, skip = 1;
        if (elem[i] == '$') {
            for (int k = 0; k < 3; k++) {
                size_t t = shim_elf_token(elem + i + 1, elen - i - 1, names[k]);
                if (t == 0)
                    continue;
                if (!vals[k])
                    return -ENOENT;
                piece = vals[k];
                plen = strlen(vals[k]);
                skip = t + 1;
                break;
            }
        }
        if (o + plen >= cap)
            return -ENAMETOOLONG;
        memcpy(out + o, piece, plen);
        o += plen;
        i += skip;
    }
    out[o] = '\0';
    return 0;
}

int shim_elf_next_elem(const char **pos, const char *seps, const char **elem, size_t *elen)
{
    const char *p = *pos;
    if (!p)
        return 0;
    size_t n = strcspn(p, seps);
    if (n == 0) {
        *elem = ".";
        *elen = 1;
    } else {
        *elem = p;
        *elen = n;
    }
    *pos = p[n] ? p + n + 1 : NULL;
    return 1;
}

/* Probe each element of one list; as shim_elf_search. */
static int shim_elf_search_list(const struct shim_elf_search *s, const char *list, const char *seps,
                                const char *name, shim_elf_probe_fn probe, void *ctx)
{
    char path[SHIM_ELF_PATH_MAX];
    const char *pos = list, *elem;
    size_t elen, nlen = strlen(name);
    if (!list || !*list)
        return 0;
    while (shim_elf_next_elem(&pos, seps, &elem, &elen)) {
        if (shim_elf_expand(elem, elen, s->origin, s->lib, s->platform, path, sizeof path) < 0)
            continue;
        size_t pl = strlen(path);
        while (pl > 1 && path[pl - 1] == '/')
            pl--;
        if (pl + 1 + nlen >= sizeof path)
            continue;
        path[pl] = '/';
        memcpy(path + pl + 1, name, nlen + 1);
        int r = probe(ctx, path);
        if (r != 0)
            return r;
    }
    return 0;
}

int shim_elf_search(const struct shim_elf_search *s, const char *name, shim_elf_probe_fn probe,
                    void *ctx)
{
    int r = 0;
    if (!s->runpath) /* present, even empty, it hides DT_RPATH */
        r = shim_elf_search_list(s, s->rpath, ":", name, probe, ctx);
    if (r == 0)
        r = shim_elf_search_list(s, s->llp, ":;", name, probe, ctx);
    if (r == 0)
        r = shim_elf_search_list(s, s->runpath, ":", name, probe, ctx);
    return r;
}

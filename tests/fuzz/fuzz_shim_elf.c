/* fuzz_shim_elf.c - libFuzzer target: the shim's ELF reader and search-path
 * token expansion (shim/shim_elf.c), which read any file a program dlopens
 * from the volume. The source is included, as tests/unit/test_shim_elf.c
 * does (it is pure). Input: the whole of it is parsed as an ELF image; its
 * first bytes, up to a NUL, are also expanded as a search path element.
 * Promises checked: no memory error; on success every name lies inside
 * the buffer with its NUL; an expansion fits the given size. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/shim_elf.c"

static void fuzz_check_str(const char *s, const uint8_t *b, size_t n)
{
    if (!s)
        return;
    assert((const uint8_t *)s >= b && (const uint8_t *)s < b + n);
    assert(memchr(s, '\0', (size_t)(b + n - (const uint8_t *)s)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: ASan catches a read one byte past it */
    uint8_t *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    struct shim_elf_dyn d;
    if (shim_elf_parse(b, size, &d) == 0) {
        assert(d.n_needed <= SHIM_ELF_MAX_NEEDED);
        for (unsigned i = 0; i < d.n_needed; i++) {
            assert(d.needed[i]);
            fuzz_check_str(d.needed[i], b, size);
        }
        fuzz_check_str(d.rpath, b, size);
        fuzz_check_str(d.runpath, b, size);
        fuzz_check_str(d.soname, b, size);
    }
    const uint8_t *nul = memchr(b, '\0', size);
    size_t elen = nul ? (size_t)(nul - b) : size;
    size_t cap = size ? (size_t)b[0] % 64 : 1;
    char *out = malloc(cap ? cap : 1);
    const char *pos;
    const char *e;
    size_t n;
    if (shim_elf_expand((const char *)b, elen, "/origin/dir", "lib", "x86_64", out, cap) == 0)
        assert(strlen(out) < cap);
    free(out);
    char *list = malloc(elen + 1);
    memcpy(list, b, elen);
    list[elen] = '\0';
    pos = list;
    for (int i = 0; i <= (int)elen + 1 && shim_elf_next_elem(&pos, ":;", &e, &n); i++)
        assert(n > 0 && ((n == 1 && e[0] == '.') || (e >= list && e + n <= list + elen)));
    free(list);
    free(b);
    return 0;
}

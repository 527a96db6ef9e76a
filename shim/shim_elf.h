/* shim_elf.h - a small reader of what the dynamic loader needs from an ELF
 * file: its DT_NEEDED names, DT_RPATH, DT_RUNPATH and DT_SONAME, and the
 * expansion of the dynamic string tokens ($ORIGIN, $LIB, $PLATFORM) in a
 * search path, as glibc does it.
 *
 * Pure: no system calls, no globals. The file is untrusted (any volume
 * file can be dlopen'ed), so every offset, size and string is checked
 * against the buffer; a malformed file is -ENOEXEC, never a read outside
 * the buffer (tests/unit/test_shim_elf.c, tests/fuzz/fuzz_shim_elf.c).
 * ELF64 in the host's byte order only: what this machine's loader can load.
 */
#ifndef SHIM_ELF_H
#define SHIM_ELF_H

#include <stddef.h>

/* More DT_NEEDED entries than this is -E2BIG (real libraries have tens). */
#define SHIM_ELF_MAX_NEEDED 256

/* Strings point into the parsed buffer: valid while it is. NULL: absent. */
struct shim_elf_dyn {
    unsigned n_needed;
    const char *needed[SHIM_ELF_MAX_NEEDED];
    const char *rpath;
    const char *runpath;
    const char *soname;
};

/* Parse the ELF image buf[0, len). 0 (a file without PT_DYNAMIC, e.g. a
 * static binary, has no names); -ENOEXEC not ELF64 of the host's byte
 * order, or malformed; -E2BIG too many DT_NEEDED. */
int shim_elf_parse(const void *buf, size_t len, struct shim_elf_dyn *out);

/* Expand one search path element as glibc's _dl_dst_substitute:
 * $ORIGIN/${ORIGIN} -> origin, $LIB -> lib, $PLATFORM -> platform; an
 * unknown $NAME stays as written. A known token whose value is NULL drops
 * the element (-ENOENT, as glibc). -ENAMETOOLONG when out is too small. */
int shim_elf_expand(const char *elem, size_t elen, const char *origin, const char *lib,
                    const char *platform, char *out, size_t cap);

/* Iterate a colon-separated search path (LD_LIBRARY_PATH also allows
 * ';'): *pos is the cursor (start at the list); each call gives the next
 * element in [*elem, *elem + *elen) and returns 1, or 0 at the end. An
 * empty element is "." (the working directory), as for glibc; the caller
 * skips an empty list (glibc ignores LD_LIBRARY_PATH="" and an empty
 * DT_RUNPATH). */
int shim_elf_next_elem(const char **pos, const char *seps, const char **elem, size_t *elen);

#endif

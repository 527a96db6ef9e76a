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

/* The same names from the dynamic section of an object the loader has
 * mapped (a link_map's l_ld and l_addr): trusted memory, read up to its
 * DT_NULL. DT_STRTAB is taken as relocated when it lies at or above base
 * (glibc relocates it in place on most machines), else base is added. */
void shim_elf_parse_loaded(const void *l_ld, unsigned long base, struct shim_elf_dyn *out);

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

/* The loader's search for a DT_NEEDED or dlopen name without '/', as
 * glibc orders it: the requester's DT_RPATH (only when it has no
 * DT_RUNPATH), LD_LIBRARY_PATH, its DT_RUNPATH; $ORIGIN is the
 * requester's folder. (The RPATH of the requester's own loaders, the
 * ld.so cache and the system folders are not searched: they are never in
 * the volume.) */
struct shim_elf_search {
    const char *rpath, *runpath; /* the requester's; NULL: none */
    const char *llp;             /* LD_LIBRARY_PATH; NULL or "": none */
    const char *origin;          /* the requester's folder; NULL: unknown */
    const char *lib, *platform;  /* $LIB and $PLATFORM */
};

/* Called on each candidate "folder/name" in order: 1 when the loader
 * would take it (stop), 0 when it is not there (go on), -errno to stop
 * with that error. */
typedef int (*shim_elf_probe_fn)(void *ctx, const char *path);

/* Runs the search; the probe's answer that stopped it (1, -errno), or 0
 * when no candidate was taken. Elements that do not fit SHIM_ELF_PATH_MAX
 * or drop out in expansion are skipped, as glibc skips them. */
#define SHIM_ELF_PATH_MAX 4096
int shim_elf_search(const struct shim_elf_search *s, const char *name, shim_elf_probe_fn probe,
                    void *ctx);

#endif

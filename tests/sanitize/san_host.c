/* san_host.c - libshimfs-sanhost.so, preloaded first (before the ASan
 * runtime and libshimfs.so) into host programs by `make check SANITIZE=1`
 * (tests/integration/lib.sh, preload_of). Built without sanitizers.
 *
 * It turns LeakSanitizer off in host programs only: bash, python3,
 * coreutils and git are not ours, and their exit-time leaks are not ours
 * to judge; LSan also dies under strace, which some tests put around a
 * host. The runtime asks for these defaults by symbol lookup, which finds
 * this library's definition before its own. Our programs (unit tests,
 * tools, the shimfs command) are not run under this preload and keep leak
 * checking. ASAN_OPTIONS from the environment still overrides.
 *
 * It also gives host programs glibc's lenient aligned_alloc: ASan's wants
 * the size to be a multiple of the alignment (C11's letter), so coreutils'
 * dd with bs=1000 (a page-aligned 1000-byte buffer) fails under it with
 * "memory exhausted" whether or not the shim is loaded.
 */
#include <errno.h>
#include <stdlib.h>

const char *__asan_default_options(void);
const char *__lsan_default_options(void);

const char *__asan_default_options(void)
{
    return "detect_leaks=0:verify_asan_link_order=0";
}

const char *__lsan_default_options(void)
{
    return "detect_leaks=0";
}

void *aligned_alloc(size_t alignment, size_t size)
{
    void *p = NULL;
    int rc = posix_memalign(&p, alignment, size); /* ASan's, next in line */
    if (rc) {
        errno = rc;
        return NULL;
    }
    return p;
}

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
 */
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

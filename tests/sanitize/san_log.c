/* san_log.c - linked into every program and library of a SANITIZE=1 build
 * (never into a normal one): sends ASan and UBSan reports to the file that
 * $SHIMFS_SAN_LOG names (plus .PID), where scripts/sanitize.sh's runner
 * finds them and fails the test.
 *
 * Why not ASAN_OPTIONS=log_path: the runtime then creates the log's folder
 * while it initialises, with libc's stat and mkdir, which in a host program
 * are the preloaded shim's; the shim's instrumented code runs before the
 * shadow memory exists and the host dies of SIGSEGV. A constructor runs
 * after the runtime is up.
 */
#include <stdlib.h>

void __sanitizer_set_report_path(const char *path);

__attribute__((constructor)) static void san_log_init(void)
{
    const char *path = getenv("SHIMFS_SAN_LOG");
    if (path && *path)
        __sanitizer_set_report_path(path);
}

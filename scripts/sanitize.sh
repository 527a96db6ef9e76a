# shellcheck shell=bash
# scripts/sanitize.sh — sourced by the test runner (run-tests.sh). Owns what `make check SANITIZE=1` changes at run
# time; with SHIMFS_SANITIZE unset every function here is a no-op.
#
# The build under test is $SHIMFS_BUILD (build/, or build/san/ for
# SANITIZE=1; the Makefile sets it, this is the one place that defaults it).
# Under SANITIZE=1:
#  - SHIMFS_PRELOAD_FIRST names the ASan runtime (after
#    libshimfs-sanhost.so, see below); tests/integration/lib.sh puts it
#    before libshimfs.so in every LD_PRELOAD, as ASan requires (it
#    intercepts libc too: the host's call goes ASan -> shim -> libc).
#  - Each test gets its own report folder; ASan and UBSan write there
#    ($SHIMFS_SAN_LOG, see tests/sanitize/san_log.c), not to stderr, so a report cannot be swallowed
#    by a test that ignores a host program's status: san_reports fails the
#    test when the folder is not empty and prints the report.
#  - Leaks are checked in our own programs (unit tests, tools, the shimfs
#    command) but not in host programs under LD_PRELOAD (bash, python3,
#    coreutils...): their exit-time leaks are not ours to judge
#    (tests/sanitize/san_host.c); scripts/lsan.supp silences the exit-time
#    leaks of the system libraries we link (OpenSSL, Kerberos via libpq).
# Promises: a sanitizer report in any process a test starts fails that test.

SAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SHIMFS_BUILD=${SHIMFS_BUILD:-$SAN_ROOT/build}
case $SHIMFS_BUILD in /*) ;; *) SHIMFS_BUILD=$SAN_ROOT/$SHIMFS_BUILD ;; esac
SAN_LOGS=$SAN_ROOT/.scratch/logs/sanitizer

san_on() { [ "${SHIMFS_SANITIZE:-}" = 1 ]; }

# Once per runner: the runtime to preload first.
san_setup() {
    san_on || return 0
    local rt
    rt=$(${CC:-cc} -print-file-name=libasan.so)
    if [ ! -f "$rt" ]; then
        echo "sanitize: no ASan runtime ($rt)" >&2
        return 1
    fi
    export SHIMFS_PRELOAD_FIRST=$SHIMFS_BUILD/libshimfs-sanhost.so:$rt
    mkdir -p "$SAN_LOGS"
    chmod 1777 "$SAN_LOGS"
}

# Before test NAME: its own empty report folder, writable by the second
# local user some tests run as (a log file ASan cannot open kills the
# process). With `noleaks` (the integration scripts): no exit-time leak
# check in the processes they start. Their many multi-threaded shimfs and
# shim processes met LeakSanitizer's own fatal error ("Tracer caught signal
# 11", CI, test_cli_import), which kills the process and fails the test for
# the checker's sake; ASan and UBSan still check them, and the unit tests
# and Check programs keep the leak check.
san_begin() {
    san_on || return 0
    local dir=$SAN_LOGS/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 1777 "$dir"
    export SHIMFS_SAN_LOG=$dir/report
    # symbolize=0: the report is written at once, as module+offset (a
    # test's kill -9 cut a report while ASan was symbolizing its stack:
    # CI kept only its first line); san_reports symbolizes it when shown
    local common="print_summary=1:halt_on_error=1:abort_on_error=0:symbolize=0"
    export ASAN_OPTIONS="$common:detect_stack_use_after_return=0:strict_string_checks=0:allocator_may_return_null=1:handle_segv=1"
    export UBSAN_OPTIONS="$common:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$SAN_ROOT/scripts/lsan.supp:print_suppressions=0"
    [ "${2:-}" != noleaks ] || ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"
}

# After test NAME: 0 when no sanitizer spoke; else prints the reports'
# first lines and returns 1.
san_reports() {
    san_on || return 0
    local dir=$SAN_LOGS/$1 f
    [ -n "$(ls -A "$dir" 2>/dev/null)" ] || return 0
    for f in "$dir"/*; do
        echo "sanitizer report $f:"
        grep -E '^(==|SUMMARY|    #[0-9]|[^ ].*runtime error)' "$f" | head -n 30 | san_symbolize
    done | sed 's/^/    /'
    return 1
}

# Frames written unsymbolized ("#3 0x7f.. (/path/lib.so+0x1f2e3)") get
# their function and line from addr2line (binutils); others pass as they are.
san_symbolize() {
    local line mod off where
    while IFS= read -r line; do
        if [[ $line =~ \((/[^+]+)\+(0x[0-9a-f]+)\)$ ]] && command -v addr2line > /dev/null; then
            mod=${BASH_REMATCH[1]}
            off=${BASH_REMATCH[2]}
            where=$(addr2line -f -C -i -e "$mod" "$off" 2> /dev/null | paste -sd ' ' -)
            line="$line ${where:-?}"
        fi
        printf '%s\n' "$line"
    done
}

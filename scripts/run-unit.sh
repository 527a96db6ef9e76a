#!/usr/bin/env bash
# scripts/run-unit.sh [--label WORD] BIN... — runs Check test programs.
# Each runs under `timeout 600` (SHIMFS_TEST_TIMEOUT overrides) with
# CK_FORK=yes unless set otherwise; its output goes to
# .scratch/logs/WORD/NAME.log and is shown only when it fails. Counts come
# from Check's summary lines (`NN%: Checks: C, Failures: F, Errors: E`); a
# program that crashed, timed out or ran no check counts as a failure; one
# that exits 77 having failed nothing was skipped (a service or tool it
# needs is missing). Under SHIMFS_SANITIZE=1 a sanitizer report fails the
# program (scripts/sanitize.sh).
# Closes with `WORD: N passed, N failed, N skipped` (WORD defaults to unit),
# also written as `N N N` to $SHIMFS_RUN_SUMMARY when set, and exits
# non-zero on any failure.
set -uo pipefail

RUN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/sanitize.sh
. "$RUN_ROOT/scripts/sanitize.sh"
RUN_LABEL=unit
if [ "${1:-}" = --label ]; then RUN_LABEL=$2; shift 2; fi
RUN_LOGS=$RUN_ROOT/.scratch/logs/$RUN_LABEL
RUN_TIMEOUT=${SHIMFS_TEST_TIMEOUT:-600}
RUN_PASSED=0
RUN_FAILED=0
RUN_SKIPPED=0
RUN_SKIP=77
RUN_CHILD=

export CK_FORK=${CK_FORK:-yes}
export CK_VERBOSITY=normal

# Prints the lines that explain a failure: Check's own failure lines, or the
# end of the log when there are none (a crash, a timeout).
run_show_failure() {
    local log=$1
    if grep -qE ':[FE]:' "$log"; then
        grep -E ':[FE]:' "$log" | head -n 40
    else
        tail -n 40 "$log"
    fi | sed 's/^/    /'
}

# Runs CMD in the background and waits, so that Ctrl-C or SIGTERM reaches
# this script at once; timeout(1) runs CMD in its own process group, which
# the terminal's Ctrl-C would not reach.
run_bounded() {
    local log=$1 rc; shift
    timeout -k 10 "$RUN_TIMEOUT" "$@" </dev/null >"$log" 2>&1 &
    RUN_CHILD=$!
    wait "$RUN_CHILD"; rc=$?
    RUN_CHILD=
    return "$rc"
}

run_interrupted() {
    [ -z "$RUN_CHILD" ] || kill -TERM "$RUN_CHILD" 2>/dev/null
    wait
    echo "$RUN_LABEL: interrupted"
    exit 130
}

run_one() {
    local bin=$1 name log rc p f
    name=$(basename "$bin")
    log=$RUN_LOGS/$name.log
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: not built"; RUN_FAILED=$((RUN_FAILED + 1)); return
    fi
    san_begin "$RUN_LABEL/$name"
    run_bounded "$log" "$bin"
    rc=$?
    # A program may run several suites: every summary line counts.
    read -r p f < <(sed -nE 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' "$log" |
        awk '{ c += $1; f += $2 + $3 } END { print c - f + 0, f + 0 }')
    [ "$rc" -eq 124 ] && echo "timeout: $name ran past $RUN_TIMEOUT s" >> "$log"
    local san skipped=0
    san=$(san_reports "$RUN_LABEL/$name") || f=$((f + 1))
    if [ "$rc" -eq "$RUN_SKIP" ] && [ "$f" -eq 0 ]; then
        skipped=1
    else
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ $((p + f)) -eq 0 ]; then
            echo "ran no check" >> "$log"; f=1
        fi
    fi
    RUN_PASSED=$((RUN_PASSED + p)); RUN_FAILED=$((RUN_FAILED + f))
    RUN_SKIPPED=$((RUN_SKIPPED + skipped))
    if [ "$skipped" -eq 1 ]; then
        echo "skip $name ($(tail -n 1 "$log"))"
    elif [ "$f" -eq 0 ]; then
        echo "ok   $name ($p checks)"
    else
        echo "FAIL $name ($f of $((p + f)) failed, exit $rc; log $log)"
        run_show_failure "$log"
        [ -z "$san" ] || echo "$san"
    fi
}

run_main() {
    local bin
    mkdir -p "$RUN_LOGS"
    trap run_interrupted INT TERM
    san_setup || { RUN_FAILED=1; set --; }
    for bin in "$@"; do run_one "$bin"; done
    echo "$RUN_LABEL: $RUN_PASSED passed, $RUN_FAILED failed, $RUN_SKIPPED skipped"
    [ -z "${SHIMFS_RUN_SUMMARY:-}" ] ||
        echo "$RUN_PASSED $RUN_FAILED $RUN_SKIPPED" > "$SHIMFS_RUN_SUMMARY"
    [ "$RUN_FAILED" -eq 0 ]
}

run_main "$@"

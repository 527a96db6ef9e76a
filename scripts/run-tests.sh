#!/usr/bin/env bash
# scripts/run-tests.sh [--label WORD] TEST|GROUP... — the one test runner:
# `make unit`, `make integration`, `make check` (scripts/check.sh) and its
# SANITIZE=1 pass all go through it, and so does a test run by hand:
#   scripts/run-tests.sh unit                  # every unit test program
#   scripts/run-tests.sh integration           # every integration test
#   scripts/run-tests.sh test_write_errors     # one test, found by name
#   scripts/run-tests.sh tests/integration/test_write_*.sh build/tests/test_log
# A TEST is a path or a bare name (looked up as tests/integration/NAME.sh,
# $SHIMFS_BUILD/tests/NAME, $SHIMFS_BUILD/itests/NAME). GROUP `unit` is
# $SHIMFS_BUILD/tests/test_*; `integration` is every tests/integration/*.sh
# but lib.sh, then $SHIMFS_BUILD/itests/test_*.
# Two kinds of test, one verdict:
#  - a shell script (*.sh, tests/integration/lib.sh) counts from its
#    closing line `N passed, N failed[, N skipped]`;
#  - a Check program counts from Check's summary lines (`NN%: Checks: C,
#    Failures: F, Errors: E`), run with CK_FORK=yes unless set otherwise
#    (and CK_DEFAULT_TIMEOUT=120 for the integration programs, itests/).
# Each test runs under `timeout 600` (SHIMFS_TEST_TIMEOUT overrides); its
# output goes to .scratch/logs/KIND/NAME.log (KIND: unit, itests,
# integration) and is shown only when it fails. A test that crashed, timed
# out, exited non-zero or counted nothing fails; one that exits 77 having
# failed nothing was skipped (a service or tool it needs is missing).
# Integration tests (scripts and itests/ programs) use the running test
# services (.scratch/services/env); when none run, this starts them and
# stops them afterwards. Under SHIMFS_SANITIZE=1 a sanitizer report fails
# the test that caused it (scripts/sanitize.sh).
# Closes with `WORD: N passed, N failed, N skipped` (WORD: --label, else
# the group's name, else `tests`), also written as `N N N` to
# $SHIMFS_RUN_SUMMARY when set, and exits non-zero on any failure.
set -uo pipefail

RUN_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_ROOT=$(dirname "$RUN_SCRIPTS")
# shellcheck source=scripts/sanitize.sh
. "$RUN_SCRIPTS/sanitize.sh"
RUN_LOGS=$RUN_ROOT/.scratch/logs
RUN_ENV=${SHIMFS_SERVICES_DIR:-$RUN_ROOT/.scratch/services}/env
RUN_TIMEOUT=${SHIMFS_TEST_TIMEOUT:-600}
RUN_LABEL=
RUN_PASSED=0
RUN_FAILED=0
RUN_SKIPPED=0
RUN_SKIP=77
RUN_CHILD=
RUN_TESTS=()

# Prints the tests a word names, one a line.
run_expand() {
    local word=$1 f
    case $word in
        unit)
            for f in "$SHIMFS_BUILD"/tests/test_*; do [ -x "$f" ] && echo "$f"; done ;;
        integration)
            for f in "$RUN_ROOT"/tests/integration/*.sh; do
                [ -f "$f" ] && [ "$(basename "$f")" != lib.sh ] && echo "$f"
            done
            for f in "$SHIMFS_BUILD"/itests/test_*; do [ -x "$f" ] && echo "$f"; done ;;
        */*|*.sh)
            echo "$word" ;;
        *)
            for f in "$RUN_ROOT/tests/integration/$word.sh" "$SHIMFS_BUILD/tests/$word" \
                     "$SHIMFS_BUILD/itests/$word"; do
                [ -f "$f" ] && { echo "$f"; return; }
            done
            echo "$word" ;;
    esac
    return 0
}

# What kind of test a path is: its log folder and how it is counted.
run_kind() {
    case $1 in
        *.sh)       echo integration ;;
        */itests/*) echo itests ;;
        *)          echo unit ;;
    esac
}

run_needs_services() {
    local t
    for t in "${RUN_TESTS[@]}"; do
        [ "$(run_kind "$t")" = unit ] || return 0
    done
    return 1
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

# Prints `PASSED FAILED SKIPPED` as the log of a test of KIND counts them.
run_counts() {
    local kind=$1 log=$2
    if [ "$kind" = integration ]; then
        # The closing line of tests/integration/lib.sh: the last one counts.
        sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$log" |
            tail -n 1 | awk '{ print $1 + 0, $2 + 0, $3 + 0 } END { if (NR == 0) print 0, 0, 0 }'
    else
        # A Check program may run several suites: every summary line counts.
        sed -nE 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' "$log" |
            awk '{ c += $1; f += $2 + $3 } END { print c - f + 0, f + 0, 0 }'
    fi
}

# Prints the lines that explain a failure: the test's own failure lines
# (lib.sh's `FAIL ...`, Check's `file:line:F:...`), then the end of the
# log, where a crash, a timeout or the error a failed step printed to
# stderr ("cannot format volume" says nothing without it) shows.
run_show_failure() {
    local log=$1
    {
        grep -E '^FAIL |:[FE]:' "$log" | head -n 25
        echo "(the end of $(basename "$log"):)"
        tail -n 15 "$log"
    } | head -n 45 | sed 's/^/    /'
}

run_one() {
    local test=$1 kind name log rc p f s san
    kind=$(run_kind "$test")
    name=$(basename "$test" .sh)
    log=$RUN_LOGS/$kind/$name.log
    mkdir -p "$RUN_LOGS/$kind"
    if [ ! -f "$test" ] || { [ "$kind" != integration ] && [ ! -x "$test" ]; }; then
        echo "FAIL $name: not built or no such test ($test)"; RUN_FAILED=$((RUN_FAILED + 1)); return
    fi
    case $kind in
        integration)
            # The many shim processes a script starts keep no leak check
            # (scripts/sanitize.sh).
            san_begin "$kind/$name" noleaks
            run_bounded "$log" bash "$test" ;;
        itests)
            san_begin "$kind/$name"
            run_bounded "$log" env CK_FORK="${CK_FORK:-yes}" CK_VERBOSITY=normal \
                CK_DEFAULT_TIMEOUT="${CK_DEFAULT_TIMEOUT:-120}" "$test" ;;
        unit)
            san_begin "$kind/$name"
            run_bounded "$log" env CK_FORK="${CK_FORK:-yes}" CK_VERBOSITY=normal "$test" ;;
    esac
    rc=$?
    read -r p f s < <(run_counts "$kind" "$log")
    [ "$rc" -eq 124 ] && echo "timeout: $name ran past $RUN_TIMEOUT s" >> "$log"
    san=$(san_reports "$kind/$name") || f=$((f + 1))
    if [ "$rc" -eq "$RUN_SKIP" ] && [ "$f" -eq 0 ]; then
        [ "$s" -gt 0 ] || s=1
    else
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ $((p + f + s)) -eq 0 ]; then echo "counted nothing (no closing line, no check ran)" >> "$log"; f=1; fi
    fi
    RUN_PASSED=$((RUN_PASSED + p)); RUN_FAILED=$((RUN_FAILED + f)); RUN_SKIPPED=$((RUN_SKIPPED + s))
    if [ "$f" -eq 0 ] && [ "$rc" -eq "$RUN_SKIP" ]; then
        echo "skip $name ($( { grep '^skip ' "$log" || tail -n 1 "$log"; } | tail -n 1 | sed 's/^skip //'))"
    elif [ "$f" -eq 0 ]; then
        echo "ok   $name ($p checks$([ "$s" -eq 0 ] || echo ", $s skipped"))"
    else
        echo "FAIL $name ($f of $((p + f)) failed, exit $rc; log $log)"
        run_show_failure "$log"
        [ -z "$san" ] || echo "$san"
    fi
}

run_close() {
    echo "$RUN_LABEL: $RUN_PASSED passed, $RUN_FAILED failed, $RUN_SKIPPED skipped"
    [ -z "${SHIMFS_RUN_SUMMARY:-}" ] ||
        echo "$RUN_PASSED $RUN_FAILED $RUN_SKIPPED" > "$SHIMFS_RUN_SUMMARY"
    [ "$RUN_FAILED" -eq 0 ]
    exit
}

run_main() {
    local word test
    if [ "${1:-}" = --label ]; then RUN_LABEL=$2; shift 2; fi
    if [ -z "$RUN_LABEL" ]; then
        case "$#:${1:-}" in 1:unit|1:integration) RUN_LABEL=$1 ;; *) RUN_LABEL=tests ;; esac
    fi
    for word in "$@"; do
        while IFS= read -r test; do RUN_TESTS+=("$test"); done < <(run_expand "$word")
    done
    trap run_interrupted INT TERM
    if ! san_setup; then RUN_FAILED=1; run_close; fi
    if [ ${#RUN_TESTS[@]} -gt 0 ] && run_needs_services; then
        if [ ! -f "$RUN_ENV" ]; then
            trap '"$RUN_SCRIPTS/services.sh" stop' EXIT
            "$RUN_SCRIPTS/services.sh" start || { RUN_FAILED=1; run_close; }
        fi
        # shellcheck source=/dev/null
        . "$RUN_ENV"
    fi
    for test in "${RUN_TESTS[@]}"; do run_one "$test"; done
    run_close
}

run_main "$@"

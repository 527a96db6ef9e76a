#!/usr/bin/env bash
# scripts/check.sh UNIT_BIN... — what `make check` runs once everything is
# built: starts the test services, runs the unit tests, then the
# integration tests, then each fuzz target for FUZZ_SECONDS (not under
# SANITIZE=1: they are sanitized builds already), and stops the services on any exit (success, failure,
# Ctrl-C, SIGTERM). Closes with the grand total `N passed, N failed,
# N skipped` and exits non-zero on any failure. The build tested is
# $SHIMFS_BUILD; SHIMFS_SANITIZE=1 runs it under the sanitizers
# (scripts/sanitize.sh); both come from the Makefile.
set -uo pipefail

CK_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CK_LOGS=$(dirname "$CK_SCRIPTS")/.scratch/logs
CK_PASSED=0
CK_FAILED=0
CK_SKIPPED=0
CK_CHILD=

ck_stop_services() { "$CK_SCRIPTS/services.sh" stop || true; }

# The runner's own traps stop its test; then the EXIT trap stops services.
ck_interrupted() {
    [ -z "$CK_CHILD" ] || kill -TERM "$CK_CHILD" 2>/dev/null
    wait
    echo "check: interrupted"
    exit 130
}

# Runs the test runner on one group in the background (so that a signal
# reaches this script at once) and adds in the counts it leaves in its
# summary file.
ck_run() {
    local word=$1 summary p f s; shift
    summary=$CK_LOGS/$word.summary
    rm -f "$summary"
    SHIMFS_RUN_SUMMARY=$summary "$@" &
    CK_CHILD=$!
    wait "$CK_CHILD"
    CK_CHILD=
    if ! read -r p f s < "$summary" 2>/dev/null; then
        echo "check: the $word runner left no counts"
        p=0; f=1
    fi
    CK_PASSED=$((CK_PASSED + p)); CK_FAILED=$((CK_FAILED + f)); CK_SKIPPED=$((CK_SKIPPED + ${s:-0}))
}

ck_main() {
    mkdir -p "$CK_LOGS"
    trap ck_stop_services EXIT
    trap ck_interrupted INT TERM
    if ! "$CK_SCRIPTS/services.sh" start; then
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    ck_run unit "$CK_SCRIPTS/run-tests.sh" --label unit "$@"
    ck_run integration "$CK_SCRIPTS/run-tests.sh" integration
    # The fuzz targets carry their own sanitizers: once, in the normal pass.
    [ "${SHIMFS_SANITIZE:-}" = 1 ] || ck_run fuzz "$CK_SCRIPTS/run-fuzz.sh"
    echo "$CK_PASSED passed, $CK_FAILED failed, $CK_SKIPPED skipped"
    [ "$CK_FAILED" -eq 0 ]
}

ck_main "$@"

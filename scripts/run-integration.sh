#!/usr/bin/env bash
# scripts/run-integration.sh — runs every integration test against the test
# services: each tests/integration/*.sh but lib.sh (closing line `N passed,
# N failed`, from lib.sh) and each build/itests/test_* Check program.
# Each runs under `timeout 600` (SHIMFS_TEST_TIMEOUT overrides); output goes
# to .scratch/logs/integration/ and is shown only on failure. Uses running
# services (.scratch/services/env); starts and afterwards stops them itself
# when none are running. The programs and libraries tested are those of
# $SHIMFS_BUILD (scripts/sanitize.sh). Closes with `integration: N passed,
# N failed, N skipped` (also written as `N N N` to $SHIMFS_RUN_SUMMARY when
# set) and exits non-zero on any failure; a script that crashed, timed out
# or printed no closing line counts as a failure; one that exits 77 (lib.sh's
# skip_test: a service or tool it needs is missing) as skipped. Under
# SHIMFS_SANITIZE=1 a sanitizer report fails the test that caused it.
set -uo pipefail

IT_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_ROOT=$(dirname "$IT_SCRIPTS")
# shellcheck source=scripts/sanitize.sh
. "$IT_SCRIPTS/sanitize.sh"
IT_LOGS=$IT_ROOT/.scratch/logs/integration
IT_ENV=${SHIMFS_SERVICES_DIR:-$IT_ROOT/.scratch/services}/env
IT_TIMEOUT=${SHIMFS_TEST_TIMEOUT:-600}
IT_PASSED=0
IT_FAILED=0
IT_SKIPPED=0
IT_SKIP=77
IT_CHILD=

# Runs CMD in the background and waits, so that Ctrl-C or SIGTERM reaches
# this script at once; timeout(1) runs CMD in its own process group, which
# the terminal's Ctrl-C would not reach.
it_bounded() {
    local log=$1 rc; shift
    timeout -k 10 "$IT_TIMEOUT" "$@" </dev/null >"$log" 2>&1 &
    IT_CHILD=$!
    wait "$IT_CHILD"; rc=$?
    IT_CHILD=
    return "$rc"
}

it_interrupted() {
    [ -z "$IT_CHILD" ] || kill -TERM "$IT_CHILD" 2>/dev/null
    wait
    echo "integration: interrupted"
    exit 130
}

it_run_script() {
    local script=$1 name log rc p f s san
    name=$(basename "$script" .sh)
    log=$IT_LOGS/$name.log
    san_begin "integration/$name" noleaks
    it_bounded "$log" bash "$script"
    rc=$?
    read -r p f s < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$log" | tail -n 1)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    [ "$rc" -eq 124 ] && echo "timeout: $name ran past $IT_TIMEOUT s" >> "$log"
    san=$(san_reports "integration/$name") || f=$((f + 1))
    if [ "$rc" -eq "$IT_SKIP" ] && [ "$f" -eq 0 ]; then
        [ "$s" -gt 0 ] || s=1
    else
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        if [ $((p + f + s)) -eq 0 ]; then echo "no closing line" >> "$log"; f=1; fi
    fi
    IT_PASSED=$((IT_PASSED + p)); IT_FAILED=$((IT_FAILED + f)); IT_SKIPPED=$((IT_SKIPPED + s))
    if [ "$f" -eq 0 ] && [ "$rc" -eq "$IT_SKIP" ]; then
        echo "skip $name ($(sed -n 's/^skip //p' "$log" | tail -n 1))"
    elif [ "$f" -eq 0 ]; then
        echo "ok   $name ($p checks$([ "$s" -eq 0 ] || echo ", $s skipped"))"
    else
        echo "FAIL $name ($f of $((p + f)) failed, exit $rc; log $log)"
        { grep -E '^FAIL ' "$log" || tail -n 40 "$log"; } | head -n 40 | sed 's/^/    /'
        [ -z "$san" ] || echo "$san"
    fi
}

# The Check programs go through run-unit.sh, whose counts are added in.
it_run_programs() {
    local summary p f s
    summary=$IT_LOGS/itests.summary
    rm -f "$summary"
    CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120} SHIMFS_RUN_SUMMARY=$summary \
        "$IT_SCRIPTS/run-unit.sh" --label itests "$@" &
    IT_CHILD=$!
    wait "$IT_CHILD"
    IT_CHILD=
    read -r p f s < "$summary" 2>/dev/null
    IT_PASSED=$((IT_PASSED + ${p:-0})); IT_FAILED=$((IT_FAILED + ${f:-1}))
    IT_SKIPPED=$((IT_SKIPPED + ${s:-0}))
}

it_main() {
    local script progs=()
    mkdir -p "$IT_LOGS"
    trap it_interrupted INT TERM
    san_setup || { echo "integration: 0 passed, 1 failed, 0 skipped"; exit 1; }
    if [ ! -f "$IT_ENV" ]; then
        trap '"$IT_SCRIPTS/services.sh" stop' EXIT
        "$IT_SCRIPTS/services.sh" start || { echo "integration: 0 passed, 1 failed, 0 skipped"; exit 1; }
    fi
    # shellcheck source=/dev/null
    . "$IT_ENV"
    for script in "$IT_ROOT"/tests/integration/*.sh; do
        if [ -f "$script" ] && [ "$(basename "$script")" != lib.sh ]; then
            it_run_script "$script"
        fi
    done
    for script in "$SHIMFS_BUILD"/itests/test_*; do
        [ -x "$script" ] && progs+=("$script")
    done
    [ ${#progs[@]} -eq 0 ] || it_run_programs "${progs[@]}"
    echo "integration: $IT_PASSED passed, $IT_FAILED failed, $IT_SKIPPED skipped"
    [ -z "${SHIMFS_RUN_SUMMARY:-}" ] ||
        echo "$IT_PASSED $IT_FAILED $IT_SKIPPED" > "$SHIMFS_RUN_SUMMARY"
    [ "$IT_FAILED" -eq 0 ]
}

it_main "$@"

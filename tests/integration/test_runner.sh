#!/usr/bin/env bash
# tests/integration/test_runner.sh — the one test runner (scripts/run-tests.sh)
# counts what every test says, the way make check relies on: a Check
# program's summary lines, a shell test's closing line, exit 77 as
# skipped, a crash, a timeout, a non-zero exit or a test that counted
# nothing as a failure; its closing line and summary file carry the totals
# and its exit status says whether anything failed. Fake tests in the
# scratch folder stand in for real ones (the runner tells them apart by
# name: *.sh is a shell test, anything else a Check program); a fake
# services folder with an empty env file keeps the runner from starting
# services. Needs no service.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

FAKE=$TEST_SCRATCH/fake
mkdir -p "$FAKE" "$TEST_SCRATCH/services"
: > "$TEST_SCRATCH/services/env"

fake() {
    printf '#!/usr/bin/env bash\n%s\n' "$2" > "$FAKE/$1"
    chmod +x "$FAKE/$1"
}
fake runner_ck_ok 'echo "100%: Checks: 3, Failures: 0, Errors: 0"'
fake runner_ck_two 'echo "100%: Checks: 1, Failures: 0, Errors: 0"; echo "50%: Checks: 2, Failures: 0, Errors: 1"
echo "t.c:9:E:core:t_x:0: boom"; exit 1'
fake runner_ck_skip 'echo "skip runner_ck_skip: frobnicator is not installed"; exit 77'
fake runner_ck_crash 'echo "100%: Checks: 1, Failures: 0, Errors: 0"; ulimit -c 0; kill -SEGV $$'
fake runner_ck_slow 'sleep 30'
fake runner_ck_silent 'exit 0'
fake runner_sh_ok.sh 'echo "ok   a"; echo "2 passed, 0 failed, 1 skipped"'
fake runner_sh_skip.sh 'echo "skip runner_sh_skip: no frobnicator"; echo "0 passed, 0 failed, 1 skipped"; exit 77'
fake runner_sh_fail.sh 'echo "FAIL the answer"; echo "1 passed, 1 failed"; exit 1'
fake runner_sh_noline.sh 'echo "ok   something"'

# Runs the runner on fake tests; its output in $OUT, exit status in $RC.
run() {
    RC=0
    OUT=$(SHIMFS_SERVICES_DIR=$TEST_SCRATCH/services SHIMFS_TEST_TIMEOUT=3 \
          SHIMFS_RUN_SUMMARY=$TEST_SCRATCH/summary \
          "$TEST_ROOT/scripts/run-tests.sh" --label fake "$@" 2>&1) || RC=$?
}
has_line() { grep -qxF -- "$1" <<<"$OUT"; }

run "$FAKE/runner_ck_ok" "$FAKE/runner_sh_ok.sh" "$FAKE/runner_ck_skip" "$FAKE/runner_sh_skip.sh"
assert_eq 0 "$RC" "passing and skipped tests: exit 0"
assert_eq "fake: 5 passed, 0 failed, 3 skipped" "$(tail -n 1 <<<"$OUT")" "closing line of a clean run"
assert_eq "5 0 3" "$(cat "$TEST_SCRATCH/summary")" "summary file of a clean run"
check "a Check program's checks are counted" has_line "ok   runner_ck_ok (3 checks)"
check "a shell test's skipped checks are shown" has_line "ok   runner_sh_ok (2 checks, 1 skipped)"
check "a Check program exiting 77 is skipped, with its reason" \
    has_line "skip runner_ck_skip (runner_ck_skip: frobnicator is not installed)"
check "a shell test exiting 77 is skipped, with its reason" \
    has_line "skip runner_sh_skip (runner_sh_skip: no frobnicator)"

run "$FAKE/runner_ck_two" "$FAKE/runner_ck_crash" "$FAKE/runner_ck_slow" "$FAKE/runner_ck_silent" \
    "$FAKE/runner_sh_fail.sh" "$FAKE/runner_sh_noline.sh" runner_no_such_test
[ "$RC" -ne 0 ] && pass "failures: exit non-zero" || fail "failures: exit 0"
# passed/failed: two 2/1 (1 + 2 checks, 1 error), crash 1/1, sh_fail 1/1;
# slow, silent, noline and the missing test 0/1 each.
assert_eq "fake: 4 passed, 7 failed, 0 skipped" "$(tail -n 1 <<<"$OUT")" "closing line with failures"
assert_eq "4 7 0" "$(cat "$TEST_SCRATCH/summary")" "summary file with failures"
check "every summary line of a Check program counts" \
    grep -q "^FAIL runner_ck_two (1 of 3 failed, exit 1;" <<<"$OUT"
check "a Check failure line is shown" grep -qF "t.c:9:E:core:t_x:0: boom" <<<"$OUT"
check "a crash fails" grep -q "^FAIL runner_ck_crash (1 of 2 failed, exit 139;" <<<"$OUT"
check "a timeout fails" grep -q "^FAIL runner_ck_slow (1 of 1 failed, exit 124;" <<<"$OUT"
check "a timeout is said in the log" \
    grep -qx "timeout: runner_ck_slow ran past 3 s" "$TEST_ROOT/.scratch/logs/unit/runner_ck_slow.log"
check "a program that ran no check fails" grep -q "^FAIL runner_ck_silent " <<<"$OUT"
check "a shell test's FAIL lines are shown" has_line "    FAIL the answer"
check "a shell test without a closing line fails" grep -q "^FAIL runner_sh_noline " <<<"$OUT"
check "a test that does not exist fails" grep -q "^FAIL runner_no_such_test: " <<<"$OUT"

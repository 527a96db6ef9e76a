#!/usr/bin/env bash
# scripts/run-fuzz.sh [SECONDS] — runs every libFuzzer target of
# build/fuzz/ (tests/fuzz/fuzz_*.c, built by `make fuzz`) for SECONDS each
# (default $FUZZ_SECONDS or 15), two at a time. Each starts from its seed
# corpus tests/fuzz/corpus/NAME/ (which holds the regressions: every input
# that once crashed) copied into .scratch/fuzz/NAME/, so new inputs never
# land in the repository. A crash, leak, timeout (10 s per input) or
# out-of-memory (2 GiB) fails the target and prints the sanitizer report,
# the reproducer's bytes and the command that replays it. A target not
# built (no clang) is skipped. Closes with `fuzz: N passed, N failed,
# N skipped` (also `N N N` to $SHIMFS_RUN_SUMMARY) and exits non-zero on
# any failure.
set -uo pipefail

FZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FZ_SECONDS=${1:-${FUZZ_SECONDS:-15}}
FZ_BUILD=$FZ_ROOT/build/fuzz
FZ_WORK=$FZ_ROOT/.scratch/fuzz

# One target, in the background: its exit status and output in its folder.
fz_start() {
    local name=$1 work=$FZ_WORK/$1
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp -a "$FZ_ROOT/tests/fuzz/corpus/$name/." "$work/corpus/" 2>/dev/null
    ( cd "$work" && timeout -k 10 $((FZ_SECONDS + 120)) "$FZ_BUILD/$name" \
          -max_total_time="$FZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
          -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
          "$work/corpus" "$FZ_ROOT/tests/fuzz/corpus/$name" \
          </dev/null >"$work/log" 2>&1; echo $? > "$work/rc" ) &
}

fz_report() {
    local name=$1 work=$FZ_WORK/$1 rc art runs
    rc=$(cat "$work/rc" 2>/dev/null || echo 1)
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$work/log" | tail -n 1)
    art=$(find "$work/artifacts" -type f | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$art" ]; then
        echo "ok   $name (${runs:-?} inputs in ${FZ_SECONDS} s)"
        return 0
    fi
    echo "FAIL $name (exit $rc; log $work/log)"
    grep -E '^(==[0-9]+==|SUMMARY|    #[0-9] |.*runtime error|.*Assertion)' "$work/log" | head -n 30 | sed 's/^/    /'
    if [ -n "$art" ]; then
        echo "    reproducer: $art ($(stat -c %s "$art") bytes):"
        od -A d -c "$art" | head -n 16 | sed 's/^/      /'
        echo "    replay: $FZ_BUILD/$name $art"
        echo "    once fixed, keep it: cp $art tests/fuzz/corpus/$name/"
    fi
    return 1
}

fz_main() {
    local passed=0 failed=0 skipped=0 src name running=() n
    mkdir -p "$FZ_WORK"
    for src in "$FZ_ROOT"/tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        if [ ! -x "$FZ_BUILD/$name" ]; then
            echo "skip $name: not built (make fuzz needs clang)"
            skipped=$((skipped + 1))
            continue
        fi
        fz_start "$name"
        running+=("$name")
        if [ ${#running[@]} -eq 2 ]; then
            wait
            for n in "${running[@]}"; do
                if fz_report "$n"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
            done
            running=()
        fi
    done
    wait
    for n in "${running[@]}"; do
        if fz_report "$n"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "fuzz: $passed passed, $failed failed, $skipped skipped"
    [ -z "${SHIMFS_RUN_SUMMARY:-}" ] || echo "$passed $failed $skipped" > "$SHIMFS_RUN_SUMMARY"
    [ "$failed" -eq 0 ]
}

fz_main

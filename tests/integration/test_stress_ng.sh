#!/usr/bin/env bash
# tests/integration/test_stress_ng.sh — stress-ng's file stressors run on a
# volume folder under the shim, each for a short while with --verify, and
# complete without a failure line. iomix (several processes writing,
# truncating and reading one file) failed with EIO when a reader's block
# map kept changing under it; utime failed with ENOENT through raw
# syscall(); seek (random small writes) took 145 s for a 3 s run: each
# write became an object PUT at close. Each stressor is bounded by `timeout`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd stress-ng

PREFIX=/mnt/shimfs-stress-$$
test_volume stressng
mkdir -p "$TEST_SCRATCH/cache"
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
check "a folder" shim mkdir "$PREFIX/s"
STRESSORS=${STRESS_NG_STRESSORS:-"iomix seek utime rename open hdd link symlink fallocate lockf flock fcntl chmod copy-file getdent readahead sync-file filename"}
for s in $STRESSORS; do
    if [ "${SHIMFS_SANITIZE:-0}" = 1 ] && [ "$s" = fallocate ]; then
        # its children call libbsd's setproctitle, where ASan reports on
        # the argv area and then fails its own CHECK (asan_thread.cpp:371,
        # "ignoring __asan_handle_no_return": its idea of the main stack is
        # wrong). It happens only with the sanitized shim preloaded (ASan
        # alone, and the normal build, pass); not understood yet: see the
        # closing note of the session that added this test
        skip "stress-ng --fallocate under SANITIZE=1 (ASan fails in stress-ng's setproctitle)"
        continue
    fi
    log=$TEST_SCRATCH/$s.log
    rc=0
    shim timeout -k 10 120 sh -c "cd $PREFIX/s && exec stress-ng --$s 1 -t 2s --verify --temp-path $PREFIX/s" \
        > "$log" 2>&1 || rc=$?
    bad=$(grep -E 'fail:|unsuccessful|error:' "$log" | head -3 || true)
    if [ "$rc" -eq 0 ] && [ -z "$bad" ] && grep -q 'successful run completed' "$log"; then
        pass "stress-ng --$s"
    else
        fail "stress-ng --$s (exit $rc): ${bad:-$(tail -3 "$log")}"
    fi
done

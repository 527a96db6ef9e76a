#!/usr/bin/env bash
# tests/integration/test_glibc_paths.sh — calls whose file access glibc
# makes internally (remove, pathconf, glob) and raw syscall() of the path
# and descriptor calls work on volume paths as on a local disk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
TOOL=$SHIMFS_BUILD/tools/shim_glibc_paths
[ -x "$TOOL" ] || skip_test "$TOOL is not built"

PREFIX=/mnt/shimfs-glibc-$$
test_volume glibcpaths
mkdir -p "$TEST_SCRATCH/cache"
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=warn "$@"
}
check "a folder" shim mkdir "$PREFIX/d"
out=$(shim "$TOOL" "$PREFIX/d" 2>&1) || fail "the tool exited with $?: $out"
want() { echo "$out" | grep -qx -- "$1" && pass "$2" || fail "$2: expected '$1' in: $out"; }
want 'glob 0 2' "glob of an absolute volume pattern"
want 'glob-relative 0 2' "glob relative to a cwd in the volume"
want "glob-nomatch $(printf '%d' 3)" "glob without a match: GLOB_NOMATCH"
want 'pathconf 255 0' "pathconf(_PC_NAME_MAX)"
want 'pathconf-missing -1 ENOENT' "pathconf of a missing path: ENOENT"
want 'raw-openat 0 3 abc' "raw SYS_openat + SYS_read"
want 'raw-newfstatat 0 3' "raw SYS_newfstatat"
want 'raw-data 5 0 0 4 4 1234' "raw SYS_pwrite64, ftruncate, fsync, lseek, pread64 on a volume descriptor"
want 'raw-utime 0 2000 0 4000' "raw SYS_utimensat and SYS_utime (stress-ng's utime stressor)"
want 'raw-close 0' "raw SYS_close of a volume descriptor"
want 'raw-mkdirat 0' "raw SYS_mkdirat"
want 'raw-renameat2 0' "raw SYS_renameat2"
want 'raw-unlinkat 0' "raw SYS_unlinkat"
want 'remove-file 0' "remove of a file"
want 'remove-dir 0' "remove of an empty folder"
want 'remove-missing ENOENT' "remove of a missing name: ENOENT"
assert_eq "" "$(shim ls "$PREFIX/d")" "everything removed"

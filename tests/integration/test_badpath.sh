#!/usr/bin/env bash
# tests/integration/test_badpath.sh — a bad path pointer never crashes the
# host program (issue 12: mkdir((char *)0xdeadc0de) and a NULL second path
# of rename/link/symlink segfaulted under the shim, even with the cwd
# outside the prefix; the kernel answers EFAULT). shim_badpath calls every
# path-taking intercepted function with NULL and 0xdeadc0de in each path
# (and xattr name) argument; under the shim the answers must be those of
# the native run on a local directory: the valid arguments in the volume
# or outside it, the cwd inside the volume or outside.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
# Under SANITIZE=1 the ASan runtime is preloaded before the shim and its own
# interceptors (fopen, stat, ...) read every path first: they crash on these
# pointers before the shim can answer. The normal pass tests the shim.
[ "${SHIMFS_SANITIZE:-}" != 1 ] ||
    skip_test "ASan's interceptors read bad pointers before the shim does (tested in the normal pass)"

TOOL=$SHIMFS_BUILD/tools/shim_badpath
[ -x "$TOOL" ] || { fail "missing $TOOL (make integration builds it)"; exit 1; }
PREFIX=/mnt/shimfs-badpath-$$
VOL=$PREFIX/v
test_volume badpath

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

LOCAL=$TEST_SCRATCH/local
mkdir -p "$LOCAL/d" && touch "$LOCAL/f"
check "volume dir" shim sh -c 'mkdir -p "$1/d" && touch "$1/f"' _ "$VOL"

(cd "$LOCAL" && timeout 120 "$TOOL" "$LOCAL") > "$TEST_SCRATCH/native" 2>&1 || true
assert_eq 192 "$(grep -c ' -> ' "$TEST_SCRATCH/native")" "native run: 96 calls x 2 pointers"

# run NAME CWD DIR: under the shim, from CWD, valid arguments in DIR. Each
# line must be the native one; where glibc itself crashes natively (opendir,
# ftw, realpath of 0xdeadc0de) EFAULT is accepted too.
run() {
    local name=$1 cwd=$2 dir=$3 out=$TEST_SCRATCH/$1
    shim sh -c 'cd "$1" && exec timeout 120 "$2" "$3"' _ "$cwd" "$TOOL" "$dir" > "$out" 2>&1 || true
    assert_eq "192" "$(grep -c ' -> ' "$out")" "$name: every case ran"
    assert_eq "" "$(paste -d'|' "$TEST_SCRATCH/native" "$out" | awk -F'|' '
        $1 == $2 { next }
        { split($1, n, " -> "); split($2, s, " -> ") }
        n[1] == s[1] && n[2] ~ /^signal/ && s[2] == "-1 EFAULT" { next }
        { print }' | head -20)" "$name: the native answers, never a crash the native run has not"
}
run "volume args, cwd outside" "$LOCAL" "$VOL"
run "volume args, cwd inside" "$VOL/d" "$VOL"
run "host args, cwd outside" "$LOCAL" "$LOCAL"
run "host args, cwd inside" "$VOL/d" "$LOCAL"

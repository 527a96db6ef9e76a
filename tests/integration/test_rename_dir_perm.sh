#!/usr/bin/env bash
# tests/integration/test_rename_dir_perm.sh — moving a directory to
# another parent rewrites its "..", so, as on a local disk, it needs write
# permission on the directory itself (EACCES without it, the tree
# unchanged); a rename within the same parent does not; root may.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-rnperm-$$
test_volume rnperm
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
check "two folders of nobody's and root's folder in the first" shim sh -c \
    "mkdir -m 755 $PREFIX/a $PREFIX/b && chown nobody $PREFIX/a $PREFIX/b && mkdir -m 755 $PREFIX/a/r"

cat > "$TEST_SCRATCH/mv.py" <<'PY'
import errno, os, sys
def attempt(what, a, b):
    try:
        os.rename(a, b); r = "0"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print(what, r)
p = sys.argv[1]
attempt("to another parent", p + "/a/r", p + "/b/r")
attempt("within its parent", p + "/a/r", p + "/a/s")
PY
out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" python3 "$TEST_SCRATCH/mv.py" "$PREFIX" 2>&1) || true
echo "$out" | grep -qx "to another parent EACCES" && pass "nobody: root's folder to another parent: EACCES" ||
    fail "nobody: $out"
echo "$out" | grep -qx "within its parent 0" && pass "nobody: root's folder renamed within its parent" ||
    fail "nobody: $out"
assert_eq "s" "$(shim ls "$PREFIX/a")" "a holds it, renamed"
assert_eq "" "$(shim ls "$PREFIX/b")" "b is empty"
check "root: to another parent" shim mv "$PREFIX/a/s" "$PREFIX/b/s"

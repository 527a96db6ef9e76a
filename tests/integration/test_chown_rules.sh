#!/usr/bin/env bash
# tests/integration/test_chown_rules.sh — chown by a user other than root
# follows the kernel's chown_ok/chgrp_ok: only the owner may name the
# owner (unchanged) or a group it belongs to (or the file's own), and a
# no-op chown by anyone else is EPERM; root may do anything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-chown-$$
test_volume chown
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
NOGROUP=$(id -g nobody)
check "files of root and of nobody" shim sh -c "mkdir -m 777 $PREFIX/d && touch $PREFIX/d/r $PREFIX/d/n && chown nobody:$NOGROUP $PREFIX/d/n"

cat > "$TEST_SCRATCH/chown.py" <<'PY'
import errno, os, sys
def attempt(what, path, uid, gid):
    try:
        os.chown(path, uid, gid); r = "0"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print(what, r)
d, nobody, nogroup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
attempt("root's file, no-op owner", d + "/r", 0, -1)
attempt("root's file, no-op group", d + "/r", -1, 0)
attempt("root's file, nothing", d + "/r", -1, -1)
attempt("own file, same owner and group", d + "/n", nobody, nogroup)
attempt("own file, group root", d + "/n", -1, 0)
attempt("own file, owner root", d + "/n", 0, -1)
PY
out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" python3 "$TEST_SCRATCH/chown.py" "$PREFIX/d" "$(id -u nobody)" "$NOGROUP" 2>&1) || true
for want in "root's file, no-op owner EPERM" "root's file, no-op group EPERM" "root's file, nothing 0" \
            "own file, same owner and group 0" "own file, group root EPERM" "own file, owner root EPERM"; do
    echo "$out" | grep -qxF "$want" && pass "nobody: $want" || fail "nobody: want '$want' in: $out"
done
check "root: chown of nobody's file to root" shim chown 0:0 "$PREFIX/d/n"
assert_eq "0:0" "$(shim stat -c %u:%g "$PREFIX/d/n")" "root's chown landed"

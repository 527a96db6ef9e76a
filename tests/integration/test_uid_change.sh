#!/usr/bin/env bash
# tests/integration/test_uid_change.sh — a process that gives up root
# before touching the volume (setuid, seteuid, setresuid, as pjdfstest -u,
# su and daemons do) cannot open the node's root-owned shared metadata
# afterwards; its commits must still invalidate what the node's other
# processes cached, so the next root process sees its change at once
# (not after the TTLs).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3

PREFIX=/mnt/shimfs-uid-$$
test_volume uid
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error SHIMFS_ATTR_TTL=60 \
        SHIMFS_ENTRY_TTL=60 "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
check "a folder and files owned by nobody" shim sh -c "mkdir -m 777 $PREFIX/d && touch $PREFIX/d/a $PREFIX/d/b $PREFIX/d/c && chown 65534:65534 $PREFIX/d/a $PREFIX/d/b $PREFIX/d/c"

cat > "$TEST_SCRATCH/as_nobody.py" <<'PY'
import os, sys
how, path = sys.argv[1], sys.argv[2]
os.setgid(65534)
if how == "setuid":
    os.setuid(65534)
elif how == "seteuid":
    os.seteuid(65534)
else:
    os.setresuid(65534, 65534, 65534)
os.chmod(path, 0o600)
os.close(os.open(path + ".new", os.O_CREAT | os.O_WRONLY, 0o644))
PY
for how_file in setuid:a seteuid:b setresuid:c; do
    how=${how_file%%:*} f=$PREFIX/d/${how_file#*:}
    # the node's processes have the folder and the file cached
    shim sh -c "ls -l $PREFIX/d > /dev/null; stat -c %a $f > /dev/null"
    check "$how, then chmod and create" shim python3 "$TEST_SCRATCH/as_nobody.py" "$how" "$f"
    assert_eq "600" "$(shim stat -c %a "$f")" "after $how: the next process sees the new mode"
    assert_eq "yes" "$(shim sh -c "ls $PREFIX/d | grep -qx ${f##*/}.new && echo yes || echo no")" \
        "after $how: the next process lists the new file"
done

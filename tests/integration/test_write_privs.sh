#!/usr/bin/env bash
# tests/integration/test_write_privs.sh — a write by a user other than
# root clears setuid, and setgid when the group may execute, as the
# kernel does (file_remove_privs): seen by fstat in the writer and by stat
# in a later process. A write by root keeps them; setgid without group
# execute (mandatory locking) is kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-privs-$$
test_volume privs
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
check "files with setuid/setgid" shim python3 -c '
import os, sys
os.umask(0)
d = sys.argv[1]
os.mkdir(d, 0o777)
for name, mode in (("u", 0o4777), ("g", 0o2777), ("ug", 0o6777), ("gnox", 0o2767), ("root", 0o6777)):
    os.close(os.open(os.path.join(d, name), os.O_CREAT | os.O_WRONLY, mode))
    os.chmod(os.path.join(d, name), mode)
' "$PREFIX/d"

cat > "$TEST_SCRATCH/write.py" <<'PY'
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_WRONLY)
    os.write(fd, b"x")
    print(os.path.basename(p), "%o" % (os.fstat(fd).st_mode & 0o7777))
    os.close(fd)
PY
out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" python3 "$TEST_SCRATCH/write.py" "$PREFIX/d/u" "$PREFIX/d/g" \
      "$PREFIX/d/ug" "$PREFIX/d/gnox" 2>&1) || true
assert_eq "u 777 g 777 ug 777 gnox 2767" "$(echo $out)" "fstat in the writer (nobody)"
out=$(shim python3 "$TEST_SCRATCH/write.py" "$PREFIX/d/root" 2>&1) || true
assert_eq "root 6777" "$out" "a write by root keeps them"
out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" stat -c '%n %a' "$PREFIX/d/u" "$PREFIX/d/ug" "$PREFIX/d/gnox" 2>&1) || true
assert_eq "$PREFIX/d/u 777 $PREFIX/d/ug 777 $PREFIX/d/gnox 2767" "$(echo $out)" "stat in a later process"

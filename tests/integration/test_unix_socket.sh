#!/usr/bin/env bash
# tests/integration/test_unix_socket.sh — an AF_UNIX socket bound at a
# volume path is a volume inode: stat and readdir show a socket, another
# process of the node connects to it by that path and talks to it, bind
# over an existing name is EADDRINUSE, connect needs write permission on
# the socket (EACCES for another user), and unlink removes the name.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-sock-$$
test_volume sock
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
check "a folder" shim sh -c "mkdir $PREFIX/d && chmod 755 $PREFIX/d"

cat > "$TEST_SCRATCH/server.py" <<'PY'
import os, socket, sys
path, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o700)
s.listen(1)
s.settimeout(30)
open(ready, "w").close()
c, _ = s.accept()
c.sendall(b"hello " + c.recv(64))
c.close()
PY
cat > "$TEST_SCRATCH/client.py" <<'PY'
import errno, os, socket, stat, sys
path = sys.argv[1]
st = os.lstat(path)
print("type", "socket" if stat.S_ISSOCK(st.st_mode) else "other")
print("listed", [e.name for e in os.scandir(os.path.dirname(path))])
try:
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); b.bind(path); print("rebind 0")
except OSError as e:
    print("rebind", errno.errorcode[e.errno])
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(30)
try:
    c.connect(path)
except OSError as e:
    print("connect", errno.errorcode[e.errno]); sys.exit(0)
c.sendall(b"world")
print("reply", c.recv(64).decode())
PY
rm -f "$TEST_SCRATCH/ready"
shim python3 "$TEST_SCRATCH/server.py" "$PREFIX/d/s" "$TEST_SCRATCH/ready" &
srv=$!
wait_for 30 test -e "$TEST_SCRATCH/ready" || fail "the server did not bind"
out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" python3 "$TEST_SCRATCH/client.py" "$PREFIX/d/s" 2>&1) || true
echo "$out" | grep -q '^connect EACCES$' && pass "nobody: connect without write permission: EACCES" ||
    fail "nobody: $out"
out=$(shim python3 "$TEST_SCRATCH/client.py" "$PREFIX/d/s" 2>&1) || true
echo "$out" | grep -q '^type socket$' && pass "stat: a socket" || fail "stat: $out"
echo "$out" | grep -q "^listed \['s'\]$" && pass "readdir lists it" || fail "readdir: $out"
echo "$out" | grep -q '^rebind EADDRINUSE$' && pass "bind over it: EADDRINUSE" || fail "rebind: $out"
echo "$out" | grep -q '^reply hello world$' && pass "another process connects and talks" || fail "talk: $out"
wait_bounded "$srv" 30 "the server"
check "unlink the socket" shim rm "$PREFIX/d/s"
assert_eq "" "$(shim ls "$PREFIX/d")" "nothing left"

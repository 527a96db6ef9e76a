#!/usr/bin/env bash
# tests/integration/test_attr_commit.sh — chmod, chown and utimens cost one
# round trip, and none of their own through the descriptor that is writing
# a new file (tar, cp -p), against a private PostgreSQL cluster that counts
# statements (pg_stat_statements):
#  - tar's pattern (create 0600, write, futimens, a no-op fchown, fchmod
#    0644, close): the three changes go in the close's commit (one setattr
#    statement, no lock step); another process sees the file empty and 0600
#    (nobody cannot read it) until the close, then its bytes, times and
#    mode at once (nobody can); the writer's own fstat shows them before;
#  - an empty new file: its changes go in at close, one statement;
#  - a chmod through the descriptor that takes a permission away applies
#    at once (another process sees it before the close, and a second local
#    user, nobody, cannot read the file from then on);
#  - a write after futimens: the write's time wins, as on a local disk;
#  - a chmod of the same file by path after a deferred fchmod wins (it was
#    later): the deferred mode goes in only over the mode it replaced;
#  - fsync commits the deferred changes with the bytes;
#  - futimens through a descriptor of an existing file: its bytes commit
#    first, then the times, which its fstat shows (it showed the write's);
#  - chmod, chown and utimens by path: one statement each, committed
#    without waiting for the disk, and durable at the process's exit;
#  - GNU tar extracting an archive gives every file its mode and mtime.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 psql tar

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-attr-$$
counting_pg_volume attrcommit

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-${NODE:-w}" SHIMFS_LOG=error SHIMFS_AGENT=0 "$@"
}
calls_like() {
    su_sql -d shimfs -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '$1'"
}
setattr_calls() { calls_like 'UPDATE inode n SET mode = CASE%'; }   # MS_SETATTR_SOME
lock_calls() { calls_like '%FOR UPDATE%'; }                          # any lock step
async_calls() { calls_like 'SELECT set_config($1, $2, $3)'; }
insert_lsn() { su_sql -d shimfs -c "SELECT pg_current_wal_insert_lsn()"; }
flushed_past() { [ "$(su_sql -d shimfs -c "SELECT pg_current_wal_flush_lsn() >= '$1'::pg_lsn")" = t ]; }
# a second local user's try at reading it (nobody, a fresh node's cache
# folder of its own): "read" or the errno's name
as_nobody_read() {
    local c=$TEST_SCRATCH/nobody-$(date +%s%N)
    mkdir -m 0777 "$c"
    env SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" SHIMFS_LOG=error SHIMFS_AGENT=0 \
        SHIMFS_CACHE_DIR="$c/cache" setpriv --reuid nobody --regid "$(id -g nobody)" \
        --clear-groups -- env LD_PRELOAD="$SHIMFS_PRELOAD" "$PY" -c '
import errno, sys
try:
    open(sys.argv[1], "rb").read(); print("read")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
# a fresh node's view (a node that looked before may answer a stat from
# its caches within the TTL): mode, mtime (s), size, content
view() { NODE=r$(date +%s%N) shim "$PY" -c '
import os, sys
st = os.stat(sys.argv[1])
print("%o %d %d %s" % (st.st_mode & 0o7777, st.st_mtime, st.st_size, open(sys.argv[1], "rb").read().decode()))' "$1"; }
check "mkdir" shim mkdir "$PREFIX/d"

FLAGS=$TEST_SCRATCH/flags
mkdir -p "$FLAGS"
cat > "$TEST_SCRATCH/writer.py" <<'EOF'
import os, sys, time
d, flags, out = sys.argv[1], sys.argv[2], open(sys.argv[3], "w")
def step(name):
    print(name, flush=True, file=out)
    for _ in range(600):                  # bounded: 60 s
        if os.path.exists(os.path.join(flags, name)):
            return
        time.sleep(0.1)
    sys.exit("no go after " + name)
def new(name, mode=0o600):
    return os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
# tar's pattern
fd = new("t")
os.write(fd, b"tar bytes")
os.utime(fd, ns=(1500000000 * 10**9, 1500000000 * 10**9))
os.fchown(fd, os.getuid(), os.getgid())
os.fchmod(fd, 0o644)
st = os.fstat(fd)
print("fstat %o %d" % (st.st_mode & 0o7777, st.st_mtime), flush=True, file=out)
step("deferred")
os.close(fd)
step("closed")
# an empty new file
fd = new("e")
os.utime(fd, ns=(1400000000 * 10**9, 1400000000 * 10**9))
os.fchmod(fd, 0o640)
os.close(fd)
# a chmod that takes a permission away applies at once
fd = new("r", 0o644)
os.write(fd, b"secret")
os.fchmod(fd, 0o600)
step("restricted")
os.close(fd)
# a write after futimens: the write's time
fd = new("w")
os.write(fd, b"one")
os.utime(fd, ns=(1300000000 * 10**9, 1300000000 * 10**9))
os.write(fd, b"two")
os.close(fd)
# a later chmod by path wins over the deferred one
fd = new("p")
os.write(fd, b"p")
os.fchmod(fd, 0o755)
os.chmod(os.path.join(d, "p"), 0o640)
os.close(fd)
# fsync commits the deferred changes with the bytes
fd = new("f")
os.write(fd, b"synced")
os.fchmod(fd, 0o644)
os.fsync(fd)
step("fsynced")
os.close(fd)
# an existing file: its bytes commit first, then the times (at once)
fd = os.open(os.path.join(d, "x"), os.O_WRONLY)
os.write(fd, b"newer")
os.utime(fd, ns=(1100000000 * 10**9, 1100000000 * 10**9))
print("fstat2 %d" % os.fstat(fd).st_mtime, flush=True, file=out)
os.close(fd)
EOF
at_step() { wait_for 60 grep -qx "$1" "$TEST_SCRATCH/writer.out"; }
go() { touch "$FLAGS/$1"; }

check "an existing file" shim sh -c 'echo old > "$1"' _ "$PREFIX/d/x"
s0=$(setattr_calls)
l0=$(lock_calls)
shim "$PY" "$TEST_SCRATCH/writer.py" "$PREFIX/d" "$FLAGS" "$TEST_SCRATCH/writer.out" \
    2> "$TEST_SCRATCH/writer.err" &
writer=$!
at_step deferred || fail "the writer: $(cat "$TEST_SCRATCH/writer.err")"
assert_eq "fstat 644 1500000000" "$(grep '^fstat' "$TEST_SCRATCH/writer.out")" \
    "the writer's fstat shows its mode and times before the close"
assert_eq 0 "$(($(setattr_calls) - s0))" "futimens, fchown and fchmod asked nothing yet"
assert_eq "600 $(NODE=x shim stat -c %Y "$PREFIX/d/t") 0 " "$(view "$PREFIX/d/t")" \
    "another process sees the new file empty and 0600 until the close"
assert_eq EACCES "$(as_nobody_read "$PREFIX/d/t")" "a second user cannot read it (0600) until the close"
go deferred
at_step closed || fail "the close: $(cat "$TEST_SCRATCH/writer.err")"
assert_eq 1 "$(($(setattr_calls) - s0))" "the three changes went in the close's commit: one statement"
assert_eq 0 "$(($(lock_calls) - l0))" "and no lock step"
assert_eq "644 1500000000 9 tar bytes" "$(view "$PREFIX/d/t")" \
    "after the close: its bytes, times and mode at once"
assert_eq read "$(as_nobody_read "$PREFIX/d/t")" "and a second user may read it (0644)"
go closed
at_step restricted || fail "the restricting chmod: $(cat "$TEST_SCRATCH/writer.err")"
assert_eq "640 1400000000 0 " "$(view "$PREFIX/d/e")" "an empty new file got its times and mode"
assert_eq "600" "$(view "$PREFIX/d/r" | cut -d' ' -f1)" \
    "a chmod that takes a permission away is seen before the close"
assert_eq EACCES "$(as_nobody_read "$PREFIX/d/r")" "a second user cannot read it from then on"
s1=$(setattr_calls)
go restricted
at_step fsynced || fail "fsync: $(cat "$TEST_SCRATCH/writer.err")"
assert_eq "644 $(NODE=x shim stat -c %Y "$PREFIX/d/f") 6 synced" "$(view "$PREFIX/d/f")" \
    "fsync committed the deferred mode with the bytes"
go fsynced
wait "$writer" || fail "the writer failed: $(cat "$TEST_SCRATCH/writer.err")"
w=$(view "$PREFIX/d/w")
now=$(date +%s)
mt=$(echo "$w" | cut -d' ' -f2)
[ "$mt" -gt $((now - 600)) ] && pass "a write after futimens: the write's time ($mt)" ||
    fail "a write after futimens kept the time set before it: $w"
assert_eq "6 onetwo" "$(echo "$w" | cut -d' ' -f3-)" "and both writes"
assert_eq "640" "$(view "$PREFIX/d/p" | cut -d' ' -f1)" \
    "a chmod by path after a deferred fchmod won"
assert_eq "fstat2 1100000000" "$(grep '^fstat2' "$TEST_SCRATCH/writer.out")" \
    "futimens through a descriptor of an existing file: its fstat shows the time set"
assert_eq "644 1100000000 5 newer" "$(view "$PREFIX/d/x")" "and so does another process, after its bytes"

# ---- by path: one statement each, not waited for, durable at exit ----
s0=$(setattr_calls)
l0=$(lock_calls)
a0=$(async_calls)
lsn=$(insert_lsn)
cat > "$TEST_SCRATCH/paths.py" <<'EOF'
import os, sys
p = sys.argv[1]
os.chmod(p, 0o700)
os.chown(p, os.getuid(), os.getgid())
os.utime(p, ns=(1200000000 * 10**9, 1200000000 * 10**9))
EOF
check "chmod, chown and utime by path" shim "$PY" "$TEST_SCRATCH/paths.py" "$PREFIX/d/t"
assert_eq 3 "$(($(setattr_calls) - s0))" "one statement each"
assert_eq 0 "$(($(lock_calls) - l0))" "no lock step"
assert_eq 3 "$(($(async_calls) - a0))" "none waited for the disk"
flushed_past "$lsn" && pass "the process's exit made them durable" ||
    fail "the WAL was not flushed past the changes at exit"
assert_eq "700 1200000000" "$(view "$PREFIX/d/t" | cut -d' ' -f1-2)" "another process sees them"

# ---- GNU tar ----
mkdir -p "$TEST_SCRATCH/src/sub"
for i in 1 2 3 4 5; do head -c $((i * 7000)) /dev/urandom > "$TEST_SCRATCH/src/sub/f$i"; done
: > "$TEST_SCRATCH/src/empty"
chmod 0751 "$TEST_SCRATCH/src/sub/f2"
chmod 0604 "$TEST_SCRATCH/src/empty"
touch -d '2001-02-03 04:05:06' "$TEST_SCRATCH/src/sub/f1" "$TEST_SCRATCH/src/empty"
tar -C "$TEST_SCRATCH/src" -cf "$TEST_SCRATCH/a.tar" .
check "tar -x into the volume" shim tar -C "$PREFIX/d" -xf "$TEST_SCRATCH/a.tar"
(cd "$TEST_SCRATCH/src" && find . -type f | LC_ALL=C sort | xargs stat -c '%n %a %Y %s' &&
    find . -type f | LC_ALL=C sort | xargs md5sum) > "$TEST_SCRATCH/want"
NODE=t shim bash -c 'cd "$1" && find . -type f ! -name t ! -name e ! -name r ! -name w ! -name p \
    ! -name f ! -name x | LC_ALL=C sort | xargs stat -c "%n %a %Y %s" && find . -type f ! -name t ! -name e \
    ! -name r ! -name w ! -name p ! -name f ! -name x | LC_ALL=C sort | xargs md5sum' _ "$PREFIX/d" \
    > "$TEST_SCRATCH/got"
assert_files_equal "$TEST_SCRATCH/want" "$TEST_SCRATCH/got" "tar's files: modes, times, sizes, bytes"
test_finish

#!/usr/bin/env bash
# tests/integration/test_create_open.sh — open(O_CREAT) creates first: one
# round trip creates the file or answers with the inode already at the
# name (meta_create_open), instead of a fresh lookup and then a create of
# two (issue 16, tiny files):
#  - a new tiny file (create, write, close) costs 2 round trips (the
#    create-or-open and the close's commit; 4 before), also through cp
#    (whose fstat of the file it made cost a third), an O_CREAT open of
#    an existing file 1, counted as the process's sends (strace);
#  - processes racing to create the same names: with O_EXCL exactly one
#    wins each name, without it all open the same inode;
#  - permissions as the kernel checks them, as user nobody: an existing
#    writable file opens in a folder nobody may not write, a new name there
#    is EACCES, O_EXCL on an existing name EEXIST, an existing file nobody
#    may not write is EACCES even in a folder nobody may write, a folder
#    nobody may not search is EACCES; a new file is nobody's.
# (O_CREAT on a directory, a symlink, with O_EXCL, O_NOFOLLOW, ".", ".." or
# a trailing "/" is compared with local disk by test_write_posix.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 strace runuser

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-copen-$$
test_volume copen
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error SHIMFS_AGENT=0 "$@"
}

# ---- round trips per file ----
TINY=$SHIMFS_BUILD/tools/tiny_files
[ -x "$TINY" ] || { fail "missing $TINY (make integration builds it)"; exit 1; }
for d in a b; do check "mkdir $d" shim mkdir "$PREFIX/$d"; done
# sends of a process that creates $2 files of 4 KiB in folder $1 (its
# start and exit cost the same whatever the count: the difference is the
# files')
creates() { round_trips "$TINY" "$PREFIX/$1" "$2" 4096 > /dev/null; echo "$RT"; }
r10=$(creates a 10)
r30=$(creates b 30)
per=$(((r30 - r10) * 10 / 20))
[ "$per" -le 20 ] && pass "a new 4 KiB file costs 2 round trips ($r10 sends for 10, $r30 for 30)" ||
    fail "a new 4 KiB file costs $((per / 10)).$((per % 10)) round trips (2 expected; $r10 sends for 10 files, $r30 for 30)"
assert_eq 30 "$(shim ls "$PREFIX/b" | wc -l)" "the 30 files are there"
# cp makes the file, then asks fstat of it (coreutils' copy_reg): the
# create's answer is the file's current state, so that asks nothing (a
# third round trip a file before)
mkdir -p "$TEST_SCRATCH/src10" "$TEST_SCRATCH/src30"
for i in $(seq 1 30); do
    head -c 4096 /dev/urandom > "$TEST_SCRATCH/src30/f$i"
    [ "$i" -gt 10 ] || cp "$TEST_SCRATCH/src30/f$i" "$TEST_SCRATCH/src10/"
done
copies() { round_trips cp -r "$TEST_SCRATCH/src$1" "$PREFIX/cp$1" > /dev/null; echo "$RT"; }
r10=$(copies 10)
r30=$(copies 30)
per=$(((r30 - r10) * 10 / 20))
[ "$per" -le 20 ] && pass "cp of a new 4 KiB file costs 2 round trips ($r10 sends for 10, $r30 for 30)" ||
    fail "cp of a new 4 KiB file costs $((per / 10)).$((per % 10)) round trips (2 expected; $r10 sends for 10 files, $r30 for 30)"
check "and copies the bytes" shim diff -r "$TEST_SCRATCH/src30" "$PREFIX/cp30"
cat > "$TEST_SCRATCH/reopen.py" <<'EOF'
import os, sys
for i in range(int(sys.argv[2])):
    os.close(os.open(os.path.join(sys.argv[1], "f%06d" % i), os.O_WRONLY | os.O_CREAT, 0o644))
EOF
reopens() { round_trips "$PY" "$TEST_SCRATCH/reopen.py" "$PREFIX/$1" "$2"; echo "$RT"; }
r10=$(reopens b 10)
r30=$(reopens b 30)
per=$(((r30 - r10) * 10 / 20))
[ "$per" -le 10 ] && pass "an O_CREAT open of an existing file costs 1 round trip ($r10 sends for 10, $r30 for 30)" ||
    fail "an O_CREAT open of an existing file costs $((per / 10)).$((per % 10)) round trips (1 expected; $r10 / $r30 sends)"
NODE=r shim cat "$PREFIX/b/f000029" | cmp -s - <(shim cat "$PREFIX/b/f000029") &&
    [ "$(shim stat -c %s "$PREFIX/b/f000029")" = 4096 ] &&
    pass "an existing file opened with O_CREAT keeps its bytes" || fail "the reopened file changed"

# ---- races on the same names ----
check "mkdir race" shim mkdir "$PREFIX/race"
cat > "$TEST_SCRATCH/race.py" <<'EOF'
import os, sys
d, excl = sys.argv[1], sys.argv[2] == "excl"
flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if excl else 0)
for i in range(40):
    name = ("x%02d" if excl else "s%02d") % i
    try:
        fd = os.open(os.path.join(d, name), flags, 0o644)
    except FileExistsError:
        print(name, "EEXIST")
        continue
    print(name, os.fstat(fd).st_ino)
    os.close(fd)
EOF
for mode in excl open; do
    pids=()
    for k in 1 2 3 4; do
        shim "$PY" "$TEST_SCRATCH/race.py" "$PREFIX/race" "$mode" > "$TEST_SCRATCH/race-$mode-$k" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail "a racer ($mode) failed: $(cat "$TEST_SCRATCH"/race-"$mode"-*)"; done
done
assert_eq 40 "$(cat "$TEST_SCRATCH"/race-excl-* | grep -vc EEXIST)" \
    "O_EXCL: 4 processes racing for 40 names, each name won once"
assert_eq 120 "$(cat "$TEST_SCRATCH"/race-excl-* | grep -c EEXIST)" "and lost 3 times"
assert_eq "160 40" "$(cat "$TEST_SCRATCH"/race-open-* | grep -vc EEXIST) \
$(cat "$TEST_SCRATCH"/race-open-* | sort -u | wc -l)" \
    "O_CREAT: 4 processes racing for 40 names all opened them, each name one inode"
assert_eq 80 "$(shim ls "$PREFIX/race" | wc -l)" "80 names in the folder"

# ---- permissions, as user nobody ----
check "folders" shim sh -c 'mkdir "$1/ro" "$1/rw" "$1/nx" && echo f > "$1/ro/f" && echo g > "$1/ro/g" &&
    echo g > "$1/rw/g" && chmod 666 "$1/ro/f" && chmod 644 "$1/ro/g" "$1/rw/g" &&
    chmod 755 "$1/ro" && chmod 777 "$1/rw" && chmod 700 "$1/nx"' sh "$PREFIX"
NOBODY_CACHE=/tmp/shimfs-copen-nobody-$$
on_exit 'rm -rf "$NOBODY_CACHE"'
cat > "$TEST_SCRATCH/perm.py" <<'EOF'
import errno, os, sys
p = sys.argv[1]
def try_open(what, name, flags):
    try:
        fd = os.open(os.path.join(p, name), flags, 0o644)
        if flags & (os.O_WRONLY | os.O_RDWR):
            os.write(fd, b"n")
        os.close(fd)
        print(what, "ok")
    except OSError as e:
        print(what, errno.errorcode[e.errno])
W, C = os.O_WRONLY | os.O_APPEND, os.O_CREAT
try_open("existing writable file, read-only folder", "ro/f", W | C)
try_open("new name, read-only folder", "ro/new", W | C)
try_open("O_EXCL existing, read-only folder", "ro/f", W | C | os.O_EXCL)
try_open("existing read-only file, read-only folder", "ro/g", W | C)
try_open("existing read-only file, read only", "ro/g", os.O_RDONLY | C)
try_open("existing read-only file, writable folder", "rw/g", W | C)
try_open("new name, writable folder", "rw/new", W | C)
try_open("new name, folder not searchable", "nx/new", W | C)
EOF
env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" \
    SHIMFS_META="$META" SHIMFS_CACHE_DIR="$NOBODY_CACHE" SHIMFS_AGENT=0 SHIMFS_LOG=error \
    "$PY" "$TEST_SCRATCH/perm.py" "$PREFIX" > "$TEST_SCRATCH/perm.out" 2>&1 || true
while read -r want what; do
    got=$(grep "^$what " "$TEST_SCRATCH/perm.out" | awk '{print $NF}')
    assert_eq "$want" "$got" "nobody: $what"
done <<'EOF'
ok existing writable file, read-only folder
EACCES new name, read-only folder
EEXIST O_EXCL existing, read-only folder
EACCES existing read-only file, read-only folder
ok existing read-only file, read only
EACCES existing read-only file, writable folder
ok new name, writable folder
EACCES new name, folder not searchable
EOF
assert_eq "f n" "$(shim cat "$PREFIX/ro/f" | tr '\n' ' ' | sed 's/ $//')" "nobody's append reached the existing file"
assert_eq "g" "$(shim cat "$PREFIX/rw/g")" "the file nobody may not write is unchanged"
assert_eq "65534 n" "$(shim stat -c %u "$PREFIX/rw/new") $(shim cat "$PREFIX/rw/new")" \
    "nobody's new file is nobody's, with its byte"
assert_eq "" "$(shim ls "$PREFIX/nx")" "nothing was created where nobody may not search"
assert_eq "f g" "$(shim ls "$PREFIX/ro" | tr '\n' ' ' | sed 's/ $//')" \
    "nothing was created where nobody may not write"

# ---- the folder's new times, seen by the node's next process ----
# (the create's commit marks the folder listing the parent, whose times it
# changed: before, a fresh process of the node read the parent's old
# mtime and ctime from that listing's snapshot; pjdfstest open/00.t 33-34)
shim mkdir -p "$PREFIX/times/d"
shim ls -la "$PREFIX/times" > /dev/null              # the node's snapshot of times/
before=$(shim stat -c '%Y %Z' "$PREFIX/times/d")
sleep 1.1
shim python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644))' "$PREFIX/times/d/n0"
after=$(shim stat -c '%Y %Z' "$PREFIX/times/d")
other=$(env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" SHIMFS_LOG=error \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/other-node" SHIMFS_AGENT=0 stat -c '%Y %Z' "$PREFIX/times/d")
assert_eq "$other" "$after" "after a create, the node's next process sees the folder's new times (as another node does)"
if [ "$after" != "$before" ]; then pass "...which moved ($before -> $after)"
else fail "the folder's times did not move with a create ($before)"; fi
test_finish

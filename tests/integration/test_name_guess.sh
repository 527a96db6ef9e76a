#!/usr/bin/env bash
# tests/integration/test_name_guess.sh — an unlink, and a rename of a file,
# is one round trip when the process's caches know the names (the lock, a
# check of what they say and the change go out together), and gives the
# kernel's answers when they are wrong:
#  - rm -rf of 200 files: one round trip per file (the check's statement
#    once per file, no separate lock step), every name gone;
#  - a name another node replaced since this process looked (a new inode,
#    now with a second link): the check fails, the unlink is rerun the long
#    way and removes the new file's name, its other link keeps it;
#  - a hard link's count, an open file kept as an orphan and read after the
#    unlink, ENOENT, EISDIR, a symlink;
#  - 100 renames (the checkpoint pattern: write a temporary name, rename it
#    over the last one): one round trip each, and three a step (nothing
#    asked again after a rename), the last file's bytes there, no
#    temporary left;
#  - a rename onto a name another node created since this process looked:
#    rerun the long way, the other file replaced; a directory renamed (the
#    long way, always).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 strace

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-unlink-$$
test_volume nameguess
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-${NODE:-a}" \
        SHIMFS_LOG=error SHIMFS_AGENT=0 "$@"
}

check "200 files" shim "$PY" -c '
import os, sys
os.makedirs(sys.argv[1])
for i in range(200):
    open("%s/f%03d" % (sys.argv[1], i), "w").write("x")' "$PREFIX/many"
round_trips rm -rf "$PREFIX/many"
[ "$RT" -le 240 ] && pass "rm -rf of 200 files: $RT round trips (one a file, and the walk)" ||
    fail "rm -rf of 200 files took $RT round trips"
# (a statement's first use sends its text, past what strace shows)
[ "$(grep -c 'shimfs_unlink_check' "$TEST_SCRATCH/sends" || true)" -ge 199 ] &&
    pass "each unlink checked its guess" || fail "the unlinks did not check a guess"
assert_eq 1 "$(grep -c 'shimfs_entries' "$TEST_SCRATCH/sends" || true)" \
    "no separate lock step but the folder's rmdir"
assert_eq "" "$(shim ls -A "$PREFIX" | grep many || true)" "all gone"

cat > "$TEST_SCRATCH/stale.py" <<'EOF'
import os, subprocess, sys
d, other = sys.argv[1], sys.argv[2:]
os.makedirs(d)
open(d + "/x", "w").write("one")
before = os.stat(d + "/x").st_ino             # this process's caches know it
subprocess.run(other + ["python3", "-c", """if 1:
    import os, sys
    d = sys.argv[1]
    os.unlink(d + "/x")
    open(d + "/x", "w").write("two")
    os.link(d + "/x", d + "/y")""", d], check=True)
os.unlink(d + "/x")
print(sorted(os.listdir(d)), os.stat(d + "/y").st_nlink, open(d + "/y").read(),
      os.stat(d + "/y").st_ino != before)
EOF
round_trips "$PY" "$TEST_SCRATCH/stale.py" "$PREFIX/stale" env SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-b"
assert_eq "['y'] 1 two True" "$(cat "$TEST_SCRATCH/out")" \
    "a name another node replaced: the new file's name went, its other link keeps it"
[ "$(grep -c 'shimfs_entries' "$TEST_SCRATCH/sends" || true)" -ge 1 ] &&
    pass "the stale guess was rerun the long way" || fail "the stale guess was not rerun"

out=$(shim "$PY" - "$PREFIX/misc" <<'EOF'
import os, sys
d = sys.argv[1]
os.makedirs(d)
open(d + "/a", "w").write("a")
os.link(d + "/a", d + "/b")
os.unlink(d + "/a")
print(os.stat(d + "/b").st_nlink)
fd = os.open(d + "/b", os.O_RDONLY)
os.unlink(d + "/b")
print(os.read(fd, 10).decode(), os.fstat(fd).st_nlink)
os.close(fd)
try:
    os.unlink(d + "/nope")
except FileNotFoundError:
    print("ENOENT")
os.mkdir(d + "/sub")
try:
    os.unlink(d + "/sub")
except IsADirectoryError:
    print("EISDIR")
os.symlink("target", d + "/ln")
os.unlink(d + "/ln")
print(sorted(os.listdir(d)))
EOF
)
assert_eq "1
a 0
ENOENT
EISDIR
['sub']" "$out" "a hard link, an open file, ENOENT, EISDIR, a symlink"
round_trips "$PY" - "$PREFIX/ckpt" <<'EOF'
import os, sys
d = sys.argv[1]
os.makedirs(d)
for i in range(100):
    with open(d + "/tmp", "w") as f:
        f.write("step %d" % i)
    os.rename(d + "/tmp", d + "/last")
print(sorted(os.listdir(d)), open(d + "/last").read())
EOF
assert_eq "['last'] step 99" "$(cat "$TEST_SCRATCH/out")" "100 checkpoints renamed over the last: the last one"
# a step: the create, the close's commit, the rename (the folder's times
# and the file's new parent are what the rename wrote: nothing asked again)
[ "$RT" -le 330 ] && pass "100 steps in $RT round trips (3 a step)" ||
    fail "100 steps took $RT round trips"
[ "$(grep -c 'shimfs_rename_check' "$TEST_SCRATCH/sends" || true)" -ge 99 ] &&
    pass "each rename checked its guess" || fail "the renames did not check a guess"
[ "$(grep -c 'shimfs_entries' "$TEST_SCRATCH/sends" || true)" -le 1 ] &&
    pass "no separate lock step" ||
    fail "renames took a lock step: $(grep -c 'shimfs_entries' "$TEST_SCRATCH/sends")"

cat > "$TEST_SCRATCH/stale2.py" <<'EOF'
import os, subprocess, sys
d, other = sys.argv[1], sys.argv[2:]
os.makedirs(d + "/sub")
open(d + "/a", "w").write("mine")
try:
    os.stat(d + "/b")                          # this process's caches: no b
except FileNotFoundError:
    pass
subprocess.run(other + ["python3", "-c", "import sys; open(sys.argv[1] + '/b', 'w').write('theirs')",
                        d], check=True)
os.rename(d + "/a", d + "/b")
os.rename(d + "/sub", d + "/sub2")
print(sorted(os.listdir(d)), open(d + "/b").read())
EOF
round_trips "$PY" "$TEST_SCRATCH/stale2.py" "$PREFIX/stale2" env SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-b"
assert_eq "['b', 'sub2'] mine" "$(cat "$TEST_SCRATCH/out")" \
    "a rename onto a name another node made since: theirs replaced; a folder renamed"
[ "$(grep -c 'shimfs_entries' "$TEST_SCRATCH/sends" || true)" -ge 2 ] &&
    pass "the stale rename and the folder's went the long way" || fail "no long way taken"
NODE=c check "a fresh node sees the same" shim "$PY" -c '
import os, sys
assert sorted(os.listdir(sys.argv[1])) == ["sub"], os.listdir(sys.argv[1])' "$PREFIX/misc"
test_finish

#!/usr/bin/env bash
# tests/integration/test_shim_read.sh — unmodified programs read a volume
# through the LD_PRELOAD shim exactly as they read the same tree on local
# disk. A generated tree (sizes around the 4 MiB block: empty, 1 byte,
# 4 MiB, 4 MiB+1, 70 MiB; directories; relative and absolute symlinks;
# names with spaces and UTF-8) is imported into an S3 volume; then ls, stat,
# find, du, cat, md5sum, sha256sum, head, tail, wc, grep -r, cp -r, tar,
# diff -r, Python (tests/integration/shim_read.py) and a 16-thread reader
# (tests/tools/shim_threads.c) run once on the volume under the shim and once
# on the local tree, and their outputs (paths normalised) must be equal.
# Also: descriptors inherited across fork and exec, a working directory
# inside the volume, ".." out of the prefix, ENOENT/ENOTDIR/ELOOP/
# ENAMETOOLONG with the kernel's messages, EROFS for every write attempt on a
# read-only mount (SHIMFS_READ_ONLY=1),
# and no engine in a process that never touches the prefix.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
THREADS_TOOL=$SHIMFS_BUILD/tools/shim_threads
CALLS_TOOL=$SHIMFS_BUILD/tools/shim_calls
PY=/usr/bin/python3
MiB=$((1024 * 1024))
SRC=$TEST_SCRATCH/src
PREFIX=/mnt/shimfs-test-$$          # need not exist on the host
VOL=$PREFIX/tree
ERR=$TEST_SCRATCH/stderr

for tool in "$THREADS_TOOL" "$CALLS_TOOL"; do
    [ -x "$tool" ] || { fail "missing $tool (make integration builds it)"; exit 1; }
done
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

make_tree() {
    local src=$1 i
    mkdir -p "$src/dir/sub/deeper" "$src/empty dir" "$src/ünï cødé"
    : > "$src/empty"
    printf x > "$src/one-byte"
    head -c $((4 * MiB)) /dev/urandom > "$src/four-mib"
    head -c $((4 * MiB + 1)) /dev/urandom > "$src/four-mib-plus-1"
    head -c $((70 * MiB)) /dev/urandom > "$src/seventy-mib"
    for i in 100 4096 131072 1000003; do head -c "$i" /dev/urandom > "$src/dir/rand-$i"; done
    for i in $(seq 1 40); do printf 'line %d of file %d\nneedle-%d\n' "$i" "$i" "$i" > "$src/dir/sub/t$i.txt"; done
    yes 'compressible text line' | head -c $((3 * MiB + 7)) > "$src/dir/sub/deeper/text" || true
    printf 'spaces\n' > "$src/name with  spaces.txt"
    printf 'utf-8 needle-utf\n' > "$src/ünï cødé/日本語 ✓.txt"
    ln -s dir/sub/t1.txt "$src/rel-link"
    ln -s ../../one-byte "$src/dir/sub/up-link"
    ln -s /etc/hostname "$src/abs-link"
    ln -s does/not/exist "$src/dangling"
    ln -s loop-b "$src/loop-a"
    ln -s loop-a "$src/loop-b"
    chmod 0600 "$src/dir/rand-100"
    chmod 0755 "$src/dir/sub/t2.txt"
    touch -d '2001-02-03 04:05:06.123456789' "$src/dir/rand-4096"
    touch -d '2010-01-01 00:00:00' "$src/dir/sub/t3.txt" "$src/reference"
    touch -d '2020-01-01 00:00:00' "$src/dir/sub/t4.txt"
}

# Run under the shim, against this test's volume.
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

# same WHAT CMD... : CMD with {} standing for the tree's root, run on the
# volume under the shim and on the local tree; outputs (stdout and stderr,
# the root replaced by ROOT) must be equal.
same() {
    local what=$1; shift
    local -a vcmd=() lcmd=()
    local a
    for a in "$@"; do vcmd+=("${a//\{\}/$VOL}"); lcmd+=("${a//\{\}/$SRC}"); done
    local vrc=0 lrc=0
    (cd "$TEST_SCRATCH" && shim "${vcmd[@]}") > "$TEST_SCRATCH/v.out" 2>&1 || vrc=$?
    (cd "$TEST_SCRATCH" && "${lcmd[@]}") > "$TEST_SCRATCH/l.out" 2>&1 || lrc=$?
    sed -i "s|$VOL|ROOT|g" "$TEST_SCRATCH/v.out"
    sed -i "s|$SRC|ROOT|g" "$TEST_SCRATCH/l.out"
    if [ "$vrc" = "$lrc" ] && cmp -s "$TEST_SCRATCH/v.out" "$TEST_SCRATCH/l.out"; then
        pass "$what"
    else
        fail "$what: status $vrc/$lrc; $(diff "$TEST_SCRATCH/l.out" "$TEST_SCRATCH/v.out" | head -n 12 | tr '\n' '|')"
    fi
}

# ls output with what may differ for directories blanked: their link count
# and size belong to the file system; so do the "total" block counts and
# the column widths that follow from them.
ls_norm() {
    "$@" | awk '/^total / { next } /^d/ { $2 = "N"; $5 = "S" } { $1 = $1; print }'
}

# A shell function cannot be exec'ed by env: run ls_norm through bash.
LS_NORM="$(declare -f ls_norm); ls_norm"

make_tree "$SRC"
META=$(test_db)
check "format an S3 volume" "$CLI" format shimtest --bucket "$(test_bucket)" --meta "$META" > /dev/null
check "import the tree" "$CLI" import --meta "$META" "$SRC" /tree > /dev/null

mapfile -d '' FILES < <(cd "$SRC" && find . -type f -printf '%P\0' | sort -z)
mapfile -d '' NONDIRS < <(cd "$SRC" && find . ! -type d -printf '%P\0' | sort -z)

# ---- coreutils and friends: same output on the volume and on local disk ----
same "ls -l" bash -c "$LS_NORM ls -l --time-style=full-iso {}"
same "ls -laR" bash -c "$LS_NORM ls -laR --time-style=full-iso {} | grep -v ' \.\.\$'"
same "ls -1 of a UTF-8 directory" ls -1 "{}/ünï cødé"
same "stat of every non-directory" bash -c 'cd {} && stat -c "%n %s %F %a %u %g %Y %y %h" "$@"' _ "${NONDIRS[@]}"
same "stat -L through symlinks" stat -L -c "%n %s %F" {}/rel-link {}/dir/sub/up-link {}/abs-link
same "find -type f" bash -c 'find {} -type f | sort'
same "find -type d" bash -c 'find {} -type d | sort'
same "find -type l" bash -c 'find {} -type l | sort'
same "find -size" bash -c 'find {} -size +4M | sort; find {} -type f -size -2k | sort'
same "find -newer" bash -c 'find {} -newer {}/reference | sort'
same "find -name" bash -c "find {} -name '*cødé*' -o -name 't1?.txt' | sort"
same "du -ab --apparent-size of files" bash -c 'cd {} && du -ab --apparent-size "$@"' _ "${FILES[@]}"
# du -s counts directories too, whose sizes are each file system's own:
# the volume's total must be the local files' total plus its directories'.
DU_FILES=$(cd "$SRC" && find . ! -type d -printf '%s\n' | awk '{ s += $1 } END { print s }')
DU_VDIRS=$(shim find "$VOL" -type d -printf '%s\n' | awk '{ s += $1 } END { print s }')
assert_eq "$((DU_FILES + DU_VDIRS))" "$(shim du -sb --apparent-size "$VOL" | cut -f1)" "du -s --apparent-size"
same "cat of every file" bash -c 'cd {} && cat "$@" | md5sum' _ "${FILES[@]}"
same "md5sum" bash -c 'cd {} && md5sum "$@"' _ "${FILES[@]}"
same "sha256sum" bash -c 'cd {} && sha256sum "$@"' _ "${FILES[@]}"
same "head -c" bash -c 'for f in four-mib four-mib-plus-1 seventy-mib; do head -c 4194305 {}/$f | md5sum; done'
same "tail -c and tail -n" bash -c 'for f in four-mib-plus-1 seventy-mib dir/sub/deeper/text; do tail -c 100000 {}/$f | md5sum; done; tail -n 3 {}/dir/sub/deeper/text'
same "wc" bash -c 'cd {} && wc "$@"' _ "${FILES[@]}"
same "grep -r" bash -c 'grep -r needle {} | sort'
same "grep -rl" bash -c 'grep -rl utf {} | sort'
same "tar -c | tar -tv" bash -c 'tar -C {} -cf - . | tar -tvf - --full-time | sort -k6'
same "readlink and realpath" bash -c 'readlink {}/rel-link {}/abs-link; realpath {}/dir/sub/up-link {}/rel-link'

rm -rf "$TEST_SCRATCH/cp-out"
check "cp -r out of the volume" shim cp -r "$VOL" "$TEST_SCRATCH/cp-out"
check "the copy equals the local tree (diff -r without the shim)" diff -r --no-dereference "$SRC" "$TEST_SCRATCH/cp-out"
check "diff -r between the volume and the local tree" shim diff -r --no-dereference "$VOL" "$SRC"

# ---- Python ----
PYOUT=$(shim "$PY" "$TEST_ROOT/tests/integration/shim_read.py" compare "$VOL" "$SRC" 2>&1) || true
while IFS= read -r line; do
    case $line in
        "ok   "*) pass "${line#ok   }" ;;
        *) fail "$line" ;;
    esac
done <<< "$PYOUT"

# ---- every interposed family, call by call (tests/tools/shim_calls.c) ----
same "stdio, dir streams, nftw, realpath, stat family, *at, cwd, dup, lseek, preadv, sendfile, mmap, errors" \
    "$CALLS_TOOL" {}
CALLS_LINES=$(wc -l < "$TEST_SCRATCH/l.out")
[ "$CALLS_LINES" -ge 60 ] && pass "shim_calls reported $CALLS_LINES calls" || fail "shim_calls reported only $CALLS_LINES lines"

# ---- Node.js: libuv stats with a raw syscall(statx) and reads on its pool ----
if command -v node > /dev/null; then
    same "node fs: readdir, stat, lstat, readFileSync, promises" node -e '
const fs = require("fs"), crypto = require("crypto"), root = process.argv[1];
const md5 = (b) => crypto.createHash("md5").update(b).digest("hex");
console.log(fs.readdirSync(root).sort().join(","));
for (const f of ["one-byte", "four-mib-plus-1", "dir/sub/t1.txt"]) {
  const st = fs.statSync(root + "/" + f);
  console.log(f, st.size, st.mode, st.mtimeMs, md5(fs.readFileSync(root + "/" + f)));
}
console.log(fs.lstatSync(root + "/rel-link").isSymbolicLink(), fs.readlinkSync(root + "/rel-link"));
fs.promises.readFile(root + "/seventy-mib").then((b) => console.log("async", b.length, md5(b)));' {}
fi

# ---- 16 threads reading every file at once ----
THREADS_FILES=(four-mib four-mib-plus-1 seventy-mib one-byte empty dir/rand-1000003 dir/sub/deeper/text)
same "16 threads x 2 rounds read identical bytes" "$THREADS_TOOL" -t 16 -r 2 {} "${THREADS_FILES[@]}"

# ---- descriptors across fork and exec ----
same "bash -c 'cat < file' (an inherited descriptor)" bash -c 'cat < {}/four-mib-plus-1 | md5sum; cat < {}/seventy-mib | md5sum'
same "a shared position across exec: dd then cat" bash -c '{ dd bs=1000 count=3 of=/dev/null 2>/dev/null; cat; } < {}/four-mib-plus-1 | md5sum'
same "an inherited descriptor on fd 3" bash -c 'exec 3< {}/seventy-mib; tail -c 1000 /dev/fd/3 | md5sum; cat <&3 | md5sum'
same "fstat of an inherited descriptor" bash -c 'stat -L -c "%s %F" /dev/stdin < {}/four-mib-plus-1'
same "stdio on an inherited stdin (md5sum, sed, head then md5sum)" \
    bash -c 'md5sum < {}/seventy-mib; sed -n 3p < {}/four-mib-plus-1 | md5sum; { head -c 1000 > /dev/null; md5sum; } < {}/four-mib-plus-1'
same "python subprocess: a volume descriptor as a child's stdin" \
    "$PY" -c "import os, subprocess; fd = os.open('{}/four-mib-plus-1', os.O_RDONLY); os.read(fd, 10)
print(subprocess.run(['md5sum'], stdin=fd, capture_output=True, text=True).stdout, os.read(fd, 5).hex())"

# ---- a working directory inside the volume ----
same "cd into the volume, ls, cat relative" bash -c 'cd {}/dir && ls && cat sub/t5.txt && cd sub && cat t6.txt ../../one-byte && pwd && /bin/pwd'
same "relative paths from a volume cwd in an exec'ed child" bash -c 'cd "{}/ünï cødé" && ls -1 && cat "日本語 ✓.txt" && stat -c "%n %s" ./*'
same "python getcwd and listdir in a volume cwd" bash -c "cd {}/dir/sub && $PY -c 'import os; print(os.getcwd()); print(sorted(os.listdir(\".\"))[:3])'"
same "cd back out of the volume" bash -c 'cd {}/dir && cd / && pwd && ls -d tmp'

# ---- ".." out of the prefix ----
HOSTFILE=$TEST_SCRATCH/host-file
echo "on the host" > "$HOSTFILE"
# the prefix is /mnt/shimfs-test-PID: its ".." is /mnt, "../.." is /
assert_eq "on the host" "$(shim cat "$PREFIX/../..$HOSTFILE" 2>&1)" ".. above the volume root leads to the host"
assert_eq "on the host" "$(shim cat "$VOL/dir/../../../..$HOSTFILE" 2>&1)" "../../../.. out of a volume directory"
assert_eq "on the host" "$(cd "$TEST_SCRATCH" && shim bash -c "cd $VOL && cat ../../..$HOSTFILE" 2>&1)" \
    "relative .. from a volume cwd to the host"
assert_eq "/mnt" "$(shim bash -c "cd $PREFIX/.. && pwd -P" 2>&1)" "cd .. from the volume root is the host parent"
assert_eq "$(cat /etc/hostname)" "$(shim cat "$VOL/abs-link")" "an absolute symlink out of the volume"

# ---- errors: the kernel's answers, the kernel's messages ----
LONG=$(printf 'n%.0s' $(seq 1 300))
same "ENOENT" bash -c 'cat {}/no-such-file; ls {}/no/such/dir'
same "ENOTDIR" bash -c 'cat {}/one-byte/x; ls {}/one-byte/'
same "ELOOP" bash -c 'cat {}/loop-a; stat -L {}/loop-b'
same "ENAMETOOLONG" bash -c "stat {}/$LONG; cat {}/dir/$LONG"
same "a dangling symlink" bash -c 'cat {}/dangling; stat -c "%n %F" {}/dangling'
same "EISDIR" bash -c 'cat {}/dir'

# ---- a read-only mount (SHIMFS_READ_ONLY=1): writes never pretend to succeed ----
erofs() {
    local what=$1; shift
    local out rc=0
    out=$(cd "$TEST_SCRATCH" && SHIMFS_READ_ONLY=1 shim "$@" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && [[ $out == *"Read-only file system"* ]]; then
        pass "EROFS: $what"
    else
        fail "EROFS: $what: status $rc: $out"
    fi
}
erofs "touch a new file" touch "$VOL/new-file"
erofs "touch an existing file" touch "$VOL/one-byte"
erofs "redirect into a file" bash -c "echo x > '$VOL/one-byte'"
erofs "append to a file" bash -c "echo x >> '$VOL/new-file'"
erofs "mkdir" mkdir "$VOL/new-dir"
erofs "rm" rm -f "$VOL/one-byte"
erofs "rmdir" rmdir "$VOL/empty dir"
erofs "mv" mv "$VOL/one-byte" "$VOL/moved"
erofs "ln -s" ln -s target "$VOL/new-link"
erofs "chmod" chmod 0777 "$VOL/one-byte"
erofs "chown" chown 1:1 "$VOL/one-byte"
erofs "truncate" truncate -s 0 "$VOL/one-byte"
erofs "cp into the volume" cp "$HOSTFILE" "$VOL/copied"
erofs "python open(w)" "$PY" -c "open('$VOL/py-new', 'w')"
erofs "python os.utime" "$PY" -c "import os; os.utime('$VOL/one-byte')"
assert_eq "File exists" "$(SHIMFS_READ_ONLY=1 shim mkdir "$VOL/dir" 2>&1 | sed 's/.*: //')" "mkdir of an existing directory: EEXIST"
assert_eq "Bad file descriptor" \
    "$(shim "$PY" -c "import os
fd = os.open('$VOL/four-mib-plus-1', os.O_RDONLY)
try:
    os.write(fd, b'x')
except OSError as e:
    print(e.strerror)" 2>&1)" "write(2) on a read-only volume descriptor: EBADF"
check "the volume is unchanged after the write attempts" shim diff -r --no-dereference "$VOL" "$SRC"

# ---- an engine that cannot load, or a library without the engine's table
# (vfs_ops): volume paths fail with EIO, one log line, the host works ----
no_engine() { # SHIMFS_CORE_LIB LOG_LINE WHAT
    local out
    out=$(cd "$TEST_SCRATCH" && SHIMFS_CORE_LIB=$1 \
        env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        bash -c "cat '$VOL/one-byte'; echo rc=\$?; cat '$HOSTFILE'" 2>&1)
    if [[ $out == *"Input/output error"*"rc=1"*"on the host"* ]] &&
       [ "$(grep -c "$2" <<< "$out")" = 1 ]; then
        pass "$3: EIO on the volume, one log line, the host unaffected"
    else
        fail "$3: $out"
    fi
}
no_engine /nonexistent/libshimfs-core.so 'cannot load the engine' "no engine"
no_engine libm.so.6 'cannot use libm.so.6: it has no vfs_ops table' "no engine table"

# ---- no engine where the prefix is never touched ----
PYOUT=$(shim "$PY" "$TEST_ROOT/tests/integration/shim_read.py" maps - 2>&1; \
        shim "$PY" "$TEST_ROOT/tests/integration/shim_read.py" maps "$VOL" 2>&1) || true
while IFS= read -r line; do
    case $line in
        "ok   "*) pass "${line#ok   }" ;;
        *) fail "$line" ;;
    esac
done <<< "$PYOUT"

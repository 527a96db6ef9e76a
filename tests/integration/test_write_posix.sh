#!/usr/bin/env bash
# tests/integration/test_write_posix.sh — the write side of POSIX through
# the shim answers as local disk does. Each program runs once in an empty
# volume directory under the shim and once in an empty local directory;
# the outputs must be equal:
#  - tests/tools/shim_write_calls: open flags, write/pwrite/writev/pwritev/
#    pwritev2, O_APPEND, lseek SEEK_END, fstat of unflushed writes, fsync,
#    ftruncate/truncate, fallocate/posix_fallocate, creat, mkdir(at),
#    rmdir, unlink(at), rename/renameat2 (NOREPLACE, EXCHANGE), link(at),
#    symlink(at), mkfifo, mknod, chmod/chown/utime families, xattrs,
#    mkstemp family, mkdtemp, stdio "w"/"a"/"r+"/"w+"/fdopen, fclose,
#    copy_file_range/sendfile into the volume, flock, fcntl and OFD locks,
#    lockf, readdir after the changes, and the kernel's errnos (EEXIST,
#    ENOENT, ENOTEMPTY, EISDIR, ENOTDIR, EBADF, EINVAL ...);
#  - tests/integration/write_ops.py: Python's open/os/shutil/tempfile;
#  - shell redirections, whose bytes reach the placeholder through glibc's
#    internal write (`ls > f`, builtins, subshells, `>>`);
#  - coreutils' error messages for failed namespace changes.
# Then what only the volume answers (O_TMPFILE, ACLs, RWF_DONTCACHE) and
# EXDEV between the volume and the host (mv falls back to copying).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
CALLS=$SHIMFS_BUILD/tools/shim_write_calls
OPS=$TEST_ROOT/tests/integration/write_ops.py
PREFIX=/mnt/shimfs-wposix-$$
VOL=$PREFIX/p
LOC=$TEST_SCRATCH/local

[ -x "$CALLS" ] || { fail "missing $CALLS (make integration builds it)"; exit 1; }
META=$(test_db)
check "format an S3 volume" "$CLI" format wposix --bucket "$(test_bucket)" --meta "$META" > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

# same WHAT SUBDIR CMD... : CMD with {} standing for a fresh directory
# SUBDIR, in the volume under the shim and on local disk; outputs (stdout
# and stderr, the directory replaced by ROOT) and statuses must be equal.
same() {
    local what=$1 sub=$2; shift 2
    local -a vcmd=() lcmd=()
    local a vrc=0 lrc=0
    for a in "$@"; do vcmd+=("${a//\{\}/$VOL/$sub}"); lcmd+=("${a//\{\}/$LOC/$sub}"); done
    mkdir -p "$LOC/$sub"
    shim mkdir -p "$VOL/$sub"
    shim "${vcmd[@]}" > "$TEST_SCRATCH/v.out" 2>&1 || vrc=$?
    "${lcmd[@]}" > "$TEST_SCRATCH/l.out" 2>&1 || lrc=$?
    sed -i "s|$VOL/$sub|ROOT|g" "$TEST_SCRATCH/v.out"
    sed -i "s|$LOC/$sub|ROOT|g" "$TEST_SCRATCH/l.out"
    if [ "$vrc" = "$lrc" ] && cmp -s "$TEST_SCRATCH/v.out" "$TEST_SCRATCH/l.out"; then
        pass "$what ($(wc -l < "$TEST_SCRATCH/l.out") lines)"
    else
        fail "$what: status $vrc/$lrc; $(diff "$TEST_SCRATCH/l.out" "$TEST_SCRATCH/v.out" | head -n 12 | tr '\n' '|')"
    fi
}

# ---- C calls and Python ----
same "C write calls (shim_write_calls)" calls "$CALLS" {}
same "Python open/os/shutil/tempfile (write_ops.py)" py "$PY" "$OPS" {}
same "tree copied by shutil.copytree" py bash -c 'cd {}/.. && find tree-copy-py ! -name "mkd*" | sort && cat tree-copy-py/rw'

# ---- shell redirections: bytes that reach the memfd behind the shim ----
same "ls > file" redir bash -c 'cd {} && mkdir d && touch d/x d/y && ls -l d | sed "s/ [A-Z][a-z][a-z] .* / /" > out && cat out'
same "builtins, subshell and commands into one redirect" redir2 bash -c \
    'cd {} && (echo start; printf "%s\n" one two; seq 1 3; echo end) > out && cat out'
same "appends with >> from one shell" redir3 bash -c \
    'cd {} && echo first > log && { echo second; echo third; } >> log && echo fourth >> log && cat log'
# A command's append followed within the attribute TTL by the shell's own:
# the second open must see the size the first one committed.
same "appends with >> from a command, then from the shell" redir3b bash -c \
    'cd {} && echo first > log && seq 4 5 >> log && echo third >> log && cat log'
same "exec 3> and builtins writing to it" redir4 bash -c \
    'cd {} && exec 3> out && echo a >&3 && printf b >&3 && echo c >&3 && exec 3>&- && cat out'
same "python print > file, stderr 2> file" redir5 bash -c \
    'cd {} && '"$PY"' -c "import sys; print(\"out\"); print(\"err\", file=sys.stderr)" > o 2> e && cat o e'
same "tee, dd, cat into the volume" redir6 bash -c \
    'cd {} && seq 1 1000 | tee t > /dev/null && dd if=t of=d bs=7 status=none && cat t d > c && wc -c t d c && md5sum c'
same "/dev/stderr reopened by a command whose stderr is a volume file" redir7 bash -c \
    'cd {} && bash -c "echo e1 > /dev/stderr; echo e2 >> /dev/stderr; echo out" 2> err > out && cat err out'
same "ls after creating and removing" listing bash -c \
    'cd {} && touch a b c && mkdir d && rm b && mv c e && ls -a && ls -la | wc -l'

# ---- coreutils' messages for failed changes ----
same "mkdir existing, rmdir non-empty, rm dir, mv onto dir" errs bash -c \
    'cd {} && mkdir x && touch x/f y; mkdir x; rmdir x; rm x; mv y x/f/z; ln x h; touch n/o; rmdir y; cat nope; true'

# ---- what only the volume answers ----
shim mkdir -p "$VOL/only"
shim "$CALLS" --volume "$VOL/only" > "$TEST_SCRATCH/only.out" 2>&1 || true
while IFS= read -r line; do
    got=${line#*: }; got=${got%% (*}
    want=${line##*(want }; want=${want%)}
    assert_eq "$want" "$got" "volume only: ${line%%:*}"
done < "$TEST_SCRATCH/only.out"
check "volume-only checks ran" test "$(wc -l < "$TEST_SCRATCH/only.out")" -eq 3

# ---- the boundary between the volume and the host ----
HOST=$TEST_SCRATCH/host
mkdir -p "$HOST"
echo hostfile > "$HOST/h"
shim bash -c 'echo volfile > "$1/x"' _ "$VOL/only"
xdev() {
    shim "$PY" -c '
import errno, os, sys
a, b, op = sys.argv[1:4]
try:
    getattr(os, op)(a, b)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])' "$@"
}
assert_eq EXDEV "$(xdev "$VOL/only/x" "$HOST/x" rename)" "rename volume -> host: EXDEV"
assert_eq EXDEV "$(xdev "$HOST/h" "$VOL/only/h" rename)" "rename host -> volume: EXDEV"
assert_eq EXDEV "$(xdev "$VOL/only/x" "$HOST/l" link)" "link volume -> host: EXDEV"
assert_eq EXDEV "$(xdev "$HOST/h" "$VOL/only/l" link)" "link host -> volume: EXDEV"
assert_eq ok "$(xdev "$VOL/only/x" "$VOL/only/x2" rename)" "rename inside the volume"
check "mv volume -> host copies" shim mv "$VOL/only/x2" "$HOST/moved"
assert_eq volfile "$(cat "$HOST/moved")" "the moved file's content on the host"
check "mv host -> volume copies" shim mv "$HOST/moved" "$VOL/only/back"
assert_eq volfile "$(shim cat "$VOL/only/back")" "the moved file's content in the volume"
check "the source is gone from the host" test ! -e "$HOST/moved"

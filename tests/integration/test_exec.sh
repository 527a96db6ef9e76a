#!/usr/bin/env bash
# tests/integration/test_exec.sh — programs and scripts stored in the
# volume run (docs/exec.md): a compiled binary and `#!` scripts, by
# absolute path, relative to a cwd in the volume and through PATH; every
# exec and spawn entry point of libc (tests/tools/exec_calls.c), a vfork
# child, bash `./x`, Python's subprocess and posix_spawn, system and popen;
# an interpreter stored in the volume; a venv's python (a symlink out of
# the volume) and a console script; a static binary; the kernel's
# errors (EACCES without x bit, for a folder and for another user; ENOEXEC;
# ENOENT; ETXTBSY); the environment kept for the child; a file replaced
# while its old version runs; copies nobody else can read; a second exec
# that reads nothing again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd gcc runuser

PY=/usr/bin/python3
TOOL=$SHIMFS_BUILD/tools/exec_calls
[ -x "$TOOL" ] || skip_test "build/tools/exec_calls is not built"
PREFIX=/mnt/shimfs-exec-$$
V=$PREFIX/tools
CACHE=$TEST_SCRATCH/cache
test_volume exec
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$CACHE" SHIMFS_LOG="${SHIM_LOG:-error}" "$@"
}
# The second user: the shim is preloaded into its command, never into
# runuser (an ASan shim cannot run before runuser's libcap-ng constructor).
as_nobody() {
    env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" \
        SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" SHIMFS_CACHE_DIR="$NOBODY_CACHE" \
        SHIMFS_LOG=error "$@"
}
NOBODY_CACHE=/tmp/shimfs-exec-nobody-$$
on_exit 'rm -rf "$NOBODY_CACHE"'

# ---- what goes into the volume ----
cat > "$TEST_SCRATCH/hello.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    char exe[4096] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    printf("hello argv0=%s", argv[0]);
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    const char *v = getenv("EXEC_MARK");
    printf(" mark=%s\n", v ? v : "-");
    fprintf(stderr, "exe=%s\n", exe);
    return 0;
}
EOF
check "compile the test program" gcc -O1 -o "$TEST_SCRATCH/hello" "$TEST_SCRATCH/hello.c"
check "mkdir in the volume" shim mkdir -p "$V/bin" "$V/dir"
check "copy the binary in" shim cp "$TEST_SCRATCH/hello" "$V/bin/hello"
check "chmod 755" shim chmod 755 "$V/bin/hello"
printf '#!/bin/sh\necho "script0=$0 args=$*"\ncat "$0" | wc -l\n' > "$TEST_SCRATCH/s.sh"
shim cp "$TEST_SCRATCH/s.sh" "$V/bin/s.sh"
shim chmod 755 "$V/bin/s.sh"

# ---- a binary: absolute, relative, PATH, every entry point ----
assert_eq "hello argv0=$V/bin/hello a b mark=-" "$(shim env "$V/bin/hello" a b 2>/dev/null)" \
    "a volume binary by absolute path from a preloaded shell"
assert_eq "hello argv0=./hello r mark=-" "$(shim bash -c "cd $V/bin && ./hello r" 2>/dev/null)" \
    "bash ./x with the cwd in the volume"
assert_eq "hello argv0=bin/hello r mark=-" "$(shim bash -c "cd $V && bin/hello r" 2>/dev/null)" \
    "a relative path with a folder"
assert_eq "hello argv0=hello p mark=-" "$(shim env PATH="$V/bin:$PATH" bash -c 'hello p' 2>/dev/null)" \
    "through PATH (bash's own search)"
exe=$(shim env "$V/bin/hello" 2>&1 >/dev/null)
case $exe in
    "exe=$CACHE/exec/"*"/tools/bin/hello") pass "/proc/self/exe is the copy in the mirror tree" ;;
    *) fail "/proc/self/exe: $exe" ;;
esac
for mode in execve execv execvp execvpe execl execlp execle fexecve execveat vfork; do
    assert_eq "hello argv0=A x y mark=-" \
        "$(shim "$TOOL" "$mode" "$V/bin/hello" A x y 2>/dev/null | sed -n 1p)" "$mode of a volume binary"
done
for mode in execvp execvpe execlp spawnp; do
    out=$(shim env PATH="/nonexistent:$V/bin:/usr/bin" "$TOOL" "$mode" hello A q 2>/dev/null | sed -n 1p)
    assert_eq "hello argv0=A q mark=-" "$out" "$mode searches PATH into the volume"
done
assert_eq "hello argv0=A s mark=-|exit=0" \
    "$(shim "$TOOL" spawn "$V/bin/hello" A s 2>/dev/null | paste -sd '|')" "posix_spawn of a volume binary"
assert_eq "hello argv0=A c mark=-" "$(shim bash -c "cd $V/bin && $TOOL execve ./hello A c" 2>/dev/null)" \
    "execve of a relative path, cwd in the volume"

# ---- scripts ----
assert_eq "script0=$V/bin/s.sh args=1 2|3" "$(shim env "$V/bin/s.sh" 1 2 | paste -sd '|')" \
    "a #! script: \$0 is its volume path, the shell reads it through the shim"
assert_eq "script0=./s.sh args=r|3" "$(shim bash -c "cd $V/bin && ./s.sh r" | paste -sd '|')" \
    "bash ./script with the cwd in the volume"
assert_eq "script0=$V/bin/s.sh args=p|3" \
    "$(shim env PATH="$V/bin:/usr/bin:/bin" bash -c 's.sh p' | paste -sd '|')" "a script through PATH"
for mode in execve execvp fexecve execveat vfork spawn; do
    out=$(shim "$TOOL" "$mode" "$V/bin/s.sh" A m 2>/dev/null | sed -n 1p)
    assert_eq "script0=$V/bin/s.sh args=m" "$out" "$mode of a volume script"
done
# an interpreter in the volume (a script whose #! names a volume path),
# itself a script: two levels, with an argument on the line
printf '#!/bin/sh\necho "interp0=$0 args=$*"\n' > "$TEST_SCRATCH/interp"
shim cp "$TEST_SCRATCH/interp" "$V/bin/interp"
shim chmod 755 "$V/bin/interp"
printf '#!%s/bin/interp  -x  \nbody\n' "$V" > "$TEST_SCRATCH/uses"
shim cp "$TEST_SCRATCH/uses" "$V/bin/uses"
shim chmod 755 "$V/bin/uses"
assert_eq "interp0=$V/bin/interp args=-x $V/bin/uses u1" "$(shim env "$V/bin/uses" u1 2>&1)" \
    "an interpreter stored in the volume (a script itself): interp -x script args"
# a binary interpreter in the volume
shim cp /bin/sh "$V/bin/mysh"
shim chmod 755 "$V/bin/mysh"
printf '#!%s/bin/mysh\necho "mysh ran $0"\n' "$V" > "$TEST_SCRATCH/uses2"
shim cp "$TEST_SCRATCH/uses2" "$V/bin/uses2"
shim chmod 755 "$V/bin/uses2"
assert_eq "mysh ran $V/bin/uses2" "$(shim env "$V/bin/uses2" 2>&1)" "a binary interpreter stored in the volume"

# ---- Python, system, popen ----
cat > "$TEST_SCRATCH/py.py" <<'EOF'
import os, subprocess, sys
v = sys.argv[1]
print(subprocess.run([v + "/bin/hello", "sub"], capture_output=True, text=True).stdout.strip())
print(subprocess.run([v + "/bin/s.sh", "sub"], capture_output=True, text=True).stdout.splitlines()[0])
env = dict(os.environ, PATH=v + "/bin:/usr/bin:/bin")
print(subprocess.run(["hello", "path"], capture_output=True, text=True, env=env).stdout.strip())
os.chdir(v + "/bin")  # (cwd= would chdir in the vfork child: not supported)
print(subprocess.run(["./hello", "cwd"], capture_output=True, text=True).stdout.strip())
os.chdir("/")
pid = os.posix_spawn(v + "/bin/hello", ["hello", "spawn"], os.environ,
                     file_actions=[(os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
print("spawn", os.waitpid(pid, 0)[1])
sys.stdout.flush()
print("system", os.system(v + "/bin/hello system >/dev/null 2>&1"))
print(os.popen(v + "/bin/s.sh popen").read().splitlines()[0])
try:
    subprocess.run([v + "/bin/nothere"])
except FileNotFoundError:
    print("ENOENT")
EOF
out=$(shim "$PY" "$TEST_SCRATCH/py.py" "$V" 2>&1 | paste -sd '|') || true
want="hello argv0=$V/bin/hello sub mark=-|script0=$V/bin/s.sh args=sub|hello argv0=hello path mark=-"
want="$want|hello argv0=./hello cwd mark=-|hello argv0=hello spawn mark=-|spawn 0|system 0"
want="$want|script0=$V/bin/s.sh args=popen|ENOENT"
assert_eq "$want" "$out" "python subprocess.run (vfork), posix_spawn, os.system, os.popen"

# ---- a venv's python (a symlink leaving the volume) and a console script ----
if shim "$PY" -m venv --without-pip "$V/venv" 2>/dev/null; then
    assert_eq "$V/venv" "$(shim env "$V/venv/bin/python" -c 'import sys; print(sys.prefix)' 2>&1)" \
        "a venv's bin/python in the volume runs, in its venv"
    printf '#!%s/venv/bin/python\nimport sys\nprint("tool", sys.prefix, sys.argv[0])\n' "$V" > "$TEST_SCRATCH/tool"
    shim cp "$TEST_SCRATCH/tool" "$V/venv/bin/tool"
    shim chmod 755 "$V/venv/bin/tool"
    assert_eq "tool $V/venv $V/venv/bin/tool" "$(shim env PATH="$V/venv/bin:/usr/bin:/bin" bash -c tool 2>&1)" \
        "a console script of the venv through PATH"
else
    skip "venv: python3 -m venv is not available"
fi

# ---- the environment keeps the volume ----
assert_eq "script0=$V/bin/s.sh args=e|3" "$(shim "$TOOL" execve-noenv "$V/bin/s.sh" s e | paste -sd '|')" \
    "an envp without LD_PRELOAD and SHIMFS_*: the script still reads through the shim"
assert_eq "hello argv0=$V/bin/hello mark=yes" "$(shim env env EXEC_MARK=yes "$V/bin/hello" 2>/dev/null)" \
    "the caller's environment is passed on"

# ---- a static binary stored in the volume ----
if gcc -static -O1 -o "$TEST_SCRATCH/hello-static" "$TEST_SCRATCH/hello.c" 2>/dev/null; then
    shim cp "$TEST_SCRATCH/hello-static" "$V/bin/static"
    shim chmod 755 "$V/bin/static"
    assert_eq "hello argv0=$V/bin/static st mark=-" "$(shim env "$V/bin/static" st 2>/dev/null)" \
        "a static binary stored in the volume runs"
else
    skip "static binary: gcc -static cannot link here (no libc.a)"
fi

# ---- errors as the kernel gives them ----
shim cp "$TEST_SCRATCH/hello" "$V/bin/nox"
shim chmod 644 "$V/bin/nox"
assert_eq "errno=EACCES" "$(shim "$TOOL" execve "$V/bin/nox" x)" "EACCES without an x bit"
assert_eq "errno=EACCES" "$(shim "$TOOL" execve "$V/dir" x)" "EACCES for a folder"
assert_eq "errno=ENOENT" "$(shim "$TOOL" execve "$V/bin/missing" x)" "ENOENT"
assert_eq "errno=ENOTDIR" "$(shim "$TOOL" execve "$V/bin/hello/x" x)" "ENOTDIR"
assert_eq "EACCES" "$(shim "$TOOL" spawn "$V/bin/nox" x | sed 's/^errno=//')" "posix_spawn answers EACCES"
head -c 3000 /dev/urandom | tr -d '#' > "$TEST_SCRATCH/garbage"
shim cp "$TEST_SCRATCH/garbage" "$V/bin/garbage"
shim chmod 755 "$V/bin/garbage"
assert_eq "errno=ENOEXEC" "$(shim "$TOOL" execve "$V/bin/garbage" x)" "ENOEXEC for garbage"
shim cp "$TEST_SCRATCH/hello" "$V/bin/busy"
shim chmod 755 "$V/bin/busy"
assert_eq "errno=ETXTBSY" "$(shim "$TOOL" write-exec "$V/bin/busy" x)" \
    "ETXTBSY when this process holds it open for writing"
printf '#!%s/bin/none\n' "$V" > "$TEST_SCRATCH/badinterp"
shim cp "$TEST_SCRATCH/badinterp" "$V/bin/badinterp"
shim chmod 755 "$V/bin/badinterp"
assert_eq "errno=ENOENT" "$(shim "$TOOL" execve "$V/bin/badinterp" x)" "ENOENT for a missing interpreter"
# another user: x for owner only
shim cp "$TEST_SCRATCH/hello" "$V/bin/mine"
shim chmod 700 "$V/bin/mine"
check "the volume folder is open to others" shim chmod 755 "$PREFIX" "$V" "$V/bin"
assert_eq "errno=EACCES" "$(as_nobody "$TOOL" execve "$V/bin/mine" x 2>&1)" \
    "EACCES for another user without permission"
assert_eq "hello argv0=$V/bin/hello n mark=-" "$(as_nobody env "$V/bin/hello" n 2>/dev/null)" \
    "another user runs a 0755 volume binary (their own copy)"

# ---- copies: private, reused, replaced ----
uuid_dir=$(find "$CACHE/exec" -mindepth 1 -maxdepth 1 -type d ! -name tmp | sed -n 1p)
copy=$uuid_dir/tools/bin/hello
assert_eq "500 0" "$(stat -c '%a %u' "$copy")" "the copy is 0500 and ours"
assert_eq "700" "$(stat -c '%a' "$uuid_dir/tools/bin")" "mirror folders are 0700"
assert_eq "700" "$(stat -c '%a' "$CACHE/exec")" "the exec folder is 0700"
if runuser -u nobody -- cat "$copy" > /dev/null 2>&1; then
    fail "another user can read the materialised copy"
else
    pass "another user cannot read the materialised copy"
fi
ino=$(stat -c %i "$copy")
shim env "$V/bin/hello" > /dev/null 2>&1
before=$(shim "$SHIMFS_CLI" stats --format json)
shim env "$V/bin/hello" > /dev/null 2>&1
shim "$TOOL" spawn "$V/bin/hello" h > /dev/null 2>&1
after=$(shim "$SHIMFS_CLI" stats --format json)
lookups() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); c=d.get("cache", d); print(c["hits"] + c["misses"])' "$1"; }
check "the node's cache counters are there" test "$(lookups "$before")" -gt 0
assert_eq "$(lookups "$before")" "$(lookups "$after")" "a second exec reads no block (not even from the cache)"
assert_eq "$ino" "$(stat -c %i "$copy")" "the copy is reused, not rewritten"

# replaced while the old version runs: the old process keeps its code, a
# new exec gets the new version
cat > "$TEST_SCRATCH/ver.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    printf("version %s start\n", VERSION);
    fflush(stdout);
    for (int i = 0; i < 100 && access(argv[1], F_OK) != 0; i++)
        usleep(100000);
    printf("version %s end\n", VERSION);
    return 0;
}
EOF
gcc -O1 -DVERSION='"one"' -o "$TEST_SCRATCH/ver1" "$TEST_SCRATCH/ver.c"
gcc -O1 -DVERSION='"two"' -o "$TEST_SCRATCH/ver2" "$TEST_SCRATCH/ver.c"
shim cp "$TEST_SCRATCH/ver1" "$V/bin/ver"
shim chmod 755 "$V/bin/ver"
go=$TEST_SCRATCH/go
shim env "$V/bin/ver" "$go" > "$TEST_SCRATCH/ver.out" &
old=$!
wait_for 10 grep -q start "$TEST_SCRATCH/ver.out" || fail "the old version did not start"
check "replace the program on the volume (write aside, rename)" \
    shim sh -c "cp '$TEST_SCRATCH/ver2' '$V/bin/ver.new' && chmod 755 '$V/bin/ver.new' && mv '$V/bin/ver.new' '$V/bin/ver'"
sleep 1.2 # the attribute TTL
touch "$go"
assert_eq "version two start|version two end" "$(shim env "$V/bin/ver" "$go" | paste -sd '|')" \
    "a new exec runs the new version"
wait "$old"
assert_eq "version one start|version one end" "$(paste -sd '|' "$TEST_SCRATCH/ver.out")" \
    "the running old version kept running its own code"
# the same through subprocess in one Python process: the plans its vfork
# children made are kept for at most the attribute TTL
cat > "$TEST_SCRATCH/again.py" <<'EOF'
import os, shutil, subprocess, sys, time
prog, go, v1 = sys.argv[1:4]
def run():
    return subprocess.run([prog, go], capture_output=True, text=True).stdout.split()[1]
first = [run(), run()]
shutil.copyfile(v1, prog + ".new")
os.chmod(prog + ".new", 0o755)
os.rename(prog + ".new", prog)
time.sleep(1.2)
print(" ".join(first + [run()]))
EOF
assert_eq "two two one" "$(shim "$PY" "$TEST_SCRATCH/again.py" "$V/bin/ver" "$go" "$TEST_SCRATCH/ver1")" \
    "subprocess: the same program twice, then replaced: the new version after the TTL"


#!/usr/bin/env bash
# tests/integration/test_dl_exec.sh — programs stored in the volume whose
# shared libraries are in the volume too (issue 13): before the exec the
# shim materialises the program's volume dependencies
# (shim_dl_prepare_exec), so the new process's loader finds them.
#  - DT_RUNPATH $ORIGIN/../lib: found in the mirror, no audit library
#    needed; from a shell, and through Python's subprocess (a vfork child,
#    whose exec is planned by a forked helper);
#  - DT_RUNPATH naming a volume folder by its absolute path: runs with
#    LD_AUDIT=libshimfs-audit.so, and fails as the loader says without it;
#  - LD_LIBRARY_PATH naming a volume folder, with LD_AUDIT: runs;
#  - a dependency missing from the volume: the loader's error, exit 127.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd gcc

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-dlexec-$$
APP=$PREFIX/v/app
SRC=$TEST_SCRATCH/src
AUDIT=$SHIMFS_BUILD/libshimfs-audit.so
test_volume dlexec

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

mkdir -p "$SRC"
cd "$SRC"
printf 'int app_val(void) { return 11; }\n' > app.c
printf '#include <stdio.h>\nint app_val(void);\nint main(void) { printf("app %%d\\n", app_val()); return 0; }\n' > prog.c
gcc -shared -fPIC -Wl,-soname,libapp.so -o libapp.so app.c
gcc -o prog_origin prog.c -L. -lapp -Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags
gcc -o prog_abs prog.c -L. -lapp -Wl,-rpath,"$APP/lib2" -Wl,--enable-new-dtags
gcc -o prog_llp prog.c -L. -lapp
printf 'int other(void) { return 1; }\n' > other.c
gcc -shared -fPIC -o libother.so other.c
printf 'int other(void);\nint main(void) { return other(); }\n' > miss.c
gcc -o prog_missing miss.c -L. -lother -Wl,-rpath,'$ORIGIN/../lib' -Wl,--enable-new-dtags
cd - > /dev/null

check "mkdir" shim mkdir -p "$APP/bin" "$APP/lib" "$APP/lib2" "$APP/lib3"
check "install the programs" shim cp "$SRC/prog_origin" "$SRC/prog_abs" "$SRC/prog_llp" \
    "$SRC/prog_missing" "$APP/bin/"
check "install the library three times" shim sh -c \
    'for d in lib lib2 lib3; do cp "$1/libapp.so" "$2/$d/"; done' sh "$SRC" "$APP"

# `shim env PROG`: env is preloaded, so its exec of the volume path is the shim's.
assert_eq "app 11" "$(shim env "$APP/bin/prog_origin" 2>&1)" \
    "RUNPATH \$ORIGIN/../lib: the library is copied before the exec"
out=$(shim "$PY" -c 'import subprocess, sys; print(subprocess.run([sys.argv[1]], capture_output=True, text=True).stdout.strip())' \
    "$APP/bin/prog_origin" 2>&1)
assert_eq "app 11" "$out" "the same through subprocess.run (vfork)"

assert_eq "app 11" "$(shim env LD_AUDIT="$AUDIT" env "$APP/bin/prog_abs" 2>&1)" \
    "RUNPATH naming a volume folder: runs with the audit library"
out=$(shim env "$APP/bin/prog_abs" 2>&1 || true)
case $out in
    *"libapp.so: cannot open shared object file"*) pass "without it, the loader's error" ;;
    *) fail "RUNPATH into the volume without LD_AUDIT: $out" ;;
esac
assert_eq "app 11" \
    "$(shim env LD_AUDIT="$AUDIT" LD_LIBRARY_PATH="$APP/lib3" env "$APP/bin/prog_llp" 2>&1)" \
    "LD_LIBRARY_PATH naming a volume folder: runs with the audit library"

rc=0
out=$(shim env LD_AUDIT="$AUDIT" env "$APP/bin/prog_missing" 2>&1) || rc=$?
case "$rc $out" in
    "127 "*"libother.so: cannot open shared object file"*) pass "a dependency missing from the volume: the loader's error" ;;
    *) fail "a missing dependency: rc $rc: $out" ;;
esac

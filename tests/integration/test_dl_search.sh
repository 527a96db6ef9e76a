#!/usr/bin/env bash
# tests/integration/test_dl_search.sh — the loader's own searches for
# libraries in the volume (issue 13): names without '/' found through
# LD_LIBRARY_PATH or a DT_RUNPATH that point into the volume.
#  - in the process that dlopens (the preload alone, no LD_AUDIT):
#    ctypes.CDLL("liball.so") with LD_LIBRARY_PATH in the volume, its own
#    dependency found there too (by its soname, loaded first by the shim);
#    a name the volume folder lacks still comes from the host (libm);
#  - the same with LD_AUDIT set (scripts/shimfs-run's set-up);
#  - a host program whose DT_RUNPATH is a volume folder, started by that
#    process (it inherits SHIMFS_MIRROR): with libshimfs-audit.so it runs,
#    without it the loader cannot find the library (what the docs say);
#  - a program started with LD_LIBRARY_PATH in the volume, under
#    shimfs-run (which sets LD_AUDIT), loads the copies made before at
#    start-up, the mirror root being the cache folder's only one; with two
#    volumes there and no SHIMFS_MIRROR, the audit library does not guess;
#  - the audit library with nothing to do (no SHIMFS_MIRROR, no preload)
#    leaves programs alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd gcc

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-dlsearch-$$
VOL=$PREFIX/v
SRC=$TEST_SCRATCH/src
AUDIT=$SHIMFS_BUILD/libshimfs-audit.so
RUN=$TEST_ROOT/scripts/shimfs-run
test_volume dlsearch
[ -f "$AUDIT" ] || { fail "no $AUDIT (make)"; exit 1; }

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

mkdir -p "$SRC"
cd "$SRC"
printf 'int llpdep(void) { return 3; }\n' > llpdep.c
printf 'int llpdep(void);\nint all_val(void) { return llpdep() + 2; }\n' > all.c
gcc -shared -fPIC -Wl,-soname,libllpdep.so -o libllpdep.so llpdep.c
gcc -shared -fPIC -Wl,-soname,liball.so -o liball.so all.c -L. -lllpdep
cat > prog.c <<'EOF'
#include <stdio.h>
int all_val(void);
int main(void) { printf("all %d\n", all_val()); return 0; }
EOF
# RUNPATH names the volume folder; LD_LIBRARY_PATH for the second one.
gcc -o prog_runpath prog.c -L. -lall -lllpdep -Wl,-rpath,"$VOL/llp" -Wl,--enable-new-dtags
gcc -o prog_plain prog.c -L. -lall -lllpdep
cd - > /dev/null

check "mkdir" shim mkdir -p "$VOL/llp"
check "copy the libraries in" shim cp "$SRC/liball.so" "$SRC/libllpdep.so" "$VOL/llp/"

cat > "$TEST_SCRATCH/bare.py" <<'EOF'
import ctypes, subprocess, sys
print("all", ctypes.CDLL("liball.so").all_val())
m = ctypes.CDLL("libm.so.6")
m.cos.restype = ctypes.c_double
print("libm", "loaded" if m.cos(ctypes.c_double(0)) == 1.0 else "wrong")
for prog in sys.argv[1:]:
    r = subprocess.run([prog], capture_output=True, text=True)
    print("child", r.stdout.strip() or r.stderr.strip().split(": ", 1)[-1])
EOF

out=$(shim env LD_LIBRARY_PATH="$VOL/llp" "$PY" "$TEST_SCRATCH/bare.py" 2>&1)
echo "$out" | sed 's/^/    /'
assert_eq "all 5" "$(echo "$out" | grep '^all')" \
    "LD_LIBRARY_PATH in the volume: a name and its dependency, preload alone"
assert_eq "libm loaded" "$(echo "$out" | grep '^libm')" "a name the volume lacks comes from the host"

out=$(shim env LD_AUDIT="$AUDIT" LD_LIBRARY_PATH="$VOL/llp" "$PY" "$TEST_SCRATCH/bare.py" \
    "$SRC/prog_runpath" 2>&1)
echo "$out" | sed 's/^/    /'
assert_eq "all 5" "$(echo "$out" | grep '^all')" "the same with LD_AUDIT"
assert_eq "child all 5" "$(echo "$out" | grep '^child')" \
    "a child whose RUNPATH is a volume folder runs (audit library, inherited SHIMFS_MIRROR)"

out=$(shim env LD_LIBRARY_PATH="$VOL/llp" "$PY" "$TEST_SCRATCH/bare.py" "$SRC/prog_runpath" 2>&1)
case $(echo "$out" | grep '^child') in
    *"liball.so: cannot open shared object file"*)
        pass "without LD_AUDIT the loader cannot search the volume" ;;
    *) fail "without LD_AUDIT: $(echo "$out" | grep '^child')" ;;
esac

# No SHIMFS_MIRROR here: the audit library finds the one volume of the
# cache folder's mirror tree (the copies exist: the runs above made them).
# shimfs-run (a sanitized shim needs the sanitizer runtime first in
# LD_PRELOAD, which shimfs-run cannot put there: then its two variables
# are set as it sets them).
run() {
    if [ "${SHIMFS_SANITIZE:-}" = 1 ]; then
        env -u SHIMFS_MIRROR SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
            SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error LD_PRELOAD="$SHIMFS_PRELOAD" \
            LD_AUDIT="$AUDIT" LD_LIBRARY_PATH="$VOL/llp" "$@"
    else
        env -u SHIMFS_MIRROR SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
            SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error \
            SHIMFS_PRELOAD="$SHIMFS_BUILD/libshimfs.so" LD_LIBRARY_PATH="$VOL/llp" "$RUN" "$@"
    fi
}
out=$(run "$SRC/prog_plain" 2>&1 || true)
assert_eq "all 5" "$out" "shimfs-run: LD_LIBRARY_PATH in the volume at start-up (LD_AUDIT set)"
mkdir -p "$TEST_SCRATCH/cache/exec/00000000-other-volume"
out=$(run "$SRC/prog_plain" 2>&1 || true)
case $out in
    *"liball.so: cannot open shared object file"*)
        pass "two volumes in the cache folder and no SHIMFS_MIRROR: no guess" ;;
    *) fail "two volumes, no SHIMFS_MIRROR: $out" ;;
esac
rmdir "$TEST_SCRATCH/cache/exec/00000000-other-volume"

out=$(env LD_AUDIT="$AUDIT" SHIMFS_PREFIX="$PREFIX" /bin/echo alone 2>&1)
assert_eq "alone" "$out" "the audit library alone leaves a program be"

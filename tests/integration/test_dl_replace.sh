#!/usr/bin/env bash
# tests/integration/test_dl_replace.sh — a volume library replaced while a
# process has it loaded (issue 13): the copy in the mirror is replaced by
# rename, so the old process keeps its mapping (old inode) and a new
# process gets the new version.
#  - process A dlopens libver.so v1 (4 MiB of 1s and ver() = 1) and waits;
#  - the test overwrites the volume file with v2 (2s, ver() = 2), in place
#    (`cp` over it, the same volume inode), then later replaces it with a
#    new file (`mv`, another inode) holding v3;
#  - a new process B sees 2, then C sees 3;
#  - A, after each, still calls v1 and reads the last 4 KiB of its data
#    (pages it never touched before): 1 and 4096, no SIGBUS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd gcc

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-dlrepl-$$
VOL=$PREFIX/v
SRC=$TEST_SCRATCH/src
SIG=$TEST_SCRATCH/sig
test_volume dlrepl

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

mkdir -p "$SRC" "$SIG"
# 4 MiB of v's bytes, included by the assembler (an initialiser that
# size takes the compiler seconds).
for v in 1 2 3; do
    head -c $((4 << 20)) /dev/zero | tr '\0' "\\00$v" > "$SRC/blob$v"
    cat > "$SRC/ver$v.c" <<EOF
#define N (4 << 20)
__asm__(".section .rodata\\n.balign 4096\\n.global blob\\nblob: .incbin \\"$SRC/blob$v\\"\\n.previous");
extern const unsigned char blob[N];
int ver(void) { return $v; }
int tail_sum(void)
{
    int s = 0;
    for (int i = N - 4096; i < N; i++)
        s += ((volatile const unsigned char *)blob)[i];
    return s;
}
EOF
    gcc -shared -fPIC -O1 -o "$SRC/libver$v.so" "$SRC/ver$v.c"
done

check "mkdir" shim mkdir -p "$VOL/lib"
check "v1 into the volume" shim cp "$SRC/libver1.so" "$VOL/lib/libver.so"

cat > "$TEST_SCRATCH/holder.py" <<'EOF'
import ctypes, os, sys, time
lib, sig = sys.argv[1], sys.argv[2]
def wait(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)
def tell(name):
    open(os.path.join(sig, name), "w").close()
l = ctypes.CDLL(lib)
print("A before", l.ver(), flush=True)
tell("loaded")
for step in ("overwritten", "renamed"):
    wait(step)
    print("A after", step, l.ver(), l.tail_sum(), flush=True)
    tell("seen-" + step)
EOF
ver() { shim "$PY" -c 'import ctypes, sys; l = ctypes.CDLL(sys.argv[1]); print(l.ver(), l.tail_sum())' "$1"; }

shim "$PY" "$TEST_SCRATCH/holder.py" "$VOL/lib/libver.so" "$SIG" > "$TEST_SCRATCH/holder.out" 2>&1 &
holder=$!
on_exit "kill $holder 2> /dev/null"
wait_file() {
    local i
    for i in $(seq 1 1200); do [ -e "$SIG/$1" ] && return 0; sleep 0.05; done
    return 1
}
check "A loaded v1" wait_file loaded

check "overwrite the volume file in place with v2" shim cp "$SRC/libver2.so" "$VOL/lib/libver.so"
assert_eq "2 8192" "$(ver "$VOL/lib/libver.so")" "a new process gets v2"
touch "$SIG/overwritten"
check "A saw it" wait_file seen-overwritten

check "v3 as a new file" shim cp "$SRC/libver3.so" "$VOL/lib/libver.so.new"
check "rename it over" shim mv "$VOL/lib/libver.so.new" "$VOL/lib/libver.so"
assert_eq "3 12288" "$(ver "$VOL/lib/libver.so")" "a new process gets v3"
touch "$SIG/renamed"
check "A saw it" wait_file seen-renamed
wait "$holder" || true
sed 's/^/    /' "$TEST_SCRATCH/holder.out"
assert_eq "A before 1" "$(grep '^A before' "$TEST_SCRATCH/holder.out")" "A loaded v1"
assert_eq "A after overwritten 1 4096" "$(grep '^A after overwritten' "$TEST_SCRATCH/holder.out")" \
    "A keeps v1 (code and untouched pages) after the in-place overwrite"
assert_eq "A after renamed 1 4096" "$(grep '^A after renamed' "$TEST_SCRATCH/holder.out")" \
    "A keeps v1 after the rename"

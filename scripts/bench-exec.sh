#!/usr/bin/env bash
# scripts/bench-exec.sh — how long it takes to run a program stored in the
# volume (docs/exec.md), next to the same program on local disk.
#   bench-exec.sh
# The program is a C binary padded to BENCH_EXEC_SIZE_MIB (10) MiB of
# random read-only data (it does not compress) that exits at once. A
# preloaded Python driver (/usr/bin/python3) times posix_spawn + waitpid:
#  - local: the binary on local disk (page cache warm), BENCH_RUNS (300) runs;
#  - warm: the volume path, its copy already in the node's mirror tree
#    (what every exec after the first on a node pays), BENCH_RUNS runs,
#    alternating with the local ones (a busy machine slows both alike);
#  - cold: the volume path with an empty node cache folder each run (GETs
#    from S3, verification, the copy written), BENCH_COLD_RUNS (5) runs;
#  - warm through subprocess.run: a vfork child, whose plan is made by a
#    forked helper (shim_exec_plan.c), BENCH_RUNS runs;
# and prints the medians and the ratios to local (printed, not asserted;
# the issue's target: warm within 1.2x of local).
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
PRELOAD=${SHIMFS_PRELOAD:-$ROOT/build/libshimfs.so}
SVC=$ROOT/scripts/services.sh
SCR=$ROOT/.scratch/bench-exec
RUNS=${BENCH_RUNS:-300}
COLD_RUNS=${BENCH_COLD_RUNS:-5}
SIZE_MIB=${BENCH_EXEC_SIZE_MIB:-10}
PREFIX=/mnt/shimfs-bench-exec-$$
PY=/usr/bin/python3

bench_log() { printf 'bench-exec: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

for f in "$CLI" "$PRELOAD"; do
    [ -f "$f" ] || bench_die "$f not built (make)"
done
command -v gcc > /dev/null || bench_die "gcc is needed"
started=0
if ! "$SVC" env > /dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start > /dev/null
    started=1
fi
bench_cleanup() {
    rm -rf "$SCR"
    [ "$started" -eq 0 ] || "$SVC" stop > /dev/null 2>&1 || true
}
trap bench_cleanup EXIT
# shellcheck source=/dev/null
eval "$("$SVC" env)"

rm -rf "$SCR"
mkdir -p "$SCR/local"
bench_log "a ${SIZE_MIB} MiB program"
head -c $((SIZE_MIB * 1048576 - 32768)) /dev/urandom > "$SCR/pad.bin"
cat > "$SCR/big.c" <<'EOF'
extern const char pad_start[];
int main(void) { return pad_start[0] == 42 && pad_start[1] == 42 ? 1 : 0; }
__asm__(".section .rodata\n.global pad_start\npad_start:\n.incbin \"" PAD "\"\n.previous\n");
EOF
gcc -O1 -DPAD="\"$SCR/pad.bin\"" -o "$SCR/local/big" "$SCR/big.c" || bench_die "cannot build the program"
bench_log "program: $(stat -c %s "$SCR/local/big") bytes"

META=$("$SVC" newdb bench_exec)
"$CLI" format benchx --bucket "$("$SVC" newbucket bench-exec)" --meta "$META" > /dev/null
shim() {
    env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_LOG="${SHIMFS_LOG:-error}" "$@"
}
SHIMFS_CACHE_DIR=$SCR/cache shim cp "$SCR/local/big" "$PREFIX/big"
SHIMFS_CACHE_DIR=$SCR/cache shim chmod 755 "$PREFIX/big"

cat > "$SCR/drive.py" <<'EOF'
import os, statistics, subprocess, sys, time
# the local and the volume program, alternately: a busy machine slows both
mode, runs, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for p in paths:
    os.stat(p)  # the volume is open before the clock starts
times = [[] for _ in paths]
for _ in range(runs):
    for i, p in enumerate(paths):
        t0 = time.perf_counter()
        if mode == "spawn":
            pid = os.posix_spawn(p, [p], os.environ)
            status = os.waitpid(pid, 0)[1]
        else:
            status = subprocess.run([p]).returncode
        times[i].append(time.perf_counter() - t0)
        if status != 0:
            sys.exit("%s failed: %d" % (p, status))
print(" ".join("%.6f" % statistics.median(t) for t in times))
EOF
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench_log "cold, $COLD_RUNS runs (an empty node cache each)"
cold=()
for i in $(seq 1 "$COLD_RUNS"); do
    cold+=("$(SHIMFS_CACHE_DIR=$SCR/cold$i SHIMFS_AGENT=0 shim "$PY" "$SCR/drive.py" spawn 1 "$PREFIX/big")")
    rm -rf "$SCR/cold$i"
done
cold_s=$(printf '%s\n' "${cold[@]}" | median)
bench_log "local and warm, $RUNS runs each, alternately"
SHIMFS_CACHE_DIR=$SCR/cache shim "$PY" "$SCR/drive.py" spawn 1 "$PREFIX/big" > /dev/null
read -r local_s warm_s < <(SHIMFS_CACHE_DIR=$SCR/cache shim "$PY" "$SCR/drive.py" spawn "$RUNS" \
    "$SCR/local/big" "$PREFIX/big")
read -r sub_local_s sub_warm_s < <(SHIMFS_CACHE_DIR=$SCR/cache shim "$PY" "$SCR/drive.py" \
    subprocess "$RUNS" "$SCR/local/big" "$PREFIX/big")

ms() { awk -v s="$1" 'BEGIN { printf "%.2f ms", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '\nexec of a %s MiB program (posix_spawn + waitpid, medians)\n' "$SIZE_MIB"
printf '  local disk:          %s\n' "$(ms "$local_s")"
printf '  volume, warm:        %s  (%s local)\n' "$(ms "$warm_s")" "$(ratio "$warm_s" "$local_s")"
printf '  volume, cold:        %s  (%s local)\n' "$(ms "$cold_s")" "$(ratio "$cold_s" "$local_s")"
printf 'through subprocess.run (a vfork child)\n'
printf '  local disk:          %s\n' "$(ms "$sub_local_s")"
printf '  volume, warm:        %s  (%s local)\n' "$(ms "$sub_warm_s")" "$(ratio "$sub_warm_s" "$sub_local_s")"

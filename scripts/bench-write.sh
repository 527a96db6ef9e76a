#!/usr/bin/env bash
# scripts/bench-write.sh — how fast unmodified programs write into a volume
# through the shim, next to the S3 server's own PUT ceiling and local disk.
#   bench-write.sh
# Measures, each the median of BENCH_RUNS (3) runs:
#  - one 1 GiB file written in 1 MiB writes: `dd if=RANDOM of=VOL/big
#    bs=1M` under the shim (close included: that is the commit), and the
#    same dd onto local disk with conv=fsync;
#  - 1,000 files of 128 KiB: `cp -r` of a generated tree under the shim,
#    and onto local disk followed by sync -f;
#  - the ceiling: parallel PUTs of 4 MiB objects with no shimfs
#    (build/tools/obj_bench, the same 1 GiB, BENCH_PUT_PARALLEL connections);
# then prints MiB/s and the ratios (target: big file >= 0.7 x ceiling).
# Sources are random (gen-dataset.sh: they do not compress) and warm in the
# page cache. Services: reuses the running ones (scripts/services.sh env,
# SHIMFS_SERVICES_DIR honoured), else starts them and stops them at the end.
# Knobs: BENCH_RUNS, BENCH_BIG_SIZE (1G), BENCH_SMALL_FILES (1000),
# BENCH_SMALL_SIZE (128K), BENCH_PUT_PARALLEL (16), SHIMFS_* for the shim.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
PRELOAD=${SHIMFS_PRELOAD:-$ROOT/build/libshimfs.so}
OBJ_BENCH=$ROOT/build/tools/obj_bench
SVC=$ROOT/scripts/services.sh
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
SCR=$ROOT/.scratch/bench-write
RUNS=${BENCH_RUNS:-3}
BIG_SIZE=${BENCH_BIG_SIZE:-1G}
SMALL_FILES=${BENCH_SMALL_FILES:-1000}
SMALL_SIZE=${BENCH_SMALL_SIZE:-128K}
PARALLEL=${BENCH_PUT_PARALLEL:-16}
PREFIX=/mnt/shimfs-bench-write-$$

bench_log() { printf 'bench-write: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

for f in "$CLI" "$PRELOAD" "$OBJ_BENCH"; do
    [ -x "$f" ] || [ -f "$f" ] || bench_die "$f not built (make all build/tools/obj_bench)"
done
started=0
if ! "$SVC" env > /dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start > /dev/null
    started=1
fi
bench_cleanup() {
    rm -rf "$SCR/local"
    [ "$started" -eq 0 ] || "$SVC" stop > /dev/null 2>&1 || true
}
trap bench_cleanup EXIT
# shellcheck source=/dev/null
eval "$("$SVC" env)"

# Datasets, made once per set of parameters (scripts/bench-lib.sh).
dataset() { bench_dataset "$@"; }
mkdir -p "$SCR"
bench_log "datasets in $SCR"
dataset "$SCR/small" "$SMALL_FILES" $(((SMALL_FILES + 99) / 100)) "$SMALL_SIZE"
dataset "$SCR/big" 1 1 "$BIG_SIZE"
big_file=$(find "$SCR/big" -type f | head -n 1)
big_mib=$(stat -c %s "$big_file" | awk '{ printf "%.3f", $1 / 1048576 }')
small_mib=$(du -sb --apparent-size "$SCR/small" | awk '{ printf "%.3f", $1 / 1048576 }')
{ cat "$big_file"; find "$SCR/small" -type f -exec cat {} +; } > /dev/null

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

META=$("$SVC" newdb bench_write)
"$CLI" format benchw --bucket "$("$SVC" newbucket bench-write)" --meta "$META" > /dev/null
shim() {
    env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$SCR/cache" SHIMFS_LOG="${SHIMFS_LOG:-error}" "$@"
}
shim mkdir -p "$PREFIX/w"

time_big_shim() {
    local run=$1 t0 t1
    t0=$(now)
    shim dd if="$big_file" of="$PREFIX/w/big$run" bs=1M status=none || bench_die "dd into the volume failed"
    t1=$(now)
    [ "$(shim stat -c %s "$PREFIX/w/big$run")" = "$(stat -c %s "$big_file")" ] || bench_die "short big file"
    elapsed "$t0" "$t1"
    shim rm -f "$PREFIX/w/big$run"
}

time_big_local() {
    local t0 t1
    mkdir -p "$SCR/local"
    t0=$(now)
    dd if="$big_file" of="$SCR/local/big" bs=1M conv=fsync status=none
    t1=$(now)
    elapsed "$t0" "$t1"
    rm -f "$SCR/local/big"
}

time_small_shim() {
    local run=$1 t0 t1
    t0=$(now)
    shim cp -r "$SCR/small" "$PREFIX/w/small$run" || bench_die "cp -r into the volume failed"
    t1=$(now)
    elapsed "$t0" "$t1"
}

time_small_local() {
    local t0 t1
    rm -rf "$SCR/local/small"
    mkdir -p "$SCR/local"
    t0=$(now)
    cp -r "$SCR/small" "$SCR/local/small"
    sync -f "$SCR/local/small"
    t1=$(now)
    elapsed "$t0" "$t1"
}

# PUT ceiling: the big file's bytes as 4 MiB objects, in parallel; MiB/s.
put_ceiling() {
    local n=$(((${big_mib%.*} + 3) / 4)) bucket
    bucket=$("$SVC" newbucket bench-write-ceiling)
    "$OBJ_BENCH" "$bucket" "$n" 4096 "$PARALLEL" | awk '/^PUT/ { for (i = 1; i <= NF; i++) if ($i == "MiB/s") print $(i - 1) }'
}

declare -a bs=() bl=() ss=() sl=() pc=()
for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS"
    bs+=("$(time_big_shim "$run")")
    bl+=("$(time_big_local)")
    ss+=("$(time_small_shim "$run")")
    sl+=("$(time_small_local)")
    pc+=("$(put_ceiling)")
done
m_bs=$(printf '%s\n' "${bs[@]}" | median)
m_bl=$(printf '%s\n' "${bl[@]}" | median)
m_ss=$(printf '%s\n' "${ss[@]}" | median)
m_sl=$(printf '%s\n' "${sl[@]}" | median)
m_pc=$(printf '%s\n' "${pc[@]}" | median)

awk -v bm="$big_mib" -v sm="$small_mib" -v n="$SMALL_FILES" -v bs="$m_bs" -v bl="$m_bl" \
    -v ss="$m_ss" -v sl="$m_sl" -v pc="$m_pc" -v runs="$RUNS" -v par="$PARALLEL" \
    -v all_bs="${bs[*]}" -v all_bl="${bl[*]}" -v all_ss="${ss[*]}" -v all_sl="${sl[*]}" \
    -v all_pc="${pc[*]}" 'BEGIN {
    printf "write benchmark (median of %d runs, s3rver on 127.0.0.1)\n", runs
    printf "%-46s %9s %9s %9s\n", "", "seconds", "MiB/s", "files/s"
    printf "%-46s %9.3f %9.1f %9s\n", "shimfs: dd bs=1M of one " bm " MiB file", bs, bm / bs, "-"
    printf "%-46s %9.3f %9.1f %9s\n", "local disk: the same dd, conv=fsync", bl, bm / bl, "-"
    printf "%-46s %9.3f %9.1f %9s\n", "ceiling: PUT 4 MiB objects, " par " in parallel", bm / pc, pc, "-"
    printf "%-46s %9.3f %9.1f %9.0f\n", "shimfs: cp -r of " n " files of 128 KiB", ss, sm / ss, n / ss
    printf "%-46s %9.3f %9.1f %9.0f\n", "local disk: the same cp -r, sync -f", sl, sm / sl, n / sl
    printf "ratio big file / PUT ceiling: %.2f (target >= 0.70)\n", (bm / bs) / pc
    printf "ratio big file / local disk: %.2f; small files / local disk: %.2f\n", bl / bs, sl / ss
    printf "all runs: shimfs big [%s] s, local big [%s] s, shimfs small [%s] s, local small [%s] s, ceiling [%s] MiB/s\n",
           all_bs, all_bl, all_ss, all_sl, all_pc
}'

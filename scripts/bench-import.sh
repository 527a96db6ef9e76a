#!/usr/bin/env bash
# scripts/bench-import.sh — how fast `shimfs import` fills an S3 volume,
# next to the S3 server's own ceiling.
#   bench-import.sh            2,000 files of 128 KiB, and one 512 MiB file
# Measures, each the median of BENCH_RUNS (3) runs on a fresh database and
# a fresh bucket: the wall time of `shimfs import` (files/s and MiB/s), and
# the same bytes PUT straight to the server with 16 parallel connections
# and no shimfs (python3 botocore, the big file cut in block-size parts),
# then prints shimfs / ceiling ratios.
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end. Datasets are made by gen-dataset.sh under
# .scratch/bench-import/ and kept for the next run.
# Knobs: BENCH_RUNS, BENCH_SMALL_FILES (2000), BENCH_SMALL_SIZE (128K),
# BENCH_BIG_SIZE (512M), BENCH_THREADS (16), SHIMFS_CLI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
SVC=$ROOT/scripts/services.sh
SCR=$ROOT/.scratch/bench-import
RUNS=${BENCH_RUNS:-3}
SMALL_FILES=${BENCH_SMALL_FILES:-2000}
SMALL_SIZE=${BENCH_SMALL_SIZE:-128K}
BIG_SIZE=${BENCH_BIG_SIZE:-512M}
THREADS=${BENCH_THREADS:-16}
BLOCK=4194304

bench_log() { printf 'bench-import: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

[ -x "$CLI" ] || bench_die "$CLI not built (make all)"
started=0
if ! "$SVC" env >/dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start >/dev/null
    started=1
fi
bench_cleanup() { [ "$started" -eq 0 ] || "$SVC" stop >/dev/null 2>&1 || true; }
trap bench_cleanup EXIT
# shellcheck source=/dev/null
eval "$("$SVC" env)"

# Datasets, made once per set of parameters.
dataset() {
    local dir=$1 files=$2 dirs=$3 size=$4 stamp
    stamp="$files $dirs $size"
    if [ "$(cat "$dir.stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$dir" "$dir.stamp"
        "$ROOT/scripts/gen-dataset.sh" "$dir" "$files" "$dirs" "$size"
        echo "$stamp" > "$dir.stamp"
    fi
}
mkdir -p "$SCR"
dataset "$SCR/small" "$SMALL_FILES" $(( (SMALL_FILES + 99) / 100 )) "$SMALL_SIZE"
dataset "$SCR/big" 1 1 "$BIG_SIZE"
small_mib=$(du -sb --apparent-size "$SCR/small" | awk '{ printf "%.3f", $1 / 1048576 }')
big_file=$(find "$SCR/big" -type f | head -n1)
big_mib=$(stat -c %s "$big_file" | awk '{ printf "%.3f", $1 / 1048576 }')
# Warm the page cache so both sides read the same way.
cat "$big_file" $(find "$SCR/small" -type f) > /dev/null

now() { date +%s.%N; }

# One import into a fresh volume; prints its wall time in seconds.
time_import() {
    local src=$1 db bucket t0 t1
    db=$("$SVC" newdb bench_import)
    bucket=$("$SVC" newbucket bench-import)
    "$CLI" format bench --bucket "$bucket" --meta "$db" >/dev/null
    t0=$(now)
    "$CLI" import --threads "$THREADS" --meta "$db" "$src" /bench >/dev/null ||
        bench_die "import of $src failed"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

# The same bytes PUT with THREADS parallel connections; prints seconds.
time_ceiling() {
    local mode=$1 path=$2 bucket
    bucket=$("$SVC" newbucket bench-ceiling)
    /usr/bin/python3 - "$SHIMFS_TEST_S3_ENDPOINT" "${bucket##*/}" "$mode" "$path" "$THREADS" "$BLOCK" <<'EOF'
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
import botocore.config, botocore.session

endpoint, bucket, mode, path, threads, block = sys.argv[1:7]
threads, block = int(threads), int(block)
client = botocore.session.get_session().create_client(
    "s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=botocore.config.Config(max_pool_connections=threads,
                                  s3={"addressing_style": "path"},
                                  retries={"max_attempts": 2}))
jobs = []
if mode == "files":
    for root, _, names in os.walk(path):
        jobs += [(os.path.join(root, n), 0, None) for n in sorted(names)]
else:
    size = os.path.getsize(path)
    jobs = [(path, off, min(block, size - off)) for off in range(0, size, block)]

def put(job):
    i, (p, off, n) = job
    with open(p, "rb") as f:
        f.seek(off)
        data = f.read() if n is None else f.read(n)
    client.put_object(Bucket=bucket, Key="ceiling/%07d" % i, Body=data)

t0 = time.perf_counter()
with ThreadPoolExecutor(threads) as pool:
    list(pool.map(put, enumerate(jobs)))
print("%.6f" % (time.perf_counter() - t0))
EOF
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -a imp_small=() imp_big=() ceil_small=() ceil_big=()
for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS"
    imp_small+=("$(time_import "$SCR/small")")
    imp_big+=("$(time_import "$SCR/big")")
    ceil_small+=("$(time_ceiling files "$SCR/small")")
    ceil_big+=("$(time_ceiling big "$big_file")")
done

m_is=$(printf '%s\n' "${imp_small[@]}" | median)
m_ib=$(printf '%s\n' "${imp_big[@]}" | median)
m_cs=$(printf '%s\n' "${ceil_small[@]}" | median)
m_cb=$(printf '%s\n' "${ceil_big[@]}" | median)

awk -v n="$SMALL_FILES" -v sm="$small_mib" -v bm="$big_mib" -v is="$m_is" -v ib="$m_ib" \
    -v cs="$m_cs" -v cb="$m_cb" -v runs="$RUNS" -v th="$THREADS" \
    -v all_is="${imp_small[*]}" -v all_ib="${imp_big[*]}" \
    -v all_cs="${ceil_small[*]}" -v all_cb="${ceil_big[*]}" 'BEGIN {
    printf "import benchmark (median of %d runs, %d threads, s3rver on 127.0.0.1)\n", runs, th
    printf "%-34s %9s %10s %9s\n", "", "seconds", "files/s", "MiB/s"
    printf "%-34s %9.3f %10.0f %9.1f\n", "shimfs import: " n " small files", is, n / is, sm / is
    printf "%-34s %9.3f %10.0f %9.1f\n", "ceiling: PUT the same objects", cs, n / cs, sm / cs
    printf "%-34s %9.3f %10s %9.1f\n", "shimfs import: one " bm " MiB file", ib, "-", bm / ib
    printf "%-34s %9.3f %10s %9.1f\n", "ceiling: PUT it in 4 MiB parts", cb, "-", bm / cb
    printf "ratio shimfs/ceiling: small files %.2f, large file %.2f\n", cs / is, cb / ib
    printf "all runs (s): import small [%s] ceiling small [%s] import big [%s] ceiling big [%s]\n",
           all_is, all_cs, all_ib, all_cb
}'

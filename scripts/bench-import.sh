#!/usr/bin/env bash
# scripts/bench-import.sh — how fast `shimfs import` fills an S3 volume,
# next to the S3 server's own ceiling.
#   bench-import.sh            every set below
#   BENCH_SETS="tiny10k mib" bench-import.sh     some of them
# Sets: tiny10k (10,000 files of 1 byte in 100 folders), tiny100k (100,000
# of 1 byte in 1,000 folders), mib (1,000 files of 1 MiB in 10 folders),
# small (BENCH_SMALL_FILES files of BENCH_SMALL_SIZE), big (one
# BENCH_BIG_SIZE file).
# Measures, each the median of BENCH_RUNS (3) runs on a fresh database and
# a fresh bucket: the wall time of `shimfs import` (files/s and MiB/s);
# with BENCH_BASE_CLI (another build's shimfs, say the previous commit's)
# the same for it, as a "before" column; and the same bytes PUT straight
# to the server with BENCH_THREADS parallel connections and no shimfs
# (python3 botocore, one object per file, the big file cut in block-size
# parts: the per-object ceiling; not run for tiny100k, whose 100,000 PUTs
# take minutes), then prints shimfs / ceiling ratios.
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end. Datasets are made by gen-dataset.sh under
# .scratch/bench-import/ and kept for the next run.
# Knobs: BENCH_SETS, BENCH_RUNS, BENCH_SMALL_FILES (2000), BENCH_SMALL_SIZE
# (128K), BENCH_BIG_SIZE (512M), BENCH_THREADS (16), BENCH_IMPORT_ARGS
# (extra import options), SHIMFS_CLI, BENCH_BASE_CLI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
BASE_CLI=${BENCH_BASE_CLI:-}
SVC=$ROOT/scripts/services.sh
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
SCR=$ROOT/.scratch/bench-import
RUNS=${BENCH_RUNS:-3}
SETS=${BENCH_SETS:-tiny10k tiny100k mib small big}
SMALL_FILES=${BENCH_SMALL_FILES:-2000}
SMALL_SIZE=${BENCH_SMALL_SIZE:-128K}
BIG_SIZE=${BENCH_BIG_SIZE:-512M}
THREADS=${BENCH_THREADS:-16}
IMPORT_ARGS=${BENCH_IMPORT_ARGS:-}
BLOCK=4194304

bench_log() { printf 'bench-import: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

[ -x "$CLI" ] || bench_die "$CLI not built (make all)"
[ -z "$BASE_CLI" ] || [ -x "$BASE_CLI" ] || bench_die "BENCH_BASE_CLI $BASE_CLI is not executable"
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

# Datasets, made once per set of parameters (scripts/bench-lib.sh).
dataset() { bench_dataset "$@"; }

# set -> "files folders size label"
set_params() {
    case $1 in
        tiny10k)  echo "10000 100 1 10,000 x 1 B" ;;
        tiny100k) echo "100000 1000 1 100,000 x 1 B" ;;
        mib)      echo "1000 10 1M 1,000 x 1 MiB" ;;
        small)    echo "$SMALL_FILES $(( (SMALL_FILES + 99) / 100 )) $SMALL_SIZE $SMALL_FILES x $SMALL_SIZE" ;;
        big)      echo "1 1 $BIG_SIZE 1 x $BIG_SIZE" ;;
        *)        bench_die "unknown set '$1' (tiny10k tiny100k mib small big)" ;;
    esac
}

now() { date +%s.%N; }

# One import into a fresh volume; prints its wall time in seconds.
time_import() {
    local cli=$1 src=$2 db bucket t0 t1
    db=$("$SVC" newdb bench_import)
    bucket=$("$SVC" newbucket bench-import)
    "$cli" format bench --bucket "$bucket" --meta "$db" >/dev/null
    t0=$(now)
    # shellcheck disable=SC2086
    "$cli" import --threads "$THREADS" $IMPORT_ARGS --meta "$db" "$src" /bench >/dev/null ||
        bench_die "import of $src by $cli failed"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

# The same bytes PUT with THREADS parallel connections; prints seconds.
time_ceiling() {
    local mode=$1 path=$2 bucket
    bucket=$("$SVC" newbucket bench-ceiling)
    /usr/bin/python3 - "$SHIMFS_TEST_S3_ENDPOINT" "${bucket##*/}" "$mode" "$path" "$THREADS" "$BLOCK" <<'PYEOF'
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
PYEOF
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

mkdir -p "$SCR"
declare -A nfiles=() mib=() label=() imp=() base=() ceil=() all=()
for s in $SETS; do
    read -r n d size lab <<<"$(set_params "$s")"
    dataset "$SCR/$s" "$n" "$d" "$size"
    nfiles[$s]=$n
    label[$s]=$lab
    mib[$s]=$(find "$SCR/$s" -type f -printf '%s\n' | awk '{ t += $1 } END { printf "%.3f", t / 1048576 }')
    # Warm the page cache so every side reads the same way.
    find "$SCR/$s" -type f -print0 | xargs -0 cat > /dev/null
done

for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS"
    for s in $SETS; do
        t=$(time_import "$CLI" "$SCR/$s"); imp[$s]="${imp[$s]:-} $t"
        if [ -n "$BASE_CLI" ]; then
            t=$(time_import "$BASE_CLI" "$SCR/$s"); base[$s]="${base[$s]:-} $t"
        fi
        case $s in
            tiny100k) ;;
            big) t=$(time_ceiling big "$(find "$SCR/big" -type f | head -n1)"); ceil[$s]="${ceil[$s]:-} $t" ;;
            *) t=$(time_ceiling files "$SCR/$s"); ceil[$s]="${ceil[$s]:-} $t" ;;
        esac
    done
done

printf 'import benchmark (median of %d runs, %d threads, s3rver on 127.0.0.1%s)\n' "$RUNS" "$THREADS" \
    "${IMPORT_ARGS:+, import $IMPORT_ARGS}"
printf '%-22s %9s %10s %9s %12s %12s %7s\n' "set" "seconds" "files/s" "MiB/s" "before f/s" \
    "ceiling f/s" "ratio"
for s in $SETS; do
    mi=$(printf '%s\n' ${imp[$s]} | median)
    mb=-; mc=-
    [ -z "${base[$s]:-}" ] || mb=$(printf '%s\n' ${base[$s]} | median)
    [ -z "${ceil[$s]:-}" ] || mc=$(printf '%s\n' ${ceil[$s]} | median)
    awk -v lab="${label[$s]}" -v n="${nfiles[$s]}" -v m="${mib[$s]}" -v t="$mi" -v b="$mb" \
        -v c="$mc" 'BEGIN {
        printf "%-22s %9.3f %10.0f %9.1f %12s %12s %7s\n", lab, t, n / t, m / t,
               b == "-" ? "-" : sprintf("%.0f", n / b), c == "-" ? "-" : sprintf("%.0f", n / c),
               c == "-" ? "-" : sprintf("%.2f", c / t)
    }'
    all[$s]="import [${imp[$s]# }]${base[$s]:+ before [${base[$s]# }]}${ceil[$s]:+ ceiling [${ceil[$s]# }]}"
done
echo "ratio: the ceiling's time / shimfs import's (above 1: import beats one PUT per file)"
for s in $SETS; do
    echo "all runs (s), ${label[$s]}: ${all[$s]}"
done

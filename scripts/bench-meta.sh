#!/usr/bin/env bash
# scripts/bench-meta.sh — metadata at scale (in the spirit of mdtest): what
# a cold node, a lister and a writer of large directories pay, next to
# native ext4 in the same run.
#   bench-meta.sh              trees of 10 k and 100 k files
#   BENCH_META_SIZES="10000 100000 1000000" bench-meta.sh   (1 M by hand)
#   BENCH_META_SIZES=100000 BENCH_META_FANOUT_ONLY=1 bench-meta.sh
#                              only the cold readers' rows (below)
# Trees are made directly in SQL (fast: no import): /tN/dI/eJ/fK with files
# of size 0 (no slices, no S3 objects), 100 files per leaf folder for 10 k
# and 10 for larger trees, and two flat folders /big1k (1,000 files) and
# /big100k (100,000). The same trees are made natively (empty files) under
# .scratch/bench-meta/native.
# Prints, per tree: cold stat of a deep file (fresh node: an empty
# SHIMFS_CACHE_DIR), warm stat (a fresh process on a node that has it),
# cold and warm `find | wc -l`; per flat folder: `ls -f` and `ls -l`
# (cold, then warm), create / rename / unlink µs per op (medians over
# BENCH_META_OPS ops in one process) and queries per op. Times are medians
# of BENCH_RUNS (5) runs, in ms unless marked µs. Then, on the 100 k tree,
# N = 1, 8, 64, 256 cold readers of one node starting together, and a warm
# epoch while another database commits (see the end of this file).
# Queries are counted as the database's committed transactions
# (pg_stat_database.xact_commit delta; every statement outside a
# transaction is one, a namespace change is one), minus those psql makes
# to read it; the node agent is off (SHIMFS_AGENT=0) so that its polls are
# not counted, and the TTLs are 600 s (SHIMFS_ATTR_TTL, SHIMFS_ENTRY_TTL)
# so that a warm node stays warm without it.
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
LIB=${SHIMFS_PRELOAD:-$ROOT/build/libshimfs.so}
SVC=$ROOT/scripts/services.sh
SCR=$ROOT/.scratch/bench-meta
RUNS=${BENCH_RUNS:-5}
OPS=${BENCH_META_OPS:-300}
SIZES=${BENCH_META_SIZES:-10000 100000}
PREFIX=/mnt/shimfs-bench-meta

bench_log() { printf 'bench-meta: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

[ -x "$CLI" ] && [ -e "$LIB" ] || bench_die "$CLI or $LIB not built (make all)"
started=0
if ! "$SVC" env >/dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start >/dev/null
    started=1
fi
bench_cleanup() { [ "$started" -eq 0 ] || "$SVC" stop >/dev/null 2>&1 || true; }
trap bench_cleanup EXIT
# shellcheck source=/dev/null
source <("$SVC" env)
META=$("$SVC" newdb bench_meta)
BUCKET=$("$SVC" newbucket bench-meta)
export SHIMFS_META=$META
"$CLI" format benchmeta --bucket "$BUCKET" >/dev/null
rm -rf "$SCR"
mkdir -p "$SCR/native"
NATIVE=$SCR/native

sql() { psql -X -q -v ON_ERROR_STOP=1 -tA "$META" "$@"; }
xact_read() { sql -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }
# what one read adds itself (psql's own transactions: 2 on PostgreSQL 15)
c0=$(xact_read); sleep 0.5; c1=$(xact_read)
READ_COST=$((c1 - c0))
# Committed transactions so far, less what the reads themselves made. A
# backend publishes its counters as it exits, just after its client has
# gone: read until two reads differ by a read's own cost.
echo 0 > "$SCR/xreads"
xacts() {
    local prev="" cur n
    n=$(cat "$SCR/xreads")
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.2
        cur=$(xact_read)
        n=$((n + 1))
        [ -n "$prev" ] && [ "$cur" -eq $((prev + READ_COST)) ] && break
        prev=$cur
    done
    echo "$n" > "$SCR/xreads"
    echo $((cur - n * READ_COST))
}

native_tree() {
    python3 - "$@" <<'EOF'
import os, sys
root, a, s, f = sys.argv[1], *map(int, sys.argv[2:5])
for i in range(1, a + 1):
    for j in range(1, s + 1):
        d = f"{root}/d{i}/e{j}"
        os.makedirs(d)
        for k in range(1, f + 1):
            os.close(os.open(f"{d}/f{k}", os.O_CREAT | os.O_WRONLY, 0o644))
EOF
}
native_flat() {
    python3 - "$@" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for k in range(1, n + 1):
    os.close(os.open(f"{d}/g{k:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
EOF
}

# shape of a tree of n files: top folders, subfolders, files per leaf
shape() {
    case $1 in
        10000) echo "10 10 100" ;;
        100000) echo "100 100 10" ;;
        1000000) echo "100 1000 10" ;;
        *) bench_die "no shape for $1 files" ;;
    esac
}

bench_log "building the trees (SQL and native)"
base=1000000
for n in $SIZES; do
    read -r a s f <<<"$(shape "$n")"
    "$ROOT/scripts/meta-tree.sh" "$META" tree "t$n" "$a" "$s" "$f" "$base"
    native_tree "$NATIVE/t$n" "$a" "$s" "$f"
    base=$((base + n + a * s + a + 10))
done
ONLY_FAN=${BENCH_META_FANOUT_ONLY:-0}
if [ "$ONLY_FAN" != 1 ]; then
"$ROOT/scripts/meta-tree.sh" "$META" flat big1k 1000 "$base"; base=$((base + 1010))
"$ROOT/scripts/meta-tree.sh" "$META" flat big100k 100000 "$base"; base=$((base + 100010))
native_flat "$NATIVE/big1k" 1000
native_flat "$NATIVE/big100k" 100000
fi

# no agent (its polls would be counted as queries), so the node's snapshots
# live one TTL: long TTLs make "warm" mean warm for every run
export SHIMFS_AGENT=0 SHIMFS_ATTR_TTL=${SHIMFS_ATTR_TTL:-600} SHIMFS_ENTRY_TTL=${SHIMFS_ENTRY_TTL:-600}
CACHE=$SCR/cache
shim() { env LD_PRELOAD="$LIB" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$CACHE" SHIMFS_LOG=error "$@"; }

# Wall time of a command in µs (its output dropped).
us() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
ms() { awk '{printf "%.1f", $1 / 1000}'; }

# median ms of RUNS runs of a command; mode cold: each on a fresh node
timed() {
    local mode=$1; shift
    for _ in $(seq "$RUNS"); do
        [ "$mode" = cold ] && { rm -rf "$CACHE"; mkdir -p "$CACHE"; }
        us "$@"
    done | median | ms
}
# queries of one run of a command on a fresh node (cold) or the present one
queries() {
    local mode=$1 x0 x1; shift
    [ "$mode" = cold ] && { rm -rf "$CACHE"; mkdir -p "$CACHE"; }
    x0=$(xacts)
    "$@" >/dev/null 2>&1 || true
    x1=$(xacts)
    echo $((x1 - x0))
}
row() { printf '%-34s %12s %12s %8s %9s\n' "$@"; }

sh_find() { find "$1" | wc -l; }
export -f sh_find

echo
row "operation" "shimfs ms" "native ms" "ratio" "queries"
[ "$ONLY_FAN" = 1 ] && SIZES_ROWS="" || SIZES_ROWS=$SIZES
for n in $SIZES_ROWS; do
    read -r a s f <<<"$(shape "$n")"
    deep="t$n/d$((a * 57 / 100 + 1))/e$((s * 33 / 100 + 1))/f$((f * 7 / 10 + 1))"
    [ -e "$NATIVE/$deep" ] || bench_die "no $NATIVE/$deep"
    sync; echo
    echo "tree of $n files ($a x $s x $f)"
    cs=$(timed cold shim stat "$PREFIX/$deep")
    q=$(queries cold shim stat "$PREFIX/$deep")
    nt=$(timed warm stat "$NATIVE/$deep")
    row "cold stat of a deep file" "$cs" "$nt" "$(awk -v a="$cs" -v b="$nt" 'BEGIN{printf "%.1f", a / b}')" "$q"
    shim stat "$PREFIX/$deep" >/dev/null
    ws=$(timed warm shim stat "$PREFIX/$deep")
    q=$(queries warm shim stat "$PREFIX/$deep")
    row "warm stat (fresh process)" "$ws" "$nt" "$(awk -v a="$ws" -v b="$nt" 'BEGIN{printf "%.1f", a / b}')" "$q"
    cf=$(RUNS=3 timed cold shim bash -c 'sh_find "$1"' sh "$PREFIX/t$n")
    q=$(queries cold shim bash -c 'sh_find "$1"' sh "$PREFIX/t$n")
    nf=$(timed warm bash -c 'sh_find "$1"' sh "$NATIVE/t$n")
    got=$(shim bash -c 'sh_find "$1"' sh "$PREFIX/t$n")
    [ "$got" -eq "$(find "$NATIVE/t$n" | wc -l)" ] || bench_die "find saw $got entries"
    row "cold find | wc -l" "$cf" "$nf" "$(awk -v a="$cf" -v b="$nf" 'BEGIN{printf "%.1f", a / b}')" "$q"
    wf=$(RUNS=3 timed warm shim bash -c 'sh_find "$1"' sh "$PREFIX/t$n")
    q=$(queries warm shim bash -c 'sh_find "$1"' sh "$PREFIX/t$n")
    row "warm find | wc -l" "$wf" "$nf" "$(awk -v a="$wf" -v b="$nf" 'BEGIN{printf "%.1f", a / b}')" "$q"
done

OPS_PY='
import os, sys, time
d, phase, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def op(i):
    if phase == "create":
        os.close(os.open(f"{d}/n{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    elif phase == "rename":
        os.rename(f"{d}/n{i}", f"{d}/m{i}")
    elif phase == "unlink":
        os.unlink(f"{d}/m{i}")
os.stat(d)
ts = []
for i in range(n):
    t = time.perf_counter_ns(); op(i); ts.append(time.perf_counter_ns() - t)
ts.sort()
print(ts[len(ts) // 2] // 1000 if ts else 0)
'
[ "$ONLY_FAN" = 1 ] && BIGS="" || BIGS="big1k big100k"
for big in $BIGS; do
    sync; echo
    echo "flat folder /$big"
    for cmd in "ls -f" "ls -l"; do
        # shellcheck disable=SC2086
        c=$(RUNS=3 timed cold shim $cmd "$PREFIX/$big")
        # shellcheck disable=SC2086
        q=$(queries cold shim $cmd "$PREFIX/$big")
        # shellcheck disable=SC2086
        nl=$(timed warm $cmd "$NATIVE/$big")
        row "cold $cmd" "$c" "$nl" "$(awk -v a="$c" -v b="$nl" 'BEGIN{printf "%.1f", a / b}')" "$q"
        # shellcheck disable=SC2086
        w=$(RUNS=3 timed warm shim $cmd "$PREFIX/$big")
        # shellcheck disable=SC2086
        q=$(queries warm shim $cmd "$PREFIX/$big")
        row "warm $cmd" "$w" "$nl" "$(awk -v a="$w" -v b="$nl" 'BEGIN{printf "%.1f", a / b}')" "$q"
    done
    base0=$(queries warm shim python3 -c "$OPS_PY" "$PREFIX/$big" none 0)
    for phase in create rename unlink; do
        x0=$(xacts)
        t=$(shim python3 -c "$OPS_PY" "$PREFIX/$big" "$phase" "$OPS")
        x1=$(xacts)
        q=$(awk -v d=$((x1 - x0 - base0)) -v n="$OPS" 'BEGIN{printf "%.2f", d / n}')
        nt=$(python3 -c "$OPS_PY" "$NATIVE/$big" "$phase" "$OPS")
        row "$phase µs/op ($OPS ops)" "${t}µs" "${nt}µs" "$(awk -v a="$t" -v b="$nt" 'BEGIN{printf "%.0f", b ? a / b : 0}')" "$q"
    done
done

# ---- N cold readers of one node at once (issue 11: DataLoader workers) ----
# On the 100 k tree: N = 1, 8, 64, 256 processes start together on a fresh
# node (empty cache folder), each stat()ing, open()ing and reading the 10
# files of 2 leaf folders (tests/tools/fanout_read). With the node agent
# and the default TTLs, as a job runs. Printed: time to the first file
# read whole (median and max over the readers), total time, the most
# connections of the volume's database seen at once (sampled every 5 ms
# inside the server) and the new connections (pg_stat_database.sessions),
# and the transactions committed (the agent's polls included, ~5/s), both
# less what a run of 0 readers counts (this script's own reads).
# Then a warm epoch: 64 readers again past the TTL while another database
# of the server commits 20 times a second: new connections and queries
# (less the agent's polls measured just before).
FAN=$ROOT/build/tools/fanout_read
fan_n=100000
if ! [[ " $SIZES " == *" $fan_n "* ]]; then
    bench_log "no 100 k tree (BENCH_META_SIZES): no fan-out rows"
    exit 0
fi
[ -x "$FAN" ] || bench_die "$FAN not built (make tools)"
read -r fa fs ff <<<"$(shape "$fan_n")"
unset SHIMFS_AGENT SHIMFS_ATTR_TTL SHIMFS_ENTRY_TTL
sessions() { sql -c "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"; }
sql -c "CREATE TABLE IF NOT EXISTS bench_fan_stop (x int)" >/dev/null
# fan_run N: sets FIRST_MED FIRST_MAX TOTAL PEAK NEWC XQ (and OKN)
fan_run() {
    local n=$1 i a b fifo=$SCR/fan.fifo t0 t1 s0 s1 x0 x1 pids=()
    rm -rf "$CACHE"; mkdir -p "$CACHE"
    sleep 1 # the last run's agent leaves once its folder is gone
    rm -f "$fifo"; mkfifo "$fifo"
    sql -c "TRUNCATE bench_fan_stop"
    x0=$(xacts); s0=$(sessions)
    sql -c "DO \$\$
        DECLARE m int := 0; c int; t0 timestamptz := clock_timestamp();
        BEGIN
          LOOP
            PERFORM pg_stat_clear_snapshot();
            SELECT count(*) INTO c FROM pg_stat_activity
             WHERE datname = current_database() AND backend_type = 'client backend'
               AND pid <> pg_backend_pid();
            IF c > m THEN m := c; END IF;
            EXIT WHEN EXISTS (SELECT 1 FROM bench_fan_stop) OR clock_timestamp() - t0 > interval '300 s';
            PERFORM pg_sleep(0.005);
          END LOOP;
          RAISE NOTICE 'peak %', m;
        END \$\$" 2> "$SCR/fan.peak" &
    local sampler=$!
    for ((i = 0; i < n; i++)); do
        a=$((i % fa + 1)); b=$((i * 7 % fs + 1))
        env LD_PRELOAD="$LIB" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$CACHE" SHIMFS_LOG=error \
            "$FAN" "$fifo" "$ff" "$PREFIX/t$fan_n/d$a/e$b" "$PREFIX/t$fan_n/d$b/e$a" > "$SCR/fan.$i" 2>&1 &
        pids+=($!)
    done
    t0=$(date +%s%N)
    exec 9<> "$fifo"   # read-write: never blocks, even with no reader (the 0 run)
    OKN=0
    for i in "${!pids[@]}"; do if wait "${pids[$i]}"; then OKN=$((OKN + 1)); fi; done
    t1=$(date +%s%N)
    exec 9>&-
    sql -c "INSERT INTO bench_fan_stop VALUES (1)"
    wait "$sampler" || true
    PEAK=$(sed -n 's/.*peak \([0-9]*\).*/\1/p' "$SCR/fan.peak" | tail -1)
    s1=$(sessions); x1=$(xacts)
    NEWC=$((s1 - s0 - ${FAN_OVH_C:-0}))   # less this script's own (a run of 0 readers)
    XQ=$((x1 - x0 - ${FAN_OVH_X:-0}))
    TOTAL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", (b - a) / 1e6}')
    read -r FIRST_MED FIRST_MAX <<<"$(cat "$SCR"/fan.[0-9]* 2>/dev/null | awk '$1 == "ok" {print $3}' | sort -n |
        awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)], v[NR]; else print "- -"}')"
    rm -f "$fifo" "$SCR"/fan.[0-9]*
}
sync; echo
echo "cold readers of one node at once, tree of $fan_n files (each: 2 folders of $ff files)"
printf '%-12s %8s %10s %10s %9s %6s %9s %9s   load\n' "readers" "ok" "first med" "first max" "total ms" "peak" "new conns" "queries"
fan_run 0
FAN_OVH_C=$NEWC FAN_OVH_X=$XQ
for n in 1 8 64 256; do
    fan_run "$n"
    printf '%-12s %8s %10s %10s %9s %6s %9s %9s   %s\n' "$n" "$OKN/$n" "${FIRST_MED}ms" "${FIRST_MAX}ms" \
        "$TOTAL" "$PEAK" "$NEWC" "$XQ" "$(cut -d' ' -f1 /proc/loadavg)"
done

# a warm epoch past the TTL while another database of the server commits
OTHER=$("$SVC" newdb bench_other)
psql -X -q "$OTHER" -c "CREATE TABLE IF NOT EXISTS t (x int)"
a0=$(xacts); sleep 2; a1=$(xacts)
agent_rate=$(awk -v d=$((a1 - a0)) 'BEGIN{printf "%.1f", d / 2}') # per second, over 2 s (rough)
sleep 1.5 # past the 1 s TTL: only the agent's word keeps the node's answers
( for _ in $(seq 100); do echo "INSERT INTO t VALUES (1);"; echo "SELECT pg_sleep(0.05);"; done |
    psql -X -q "$OTHER" >/dev/null ) &
writer=$!
x0=$(xacts); s0=$(sessions); t0=$(date +%s%N)
pids=()
for ((i = 0; i < 64; i++)); do
    a=$((i % fa + 1)); b=$((i * 7 % fs + 1))
    env LD_PRELOAD="$LIB" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$CACHE" SHIMFS_LOG=error \
        "$FAN" - "$ff" "$PREFIX/t$fan_n/d$a/e$b" "$PREFIX/t$fan_n/d$b/e$a" >/dev/null 2>&1 &
    pids+=($!)
done
ok=0
for p in "${pids[@]}"; do if wait "$p"; then ok=$((ok + 1)); fi; done
t1=$(date +%s%N)
s1=$(sessions); x1=$(xacts)
wait "$writer" || true
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b - a) / 1e9}')
q=$(awk -v d=$((x1 - x0)) -v r="$agent_rate" -v s="$secs" 'BEGIN{v = d - r * s; printf "%.0f", v < 0 ? 0 : v}')
echo
echo "warm epoch (64 readers, past the TTL) while another database commits 20/s: $ok/64 ok in ${secs}s," \
     "$((s1 - s0 - 1)) new connections, ~$q queries (less the agent's $agent_rate/s)"


#!/usr/bin/env bash
# tests/integration/test_write_concurrent.sh — writers at the same time.
#  - 8 processes (dd under the shim) write 8 different files of one
#    directory at once: every file equals its source, the directory lists
#    exactly them; then 8 processes create 50 small files each in one
#    directory: 400 entries, every one with its own content.
#  - Two writers of one file (write_overlap.py): A writes 'A' over
#    [0, 6 MiB), B writes 'B' over [2, 8 MiB), both open (no O_TRUNC) and
#    buffered at once. The documented outcome (close-to-open): each close
#    commits that writer's bytes atomically; where the ranges overlap the
#    last commit wins; a range only one writer wrote keeps its bytes; the
#    size is the larger end. Never a torn mixture inside one writer's
#    commit: every MiB is all 'A' or all 'B'. Checked with A closing first,
#    B closing first, and both closing at once (either order, never mixed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
OVERLAP=$TEST_ROOT/tests/integration/write_overlap.py
PREFIX=/mnt/shimfs-wconc-$$
VOL=$PREFIX/c
SRC=$TEST_SCRATCH/src
MiB=$((1024 * 1024))
N=8

META=$(test_db)
check "format an S3 volume" "$CLI" format wconc --bucket "$(test_bucket)" --meta "$META" > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

mkdir -p "$SRC"
for ((i = 1; i <= N; i++)); do head -c $((6 * MiB + i * 4099)) /dev/urandom > "$SRC/f$i"; done
check "mkdir" shim mkdir -p "$VOL/par" "$VOL/small" "$VOL/one"

# ---- 8 writers, 8 files, one directory ----
pids=()
for ((i = 1; i <= N; i++)); do
    shim dd if="$SRC/f$i" of="$VOL/par/f$i" bs=1M status=none &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "$N concurrent dd writers exit 0"
same=0
for ((i = 1; i <= N; i++)); do shim cmp -s "$SRC/f$i" "$VOL/par/f$i" && same=$((same + 1)); done
assert_eq "$N" "$same" "every concurrently written file equals its source"
assert_eq "$(cd "$SRC" && ls | sort | tr '\n' ' ')" "$(shim ls "$VOL/par" | sort | tr '\n' ' ')" \
    "the directory lists exactly the $N files"

# ---- 8 processes creating 50 files each in one directory ----
pids=()
for ((i = 1; i <= N; i++)); do
    shim bash -c 'for j in $(seq 1 50); do printf "w%s-%s\n" "$1" "$j" > "$2/w$1-$j"; done' _ "$i" "$VOL/small" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "$N concurrent creators exit 0"
assert_eq $((N * 50)) "$(shim ls "$VOL/small" | wc -l)" "$((N * 50)) entries after concurrent creates"
bad=$(shim bash -c 'cd "$1" && for f in w*; do [ "$(cat "$f")" = "$f" ] || echo "$f"; done' _ "$VOL/small" | wc -l)
assert_eq 0 "$bad" "every small file holds its own content"

# ---- two writers, one file ----
# One letter per MiB of the file: the byte if the whole MiB is that byte,
# '?' if it is mixed.
mib_map() {
    shim "$PY" -c '
import sys
data = open(sys.argv[1], "rb").read()
out = []
for o in range(0, len(data), 1 << 20):
    piece = data[o:o + (1 << 20)]
    out.append(chr(piece[0]) if piece.count(piece[:1]) == len(piece) else "?")
print("".join(out), len(data))' "$1"
}

# overlap NAME ORDER: ORDER is "A B" (A closes first), "B A", or "AB" (at once).
overlap() {
    local name=$1 order=$2 d=$TEST_SCRATCH/sig-$1 f=$VOL/one/$1
    mkdir -p "$d"
    shim "$PY" -c 'open(__import__("sys").argv[1], "wb").close()' "$f"
    shim "$PY" "$OVERLAP" "$f" 0 $((6 * MiB)) A "$d/readyA" "$d/goA" "$d/doneA" &
    local pa=$!
    shim "$PY" "$OVERLAP" "$f" $((2 * MiB)) $((6 * MiB)) B "$d/readyB" "$d/goB" "$d/doneB" &
    local pb=$!
    wait_for 60 test -e "$d/readyA" -a -e "$d/readyB" || fail "$name: writers not ready"
    case $order in
        "A B") touch "$d/goA"; wait_for 60 test -e "$d/doneA"; touch "$d/goB" ;;
        "B A") touch "$d/goB"; wait_for 60 test -e "$d/doneB"; touch "$d/goA" ;;
        AB) touch "$d/goA" "$d/goB" ;;
    esac
    local ra=0 rb=0
    wait "$pa" || ra=$?
    wait "$pb" || rb=$?
    assert_eq "0 0" "$ra $rb" "$name: both writers' close succeeded"
    mib_map "$f" > "$TEST_SCRATCH/map-$name"
}

overlap a-then-b "A B"
assert_eq "AABBBBBB $((8 * MiB))" "$(cat "$TEST_SCRATCH/map-a-then-b")" \
    "A closes, then B: B's bytes win where they overlap, A keeps [0,2 MiB)"
overlap b-then-a "B A"
assert_eq "AAAAAABB $((8 * MiB))" "$(cat "$TEST_SCRATCH/map-b-then-a")" \
    "B closes, then A: A's bytes win where they overlap, B keeps [6,8 MiB)"
for run in 1 2 3; do
    overlap "at-once-$run" AB
    got=$(cat "$TEST_SCRATCH/map-at-once-$run")
    case $got in
        "AABBBBBB $((8 * MiB))"|"AAAAAABB $((8 * MiB))") pass "closing at once ($run): one whole commit won ($got)" ;;
        *) fail "closing at once ($run): torn or wrong content: $got" ;;
    esac
done

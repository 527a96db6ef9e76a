#!/usr/bin/env bash
# scripts/gen-dataset.sh — a deterministic test dataset, fast.
#   gen-dataset.sh DIR FILES DIRS SIZE [SEED]
# Makes FILES files of SIZE bytes each ("128K", "4M", "512M" or bytes) spread
# round-robin over DIRS folders DIR/dNNNN/fNNNNNNN.bin. The bytes are an
# AES-128-CTR keystream keyed by SEED (default 1): random-looking (so they
# do not compress) yet identical on every run and every machine; file i
# holds bytes [i*SIZE, (i+1)*SIZE) of that stream. mtimes are fixed too
# (2024-01-01 plus i seconds), so two runs give identical trees.
# Promises: refuses a non-empty DIR; needs only openssl and python3; one
# pass over a pipe (about 1 s for 5,000 files of 128 KiB).
set -euo pipefail

gen_die() { printf 'gen-dataset.sh: %s\n' "$*" >&2; exit 2; }

[ $# -ge 4 ] && [ $# -le 5 ] || gen_die "usage: gen-dataset.sh DIR FILES DIRS SIZE [SEED]"
dir=$1 files=$2 dirs=$3 size_spec=$4 seed=${5:-1}
[[ $files =~ ^[0-9]+$ ]] && [ "$files" -ge 1 ] || gen_die "FILES must be a positive number"
[[ $dirs =~ ^[0-9]+$ ]] && [ "$dirs" -ge 1 ] || gen_die "DIRS must be a positive number"
[[ $seed =~ ^[0-9]+$ ]] || gen_die "SEED must be a number"
case $size_spec in
    *[kK]) size=$(( ${size_spec%[kK]} * 1024 )) ;;
    *[mM]) size=$(( ${size_spec%[mM]} * 1024 * 1024 )) ;;
    *[gG]) size=$(( ${size_spec%[gG]} * 1024 * 1024 * 1024 )) ;;
    *)     size=$size_spec ;;
esac
[[ $size =~ ^[0-9]+$ ]] || gen_die "bad SIZE '$size_spec'"
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    gen_die "$dir is not empty"
fi
mkdir -p "$dir"

key=$(printf '%032x' "$seed")
# The keystream of AES-CTR over zeros; python cuts it into files. openssl
# dies of the closed pipe when python is done: that is its normal end.
{ openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 \
          -in /dev/zero 2>/dev/null || true; } |
/usr/bin/python3 -c '
import os, sys
root, files, dirs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
src = sys.stdin.buffer
base = 1704067200  # 2024-01-01T00:00:00Z
for d in range(min(dirs, files)):
    os.makedirs(os.path.join(root, "d%04d" % d), exist_ok=True)
step = 1 << 20
for i in range(files):
    path = os.path.join(root, "d%04d" % (i % dirs), "f%07d.bin" % i)
    with open(path, "wb") as out:
        left = size
        while left:
            buf = src.read(min(step, left))
            if not buf:
                sys.exit("gen-dataset.sh: keystream ended early")
            out.write(buf)
            left -= len(buf)
    os.utime(path, (base + i, base + i))
' "$dir" "$files" "$dirs" "$size"

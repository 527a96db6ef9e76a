#!/usr/bin/env bash
# scripts/demo.sh - shimfs end to end on the embedded defaults (make demo).
# Starts a private PostgreSQL, formats a volume whose bucket is a local
# directory (file://), imports a generated sample dataset, then shows
# ordinary, unmodified programs reading it through the shim. Stops what it
# started, whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEMO=$ROOT/.scratch/demo
PREFIX=/mnt/shimfs-demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# The node agent the demo's processes started goes first (it would wait a
# minute for the stopped database before leaving by itself).
cleanup() {
    local pid
    pid=$(build/shimfs agent --status 2>/dev/null | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    scripts/pg.sh stop "$DEMO/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

rm -rf "$DEMO"
mkdir -p "$DEMO"
say "starting a private PostgreSQL in $DEMO/pg"
scripts/pg.sh start "$DEMO/pg" >/dev/null
export SHIMFS_META="postgresql://shimfs:shimfs-test@127.0.0.1:$(scripts/pg.sh port "$DEMO/pg")/shimfs"
export SHIMFS_CACHE_DIR=$DEMO/cache
export SHIMFS_PREFIX=$PREFIX

say "shimfs format demo --bucket file://$DEMO/bucket"
build/shimfs format demo --bucket "file://$DEMO/bucket"

say "generating a sample dataset: 20 directories x 50 files of 64 KiB, plus labels and a README"
scripts/gen-dataset.sh "$DEMO/local/dataset" 1000 20 65536 >/dev/null
printf 'a sample dataset made by make demo\n' > "$DEMO/local/dataset/README"
for i in $(seq 0 9); do echo "class-$i"; done > "$DEMO/local/dataset/labels.txt"
ln -s labels.txt "$DEMO/local/dataset/classes"

say "shimfs import $DEMO/local/dataset /dataset"
build/shimfs import "$DEMO/local/dataset" /dataset
build/shimfs status

say "shimfs ls /dataset and shimfs cat /dataset/README"
build/shimfs ls /dataset | head -5
build/shimfs cat /dataset/README

RUN="scripts/shimfs-run --prefix $PREFIX --"
say "through the shim: ls -l $PREFIX/dataset | head"
$RUN ls -l "$PREFIX/dataset" | head -8

say "through the shim: find $PREFIX/dataset -type f | wc -l"
$RUN find "$PREFIX/dataset" -type f | wc -l

say "through the shim: md5sum of the volume against md5sum of the local copy"
(cd "$DEMO/local" && find dataset -type f | sort | xargs md5sum) > "$DEMO/local.md5"
$RUN bash -c "cd $PREFIX && find dataset -type f | sort | xargs md5sum" > "$DEMO/volume.md5"
if cmp -s "$DEMO/local.md5" "$DEMO/volume.md5"; then
    echo "all $(wc -l < "$DEMO/volume.md5") files identical"
else
    diff "$DEMO/local.md5" "$DEMO/volume.md5" | head; exit 1
fi

say "through the shim: a python3 script walking and reading the dataset"
$RUN python3 - "$PREFIX/dataset" <<'PY'
import os, sys, hashlib, time
root = sys.argv[1]
t = time.time(); n = 0; size = 0; h = hashlib.sha256()
for d, dirs, files in os.walk(root):
    dirs.sort()
    for f in sorted(files):
        with open(os.path.join(d, f), 'rb') as fh:
            data = fh.read()
        n += 1; size += len(data); h.update(data)
print(f"python3 read {n} files, {size/2**20:.1f} MiB in {time.time()-t:.2f} s, sha256 {h.hexdigest()[:16]}")
print("labels:", open(os.path.join(root, "classes")).read().split()[:3], "...")
PY

say "through the shim: a training step writes a checkpoint (temp file, fsync, rename) and another process reads it"
$RUN python3 - "$PREFIX" <<'PY'
import os, sys, hashlib
root = sys.argv[1]
os.makedirs(os.path.join(root, "checkpoints"), exist_ok=True)
blob = hashlib.sha256(b"epoch-1").digest() * 40000
tmp = os.path.join(root, "checkpoints", "ckpt.pt.tmp")
with open(tmp, "wb") as f:
    f.write(blob)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, os.path.join(root, "checkpoints", "ckpt.pt"))
print("wrote", len(blob), "bytes, sha256", hashlib.sha256(blob).hexdigest()[:16])
PY
$RUN python3 -c "import hashlib,sys; d=open(sys.argv[1],'rb').read(); print('read ', len(d), 'bytes, sha256', hashlib.sha256(d).hexdigest()[:16])" "$PREFIX/checkpoints/ckpt.pt"
$RUN ls -l "$PREFIX/checkpoints"

say "done: the volume lives in PostgreSQL ($DEMO/pg) and $DEMO/bucket"

#!/usr/bin/env bash
# tests/integration/test_venv_torch.sh — a PyTorch DataLoader with forked
# workers, run by the python of a venv stored in the volume (issue 13),
# reading its samples from the volume: 64 files of 4 KiB written by the
# test, num_workers=2 (fork), batch_size=8. Every sample arrives once, its
# bytes as written; the workers are forked shim processes that read the
# volume themselves. The venv sees Debian's python3-torch through
# --system-site-packages; its site-packages holds the Dataset's module.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
"$PY" -c 'import torch, venv' 2> /dev/null || skip_test "no torch for /usr/bin/python3 (python3-torch)"
PYVER=$("$PY" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
PREFIX=/mnt/shimfs-torch-$$
VENV=$PREFIX/v/venv
DATA=$PREFIX/v/data
test_volume torch

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

check "mkdir" shim mkdir -p "$DATA"
check "venv with the system's packages" shim "$PY" -m venv --without-pip --system-site-packages "$VENV"
venv_py() { shim env "$VENV/bin/python" "$@"; } # env: a preloaded exec

check "write 64 samples" shim "$PY" -c '
import os, sys
for i in range(64):
    with open(os.path.join(sys.argv[1], "s%02d.bin" % i), "wb") as f:
        f.write(bytes([i]) * 4096)
' "$DATA"

cat > "$TEST_SCRATCH/volds.py" <<'EOF'
import os
import torch
from torch.utils.data import Dataset

class VolumeFiles(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(root, n) for n in os.listdir(root))
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            b = f.read()
        return torch.tensor([i, b[0], len(b), int(all(x == b[0] for x in b)), os.getpid()])
EOF
check "install the Dataset module" shim cp "$TEST_SCRATCH/volds.py" "$VENV/lib/$PYVER/site-packages/"

cat > "$TEST_SCRATCH/loader.py" <<'EOF'
import os, sys, torch, volds
from torch.utils.data import DataLoader
assert sys.prefix == sys.argv[1], sys.prefix
# timeout: a worker that hangs fails the test within a minute
dl = DataLoader(volds.VolumeFiles(sys.argv[2]), batch_size=8, num_workers=2,
                multiprocessing_context="fork", timeout=60)
rows = torch.cat(list(dl))
idx = sorted(rows[:, 0].tolist())
print("samples", len(rows), idx == list(range(64)))
print("bytes", bool((rows[:, 1] == rows[:, 0]).all()), bool((rows[:, 2] == 4096).all()),
      bool((rows[:, 3] == 1).all()))
pids = set(rows[:, 4].tolist())
print("workers", len(pids), os.getpid() not in pids)
EOF
out=$(venv_py "$TEST_SCRATCH/loader.py" "$VENV" "$DATA" 2>&1) || true
echo "$out" | grep -v Warning | sed 's/^/    /' | tail -n 8
assert_eq "samples 64 True" "$(echo "$out" | grep '^samples')" "every sample arrives once"
assert_eq "bytes True True True" "$(echo "$out" | grep '^bytes')" "each sample's bytes as written"
assert_eq "workers 2 True" "$(echo "$out" | grep '^workers')" "read by the two forked workers"

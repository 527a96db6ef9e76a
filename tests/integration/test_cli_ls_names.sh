#!/usr/bin/env bash
# tests/integration/test_cli_ls_names.sh — `shimfs ls` prints every name on
# one line and never hands the terminal a control sequence: names with a
# newline, ESC, a tab, a backslash, a C1 control (CSI, 0xC2 0x9B) and bytes
# that are not UTF-8 are escaped like `ls -b` (\n, \033, \t, \\, \302\233,
# \377); UTF-8 text and spaces print as they are; -l escapes the name and
# the symlink target alike. The names themselves round-trip unchanged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-lsnames-$$
test_volume lsnames
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" "$@"
}

check "make the names" shim "$PY" - "$PREFIX" <<'EOF2'
import os, sys
d = os.path.join(sys.argv[1].encode(), b"d")
os.mkdir(d)
for n in [b"a\nb", b"esc\x1b[31mred", b"tab\there", b"back\\slash", b"csi\xc2\x9bx",
          b"bad\xffutf8", "caf\u00e9 au lait".encode()]:
    open(os.path.join(d, n), "w").close()
os.symlink(b"t\nx", os.path.join(d, b"z-link"))
EOF2

"$SHIMFS_CLI" ls /d > "$TEST_SCRATCH/ls.out"
printf '%s\n' 'a\nb' 'back\\slash' 'bad\377utf8' 'café au lait' 'csi\302\233x' \
    'esc\033[31mred' 'tab\there' 'z-link' > "$TEST_SCRATCH/ls.want"
assert_files_equal "$TEST_SCRATCH/ls.want" "$TEST_SCRATCH/ls.out" "one escaped line per name"
assert_eq 0 "$(LC_ALL=C grep -c $'\x1b' "$TEST_SCRATCH/ls.out" || true)" "no ESC byte reaches the terminal"

"$SHIMFS_CLI" ls -l /d > "$TEST_SCRATCH/lsl.out"
assert_eq 8 "$(wc -l < "$TEST_SCRATCH/lsl.out")" "-l: one line per entry"
check "-l escapes the symlink's name and target" grep -qF 'z-link -> t\nx' "$TEST_SCRATCH/lsl.out"

# the escaping is only for display: the names are stored as given
got=$(shim "$PY" -c 'import os, sys; print(sorted(os.listdir(os.path.join(sys.argv[1].encode(), b"d"))) == sorted([b"a\nb", b"esc\x1b[31mred", b"tab\there", b"back\\slash", b"csi\xc2\x9bx", b"bad\xffutf8", "caf\u00e9 au lait".encode(), b"z-link"]))' "$PREFIX")
assert_eq True "$got" "the names round-trip unchanged"

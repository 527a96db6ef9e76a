#!/usr/bin/env bash
# tests/integration/test_settings_doc.sh — the table of settings
# (core/settings.def) is what users read: docs/configuration.md's reference
# section is exactly `shimfs settings --markdown` (regenerate with
# `make docs`), and `shimfs --help` and `shimfs help settings` name every
# setting the reference does. Needs no service.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CLI=$SHIMFS_CLI
DOC=$TEST_ROOT/docs/configuration.md

if "$TEST_ROOT/scripts/settings-doc.sh" --check "$CLI" "$DOC" > "$TEST_SCRATCH/diff" 2>&1; then
    pass "docs/configuration.md's reference is the table's (make docs)"
else
    fail "docs/configuration.md's reference differs from core/settings.def: $(head -c 600 "$TEST_SCRATCH/diff")"
fi

# The check must see a difference: a copy with one default changed fails it.
sed 's/^| `SHIMFS_PREFETCH` | `32` |/| `SHIMFS_PREFETCH` | `33` |/' "$DOC" > "$TEST_SCRATCH/edited.md"
if cmp -s "$DOC" "$TEST_SCRATCH/edited.md"; then
    fail "could not edit SHIMFS_PREFETCH's row in a copy of the docs"
elif "$TEST_ROOT/scripts/settings-doc.sh" --check "$CLI" "$TEST_SCRATCH/edited.md" > /dev/null 2>&1; then
    fail "a stale reference (SHIMFS_PREFETCH's default edited) passed the check"
else
    pass "a stale reference fails the check"
fi

"$CLI" --help > "$TEST_SCRATCH/help" 2>&1 || fail "shimfs --help exits non-zero"
"$CLI" help settings > "$TEST_SCRATCH/settings" 2>&1 || fail "shimfs help settings exits non-zero"
names=$(grep -o '^| `[A-Z_0-9]*`' "$DOC" | tr -d '|` ')
[ -n "$names" ] || fail "no setting found in docs/configuration.md"
missing_help= missing_settings=
for n in $names; do
    grep -q "^  $n\b" "$TEST_SCRATCH/help" || missing_help="$missing_help $n"
    grep -q "^  $n\b" "$TEST_SCRATCH/settings" || missing_settings="$missing_settings $n"
done
assert_eq "" "$missing_help" "shimfs --help lists every setting of the reference"
assert_eq "" "$missing_settings" "shimfs help settings explains every setting of the reference"
grep -q '^  SHIMFS_CACHE_SIZE .*\[100G\]$' "$TEST_SCRATCH/help" \
    && pass "shimfs --help shows a setting's default" || fail "no [100G] default for SHIMFS_CACHE_SIZE in shimfs --help"

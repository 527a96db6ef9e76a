#!/usr/bin/env bash
# scripts/settings-doc.sh [--check] SHIMFS [DOC] — the reference section of
# docs/configuration.md (between the `<!-- settings: ... -->` and
# `<!-- end of settings -->` lines) is `SHIMFS settings --markdown`, made
# from core/settings.def. Without --check, writes it into DOC (default
# docs/configuration.md); with --check, says what differs and exits 1 when
# DOC's section is not what the table makes. `make docs` runs the first.
set -euo pipefail

check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
cli=${1:?usage: settings-doc.sh [--check] SHIMFS [DOC]}
doc=${2:-$(cd "$(dirname "$0")/.." && pwd)/docs/configuration.md}
begin='^<!-- settings: '
end='^<!-- end of settings -->$'

gen=$(mktemp)
new=$(mktemp)
trap 'rm -f "$gen" "$new"' EXIT
"$cli" settings --markdown > "$gen"
if [ "$(grep -c "$begin" "$doc")" != 1 ] || [ "$(grep -c "$end" "$doc")" != 1 ]; then
    echo "settings-doc: $doc needs one '<!-- settings: ...' line and one '<!-- end of settings -->' line" >&2
    exit 1
fi
# The document with its section replaced by the generated one.
awk -v gen="$gen" -v b="$begin" -v e="$end" '
    $0 ~ b { while ((getline line < gen) > 0) print line; skip = 1; next }
    $0 ~ e { skip = 0; next }
    !skip { print }' "$doc" > "$new"
if [ "$check" = 1 ]; then
    if ! diff -u "$doc" "$new"; then
        echo "settings-doc: $doc's reference differs from core/settings.def; run make docs" >&2
        exit 1
    fi
    exit 0
fi
cat "$new" > "$doc"

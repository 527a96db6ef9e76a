#!/usr/bin/env bash
# scripts/format-check.sh [BASE] — `make format-check`: do the C lines
# changed since BASE (default origin/main, else main; the change is
# counted from where HEAD left BASE, working tree included) follow
# .clang-format? Only the changed lines are judged: the tree as it is
# differs from .clang-format in places (see there), and a change should
# not have to reformat what it did not write. Prints clang-format's diff
# and exits 1 when they do not; exits 0 when they do or when there is no C
# change. Skips (exit 0, says so) when clang-format is missing
# (scripts/deps.sh installs it).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The base asked for, else the first of origin/main and main that exists.
fc_base() {
    local b
    for b in ${1:-origin/main main}; do
        git rev-parse -q --verify "$b^{commit}" >/dev/null && { echo "$b"; return 0; }
    done
    return 1
}

if ! command -v clang-format >/dev/null || ! command -v git-clang-format >/dev/null; then
    echo "format-check: skipped (clang-format is not installed; scripts/deps.sh installs it)"
    exit 0
fi
base=$(fc_base "${1:-}") || { echo "format-check: no base to compare with (${1:-origin/main, main})"; exit 1; }
since=$(git merge-base "$base" HEAD) || { echo "format-check: HEAD has nothing in common with $base"; exit 1; }
out=$(git clang-format --diff --extensions c,h "$since" 2>&1)
if [ "${out#diff }" != "$out" ]; then
    printf '%s\n' "$out"
    echo "format-check: the lines above differ from .clang-format (changes since $base)"
    exit 1
fi
echo "format-check: ok (C lines changed since $base follow .clang-format)"

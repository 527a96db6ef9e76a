#!/usr/bin/env bash
# scripts/lint.sh — `make lint`: cppcheck over the engine, cache, shim and
# metadata sources (warnings, style, performance, portability; errors are
# always on). What it must not report, with why, is in scripts/cppcheck.supp;
# `// cppcheck-suppress ID` on the line above also works. Prints the
# findings and exits 1 on any; skips (exit 0, says so) when cppcheck is
# missing (scripts/deps.sh installs it). One job: with -j cppcheck skips its
# whole-program checks (argument flow across files). Takes seconds.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cppcheck >/dev/null; then
    echo "lint: skipped (cppcheck is not installed; scripts/deps.sh installs it)"
    exit 0
fi
if cppcheck --quiet --error-exitcode=1 --std=c11 -D_GNU_SOURCE \
        -Icore -Icore/vfs -Icore/objstore -Icore/objstore/s3 -Icore/agent -Imetadata-sql -Icache -Ishim \
        --enable=warning,style,performance,portability --inline-suppr \
        --suppressions-list=scripts/cppcheck.supp \
        --template='{file}:{line}: {severity}: {id}: {message}' \
        core cache shim metadata-sql; then
    echo "lint: ok (cppcheck)"
else
    echo "lint: cppcheck reported the findings above"
    exit 1
fi

#!/usr/bin/env bash
# tests/integration/test_man.sh — the man pages: shimfs(1), shimfs-run(1)
# and libshimfs(7) render with groff without a single warning; shimfs(1)
# has a section for every command `shimfs --help` lists, with every option
# of its `--help`; libshimfs(7) explains every setting of core/settings.def
# (as `shimfs settings --markdown` renders it) and shimfs(1) lists them;
# shimfs-run(1) has the options of `shimfs-run --help`; `make install`
# puts them in share/man/man1 and man7. The generator refuses a help text
# it cannot read rather than drop part of it. Needs no service.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_cmd groff python3

[ "${SHIMFS_SANITIZE:-}" != 1 ] || skip_test "the man pages are made from the plain build (not under SANITIZE=1)"
DEST=$TEST_SCRATCH/dest
if ! env -u MAKEFLAGS -u MAKELEVEL make -C "$TEST_ROOT" --no-print-directory install DESTDIR="$DEST" \
        PREFIX=/opt/shimfs > "$TEST_SCRATCH/make.log" 2>&1; then
    fail "make install: $(tail -n 5 "$TEST_SCRATCH/make.log")"
    exit 1
fi
MAN=$DEST/opt/shimfs/share/man
CLI=$SHIMFS_CLI
for page in man1/shimfs.1 man1/shimfs-run.1 man7/libshimfs.7; do
    if [ ! -f "$MAN/$page" ]; then
        fail "make install put no $page in share/man"
        continue
    fi
    warnings=$(groff -man -ww -z "$MAN/$page" 2>&1 || echo "groff exited $?")
    assert_eq "" "$warnings" "$page renders with groff -man -ww without warnings"
    # What a reader sees (hyphens as typed, no line breaks inside words).
    MANWIDTH=200 groff -man -Tutf8 -rLL=200n -P-cbou "$MAN/$page" 2>/dev/null |
        sed 's/‐/-/g; s/−/-/g' > "$TEST_SCRATCH/$(basename "$page").txt"
done
S1=$TEST_SCRATCH/shimfs.1.txt
R1=$TEST_SCRATCH/shimfs-run.1.txt
L7=$TEST_SCRATCH/libshimfs.7.txt

# Every command, with each of its options.
commands=$("$CLI" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\) .*/\1/p')
[ "$(printf '%s\n' $commands | wc -l)" -ge 10 ] || fail "shimfs --help lists only: $commands"
no_section= no_option=
for c in $commands; do
    [ "$c" = help ] && { grep -q '^   shimfs help' "$S1" || no_section="$no_section help"; continue; }
    grep -q "^   shimfs $c\$" "$S1" || no_section="$no_section $c"
    # The section's text, up to the next one.
    sed -n "/^   shimfs $c\$/,/^   shimfs [a-z]*\$/p" "$S1" > "$TEST_SCRATCH/section"
    for opt in $("$CLI" "$c" --help | grep -oE '^ +(-[a-zA-Z], )?--?[a-z][a-z-]*' | grep -oE -- '--?[a-z][a-z-]*$'); do
        grep -qE -- "(^|[ ,])$opt([ ,=]|\$)" "$TEST_SCRATCH/section" || no_option="$no_option $c:$opt"
    done
done
assert_eq "" "$no_section" "shimfs(1) has a section for every command ($(echo $commands | wc -w))"
assert_eq "" "$no_option" "each command's section has every option of its --help"
grep -q 'show the library.s diagnostic log lines too' "$S1" && pass "shimfs(1) has the global options" ||
    fail "shimfs(1) lacks -v's text"

# Every setting.
names=$("$CLI" settings --markdown | grep -o '^| `[A-Z_0-9]*`' | tr -d '|` ')
[ "$(printf '%s\n' $names | wc -l)" -ge 20 ] || fail "shimfs settings --markdown names only: $names"
no_l7= no_s1=
for n in $names; do
    grep -q "^       $n\b" "$L7" || no_l7="$no_l7 $n"
    grep -q "^       $n\b" "$S1" || no_s1="$no_s1 $n"
done
assert_eq "" "$no_l7" "libshimfs(7) explains every setting ($(echo $names | wc -w))"
assert_eq "" "$no_s1" "shimfs(1)'s ENVIRONMENT lists every setting"
grep -A3 '^       SHIMFS_CACHE_SIZE' "$L7" | grep -q 'Default: 100G' &&
    pass "libshimfs(7) shows a setting's default" || fail "no 'Default: 100G' under SHIMFS_CACHE_SIZE in libshimfs(7)"
for section in 'WHAT WORKS' LIMITS SETTINGS; do
    grep -q "^$section" "$L7" || fail "libshimfs(7) has no $section section"
done

# shimfs-run(1).
no_run=
for opt in $(sh "$TEST_ROOT/scripts/shimfs-run" --help | grep -oE '^ +(-[a-z], )?--?[a-z][a-z-]*' | grep -oE -- '--?[a-z][a-z-]*$'); do
    grep -qE -- "(^|[ ,])$opt([ ,=]|\$)" "$R1" || no_run="$no_run $opt"
done
assert_eq "" "$no_run" "shimfs-run(1) has every option of shimfs-run --help"

# The generator fails on a help text it cannot read (here: a command's
# help without its usage line).
fake=$TEST_SCRATCH/fake-shimfs
printf '#!/bin/sh\nif [ "$*" = --help ]; then exec "%s" --help; else echo "no usage"; fi\n' "$CLI" > "$fake"
chmod +x "$fake"
if python3 "$TEST_ROOT/scripts/gen-man.py" --version 0 --shimfs "$fake" --shimfs-run "$TEST_ROOT/scripts/shimfs-run" \
        "$TEST_ROOT/docs/man/shimfs.1.in" "$TEST_SCRATCH/bad.1" 2> "$TEST_SCRATCH/gen.err"; then
    fail "gen-man.py wrote a page from a help text without a usage line"
else
    grep -q 'does not start with "usage: "' "$TEST_SCRATCH/gen.err" && pass "gen-man.py refuses a help text it cannot read" ||
        fail "gen-man.py failed otherwise: $(cat "$TEST_SCRATCH/gen.err")"
fi

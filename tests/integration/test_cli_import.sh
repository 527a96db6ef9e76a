#!/usr/bin/env bash
# tests/integration/test_cli_import.sh — `shimfs import` end to end, on an S3
# volume and on a file:// volume: a tree of awkward cases goes in, then every
# file must read back byte-identical through `shimfs cat`, `shimfs stat`
# must give the local sizes, modes, owners and mtimes (ns), and `shimfs ls`
# the local names. Also: a second import of the same tree refuses every
# existing name and changes nothing; a store that fails mid-import leaves
# no visible file behind (entries are created only after their blocks).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
ERR=$TEST_SCRATCH/stderr
OUT=$TEST_SCRATCH/stdout
MiB=$((1024 * 1024))

quiet() { "$@" > /dev/null; }

# A tree of the cases that break importers. $2 is the volume's block size.
make_tree() {
    local src=$1 bs=$2 deep i
    mkdir -p "$src/sub" "$src/empty-dir" "$src/private-dir"
    : > "$src/empty"
    printf x > "$src/one-byte"
    head -c "$bs" /dev/urandom > "$src/one-block"
    head -c $((bs + 1)) /dev/urandom > "$src/one-block-plus-1"
    head -c $((bs - 1)) /dev/urandom > "$src/one-block-minus-1"
    # One chunk plus one byte: compressible text, then random bytes across
    # the 64 MiB boundary.
    { yes 'shimfs chunk boundary line' | head -c $((64 * MiB - 4096)) || true
      head -c 4097 /dev/urandom; } > "$src/chunk-plus-1"
    printf 'spaces\n' > "$src/name with  spaces.txt"
    printf 'utf-8\n' > "$src/ünïcødé 日本語 ✓.txt"
    printf 'hello\n' > "$src/sub/one.txt"
    printf 'secret\n' > "$src/private"
    chmod 0600 "$src/private"
    printf '#!/bin/sh\necho hi\n' > "$src/script.sh"
    chmod 0755 "$src/script.sh"
    printf 'inside\n' > "$src/private-dir/f"
    chmod 0700 "$src/private-dir"
    chown 1234:5678 "$src/sub/one.txt"
    deep=$src
    for i in $(seq 1 30); do deep=$deep/level$i; done
    mkdir -p "$deep"
    printf 'deep\n' > "$deep/leaf.txt"
    ln -s sub/one.txt "$src/rel-link"
    ln -s /etc/hostname "$src/abs-link"
    ln -s does/not/exist "$src/dangling"
    ln -s "../name with  spaces.txt" "$src/sub/up-link"
    # Fixed odd times (ns), set last so nothing changes them afterwards.
    touch -d '2001-02-03 04:05:06.123456789' "$src/one-byte" "$src/empty-dir"
    touch -h -d '2002-03-04 05:06:07.987654321' "$src/rel-link"
    touch -d '1999-12-31 23:59:59.000000001' "$src/sub" "$src/private-dir"
}

# "shimfs stat" and the local stat(1) must agree on every entry. Directory
# sizes are the file system's own business, so they are left out.
check_attrs() {
    local src=$1 vdir=$2 label=$3 meta=$4 rel
    local -a rels=() vpaths=() lpaths=()
    while IFS= read -r -d '' rel; do
        rels+=("$rel")
        vpaths+=("$vdir/$rel")
        lpaths+=("$src/$rel")
    done < <(cd "$src" && find . -mindepth 1 -printf '%P\0' | sort -z)
    local fmt='%F %a %u %g %y %h' sfmt='%s'
    stat -c "$fmt" "${lpaths[@]}" > "$TEST_SCRATCH/local.attrs"
    if "$CLI" stat --meta "$meta" -c "$fmt" "${vpaths[@]}" > "$TEST_SCRATCH/vol.attrs" 2>"$ERR"; then
        pass "$label: stat of ${#rels[@]} entries"
    else
        fail "$label: stat failed: $(head -c 400 "$ERR")"
    fi
    # Directories' link counts are not promised equal (no "." entries on
    # disk); compare them without %h.
    local diffs
    diffs=$(paste -d'|' <(printf '%s\n' "${rels[@]}") "$TEST_SCRATCH/local.attrs" "$TEST_SCRATCH/vol.attrs" |
        awk -F'|' '{ l=$2; v=$3; if ($2 ~ /^directory/) { sub(/ [0-9]+$/, "", l); sub(/ [0-9]+$/, "", v) }
                     if (l != v) print $1 ": local [" l "] volume [" v "]" }')
    assert_eq "" "$diffs" "$label: type, mode, uid, gid, mtime (ns) of every entry"

    local -a fl=() fv=()
    while IFS= read -r -d '' rel; do
        fl+=("$src/$rel"); fv+=("$vdir/$rel")
    done < <(cd "$src" && find . -mindepth 1 \( -type f -o -type l \) -printf '%P\0' | sort -z)
    assert_eq "$(stat -c "$sfmt" "${fl[@]}")" \
        "$("$CLI" stat --meta "$meta" -c "$sfmt" "${fv[@]}" 2>&1)" \
        "$label: sizes of files and symlinks"
}

check_contents() {
    local src=$1 vdir=$2 label=$3 meta=$4 rel bad=""
    local n=0
    while IFS= read -r -d '' rel; do
        n=$((n + 1))
        if ! "$CLI" cat --meta "$meta" "$vdir/$rel" 2>"$ERR" | cmp -s - "$src/$rel"; then
            bad="$bad [$rel: $(head -c 200 "$ERR")]"
        fi
    done < <(cd "$src" && find . -type f -printf '%P\0' | sort -z)
    assert_eq "" "$bad" "$label: all $n files read back byte-identical through shimfs cat"
    # Several paths in one call come out concatenated, like cat(1).
    cat "$src/one-byte" "$src/sub/one.txt" "$src/empty" "$src/one-block" > "$TEST_SCRATCH/cat.expect"
    "$CLI" cat --meta "$meta" "$vdir/one-byte" "$vdir/sub/one.txt" "$vdir/empty" "$vdir/one-block" \
        > "$TEST_SCRATCH/cat.got"
    assert_files_equal "$TEST_SCRATCH/cat.expect" "$TEST_SCRATCH/cat.got" "$label: cat of several files"
    # A symlink is followed; a directory is refused.
    assert_eq "hello" "$("$CLI" cat --meta "$meta" "$vdir/rel-link")" "$label: cat follows a relative symlink"
    local rc=0
    "$CLI" cat --meta "$meta" "$vdir/sub" >/dev/null 2>"$ERR" || rc=$?
    assert_eq "1 Is a directory" "$rc $(sed 's/.*: //' "$ERR")" "$label: cat of a directory"
}

check_listing() {
    local src=$1 vdir=$2 label=$3 meta=$4 rel bad="" n=0
    while IFS= read -r -d '' rel; do
        n=$((n + 1))
        local want got
        want=$(cd "$src/$rel" && LC_ALL=C ls -A)
        got=$("$CLI" ls --meta "$meta" -A "$vdir/$rel" 2>&1) || true
        [ "$want" = "$got" ] || bad="$bad [$rel: want '$want' got '$got']"
    done < <(cd "$src" && find . -type d -printf '%P\0' | sort -z)
    assert_eq "" "$bad" "$label: ls -A of all $n directories lists the local names"
    "$CLI" ls --meta "$meta" -l "$vdir" > "$OUT"
    if grep -qE '^lrwxrwxrwx +1 +[0-9]+ +[0-9]+ +11 2002-03-04 [0-9:]{5} rel-link -> sub/one.txt$' "$OUT"; then
        pass "$label: ls -l shows a symlink and its target"
    else
        fail "$label: ls -l: $(grep rel-link "$OUT" || cat "$OUT")"
    fi
    if grep -qE '^-rw------- +1 +[0-9]+ +[0-9]+ +7 .* private$' "$OUT"; then
        pass "$label: ls -l shows mode 0600"
    else
        fail "$label: ls -l private: $(grep private "$OUT")"
    fi
    # Without -A, hidden names stay hidden; -a adds "." and "..".
    assert_eq ". .." "$("$CLI" ls --meta "$meta" -a "$vdir/empty-dir" | tr '\n' ' ' | sed 's/ $//')" \
        "$label: ls -a of an empty directory"
}

# run_volume LABEL BUCKET_URL BLOCK_SIZE_BYTES FORMAT_ARGS DEST IMPORT_ARGS
run_volume() {
    local label=$1 bucket=$2 bs=$3 fargs=$4 dest=$5 iargs=$6
    local src=$TEST_SCRATCH/$label-src meta nfiles ndirs nlinks rc
    meta=$(test_db "$label")
    make_tree "$src" "$bs"
    # shellcheck disable=SC2086
    check "$label: format" quiet "$CLI" format "v-$label" --bucket "$bucket" $fargs --meta "$meta"

    nfiles=$(find "$src" -type f | wc -l)
    ndirs=$(find "$src" -mindepth 1 -type d | wc -l)
    nlinks=$(find "$src" -type l | wc -l)
    rc=0
    # shellcheck disable=SC2086
    "$CLI" import --meta "$meta" $iargs "$src" "$dest" > "$OUT" 2>"$ERR" || rc=$?
    assert_eq "0" "$rc" "$label: import exits 0 ($(head -c 300 "$ERR"))"
    assert_eq "" "$(cat "$ERR")" "$label: import prints nothing on stderr when it is not a terminal"
    if grep -qE "^imported $nfiles files, $ndirs dirs, $nlinks symlinks, [0-9.]+ MiB in [0-9.]+ s \([0-9]+ files/s, [0-9.]+ MiB/s\)$" "$OUT"; then
        pass "$label: summary line ($(cat "$OUT"))"
    else
        fail "$label: summary line '$(cat "$OUT")' (want $nfiles files, $ndirs dirs, $nlinks symlinks)"
    fi

    local vdir=${dest%/}
    check_contents "$src" "$vdir" "$label" "$meta"
    check_attrs "$src" "$vdir" "$label" "$meta"
    check_listing "$src" "$vdir" "$label" "$meta"

    "$CLI" status --meta "$meta" > "$OUT"
    if grep -qE "^inodes: .*\($nfiles files, [0-9]+ directories, $nlinks symlinks\)$" "$OUT"; then
        pass "$label: status counts the imported files"
    else
        fail "$label: status: $(grep inodes "$OUT")"
    fi

    # Importing again refuses every existing file and symlink, changes nothing.
    rc=0
    "$CLI" import --meta "$meta" $iargs "$src" "$dest" > "$OUT" 2>"$ERR" || rc=$?
    assert_eq "1" "$rc" "$label: second import of the same tree fails"
    assert_eq "$((nfiles + nlinks))" "$(grep -c ': create: already exists in the volume$' "$ERR")" \
        "$label: second import names every existing file"
    if tail -n1 "$ERR" | grep -qE "^shimfs import: $((nfiles + nlinks)) entries could not be imported"; then
        pass "$label: second import ends with a count"
    else
        fail "$label: second import's last line: $(tail -n1 "$ERR")"
    fi
    check_contents "$src" "$vdir" "$label (after the refused import)" "$meta"
}

# ---- S3 volume: default block size and compression, destination with parents ----
run_volume s3 "$(test_bucket s3)" $((4 * MiB)) "" "/a/b c/imp" ""

# ---- file:// volume: small blocks, no compression, into the root, 3 threads ----
run_volume file "file://$TEST_SCRATCH/file-bucket" $((64 * 1024)) "--block-size 64K --compress none" "/" "--threads 3"

# ---- errors ----
meta=$(test_db errors)
check "errors: format" quiet "$CLI" format verr --bucket "file://$TEST_SCRATCH/err-bucket" --meta "$meta"
rc=0
"$CLI" import --meta "$meta" "$TEST_SCRATCH/no-such-dir" /x > "$OUT" 2>"$ERR" || rc=$?
assert_eq "1 shimfs import: $TEST_SCRATCH/no-such-dir: No such file or directory" "$rc $(cat "$ERR")" \
    "import of a missing local directory"

small=$TEST_SCRATCH/small
mkdir -p "$small/d"
printf 'a\n' > "$small/d/a"
mkfifo "$small/fifo"
rc=0
"$CLI" import --meta "$meta" "$small" /small > "$OUT" 2>"$ERR" || rc=$?
assert_eq "0 shimfs import: $small/fifo: skipped: not a regular file, directory or symlink" \
    "$rc $(cat "$ERR")" "a fifo is skipped with one line"
rc=0
"$CLI" import --meta "$meta" "$small" /small/d/a > "$OUT" 2>"$ERR" || rc=$?
assert_eq "1 shimfs import: /small/d/a: 'a' exists and is not a directory" "$rc $(cat "$ERR")" \
    "destination through a file"
rc=0
"$CLI" import --meta "$meta" "$small" "/x/../y" > "$OUT" 2>"$ERR" || rc=$?
assert_eq "2" "$rc" "destination with '..' is a usage error"

# The store fails under the import: nothing half-written becomes visible.
mkdir -p "$small/more"
for i in 1 2 3 4 5; do head -c 100000 /dev/urandom > "$small/more/f$i"; done
rm -rf "$TEST_SCRATCH/err-bucket"
printf 'not a directory\n' > "$TEST_SCRATCH/err-bucket"
rc=0
"$CLI" import --meta "$meta" "$small" /broken > "$OUT" 2>"$ERR" || rc=$?
assert_eq "1" "$rc" "import into a failing store exits 1"
if grep -qE '^shimfs import: .*: upload of [0-9a-f-]{36}/chunks/[0-9/]+_0_[0-9]+: .*\(store file://' "$ERR"; then
    pass "the store failure names the file, the object and the store"
else
    fail "store failure message: $(cat "$ERR")"
fi
"$CLI" ls --meta "$meta" -l /broken /broken/d /broken/more > "$OUT" 2>&1 || true
assert_eq "" "$(grep -E '^-' "$OUT" || true)" "no file whose blocks failed is visible"

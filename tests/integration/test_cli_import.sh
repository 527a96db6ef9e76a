#!/usr/bin/env bash
# tests/integration/test_cli_import.sh — `shimfs import` end to end, on an S3
# volume and on a file:// volume: a tree of awkward cases goes in, then every
# file must read back byte-identical through `shimfs cat`, `shimfs stat`
# must give the local sizes, modes, owners and mtimes (ns), and `shimfs ls`
# the local names. Also: a second import of the same tree refuses every
# existing name and changes nothing; a store that fails mid-import leaves
# no visible file behind (entries are created only after their blocks);
# names with odd bytes across batch boundaries (--batch 7 and 1), packed
# and unpacked; a database failure inside a batch leaves none of that
# batch visible and a rerun completes; kill -9 mid-import leaves only
# whole files and a rerun completes; gc --delete run again and again
# during an import deletes none of its blocks (fsck: 0 missing).
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

# ---- batches, packs and names with odd bytes ----
# Every name below is one the batch statement's array literals must carry
# byte for byte (quotes, braces, commas, backslashes, "NULL", newline, a
# byte that is not UTF-8, 255 bytes). Tiny files are packed many to one
# object; a file just above --pack-max gets its own; batches of 7 and of 1
# cut the tree at every kind of boundary.
status_files() { "$CLI" status --meta "$1" | sed -n 's/^inodes: .*(\([0-9]*\) files,.*/\1/p'; }
fsck_problems() { "$CLI" fsck --meta "$1" 2>&1 | sed -n 's/^ *\([0-9]*\) problems$/\1/p'; }
fsck_missing() { "$CLI" fsck --meta "$1" 2>&1 | sed -n 's/^ *\([0-9]*\) missing objects$/\1/p'; }
fsck_objects() { "$CLI" fsck --meta "$1" 2>&1 | sed -n 's/^data: .*, \([0-9]*\) objects$/\1/p'; }
summary_files() { sed -n 's/^imported \([0-9]*\) files,.*/\1/p' "$1"; }
sql() { env -u LD_PRELOAD psql "$1" -XAtq -c "$2"; }

# All files of local tree $1 against volume directory $2 (database $3):
# every file's bytes, in one `shimfs cat` call per 200 files.
same_files() {
    local src=$1 vdir=$2 meta=$3 rel i=0
    local -a l=() v=()
    : > "$TEST_SCRATCH/same.l"; : > "$TEST_SCRATCH/same.v"
    while IFS= read -r -d '' rel; do
        l+=("$src/$rel"); v+=("$vdir/$rel"); i=$((i + 1))
        if [ ${#l[@]} -ge 200 ]; then
            cat "${l[@]}" >> "$TEST_SCRATCH/same.l"
            "$CLI" cat --meta "$meta" "${v[@]}" >> "$TEST_SCRATCH/same.v" 2>>"$ERR" || return 1
            l=(); v=()
        fi
    done < <(cd "$src" && find . -type f -printf '%P\0' | sort -z)
    if [ ${#l[@]} -gt 0 ]; then
        cat "${l[@]}" >> "$TEST_SCRATCH/same.l"
        "$CLI" cat --meta "$meta" "${v[@]}" >> "$TEST_SCRATCH/same.v" 2>>"$ERR" || return 1
    fi
    cmp -s "$TEST_SCRATCH/same.l" "$TEST_SCRATCH/same.v"
}

odd=$TEST_SCRATCH/odd-src
mkdir -p "$odd/d1" "$odd/d2/deeper" "$odd/{d3}"
i=0
for name in $'new\nline' $'tab\there' 'back\slash' 'quo"te' "apos'trophe" '{brace}' 'com,ma' \
            'NULL' 'null' '-dash' ' lead space' $'\xff\xfe not utf-8' $'\x01ctrl' '\x41' \
            'semi;colon' "$(printf 'x%.0s' $(seq 1 255))" '日本語'; do
    for d in d1 d2/deeper '{d3}'; do
        i=$((i + 1))
        printf '%s' "$i" > "$odd/$d/$name"
    done
done
: > "$odd/d1/empty"
head -c 16384 /dev/urandom > "$odd/d1/at-pack-max"
head -c 16385 /dev/urandom > "$odd/d1/above-pack-max"
head -c 300000 /dev/urandom > "$odd/d2/large"
ln -s $'target\nwith newline' "$odd/d2/link-newline"
ln -s '{"x",NULL}' "$odd/d2/link-literal"
# (counted with -printf: a name with a newline is one file, not two lines)
count() { find "$@" -printf . | wc -c; }
odd_files=$(count "$odd" -type f)

for b in 7 1; do
    meta=$(test_db "odd$b")
    check "odd names, batch $b: format" quiet "$CLI" format "odd$b" --bucket "$(test_bucket "odd$b")" --meta "$meta"
    rc=0
    "$CLI" import --meta "$meta" --batch "$b" "$odd" /odd > "$OUT" 2>"$ERR" || rc=$?
    assert_eq "0:" "$rc:$(cat "$ERR")" "odd names, batch $b: import exits 0, says nothing"
    assert_eq "$odd_files" "$(summary_files "$OUT")" "odd names, batch $b: summary counts every file"
    assert_eq "$odd_files" "$(status_files "$meta")" "odd names, batch $b: status counts every file"
    if same_files "$odd" /odd "$meta"; then
        pass "odd names, batch $b: all $odd_files files read back byte-identical"
    else
        fail "odd names, batch $b: contents differ ($(head -c 300 "$ERR"))"
    fi
    check_attrs "$odd" /odd "odd names, batch $b" "$meta"
    for d in d1 d2 d2/deeper '{d3}'; do
        assert_eq "$(count "$odd/$d" -mindepth 1 -maxdepth 1)" \
            "$("$CLI" ls --meta "$meta" -A "/odd/$d" | wc -l)" "odd names, batch $b: ls -A /odd/$d has every entry"
    done
    assert_eq "$(readlink "$odd/d2/link-literal")" \
        "$("$CLI" stat --meta "$meta" -c %N /odd/d2/link-literal | sed "s/.* -> '\(.*\)'$/\1/")" \
        "odd names, batch $b: a symlink target that looks like an array literal"
    assert_eq "0 0" "$(fsck_problems "$meta") $(fsck_missing "$meta")" "odd names, batch $b: fsck clean"
    objects=$(fsck_objects "$meta")
    # Tiny files and the one of exactly --pack-max share one pack; the
    # two larger files are one object each.
    if [ -n "$objects" ] && [ "$objects" -le 3 ]; then
        pass "odd names, batch $b: $odd_files files in $objects objects (packed)"
    else
        fail "odd names, batch $b: $odd_files files in '$objects' objects (want at most 3)"
    fi
done

# --pack-max 0: one object per non-empty file, as before packing.
meta=$(test_db nopack)
check "no packing: format" quiet "$CLI" format nopack --bucket "file://$TEST_SCRATCH/nopack-bucket" --meta "$meta"
rc=0
"$CLI" import --meta "$meta" --pack-max 0 --batch 5 "$odd" /odd > "$OUT" 2>"$ERR" || rc=$?
assert_eq "0:" "$rc:$(cat "$ERR")" "no packing: import exits 0"
assert_eq "$((odd_files - 1))" "$(fsck_objects "$meta")" "no packing: one object per non-empty file"
if same_files "$odd" /odd "$meta"; then pass "no packing: contents"; else fail "no packing: contents differ"; fi
rc=0
"$CLI" import --meta "$meta" --batch 0 "$odd" /x > "$OUT" 2>"$ERR" || rc=$?
assert_eq "2" "$rc" "--batch 0 is a usage error"

# ---- a failure inside a batch: nothing of that batch is visible ----
# A trigger fails the slice insert of one file (4242 bytes): the batch's
# entries and inodes went in earlier in the same statement, and must not
# be visible. The import stops; what it says it imported is exactly what
# is visible; a rerun (trigger gone) brings in the rest and refuses the
# names already there.
mid=$TEST_SCRATCH/mid-src
for d in 1 2 3; do
    mkdir -p "$mid/d$d"
    for i in $(seq 1 40); do printf 'mid %s %s\n' "$d" "$i" > "$mid/d$d/f$i"; done
done
head -c 4242 /dev/urandom > "$mid/d2/poison"
mid_files=$(count "$mid" -type f)
meta=$(test_db mid)
check "mid-batch: format" quiet "$CLI" format mid --bucket "file://$TEST_SCRATCH/mid-bucket" --meta "$meta"
sql "$meta" "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
             IF NEW.len = 4242 THEN RAISE EXCEPTION 'test: poisoned slice'; END IF; RETURN NEW; END \$\$;
             CREATE TRIGGER test_poison BEFORE INSERT ON slice FOR EACH ROW EXECUTE FUNCTION test_poison();"
rc=0
"$CLI" import --meta "$meta" --batch 10 --pack-max 1K "$mid" /mid > "$OUT" 2>"$ERR" || rc=$?
assert_eq "1" "$rc" "mid-batch: import exits 1"
if grep -q 'commit: .*poisoned slice\|commit: .*Input/output error' "$ERR"; then
    pass "mid-batch: the database failure is reported ($(head -n1 "$ERR" | cut -c1-160))"
else
    fail "mid-batch: stderr: $(head -c 400 "$ERR")"
fi
first=$(summary_files "$OUT")
assert_eq "$first" "$(status_files "$meta")" "mid-batch: visible files = files the import reported ($first)"
if [ "${first:-0}" -lt "$mid_files" ]; then pass "mid-batch: the import stopped ($first of $mid_files)"; else fail "mid-batch: all $first files imported despite the failure"; fi
assert_eq "0" "$(sql "$meta" "SELECT count(*) FROM entry WHERE name = 'poison'::bytea")" "mid-batch: the poisoned file has no entry"
assert_eq "0 0" "$(fsck_problems "$meta") $(fsck_missing "$meta")" "mid-batch: fsck clean after the failure"
sql "$meta" "DROP TRIGGER test_poison ON slice; DROP FUNCTION test_poison();"
rc=0
"$CLI" import --meta "$meta" --batch 10 --pack-max 1K "$mid" /mid > "$OUT" 2>"$ERR" || rc=$?
assert_eq "$([ "${first:-0}" -gt 0 ] && echo 1 || echo 0)" "$rc" "mid-batch: rerun exits 1 only for the names already there"
assert_eq "${first:-0}" "$(grep -c ': create: already exists in the volume$' "$ERR" || true)" "mid-batch: rerun refuses exactly those"
assert_eq "$((mid_files - ${first:-0}))" "$(summary_files "$OUT")" "mid-batch: rerun imports the rest"
assert_eq "$mid_files" "$(status_files "$meta")" "mid-batch: every file is there after the rerun"
if same_files "$mid" /mid "$meta"; then pass "mid-batch: contents after the rerun"; else fail "mid-batch: contents differ after the rerun"; fi
assert_eq "0 0" "$(fsck_problems "$meta") $(fsck_missing "$meta")" "mid-batch: fsck clean after the rerun"

# ---- killed mid-import: only whole files, then a rerun completes ----
kill_src=$TEST_SCRATCH/kill-src
for d in 1 2 3 4; do
    mkdir -p "$kill_src/d$d"
    for i in $(seq 1 500); do printf 'kill %s %s\n' "$d" "$i" > "$kill_src/d$d/f$i"; done
done
kill_files=$(count "$kill_src" -type f)
meta=$(test_db kill)
check "kill: format" quiet "$CLI" format kill --bucket "$(test_bucket kill)" --meta "$meta"
# One object per file and one thread: slow enough to be killed half way.
"$CLI" import --meta "$meta" --batch 20 --pack-max 0 --threads 1 "$kill_src" /k > "$OUT" 2>"$ERR" &
pid=$!
some_committed() { [ "$(status_files "$meta" 2>/dev/null)" -gt 0 ] 2>/dev/null; }
wait_for 60 some_committed || true
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
seen=$(status_files "$meta")
echo "# killed after $seen of $kill_files files were committed"
if [ "$seen" -lt "$kill_files" ]; then pass "kill: killed half way ($seen of $kill_files)"; else fail "kill: the import ended before the kill"; fi
assert_eq "0 0" "$(fsck_problems "$meta") $(fsck_missing "$meta")" "kill: fsck clean after kill -9"
bad=""
for d in 1 2 3 4; do
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        "$CLI" cat --meta "$meta" "/k/d$d/$name" | cmp -s - "$kill_src/d$d/$name" || bad="$bad d$d/$name"
    done < <("$CLI" ls --meta "$meta" "/k/d$d" 2>/dev/null | head -n 25)
done
assert_eq "" "$bad" "kill: the visible files are complete"
rc=0
"$CLI" import --meta "$meta" --batch 20 "$kill_src" /k > "$OUT" 2>"$ERR" || rc=$?
assert_eq "$seen" "$(grep -c ': create: already exists in the volume$' "$ERR" || true)" "kill: rerun refuses only what was committed"
assert_eq "$kill_files" "$(status_files "$meta")" "kill: every file is there after the rerun"
if same_files "$kill_src" /k "$meta"; then pass "kill: contents after the rerun"; else fail "kill: contents differ after the rerun"; fi

# ---- gc --delete during an import loses nothing ----
# The import's slice ids (packs and single files) are reserved by its
# session before upload, so gc, run again and again while it uploads and
# commits (grace 0: the previous run's marker counts), deletes none of them.
gsrc=$TEST_SCRATCH/gc-src
for d in $(seq 1 10); do
    mkdir -p "$gsrc/d$d"
    for i in $(seq 1 300); do printf 'gc %s %s\n' "$d" "$i" > "$gsrc/d$d/t$i"; done
    for i in $(seq 1 8); do head -c 100000 /dev/urandom > "$gsrc/d$d/big$i"; done
done
gfiles=$(count "$gsrc" -type f)
meta=$(test_db gc)
check "gc: format" quiet "$CLI" format gcv --bucket "$(test_bucket gc)" --meta "$meta"
SHIMFS_META=$meta "$CLI" gc --delete --grace 0 > /dev/null
"$CLI" import --meta "$meta" --batch 100 --threads 2 "$gsrc" /g > "$OUT" 2>"$ERR" &
pid=$!
runs=0
for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    SHIMFS_META=$meta "$CLI" gc --delete --grace 0 > "$TEST_SCRATCH/gc.out" 2>&1 || true
    runs=$((runs + 1))
done
wait_bounded "$pid" 120 "import beside gc"
rc=0; wait "$pid" 2>/dev/null || rc=$?
echo "# gc --delete ran $runs times during the import"
if [ "$runs" -ge 2 ]; then pass "gc: ran $runs times during the import"; else fail "gc: ran only $runs times during the import"; fi
assert_eq "$gfiles" "$(summary_files "$OUT")" "gc: the import imported every file ($(head -c 200 "$ERR"))"
assert_eq "0 0" "$(fsck_problems "$meta") $(fsck_missing "$meta")" "gc: fsck clean, 0 missing objects"
if same_files "$gsrc" /g "$meta"; then pass "gc: all $gfiles files read back"; else fail "gc: contents differ"; fi

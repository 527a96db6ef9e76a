#!/usr/bin/env bash
# tests/integration/test_write_tools.sh — real programs writing into the
# volume through the shim:
#  - cp -r, cp -a, tar -x and rsync -a of a generated tree (sizes around
#    the 4 MiB block, empty files, symlinks, modes, old mtimes, names with
#    spaces and UTF-8), then diff -r against the source and the same
#    listing of names, types, sizes, modes, link targets and (for cp -a,
#    tar and rsync) mtimes; rsync goes through its temporary names, rename,
#    utimes and chmod; a second rsync finds nothing to send;
#  - sqlite3: a table, 1,000 inserts in 4 transactions, PRAGMA
#    integrity_check = ok, read back by a second process, and the same
#    .dump as the same statements on local disk;
#  - git init, add, commit (lock files with O_EXCL + rename, fsync, loose
#    objects), log, status, fsck, gc (pack files, mmap) in the volume.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-wtools-$$
VOL=$PREFIX/t
SRC=$TEST_SCRATCH/src
MiB=$((1024 * 1024))

need_cmd rsync sqlite3 git tar
META=$(test_db)
check "format an S3 volume" "$CLI" format wtools --bucket "$(test_bucket)" --meta "$META" > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

make_tree() {
    local src=$1 i
    mkdir -p "$src/dir/sub/deeper" "$src/empty dir" "$src/ünï cødé"
    : > "$src/empty"
    printf x > "$src/one-byte"
    head -c $((4 * MiB)) /dev/urandom > "$src/four-mib"
    head -c $((4 * MiB + 1)) /dev/urandom > "$src/four-mib-plus-1"
    head -c $((9 * MiB + 17)) /dev/urandom > "$src/nine-mib"
    for i in $(seq 1 60); do head -c $((i * 1531)) /dev/urandom > "$src/dir/f$i"; done
    yes 'compressible text line' | head -c $((3 * MiB + 7)) > "$src/dir/sub/deeper/text" || true
    printf 'utf-8\n' > "$src/ünï cødé/日本語 ✓.txt"
    printf 'spaces\n' > "$src/name with  spaces.txt"
    ln -s dir/f1 "$src/rel-link"
    ln -s /etc/hostname "$src/abs-link"
    ln -s does/not/exist "$src/dangling"
    chmod 0600 "$src/dir/f2"
    chmod 0755 "$src/dir/f3"
    chmod 0700 "$src/dir/sub"
    touch -d '2001-02-03 04:05:06' "$src/dir/f4" "$src/four-mib"
    touch -h -d '2002-02-02 02:02:02' "$src/rel-link"
}

# Names, types, sizes, modes, link targets (and mtimes with "times").
listing() {
    local root=$1 fmt='%P %y %s %m %l\n' dfmt='%P %y %m\n'
    if [ "${2:-}" = times ]; then
        fmt='%P %y %s %m %l %TY-%Tm-%Td %TH:%TM:%.2TS\n'
        dfmt='%P %y %m %TY-%Tm-%Td %TH:%TM:%.2TS\n'
    fi
    (cd "$root" && find . -mindepth 1 ! -type d -printf "$fmt"; find . -mindepth 1 -type d -printf "$dfmt") | sort
}

compare_tree() {
    local what=$1 dst=$2 times=${3:-}
    if shim diff -r --no-dereference "$SRC" "$dst" > "$TEST_SCRATCH/diff.out" 2>&1; then
        pass "$what: diff -r"
    else
        fail "$what: diff -r: $(head -n 5 "$TEST_SCRATCH/diff.out" | tr '\n' '|')"
    fi
    listing "$SRC" "$times" > "$TEST_SCRATCH/l.list"
    shim bash -c "$(declare -f listing); listing \"\$1\" \"\$2\"" _ "$dst" "$times" > "$TEST_SCRATCH/v.list"
    if cmp -s "$TEST_SCRATCH/l.list" "$TEST_SCRATCH/v.list"; then
        pass "$what: names, types, sizes, modes, links${times:+, mtimes} ($(wc -l < "$TEST_SCRATCH/l.list") entries)"
    else
        fail "$what: listing differs: $(diff "$TEST_SCRATCH/l.list" "$TEST_SCRATCH/v.list" | head -n 8 | tr '\n' '|')"
    fi
}

make_tree "$SRC"
check "mkdir" shim mkdir -p "$VOL"

# ---- copies ----
check "cp -r" shim cp -r "$SRC" "$VOL/cp"
# cp -r keeps neither mtimes nor (under umask) every mode: names and bytes
if shim diff -r --no-dereference "$SRC" "$VOL/cp" > "$TEST_SCRATCH/diff.out" 2>&1; then
    pass "cp -r: diff -r"
else
    fail "cp -r: diff -r: $(head -n 5 "$TEST_SCRATCH/diff.out" | tr '\n' '|')"
fi
check "cp -a" shim cp -a "$SRC" "$VOL/cpa"
compare_tree "cp -a" "$VOL/cpa" times
check "tar -x" shim bash -c 'mkdir "$2" && tar -C "$1" -cf - . | tar -C "$2" -xf -' _ "$SRC" "$VOL/tar"
compare_tree "tar -x" "$VOL/tar" times
# rsync's generator decides whether a directory's mtime needs setting from
# its own stat, while the receiver (another process) renames files into
# it: within the attribute TTL (1 s) the generator's cached stat hides the
# rename, and a directory can keep the rename's time (as on NFS with
# attribute caching). With the TTLs at 0 the copy is exact.
rs() { SHIMFS_ATTR_TTL=0 SHIMFS_ENTRY_TTL=0 shim rsync "$@"; }
check "rsync -a" rs -a "$SRC/" "$VOL/rsync/"
compare_tree "rsync -a" "$VOL/rsync" times
sent=$(rs -a --itemize-changes "$SRC/" "$VOL/rsync/" | tr '\n' '|')
assert_eq "" "$sent" "a second rsync -a finds nothing to transfer"
echo changed >> "$SRC/dir/f5"
touch -d '2003-03-03' "$SRC/dir/f5"
check "rsync -a of a changed file" rs -a "$SRC/" "$VOL/rsync/"
compare_tree "rsync -a after a change" "$VOL/rsync" times
rm "$SRC/dir/f6"
check "rsync --delete after removing a file" rs -a --delete "$SRC/" "$VOL/rsync/"
compare_tree "rsync --delete" "$VOL/rsync" times
check "rsync -a with the default TTLs" shim rsync -a "$SRC/" "$VOL/rsync-ttl/"
compare_tree "rsync -a with the default TTLs (file times)" "$VOL/rsync-ttl"

# ---- sqlite3 ----
sql_load() {
    local db=$1 tx i
    for tx in 0 1 2 3; do
        printf 'BEGIN;\n'
        [ "$tx" = 0 ] && printf 'CREATE TABLE t (id INTEGER PRIMARY KEY, tx INTEGER, v TEXT);\nCREATE INDEX t_v ON t(v);\n'
        for ((i = 0; i < 250; i++)); do printf "INSERT INTO t (tx, v) VALUES (%d, 'row %d of %d');\n" "$tx" "$i" "$tx"; done
        printf 'COMMIT;\n'
    done | sqlite3 "$db"
}
check "sqlite3: 1,000 inserts in 4 transactions" shim bash -c "$(declare -f sql_load); sql_load '$VOL/db.sqlite'"
assert_eq ok "$(shim sqlite3 "$VOL/db.sqlite" 'PRAGMA integrity_check;')" "sqlite3: integrity_check"
assert_eq "1000|4|3" "$(shim sqlite3 "$VOL/db.sqlite" 'SELECT count(*), count(DISTINCT tx), max(tx) FROM t;')" \
    "sqlite3: a second process reads the rows back"
sql_load "$TEST_SCRATCH/db.sqlite"
if cmp -s <(sqlite3 "$TEST_SCRATCH/db.sqlite" .dump) <(shim sqlite3 "$VOL/db.sqlite" .dump); then
    pass "sqlite3: .dump equals the same statements on local disk"
else
    fail "sqlite3: .dump differs from local disk"
fi
check "sqlite3: update and delete" shim sqlite3 "$VOL/db.sqlite" \
    "UPDATE t SET v = 'changed' WHERE tx = 1; DELETE FROM t WHERE tx = 2; VACUUM;"
assert_eq "750|250|ok" "$(shim sqlite3 "$VOL/db.sqlite" "SELECT count(*), sum(v = 'changed') FROM t; PRAGMA integrity_check;" | tr '\n' '|' | sed 's/|$//')" \
    "sqlite3: after update, delete and VACUUM"
check "sqlite3: no journal left behind" shim test ! -e "$VOL/db.sqlite-journal"

# ---- git ----
git_work() {
    set -e
    cd "$1"
    git init -q -b main repo
    cd repo
    git config user.email test@example.com
    git config user.name test
    cp -r "$2/dir" "$2/name with  spaces.txt" .
    git add .
    git commit -q -m first
    printf 'more\n' >> "name with  spaces.txt"
    git rm -q dir/f1
    git commit -q -am second
    git mv dir/f2 dir/renamed
    git commit -q -m third
    git log --format=%s
    git ls-files | wc -l
    git status --porcelain | wc -l
    git fsck --full 2>&1 | grep -v '^Checking' || true
    git gc -q
    git count-objects -v | grep -E '^(count|in-pack)'
    git log --format=%s | wc -l
}
mkdir -p "$TEST_SCRATCH/git-local"
git_work "$TEST_SCRATCH/git-local" "$SRC" > "$TEST_SCRATCH/git.local" 2>&1 || true
if shim bash -c "$(declare -f git_work); git_work '$VOL' '$SRC'" > "$TEST_SCRATCH/git.vol" 2>&1; then
    pass "git: init, add, commit, rm, mv, log, status, fsck, gc"
else
    fail "git: $(tail -n 5 "$TEST_SCRATCH/git.vol" | tr '\n' '|')"
fi
if cmp -s "$TEST_SCRATCH/git.local" "$TEST_SCRATCH/git.vol"; then
    pass "git: the same output as on local disk ($(head -n 3 "$TEST_SCRATCH/git.vol" | tr '\n' ' '))"
else
    fail "git: output differs: $(diff "$TEST_SCRATCH/git.local" "$TEST_SCRATCH/git.vol" | head -n 8 | tr '\n' '|')"
fi
check "git: a fresh process sees a clean work tree" shim git -C "$VOL/repo" diff --quiet HEAD

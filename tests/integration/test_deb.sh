#!/usr/bin/env bash
# tests/integration/test_deb.sh — `make deb`: the package holds the
# binaries, libraries and man pages, its Depends name the package of every
# library the objects load (dpkg-shlibdeps' work, checked here against
# ldd and dpkg -S), it installs with dpkg into a scratch root (its own
# admin folder: this machine's package database is not touched) and the
# demo runs from the installed paths: format, cp into the volume through
# the installed libshimfs.so, read back, shimfs ls; then it removes cleanly.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "${SHIMFS_SANITIZE:-}" != 1 ] || skip_test "the package is made from the plain build (not under SANITIZE=1)"
need_cmd dpkg dpkg-deb dpkg-shlibdeps
need_services

if ! env -u MAKEFLAGS -u MAKELEVEL make -C "$TEST_ROOT" --no-print-directory deb > "$TEST_SCRATCH/make.log" 2>&1; then
    fail "make deb: $(tail -n 5 "$TEST_SCRATCH/make.log")"
    exit 1
fi
deb=$(sed -n 's/^deb: \(.*\.deb\) (.*/\1/p' "$TEST_SCRATCH/make.log")
case $deb in /*) ;; *) deb=$TEST_ROOT/$deb ;; esac
[ -f "$deb" ] || { fail "make deb named no package: $(tail -n 3 "$TEST_SCRATCH/make.log")"; exit 1; }
case $(basename "$deb") in
    shimfs_*_"$(dpkg --print-architecture)".deb) pass "make deb: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)" ;;
    *) fail "package name $(basename "$deb") is not shimfs_VERSION_ARCH.deb" ;;
esac

# ---- what it holds ----
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' > "$TEST_SCRATCH/contents"
missing=
for f in /usr/bin/shimfs /usr/bin/shimfs-run /usr/lib/shimfs/libshimfs.so /usr/lib/shimfs/libshimfs-audit.so \
         /usr/lib/shimfs/libshimfs-core.so \
         /usr/lib/shimfs/libshimfs-pg.so /usr/lib/shimfs/libshimfs-s3.so /usr/share/man/man1/shimfs.1.gz \
         /usr/share/man/man1/shimfs-run.1.gz /usr/share/man/man7/libshimfs.7.gz /usr/share/doc/shimfs/copyright; do
    grep -qx "$f" "$TEST_SCRATCH/contents" || missing="$missing $f"
done
assert_eq "" "$missing" "dpkg-deb -c lists the binaries, libraries, man pages and copyright"
dpkg-deb -I "$deb" > "$TEST_SCRATCH/info"
field() { dpkg-deb -f "$deb" "$1"; }
assert_eq "shimfs" "$(field Package)" "Package"
assert_eq "$("$SHIMFS_CLI" version | awk '{print $2}')" "$(field Version)" "Version is the CLI's"
[ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] && pass "Maintainer and Description are set" ||
    fail "Maintainer or Description missing: $(cat "$TEST_SCRATCH/info")"

# Depends: the package of every library the objects need (but glibc's own
# and ours), as this machine resolves them.
depends=$(field Depends)
want=
for obj in "$SHIMFS_BUILD/shimfs" "$SHIMFS_BUILD"/libshimfs*.so; do
    ldd "$obj" > "$TEST_SCRATCH/ldd"
    for name in $(readelf -d "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        case $name in libshimfs*) continue ;; esac
        path=$(awk -v n="$name" '$1 == n && $2 == "=>" {print $3}' "$TEST_SCRATCH/ldd")
        [ -n "$path" ] || { [ "${name#ld-linux}" != "$name" ] && continue; fail "ldd does not resolve $name of $obj"; continue; }
        real=$(readlink -f "$path")
        pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)
        pkg=${pkg%%:*}
        [ -n "$pkg" ] && want="$want $pkg"
    done
done
want=$(printf '%s\n' $want | sort -u | tr '\n' ' ')
absent=
for pkg in $want; do
    case ", $depends," in *", $pkg "*|*", $pkg,"*) ;; *) absent="$absent $pkg" ;; esac
done
[ -n "$want" ] && assert_eq "" "$absent" "Depends ($depends) names the package of each library needed ($want)" ||
    fail "no library package found for the objects"

# ---- install into a scratch root, with its own package database ----
R=$TEST_SCRATCH/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
: > "$R/var/lib/dpkg/status"
dpkg_r() { dpkg --root="$R" --log="$TEST_SCRATCH/dpkg.log" --force-depends --force-not-root "$@"; }
if dpkg_r -i "$deb" > "$TEST_SCRATCH/install" 2>&1; then
    pass "dpkg installs the package into a scratch root"
else
    fail "dpkg -i: $(tail -n 5 "$TEST_SCRATCH/install")"
fi
assert_eq "install ok installed" "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' shimfs 2>&1)" \
    "the scratch database has shimfs installed"
[ -x "$R/usr/bin/shimfs" ] && [ -f "$R/usr/lib/shimfs/libshimfs.so" ] && [ -f "$R/usr/share/man/man7/libshimfs.7.gz" ] &&
    pass "its files are in the scratch root" || fail "files missing in $R: $(cd "$R" && find usr | head -n 20 | tr '\n' ' ')"

# ---- the demo from the installed paths ----
META=$(test_db)
BUCKET=$(test_bucket)
export SHIMFS_META=$META SHIMFS_PREFIX=/mnt/debvol SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
unset SHIMFS_CORE_LIB SHIMFS_AGENT
check "the installed shimfs formats a volume" "$R/usr/bin/shimfs" format vol1 --bucket "$BUCKET"
head -c 2500000 /dev/urandom > "$TEST_SCRATCH/a.bin"
sum=$(sha256sum < "$TEST_SCRATCH/a.bin" | cut -d' ' -f1)
check "cp writes through the installed libshimfs.so" \
    env LD_PRELOAD="$R/usr/lib/shimfs/libshimfs.so" cp "$TEST_SCRATCH/a.bin" /mnt/debvol/a.bin
out=$(env LD_PRELOAD="$R/usr/lib/shimfs/libshimfs.so" sha256sum /mnt/debvol/a.bin 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "$sum  /mnt/debvol/a.bin" "$out" "sha256sum reads it back through the installed library"
out=$(LD_PRELOAD="$R/usr/lib/shimfs/libshimfs.so" cat /proc/self/maps 2>/dev/null | grep -c "$R/usr/lib/shimfs/libshimfs.so" || true)
[ "$out" -gt 0 ] && pass "the preloaded library is the installed one" || fail "cat's maps show no $R/usr/lib/shimfs/libshimfs.so"
out=$(SHIMFS_PRELOAD= "$R/usr/bin/shimfs-run" --prefix /mnt/debvol -- cat /mnt/debvol/a.bin | sha256sum | cut -d' ' -f1)
assert_eq "$sum" "$out" "the installed shimfs-run finds the installed library"
assert_eq "a.bin" "$("$R/usr/bin/shimfs" ls / 2>>"$TEST_SCRATCH/stderr")" "the installed shimfs ls lists the volume"

# lintian takes ~20 s: only when asked (SHIMFS_TEST_LINTIAN=1); its errors
# fail, its warnings are listed.
if [ "${SHIMFS_TEST_LINTIAN:-}" = 1 ]; then
    if ! command -v lintian >/dev/null; then
        skip "lintian is not installed"
    else
        lintian --tag-display-limit 0 "$deb" > "$TEST_SCRATCH/lintian" 2>&1 || true
        if grep -q '^E:' "$TEST_SCRATCH/lintian"; then
            fail "lintian errors: $(grep '^E:' "$TEST_SCRATCH/lintian" | head -n 5 | tr '\n' ';')"
        else
            pass "lintian reports no error (warnings: $(grep '^W:' "$TEST_SCRATCH/lintian" | tr '\n' ';'))"
        fi
    fi
fi

if dpkg_r -r shimfs > "$TEST_SCRATCH/remove" 2>&1 && [ ! -e "$R/usr/bin/shimfs" ] && [ ! -e "$R/usr/lib/shimfs" ]; then
    pass "dpkg -r removes it from the scratch root"
else
    fail "dpkg -r: $(tail -n 5 "$TEST_SCRATCH/remove")"
fi

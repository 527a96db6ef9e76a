#!/usr/bin/env bash
# scripts/deb.sh PKGROOT OUT.deb VERSION — the Debian package `make deb`
# builds from a staged `make install DESTDIR=PKGROOT PREFIX=/usr`.
#
# PKGROOT must be .../debian/shimfs (dpkg-shlibdeps finds the package's own
# libraries, reached through $ORIGIN, by that layout). Promises: Depends is
# what dpkg-shlibdeps computes from the ELF objects at build time, never a
# hand list; binaries are stripped of debug information, man pages
# compressed, and the package carries its copyright and changelog as
# Debian policy asks; the package is built by dpkg-deb with root-owned
# files. Fails, with dpkg's message, when any step does. DEB_MAINTAINER
# overrides the maintainer.
set -euo pipefail

root=${1:?usage: deb.sh PKGROOT OUT.deb VERSION}
out=${2:?usage: deb.sh PKGROOT OUT.deb VERSION}
version=${3:?usage: deb.sh PKGROOT OUT.deb VERSION}
maintainer=${DEB_MAINTAINER:-shimfs developers <dev@shimfs.invalid>}
here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "deb: $*" >&2; exit 1; }
case $root in */debian/shimfs) ;; *) die "$root: the staged tree must be .../debian/shimfs" ;; esac
[ -x "$root/usr/bin/shimfs" ] || die "$root is not a staged make install PREFIX=/usr"
root=$(cd "$root" && pwd)
top=$(cd "$root/../.." && pwd)
arch=$(dpkg --print-architecture)
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)}

elfs=("$root/usr/bin/shimfs" "$root"/usr/lib/shimfs/*.so)
strip --strip-unneeded --remove-section=.comment --remove-section=.note "${elfs[@]}"
chmod 0644 "$root"/usr/lib/shimfs/*.so
find "$root/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +

doc=$root/usr/share/doc/shimfs
mkdir -p "$doc"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: shimfs
Comment: The shimfs sources state no license yet; ask the authors
 before redistributing this package.

Files: *
Copyright: the shimfs authors
License: none-stated
 No license has been stated for shimfs.
EOF
{
    printf 'shimfs (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Built from the shimfs sources with make deb.\n\n'
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$epoch")"
} | gzip -9n > "$doc/changelog.gz"

# Depends, from the objects themselves.
mkdir -p "$top/debian" "$root/DEBIAN"
printf 'Source: shimfs\nMaintainer: %s\n\nPackage: shimfs\nArchitecture: any\n' "$maintainer" \
    > "$top/debian/control"
depends=$(cd "$top" && dpkg-shlibdeps -O -xshimfs "${elfs[@]#"$top/"}" 2>"$top/shlibdeps.log") ||
    die "dpkg-shlibdeps: $(cat "$top/shlibdeps.log")"
depends=${depends#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependency"
if grep -q 'cannot find library' "$top/shlibdeps.log"; then
    die "dpkg-shlibdeps: $(grep 'cannot find library' "$top/shlibdeps.log" | head -n 3)"
fi

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: shimfs
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: utils
Priority: optional
Description: shared POSIX file system for unmodified programs, by LD_PRELOAD
 shimfs makes a path prefix (say /mnt/data) a shared POSIX file system for
 unmodified, dynamically linked programs by preloading one library,
 /usr/lib/shimfs/libshimfs.so. Metadata lives in PostgreSQL, file contents
 in S3 (or any S3-compatible store) as immutable zstd-compressed,
 checksummed blocks, cached on the node's local disk. No FUSE, no
 privileges, no kernel module.
 .
 The package holds the preload library, its loader audit library (for
 volume libraries found through RPATH, RUNPATH or LD_LIBRARY_PATH) and
 the engine it loads on first
 use, the shimfs command (format, import, warmup, ls, stat, gc, fsck,
 inject, and the node agent the library starts), shimfs-run, and the man
 pages shimfs(1), shimfs-run(1) and libshimfs(7).
EOF
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$epoch" {} +

tmp=$out.tmp.$$
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$tmp" > /dev/null
mv "$tmp" "$out"
echo "deb: $out ($(du -k "$out" | cut -f1) KiB) Depends: $depends"

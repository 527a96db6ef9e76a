#!/usr/bin/env bash
# scripts/bundle.sh STAGE OUT.tar.gz VERSION — turns a staged
# `make install PREFIX=/shimfs DESTDIR=...` (STAGE is its shimfs/ folder:
# bin/, lib/shimfs/, share/) into the relocatable bundle `make bundle` ships.
#
# Promises: every shared library the shim, the engine, its two backends and
# the CLI need, glibc's own excepted, is copied (the real file, named by its
# soname) into lib/shimfs/, beside the engine, so the folder is complete as
# it is and as `shimfs inject`'s init container copies it (lib/shimfs/* and
# bin/shimfs flat into one folder). Our objects get a DT_RPATH (not RUNPATH)
# of $ORIGIN (bin/shimfs: $ORIGIN/../lib/shimfs and $ORIGIN): glibc searches
# a DT_RPATH for the dependencies of dependencies too, so libcurl's own
# libraries are found beside it wherever the bundle is unpacked, even when a
# program that never heard of them loads the shim. The copied libraries stay
# byte for byte as their distribution built them unless they carry a search
# path of their own (that would hide ours; then theirs becomes $ORIGIN).
# The minimum glibc, the highest GLIBC_x.y any bundled object requires, is
# written into the bundle's README and printed. Fails, naming the file, when
# a dependency cannot be found, when a bundled object needs a library the
# bundle does not hold, or when one requires GLIBC_PRIVATE (that would pin
# one glibc build).
set -euo pipefail

stage=${1:?usage: bundle.sh STAGE OUT.tar.gz VERSION}
out=${2:?usage: bundle.sh STAGE OUT.tar.gz VERSION}
version=${3:?usage: bundle.sh STAGE OUT.tar.gz VERSION}
libdir=$stage/lib/shimfs
unset LD_LIBRARY_PATH LD_PRELOAD

die() { echo "bundle: $*" >&2; exit 1; }
command -v patchelf >/dev/null || die "patchelf is not installed (scripts/deps.sh installs it)"
[ -x "$stage/bin/shimfs" ] && [ -f "$libdir/libshimfs-core.so" ] || die "$stage is not a staged make install"

# glibc's own libraries: every image that can run the bundle has them, and
# they must be the image's (the dynamic loader and libc go together).
is_glibc() {
    case $1 in
        ld-linux*.so*|ld64.so*|libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*|\
        librt.so.*|libresolv.so.*|libutil.so.*|libanl.so.*|libBrokenLocale.so.*|libnss_*.so.*|\
        libthread_db.so.*|libc_malloc_debug.so.*|libmemusage.so|libpcprofile.so|linux-vdso.so.*|\
        linux-gate.so.*) return 0 ;;
    esac
    return 1
}

ours=("$stage/bin/shimfs")
for f in "$libdir"/*.so; do ours+=("$f"); done

# Debug information stays in the build tree; the bundle is copied into
# every pod.
strip --strip-debug "${ours[@]}"

# The dependencies, as the host's loader resolves them (ldd is transitive).
declare -A dep_path=()
for f in "${ours[@]}"; do
    while read -r name arrow path _; do
        [ "$arrow" = "=>" ] || continue
        is_glibc "$name" && continue
        case $name in libshimfs*) continue ;; esac
        [ "$path" != not ] || die "$f needs $name, which this host does not have"
        dep_path[$name]=$path
    done < <(ldd "$f")
done
for name in "${!dep_path[@]}"; do
    cp -L "${dep_path[$name]}" "$libdir/$name"
    chmod 0644 "$libdir/$name"
done

# Search paths.
for f in "$libdir"/*.so; do
    patchelf --force-rpath --set-rpath '$ORIGIN' "$f"
done
patchelf --force-rpath --set-rpath '$ORIGIN/../lib/shimfs:$ORIGIN' "$stage/bin/shimfs"
for name in "${!dep_path[@]}"; do
    if readelf -d "$libdir/$name" | grep -qE '\((RPATH|RUNPATH)\)'; then
        patchelf --force-rpath --set-rpath '$ORIGIN' "$libdir/$name"
    fi
done

# Closure and glibc: every object's DT_NEEDED is glibc's or in lib/shimfs.
versions=
for f in "$stage/bin/shimfs" "$libdir"/*; do
    while read -r need; do
        is_glibc "$need" || [ -f "$libdir/$need" ] || die "$f needs $need, which the bundle does not hold"
    done < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
    vers=$(objdump -p "$f" | grep -o 'GLIBC_[0-9A-Z_.]*' | sort -u || true)
    case $vers in *GLIBC_PRIVATE*) die "$f requires GLIBC_PRIVATE" ;; esac
    versions+=" $vers"
done
glibc_min=$(printf '%s\n' $versions | sed -n 's/^GLIBC_//p' | sort -V | tail -n1)
[ -n "$glibc_min" ] || die "no GLIBC_ version found in the bundled objects"

# What was bundled, from which package, with its copyright file (LGPL and
# GPL libraries travel with their terms).
arch=$(basename "$out" .tar.gz); arch=${arch##*-}
docdir=$stage/share/doc/shimfs
mkdir -p "$docdir/third-party"
# One dpkg -S for all (it takes a while each): a file is known to dpkg by
# the path its package ships, /usr/lib/... or (before merged /usr) /lib/...
declare -A pkg_of=()
if command -v dpkg >/dev/null; then
    paths=()
    for name in "${!dep_path[@]}"; do
        real=$(readlink -f "${dep_path[$name]}")
        paths+=("$real" "${real#/usr}")
    done
    while IFS= read -r line; do
        pkg_of[${line#*: }]=${line%%: *}
    done < <(dpkg -S "${paths[@]}" 2>/dev/null | grep -v '^diversion' || true)
fi
declare -A ver_of=()
if [ ${#pkg_of[@]} -gt 0 ]; then
    while read -r p v; do ver_of[$p]=$v; done < <(dpkg-query -W -f='${Package}:${Architecture} ${Version}\n' \
        $(printf '%s\n' "${pkg_of[@]}" | sort -u) 2>/dev/null || true)
fi
manifest=
for name in $(printf '%s\n' "${!dep_path[@]}" | sort); do
    real=$(readlink -f "${dep_path[$name]}")
    pkg=${pkg_of[$real]:-${pkg_of[${real#/usr}]:-}} ver=
    if [ -n "$pkg" ]; then
        ver=${ver_of[$pkg]:-${ver_of[$pkg:$(dpkg --print-architecture)]:-}}
        pkg=${pkg%%:*}
        if [ -f "/usr/share/doc/$pkg/copyright" ]; then
            mkdir -p "$docdir/third-party/$pkg"
            cp "/usr/share/doc/$pkg/copyright" "$docdir/third-party/$pkg/copyright"
        fi
    fi
    manifest+=$(printf '  %-26s %s %s' "$name" "${pkg:-?}" "$ver")$'\n'
done

cat > "$stage/README" <<EOF
shimfs $version bundle ($arch)

Needs: Linux with glibc $glibc_min or newer ($arch), and nothing else: every
other library shimfs uses is in lib/shimfs/ (listed below), found there
through \$ORIGIN run paths wherever this folder is unpacked or copied.
(glibc $glibc_min is the highest GLIBC_x.y symbol version a bundled object
requires; musl systems such as Alpine cannot load it.)

Layout (the same as \`make install PREFIX=/opt/shimfs\`):
  bin/shimfs              the command line, also the node agent the library starts
  bin/shimfs-run          runs a command with the volume visible
  lib/shimfs/libshimfs.so the preload library; the engine and its backends
                          (libshimfs-core.so, -pg.so, -s3.so) and their
                          libraries beside it
  lib/shimfs/libshimfs-audit.so  the loader's audit library (LD_AUDIT), for
                          libraries found in the volume through RPATH,
                          RUNPATH or LD_LIBRARY_PATH (shimfs-run sets it)
  share/man/              shimfs(1), shimfs-run(1), libshimfs(7)
  share/doc/shimfs/third-party/  the bundled libraries' copyright files

Use:
  tar -xzf shimfs-bundle-$version-$arch.tar.gz -C /opt      # gives /opt/shimfs
  export SHIMFS_META=postgresql://user:pass@host:5432/vol1 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  /opt/shimfs/bin/shimfs format vol1 --bucket https://host/bucket
  LD_PRELOAD=/opt/shimfs/lib/shimfs/libshimfs.so SHIMFS_PREFIX=/mnt/data python train.py
  (or /opt/shimfs/bin/shimfs-run --prefix /mnt/data python train.py, which also sets
  LD_AUDIT=/opt/shimfs/lib/shimfs/libshimfs-audit.so)

The folder can be moved, or lib/shimfs/* and bin/shimfs copied together
into one folder (the Kubernetes init container of docs/kubernetes.md does).
A library a program has already loaded under the same name (say its own
libssl.so.3) is used instead of the bundled one, as the dynamic loader
loads one copy per name; HTTPS buckets use the image's CA certificates
(/etc/ssl/certs) or AWS_CA_BUNDLE.

Bundled libraries (file, Debian package, version):
$manifest
EOF

mkdir -p "$(dirname "$out")"
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$(dirname "$0")" log -1 --format=%ct 2>/dev/null || date +%s)}
tmp=$out.tmp.$$
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    -C "$(dirname "$stage")" -cf - "$(basename "$stage")" | gzip -9n > "$tmp"
mv "$tmp" "$out"
echo "bundle: $out ($(du -k "$out" | cut -f1) KiB, ${#dep_path[@]} libraries bundled, glibc >= $glibc_min)"

#!/usr/bin/env bash
# tests/integration/test_bundle.sh — `make bundle` runs where none of its
# libraries are: the bundle is unpacked into a minimal root this test builds
# (glibc and a few programs copied from the host with their own libraries,
# but no libcurl, libpq, liburing, zstd, xxhash, expat, yaml or OpenSSL),
# and the demo workload runs there in a chroot with its own mounts and the
# host's network (the test's PostgreSQL and s3rver on 127.0.0.1): format,
# cp into the volume through LD_PRELOAD, read back with cat and sha256sum,
# `shimfs ls`/`stat`; the libraries are shown to load from the bundle. Then
# the init container of docs/kubernetes.md: deploy/Dockerfile's entrypoint
# and `shimfs inject`'s script copy the bundle flat into a folder, from
# which programs and the node agent run. Needs root and `unshare -m`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "${SHIMFS_SANITIZE:-}" != 1 ] || skip_test "the bundle is made from the plain build (not under SANITIZE=1)"
[ "$(id -u)" = 0 ] || skip_test "needs root (chroot)"
need_cmd unshare chroot patchelf python3 tar
unshare -m true 2>/dev/null || skip_test "unshare -m is not permitted here"
need_services

if ! env -u MAKEFLAGS -u MAKELEVEL make -C "$TEST_ROOT" --no-print-directory bundle > "$TEST_SCRATCH/make.log" 2>&1; then
    fail "make bundle: $(tail -n 5 "$TEST_SCRATCH/make.log")"
    exit 1
fi
bundle=$(sed -n 's/^bundle: \(.*\.tar\.gz\) (.*/\1/p' "$TEST_SCRATCH/make.log")
case $bundle in /*) ;; *) bundle=$TEST_ROOT/$bundle ;; esac
[ -f "$bundle" ] || { fail "make bundle named no tarball: $(tail -n 3 "$TEST_SCRATCH/make.log")"; exit 1; }
pass "make bundle: $(basename "$bundle") ($(du -k "$bundle" | cut -f1) KiB)"

# ---- the root: glibc, a shell and coreutils, nothing of shimfs's ----
ROOT=$TEST_SCRATCH/root
mkdir -p "$ROOT"/{bin,proc,dev,etc,opt,tmp,var/tmp,mnt,shimfs,cache2}
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
# copy_file PATH: the file at the same path in the root (its real bytes).
copy_file() { mkdir -p "$ROOT$(dirname "$1")"; cp -L "$1" "$ROOT$1"; }
libc_dir=
for prog in sh cat cp ls sha256sum chmod id mkdir; do
    path=$(command -v "$prog")
    cp -L "$path" "$ROOT/bin/$prog"
    while read -r a b c _; do
        if [ "$b" = "=>" ] && [ "${c#/}" != "$c" ]; then
            copy_file "$c"
            [ "$a" != libc.so.6 ] || libc_dir=$(dirname "$c")
        elif [ "${a#/}" != "$a" ]; then
            copy_file "$a"          # the dynamic loader
        fi
    done < <(ldd "$path")
done
# The rest of glibc, as any glibc image has it.
for so in libm.so.6 libmvec.so.1 libresolv.so.2 libdl.so.2 libpthread.so.0 librt.so.1 \
          libnss_files.so.2 libnss_dns.so.2; do
    [ ! -f "$libc_dir/$so" ] || copy_file "$libc_dir/$so"
done
echo "root:x:0:0:root:/tmp:/bin/sh" > "$ROOT/etc/passwd"
tar -xzf "$bundle" -C "$ROOT/opt"
# The Dockerfile's COPY of its entrypoint.
mkdir -p "$ROOT/usr/local/bin"
cp "$TEST_ROOT/deploy/shimfs-init" "$ROOT/usr/local/bin/shimfs-init"

foreign=$(cd "$ROOT" && find . -name '*.so*' ! -path './opt/shimfs/*' | grep -E \
    'lib(curl|pq|uring|zstd|xxhash|expat|yaml|ssl|crypto|gnutls|krb5|gssapi|ldap|nghttp2)' || true)
assert_eq "" "$foreign" "the root holds none of the bundle's libraries outside /opt/shimfs"
[ -f "$ROOT/opt/shimfs/lib/shimfs/libcurl.so.4" ] && [ -x "$ROOT/opt/shimfs/bin/shimfs" ] &&
    [ -f "$ROOT/opt/shimfs/lib/shimfs/libshimfs-audit.so" ] &&
    [ -x "$ROOT/opt/shimfs/bin/shimfs-run" ] && [ -f "$ROOT/opt/shimfs/share/man/man7/libshimfs.7" ] &&
    pass "the bundle unpacks as /opt/shimfs with bin/, lib/shimfs/ and share/man/" ||
    fail "the bundle's layout: $(cd "$ROOT/opt" && find . -maxdepth 3 | head -n 20 | tr '\n' ' ')"
glibc_min=$(sed -n 's/^Needs: Linux with glibc \([0-9.]*\) or newer.*/\1/p' "$ROOT/opt/shimfs/README")
host_glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if [ -n "$glibc_min" ] && [ "$(printf '%s\n%s\n' "$glibc_min" "$host_glibc" | sort -V | head -n1)" = "$glibc_min" ]; then
    pass "the README states the minimum glibc ($glibc_min, this host has $host_glibc)"
else
    fail "README's minimum glibc '$glibc_min' (host $host_glibc)"
fi

META=$(test_db)
BUCKET=$(test_bucket)
# in_root CMDLINE: run CMDLINE with /bin/sh in the root, as a container
# would: a private mount namespace with /dev and /proc, the host's network,
# and only the environment a pod would give it.
in_root() {
    env -i PATH=/bin:/usr/bin:/sbin:/usr/sbin HOME=/tmp SHIMFS_META="$META" SHIMFS_PREFIX=/mnt/vol \
        AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        AWS_REGION="${AWS_REGION:-us-east-1}" SHIMFS_AGENT_IDLE=3 \
        unshare -m -- sh -c 'mount --bind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
            exec chroot "$1" /bin/sh -c "$2"' in_root "$ROOT" "$1"
}
PRELOAD=LD_PRELOAD=/opt/shimfs/lib/shimfs/libshimfs.so

head -c 3000000 /dev/urandom > "$ROOT/tmp/a.bin"
printf 'hello from a root without libcurl\n' > "$ROOT/tmp/b.txt"
sum_a=$(sha256sum < "$ROOT/tmp/a.bin" | cut -d' ' -f1)

if in_root "/opt/shimfs/bin/shimfs format vol1 --bucket $BUCKET" > "$TEST_SCRATCH/format" 2>&1; then
    pass "shimfs format from the bundle"
else
    fail "shimfs format in the root: $(head -c 600 "$TEST_SCRATCH/format")"
fi
if in_root "$PRELOAD LD_DEBUG=libs LD_DEBUG_OUTPUT=/tmp/ld cp /tmp/a.bin /tmp/b.txt /mnt/vol/" \
        > "$TEST_SCRATCH/cp" 2>&1; then
    pass "cp writes into the volume through the bundle's libshimfs.so"
else
    fail "cp into the volume: $(head -c 600 "$TEST_SCRATCH/cp")"
fi
# Where cp's libraries came from: each one glibc did not bring is the bundle's.
# (The node agent cp started inherits LD_DEBUG too: cp's own file only.)
cat $(grep -l 'initialize program: cp' "$ROOT"/tmp/ld.* 2>/dev/null) > "$TEST_SCRATCH/ld" 2>/dev/null || true
loaded=$(sed -n 's/.*calling init: //p' "$TEST_SCRATCH/ld" | sort -u)
for lib in libshimfs-core.so libshimfs-pg.so libshimfs-s3.so libpq.so.5 libcurl.so.4 libzstd.so.1 \
           libssl.so.3 libnghttp2.so.14; do
    got=$(printf '%s\n' "$loaded" | grep "/$lib\$" || true)
    assert_eq "/opt/shimfs/lib/shimfs/$lib" "$got" "cp loaded $lib from the bundle"
done
outside=$(printf '%s\n' "$loaded" | grep -v -e '^/opt/shimfs/lib/shimfs/' -e "^$libc_dir/" \
    -e '/ld-linux' -e '^/bin/' || true)
assert_eq "" "$outside" "cp loaded nothing else but the host-copied libraries of cp itself and glibc"

out=$(in_root "$PRELOAD cat /mnt/vol/b.txt" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "hello from a root without libcurl" "$out" "cat reads the text file back"
out=$(in_root "$PRELOAD sha256sum /mnt/vol/a.bin" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "$sum_a  /mnt/vol/a.bin" "$out" "sha256sum reads the 3 MB file back"
out=$(in_root "$PRELOAD ls /mnt/vol" 2>>"$TEST_SCRATCH/stderr" | tr '\n' ' ' || true)
assert_eq "a.bin b.txt " "$out" "ls lists the volume"
out=$(in_root "/opt/shimfs/bin/shimfs ls /" 2>>"$TEST_SCRATCH/stderr" | tr '\n' ' ' || true)
assert_eq "a.bin b.txt " "$out" "shimfs ls from the bundle"
out=$(in_root "/opt/shimfs/bin/shimfs stat -c '%s %n' /a.bin" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "3000000 /a.bin" "$out" "shimfs stat from the bundle"

# ---- the init container: the image's entrypoint (deploy/Dockerfile) ----
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)"\]$/\1/p' "$TEST_ROOT/deploy/Dockerfile")
cmd=$(sed -n 's/^CMD \["\([^"]*\)"\]$/\1/p' "$TEST_ROOT/deploy/Dockerfile")
assert_eq "/usr/local/bin/shimfs-init /shimfs" "$entry $cmd" "the Dockerfile's entrypoint is deploy/shimfs-init into /shimfs"
if in_root "$entry $cmd" > "$TEST_SCRATCH/init" 2>&1 && [ -f "$ROOT/shimfs/libshimfs.so" ] &&
        [ -x "$ROOT/shimfs/shimfs" ] && [ -f "$ROOT/shimfs/libcurl.so.4" ]; then
    pass "the entrypoint copies the libraries and shimfs into /shimfs"
else
    fail "the entrypoint: $(head -c 600 "$TEST_SCRATCH/init")"
fi
# The folder works alone: /opt/shimfs is hidden from now on.
mv "$ROOT/opt/shimfs" "$ROOT/opt/hidden"
on_exit "[ ! -d '$ROOT/opt/hidden' ] || mv '$ROOT/opt/hidden' '$ROOT/opt/shimfs'"
# A cache folder of its own, so that the agent below is this folder's.
FLAT="SHIMFS_CACHE_DIR=/var/tmp/flat LD_PRELOAD=/shimfs/libshimfs.so"
out=$(in_root "$FLAT cat /mnt/vol/b.txt" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "hello from a root without libcurl" "$out" "a program reads the volume with LD_PRELOAD=/shimfs/libshimfs.so"
out=$(in_root "$FLAT sha256sum /mnt/vol/a.bin" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "$sum_a  /mnt/vol/a.bin" "$out" "sha256sum through the copied folder"
# The library starts the node agent from the shimfs binary beside it.
in_root "$FLAT ls /mnt/vol >/dev/null" > /dev/null 2>&1 || true
if wait_for 10 in_root "SHIMFS_CACHE_DIR=/var/tmp/flat /shimfs/shimfs agent --status" > /dev/null 2>&1; then
    pass "the library started the node agent from /shimfs/shimfs"
else
    fail "no node agent serves /var/tmp/flat: $(in_root "SHIMFS_CACHE_DIR=/var/tmp/flat /shimfs/shimfs agent --status" 2>&1 | head -c 300)"
fi
agent_maps=
for pid in $(pgrep -f 'shimfs agent' || true); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] || continue
    agent_maps+=" $(grep -o '/[^ ]*/libpq\.so\.5$' "/proc/$pid/maps" 2>/dev/null | sort -u | tr '\n' ' ' || true)"
done
case " $agent_maps " in
    *" $ROOT/shimfs/libpq.so.5 "*) pass "the agent runs with the copied folder's libpq" ;;
    *) fail "no agent in the root maps $ROOT/shimfs/libpq.so.5: '$agent_maps'" ;;
esac

# ---- the init container `shimfs inject` writes, run as Kubernetes would ----
cat > "$ROOT/tmp/pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: train
spec:
  containers:
  - name: main
    image: example/train
EOF
mv "$ROOT/opt/hidden" "$ROOT/opt/shimfs"
if in_root "/opt/shimfs/bin/shimfs inject --prefix /mnt/vol --lib-dir /shimfs2 --cache-dir /cache2/c < /tmp/pod.yaml" \
        > "$TEST_SCRATCH/injected.yaml" 2> "$TEST_SCRATCH/inject.err"; then
    pass "shimfs inject from the bundle (libyaml from the bundle)"
else
    fail "shimfs inject in the root: $(head -c 600 "$TEST_SCRATCH/inject.err")"
fi
python3 - "$TEST_SCRATCH/injected.yaml" > "$TEST_SCRATCH/init.sh" <<'EOF'
import shlex, sys, yaml
pod = yaml.safe_load(open(sys.argv[1]))
init = [c for c in pod['spec']['initContainers'] if c['name'] == 'shimfs-init'][0]
print(' '.join(shlex.quote(a) for a in init['command'] + init.get('args', [])))
EOF
mkdir -p "$ROOT/shimfs2"
if in_root "$(cat "$TEST_SCRATCH/init.sh")" > "$TEST_SCRATCH/init2" 2>&1 && [ -k "$ROOT/cache2" ] &&
        [ -f "$ROOT/shimfs2/libshimfs.so" ]; then
    pass "the injected init container's command copies the bundle and makes the cache mount sticky"
else
    fail "the injected init container: $(head -c 600 "$TEST_SCRATCH/init2")"
fi
mv "$ROOT/opt/shimfs" "$ROOT/opt/hidden"
out=$(in_root "SHIMFS_CACHE_DIR=/cache2/c LD_PRELOAD=/shimfs2/libshimfs.so sha256sum /mnt/vol/a.bin" 2>>"$TEST_SCRATCH/stderr" || true)
assert_eq "$sum_a  /mnt/vol/a.bin" "$out" "a container reads through the injected folder and cache"
[ -d "$ROOT/cache2/c" ] && pass "the cache folder was made in the cache mount" ||
    fail "no cache folder in /cache2"

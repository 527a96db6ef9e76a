#!/usr/bin/env bash
# scripts/deps.sh — installs what building and testing shimfs needs.
#   deps.sh          what `make` and `make check` need
#   deps.sh bench    that, and the peers `make bench` compares with (s3fs,
#                    rclone) and the public suites it runs (dbench, fio)
# Promises: installs only what is missing and prints nothing when nothing
# is; runs non-interactively (CI=true, no stdin) on a fresh Debian 12 as
# root; `apt-get update` only when a package must really be installed.
set -euo pipefail

DEPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS_S3RVER_VERSION=3.7.1

# Debian packages, one a line. Append new ones at the end.
DEPS_PACKAGES="
build-essential
pkg-config
libcurl4-openssl-dev
libpq-dev
liburing-dev
libzstd-dev
libxxhash-dev
libexpat1-dev
check
postgresql-15
python3
python3-botocore
nodejs
npm
zstd
sqlite3
git
rsync
tar
coreutils
findutils
diffutils
psmisc
curl
strace
libyaml-dev
clang
libclang-rt-14-dev
pgbouncer
patchelf
groff-base
clang-format
cppcheck
python3-venv
python3-dev
python3-numpy
python3-torch
stress-ng
"

# Only for `make bench` (scripts/bench-peers.sh), not for `make check`.
# Append new ones at the end.
DEPS_BENCH_PACKAGES="
s3fs
rclone
fuse
dbench
fio
"

deps_log() { printf 'deps: %s\n' "$*" >&2; }

deps_pkg_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# A package also counts as present when what it brings is already there from
# another source: NodeSource's nodejs ships npm itself and conflicts with
# Debian's npm, so asking apt for npm would try to remove node.
deps_pkg_provided() {
    case "$1" in
        nodejs)        command -v node ;;
        npm)           command -v npm ;;
        postgresql-15) test -x /usr/lib/postgresql/15/bin/postgres && echo ;;
        *)             return 1 ;;
    esac >/dev/null 2>&1
}

deps_missing_packages() {
    local pkg
    for pkg in "$@"; do
        deps_pkg_installed "$pkg" || deps_pkg_provided "$pkg" || echo "$pkg"
    done
}

deps_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

deps_apt_install() {
    local log
    log=$(mktemp /tmp/shimfs-deps-apt.XXXXXX)
    deps_log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! { deps_as_root apt-get update -qq &&
           deps_as_root apt-get install -y -qq --no-install-recommends \
               -o Dpkg::Options::=--force-confdef \
               -o Dpkg::Options::=--force-confold "$@"; } </dev/null >"$log" 2>&1; then
        deps_log "apt-get failed; last lines of $log:"
        tail -n 30 "$log" >&2
        return 1
    fi
    rm -f "$log"
}

deps_s3rver_ok() {
    local pj="$DEPS_ROOT/node_modules/s3rver/package.json"
    [ -f "$pj" ] && grep -q "\"version\": \"$DEPS_S3RVER_VERSION\"" "$pj"
}

deps_npm_install() {
    local log
    log=$(mktemp /tmp/shimfs-deps-npm.XXXXXX)
    deps_log "installing s3rver $DEPS_S3RVER_VERSION with npm ci"
    if ! (cd "$DEPS_ROOT" && npm ci --no-audit --no-fund --loglevel=error) </dev/null >"$log" 2>&1; then
        deps_log "npm ci failed; last lines of $log:"
        tail -n 30 "$log" >&2
        return 1
    fi
    rm -f "$log"
}

deps_main() {
    local missing wanted=$DEPS_PACKAGES
    case ${1:-} in
        "") ;;
        bench) wanted="$wanted $DEPS_BENCH_PACKAGES" ;;
        *) deps_log "usage: deps.sh [bench]"; return 2 ;;
    esac
    # shellcheck disable=SC2086 # one package per word is wanted
    missing=$(deps_missing_packages $wanted)
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086 # one package per word is wanted
        deps_apt_install $missing
    fi
    deps_s3rver_ok || deps_npm_install
}

deps_main "$@"

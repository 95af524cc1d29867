#!/usr/bin/env bash
# Build the newer pgbouncer (Debian 13 "trixie" source package, 1.24.x) for the test suite and cache
# the binary OUTSIDE the repository:
#   ${PGB_TEST_CACHE_DIR:-/var/cache/pgb-setup-test}/pgbouncer-<version>/pgbouncer
#
# Test helper only; run as root (it uses apt). Idempotent: reuses a cached binary. A flock on
# <cache>/.build.lock keeps concurrent callers from building twice. The path of the binary is the
# last line printed on stdout; progress goes to stderr. Nothing is written into the repository.
set -euo pipefail

CACHE_DIR="${PGB_TEST_CACHE_DIR:-/var/cache/pgb-setup-test}"
SOURCES_FILE=/etc/apt/sources.list.d/pgb-setup-trixie-src.sources
BUILD_DEPS=(libevent-dev libssl-dev libc-ares-dev pkg-config dpkg-dev build-essential)
export DEBIAN_FRONTEND=noninteractive

log() { printf '[build-pgbouncer] %s\n' "$*" >&2; }

cached_binary() {
  # Highest cached version whose binary runs.
  local d best=""
  for d in $(ls -1d "$CACHE_DIR"/pgbouncer-[0-9]* 2>/dev/null | sort -V); do
    [[ "$d" == *.tmp* ]] && continue
    if [[ -x "$d/pgbouncer" ]] && "$d/pgbouncer" -V >/dev/null 2>&1; then best="$d/pgbouncer"; fi
  done
  [[ -n "$best" ]] && printf '%s\n' "$best"
}

if [[ $EUID -ne 0 ]]; then
  if found=$(cached_binary); then printf '%s\n' "$found"; exit 0; fi
  log "must run as root to build (apt-get is needed)"; exit 1
fi

mkdir -p "$CACHE_DIR"
chmod 0755 "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build.lock"
flock -w 900 9 || { log "timed out waiting for $CACHE_DIR/.build.lock"; exit 1; }

# Someone else may have built it while we waited for the lock.
if found=$(cached_binary); then printf '%s\n' "$found"; exit 0; fi

missing=()
for p in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing build dependencies: ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-upgrade --no-install-recommends "${missing[@]}" >&2
fi

need_update=0
want_sources=$'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg'
if [[ ! -f "$SOURCES_FILE" ]] || [[ "$(cat "$SOURCES_FILE")" != "$want_sources" ]]; then
  log "writing $SOURCES_FILE"
  printf '%s\n' "$want_sources" >"$SOURCES_FILE"
  chmod 0644 "$SOURCES_FILE"
  need_update=1
fi

work=$(mktemp -d /tmp/pgb-setup-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

fetch_source() { apt-get source --download-only pgbouncer >&2 2>"$work/apt-source.err"; }
if ((need_update == 0)) && fetch_source; then :; else
  # The trixie deb-src entry is new, or its index is missing/stale: refresh and retry once.
  log "apt-get update"
  apt-get -o DPkg::Lock::Timeout=600 update >&2
  fetch_source || { cat "$work/apt-source.err" >&2; exit 1; }
fi

dsc=$(ls -1 pgbouncer_*.dsc | head -n1)
orig=$(ls -1 pgbouncer_*.orig.tar.* | head -n1)
log "downloaded $dsc"
# Prefer dpkg-source -x: it also applies Debian's patches (security fixes). Fall back to the plain
# upstream tarball if that fails for any reason.
if ! dpkg-source --no-check -x "$dsc" src >&2 2>"$work/dpkg-source.err"; then
  log "dpkg-source failed, using the upstream tarball"; cat "$work/dpkg-source.err" >&2
  rm -rf src && mkdir src && tar -xf "$orig" -C src --strip-components=1
fi
cd src
log "configure"
./configure --without-pam >"$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log" >&2; exit 1; }
log "make"
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }

version=$(./pgbouncer -V | sed -n '1s/^PgBouncer \([0-9][0-9.]*\).*/\1/p')
[[ -n "$version" ]] || { log "cannot read the version of the built binary"; ./pgbouncer -V >&2; exit 1; }
dest="$CACHE_DIR/pgbouncer-$version"
tmpdest="$dest.tmp.$$"
rm -rf "$tmpdest"
mkdir -p "$tmpdest"
install -m 0755 pgbouncer "$tmpdest/pgbouncer"
cp "$work/$dsc" "$tmpdest/" 2>/dev/null || true
chmod 0755 "$tmpdest"
rm -rf "$dest"
mv "$tmpdest" "$dest"
log "built $dest/pgbouncer ($(head -n1 < <("$dest/pgbouncer" -V)))"
printf '%s\n' "$dest/pgbouncer"

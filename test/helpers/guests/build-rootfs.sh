#!/bin/sh
# Builds a Debian root filesystem for the reference-host tests (test/guests): systemd as PID 1, the
# distro's own nodejs, npm and postgresql installed, pgbouncer's .debs in the apt cache only (the
# guest, which has no network, installs pgbouncer from absent). Called by test/guests/support/setup.ts
# when the cached rootfs is missing or its stamp (a hash of this file) differs.
#   build-rootfs.sh SUITE DIR MIRROR
set -eu
suite=$1 dir=$2 mirror=$3
tmp="$dir.building"
rm -rf "$tmp"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,sudo,procps,iproute2,ca-certificates,libpam-systemd \
  "$suite" "$tmp" "$mirror"

cleanup() { umount "$tmp/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$tmp/proc"
cp /etc/resolv.conf "$tmp/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
chmod 0755 "$tmp/usr/sbin/policy-rc.d"

extra=
# The Ansible example runs inside the bookworm guest with Debian's ansible-core (2.14).
[ "$suite" = bookworm ] && extra=ansible-core
in_root() { chroot "$tmp" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
in_root apt-get -o DPkg::Lock::Timeout=600 update
in_root apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends nodejs npm postgresql $extra
in_root apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends --download-only pgbouncer
ls "$tmp"/var/cache/apt/archives/pgbouncer_*.deb >/dev/null

rm -f "$tmp/usr/sbin/policy-rc.d"
echo "pgb-$suite" > "$tmp/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 pgb-%s\n::1 localhost\n' "$suite" > "$tmp/etc/hosts"
: > "$tmp/etc/resolv.conf"
# A guest without network: keep apt from trying its mirrors at boot.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
umount "$tmp/proc"
trap - EXIT
rm -rf "$dir"
mv "$tmp" "$dir"

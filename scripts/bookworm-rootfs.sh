#!/usr/bin/env bash
# A Debian 12 (bookworm) root file system for the provisioning converge test
# (tests/provisioning/test_converge.py), made once with debootstrap and kept in a cache
# outside the repository; later runs only copy it. Needs root, debootstrap and network.
# Usage: scripts/bookworm-rootfs.sh [--cloud] [CACHE_DIR]   (default /var/cache/tillbox-debootstrap)
# --cloud: the cloud machine's packages (PostgreSQL, Mosquitto) instead of the appliance's.
# Prints the path of the finished root file system.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLAVOR=appliance
if [[ "${1:-}" == --cloud ]]; then
    FLAVOR=cloud
    shift
fi
CACHE="${1:-/var/cache/tillbox-debootstrap}"
MIRROR="${TILLBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the base and appliance roles install, so a converge finds them there and is quick
# (the roles still declare every package; apt only confirms it is present).
PACKAGES=dbus,libpam-systemd,python3,python3-venv,ca-certificates,curl,sqlite3,chrony,fake-hwclock,polkitd,openssl,systemd,udev,nginx-light,iw,sudo,openssh-server,network-manager
if [[ "$FLAVOR" == cloud ]]; then
    PACKAGES=python3,python3-venv,ca-certificates,curl,sqlite3,chrony,openssh-server,postgresql,mosquitto,nginx-light
fi
# Bump when PACKAGES changes, so an old cache is not reused.
RECIPE=2
ROOTFS="$CACHE/bookworm-minbase-r$RECIPE"
if [[ "$FLAVOR" == cloud ]]; then
    ROOTFS="$CACHE/bookworm-cloud-r2"
fi

if [[ -f "$ROOTFS/.tillbox-complete" ]]; then
    printf '%s\n' "$ROOTFS"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
mkdir -p "$CACHE"
rm -rf "$ROOTFS.partial"
say "debootstrap bookworm into $ROOTFS (once; cached for later runs)" >&2
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS.partial" "$MIRROR" >&2
# Keep apt's downloads out of the cache, and the image small.
chroot "$ROOTFS.partial" apt-get clean
touch "$ROOTFS.partial/.tillbox-complete"
rm -rf "$ROOTFS"
mv "$ROOTFS.partial" "$ROOTFS"
printf '%s\n' "$ROOTFS"

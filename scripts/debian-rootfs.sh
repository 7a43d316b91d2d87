#!/usr/bin/env bash
# scripts/debian-rootfs.sh - a real Debian bookworm root filesystem as a
# .tar.gz, for the image tests and bench/images.sh.
#
#   scripts/debian-rootfs.sh            # prints the tarball's path
#
# debootstrap --variant=minbase takes about 40 s and needs the Debian mirror,
# so the tarball is cached (default /var/cache/rd-test, or $RD_TEST_CACHE) and
# rebuilt only when missing. Written to a temporary name and renamed, so an
# interrupted build never leaves a half-made tarball behind. Must run as root.
set -euo pipefail

CACHE=${RD_TEST_CACHE:-/var/cache/rd-test}
OUT=$CACHE/debian-bookworm-minbase.tar.gz
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [[ -s $OUT ]]; then
    printf '%s\n' "$OUT"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "debian-rootfs: must run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-rootfs: debootstrap is missing (run scripts/setup.sh)" >&2; exit 1; }

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "debian-rootfs: debootstrap bookworm (minbase) into $work, about 40 s" >&2
debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/log" 2>&1 || {
    tail -20 "$work/log" >&2
    echo "debian-rootfs: debootstrap failed (is $MIRROR reachable?)" >&2
    exit 1
}
# The apt lists and downloaded .debs stay: about 200 MB and 6.8k files in
# all, the size the image issue's benchmark figures were measured on.
tar --numeric-owner --xattrs -C "$work/rootfs" -czf "$work/rootfs.tar.gz" .
mv "$work/rootfs.tar.gz" "$OUT"
printf '%s\n' "$OUT"

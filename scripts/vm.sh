#!/usr/bin/env bash
# scripts/vm.sh - run a command as root in a throwaway VM with a chosen cgroup layout.
#
#   sudo scripts/vm.sh [--layout v2|v1|hybrid] [--swap] [--timeout SECS] [--mem MB] -- COMMAND [ARG...]
#
# Most users' machines are cgroup v2 only; this one may not be. The guest is
# Debian's own kernel (linux-image-amd64, downloaded with apt-get and
# unpacked, never installed on the host), booted by qemu-system-x86 straight
# into its uncompressed vmlinux (PVH entry: no firmware, no bootloader), with
# KVM when /dev/kvm works and TCG otherwise. It sees the host's / read-only
# over 9p, with a tmpfs overlay on top: the built rd, the test binaries and
# the Debian tools run in it unchanged, and nothing it writes reaches the
# host. Its /tmp, /run, /var/lib/rd and (with --swap) a swap disk are its own.
#
# The command runs in the current directory, with the guest's console (the
# command's output, and the kernel's) streamed here; the script exits with
# the command's status (124 if the timeout struck, 125 if the guest broke).
#
# Layouts: v2 = cgroup_no_v1=all and cgroup2 at /sys/fs/cgroup with cpu,
# memory and pids enabled for children; v1 = the v1 hierarchies only;
# hybrid = v1 plus an empty cgroup2 at /sys/fs/cgroup/unified (like
# systemd's hybrid mode and this development VM).
#
# Cache: /var/cache/rd-vm (RD_VM_CACHE): the kernel package, its vmlinux,
# the initramfs. Facts behind the choices: ../shared/notes/cgroup-v2-guest.md
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RD_VM_CACHE:-/var/cache/rd-vm}
LAYOUT=v2
SWAP=0
TIMEOUT=1800
MEM=3072
RUN=""

die() {
    printf 'vm.sh: error: %s\n' "$*" >&2
    exit 125
}
log() {
    printf 'vm.sh: %s\n' "$*" >&2
}

usage() {
    sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            --layout) [[ ${2:-} =~ ^(v2|v1|hybrid)$ ]] || die "--layout takes v2, v1 or hybrid"; LAYOUT=$2; shift 2 ;;
            --swap) SWAP=1; shift ;;
            --timeout) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--timeout takes seconds"; TIMEOUT=$2; shift 2 ;;
            --mem) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--mem takes megabytes"; MEM=$2; shift 2 ;;
            -h | --help) usage; exit 0 ;;
            --) shift; break ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
    done
    [[ $# -gt 0 ]] || die "no command: scripts/vm.sh [OPTIONS] -- COMMAND"
    CMD=("$@")
}

# kernel: the newest linux-image-*-amd64 Debian offers, unpacked, and its
# vmlinux (the bzImage's xz payload: the same search as the kernel tree's
# scripts/extract-vmlinux).
kernel() {
    mkdir -p "$CACHE"
    local pkg
    local find='/Depends: linux-image-/ {print $2; exit}'
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk "$find")
    if [[ -z $pkg ]]; then
        # A fresh machine may have no package lists yet.
        apt-get update -qq >/dev/null 2>&1 || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk "$find")
    fi
    [[ -n $pkg ]] || die "apt-cache knows no linux-image-amd64 (is this Debian or Ubuntu?)"
    KVER=${pkg#linux-image-}
    if [[ ! -d $CACHE/kernel/lib/modules/$KVER ]]; then
        log "downloading and unpacking $pkg (not installed on the host)"
        (cd "$CACHE" && rm -rf kernel ./*.deb && apt-get download "$pkg" >/dev/null) || die "apt-get download $pkg failed"
        dpkg-deb -x "$CACHE"/linux-image-*.deb "$CACHE/kernel"
        # What the package's postinst would do: the index modprobe reads,
        # so the guest loads bridge, veth, nf_tables… on demand.
        depmod -b "$CACHE/kernel" "$KVER"
        rm -f "$CACHE/vmlinux"
    fi
    if [[ ! -s $CACHE/vmlinux ]]; then
        local z off
        z="$CACHE/kernel/boot/vmlinuz-$KVER"
        off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" | head -n1 | cut -d: -f1)
        [[ -n $off ]] || die "no xz payload in $z"
        tail -c +"$((off + 1))" "$z" | xz -dc 2>/dev/null >"$CACHE/vmlinux.tmp" || true
        head -c 4 "$CACHE/vmlinux.tmp" | grep -q ELF || die "could not extract vmlinux from $z"
        mv "$CACHE/vmlinux.tmp" "$CACHE/vmlinux"
    fi
}

# initramfs: busybox-static, the modules a 9p root needs, and stage 1.
MODULES=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
    drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/block/virtio_blk
    fs/netfs/netfs fs/fscache/fscache net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay)
initramfs() {
    INITRD="$CACHE/initramfs-$KVER.img"
    local stage1="$REPO_ROOT/scripts/vm-stage1.sh"
    if [[ -s $INITRD && $INITRD -nt $stage1 ]]; then return 0; fi
    log "building the initramfs"
    local dir="$CACHE/initramfs"
    rm -rf "$dir"
    mkdir -p "$dir"/{bin,dev,proc,sys,host,newroot,mods}
    cp /bin/busybox "$dir/bin/busybox"
    cp "$stage1" "$dir/init"
    chmod 755 "$dir/init"
    local m
    for m in "${MODULES[@]}"; do
        cp "$CACHE/kernel/lib/modules/$KVER/kernel/$m.ko" "$dir/mods/"
        basename "$m" >>"$dir/mods/order"
    done
    (cd "$dir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
}

cleanup() {
    [[ -n $RUN ]] && rm -rf "$RUN"
}

main() {
    parse_args "$@"
    [[ $EUID -eq 0 ]] || die "needs root (try: sudo $0)"
    command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86 is not installed (scripts/setup.sh installs it)"
    kernel
    initramfs
    trap cleanup EXIT
    RUN=$(mktemp -d "$CACHE/run.XXXXXX")
    # The command, for stage 2 to read from the host's tree.
    {
        printf 'cd %q\n' "$PWD"
        printf '%q ' "${CMD[@]}"
        printf '\n'
    } >"$RUN/cmd"
    local drives=()
    if [[ $SWAP -eq 1 ]]; then
        truncate -s 1G "$RUN/swap.img"
        drives=(-drive "file=$RUN/swap.img,if=virtio,format=raw")
    fi
    local accel=(-accel tcg,thread=multi -cpu max)
    if [[ -w /dev/kvm ]] && grep -qE 'vmx|svm' /proc/cpuinfo; then
        accel=(-accel kvm -cpu host)
    fi
    local cmdline="console=ttyS0 panic=-1 quiet loglevel=1 rd_layout=$LAYOUT rd_swap=$SWAP rd_run=$RUN rd_kver=$KVER rd_repo=$REPO_ROOT rd_cache=$CACHE"
    [[ $LAYOUT == v2 ]] && cmdline+=" cgroup_no_v1=all"
    log "booting ($LAYOUT, swap $([[ $SWAP -eq 1 ]] && echo on || echo off), ${accel[1]})"
    local start=$SECONDS status=0
    timeout --foreground "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -smp "$(nproc)" -m "$MEM" \
        -kernel "$CACHE/vmlinux" -initrd "$INITRD" -append "$cmdline" \
        -nographic -no-reboot -nic none -serial mon:stdio -monitor none \
        -virtfs local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap \
        "${drives[@]}" </dev/null | tee "$RUN/console" || status=$?
    if [[ $status -eq 124 ]]; then
        log "TIMEOUT after ${TIMEOUT}s"
        exit 124
    fi
    local line
    line=$(grep -a 'rd-vm: exit status ' "$RUN/console" | tail -n1 | tr -d '\r' || true)
    [[ -n $line ]] || die "the guest ended without reporting a status (see the console above)"
    local ready
    ready=$(grep -a -o 'rd-vm: ready after [0-9.]*s' "$RUN/console" | head -n1 | tr -dc '0-9.' || true)
    log "$LAYOUT guest: booted in ${ready:-?}s (guest uptime at ready), $((SECONDS - start))s in all"
    exit "${line##* }"
}

main "$@"

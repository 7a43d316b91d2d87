#!/bin/busybox sh
# scripts/vm-stage1.sh - the guest's /init, inside the initramfs (see vm.sh).
# Loads what a 9p root needs, puts a tmpfs overlay on the host's read-only
# /, and hands over to stage 2, a script of the host's tree, as PID 1.
/bin/busybox --install -s /bin
export PATH=/bin
fail() {
    echo "rd-vm: stage 1: $*"
    echo "rd-vm: exit status 125"
    poweroff -f
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do
    insmod "/mods/$m.ko" || fail "insmod $m"
done
for w in $(cat /proc/cmdline); do
    case $w in rd_*=*) eval "${w%%=*}=\"${w#*=}\"" ;; esac
done
mkdir -p /t
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host || fail "mount 9p"
mount -t tmpfs -o size=75% tmpfs /t || fail "mount tmpfs"
mkdir -p /t/upper /t/work
mount -t overlay -o "lowerdir=/host,upperdir=/t/upper,workdir=/t/work" overlay /newroot || fail "mount overlay"
# The guest kernel's modules where its modprobe looks (bridge, veth, nf_tables…).
mkdir -p "/newroot/lib/modules/$rd_kver"
mount --bind "/host$rd_cache/kernel/lib/modules/$rd_kver" "/newroot/lib/modules/$rd_kver" || fail "modules"
umount /proc /sys
mount --move /dev /newroot/dev || fail "move /dev"
exec switch_root /newroot /bin/sh "$rd_repo/scripts/vm-stage2.sh"

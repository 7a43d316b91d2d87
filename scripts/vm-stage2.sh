#!/bin/sh
# scripts/vm-stage2.sh - PID 1 of the guest, on the overlay of the host's /
# (see vm.sh): the kernel filesystems, the cgroup layout, swap, then the
# command; its status on the console; power off.
export PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# What udev would add to devtmpfs.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
for w in $(cat /proc/cmdline); do
    case $w in rd_*=*) eval "${w%%=*}=\"${w#*=}\"" ;; esac
done
# The guest's own scratch space: real tmpfs, not the overlay (overlayfs
# cannot be the upper layer of rd's own overlays). A repository that lives
# under one of them (a CI clone in /tmp) is carried over by a bind.
keep=""
case $rd_repo in
    /tmp/* | /var/tmp/* | /run/* | /var/lib/rd/*)
        mkdir -p /.rd-vm-repo
        mount --bind "$rd_repo" /.rd-vm-repo
        keep=1
        ;;
esac
for d in /tmp /var/tmp /run /var/lib/rd; do
    mkdir -p "$d"
    mount -t tmpfs tmpfs "$d"
done
if [ -n "$keep" ]; then
    mkdir -p "$rd_repo"
    mount --move /.rd-vm-repo "$rd_repo"
fi
chmod 1777 /tmp /var/tmp
v1() {
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
    for c in cpu,cpuacct memory pids cpuset blkio devices freezer; do
        mkdir -p "/sys/fs/cgroup/$c"
        mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
    done
    ln -s cpu,cpuacct /sys/fs/cgroup/cpu
    ln -s cpu,cpuacct /sys/fs/cgroup/cpuacct
}
case $rd_layout in
    v2)
        mount -t cgroup2 cgroup2 /sys/fs/cgroup
        echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
        ;;
    v1) v1 ;;
    hybrid)
        v1
        mkdir -p /sys/fs/cgroup/unified
        mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
        ;;
esac
if [ "$rd_swap" = 1 ]; then
    mkswap /dev/vda >/dev/null && swapon /dev/vda
fi
ip link set lo up
hostname rd-vm
echo "rd-vm: ready after $(cut -d' ' -f1 /proc/uptime)s ($rd_layout, $(uname -r), swap $(awk 'NR > 1 {s += $3} END {print s + 0}' /proc/swaps) KiB)"
bash "$rd_run/cmd"
status=$?
echo "rd-vm: exit status $status"
sync
busybox poweroff -f

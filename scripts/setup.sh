#!/usr/bin/env bash
# scripts/setup.sh - install what rd's tests, benchmark and workshop need.
#
# Target: a fresh Debian/Ubuntu machine that already has the Rust toolchain.
# Idempotent: when every package is already installed, apt is not touched and
# the script finishes in well under a second. Must run as root.
#
#   sudo scripts/setup.sh
set -euo pipefail

# Debian packages rd needs, with the reason for each.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
    busybox-static # rd builds its default busybox image from /bin/busybox
    runc           # benchmark peer (bench/start.sh)
    crun           # benchmark peer
    bubblewrap     # benchmark peer (bwrap)
    stress-ng      # workshop: load for cgroup limits
    hyperfine      # bench/start.sh: wall-time measurement
    time           # bench/start.sh: GNU /usr/bin/time for peak RSS
    iproute2       # ip, for network namespaces
    nftables       # rd's NAT and published ports (nft -j), --network bridge
    qemu-system-x86 # scripts/vm.sh: the test suite in cgroup v2 and v1 guests
    xz-utils       # scripts/vm.sh: the guest kernel's vmlinux, from its bzImage
    util-linux     # unshare, setpriv, nsenter, mount
    libcap2-bin    # capsh
    procps         # ps, pgrep
    kmod           # modprobe, for the overlay module
    libseccomp-dev # rd links libseccomp: it compiles the container's seccomp filter
    gcc            # workshop: level 03's breakout program; tests: the escape probe, static
    libc6-dev      # ... against the static C library (libc.a)
    python3        # workshop: levels/generate.py (skeletons from one template)
    docker-registry # tests, bench/images.sh: a real registry on 127.0.0.1 for rd pull
    skopeo         # tests: push test images to it; bench: peer for rd pull
    umoci          # bench/images.sh: peer for unpacking an image
    debootstrap    # tests, bench: a real Debian rootfs (scripts/debian-rootfs.sh)
    zstd           # tests: zstd-compressed layers
    ca-certificates # rd pull over HTTPS: the system's trusted roots
    lxcfs          # tests: container-aware /proc files (meminfo, uptime...), started by the test itself
    fuse-overlayfs # bench/host-root.sh: BenchExec's containerexec overlays / with it (the peer of --host-root)
)

# log MSG...: print a progress line prefixed with the script name.
log() {
    printf 'setup: %s\n' "$*"
}

# die MSG...: print an error on stderr and exit 1.
die() {
    printf 'setup: error: %s\n' "$*" >&2
    exit 1
}

# require_root: refuse to run unless we are root (apt, modprobe need it).
require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        die "must run as root (try: sudo $0)"
    fi
}

# missing_packages: print the PACKAGES that dpkg does not report as installed.
missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ $status != "install ok installed" ]]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# install_packages: apt-get install whatever is missing; no-op otherwise.
install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "packages: all ${#PACKAGES[@]} already installed"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found: install by hand: ${missing[*]}"
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    mapfile -t missing < <(missing_packages)
    [[ ${#missing[@]} -eq 0 ]] || die "still missing after apt-get: ${missing[*]}"
}

# check_overlay: make sure the kernel offers overlayfs (rd's image layers).
check_overlay() {
    if grep -qw overlay /proc/filesystems; then
        return 0
    fi
    modprobe overlay 2>/dev/null || true
    grep -qw overlay /proc/filesystems || die "overlayfs is not available (modprobe overlay failed)"
    log "overlayfs: loaded the overlay module"
}

# cgroup_mode: print v2, hybrid or v1 for this host's /sys/fs/cgroup.
cgroup_mode() {
    if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
        echo v2
    elif [[ -d /sys/fs/cgroup/unified ]] &&
        [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
        echo hybrid
    else
        echo v1
    fi
}

# check_rust_tools: warn (not fail) if cargo fmt / clippy are missing.
check_rust_tools() {
    local tool
    for tool in fmt clippy; do
        if ! cargo "$tool" --version >/dev/null 2>&1; then
            log "warning: 'cargo $tool' not found (rustup component add ${tool/fmt/rustfmt})"
        fi
    done
}

# main: run every step, then print the one-line host summary.
main() {
    require_root
    install_packages
    check_overlay
    if command -v cargo >/dev/null; then
        check_rust_tools
    else
        log "warning: cargo not found on PATH"
    fi
    # The closing line is rd doctor's, once rd is built (it says what
    # this host gives rd, and `rd doctor` how to fix what is missing).
    local rd="$REPO_ROOT/target/release/rd"
    if [[ -x $rd ]] && "$rd" doctor --summary >/dev/null 2>&1; then
        log "$("$rd" doctor --summary)"
    else
        log "host: kernel $(uname -r), cgroup mode $(cgroup_mode), overlayfs ok (build rd, then: rd doctor)"
    fi
}

main "$@"

//! Checks made before rd changes anything on the host, so that a missing
//! privilege or kernel feature is one clear line, not a half-made container.

use anyhow::{bail, Result};

/// CAP_SYS_ADMIN is capability number 21 (linux/capability.h): it covers
/// mount(2), pivot_root(2), sethostname(2) and making most namespaces.
const CAP_SYS_ADMIN: u32 = 21;

/// rd needs root, or at least CAP_SYS_ADMIN in its effective set
/// (`CapEff` in /proc/self/status; see capabilities(7)).
pub fn require_privileges() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if !nix::unistd::geteuid().is_root() {
        bail!("rd must run as root: namespaces, mounts and cgroups need CAP_SYS_ADMIN (try: sudo rd ...)");
    }
    if cap_eff & (1 << CAP_SYS_ADMIN) == 0 {
        bail!("rd runs as root but without CAP_SYS_ADMIN (dropped from its capability set), which mount(2) and namespaces need: run it from a normal root shell (sudo rd ...)");
    }
    Ok(())
}

fn kernel_knows_overlayfs() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
}

/// The root filesystem is an overlay: the kernel must know overlayfs. When
/// it is a module not loaded yet, load it (what mount(2) would try anyway).
pub fn require_overlayfs() -> Result<()> {
    if kernel_knows_overlayfs() {
        return Ok(());
    }
    let _ = std::process::Command::new("modprobe")
        .args(["-q", "overlay"])
        .status();
    if !kernel_knows_overlayfs() {
        bail!("this kernel has no overlayfs (not listed in /proc/filesystems): load it with 'modprobe overlay' (or use a kernel built with CONFIG_OVERLAY_FS)");
    }
    Ok(())
}

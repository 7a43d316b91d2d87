//! Masked and read-only paths: the parts of /proc and /sys that are not
//! namespaced, and so speak for the whole host. See proc(5).
//!
//! /proc/sys/kernel/core_pattern is the classic: a `|/path` written there is
//! run by the kernel, as root, on the host, whenever any process dumps
//! core. /proc/sysrq-trigger reboots the machine; /proc/kcore is the host's
//! memory. rd hides (masks) or freezes (read-only) what docker does:
//! - a masked file gets /dev/null bound over it; a masked directory an
//!   empty read-only tmpfs;
//! - a read-only path is bound onto itself and remounted read-only.
//!
//! Both run after pivot_root, on the container's own /proc and /sys, with
//! every path resolved inside the root without following symlinks.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, SFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::inroot;
use crate::syscall::{Step, Syscall};

/// Hidden: docker's list (moby's oci/defaults.go).
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Read-only: docker's list.
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The steps: masks first, then read-only paths.
pub fn steps() -> Vec<Step> {
    let masked = MASKED.iter().map(|p| {
        Step::new(
            Syscall::Mask {
                path: PathBuf::from(p),
            },
            "not namespaced: it would show (or change) the whole host",
        )
    });
    let read_only = READ_ONLY.iter().map(|p| {
        Step::new(
            Syscall::ReadOnly {
                path: PathBuf::from(p),
            },
            "host-wide knobs (core_pattern runs a program as root on the host): readable, never writable",
        )
    });
    masked.chain(read_only).collect()
}

fn is_dir(fd: &std::os::fd::OwnedFd) -> Result<bool, Errno> {
    let st = fstat(fd)?;
    Ok(st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits())
}

const ABSENT: &str = "-1 ENOENT (not on this kernel: nothing to hide)";

/// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a
/// directory.
pub fn mask(path: &Path) -> Result<String, Errno> {
    let fd = match inroot::target(Path::new("/"), path) {
        Err(Errno::ENOENT) => return Ok(ABSENT.into()),
        other => other?,
    };
    let target = inroot::fd_path(&fd);
    if is_dir(&fd)? {
        nix::mount::mount(
            Some("tmpfs"),
            target.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("size=0,mode=0555"),
        )?;
        Ok("0 (a directory: an empty read-only tmpfs over it)".into())
    } else {
        nix::mount::mount(
            Some("/dev/null"),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok("0 (a file: /dev/null bound over it)".into())
    }
}

/// Makes `path` read-only: bind it onto itself, then remount the new bind
/// read-only. The remount repeats the flags the mount already has (nosuid,
/// nodev, noexec): a remount that drops one is refused with EPERM where the
/// kernel has locked them, and would be wrong anywhere.
pub fn read_only(path: &Path) -> Result<String, Errno> {
    let fd = match inroot::target(Path::new("/"), path) {
        Err(Errno::ENOENT) => return Ok(ABSENT.into()),
        other => other?,
    };
    let target = inroot::fd_path(&fd);
    nix::mount::mount(
        Some(target.as_str()),
        target.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    // The old descriptor names what lies *under* the new bind: open again.
    let fd = inroot::target(Path::new("/"), path)?;
    let target = inroot::fd_path(&fd);
    let have = fstatvfs(&fd)?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if have.contains(fs) {
            flags |= ms;
        }
    }
    nix::mount::mount(
        None::<&str>,
        target.as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )?;
    Ok("0".into())
}

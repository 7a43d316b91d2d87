//! The mount namespace: what the container's processes see as their
//! filesystem tree. See mount_namespaces(7).
//!
//! A new mount namespace starts as a *copy* of the parent's mount table. On
//! systemd hosts `/` is a shared mount, so without the first step below every
//! mount the container makes would propagate back to the host.

use std::path::Path;

use nix::mount::MsFlags;

use crate::syscall::{Step, Syscall};

/// Cut the propagation between the host's mounts and ours, recursively.
pub fn make_root_private() -> Step {
    Step::new(
        Syscall::Mount {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        },
        "stop mount propagation: nothing we mount may leak to the host (MS_REC: every submount too)",
    )
}

/// `mkdir` a mount point, tolerating one the image already has.
pub fn mount_point(path: &Path) -> Step {
    Step::new(
        Syscall::Mkdir {
            path: path.to_path_buf(),
            mode: 0o755,
        },
        "a mount point must exist before mount(2) can cover it",
    )
}

/// /proc and /sys: the kernel's views of processes and devices.
pub fn kernel_filesystems(rootfs: &Path) -> Vec<Step> {
    let proc_dir = rootfs.join("proc");
    let sys_dir = rootfs.join("sys");
    vec![
        mount_point(&proc_dir),
        Step::new(
            Syscall::Mount {
                source: Some("proc".into()),
                target: proc_dir,
                fstype: Some("proc".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                data: None,
            },
            "a proc of OUR pid namespace: ps and /proc/self see only the container",
        )
        .hint("proc must be mounted from inside the new PID namespace (see level 06)"),
        mount_point(&sys_dir),
        Step::new(
            Syscall::Mount {
                source: Some("sysfs".into()),
                target: sys_dir,
                fstype: Some("sysfs".into()),
                flags: MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NODEV,
                data: None,
            },
            "read-only sysfs: shows our network namespace's devices, changes nothing",
        ),
    ]
}

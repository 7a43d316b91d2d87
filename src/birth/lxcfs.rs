//! lxcfs: /proc files that describe the container, not the host.
//!
//! The kernel's /proc/meminfo, cpuinfo, stat, uptime, loadavg, diskstats
//! and swaps are not namespaced: in a container limited to 64 MiB, `free`
//! still shows the host's memory and `uptime` the host's. lxcfs is a FUSE
//! filesystem (usually at /var/lib/lxcfs) that serves the same files,
//! computed for whoever reads them: from the reader's cgroup (memory,
//! cpuset, cpu quota) and its PID namespace's init (uptime). When it runs
//! on the host, rd binds its files over the container's /proc/<file>, as
//! LXC, Incus and BenchExec do.
//!
//! **Why a second /proc is kept, hidden.** In a mount namespace owned by a
//! user namespace (a rootless engine nested in the container, `unshare -Ur
//! --mount-proc`), the kernel lets a new proc instance be mounted only if
//! the namespace already holds a proc mount that is *fully visible*:
//! nothing mounted over any of its files, only over empty directories
//! (fs/namespace.c, mount_too_revealing; otherwise the new mount would
//! reveal what the overmounts hide). The lxcfs binds are
//! mounts over /proc's files, so after them the container's /proc no
//! longer counts. BenchExec's answer, and rd's: mount one more, clean proc
//! instance first, at /dev/.rd/proc, and cover /dev/.rd with an empty
//! read-only tmpfs. The clean instance is out of reach (nothing can open a
//! path below the cover, and removing the cover takes CAP_SYS_ADMIN), but
//! it is in the namespace, fully visible, and satisfies the rule. It is
//! mounted on a directory of the /dev tmpfs, not covered on its own mount
//! point: a cover stacked on the proc mount itself would be a mount on
//! its root directory, and it would no longer be fully visible.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::syscall::{Place, Step, Syscall};

/// The /proc files lxcfs serves, each bound over the container's own.
pub const FILES: [&str; 7] = [
    "cpuinfo",
    "meminfo",
    "stat",
    "uptime",
    "diskstats",
    "swaps",
    "loadavg",
];

/// Where lxcfs serves its files, if it runs: the mount point of a
/// `fuse.lxcfs` filesystem that has proc/meminfo.
pub fn find() -> Option<PathBuf> {
    let me = procfs::process::Process::myself().ok()?;
    me.mountinfo()
        .ok()?
        .into_iter()
        .filter(|m| m.fs_type == "fuse.lxcfs")
        .map(|m| m.mount_point)
        .find(|p| p.join("proc/meminfo").exists())
}

/// The steps, after the container's /proc and /dev are mounted at
/// `rootfs`: the hidden clean proc, then a bind per file lxcfs has.
pub fn steps(lxcfs: &Path, rootfs: &Path) -> Vec<Step> {
    let hidden = Place::in_root(rootfs, "dev/.rd");
    let clean = Place::in_root(rootfs, "dev/.rd/proc");
    let mut steps = vec![
        Step::new(
            Syscall::Mkdir {
                path: hidden.clone(),
                mode: 0o700,
            },
            "where a clean /proc will be kept, out of reach",
        ),
        Step::new(
            Syscall::Mkdir {
                path: clean.clone(),
                mode: 0o555,
            },
            "its mount point",
        ),
        Step::new(
            Syscall::Mount {
                source: Some("proc".into()),
                target: clean,
                fstype: Some("proc".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                data: None,
            },
            "a fully visible /proc: the kernel allows a new proc mount (a nested container's) only if one exists",
        ),
        Step::new(
            Syscall::Mount {
                source: Some("rd-cover".into()),
                target: hidden,
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC,
                data: Some("size=4k,mode=000".into()),
            },
            "…covered: in the namespace, unreachable by any path",
        ),
    ];
    for file in FILES {
        let source = lxcfs.join("proc").join(file);
        if !source.exists() {
            continue;
        }
        steps.push(Step::new(
            Syscall::Mount {
                source: Some(source.display().to_string()),
                target: Place::in_root(rootfs, Path::new("proc").join(file)),
                fstype: None,
                flags: MsFlags::MS_BIND,
                data: None,
            },
            "lxcfs: this file computed for the container (its cgroup's limits, its init's uptime)",
        ));
    }
    steps
}

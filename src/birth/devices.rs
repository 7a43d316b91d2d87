//! /dev: a fresh tmpfs holding only the devices a program expects. See the
//! kernel's Documentation/admin-guide/devices.txt for the major:minor
//! numbers, and pts(4) with Documentation/filesystems/devpts.rst for
//! `newinstance`.
//!
//! A device node is only a name for a driver: whoever may create one with
//! (major, minor) = (8, 0) reads the host's first disk, (1, 11) the host's
//! kernel log. Root in the container keeps CAP_MKNOD (docker's default:
//! package managers create nodes in images), so what stops it is not
//! mknod(2) but *open*: the kernel refuses to open any device node on a
//! mount flagged `nodev`. rd's device policy is structural, and it holds
//! the same on cgroup v1, v2 and hybrid hosts (no devices controller, no
//! BPF program needed):
//! * every filesystem the container can write is `nodev`: the overlay root,
//!   this /dev tmpfs, /dev/shm; /proc and /sys are `nodev` too, devpts and
//!   mqueue cannot hold device nodes at all;
//! * the allowed nodes are the host's own null, zero, full, random, urandom
//!   and tty, *bind-mounted* onto empty files here: a bind mount carries
//!   the flags of the mount it comes from (the host's /dev), not of the
//!   nodev tmpfs it sits in;
//! * the container cannot mount anything new (no CAP_SYS_ADMIN, and seccomp
//!   refuses mount(2)), so it cannot make a filesystem without `nodev`.
//!
//! `--privileged` turns this off: /dev is an ordinary tmpfs where mknod'ed
//! nodes open, as in the first levels of the workshop.

use std::path::Path;

use nix::mount::MsFlags;

use crate::birth::mounts::mount_point;
use crate::syscall::{Place, Step, Syscall};

/// (name, major, minor): the character devices every container gets (mode 0666).
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// (link, target): the conventional symlinks of /dev.
pub const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// How the allowed device nodes get into /dev.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePolicy {
    /// /dev is nodev; the host's nodes are bind-mounted in (the default).
    BindHostNodes,
    /// /dev allows device nodes; rd mknods its own (--privileged).
    Mknod,
}

pub fn populate_dev(rootfs: &Path, policy: DevicePolicy) -> Vec<Step> {
    let dev = |name: &str| Place::in_root(rootfs, Path::new("dev").join(name));
    let mut dev_flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    if policy == DevicePolicy::BindHostNodes {
        dev_flags |= MsFlags::MS_NODEV;
    }
    let mut steps = vec![
        mount_point(Place::in_root(rootfs, "dev")),
        Step::new(
            Syscall::Mount {
                source: Some("tmpfs".into()),
                target: Place::in_root(rootfs, "dev"),
                fstype: Some("tmpfs".into()),
                flags: dev_flags,
                data: Some("mode=755,size=65536k".into()),
            },
            if policy == DevicePolicy::BindHostNodes {
                "an empty /dev, nodev: a node mknod'ed here will not open; only those bound in will"
            } else {
                "an empty /dev (--privileged: without nodev, any node mknod'ed here opens)"
            },
        ),
        Step::new(
            Syscall::Umask { mask: 0 },
            "umask would strip bits from the modes below: 0666 must stay 0666",
        ),
    ];
    for (name, major, minor) in DEVICES {
        match policy {
            DevicePolicy::BindHostNodes => steps.extend([
                Step::new(
                    Syscall::CreateFile {
                        path: dev(name),
                        mode: 0o666,
                    },
                    "an empty file for the host's node to be bound onto",
                ),
                Step::new(
                    Syscall::Mount {
                        source: Some(format!("/dev/{name}")),
                        target: dev(name),
                        fstype: None,
                        flags: MsFlags::MS_BIND,
                        data: None,
                    },
                    "the host's node, with its mount's flags: it opens although /dev is nodev",
                ),
            ]),
            DevicePolicy::Mknod => steps.push(Step::new(
                Syscall::MknodChar {
                    path: dev(name),
                    mode: 0o666,
                    major,
                    minor,
                },
                "a device node is a name for a driver: (major, minor) picks it",
            )),
        }
    }
    for (link, target) in LINKS {
        steps.push(Step::new(
            Syscall::Symlink {
                target: target.into(),
                linkpath: dev(link),
            },
            "the names programs expect, pointing into /proc and /dev/pts",
        ));
    }
    steps.extend([
        mount_point(dev("pts")),
        Step::new(
            Syscall::Mount {
                source: Some("devpts".into()),
                target: dev("pts"),
                fstype: Some("devpts".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                data: Some("newinstance,ptmxmode=0666,mode=0620,gid=5".into()),
            },
            "newinstance: our own pseudo-terminals, not the host's /dev/pts/*",
        ),
        mount_point(dev("shm")),
        Step::new(
            Syscall::Mount {
                source: Some("shm".into()),
                target: dev("shm"),
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                data: Some("mode=1777,size=65536k".into()),
            },
            "POSIX shared memory (shm_open) lives in /dev/shm",
        ),
        mount_point(dev("mqueue")),
        Step::new(
            Syscall::Mount {
                source: Some("mqueue".into()),
                target: dev("mqueue"),
                fstype: Some("mqueue".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                data: None,
            },
            "POSIX message queues of our IPC namespace (mq_overview(7))",
        ),
        Step::new(
            Syscall::Umask { mask: 0o022 },
            "back to the usual umask for the container's programs",
        ),
    ]);
    steps
}

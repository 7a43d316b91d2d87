//! /dev: a fresh tmpfs holding only the devices a program expects, so the
//! host's disks (/dev/vda, /dev/sda…) are simply not there. See the kernel's
//! Documentation/admin-guide/devices.txt for the major:minor numbers, and
//! pts(4) with Documentation/filesystems/devpts.rst for `newinstance`.

use std::path::Path;

use nix::mount::MsFlags;

use crate::mounts::mount_point;
use crate::syscall::{Step, Syscall};

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

pub fn populate_dev(rootfs: &Path) -> Vec<Step> {
    let dev = rootfs.join("dev");
    let mut steps = vec![
        mount_point(&dev),
        Step::new(
            Syscall::Mount {
                source: Some("tmpfs".into()),
                target: dev.clone(),
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                data: Some("mode=755,size=65536k".into()),
            },
            "an empty /dev: the host's devices are not inherited, only those we create",
        ),
        Step::new(
            Syscall::Umask { mask: 0 },
            "umask would strip bits from mknod's mode: 0666 must stay 0666",
        ),
    ];
    for (name, major, minor) in DEVICES {
        steps.push(Step::new(
            Syscall::MknodChar {
                path: dev.join(name),
                mode: 0o666,
                major,
                minor,
            },
            "a device node is a name for a driver: (major, minor) picks it",
        ));
    }
    for (link, target) in LINKS {
        steps.push(Step::new(
            Syscall::Symlink {
                target: target.into(),
                linkpath: dev.join(link),
            },
            "the names programs expect, pointing into /proc and /dev/pts",
        ));
    }
    let pts = dev.join("pts");
    let shm = dev.join("shm");
    steps.extend([
        mount_point(&pts),
        Step::new(
            Syscall::Mount {
                source: Some("devpts".into()),
                target: pts,
                fstype: Some("devpts".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                data: Some("newinstance,ptmxmode=0666,mode=0620,gid=5".into()),
            },
            "newinstance: our own pseudo-terminals, not the host's /dev/pts/*",
        ),
        mount_point(&shm),
        Step::new(
            Syscall::Mount {
                source: Some("shm".into()),
                target: shm,
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                data: Some("mode=1777,size=65536k".into()),
            },
            "POSIX shared memory (shm_open) lives in /dev/shm",
        ),
        Step::new(
            Syscall::Umask { mask: 0o022 },
            "back to the usual umask for the container's programs",
        ),
    ]);
    steps
}

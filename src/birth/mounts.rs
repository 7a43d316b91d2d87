//! The mount namespace: what the container's processes see as their
//! filesystem tree. See mount_namespaces(7).
//!
//! A new mount namespace starts as a *copy* of the parent's mount table. On
//! systemd hosts `/` is a shared mount, so without the first step below every
//! mount the container makes would propagate back to the host.

use std::path::Path;

use nix::mount::MsFlags;

use crate::birth::cgroups::{ContainerCgroup, Mode};
use crate::syscall::{Place, Step, Syscall};

/// Cut the propagation between the host's mounts and ours, recursively.
pub fn make_root_private() -> Step {
    Step::new(
        Syscall::Mount {
            source: None,
            target: Place::Host("/".into()),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        },
        "stop mount propagation: nothing we mount may leak to the host (MS_REC: every submount too)",
    )
}

/// `mkdir` a mount point inside the root, tolerating a directory the image
/// already has (and refusing a symlink: ELOOP).
pub fn mount_point(path: Place) -> Step {
    Step::new(
        Syscall::Mkdir { path, mode: 0o755 },
        "a mount point must exist before mount(2) can cover it",
    )
}

/// /proc and /sys: the kernel's views of processes and devices.
pub fn kernel_filesystems(rootfs: &Path) -> Vec<Step> {
    let proc_dir = Place::in_root(rootfs, "proc");
    let sys_dir = Place::in_root(rootfs, "sys");
    vec![
        mount_point(proc_dir.clone()),
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
        mount_point(sys_dir.clone()),
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

/// The container's own cgroup at /sys/fs/cgroup, read-only unless
/// `writable` (--privileged). The child has entered a cgroup namespace
/// rooted at its cgroup (cgroup_namespaces(7)), so a cgroup filesystem
/// mounted now shows that cgroup as its root: /proc/self/cgroup says `/`,
/// and nothing of the host's tree is there to read or raise.
pub fn cgroup_filesystems(rootfs: &Path, cgroup: &ContainerCgroup, writable: bool) -> Vec<Step> {
    let base = Path::new("sys/fs/cgroup");
    let mut ro = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !writable {
        ro |= MsFlags::MS_RDONLY;
    }
    let cgroup2 = |target: Place| {
        Step::new(
            Syscall::Mount {
                source: Some("cgroup2".into()),
                target,
                fstype: Some("cgroup2".into()),
                flags: ro,
                data: None,
            },
            "the container's own cgroup as its whole tree (a cgroup namespace's root)",
        )
    };
    if cgroup.mode == Mode::V2 {
        return vec![
            mount_point(Place::in_root(rootfs, base)),
            cgroup2(Place::in_root(rootfs, base)),
        ];
    }
    // v1 and hybrid: a tmpfs holding one directory per hierarchy, each a
    // cgroup mount with the hierarchy's own options (its controllers).
    let mut steps = vec![
        mount_point(Place::in_root(rootfs, base)),
        Step::new(
            Syscall::Mount {
                source: Some("tmpfs".into()),
                target: Place::in_root(rootfs, base),
                fstype: Some("tmpfs".into()),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                data: Some("mode=755,size=64k".into()),
            },
            "cgroup v1 has one hierarchy per controller: a tmpfs to hold their mount points",
        ),
    ];
    for (dir, options) in cgroup.v1_hierarchies() {
        let target = base.join(&dir);
        steps.push(mount_point(Place::in_root(rootfs, &target)));
        steps.push(Step::new(
            Syscall::Mount {
                source: Some("cgroup".into()),
                target: Place::in_root(rootfs, &target),
                fstype: Some("cgroup".into()),
                flags: ro,
                data: Some(options),
            },
            "this controller's hierarchy, rooted at the container's own cgroup",
        ));
    }
    if writable {
        return steps;
    }
    steps.push(Step::new(
        Syscall::Mount {
            source: None,
            target: Place::in_root(rootfs, base),
            fstype: None,
            flags: MsFlags::MS_REMOUNT | ro,
            data: Some("mode=755,size=64k".into()),
        },
        "and the tmpfs itself read-only: no new mount points",
    ));
    steps
}

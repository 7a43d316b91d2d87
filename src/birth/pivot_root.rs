//! pivot_root: make the container's rootfs `/` and let go of the host's.
//! See pivot_root(2), and workshop level 03 for why chroot(2) is not enough
//! (a root process can walk out of a chroot; after pivot_root and a detach of
//! the old root, there is nowhere to walk to).
//!
//! pivot_root's preconditions, the ones that bite:
//! * new_root must be a mount point (EINVAL otherwise): our overlay is one;
//! * new_root and put_old must not be on the current root's mount (EBUSY):
//!   a plain directory of the host is, which is why level 03 meets EBUSY
//!   until level 04 mounts something there;
//! * the mounts involved must not be shared (EINVAL): hence make_root_private.

use std::path::Path;

use nix::mount::MntFlags;

use crate::syscall::{Place, Step, Syscall};

/// Where the old root is parked, relative to the new one, for an instant.
pub const OLD_ROOT: &str = ".old_root";

/// pivot_root without a put_old directory (runc's way): with new_root and
/// put_old both ".", the old root ends up stacked on top of the new one,
/// where a detach takes it off. For a root that is the host's own
/// filesystem (`--host-root` with `/` read-only or with full access): a
/// /.old_root made there would be made on the host, and left on it by a
/// run killed before its rmdir.
pub fn enter_in_place(rootfs: &Path) -> Vec<Step> {
    vec![
        Step::new(
            Syscall::Chdir {
                path: rootfs.to_path_buf(),
            },
            "pivot_root(\".\", \".\") works on the current directory",
        ),
        Step::new(
            Syscall::PivotRoot {
                new_root: ".".into(),
                put_old: ".".into(),
            },
            "the new root becomes /, the old one is stacked on top of it: no directory needed",
        )
        .hint("new_root must be a mount point and its parent mount private (see level 03)"),
        Step::new(
            Syscall::Umount2 {
                target: ".".into(),
                flags: MntFlags::MNT_DETACH,
            },
            "detach the host's whole tree, the top of the stack: nothing of it stays reachable",
        ),
        Step::new(
            Syscall::Chdir { path: "/".into() },
            "our cwd is the new root's top",
        ),
    ]
}

pub fn enter(rootfs: &Path) -> Vec<Step> {
    let put_old = rootfs.join(OLD_ROOT);
    let old_inside = Path::new("/").join(OLD_ROOT);
    vec![
        Step::new(
            Syscall::Mkdir {
                path: Place::in_root(rootfs, OLD_ROOT),
                mode: 0o700,
            },
            "pivot_root needs a directory under the new root to put the old one in",
        ),
        Step::new(
            Syscall::PivotRoot {
                new_root: rootfs.to_path_buf(),
                put_old,
            },
            "the image becomes /; the host's root moves to /.old_root",
        )
        .hint("new_root must be a mount point and its parent mount private (see level 03)"),
        Step::new(
            Syscall::Chdir { path: "/".into() },
            "our cwd still pointed into the old root",
        ),
        Step::new(
            Syscall::Umount2 {
                target: old_inside.clone(),
                flags: MntFlags::MNT_DETACH,
            },
            "detach the host's whole tree: nothing of it stays reachable",
        ),
        Step::new(
            Syscall::Rmdir { path: old_inside },
            "and remove the empty mount point",
        ),
    ]
}

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

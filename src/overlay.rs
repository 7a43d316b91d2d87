//! overlayfs: a copy-on-write root filesystem. See
//! Documentation/filesystems/overlayfs.rst in the kernel tree.
//!
//! The image's layers are the read-only *lowerdirs*, shared by every
//! container of that image; each container gets its own *upperdir*, where
//! every write lands (a modified file is copied up first), and a *workdir*
//! that overlayfs uses to make copy-up atomic (same filesystem as upperdir).

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::syscall::{Step, Syscall};

/// The overlay's `data` argument. Layers are given lowest first; overlayfs
/// wants the top-most lowerdir first.
///
/// `volatile` (Linux 5.10+): skip syncing the upper filesystem when the
/// overlay goes away. The upperdir is thrown away with the container, so
/// waiting for ext4 to commit its journal (a disk flush, milliseconds) would
/// buy nothing.
pub fn options(layers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    format!(
        "lowerdir={},upperdir={},workdir={},volatile",
        lower.join(":"),
        upper.display(),
        work.display()
    )
}

/// Characters that overlayfs's option parser treats as separators: a path
/// holding one of them cannot be passed in `lowerdir=`.
pub fn unsafe_path_char(path: &Path) -> Option<char> {
    path.to_string_lossy()
        .chars()
        .find(|c| matches!(c, ',' | ':' | '\\'))
}

pub fn mount_rootfs(layers: &[PathBuf], upper: &Path, work: &Path, rootfs: &Path) -> Step {
    Step::new(
        Syscall::Mount {
            source: Some("overlay".into()),
            target: rootfs.to_path_buf(),
            fstype: Some("overlay".into()),
            // MS_NODEV: a device node smuggled into an image is inert. Real
            // devices come from the tmpfs /dev that rd populates itself.
            flags: MsFlags::MS_NODEV,
            data: Some(options(layers, upper, work)),
        },
        "copy-on-write root: the image stays read-only, writes land in this container's upperdir",
    )
    .hint("is overlayfs loaded (modprobe overlay) and is the image intact (rd images)?")
}

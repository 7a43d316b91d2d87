//! overlayfs: a copy-on-write root filesystem. See
//! Documentation/filesystems/overlayfs.rst in the kernel tree.
//!
//! The image's layers are the read-only *lowerdirs*, shared by every
//! container of that image; each container gets its own *upperdir*, where
//! every write lands (a modified file is copied up first), and a *workdir*
//! that overlayfs uses to make copy-up atomic (same filesystem as upperdir).

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::syscall::{Place, Step, Syscall};

/// The overlay's `data` argument. Layers are given lowest first; overlayfs
/// wants the top-most lowerdir first.
///
/// The lowerdirs are *relative* paths (the layers' directory names): the
/// child chdir()s into the store's `layers/` first (see [`mount_rootfs`]).
/// mount(2) copies `data` into a single page, so the options may be at most
/// 4095 bytes: with absolute paths (~60 bytes each) a 50-layer image would not
/// fit, with 65-byte names about 60 layers do. Docker's overlay2 driver plays
/// the same trick with even shorter symlinks (`l/<26 chars>`).
///
/// `volatile` (Linux 5.10+): skip syncing the upper filesystem when the
/// overlay goes away. The upperdir is thrown away with the container, so
/// waiting for ext4 to commit its journal (a disk flush, milliseconds) would
/// buy nothing.
pub fn options(layers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| {
            l.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| l.display().to_string())
        })
        .collect();
    format!(
        "lowerdir={},upperdir={},workdir={},volatile",
        lower.join(":"),
        upper.display(),
        work.display()
    )
}

/// The most bytes of options mount(2) accepts (one page, NUL included).
pub const MAX_OPTIONS: usize = 4095;

/// Refuses, before anything is created, an image with more layers than one
/// overlay mount's options can name.
pub fn check_fits(layers: &[PathBuf], upper: &Path, work: &Path) -> anyhow::Result<()> {
    let len = options(layers, upper, work).len();
    if len > MAX_OPTIONS {
        anyhow::bail!(
            "the image has {} layers: too many for one overlay mount (its options would take {len} bytes, mount(2) takes {MAX_OPTIONS}); flatten it, e.g. 'rd run' it, export with tar and 'rd import' the tarball",
            layers.len()
        );
    }
    Ok(())
}

/// Characters that overlayfs's option parser treats as separators: a path
/// holding one of them cannot be passed in `lowerdir=`.
pub fn unsafe_path_char(path: &Path) -> Option<char> {
    path.to_string_lossy()
        .chars()
        .find(|c| matches!(c, ',' | ':' | '\\'))
}

/// chdir into the layers' directory (all layers of an image live in the one
/// store directory), then mount the overlay naming them relative to it.
pub fn mount_rootfs(layers: &[PathBuf], upper: &Path, work: &Path, rootfs: &Path) -> Vec<Step> {
    let store = layers
        .first()
        .and_then(|l| l.parent())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let chdir = Step::new(
        Syscall::Chdir { path: store },
        "lowerdirs are named relative to here: short names let many layers fit in one page of mount options",
    );
    let mount = Step::new(
        Syscall::Mount {
            source: Some("overlay".into()),
            target: Place::Host(rootfs.to_path_buf()),
            fstype: Some("overlay".into()),
            // MS_NODEV: a device node smuggled into an image is inert. Real
            // devices come from the tmpfs /dev that rd populates itself.
            flags: MsFlags::MS_NODEV,
            data: Some(options(layers, upper, work)),
        },
        "copy-on-write root: the image stays read-only, writes land in this container's upperdir",
    )
    .hint("is overlayfs loaded (modprobe overlay) and is the image intact (rd images)?");
    vec![chdir, mount]
}

//! Resolving a path inside a root the image controls.
//!
//! An image is hostile data: its `/proc` may be a symlink to `/`, its
//! `/etc/passwd` a FIFO or a link to `/dev/zero`. A path built as a host
//! string (`rootfs.join("proc")`) and handed to mount(2) or open(2) is
//! resolved by the kernel *in the caller's root*, following the image's
//! symlinks out of the rootfs: the CVE-2019-16884 / CVE-2025-31133 class,
//! where a mount meant for the container lands on the host.
//!
//! The answer, used by the unpacker and by every mount of a container's
//! birth: let the kernel resolve the path with `openat2(2)` relative to a
//! descriptor of the root.
//! - `RESOLVE_IN_ROOT`: absolute symlinks and `..` are clamped at the root,
//!   as if it were `/` (the unpacker, which must honour the image's links);
//! - `RESOLVE_NO_SYMLINKS`: no symlink at all on the way, the final one
//!   included (mount targets, and files rd reads from the image);
//! - `RESOLVE_NO_MAGICLINKS`: never a `/proc/PID/fd/N` jump.
//!
//! Then act on the descriptor, never on the path again: `*at()` calls for
//! files, and for mount(2), which takes paths, the descriptor's own name
//! `/proc/self/fd/N` (runc and crun do the same).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

/// Resolves `path` inside `root` as if `root` were `/`, following symlinks
/// but clamping them to the root. See openat2(2), RESOLVE_IN_ROOT.
pub fn open_in_root(root: BorrowedFd, path: &[u8], flags: OFlag) -> nix::Result<OwnedFd> {
    open(
        root,
        path,
        flags,
        ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

/// Resolves `path` inside `root` and refuses any symlink on the way
/// (ELOOP), the last component included.
pub fn open_no_symlinks(root: BorrowedFd, path: &[u8], flags: OFlag) -> nix::Result<OwnedFd> {
    open(
        root,
        path,
        flags,
        ResolveFlag::RESOLVE_IN_ROOT
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

fn open(root: BorrowedFd, path: &[u8], flags: OFlag, resolve: ResolveFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(resolve);
    // openat2(2): RESOLVE_IN_ROOT may fail with EAGAIN if a rename raced
    // with the lookup (the kernel cannot then prove `..` stayed inside);
    // the documented answer is to retry.
    let mut tries = 0;
    loop {
        match openat2(root, path, how) {
            Err(Errno::EAGAIN | Errno::EINTR) if tries < 32 => tries += 1,
            other => return other,
        }
    }
}

/// Opens a directory to serve as the root of later resolutions.
pub fn open_root(root: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// `path` relative to the root: leading slashes dropped ("" is the root).
fn relative(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    let b = path.as_os_str().as_bytes();
    let start = b.iter().position(|&c| c != b'/').unwrap_or(b.len());
    if start == b.len() {
        b"."
    } else {
        &b[start..]
    }
}

/// An `O_PATH` descriptor of `path` inside `root`, no symlink followed:
/// what a mount(2) target is reached through.
pub fn target(root: &Path, path: &Path) -> nix::Result<OwnedFd> {
    let r = open_root(root)?;
    open_no_symlinks(r.as_fd(), relative(path), OFlag::O_PATH)
}

/// The name by which the kernel finds the object behind `fd` again, for
/// calls that take a path (mount(2)). `/proc` must be mounted: the host's
/// before pivot_root, the container's own after.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The parent directory of `path` inside `root` (no symlinks), and the last
/// component's name: for mkdirat(2), mknodat(2), symlinkat(2).
pub fn parent_and_name(root: &Path, path: &Path) -> nix::Result<(OwnedFd, std::ffi::OsString)> {
    let name = path.file_name().ok_or(Errno::EINVAL)?.to_os_string();
    let parent = path.parent().unwrap_or(Path::new("/"));
    let r = open_root(root)?;
    let dir = open_no_symlinks(
        r.as_fd(),
        relative(parent),
        OFlag::O_PATH | OFlag::O_DIRECTORY,
    )?;
    Ok((dir, name))
}

/// Why reading a small file of the image failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("is not a regular file (a FIFO, device or directory): refused")]
    NotRegular,
    #[error("is larger than {0} bytes: refused")]
    TooLarge(u64),
    #[error("is a symlink, or lies behind one: refused")]
    Symlink,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a small regular file of the image, such as `/etc/passwd`, at most
/// `cap` bytes. A symlink (to /dev/zero, to the host), a FIFO (which would
/// block) or a huge file is refused; a missing file is `Ok(None)`.
pub fn read_small_file(root: &Path, path: &Path, cap: u64) -> Result<Option<String>, ReadError> {
    let r = open_root(root).map_err(std::io::Error::from)?;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let fd = match open_no_symlinks(
        r.as_fd(),
        relative(path),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(ReadError::Symlink),
        Err(e) => return Err(std::io::Error::from(e).into()),
    };
    let st = fstat(&fd).map_err(std::io::Error::from)?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
        return Err(ReadError::NotRegular);
    }
    if st.st_size as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    let mut text = Vec::new();
    std::fs::File::from(fd)
        .take(cap + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_fifos_and_big_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("etc/zero")).unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        nix::unistd::mkfifo(&root.join("etc/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
        std::fs::write(root.join("etc/big"), vec![b'x'; 4096]).unwrap();

        let ok = read_small_file(root, Path::new("/etc/passwd"), 1024).unwrap();
        assert!(ok.unwrap().starts_with("root:"));
        assert!(read_small_file(root, Path::new("/etc/none"), 1024)
            .unwrap()
            .is_none());
        assert!(matches!(
            read_small_file(root, Path::new("/etc/zero"), 1024),
            Err(ReadError::Symlink)
        ));
        assert!(matches!(
            read_small_file(root, Path::new("/up/etc/passwd"), 1024),
            Err(ReadError::Symlink)
        ));
        assert!(matches!(
            read_small_file(root, Path::new("/etc/fifo"), 1024),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            read_small_file(root, Path::new("/etc/big"), 1024),
            Err(ReadError::TooLarge(1024))
        ));
    }

    #[test]
    fn targets_never_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("proc")).unwrap();
        std::os::unix::fs::symlink("../..", root.join("dev")).unwrap();
        assert!(target(root, Path::new("/real")).is_ok());
        assert_eq!(target(root, Path::new("/proc")).unwrap_err(), Errno::ELOOP);
        assert_eq!(target(root, Path::new("/dev")).unwrap_err(), Errno::ELOOP);
        assert_eq!(
            parent_and_name(root, Path::new("/dev/pts")).unwrap_err(),
            Errno::ELOOP
        );
    }
}

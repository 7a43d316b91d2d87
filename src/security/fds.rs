//! File descriptors and the working directory: what the caller hands the
//! container without meaning to.
//!
//! clone(2) copies every descriptor rd has, and rd has every descriptor its
//! caller had (a shell's redirections, an IDE's pipes, a descriptor of the
//! host's `/`). A descriptor is a capability of its own: `fchdir(3)` or
//! `/proc/self/fd/3` leads from it to wherever it points, past pivot_root.
//! runc's CVE-2024-21626 was exactly that: a leaked directory descriptor as
//! the working directory (`-w /proc/self/fd/N`), and the container's
//! process stood in the host's filesystem.
//!
//! Two defences, each a step:
//! * every descriptor above 2 is closed (close_range(2)) early in the
//!   child, before any path is resolved, except `--preserve-fds N`;
//! * after chdir, the working directory must lie inside the root:
//!   getcwd(2) names a directory outside the process's root
//!   "(unreachable)/…", and rd then refuses to start the container.

use nix::errno::Errno;

/// Closes every descriptor from `first` up, except those in `keep`.
pub fn close_from(first: u32, keep: &[i32]) -> Result<(), Errno> {
    let close = |lo: u32, hi: u32| -> Result<(), Errno> {
        if lo > hi {
            return Ok(());
        }
        // SAFETY: close_range only closes descriptors; nothing in this
        // single-threaded child uses the ones it closes.
        Errno::result(unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) }).map(drop)
    };
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= first as i32)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    let mut lo = first;
    for fd in keep {
        if fd > lo {
            close(lo, fd - 1)?;
        }
        lo = fd + 1;
    }
    close(lo, u32::MAX)
}

/// Refuses a working directory outside the root (see the module's doc).
pub fn require_cwd_in_root() -> Result<String, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // The raw syscall, not libc's getcwd(3): glibc turns "(unreachable)"
    // into ENOENT, which would hide why.
    // SAFETY: buf is writable for its whole length.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let n = Errno::result(n)? as usize;
    let cwd = String::from_utf8_lossy(&buf[..n.saturating_sub(1)]).into_owned();
    if cwd.starts_with('/') {
        Ok(format!("{cwd:?}"))
    } else {
        // The caller turns this into "the working directory is outside the
        // container's root": EXDEV is the errno for "not on this tree".
        Err(Errno::EXDEV)
    }
}

//! Paths inside the root being unpacked: how a member's name splits into
//! parent and last component, and how something in the way is removed
//! without ever following a symlink. Resolution itself is
//! [`crate::inroot`]'s, shared with the mounts of a container's birth.

use super::*;
// ---------------------------------------------------------------------------
// Resolving paths inside the root

/// How an entry's path splits into "parent directory" and "final name".
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// The path names the root itself: "", ".", "./", "/".
    Root,
    /// The final component is "..": there is nothing sensible to create.
    DotDot,
    /// `parent` (possibly empty = the root) and `name` are filled in.
    Child,
}

/// Split `raw` into `parent` (components joined by '/', "" for the root) and
/// `name`, dropping empty and "." components. ".." components in the parent
/// are kept: the kernel clamps them at the root during resolution.
pub(super) fn split_path(raw: &[u8], parent: &mut Vec<u8>, name: &mut Vec<u8>) -> Target {
    parent.clear();
    name.clear();
    let mut comps = raw
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".");
    let Some(mut last) = comps.next() else {
        return Target::Root;
    };
    for c in comps {
        if !parent.is_empty() {
            parent.push(b'/');
        }
        parent.extend_from_slice(last);
        last = c;
    }
    if last == b".." {
        return Target::DotDot;
    }
    name.extend_from_slice(last);
    Target::Child
}

/// How deep `remove_all` recurses (one open fd per level) before giving up:
/// a hostile archive can nest directories without limit, a real image never
/// goes anywhere near this.
pub(super) const MAX_DEPTH: u32 = 256;

/// Remove `name` in `dir`, recursively if it is a directory. Symlinks are
/// removed, never followed (unlinkat and O_NOFOLLOW do not follow the final
/// component, and we only ever descend via fds we opened).
pub(super) fn remove_all(dir: BorrowedFd, name: &[u8], depth: u32) -> nix::Result<()> {
    if depth > MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut children = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            children.push(n.to_vec());
        }
    }
    for c in &children {
        remove_all(d.as_fd(), c, depth + 1)?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// Make room for a new `name` in `dir`: later archive members replace
/// earlier ones, as with GNU tar. Directories are removed with their content
/// (an OCI layer replacing a directory by a file means exactly that).
pub(super) fn make_room(dir: BorrowedFd, name: &[u8]) -> nix::Result<()> {
    remove_all(dir, name, 0)
}

pub(super) fn file_type(st_mode: libc::mode_t) -> SFlag {
    SFlag::from_bits_truncate(st_mode) & SFlag::S_IFMT
}

/// Open (as an O_PATH handle) the directory `path` inside `root`, creating
/// missing components one by one. Each step is again resolved in root, so a
/// symlink planted by an earlier member can redirect us, but only inside.
/// With `overlay`, a whiteout of this layer in the way is replaced by an
/// opaque directory (the layer deleted the lower NAME, then put files in a
/// new NAME without a member for the directory itself).
pub(super) fn resolve_dir(root: BorrowedFd, path: &[u8], overlay: bool) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in_root(root, path, flags) {
        Err(Errno::ENOENT) => {}
        Err(Errno::ENOTDIR) if overlay => {}
        other => return other,
    }
    // Slow path: something is missing. Walk from the root.
    let mut prefix: Vec<u8> = Vec::with_capacity(path.len());
    let mut dir: Option<OwnedFd> = None;
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(comp);
        let here = dir.as_ref().map_or(root, |fd| fd.as_fd());
        match open_in_root(root, &prefix, flags) {
            Ok(fd) => {
                dir = Some(fd);
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(Errno::ENOTDIR) if overlay => {
                // `comp` sits directly in `here`: look at it, not through it.
                match fstatat(here, comp, AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) if is_whiteout(&st) => {
                        unlinkat(here, comp, UnlinkatFlags::NoRemoveDir)?;
                        mkdirat(here, comp, Mode::from_bits_truncate(0o755))?;
                        let fd = openat(
                            here,
                            comp,
                            OFlag::O_RDONLY
                                | OFlag::O_DIRECTORY
                                | OFlag::O_NOFOLLOW
                                | OFlag::O_CLOEXEC,
                            Mode::empty(),
                        )?;
                        replaced_whiteout(fd.as_fd())?;
                        dir = Some(open_in_root(root, &prefix, flags)?);
                        continue;
                    }
                    _ => return Err(Errno::ENOTDIR),
                }
            }
            Err(e) => return Err(e),
        }
        // EEXIST: a dangling symlink sits there; the re-open below then
        // fails with ENOENT and we report that, rather than guess.
        match mkdirat(here, comp, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        dir = Some(open_in_root(root, &prefix, flags)?);
    }
    match dir {
        Some(fd) => Ok(fd),
        // Only ".." or empty components: that is the root itself.
        None => open_in_root(root, b".", flags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_path_cases() {
        let (mut p, mut n) = (Vec::new(), Vec::new());
        assert_eq!(split_path(b"", &mut p, &mut n), Target::Root);
        assert_eq!(split_path(b"./", &mut p, &mut n), Target::Root);
        assert_eq!(split_path(b"//.//", &mut p, &mut n), Target::Root);
        assert_eq!(split_path(b"a/b/..", &mut p, &mut n), Target::DotDot);
        assert_eq!(split_path(b"./a//b/./c/", &mut p, &mut n), Target::Child);
        assert_eq!((&p[..], &n[..]), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_path(b"/x", &mut p, &mut n), Target::Child);
        assert_eq!((&p[..], &n[..]), (&b""[..], &b"x"[..]));
        assert_eq!(split_path(b"../../x", &mut p, &mut n), Target::Child);
        assert_eq!((&p[..], &n[..]), (&b"../.."[..], &b"x"[..]));
    }
}

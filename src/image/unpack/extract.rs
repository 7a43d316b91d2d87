//! The extractor: one tar member at a time, created with `*at()` calls
//! relative to a parent directory resolved inside the root, never through
//! a symlink it planted itself. Device nodes are skipped.

use super::*;
// ---------------------------------------------------------------------------
// The extractor

/// Metadata from one header (plus PAX records), ready to apply.
pub(super) struct Meta {
    pub(super) mode: Mode,
    pub(super) uid: Uid,
    pub(super) gid: Gid,
    pub(super) mtime: TimeSpec,
}

/// A directory whose mtime is set at the very end: creating children inside
/// a directory updates its mtime, so setting it early would be undone.
pub(super) struct DirTime {
    pub(super) path: Vec<u8>,
    pub(super) mtime: TimeSpec,
}

pub(super) struct Extractor {
    pub(super) root: OwnedFd,
    pub(super) report: UnpackReport,
    /// Only root may chown to arbitrary ids; as a plain user we keep our own
    /// ids, like GNU tar does.
    pub(super) chown: bool,
    /// The last parent directory we resolved: consecutive members usually
    /// share it, and resolving is the most expensive step per member.
    /// `None` fd means "the root itself".
    pub(super) cached_parent: Vec<u8>,
    pub(super) cached_fd: Option<OwnedFd>,
    pub(super) cache_valid: bool,
    /// Reused per-member buffers, to avoid allocating for each member.
    pub(super) raw: Vec<u8>,
    pub(super) parent: Vec<u8>,
    pub(super) name: Vec<u8>,
    pub(super) link: Vec<u8>,
    pub(super) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) copy_buf: Vec<u8>,
    pub(super) dir_times: Vec<DirTime>,
    /// Whiteouts in overlay format (see [`Whiteouts::Overlay`]).
    pub(super) overlay: bool,
}

/// What to do with one member, decided from its type.
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Skip(&'static str),
    Ignore,
}

impl Extractor {
    pub(super) fn new(root: OwnedFd, opts: &UnpackOptions) -> Self {
        Extractor {
            root,
            report: UnpackReport::default(),
            chown: nix::unistd::geteuid().is_root(),
            cached_parent: Vec::new(),
            cached_fd: None,
            cache_valid: false,
            raw: Vec::new(),
            parent: Vec::new(),
            name: Vec::new(),
            link: Vec::new(),
            xattrs: Vec::new(),
            copy_buf: vec![0; 256 * 1024],
            dir_times: Vec::new(),
            overlay: opts.whiteouts == Whiteouts::Overlay,
        }
    }

    pub(super) fn skip(&mut self, reason: &'static str) {
        self.report.skipped.push(Skipped {
            path: lossy(&self.raw),
            reason,
        });
    }

    pub(super) fn extract<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<(), UnpackError> {
        // Raw bytes, not `entry.path()`: names need not be UTF-8. These
        // include GNU long names and PAX `path` records.
        self.raw.clear();
        self.raw.extend_from_slice(&entry.path_bytes());
        self.link.clear();
        if let Some(l) = entry.link_name_bytes() {
            self.link.extend_from_slice(&l);
        }

        let kind = match entry.header().entry_type() {
            // Old (V7) archives mark directories by a trailing slash only.
            EntryType::Regular if self.raw.ends_with(b"/") => Kind::Dir,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::Hardlink,
            // A FIFO is just a rendezvous point for processes: creating one
            // grants nothing, unlike a device node.
            EntryType::Fifo => Kind::Fifo,
            EntryType::Char | EntryType::Block => Kind::Skip("device node"),
            EntryType::XGlobalHeader => Kind::Ignore,
            _ => Kind::Skip("unsupported entry type"),
        };
        if let Kind::Ignore = kind {
            return Ok(());
        }
        self.report.entries += 1;
        if let Kind::Skip(reason) = kind {
            self.skip(reason);
            return Ok(());
        }

        let meta = self.read_meta(entry)?;
        let target = split_path(&self.raw, &mut self.parent, &mut self.name);
        match target {
            Target::DotDot => {
                self.skip("final path component is '..'");
                return Ok(());
            }
            Target::Root => {
                if let Kind::Dir = kind {
                    return self.set_root_meta(&meta);
                }
                self.skip("member names the destination root itself");
                return Ok(());
            }
            Target::Child => {}
        }

        // Whatever the member's type (a whiteout is normally an empty
        // regular file), as containerd does: the name is what counts.
        if self.overlay && self.name.starts_with(b".wh.") {
            return self.whiteout();
        }
        if let Kind::Symlink = kind {
            if self.link.is_empty() {
                self.skip("symlink with an empty target");
                return Ok(());
            }
        }
        self.ensure_parent()?;
        // Split borrows: the parent fd borrows `cached_fd`/`root`, while we
        // still need the other fields mutably below.
        let parent = match &self.cached_fd {
            Some(fd) => fd.as_fd(),
            None => self.root.as_fd(),
        };
        let name = self.name.as_slice();
        let path = self.raw.as_slice();
        let mut invalidate = false;
        match kind {
            Kind::File => {
                let fd = create_file(parent, name, &mut invalidate)
                    .map_err(|e| errno_error(&lossy(path), "create file", e))?;
                let mut file = File::from(fd);
                let n = copy_data(entry, &mut file, &mut self.copy_buf, interrupted, path)?;
                self.report.bytes += n;
                apply_meta(file.as_fd(), &meta, self.chown, path)?;
                set_xattrs_fd(file.as_fd(), &self.xattrs, path, &mut self.report);
                futimens(&file, &TimeSpec::UTIME_OMIT, &meta.mtime)
                    .map_err(|e| errno_error(&lossy(path), "set mtime", e))?;
            }
            Kind::Dir => {
                let (fd, _fresh) = create_dir(parent, name, &mut invalidate)
                    .map_err(|e| errno_error(&lossy(path), "create directory", e))?;
                apply_meta(fd.as_fd(), &meta, self.chown, path)?;
                set_xattrs_fd(fd.as_fd(), &self.xattrs, path, &mut self.report);
                let mut full = self.parent.clone();
                if !full.is_empty() {
                    full.push(b'/');
                }
                full.extend_from_slice(name);
                self.dir_times.push(DirTime {
                    path: full,
                    mtime: meta.mtime,
                });
            }
            Kind::Symlink => {
                // The target is stored verbatim: it is only data here. It
                // will be resolved later, inside the container (or by us,
                // with RESOLVE_IN_ROOT) and so it cannot escape either way.
                create_symlink(parent, &self.link, name, &mut invalidate)
                    .map_err(|e| errno_error(&lossy(path), "create symlink", e))?;
                if self.chown {
                    fchownat(
                        parent,
                        name,
                        Some(meta.uid),
                        Some(meta.gid),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| errno_error(&lossy(path), "chown symlink", e))?;
                }
                if !self.xattrs.is_empty() {
                    set_xattrs_symlink(parent, name, &self.xattrs, path, &mut self.report);
                }
                utimensat(
                    parent,
                    name,
                    &TimeSpec::UTIME_OMIT,
                    &meta.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| errno_error(&lossy(path), "set symlink mtime", e))?;
            }
            Kind::Hardlink => {
                let root = self.root.as_fd();
                if let Some(reason) =
                    create_hardlink(root, &self.link, parent, name, &mut invalidate)
                        .map_err(|e| errno_error(&lossy(path), "create hardlink", e))?
                {
                    self.skip(reason);
                }
            }
            Kind::Fifo => {
                let fd = create_fifo(parent, name, &mut invalidate)
                    .map_err(|e| errno_error(&lossy(path), "create fifo", e))?;
                apply_meta(fd.as_fd(), &meta, self.chown, path)?;
                set_xattrs_fd(fd.as_fd(), &self.xattrs, path, &mut self.report);
                futimens(&fd, &TimeSpec::UTIME_OMIT, &meta.mtime)
                    .map_err(|e| errno_error(&lossy(path), "set mtime", e))?;
            }
            Kind::Skip(_) | Kind::Ignore => {}
        }
        if invalidate {
            // We removed something: it may have been a directory or symlink
            // on the cached parent's path, so resolve afresh next time.
            self.cache_valid = false;
            self.cached_fd = None;
        }
        Ok(())
    }

    /// Gather mode/owner/mtime from the header, and mtime/xattrs from PAX.
    pub(super) fn read_meta<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Meta, UnpackError> {
        let bad = |what: &str, e: io::Error| UnpackError::Malformed {
            path: lossy(&self.raw),
            detail: format!("{what}: {e}"),
        };
        let h = entry.header();
        let mode = h.mode().map_err(|e| bad("mode", e))?;
        // PAX uid/gid records have already been folded into the header.
        let uid = h.uid().map_err(|e| bad("uid", e))?;
        let gid = h.gid().map_err(|e| bad("gid", e))?;
        let mtime = h.mtime().map_err(|e| bad("mtime", e))?;
        let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
            return Err(UnpackError::Malformed {
                path: lossy(&self.raw),
                detail: format!("owner {uid}:{gid} does not fit in 32 bits"),
            });
        };
        let mut mtime = TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);

        self.xattrs.clear();
        let pax = entry.pax_extensions().map_err(|e| bad("pax header", e))?;
        if let Some(pax) = pax {
            for rec in pax {
                let rec = rec.map_err(|e| bad("pax record", e))?;
                let key = rec.key_bytes();
                if key == b"mtime" {
                    // PAX mtimes carry nanoseconds: "1700000000.123456789".
                    if let Some(t) = parse_pax_time(rec.value_bytes()) {
                        mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    self.xattrs
                        .push((name.to_vec(), rec.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode: Mode::from_bits_truncate(mode & 0o7777),
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
            mtime,
        })
    }

    /// Make `cached_fd` the parent directory of the current member,
    /// creating missing directories on the way (mode 0755, like GNU tar).
    pub(super) fn ensure_parent(&mut self) -> Result<(), UnpackError> {
        if self.cache_valid && self.cached_parent == self.parent {
            return Ok(());
        }
        self.cache_valid = false;
        self.cached_fd = None;
        if !self.parent.is_empty() {
            let fd = resolve_dir(self.root.as_fd(), &self.parent, self.overlay)
                .map_err(|e| errno_error(&lossy(&self.raw), "open parent directory", e))?;
            self.cached_fd = Some(fd);
        }
        self.cached_parent.clear();
        self.cached_parent.extend_from_slice(&self.parent);
        self.cache_valid = true;
        Ok(())
    }

    /// A directory member named "." (or "/"): set the root's metadata, but of
    /// course never replace the root.
    pub(super) fn set_root_meta(&mut self, meta: &Meta) -> Result<(), UnpackError> {
        let fd = openat(
            &self.root,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_error(&lossy(&self.raw), "open destination root", e))?;
        apply_meta(fd.as_fd(), meta, self.chown, &self.raw)?;
        set_xattrs_fd(fd.as_fd(), &self.xattrs, &self.raw, &mut self.report);
        self.dir_times.push(DirTime {
            path: b".".to_vec(),
            mtime: meta.mtime,
        });
        Ok(())
    }

    /// Set directory mtimes last, now that no more children will be added.
    /// Best effort: a later member may have replaced the directory.
    pub(super) fn set_directory_mtimes(&mut self) {
        for d in &self.dir_times {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
            if let Ok(fd) = open_in_root(self.root.as_fd(), &d.path, flags) {
                let _ = futimens(&fd, &TimeSpec::UTIME_OMIT, &d.mtime);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Creating each kind of member. `parent` is a trusted directory fd inside the
// root; `name` is a single component and is never followed if it is a symlink.
// `removed` is set when we had to delete something that was in the way.

pub(super) fn create_file(
    parent: BorrowedFd,
    name: &[u8],
    removed: &mut bool,
) -> nix::Result<OwnedFd> {
    // O_EXCL: fail if *anything* exists there, including a symlink (O_EXCL
    // with O_CREAT never follows it), so we can't write through a planted
    // link. Then replace what was there and try once more.
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mode = Mode::from_bits_truncate(0o600);
    match openat(parent, name, flags, mode) {
        Err(Errno::EEXIST) => {
            make_room(parent, name)?;
            *removed = true;
            openat(parent, name, flags, mode)
        }
        other => other,
    }
}

/// Returns the directory, opened, and whether it is new (not one we kept).
pub(super) fn create_dir(
    parent: BorrowedFd,
    name: &[u8],
    removed: &mut bool,
) -> nix::Result<(OwnedFd, bool)> {
    let mut over_whiteout = false;
    let fresh = match mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
        Ok(()) => true,
        Err(Errno::EEXIST) => {
            // An existing directory is kept (with its content): only its
            // metadata is updated. Anything else, a symlink included, goes.
            let st = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if file_type(st.st_mode) == SFlag::S_IFDIR {
                false
            } else {
                // Only Whiteouts::Overlay makes whiteouts.
                over_whiteout = is_whiteout(&st);
                make_room(parent, name)?;
                *removed = true;
                mkdirat(parent, name, Mode::from_bits_truncate(0o700))?;
                true
            }
        }
        Err(e) => return Err(e),
    };
    let fd = openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    if over_whiteout {
        replaced_whiteout(fd.as_fd())?;
    }
    Ok((fd, fresh))
}

pub(super) fn create_symlink(
    parent: BorrowedFd,
    target: &[u8],
    name: &[u8],
    removed: &mut bool,
) -> nix::Result<()> {
    match symlinkat(target, parent, name) {
        Err(Errno::EEXIST) => {
            make_room(parent, name)?;
            *removed = true;
            symlinkat(target, parent, name)
        }
        other => other,
    }
}

pub(super) fn create_fifo(
    parent: BorrowedFd,
    name: &[u8],
    removed: &mut bool,
) -> nix::Result<OwnedFd> {
    let perm = Mode::from_bits_truncate(0o600);
    match mknodat(parent, name, SFlag::S_IFIFO, perm, 0) {
        Err(Errno::EEXIST) => {
            make_room(parent, name)?;
            *removed = true;
            mknodat(parent, name, SFlag::S_IFIFO, perm, 0)?;
        }
        other => other?,
    }
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. We only want an fd to chown/chmod it.
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Link `name` to the archive path `target`, resolved inside the root.
/// Returns `Some(reason)` when the member is skipped.
pub(super) fn create_hardlink(
    root: BorrowedFd,
    target: &[u8],
    parent: BorrowedFd,
    name: &[u8],
    removed: &mut bool,
) -> nix::Result<Option<&'static str>> {
    if target.is_empty() {
        return Ok(Some("hardlink with an empty target"));
    }
    // O_PATH|O_NOFOLLOW: if the target is a symlink, link the symlink itself
    // (as tar does), don't follow it. Being resolved in root, `/etc/shadow`
    // means <dest>/etc/shadow: a host file can never be reached.
    let src = match open_in_root(root, target, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
            return Ok(Some("hardlink target not found inside the archive root"));
        }
        Err(e) => return Err(e),
    };
    let st = fstat(&src)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        return Ok(Some("hardlink to a directory"));
    }
    match link_fd(&src, parent, name) {
        Err(Errno::EEXIST) => {
            // Already the same file (e.g. a member linking to itself)?
            let there = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if there.st_dev == st.st_dev && there.st_ino == st.st_ino {
                return Ok(None);
            }
            make_room(parent, name)?;
            *removed = true;
            link_fd(&src, parent, name)?;
        }
        other => other?,
    }
    Ok(None)
}

/// linkat(2) from an fd: AT_EMPTY_PATH links the very inode we resolved, so
/// there is no second lookup to race with. It needs CAP_DAC_READ_SEARCH
/// (root has it); otherwise fall back to the /proc/self/fd trick from
/// open(2), which is equally race-free.
pub(super) fn link_fd(src: &OwnedFd, parent: BorrowedFd, name: &[u8]) -> nix::Result<()> {
    match linkat(src, "", parent, name, AtFlags::AT_EMPTY_PATH) {
        Err(Errno::ENOENT | Errno::EPERM) => {
            let proc_path = format!("/proc/self/fd/{}", src.as_raw_fd());
            linkat(
                AT_FDCWD,
                proc_path.as_str(),
                parent,
                name,
                AtFlags::AT_SYMLINK_FOLLOW,
            )
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Data and metadata

pub(super) fn copy_data(
    from: &mut impl Read,
    to: &mut File,
    buf: &mut [u8],
    interrupted: &dyn Fn() -> bool,
    path: &[u8],
) -> Result<u64, UnpackError> {
    let mut total: u64 = 0;
    let mut since_poll: u64 = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(&lossy(path), "read file data from archive", e)),
        };
        let chunk = buf.get(..n).unwrap_or(&[]);
        to.write_all(chunk)
            .map_err(|e| io_error(&lossy(path), "write file", e))?;
        total += n as u64;
        since_poll += n as u64;
        // A multi-gigabyte file should not make Ctrl-C wait for it.
        if since_poll >= 16 << 20 {
            since_poll = 0;
            if interrupted() {
                return Err(UnpackError::Interrupted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::testutil::*;

    #[test]
    fn absolute_paths_land_inside() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
        ar.raw(b"/abs/dir/", EntryType::Directory, b"", b"", 0o755);
        let r = run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(r.entries, 2);
        assert_eq!(
            std::fs::read(sb.dest.join("etc/passwd")).unwrap(),
            b"root:x:0:0::/root:/bin/sh\n"
        );
        assert!(sb.dest.join("abs/dir").is_dir());
        sb.assert_nothing_outside();
    }

    #[test]
    fn dotdot_traversal_is_clamped_at_the_root() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("../../outside", b"1");
        ar.file("a/../../outside2", b"2");
        ar.file("../../../../../../../../../../tmp/outside3", b"3");
        ar.raw(b"../../../newdir/", EntryType::Directory, b"", b"", 0o755);
        run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(std::fs::read(sb.dest.join("outside")).unwrap(), b"1");
        assert_eq!(std::fs::read(sb.dest.join("outside2")).unwrap(), b"2");
        assert_eq!(std::fs::read(sb.dest.join("tmp/outside3")).unwrap(), b"3");
        assert!(sb.dest.join("a").is_dir());
        assert!(sb.dest.join("newdir").is_dir());
        sb.assert_nothing_outside();
    }

    #[test]
    fn writing_through_a_symlink_to_root_stays_inside() {
        let sb = sandbox();
        let host_abs = sb.base.to_str().unwrap().to_string();
        let evil = format!("rd-unpack-test-evil-{}", std::process::id());
        let mut ar = Ar::new();
        ar.symlink("link", "/");
        ar.file(&format!("link/etc/{evil}"), b"evil");
        ar.symlink("up", "../..");
        ar.file("up/evil2", b"evil2");
        ar.raw(b"up/evil-dir/", EntryType::Directory, b"", b"", 0o755);
        ar.symlink("hostpath", &host_abs);
        ar.file("hostpath/evil3", b"evil3");
        // The last member goes through a symlink to a host path that exists
        // on the host but not inside dest: a dangling link, so an error.
        match run(&ar.bytes(), &sb.dest) {
            Err(UnpackError::Io { path, source, .. }) => {
                assert_eq!(path, "hostpath/evil3");
                assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
            }
            other => panic!("expected an error, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(sb.dest.join("etc").join(&evil)).unwrap(),
            b"evil"
        );
        assert!(!Path::new("/etc").join(&evil).exists());
        assert_eq!(std::fs::read(sb.dest.join("evil2")).unwrap(), b"evil2");
        assert!(!sb.base.join("evil3").exists());
        assert!(sb.dest.join("evil-dir").is_dir());
        // The symlinks themselves are kept verbatim.
        assert_eq!(
            std::fs::read_link(sb.dest.join("link")).unwrap(),
            Path::new("/")
        );
        sb.assert_nothing_outside();
    }

    #[test]
    fn chained_symlinks_stay_inside() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.symlink("a", "b");
        ar.symlink("b", "../../..");
        ar.file("a/x", b"x");
        ar.symlink("c/d", "../a");
        ar.file("c/d/y", b"y");
        // Missing directories behind a symlink are created where it points.
        ar.symlink("e", "real");
        ar.dir("real");
        ar.file("e/new/deeper/z", b"z");
        run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(std::fs::read(sb.dest.join("x")).unwrap(), b"x");
        assert_eq!(std::fs::read(sb.dest.join("y")).unwrap(), b"y");
        assert_eq!(
            std::fs::read(sb.dest.join("real/new/deeper/z")).unwrap(),
            b"z"
        );
        sb.assert_nothing_outside();
    }

    #[test]
    fn hardlinks_resolve_inside_or_are_skipped() {
        let sb = sandbox();
        std::fs::write(sb.base.join("hostfile"), b"host secret").unwrap();
        let host_abs = sb.base.join("hostfile").to_str().unwrap().to_string();
        let mut ar = Ar::new();
        ar.hardlink("h1", "../../etc/passwd");
        ar.hardlink("h2", "/etc/shadow");
        ar.symlink("s", "/etc");
        ar.hardlink("h3", "s/hostname");
        ar.hardlink("h4", &host_abs);
        ar.hardlink("h5", "../../../hostfile");
        ar.file("etc/passwd", b"inside");
        ar.hardlink("h6", "/etc/passwd");
        ar.hardlink("h7", "s/passwd"); // through the symlink, but inside
        ar.symlink("sl", "/etc/hostname");
        ar.hardlink("h8", "sl");
        ar.hardlink("h9", "etc");
        ar.hardlink("h10", "");
        let r = run(&ar.bytes(), &sb.dest).unwrap();
        let missing = "hardlink target not found inside the archive root";
        assert_eq!(
            reasons(&r),
            vec![
                ("h1", missing),
                ("h2", missing),
                ("h3", missing),
                ("h4", missing),
                ("h5", missing),
                ("h9", "hardlink to a directory"),
                ("h10", "hardlink with an empty target"),
            ]
        );
        for h in ["h1", "h2", "h3", "h4", "h5", "h9", "h10"] {
            assert!(sb.dest.join(h).symlink_metadata().is_err(), "{h} exists");
        }
        let passwd = std::fs::metadata(sb.dest.join("etc/passwd")).unwrap();
        for h in ["h6", "h7"] {
            let m = std::fs::metadata(sb.dest.join(h)).unwrap();
            assert_eq!(m.ino(), passwd.ino());
        }
        assert_eq!(passwd.nlink(), 3);
        // A hardlink to a symlink links the symlink itself.
        let h8 = std::fs::symlink_metadata(sb.dest.join("h8")).unwrap();
        assert!(h8.file_type().is_symlink());
        assert_eq!(
            h8.ino(),
            std::fs::symlink_metadata(sb.dest.join("sl")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read(sb.base.join("hostfile")).unwrap(),
            b"host secret"
        );
        assert_eq!(
            std::fs::metadata(sb.base.join("hostfile")).unwrap().nlink(),
            1
        );
        sb.assert_nothing_outside();
    }

    #[test]
    fn dot_and_dotdot_entries() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.raw(b"./", EntryType::Directory, b"", b"", 0o751);
        ar.raw(b".", EntryType::Symlink, b"/", b"", 0o777);
        ar.raw(b"./", EntryType::Symlink, b"../..", b"", 0o777);
        ar.raw(b"/.", EntryType::Regular, b"", b"data", 0o644);
        ar.raw(b"a/..", EntryType::Directory, b"", b"", 0o777);
        ar.raw(b"..", EntryType::Regular, b"", b"x", 0o644);
        ar.file("after", b"still a dir");
        let r = run(&ar.bytes(), &sb.dest).unwrap();
        let root = "member names the destination root itself";
        let dd = "final path component is '..'";
        assert_eq!(
            reasons(&r),
            vec![
                (".", root),
                ("./", root),
                ("/.", root),
                ("a/..", dd),
                ("..", dd)
            ]
        );
        let m = std::fs::symlink_metadata(&sb.dest).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::read(sb.dest.join("after")).unwrap(),
            b"still a dir"
        );
        sb.assert_nothing_outside();
    }

    #[test]
    fn devices_are_skipped_fifos_created() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.raw(b"dev/null", EntryType::Char, b"", b"", 0o666);
        ar.raw(b"dev/sda", EntryType::Block, b"", b"", 0o660);
        ar.raw(b"run/fifo", EntryType::Fifo, b"", b"", 0o640);
        ar.raw(b"weird", EntryType::new(b'V'), b"", b"", 0o644);
        let r = run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(
            reasons(&r),
            vec![
                ("dev/null", "device node"),
                ("dev/sda", "device node"),
                ("weird", "unsupported entry type")
            ]
        );
        assert!(sb.dest.join("dev/null").symlink_metadata().is_err());
        assert!(sb.dest.join("dev/sda").symlink_metadata().is_err());
        let fifo = std::fs::symlink_metadata(sb.dest.join("run/fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o640);
        assert_eq!(r.entries, 4);
    }

    #[test]
    fn file_replaces_symlink_instead_of_writing_through_it() {
        let sb = sandbox();
        let host = sb.base.join("hostfile");
        std::fs::write(&host, b"original").unwrap();
        let mut ar = Ar::new();
        ar.symlink("f", host.to_str().unwrap());
        ar.file("f", b"new");
        ar.symlink("g", "../../../hostfile");
        ar.file("g", b"new2");
        ar.symlink("h", host.to_str().unwrap());
        ar.raw(b"h", EntryType::Fifo, b"", b"", 0o600);
        run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(std::fs::read(&host).unwrap(), b"original");
        for (n, want) in [("f", &b"new"[..]), ("g", b"new2")] {
            let m = std::fs::symlink_metadata(sb.dest.join(n)).unwrap();
            assert!(m.file_type().is_file());
            assert_eq!(std::fs::read(sb.dest.join(n)).unwrap(), want);
        }
        assert!(std::fs::symlink_metadata(sb.dest.join("h"))
            .unwrap()
            .file_type()
            .is_fifo());
        sb.assert_nothing_outside();
    }

    #[test]
    fn later_members_replace_earlier_ones() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("f", b"one");
        ar.file("f", b"two!");
        ar.dir("d");
        ar.file("d/inner", b"x");
        ar.file("d", b"now a file"); // replaces the whole directory
        ar.file("e", b"file");
        ar.dir("e"); // replaces the file
        ar.symlink("s", "/");
        ar.dir("s"); // replaces the symlink, not its target
        ar.file("s/y", b"y");
        run(&ar.bytes(), &sb.dest).unwrap();
        assert_eq!(std::fs::read(sb.dest.join("f")).unwrap(), b"two!");
        assert_eq!(std::fs::read(sb.dest.join("d")).unwrap(), b"now a file");
        assert!(sb.dest.join("e").symlink_metadata().unwrap().is_dir());
        assert!(sb.dest.join("s").symlink_metadata().unwrap().is_dir());
        assert_eq!(std::fs::read(sb.dest.join("s/y")).unwrap(), b"y");
        sb.assert_nothing_outside();
    }

    #[test]
    fn absurdly_deep_trees_fail_cleanly_when_replaced() {
        let sb = sandbox();
        let mut b = Builder::new(Vec::new());
        let deep = "d/".repeat(300);
        let mut h = header(EntryType::Regular, 0o644, 0, 1);
        b.append_data(&mut h, format!("{deep}leaf"), &b"x"[..])
            .unwrap();
        let mut h = header(EntryType::Regular, 0o644, 0, 1);
        b.append_data(&mut h, "d", &b"y"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        match run(&bytes, &sb.dest) {
            Err(UnpackError::Io { path, source, .. }) => {
                assert_eq!(path, "d");
                assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
            }
            other => panic!("expected ELOOP, got {other:?}"),
        }
    }

    #[test]
    fn directory_over_directory_keeps_content_updates_metadata() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.dir("d");
        ar.file("d/x", b"x");
        let mut h = Header::new_gnu();
        h.set_path("d/").unwrap();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o700);
        h.set_uid(5);
        h.set_gid(6);
        h.set_size(0);
        h.set_mtime(MTIME);
        h.set_cksum();
        ar.0.append(&h, &b""[..]).unwrap();
        run(&ar.bytes(), &sb.dest).unwrap();
        let m = std::fs::metadata(sb.dest.join("d")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o700);
        if am_root() {
            assert_eq!((m.uid(), m.gid()), (5, 6));
        }
        assert_eq!(std::fs::read(sb.dest.join("d/x")).unwrap(), b"x");
    }

    #[test]
    fn directory_mtimes_are_set_after_children() {
        let sb = sandbox();
        let mut ar = Ar::new();
        let mut h = Header::new_gnu();
        h.set_path("d/").unwrap();
        h.set_entry_type(EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(1_000_000);
        h.set_cksum();
        ar.0.append(&h, &b""[..]).unwrap();
        ar.file("d/child", b"c");
        ar.file("d/sub/grandchild", b"g");
        run(&ar.bytes(), &sb.dest).unwrap();
        let m = std::fs::metadata(sb.dest.join("d")).unwrap();
        assert_eq!(m.mtime(), 1_000_000);
        let c = std::fs::metadata(sb.dest.join("d/child")).unwrap();
        assert_eq!(c.mtime(), MTIME as i64);
    }

    #[test]
    fn realistic_tree() {
        let sb = sandbox();
        let mut b = Builder::new(Vec::new());
        for d in ["usr", "usr/bin", "home", "home/user", "var"] {
            let mut h = header(EntryType::Directory, 0o755, 0, 0);
            b.append_data(&mut h, d, &b""[..]).unwrap();
        }
        let mut h = header(EntryType::Directory, 0o2775, 0, 0);
        b.append_data(&mut h, "var/mail", &b""[..]).unwrap();
        let mut h = header(EntryType::Directory, 0o1777, 0, 0);
        b.append_data(&mut h, "tmp", &b""[..]).unwrap();
        let passwd = vec![0xAAu8; 300_000];
        let mut h = header(EntryType::Regular, 0o4755, 0, passwd.len() as u64);
        b.append_data(&mut h, "usr/bin/passwd", &passwd[..])
            .unwrap();
        let mut h = header(EntryType::Regular, 0o640, 1000, 6);
        b.append_data(&mut h, "home/user/notes.txt", &b"notes\n"[..])
            .unwrap();
        let mut h = header(EntryType::Symlink, 0o777, 0, 0);
        b.append_link(&mut h, "bin", "usr/bin").unwrap();
        let mut h = header(EntryType::Link, 0o755, 0, 0);
        b.append_link(&mut h, "usr/bin/chfn", "usr/bin/passwd")
            .unwrap();
        // > 100 bytes: GNU long name (and a long link target for a symlink).
        let long_dir = format!("usr/share/{}", "deep-directory-name/".repeat(8));
        let long_file = format!("{long_dir}a-file-with-a-long-name.txt");
        assert!(long_file.len() > 150);
        let mut h = header(EntryType::Regular, 0o644, 0, 4);
        b.append_data(&mut h, &long_file, &b"long"[..]).unwrap();
        let mut h = header(EntryType::Symlink, 0o777, 0, 0);
        b.append_link(&mut h, "long-link", &long_file).unwrap();
        // A PAX `path` record and an mtime with nanoseconds.
        let pax_name = format!("usr/{}pax-file", "p".repeat(120));
        b.append_pax_extensions([
            ("path", pax_name.as_bytes()),
            ("mtime", &b"1700000000.25"[..]),
            ("SCHILY.xattr.user.rd-test", &b"hello"[..]),
        ])
        .unwrap();
        let mut h = header(EntryType::Regular, 0o600, 0, 3);
        h.as_old_mut().name[..5].copy_from_slice(b"short");
        h.set_cksum();
        b.append(&h, &b"pax"[..]).unwrap();
        let bytes = b.into_inner().unwrap();

        let r = run(&bytes, &sb.dest).unwrap();
        assert_eq!(r.entries, 14);
        assert_eq!(r.bytes, 300_000 + 6 + 4 + 3);
        assert!(r.skipped.is_empty(), "{:?}", r.skipped);

        let d = &sb.dest;
        let m = std::fs::metadata(d.join("usr/bin/passwd")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o4755);
        assert_eq!(m.mtime(), MTIME as i64);
        assert_eq!(std::fs::read(d.join("usr/bin/passwd")).unwrap(), passwd);
        let chfn = std::fs::metadata(d.join("usr/bin/chfn")).unwrap();
        assert_eq!((chfn.ino(), chfn.nlink()), (m.ino(), 2));

        let notes = std::fs::metadata(d.join("home/user/notes.txt")).unwrap();
        assert_eq!(notes.mode() & 0o7777, 0o640);
        if am_root() {
            assert_eq!((notes.uid(), notes.gid()), (1000, 1000));
            assert_eq!(m.uid(), 0);
        }
        assert_eq!(
            std::fs::metadata(d.join("var/mail")).unwrap().mode() & 0o7777,
            0o2775
        );
        assert_eq!(
            std::fs::metadata(d.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        assert_eq!(
            std::fs::read_link(d.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(std::fs::read(d.join("bin/passwd")).unwrap(), passwd);
        assert_eq!(std::fs::read(d.join(&long_file)).unwrap(), b"long");
        assert_eq!(
            std::fs::read_link(d.join("long-link")).unwrap(),
            Path::new(&long_file)
        );
        let pax = std::fs::metadata(d.join(&pax_name)).unwrap();
        assert_eq!(
            (pax.mtime(), pax.mtime_nsec()),
            (1_700_000_000, 250_000_000)
        );
        assert_eq!(
            get_xattr(&d.join(&pax_name), "user.rd-test"),
            Some(b"hello".to_vec())
        );
        assert!(!d.join("short").exists());
        sb.assert_nothing_outside();
    }
}

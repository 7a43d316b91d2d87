//! Whiteouts: how a layer deletes what the layers below it have. OCI's
//! `.wh.NAME` and `.wh..wh..opq` become overlayfs's own markers in the
//! layer's directory: a 0/0 character device, and the
//! `trusted.overlay.opaque` xattr (Documentation/filesystems/overlayfs.rst).

use super::*;

impl Extractor {
    /// An OCI whiteout, turned into overlayfs's format in this layer's
    /// directory (see [`Whiteouts::Overlay`]). Nothing is deleted: what is
    /// hidden lives in other directories (lower layers).
    ///
    /// The OCI image spec ("Whiteouts") says a whiteout hides only what lower
    /// layers have, never what its own layer has, and archive order does not
    /// matter. Everything in our directory came from this layer, so:
    /// - nothing there yet: make the whiteout device (a later member of the
    ///   same name replaces it, see `create_dir` and `resolve_dir`);
    /// - a directory of this layer: make it opaque, so that it shows only
    ///   its own content, not the lower NAME it replaces;
    /// - anything else of this layer already hides the lower NAME.
    pub(super) fn whiteout(&mut self) -> Result<(), UnpackError> {
        let path = lossy(&self.raw);
        let hidden = self.name.get(4..).unwrap_or_default().to_vec();
        if hidden == b".wh..opq" {
            // Opaque marker: it is about the directory that contains it,
            // created (inside the root, like any parent) if need be.
            self.ensure_parent()?;
            let dir = self.cached_fd.as_ref().unwrap_or(&self.root);
            let fd = openat(
                dir,
                ".",
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| errno_error(&path, "open directory to make opaque", e))?;
            return set_opaque(fd.as_fd()).map_err(|e| errno_error(&path, "mark opaque", e));
        }
        // `.wh..wh.*` is reserved by the spec; `.wh.` alone names nothing.
        if hidden.is_empty() || hidden.starts_with(b".wh.") || hidden == b"." || hidden == b".." {
            self.skip("unsupported whiteout");
            return Ok(());
        }
        self.ensure_parent()?;
        let parent = self.cached_fd.as_ref().unwrap_or(&self.root).as_fd();
        match fstatat(parent, hidden.as_slice(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => {
                // mknod(2) needs CAP_MKNOD for devices, except this one:
                // since Linux 5.8 anyone may create a whiteout (0/0).
                mknodat(parent, hidden.as_slice(), SFlag::S_IFCHR, Mode::empty(), 0)
                    .map_err(|e| errno_error(&path, "create whiteout", e))
            }
            Ok(st) if file_type(st.st_mode) == SFlag::S_IFDIR => {
                let fd = openat(
                    parent,
                    hidden.as_slice(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| errno_error(&path, "open directory to make opaque", e))?;
                set_opaque(fd.as_fd()).map_err(|e| errno_error(&path, "mark opaque", e))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(errno_error(&path, "look up whiteout target", e)),
        }
    }
}

/// Is this an overlayfs whiteout: a character device with number 0/0? Only
/// we can have made it: device nodes in archives are skipped.
pub(super) fn is_whiteout(st: &libc::stat) -> bool {
    file_type(st.st_mode) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// Mark a directory opaque for overlayfs: lower layers' entries in it are
/// hidden. `trusted.*` xattrs need CAP_SYS_ADMIN, as mounting overlay does;
/// without it this fails (EPERM) rather than leave a layer that would
/// silently show files it deleted.
pub(super) fn set_opaque(dir: BorrowedFd) -> nix::Result<()> {
    let name = c"trusted.overlay.opaque";
    // SAFETY: NUL-terminated name, a 1-byte value, an open fd.
    let rc = unsafe { libc::fsetxattr(dir.as_raw_fd(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    Errno::result(rc).map(drop)
}

/// A directory takes the place of a whiteout of this layer (a layer that
/// deletes NAME and then creates a directory NAME): the new directory must
/// not show the lower NAME's content, so it is opaque.
pub(super) fn replaced_whiteout(dir: BorrowedFd) -> nix::Result<()> {
    set_opaque(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::testutil::*;

    #[test]
    fn whiteouts_become_overlay_markers() {
        if !am_root() {
            eprintln!("skipped: trusted.* xattrs need root");
            return;
        }
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("a/.wh.gone", b""); // its directory has no member of its own
        ar.file(".wh.c", b"");
        ar.dir("b");
        ar.file("b/new", b"n");
        ar.file("b/.wh..wh..opq", b""); // opaque marker after the content...
        ar.file("o/.wh..wh..opq", b""); // ...or before it
        ar.dir("o");
        ar.file("o/x", b"x");
        ar.file("d/z", b"z");
        ar.file("d/.wh.z", b""); // this layer's own z stays
        ar.dir("e");
        ar.file("e/f", b"f");
        ar.file(".wh.e", b""); // deletes the lower e, keeps this layer's: opaque
        ar.file(".wh.r", b"");
        ar.file("r", b"recreated"); // deleted, then created again as a file
        ar.file(".wh.s", b"");
        ar.dir("s");
        ar.file("s/t", b"t"); // ... or as a directory: opaque
        ar.file(".wh.u", b"");
        ar.file("u/v", b"v"); // ... or as an implied directory: opaque too
        ar.file("w/.wh.", b"");
        ar.file("w/.wh..wh..plnk", b"");
        let r = unpack(&ar.bytes()[..], &sb.dest, &overlay(), &|| false).unwrap();
        let d = &sb.dest;
        assert!(is_whiteout_at(&d.join("a/gone")));
        assert!(is_whiteout_at(&d.join("c")));
        assert!(is_opaque(&d.join("b")) && d.join("b/new").is_file());
        assert!(is_opaque(&d.join("o")) && d.join("o/x").is_file());
        assert!(d.join("d/z").is_file() && !is_opaque(&d.join("d")));
        assert!(is_opaque(&d.join("e")) && d.join("e/f").is_file());
        assert_eq!(std::fs::read(d.join("r")).unwrap(), b"recreated");
        assert!(is_opaque(&d.join("s")) && d.join("s/t").is_file());
        assert!(is_opaque(&d.join("u")) && d.join("u/v").is_file());
        assert!(!is_opaque(&d.join("a")) && !is_opaque(d));
        // The markers themselves are never created as files.
        for p in ["a/.wh.gone", ".wh.c", "b/.wh..wh..opq", "o/.wh..wh..opq"] {
            assert!(d.join(p).symlink_metadata().is_err(), "{p}");
        }
        assert_eq!(
            reasons(&r),
            vec![
                ("w/.wh.", "unsupported whiteout"),
                ("w/.wh..wh..plnk", "unsupported whiteout")
            ]
        );

        // Whiteouts::Keep: they are ordinary files.
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file(".wh.x", b"");
        ar.file("y/.wh..wh..opq", b"");
        run(&ar.bytes(), &sb.dest).unwrap();
        assert!(sb.dest.join(".wh.x").is_file());
        assert!(sb.dest.join("y/.wh..wh..opq").is_file());
        assert!(!is_opaque(&sb.dest.join("y")));
    }

    #[test]
    fn whiteouts_stay_inside() {
        if !am_root() {
            eprintln!("skipped: trusted.* xattrs need root");
            return;
        }
        let sb = sandbox();
        std::fs::write(sb.base.join("hostfile"), b"keep me").unwrap();
        let mut ar = Ar::new();
        ar.file("../../../.wh.hostfile", b"");
        ar.symlink("up", "../../..");
        ar.file("up/.wh.hostfile", b"");
        ar.file("up/.wh..wh..opq", b"");
        ar.symlink("abs", "/");
        ar.file("abs/.wh.a", b"");
        ar.file("abs/.wh..wh..opq", b"");
        unpack(&ar.bytes()[..], &sb.dest, &overlay(), &|| false).unwrap();
        assert_eq!(std::fs::read(sb.base.join("hostfile")).unwrap(), b"keep me");
        assert!(!is_opaque(&sb.base) && !is_opaque(Path::new("/")));
        assert!(!is_opaque(&sb.base.join("a/b")));
        // Everything landed in dest's root: `up` and `abs` both lead there.
        assert!(is_whiteout_at(&sb.dest.join("hostfile")));
        assert!(is_whiteout_at(&sb.dest.join("a")));
        assert!(is_opaque(&sb.dest));
        sb.assert_nothing_outside();
    }

    /// Two layers made by unpack_layer, stacked by a real overlay mount (in
    /// a private mount namespace, by `unshare -m`): what the container sees.
    #[test]
    fn overlay_honours_unpacked_whiteouts() {
        if !am_root() || !Path::new("/usr/bin/unshare").exists() {
            eprintln!("skipped: needs root and unshare(1)");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper, mnt) = (
            tmp.path().join("lower"),
            tmp.path().join("upper"),
            tmp.path().join("mnt"),
        );
        for d in [&lower, &upper, &mnt] {
            std::fs::create_dir(d).unwrap();
        }
        let mut ar = Ar::new();
        ar.file("a/keep", b"k").file("a/gone", b"g");
        ar.file("b/old1", b"1").file("b/sub/old2", b"2");
        ar.file("c/x", b"x").file("d/y", b"y").file("s/old", b"o");
        unpack_layer(io::Cursor::new(ar.bytes()), None, &lower, &|| false).unwrap();
        let mut ar = Ar::new();
        ar.file("a/.wh.gone", b"");
        ar.file("b/new", b"n");
        ar.file("b/.wh..wh..opq", b"");
        ar.file(".wh.c", b"");
        ar.file(".wh.s", b"");
        ar.file("s/new", b"n");
        ar.file("d/.wh.nothing-there", b"");
        unpack_layer(io::Cursor::new(ar.bytes()), None, &upper, &|| false).unwrap();

        let script =
            r#"mount -t overlay overlay -o "lowerdir=$1:$2" "$3" && cd "$3" && find . | sort"#;
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .args([&upper, &lower, &mnt])
            .output()
            .unwrap();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("unknown filesystem type") {
                eprintln!("skipped: no overlayfs");
                return;
            }
            panic!("mount failed: {err}");
        }
        let seen = String::from_utf8(out.stdout).unwrap();
        let want = [
            ".", "./a", "./a/keep", "./b", "./b/new", "./d", "./d/y", "./s", "./s/new",
        ];
        assert_eq!(seen.lines().collect::<Vec<_>>(), want);
        // The namespace is gone with the process: nothing stays mounted.
        assert!(std::fs::read_dir(&mnt).unwrap().next().is_none());
    }
}

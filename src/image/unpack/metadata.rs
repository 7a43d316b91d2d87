//! Metadata: owners, modes (setuid bits survive, in the right order),
//! mtimes (PAX's sub-second ones too) and extended attributes, filtered to
//! those an image may carry (file capabilities yes, `trusted.*` no).

use super::*;
/// Owner, then mode: chown(2) clears setuid/setgid bits, so chmod must come
/// after it or `passwd` and `sudo` would lose their setuid bit.
pub(super) fn apply_meta(
    fd: BorrowedFd,
    meta: &Meta,
    chown: bool,
    path: &[u8],
) -> Result<(), UnpackError> {
    if chown {
        fchown(fd, Some(meta.uid), Some(meta.gid))
            .map_err(|e| errno_error(&lossy(path), "chown", e))?;
    }
    fchmod(fd, meta.mode).map_err(|e| errno_error(&lossy(path), "chmod", e))
}

/// Which xattrs we restore. `security.capability` (file capabilities, e.g.
/// for `ping`) and `user.*` are what images need. `trusted.*` can steer
/// overlayfs (e.g. fake whiteouts), `security.selinux` labels belong to the
/// host's policy, `system.*` holds ACLs we don't translate.
pub(super) fn xattr_allowed(name: &[u8]) -> bool {
    name.starts_with(b"user.") || (name.starts_with(b"security.") && name != b"security.selinux")
}

pub(super) fn set_xattrs_fd(
    fd: BorrowedFd,
    xattrs: &[(Vec<u8>, Vec<u8>)],
    path: &[u8],
    report: &mut UnpackReport,
) {
    for (name, value) in xattrs {
        set_one_xattr(name, path, report, |cname| {
            // SAFETY: cname is NUL-terminated, value is a valid buffer of
            // value.len() bytes, fd is open for the duration of the call.
            unsafe {
                libc::fsetxattr(
                    fd.as_raw_fd(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        });
    }
}

/// Symlinks cannot be opened for fsetxattr, and there is no lsetxattrat.
/// `/proc/self/fd/N/name` names "name inside the directory fd N" without a
/// new lookup of the parent, and lsetxattr does not follow the final link.
pub(super) fn set_xattrs_symlink(
    parent: BorrowedFd,
    name: &[u8],
    xattrs: &[(Vec<u8>, Vec<u8>)],
    path: &[u8],
    report: &mut UnpackReport,
) {
    let mut p = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    let Ok(cpath) = CString::new(p) else {
        return;
    };
    for (xname, value) in xattrs {
        set_one_xattr(xname, path, report, |cname| {
            // SAFETY: both strings are NUL-terminated, value is valid.
            unsafe {
                libc::lsetxattr(
                    cpath.as_ptr(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        });
    }
}

pub(super) fn set_one_xattr(
    name: &[u8],
    path: &[u8],
    report: &mut UnpackReport,
    set: impl FnOnce(&CString) -> libc::c_int,
) {
    let what = || format!("{} (xattr {})", lossy(path), lossy(name));
    if !xattr_allowed(name) {
        report.skipped.push(Skipped {
            path: what(),
            reason: "extended attribute namespace not restored",
        });
        return;
    }
    let Ok(cname) = CString::new(name) else {
        report.skipped.push(Skipped {
            path: what(),
            reason: "invalid extended attribute name",
        });
        return;
    };
    if set(&cname) != 0 {
        // The filesystem may not support xattrs (EOPNOTSUPP), or this kind
        // of file may not take them (user.* on a symlink: EPERM). Not fatal.
        report.skipped.push(Skipped {
            path: what(),
            reason: "extended attribute refused by the filesystem",
        });
    }
}

/// Parse a PAX time like "1700000000.5" or "-12.25" into a TimeSpec.
pub(super) fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = match s.split_once('.') {
        Some((a, b)) => (a, b),
        None => (s, ""),
    };
    let negative = secs.starts_with('-');
    let mut sec: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    let mut scale: i64 = 100_000_000;
    for c in frac.bytes().take(9) {
        if !c.is_ascii_digit() {
            return None;
        }
        nsec += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    // -1.25 means 1.25 s before the epoch: -2 s + 0.75 s.
    if negative && nsec > 0 {
        sec = sec.checked_sub(1)?;
        nsec = 1_000_000_000 - nsec;
    }
    Some(TimeSpec::new(sec, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::testutil::*;

    #[test]
    fn xattrs_filtered_and_capabilities_kept() {
        let sb = sandbox();
        let mut b = Builder::new(Vec::new());
        // A VFS_CAP_REVISION_2 capability: cap_net_raw (bit 13), effective.
        let mut cap = Vec::new();
        cap.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes());
        cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
        cap.extend_from_slice(&0u32.to_le_bytes());
        cap.extend_from_slice(&0u32.to_le_bytes());
        cap.extend_from_slice(&0u32.to_le_bytes());
        b.append_pax_extensions([
            ("SCHILY.xattr.security.capability", &cap[..]),
            ("SCHILY.xattr.trusted.overlay.opaque", &b"y"[..]),
            (
                "SCHILY.xattr.security.selinux",
                &b"system_u:object_r:bin_t:s0"[..],
            ),
            ("SCHILY.xattr.user.ok", &b"1"[..]),
        ])
        .unwrap();
        // uid 1000 in the header: the capability must survive the chown.
        let mut h = header(EntryType::Regular, 0o755, 1000, 4);
        b.append_data(&mut h, "usr/bin/ping", &b"ping"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let r = run(&bytes, &sb.dest).unwrap();
        let f = sb.dest.join("usr/bin/ping");
        assert_eq!(get_xattr(&f, "user.ok"), Some(b"1".to_vec()));
        assert_eq!(get_xattr(&f, "trusted.overlay.opaque"), None);
        assert_ne!(
            get_xattr(&f, "security.selinux"),
            Some(b"system_u:object_r:bin_t:s0".to_vec())
        );
        let not_restored = "extended attribute namespace not restored";
        assert!(r.skipped.contains(&Skipped {
            path: "usr/bin/ping (xattr trusted.overlay.opaque)".into(),
            reason: not_restored
        }));
        assert!(r.skipped.contains(&Skipped {
            path: "usr/bin/ping (xattr security.selinux)".into(),
            reason: not_restored
        }));
        if am_root() {
            assert_eq!(get_xattr(&f, "security.capability"), Some(cap));
        }
    }

    #[test]
    fn xattrs_on_symlinks_dirs_and_root() {
        let sb = sandbox();
        let mut b = Builder::new(Vec::new());
        b.append_pax_extensions([
            ("SCHILY.xattr.user.x", &b"1"[..]),
            ("SCHILY.xattr.security.rdtest", &b"2"[..]),
        ])
        .unwrap();
        let mut h = header(EntryType::Symlink, 0o777, 0, 0);
        b.append_link(&mut h, "sl", "/nowhere").unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.d", &b"3"[..])])
            .unwrap();
        let mut h = header(EntryType::Directory, 0o755, 0, 0);
        b.append_data(&mut h, "dir/", &b""[..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.root", &b"4"[..])])
            .unwrap();
        let mut h = header(EntryType::Directory, 0o755, 0, 0);
        h.as_old_mut().name[..2].copy_from_slice(b"./");
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let r = run(&b.into_inner().unwrap(), &sb.dest).unwrap();
        // user.* xattrs are not allowed on symlinks (EPERM): reported.
        assert!(r.skipped.contains(&Skipped {
            path: "sl (xattr user.x)".into(),
            reason: "extended attribute refused by the filesystem"
        }));
        let sl = sb.dest.join("sl");
        let sec_set = get_xattr(&sl, "security.rdtest") == Some(b"2".to_vec());
        let sec_reported = r
            .skipped
            .iter()
            .any(|s| s.path == "sl (xattr security.rdtest)");
        assert!(sec_set != sec_reported, "{:?}", r.skipped);
        assert_eq!(
            get_xattr(&sb.dest.join("dir"), "user.d"),
            Some(b"3".to_vec())
        );
        assert_eq!(get_xattr(&sb.dest, "user.root"), Some(b"4".to_vec()));
    }

    #[test]
    fn pax_time_parsing() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec(), t.tv_nsec()));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1.5"), Some((1, 500_000_000)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("12.1234567891234"), Some((12, 123_456_789)));
        assert_eq!(t("x"), None);
        assert_eq!(t("1.x"), None);
    }
}

//! What the unpacker's tests share: archives built byte by byte (hostile
//! names written verbatim), sandboxes that show any escape, readers.

pub(super) use super::*;
pub(super) use std::os::unix::ffi::OsStrExt;
pub(super) use std::os::unix::fs::{FileTypeExt, MetadataExt};
pub(super) use std::path::PathBuf;
pub(super) use tar::{Builder, Header};

pub(super) const MTIME: u64 = 1_600_000_000;

/// Builds archives byte by byte, so hostile names are written verbatim
/// (tar::Builder's path setters refuse `..` and absolute paths).
pub(super) struct Ar(pub(super) Builder<Vec<u8>>);

impl Ar {
    pub(super) fn new() -> Self {
        Ar(Builder::new(Vec::new()))
    }
    pub(super) fn raw(
        &mut self,
        name: &[u8],
        ty: EntryType,
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    pub(super) fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, 0o644)
    }
    pub(super) fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
    }
    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            target.as_bytes(),
            b"",
            0o777,
        )
    }
    pub(super) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            target.as_bytes(),
            b"",
            0o644,
        )
    }
    pub(super) fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// `base/a/b/dest`: a `../..` escape from dest would land in `base`,
/// which we can inspect.
pub(super) struct Sandbox {
    pub(super) _tmp: tempfile::TempDir,
    pub(super) base: PathBuf,
    pub(super) dest: PathBuf,
}

pub(super) fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    let dest = base.join("a/b/dest");
    std::fs::create_dir_all(&dest).unwrap();
    Sandbox {
        _tmp: tmp,
        base,
        dest,
    }
}

impl Sandbox {
    /// Everything under `base` except inside `dest` must be as we made it.
    pub(super) fn assert_nothing_outside(&self) {
        let mut seen = Vec::new();
        for level in [&self.base, &self.base.join("a"), &self.base.join("a/b")] {
            for e in std::fs::read_dir(level).unwrap() {
                seen.push(e.unwrap().path());
            }
        }
        seen.sort();
        let mut expected = vec![
            self.base.join("a"),
            self.base.join("a/b"),
            self.base.join("a/b/dest"),
        ];
        expected.extend(self.extra_outside());
        expected.sort();
        assert_eq!(seen, expected, "something was created outside dest");
    }
    pub(super) fn extra_outside(&self) -> Vec<PathBuf> {
        let host = self.base.join("hostfile");
        if host.exists() {
            vec![host]
        } else {
            vec![]
        }
    }
}

pub(super) fn run(bytes: &[u8], dest: &Path) -> Result<UnpackReport, UnpackError> {
    unpack(bytes, dest, &UnpackOptions::default(), &|| false)
}

pub(super) fn am_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub(super) fn reasons(r: &UnpackReport) -> Vec<(&str, &str)> {
    r.skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason))
        .collect()
}

pub(super) fn header(ty: EntryType, mode: u32, uid: u64, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_size(size);
    h.set_mtime(MTIME);
    h
}

pub(super) fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and buffer.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

pub(super) fn overlay() -> UnpackOptions {
    UnpackOptions {
        whiteouts: Whiteouts::Overlay,
    }
}

pub(super) fn is_whiteout_at(p: &Path) -> bool {
    match std::fs::symlink_metadata(p) {
        Ok(m) => m.file_type().is_char_device() && m.rdev() == 0,
        Err(_) => false,
    }
}

pub(super) fn is_opaque(p: &Path) -> bool {
    get_xattr(p, "trusted.overlay.opaque") == Some(b"y".to_vec())
}

pub(super) fn run_reader(r: Box<dyn Read>, dest: &Path) {
    unpack(r, dest, &UnpackOptions::default(), &|| false).unwrap();
}

pub(super) fn sha256_hex(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

pub(super) fn gzip(b: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b).unwrap();
    enc.finish().unwrap()
}

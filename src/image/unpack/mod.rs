//! Safe tar extraction: unpack an archive into a directory, and never touch
//! anything outside it.
//!
//! Threat model. The archive is hostile: an image layer downloaded from the
//! internet, or a file somebody handed us. We run as root, so a naive
//! extractor could be steered into overwriting anything on the host. Attacks:
//! absolute names (`/etc/passwd`), `..` climbing (`../../etc/cron.d/x`), and
//! the subtle one: an entry that plants a symlink (`lib -> /`) followed by an
//! entry written *through* it (`lib/etc/shadow`). Hardlinks can also point at
//! host files (`hardlink -> /etc/shadow`), and device nodes (`/dev/sda`) would
//! hand the container raw access to host disks.
//!
//! Defence. We never build host paths and `canonicalize()` them: that checks a
//! path and then uses it later (a TOCTOU race), and it cannot see symlinks that
//! earlier entries of the same archive planted. Instead the kernel resolves
//! every path *inside* the root: `openat2(2)` with `RESOLVE_IN_ROOT` treats the
//! destination as `/` (absolute symlinks and `..` are clamped to it), and the
//! last component is then created with `*at()` calls relative to that parent
//! directory fd, never following a symlink in it. Device nodes are skipped.
//!
//! One concern per file:
//!
//! | file | concern |
//! |------|---------|
//! | `stream.rs` | the layer stream: decompression, the diff_id hash, read-ahead; [`unpack_layer`] |
//! | `guard.rs` | tar bombs: PAX headers and long names capped at 1 MiB, sparse members refused |
//! | `paths.rs` | a member's name inside the root; removing what is in the way (resolution: [`crate::inroot`]) |
//! | `extract.rs` | the extractor: each kind of member, created with `*at()` calls |
//! | `whiteouts.rs` | OCI whiteouts as overlayfs whiteouts and opaque directories |
//! | `metadata.rs` | owners, modes, times, extended attributes |
//! | this file | [`unpack`]: the tar walk that ties them together, and its errors |
//!
//! Layers. [`unpack_layer`] is the entry point for `rd import` and `rd pull`
//! alike: decompress (gzip or zstd), hash (the OCI diff_id), and unpack, on
//! two threads. Each layer gets its own directory, later stacked as one
//! overlay lowerdir, so a layer's whiteouts become overlayfs whiteouts in
//! that directory instead of deletions ([`Whiteouts::Overlay`]).

// The submodules take these, and each other's items, through `use super::*`.
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag, AT_FDCWD};

use crate::inroot::open_in_root;
use nix::sys::stat::{
    fchmod, fstat, fstatat, futimens, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

mod extract;
mod guard;
mod metadata;
mod paths;
mod stream;
#[cfg(test)]
mod testutil;
mod whiteouts;

use extract::*;
use metadata::*;
use paths::*;
use whiteouts::*;

pub use stream::{decompress, open_archive, unpack_layer, Compression, LayerReport, ReadAhead};

/// What to do with OCI whiteout entries (`.wh.NAME`, `.wh..wh..opq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Whiteouts {
    /// They are ordinary files: a root filesystem tarball is not a layer,
    /// and a file may well be called `.wh.something`.
    #[default]
    Keep,
    /// Translate them into overlayfs's own format, inside the layer's
    /// directory, which is later stacked as one overlay lowerdir. A layer
    /// cannot delete anything from the layers below it (they are other
    /// directories, shared with other images); instead it carries markers
    /// that overlayfs honours when it merges the stack
    /// (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
    /// directories"):
    /// - `.wh.NAME` becomes a *whiteout*: a character device 0/0 named NAME,
    ///   which hides NAME of every lower layer;
    /// - `.wh..wh..opq` in D sets the xattr `trusted.overlay.opaque=y` on D,
    ///   so that D shows only this layer's (and higher layers') entries.
    Overlay,
}

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub whiteouts: Whiteouts,
}

/// What was unpacked.
#[derive(Debug, Clone, Default)]
pub struct UnpackReport {
    /// Archive members seen (metadata-only PAX/GNU headers not counted).
    pub entries: u64,
    /// Bytes of regular-file data written.
    pub bytes: u64,
    /// Members (or parts of them, like one xattr) that were deliberately not
    /// created, with the reason.
    pub skipped: Vec<Skipped>,
}

/// One member that was not (fully) extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: &'static str,
}

#[derive(thiserror::Error, Debug)]
pub enum UnpackError {
    #[error("not a tar archive ({detail})")]
    NotATar { detail: &'static str },
    // The io::Error is the source, not part of this message: `{:#}` (how
    // rd prints errors) appends it once.
    #[error("{path}: {op}")]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: malformed archive member: {detail}")]
    Malformed { path: String, detail: String },
    /// The guard in front of the tar reader refused a member (see [`guard`]).
    #[error("refused: {0}")]
    Refused(String),
    #[error("interrupted")]
    Interrupted,
    /// Reading the caller's `source` failed ([`unpack_layer`]): the very
    /// error it returned, untouched, so the caller can recognise its own
    /// (a digest mismatch from a verifying reader, a network error).
    #[error("reading the layer")]
    Source(#[source] io::Error),
}

impl UnpackError {
    /// The disk (or the user's quota) is full: worth its own message, since
    /// it is the user's to fix and not a bad archive.
    pub fn is_disk_full(&self) -> bool {
        let e = match self {
            UnpackError::Io { source, .. } | UnpackError::Source(source) => source,
            _ => return false,
        };
        matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }

    /// Errors about the stream's content (as opposed to writing it out, or
    /// being interrupted). When one happens, the source may know the real
    /// cause: a corrupted download fails to decompress *before* the
    /// verifying reader reaches EOF and reports the digest mismatch.
    fn about_content(&self) -> bool {
        match self {
            UnpackError::Malformed { .. } | UnpackError::Refused(_) => true,
            // Every op that reads the archive starts with "read".
            UnpackError::Io { op, .. } => op.starts_with("read"),
            _ => false,
        }
    }
}

/// The pseudo-path used in errors about the archive stream itself.
const ARCHIVE: &str = "(archive)";

/// Extract the tar stream `archive` into the existing, empty directory `dest`.
///
/// `interrupted` is polled between members (and while copying big files);
/// when it returns true we stop with [`UnpackError::Interrupted`] and leave
/// `dest` half-filled for the caller to delete. On success the reader has been
/// read to EOF (past the end-of-archive marker) so a hash of it covers every
/// byte.
pub fn unpack<R: Read>(
    archive: R,
    dest: &Path,
    opts: &UnpackOptions,
    interrupted: &dyn Fn() -> bool,
) -> Result<UnpackReport, UnpackError> {
    let root = nix::fcntl::open(
        dest,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| errno_error(&dest.display().to_string(), "open destination directory", e))?;

    // A small buffer so that tar's 512-byte header reads don't each become a
    // read() on whatever the caller handed us; big data reads bypass it.
    let mut reader = BufReader::with_capacity(64 * 1024, archive);

    // Check the first header ourselves so that "this is not a tar file at
    // all" is a clear error instead of a confusing one deep inside tar.
    let mut first = [0u8; 512];
    let got =
        read_up_to(&mut reader, &mut first).map_err(|e| io_error(ARCHIVE, "read archive", e))?;
    if got == 0 {
        return Err(UnpackError::NotATar {
            detail: "the file is empty",
        });
    }
    if got < first.len() {
        return Err(UnpackError::NotATar {
            detail: "the file is shorter than one 512-byte header",
        });
    }
    // All zeros is an end-of-archive marker: a valid, empty archive.
    if first.iter().any(|&b| b != 0) && !checksum_ok(&first) {
        return Err(UnpackError::NotATar {
            detail: "the first 512-byte header is invalid",
        });
    }

    let (stream, refusal) = guard::TarGuard::new(io::Cursor::new(first).chain(reader));
    let mut tar = tar::Archive::new(stream);
    let mut ex = Extractor::new(root, opts);
    {
        // The guard's refusal, if it made one, says more than tar's wrapper.
        let header_error = |e: io::Error| match refusal.borrow().clone() {
            Some(why) => UnpackError::Refused(why),
            None => io_error(ARCHIVE, "read tar header", e),
        };
        let entries = tar.entries().map_err(header_error)?;
        for entry in entries {
            if interrupted() {
                return Err(UnpackError::Interrupted);
            }
            let mut entry = entry.map_err(header_error)?;
            ex.extract(&mut entry, interrupted)
                .map_err(|e| match refusal.borrow().clone() {
                    Some(why) => UnpackError::Refused(why),
                    None => e,
                })?;
        }
    }
    ex.set_directory_mtimes();

    // tar stops at the first zero block; whatever follows (the second zero
    // block, padding to the 10 KiB record size, anything) must still flow
    // through the caller's hashing reader.
    io::copy(&mut tar.into_inner(), &mut io::sink())
        .map_err(|e| io_error(ARCHIVE, "read the rest of the archive", e))?;
    Ok(ex.report)
}

// ---------------------------------------------------------------------------
// Error helpers

fn io_error(path: &str, op: &'static str, source: io::Error) -> UnpackError {
    UnpackError::Io {
        path: path.to_string(),
        op,
        source,
    }
}

fn errno_error(path: &str, op: &'static str, errno: Errno) -> UnpackError {
    io_error(path, op, io::Error::from(errno))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Read until `buf` is full or EOF; returns how much was read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            // min(): a buggy reader claiming more than it was given must
            // not make us index out of bounds.
            Ok(k) => n = (n + k).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The tar header checksum: the byte sum of the header with the 8-byte
/// checksum field itself counted as spaces.
fn checksum_ok(block: &[u8; 512]) -> bool {
    let header = tar::Header::from_byte_slice(block);
    let Ok(stored) = header.cksum() else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::testutil::*;

    #[test]
    fn not_a_tar() {
        let sb = sandbox();
        let cases: [(&[u8], &str); 4] = [
            (b"", "the file is empty"),
            (&[b'x'; 100], "the file is shorter than one 512-byte header"),
            (&[b'h'; 2000], "the first 512-byte header is invalid"),
            (
                &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
                "the file is shorter than one 512-byte header",
            ),
        ];
        for (bytes, want) in cases {
            match run(bytes, &sb.dest) {
                Err(UnpackError::NotATar { detail }) => assert_eq!(detail, want),
                other => panic!("expected NotATar, got {other:?}"),
            }
        }
        let err = run(&[b'h'; 2000], &sb.dest).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a tar archive (the first 512-byte header is invalid)"
        );
        // Two zero blocks: a valid, empty archive.
        let r = run(&[0u8; 1024], &sb.dest).unwrap();
        assert_eq!(r.entries, 0);
    }

    #[test]
    fn truncated_or_corrupt_archive_is_an_error() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("a", &[7u8; 5000]);
        ar.file("b", b"b");
        let bytes = ar.bytes();
        assert!(matches!(
            run(&bytes[..2000], &sb.dest),
            Err(UnpackError::Io { .. })
        ));
        let sb = sandbox();
        let mut bad = bytes.clone();
        bad[512 + 5120] ^= 0x55; // corrupt the second header
        assert!(matches!(run(&bad, &sb.dest), Err(UnpackError::Io { .. })));
    }

    /// Counts bytes read, like the caller's hashing reader.
    struct Counting<'a, R>(R, &'a std::cell::Cell<usize>);
    impl<R: Read> Read for Counting<'_, R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.set(self.1.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn reader_is_drained_to_eof() {
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("a", b"hello");
        let mut bytes = ar.bytes();
        bytes.extend_from_slice(&[0u8; 10240]);
        bytes.extend_from_slice(b"trailing bytes after the end marker");
        let count = std::cell::Cell::new(0);
        let r = unpack(
            Counting(&bytes[..], &count),
            &sb.dest,
            &UnpackOptions::default(),
            &|| false,
        )
        .unwrap();
        assert_eq!(r.entries, 1);
        assert_eq!(r.bytes, 5);
        assert_eq!(count.get(), bytes.len());
    }

    #[test]
    fn interruption_stops_between_entries() {
        let sb = sandbox();
        let mut ar = Ar::new();
        for i in 0..10 {
            ar.file(&format!("f{i}"), b"x");
        }
        let calls = std::cell::Cell::new(0);
        let stop = || {
            calls.set(calls.get() + 1);
            calls.get() > 3
        };
        let err = unpack(&ar.bytes()[..], &sb.dest, &UnpackOptions::default(), &stop);
        assert!(matches!(err, Err(UnpackError::Interrupted)));
        assert!(sb.dest.join("f2").exists());
        assert!(!sb.dest.join("f3").exists());
    }

    /// Mutate a hostile archive at random: whatever comes out, no panic,
    /// and nothing may appear outside dest.
    #[test]
    fn fuzzed_archives_never_panic_or_escape() {
        let mut ar = Ar::new();
        ar.symlink("up", "../../..");
        ar.symlink("abs", "/");
        ar.file("up/x", b"x");
        ar.hardlink("h", "/etc/passwd");
        ar.raw(b"../../../y", EntryType::Regular, b"", b"yy", 0o4755);
        ar.raw(b"d/", EntryType::Directory, b"", b"", 0o755);
        ar.raw(b"fifo", EntryType::Fifo, b"", b"", 0o644);
        ar.file(&"L".repeat(99), b"long");
        ar.file("up/.wh.x", b"");
        ar.file("abs/.wh..wh..opq", b"");
        ar.file("../.wh.d", b"");
        let mut b = ar.0;
        b.append_pax_extensions([("path", &b"pax/../../p"[..]), ("mtime", &b"1.5"[..])])
            .unwrap();
        let mut h = header(EntryType::Regular, 0o644, 0, 1);
        h.set_path("z").unwrap();
        h.set_cksum();
        b.append(&h, &b"z"[..]).unwrap();
        let seed = b.into_inner().unwrap();

        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..300 {
            let mut bytes = seed.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() % bytes.len() as u64) as usize;
                bytes[i] = next() as u8;
            }
            if next() % 4 == 0 {
                let cut = (next() % bytes.len() as u64) as usize;
                bytes.truncate(cut);
            }
            let sb = sandbox();
            let opts = if round % 2 == 0 {
                UnpackOptions::default()
            } else {
                overlay()
            };
            let _ = unpack(&bytes[..], &sb.dest, &opts, &|| false);
            sb.assert_nothing_outside();
        }
    }
}

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
//! Layers. [`unpack_layer`] is the entry point for `rd import` and `rd pull`
//! alike: decompress (gzip or zstd), hash (the OCI diff_id), and unpack, on
//! two threads. Each layer gets its own directory, later stacked as one
//! overlay lowerdir, so a layer's whiteouts become overlayfs whiteouts in
//! that directory instead of deletions ([`Whiteouts::Overlay`]).

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

mod guard;

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

/// How a layer's tar stream is compressed. A registry says so in the layer's
/// media type (`...tar+gzip`, `...tar+zstd`, plain `...tar`); a file given to
/// `rd import` is recognised by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognise a stream by its magic bytes, not by a file name: gzip
    /// starts with 1f 8b (RFC 1952), a zstd frame with 28 b5 2f fd (RFC 8878,
    /// the little-endian 0xFD2FB528). Anything else is taken as plain tar.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Compressed input is read in blocks this big: fewer read() calls on the
/// file or socket, and the decompressor runs longer between refills.
const INPUT_BUF: usize = 256 * 1024;

/// A decompressing reader that can still reach the raw source underneath,
/// to read it to its end once the compressed stream is over.
enum Decoder<R: Read> {
    Plain(BufReader<R>),
    /// MultiGz: `cat a.gz b.gz` is a valid gzip file (pigz and some
    /// registries produce multi-member streams); a single-member decoder
    /// would silently stop after the first member. Boxed: its state is
    /// large, and this enum lives on the stack.
    Gzip(Box<flate2::bufread::MultiGzDecoder<BufReader<R>>>),
    /// Streaming: zstd frames are decoded as they arrive, with a window of at
    /// most 128 MiB (the library's default limit, as for `zstd -d`; a layer
    /// made with `--long=31` would be refused rather than use 2 GiB).
    Zstd(zstd::stream::read::Decoder<'static, BufReader<R>>),
}

impl<R: Read> Decoder<R> {
    fn new(source: R, compression: Option<Compression>) -> io::Result<Self> {
        let mut reader = BufReader::with_capacity(INPUT_BUF, source);
        let compression = match compression {
            Some(c) => c,
            None => Compression::sniff(reader.fill_buf()?),
        };
        Self::with(reader, compression)
    }

    fn with(reader: BufReader<R>, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Decoder::Plain(reader),
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
            }
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(reader)?),
        })
    }

    fn source(&mut self) -> &mut BufReader<R> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// Open an image file, transparently decompressing gzip or zstd (sniffed by
/// magic bytes, not by file name). `source` is usually a `File`, or a wrapper
/// around one (a progress bar).
pub fn open_archive<R: Read + Send + 'static>(source: R) -> io::Result<Box<dyn Read + Send>> {
    decompress(source, None)
}

/// Like [`open_archive`], with the compression known beforehand (a
/// registry's media type), or `None` to sniff it.
pub fn decompress<R: Read + Send + 'static>(
    source: R,
    compression: Option<Compression>,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(Box::new(Decoder::new(source, compression)?))
}

/// What [`unpack_layer`] did.
#[derive(Debug, Clone, Default)]
pub struct LayerReport {
    /// `sha256:<hex>` of the uncompressed tar stream: the OCI "diff_id",
    /// which the image config lists and the store names layers by.
    pub diff_id: String,
    /// Bytes of regular-file data written (as [`UnpackReport::bytes`]).
    pub bytes: u64,
    /// Bytes of the uncompressed tar stream (what `diff_id` covers).
    pub tar_bytes: u64,
    /// Archive members seen.
    pub entries: u64,
    /// Members (or parts of them) deliberately not created, with the reason.
    pub skipped: Vec<Skipped>,
}

/// The helper thread's half of [`unpack_layer`]: decompress, and at the end
/// read the source to its very end.
struct LayerStream<R: Read> {
    decoder: Decoder<R>,
    /// The source's own error, kept intact for the caller; the consumer
    /// gets a copy through the read-ahead channel (io::Error is not Clone).
    source_error: Option<io::Error>,
    /// Decoder and source both reached EOF, or failed: don't read again.
    done: bool,
}

/// Marks errors that come from the raw source (as opposed to the
/// decompressor complaining about what it read).
struct Source<R> {
    inner: R,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(copy)
            }
            other => other,
        }
    }
}

impl<R: Read> LayerStream<Source<R>> {
    /// Read what is left of the raw source, without decompressing it. A
    /// verifying reader (digest, size) only tells at EOF whether the bytes
    /// were the right ones, and tar stops at its end-of-archive blocks,
    /// gzip at its trailer: without this, a mismatch would go unnoticed.
    fn drain_source(&mut self) -> io::Result<()> {
        let src = self.decoder.source();
        let buffered = src.buffer().len();
        src.consume(buffered);
        let result = io::copy(src, &mut io::sink()).map(|_| ());
        self.take_source_error(result)
    }

    /// Prefer the source's original error over the copy that went through
    /// the decoder.
    fn take_source_error(&mut self, result: io::Result<()>) -> io::Result<()> {
        match self.decoder.source().get_mut().failed.take() {
            Some(original) => {
                let copy = io::Error::new(original.kind(), original.to_string());
                self.source_error = Some(original);
                Err(copy)
            }
            None => result,
        }
    }
}

impl<R: Read> Read for LayerStream<Source<R>> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        match self.decoder.read(buf) {
            Ok(0) => {
                self.done = true;
                self.drain_source()?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.done = true;
                if self.take_source_error(Ok(())).is_err() {
                    // The source failed; the decoder just passed it on.
                    return Err(e);
                }
                // The decompressor found corrupt data. If the source is a
                // verifying reader, its verdict at EOF explains why.
                self.drain_source()?;
                Err(e)
            }
        }
    }
}

/// sha256 of everything read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or(&[]));
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Unpack one image layer: decompress `source` (`compression` given by the
/// registry's media type, or `None` to sniff the magic bytes), hash the
/// uncompressed stream (sha256, the OCI diff_id), and unpack it into `dest`,
/// an existing empty directory, with whiteouts in overlay format
/// ([`Whiteouts::Overlay`]). `source` is read to its very end, so that a
/// verifying reader upstream gets to report a digest mismatch.
///
/// Two threads: a helper decompresses and hashes (CPU work) while this one
/// creates the files (system calls); on two cores that is about twice as
/// fast as doing both in turn. The helper is joined before we return, on
/// every path: rd forks and clones later, and must be single-threaded then.
///
/// Errors: [`UnpackError::Source`] carries `source`'s own io::Error
/// untouched (preferred over any error it caused downstream, such as a
/// corrupt gzip stream); [`UnpackError::is_disk_full`] recognises ENOSPC.
pub fn unpack_layer(
    source: impl Read + Send + 'static,
    compression: Option<Compression>,
    dest: &Path,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> Result<LayerReport, UnpackError> {
    let mut reader = BufReader::with_capacity(
        INPUT_BUF,
        Source {
            inner: source,
            failed: None,
        },
    );
    let compression = match compression {
        Some(c) => c,
        None => match reader.fill_buf() {
            Ok(head) => Compression::sniff(head),
            Err(e) => {
                return Err(UnpackError::Source(
                    reader.get_mut().failed.take().unwrap_or(e),
                ))
            }
        },
    };
    let decoder = Decoder::with(reader, compression)
        .map_err(|e| io_error(ARCHIVE, "start the zstd decoder", e))?;
    let stream = LayerStream {
        decoder,
        source_error: None,
        done: false,
    };
    // Inflating is the heaviest single job here: the helper thread does
    // only that (and reading), and this thread hashes what it receives, on
    // top of creating the files.
    let mut hashing = Hashing {
        inner: ReadAhead::new(stream),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let opts = UnpackOptions {
        whiteouts: Whiteouts::Overlay,
    };
    let unpacked = unpack(&mut hashing, dest, &opts, interrupted);
    let Hashing {
        inner: ahead,
        hasher,
        bytes: tar_bytes,
    } = hashing;
    let mut stream = ahead
        .into_inner()
        .map_err(|e| io_error(ARCHIVE, "read-ahead thread", e))?;
    if let Some(original) = stream.source_error.take() {
        return Err(UnpackError::Source(original));
    }
    let report = match unpacked {
        Ok(report) => report,
        Err(e) if e.about_content() && !stream.done => {
            // Bad content: before blaming the archive, let the source have
            // its say (the rest is only read, not decompressed).
            let _ = stream.drain_source();
            return Err(match stream.source_error.take() {
                Some(original) => UnpackError::Source(original),
                None => e,
            });
        }
        Err(e) => return Err(e),
    };
    if !stream.done {
        // unpack() read its reader to EOF, so the helper must have too.
        return Err(io_error(
            ARCHIVE,
            "read the archive to its end",
            io::Error::other("stopped before the end of the stream"),
        ));
    }
    Ok(LayerReport {
        diff_id: format!("sha256:{:x}", hasher.finalize()),
        bytes: report.bytes,
        tar_bytes,
        entries: report.entries,
        skipped: report.skipped,
    })
}

/// Runs a reader on a helper thread, up to a few MiB ahead of the consumer.
///
/// Extraction is mostly copying: the kernel copies archive bytes to us, we
/// copy them into new files. With two cores, reading and decompressing can
/// run at the same time as the writing:
/// `unpack(&mut ReadAhead::new(decompressing_reader), ..)`, then
/// `into_inner()` to get the reader back once the stream has been drained
/// (this is what [`unpack_layer`] does).
pub struct ReadAhead<R> {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    thread: Option<std::thread::JoinHandle<R>>,
    inner: Option<R>,
}

impl<R: Read + Send + 'static> ReadAhead<R> {
    const CHUNK: usize = 1 << 20;
    const DEPTH: usize = 4;

    pub fn new(mut inner: R) -> Self {
        let (tx, chunks) = mpsc::sync_channel::<io::Result<Vec<u8>>>(Self::DEPTH);
        let (recycle, spare) = mpsc::sync_channel::<Vec<u8>>(Self::DEPTH + 2);
        let thread = std::thread::spawn(move || {
            loop {
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.resize(Self::CHUNK, 0);
                let n = match read_up_to(&mut inner, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                };
                buf.truncate(n);
                // A send error means the consumer is gone: just stop.
                if tx.send(Ok(buf)).is_err() {
                    break;
                }
            }
            inner
        });
        ReadAhead {
            chunks,
            recycle,
            current: Vec::new(),
            pos: 0,
            thread: Some(thread),
            inner: None,
        }
    }

    /// Stop the helper thread and return the wrapped reader. Bytes read
    /// ahead but not consumed are lost, so call this after reaching EOF.
    pub fn into_inner(mut self) -> io::Result<R> {
        // Dropping our end of the channel makes the helper's next send fail.
        let (_, dead) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.chunks, dead));
        self.join()?;
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("read-ahead thread already gone"))
    }

    fn join(&mut self) -> io::Result<()> {
        if let Some(t) = self.thread.take() {
            let inner = t
                .join()
                .map_err(|_| io::Error::other("read-ahead thread panicked"))?;
            self.inner = Some(inner);
        }
        Ok(())
    }
}

impl<R: Read + Send + 'static> Read for ReadAhead<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(next)) => {
                    let old = std::mem::replace(&mut self.current, next);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The helper finished: a real EOF, unless it panicked.
                Err(mpsc::RecvError) => {
                    self.join()?;
                    return Ok(0);
                }
            }
        }
        let avail = self.current.get(self.pos..).unwrap_or(&[]);
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

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

// ---------------------------------------------------------------------------
// Resolving paths inside the root

/// How an entry's path splits into "parent directory" and "final name".
#[derive(Debug, PartialEq, Eq)]
enum Target {
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
fn split_path(raw: &[u8], parent: &mut Vec<u8>, name: &mut Vec<u8>) -> Target {
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
const MAX_DEPTH: u32 = 256;

/// Remove `name` in `dir`, recursively if it is a directory. Symlinks are
/// removed, never followed (unlinkat and O_NOFOLLOW do not follow the final
/// component, and we only ever descend via fds we opened).
fn remove_all(dir: BorrowedFd, name: &[u8], depth: u32) -> nix::Result<()> {
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
fn make_room(dir: BorrowedFd, name: &[u8]) -> nix::Result<()> {
    remove_all(dir, name, 0)
}

// ---------------------------------------------------------------------------
// The extractor

/// Metadata from one header (plus PAX records), ready to apply.
struct Meta {
    mode: Mode,
    uid: Uid,
    gid: Gid,
    mtime: TimeSpec,
}

/// A directory whose mtime is set at the very end: creating children inside
/// a directory updates its mtime, so setting it early would be undone.
struct DirTime {
    path: Vec<u8>,
    mtime: TimeSpec,
}

struct Extractor {
    root: OwnedFd,
    report: UnpackReport,
    /// Only root may chown to arbitrary ids; as a plain user we keep our own
    /// ids, like GNU tar does.
    chown: bool,
    /// The last parent directory we resolved: consecutive members usually
    /// share it, and resolving is the most expensive step per member.
    /// `None` fd means "the root itself".
    cached_parent: Vec<u8>,
    cached_fd: Option<OwnedFd>,
    cache_valid: bool,
    /// Reused per-member buffers, to avoid allocating for each member.
    raw: Vec<u8>,
    parent: Vec<u8>,
    name: Vec<u8>,
    link: Vec<u8>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    copy_buf: Vec<u8>,
    dir_times: Vec<DirTime>,
    /// Whiteouts in overlay format (see [`Whiteouts::Overlay`]).
    overlay: bool,
}

/// What to do with one member, decided from its type.
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Skip(&'static str),
    Ignore,
}

impl Extractor {
    fn new(root: OwnedFd, opts: &UnpackOptions) -> Self {
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

    fn skip(&mut self, reason: &'static str) {
        self.report.skipped.push(Skipped {
            path: lossy(&self.raw),
            reason,
        });
    }

    fn extract<R: Read>(
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
    fn read_meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
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
    fn ensure_parent(&mut self) -> Result<(), UnpackError> {
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
    fn set_root_meta(&mut self, meta: &Meta) -> Result<(), UnpackError> {
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
    fn set_directory_mtimes(&mut self) {
        for d in &self.dir_times {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
            if let Ok(fd) = open_in_root(self.root.as_fd(), &d.path, flags) {
                let _ = futimens(&fd, &TimeSpec::UTIME_OMIT, &d.mtime);
            }
        }
    }

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
    fn whiteout(&mut self) -> Result<(), UnpackError> {
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

fn file_type(st_mode: libc::mode_t) -> SFlag {
    SFlag::from_bits_truncate(st_mode) & SFlag::S_IFMT
}

/// Is this an overlayfs whiteout: a character device with number 0/0? Only
/// we can have made it: device nodes in archives are skipped.
fn is_whiteout(st: &libc::stat) -> bool {
    file_type(st.st_mode) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// Mark a directory opaque for overlayfs: lower layers' entries in it are
/// hidden. `trusted.*` xattrs need CAP_SYS_ADMIN, as mounting overlay does;
/// without it this fails (EPERM) rather than leave a layer that would
/// silently show files it deleted.
fn set_opaque(dir: BorrowedFd) -> nix::Result<()> {
    let name = c"trusted.overlay.opaque";
    // SAFETY: NUL-terminated name, a 1-byte value, an open fd.
    let rc = unsafe { libc::fsetxattr(dir.as_raw_fd(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
    Errno::result(rc).map(drop)
}

/// A directory takes the place of a whiteout of this layer (a layer that
/// deletes NAME and then creates a directory NAME): the new directory must
/// not show the lower NAME's content, so it is opaque.
fn replaced_whiteout(dir: BorrowedFd) -> nix::Result<()> {
    set_opaque(dir)
}

/// Open (as an O_PATH handle) the directory `path` inside `root`, creating
/// missing components one by one. Each step is again resolved in root, so a
/// symlink planted by an earlier member can redirect us, but only inside.
/// With `overlay`, a whiteout of this layer in the way is replaced by an
/// opaque directory (the layer deleted the lower NAME, then put files in a
/// new NAME without a member for the directory itself).
fn resolve_dir(root: BorrowedFd, path: &[u8], overlay: bool) -> nix::Result<OwnedFd> {
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

// ---------------------------------------------------------------------------
// Creating each kind of member. `parent` is a trusted directory fd inside the
// root; `name` is a single component and is never followed if it is a symlink.
// `removed` is set when we had to delete something that was in the way.

fn create_file(parent: BorrowedFd, name: &[u8], removed: &mut bool) -> nix::Result<OwnedFd> {
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
fn create_dir(parent: BorrowedFd, name: &[u8], removed: &mut bool) -> nix::Result<(OwnedFd, bool)> {
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

fn create_symlink(
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

fn create_fifo(parent: BorrowedFd, name: &[u8], removed: &mut bool) -> nix::Result<OwnedFd> {
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
fn create_hardlink(
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
fn link_fd(src: &OwnedFd, parent: BorrowedFd, name: &[u8]) -> nix::Result<()> {
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

fn copy_data(
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

/// Owner, then mode: chown(2) clears setuid/setgid bits, so chmod must come
/// after it or `passwd` and `sudo` would lose their setuid bit.
fn apply_meta(fd: BorrowedFd, meta: &Meta, chown: bool, path: &[u8]) -> Result<(), UnpackError> {
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
fn xattr_allowed(name: &[u8]) -> bool {
    name.starts_with(b"user.") || (name.starts_with(b"security.") && name != b"security.selinux")
}

fn set_xattrs_fd(
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
fn set_xattrs_symlink(
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

fn set_one_xattr(
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
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
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
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::PathBuf;
    use tar::{Builder, Header};

    const MTIME: u64 = 1_600_000_000;

    /// Builds archives byte by byte, so hostile names are written verbatim
    /// (tar::Builder's path setters refuse `..` and absolute paths).
    struct Ar(Builder<Vec<u8>>);

    impl Ar {
        fn new() -> Self {
            Ar(Builder::new(Vec::new()))
        }
        fn raw(
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
        fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.raw(name.as_bytes(), EntryType::Regular, b"", data, 0o644)
        }
        fn dir(&mut self, name: &str) -> &mut Self {
            self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
        }
        fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(
                name.as_bytes(),
                EntryType::Symlink,
                target.as_bytes(),
                b"",
                0o777,
            )
        }
        fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.raw(
                name.as_bytes(),
                EntryType::Link,
                target.as_bytes(),
                b"",
                0o644,
            )
        }
        fn bytes(self) -> Vec<u8> {
            self.0.into_inner().unwrap()
        }
    }

    /// `base/a/b/dest`: a `../..` escape from dest would land in `base`,
    /// which we can inspect.
    struct Sandbox {
        _tmp: tempfile::TempDir,
        base: PathBuf,
        dest: PathBuf,
    }

    fn sandbox() -> Sandbox {
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
        fn assert_nothing_outside(&self) {
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
        fn extra_outside(&self) -> Vec<PathBuf> {
            let host = self.base.join("hostfile");
            if host.exists() {
                vec![host]
            } else {
                vec![]
            }
        }
    }

    fn run(bytes: &[u8], dest: &Path) -> Result<UnpackReport, UnpackError> {
        unpack(bytes, dest, &UnpackOptions::default(), &|| false)
    }

    fn am_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn reasons(r: &UnpackReport) -> Vec<(&str, &str)> {
        r.skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason))
            .collect()
    }

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

    fn header(ty: EntryType, mode: u32, uid: u64, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(size);
        h.set_mtime(MTIME);
        h
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

    fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
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

    fn overlay() -> UnpackOptions {
        UnpackOptions {
            whiteouts: Whiteouts::Overlay,
        }
    }

    fn is_whiteout_at(p: &Path) -> bool {
        match std::fs::symlink_metadata(p) {
            Ok(m) => m.file_type().is_char_device() && m.rdev() == 0,
            Err(_) => false,
        }
    }

    fn is_opaque(p: &Path) -> bool {
        get_xattr(p, "trusted.overlay.opaque") == Some(b"y".to_vec())
    }

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

    #[test]
    fn open_archive_sniffs_compression() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ar = Ar::new();
        ar.file("hello", b"world");
        let plain = ar.bytes();

        let p = tmp.path().join("plain.tar");
        std::fs::write(&p, &plain).unwrap();
        let sb = sandbox();
        let r = open_archive(File::open(&p).unwrap()).unwrap();
        run_reader(r, &sb.dest);
        assert_eq!(std::fs::read(sb.dest.join("hello")).unwrap(), b"world");

        let gz = tmp.path().join("img.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&plain).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let sb = sandbox();
        let r = open_archive(File::open(&gz).unwrap()).unwrap();
        run_reader(r, &sb.dest);
        assert_eq!(std::fs::read(sb.dest.join("hello")).unwrap(), b"world");

        let zst = tmp.path().join("img.tar.zst");
        std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
        let sb = sandbox();
        let r = open_archive(File::open(&zst).unwrap()).unwrap();
        run_reader(r, &sb.dest);
        assert_eq!(std::fs::read(sb.dest.join("hello")).unwrap(), b"world");
    }

    fn run_reader(r: Box<dyn Read>, dest: &Path) {
        unpack(r, dest, &UnpackOptions::default(), &|| false).unwrap();
    }

    fn sha256_hex(b: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(b))
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn unpack_layer_hashes_the_uncompressed_stream() {
        let mut ar = Ar::new();
        ar.file("etc/hostname", b"box\n")
            .file("big", &[3u8; 300_000]);
        let mut tar = ar.bytes();
        tar.extend_from_slice(&[0u8; 4096]); // padding past the end marker
        let compressed = [
            (None, tar.clone()),
            (Some(Compression::None), tar.clone()),
            (None, gzip(&tar)),
            (Some(Compression::Gzip), gzip(&tar)),
            (None, zstd::encode_all(&tar[..], 3).unwrap()),
            (
                Some(Compression::Zstd),
                zstd::encode_all(&tar[..], 3).unwrap(),
            ),
        ];
        for (c, bytes) in compressed {
            let sb = sandbox();
            let r = unpack_layer(io::Cursor::new(bytes), c, &sb.dest, &|| false).unwrap();
            assert_eq!(r.diff_id, sha256_hex(&tar), "{c:?}");
            assert_eq!(r.tar_bytes, tar.len() as u64);
            assert_eq!((r.entries, r.bytes), (2, 300_004));
            assert_eq!(
                std::fs::read(sb.dest.join("etc/hostname")).unwrap(),
                b"box\n"
            );
        }
        // Compression stated wrongly: a clear error, not garbage files.
        let sb = sandbox();
        let err = unpack_layer(
            io::Cursor::new(tar),
            Some(Compression::Gzip),
            &sb.dest,
            &|| false,
        )
        .unwrap_err();
        assert!(matches!(err, UnpackError::Io { .. }), "{err:?}");
    }

    /// The caller's own error, as a verifying reader would return it.
    #[derive(Debug)]
    struct Mismatch;
    impl std::fmt::Display for Mismatch {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("digest mismatch")
        }
    }
    impl std::error::Error for Mismatch {}

    /// Serves `data`, then fails where EOF would be (like a digest check).
    struct Verifying {
        data: io::Cursor<Vec<u8>>,
        read_to_end: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }
    impl Read for Verifying {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.data.read(buf)? {
                0 => {
                    self.read_to_end
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    Err(io::Error::new(io::ErrorKind::InvalidData, Mismatch))
                }
                n => Ok(n),
            }
        }
    }

    fn verifying(data: Vec<u8>) -> (Verifying, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let v = Verifying {
            data: io::Cursor::new(data),
            read_to_end: flag.clone(),
        };
        (v, flag)
    }

    fn assert_mismatch(r: Result<LayerReport, UnpackError>) {
        match r {
            Err(UnpackError::Source(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                assert!(e
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<Mismatch>())
                    .is_some());
            }
            other => panic!("expected the source's error, got {other:?}"),
        }
    }

    #[test]
    fn unpack_layer_reads_the_source_to_its_end_and_keeps_its_error() {
        let mut ar = Ar::new();
        ar.file("f", b"data");
        let mut tar = ar.bytes();
        tar.extend_from_slice(&[0u8; 20_000]);
        let gz = gzip(&tar);
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for (c, bytes) in [
            (None, tar.clone()),
            (None, gz.clone()),
            (Some(Compression::Zstd), zst),
        ] {
            let sb = sandbox();
            let (src, eof) = verifying(bytes);
            assert_mismatch(unpack_layer(src, c, &sb.dest, &|| false));
            assert!(eof.load(std::sync::atomic::Ordering::SeqCst), "{c:?}");
        }
        // Corrupt data makes gunzip fail first; the source's verdict at its
        // end explains why, so that is the error we get.
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        bad[mid + 1] ^= 0xff;
        let sb = sandbox();
        let (src, _) = verifying(bad);
        assert_mismatch(unpack_layer(src, None, &sb.dest, &|| false));
        // Same for a tar-level error (a corrupt second header).
        let mut ar = Ar::new();
        ar.file("a", &[1u8; 1000]).file("b", b"b");
        let mut bad = ar.bytes();
        bad[512 + 1024 + 10] ^= 0x55;
        let sb = sandbox();
        let (src, _) = verifying(gzip(&bad));
        assert_mismatch(unpack_layer(src, None, &sb.dest, &|| false));
        // A source failing at once.
        let sb = sandbox();
        let r = unpack_layer(FailingReader, None, &sb.dest, &|| false);
        assert!(
            matches!(r, Err(UnpackError::Source(ref e)) if e.kind() == io::ErrorKind::InvalidData)
        );
        let r = unpack_layer(FailingReader, Some(Compression::Gzip), &sb.dest, &|| false);
        assert!(matches!(r, Err(UnpackError::Source(_))), "{r:?}");
    }

    #[test]
    fn unpack_layer_interrupted_and_disk_full() {
        let mut ar = Ar::new();
        for i in 0..50 {
            ar.file(&format!("f{i}"), b"x");
        }
        let sb = sandbox();
        let r = unpack_layer(io::Cursor::new(gzip(&ar.bytes())), None, &sb.dest, &|| true);
        assert!(matches!(r, Err(UnpackError::Interrupted)));
        let full = io_error(
            "f",
            "write file",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(full.is_disk_full());
        let other = io_error("f", "write file", io::Error::from_raw_os_error(libc::EIO));
        assert!(!other.is_disk_full());
    }

    #[test]
    fn read_ahead_passes_every_byte_and_gives_the_reader_back() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Shared(
            io::Cursor<Vec<u8>>,
            std::sync::Arc<std::sync::atomic::AtomicUsize>,
        );
        impl Read for Shared {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(b)?;
                self.1.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                Ok(n)
            }
        }
        let mut ra = ReadAhead::new(Shared(io::Cursor::new(data.clone()), count.clone()));
        let mut got = Vec::new();
        let mut small = [0u8; 777];
        loop {
            let n = ra.read(&mut small).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, data);
        let inner = ra.into_inner().unwrap();
        assert_eq!(inner.0.position() as usize, data.len());

        // Through unpack, and stopping early is fine too.
        let sb = sandbox();
        let mut ar = Ar::new();
        ar.file("big", &data);
        let bytes = ar.bytes();
        let mut ra = ReadAhead::new(io::Cursor::new(bytes.clone()));
        let r = unpack(&mut ra, &sb.dest, &UnpackOptions::default(), &|| false).unwrap();
        assert_eq!(r.bytes, data.len() as u64);
        assert_eq!(ra.into_inner().unwrap().position() as usize, bytes.len());
        let ra = ReadAhead::new(io::Cursor::new(bytes));
        assert!(ra.into_inner().is_ok());
    }

    struct FailingReader;
    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt gzip"))
        }
    }

    #[test]
    fn read_errors_are_reported() {
        let sb = sandbox();
        let err = unpack(FailingReader, &sb.dest, &UnpackOptions::default(), &|| {
            false
        });
        match err {
            Err(UnpackError::Io { op, source, .. }) => {
                assert_eq!(op, "read archive");
                assert_eq!(source.kind(), io::ErrorKind::InvalidData);
            }
            other => panic!("{other:?}"),
        }
        let mut ra = ReadAhead::new(FailingReader);
        assert_eq!(
            ra.read(&mut [0u8; 10]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

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

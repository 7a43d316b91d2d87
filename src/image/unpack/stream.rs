//! The layer stream: decompression (gzip or zstd, sniffed or told), the
//! OCI diff_id (sha256 of the uncompressed tar), and a read-ahead thread,
//! so that inflating and writing files run on two cores at once.
//! [`unpack_layer`] puts them together for `rd import` and `rd pull`.

use super::*;
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
pub(super) const INPUT_BUF: usize = 256 * 1024;

/// A decompressing reader that can still reach the raw source underneath,
/// to read it to its end once the compressed stream is over.
pub(super) enum Decoder<R: Read> {
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
pub(super) struct LayerStream<R: Read> {
    decoder: Decoder<R>,
    /// The source's own error, kept intact for the caller; the consumer
    /// gets a copy through the read-ahead channel (io::Error is not Clone).
    source_error: Option<io::Error>,
    /// Decoder and source both reached EOF, or failed: don't read again.
    done: bool,
}

/// Marks errors that come from the raw source (as opposed to the
/// decompressor complaining about what it read).
pub(super) struct Source<R> {
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
pub(super) struct Hashing<R> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::testutil::*;

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
}

//! Content addressing: every object of a pull is named by the sha256 of its
//! bytes, so a client can check what it got without trusting the registry,
//! the CDN or the network in between (image-spec "descriptor.md", Digests).
//!
//! Small objects (manifests, configs) are read whole and checked before
//! they are parsed. Layers are too big to hold, so they are checked as they
//! stream: [`VerifyingReader`] hashes what passes through and refuses to say
//! "end of file" unless the digest and length are right. A consumer that
//! reads to EOF, as tar does, therefore cannot finish on bad data; it gets an
//! error instead, and must throw away what it unpacked.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::RegistryError;

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Check a whole object against the digest it should have.
pub fn check_digest(object: &str, expected: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let got = sha256_digest(bytes);
    if got != expected {
        return Err(RegistryError::DigestMismatch {
            object: object.to_string(),
            expected: expected.to_string(),
            got,
        });
    }
    Ok(())
}

/// A stream that must hash to `digest` and be exactly `size` bytes long.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    digest: String,
    size: u64,
    /// Set once the end has been checked: later reads repeat the verdict.
    verdict: Option<Result<(), String>>,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, digest: &str, size: u64) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
            digest: digest.to_string(),
            size,
            verdict: None,
        }
    }

    fn fail(&mut self, message: String) -> io::Error {
        self.verdict = Some(Err(message.clone()));
        io::Error::new(io::ErrorKind::InvalidData, message)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.verdict {
            Some(Ok(())) => return Ok(0),
            Some(Err(m)) => return Err(io::Error::new(io::ErrorKind::InvalidData, m.clone())),
            None => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.read += n as u64;
            // Longer than announced: stop now rather than read an endless
            // stream to its end (a hostile server's cheapest attack).
            if self.read > self.size {
                let m = format!(
                    "digest mismatch: blob {} is longer than its {} bytes",
                    self.digest, self.size
                );
                return Err(self.fail(m));
            }
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        if self.read < self.size {
            let m = format!(
                "digest mismatch: blob {} ended after {} of its {} bytes",
                self.digest, self.read, self.size
            );
            return Err(self.fail(m));
        }
        let got = format!("sha256:{:x}", self.hasher.clone().finalize());
        if got != self.digest {
            let m = format!("digest mismatch: blob: expected {}, got {got}", self.digest);
            return Err(self.fail(m));
        }
        self.verdict = Some(Ok(()));
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"a layer, pretend it is a tar";

    fn read_all(digest: &str, size: u64, body: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // A tiny buffer so that hashing happens over many reads.
        let mut r = VerifyingReader::new(body, digest, size);
        let mut buf = [0u8; 5];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                // The verdict sticks.
                assert_eq!(r.read(&mut buf)?, 0);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn matching_blob_reads_to_eof() {
        let d = sha256_digest(BODY);
        assert_eq!(read_all(&d, BODY.len() as u64, BODY).unwrap(), BODY);
        let empty = sha256_digest(b"");
        assert_eq!(read_all(&empty, 0, b"").unwrap(), b"");
        assert!(check_digest("x", &d, BODY).is_ok());
    }

    #[test]
    fn wrong_digest_is_invalid_data_at_eof() {
        let wrong = sha256_digest(b"something else");
        let err = read_all(&wrong, BODY.len() as u64, BODY).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.starts_with("digest mismatch: "), "{msg}");
        assert!(
            msg.contains(&format!("expected {wrong}, got {}", sha256_digest(BODY))),
            "{msg}"
        );

        let err = check_digest("manifest of x:1", &wrong, BODY)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "digest mismatch: manifest of x:1: expected {wrong}, got {}",
                sha256_digest(BODY)
            )
        );
    }

    #[test]
    fn short_and_long_bodies() {
        let d = sha256_digest(BODY);
        let short = read_all(&d, BODY.len() as u64 + 1, BODY).unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::InvalidData);
        assert!(
            short.to_string().contains("ended after 28 of its 29 bytes"),
            "{short}"
        );
        let long = read_all(&d, BODY.len() as u64 - 1, BODY).unwrap_err();
        assert_eq!(long.kind(), io::ErrorKind::InvalidData);
        assert!(
            long.to_string().contains("longer than its 27 bytes"),
            "{long}"
        );
        // A truncated body with the truncated content's own digest still
        // fails on length.
        let cut = &BODY[..10];
        let err = read_all(&sha256_digest(cut), BODY.len() as u64, cut).unwrap_err();
        assert!(err.to_string().contains("ended after 10"), "{err}");
    }

    #[test]
    fn an_endless_stream_is_cut_off() {
        let d = sha256_digest(BODY);
        let mut r = VerifyingReader::new(io::repeat(b'x'), &d, 1 << 20);
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
    }
}

//! A guard in front of the tar reader: refuses the members a hostile layer
//! uses to exhaust memory or disk, before anything buffers them.
//!
//! The tar crate reads a PAX extended header (`x`, `g`) or a GNU long name
//! or long link (`L`, `K`) *whole* into memory: a 5 MB gzip layer holding a
//! 1 GiB header, all zeros, costs 1 GiB of rd's memory. And a GNU sparse
//! member (`S`) is expanded with zeros: 7 GiB of "holes" become 7 GiB
//! written to disk. Go's archive/tar (what docker and containerd use) caps
//! such headers at 1 MiB; rd does the same and refuses sparse members.
//!
//! The guard follows the stream block by block (512 bytes) as it passes: at
//! each header it reads the type and size, then lets the member's data go
//! by. It keeps up with PAX `size` records, which override the next
//! member's size, so a hostile archive cannot make it lose count.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

/// The largest PAX header or GNU long name/link rd accepts (Go's limit).
pub const MAX_META: u64 = 1 << 20;

const BLOCK: u64 = 512;

/// Why the guard stopped the stream; shared with the caller, which turns
/// it into one clear line (the tar crate wraps the io::Error it sees).
pub type Refusal = Rc<RefCell<Option<String>>>;

pub struct TarGuard<R> {
    inner: R,
    refusal: Refusal,
    /// Bytes of the current header block collected so far.
    header: Vec<u8>,
    /// Bytes of member data (padded to blocks) still to pass before the next header.
    data_left: u64,
    /// The current member is a PAX header: its records are collected (it
    /// is at most MAX_META) to spot `size` and GNU sparse records.
    pax: Option<Vec<u8>>,
    /// Unpadded size of the PAX data being collected.
    pax_len: u64,
    /// A `size` from a PAX header, for the next member.
    next_size: Option<u64>,
    /// Past the end-of-archive marker: everything passes.
    ended: bool,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R) -> (TarGuard<R>, Refusal) {
        let refusal = Refusal::default();
        let guard = TarGuard {
            inner,
            refusal: refusal.clone(),
            header: Vec::with_capacity(BLOCK as usize),
            data_left: 0,
            pax: None,
            pax_len: 0,
            next_size: None,
            ended: false,
        };
        (guard, refusal)
    }

    fn refuse(&self, why: String) -> io::Error {
        *self.refusal.borrow_mut() = Some(why.clone());
        io::Error::new(io::ErrorKind::InvalidData, why)
    }

    /// Looks at one complete header block.
    fn on_header(&mut self) -> io::Result<()> {
        let h = &self.header;
        if h.iter().all(|&b| b == 0) {
            // An end-of-archive marker (or the first of its two blocks);
            // tar stops here and so does the guard's bookkeeping.
            self.ended = true;
            return Ok(());
        }
        let kind = h[156];
        let meta = matches!(kind, b'x' | b'g' | b'L' | b'K');
        let pax_size = if meta { None } else { self.next_size.take() };
        let size = match pax_size {
            Some(s) => s,
            None => parse_size(&h[124..136])
                .ok_or_else(|| self.refuse("a tar header has an unreadable size field".into()))?,
        };
        let what = match kind {
            b'x' | b'g' => Some("a PAX extended header"),
            b'L' => Some("a GNU long name"),
            b'K' => Some("a GNU long link name"),
            _ => None,
        };
        if let Some(what) = what {
            if size > MAX_META {
                return Err(self.refuse(format!(
                    "{what} of {size} bytes (more than {MAX_META}): a hostile layer's way to exhaust memory"
                )));
            }
        }
        if kind == b'S' {
            return Err(self.refuse(
                "a GNU sparse member: its holes would be written out as zeros, so rd does not accept sparse members".into(),
            ));
        }
        if kind == b'x' {
            self.pax = Some(Vec::with_capacity(size as usize));
            self.pax_len = size;
        }
        self.data_left = size.div_ceil(BLOCK) * BLOCK;
        if self.data_left == 0 {
            self.on_data_end()?;
        }
        Ok(())
    }

    /// A member's data has passed: a PAX header's records are read now.
    fn on_data_end(&mut self) -> io::Result<()> {
        let Some(mut pax) = self.pax.take() else {
            return Ok(());
        };
        pax.truncate(self.pax_len as usize);
        for (key, value) in pax_records(&pax) {
            if key.starts_with(b"GNU.sparse.") {
                return Err(self.refuse(
                    "a PAX sparse member (GNU.sparse.*): rd does not accept sparse members".into(),
                ));
            }
            if key == b"size" {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| self.refuse("a PAX size record is not a number".into()))?;
                self.next_size = Some(size);
            }
        }
        Ok(())
    }

    /// Accounts for `buf`, just read from the stream.
    fn watch(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() && !self.ended {
            if self.data_left > 0 {
                let n = (self.data_left.min(buf.len() as u64)) as usize;
                if let Some(pax) = &mut self.pax {
                    pax.extend_from_slice(&buf[..n]);
                }
                self.data_left -= n as u64;
                buf = &buf[n..];
                if self.data_left == 0 {
                    self.on_data_end()?;
                }
            } else {
                let n = (BLOCK as usize - self.header.len()).min(buf.len());
                self.header.extend_from_slice(&buf[..n]);
                buf = &buf[n..];
                if self.header.len() == BLOCK as usize {
                    let r = self.on_header();
                    self.header.clear();
                    r?;
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.watch(&buf[..n])?;
        Ok(n)
    }
}

/// A tar numeric field: octal digits (spaces and NULs around them), or
/// GNU's base-256 (the first byte's high bit set) for large values.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == 0)
        .take_while(|&b| b != b' ' && b != 0)
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// PAX records: "LENGTH KEY=VALUE\n", LENGTH counting the whole record.
fn pax_records(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    while let Some(space) = data.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if len <= space + 1 || len > data.len() {
            break;
        }
        let record = &data[space + 1..len - 1]; // without the newline
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        data = &data[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    fn pass(bytes: &[u8]) -> Result<u64, String> {
        let (mut g, refusal) = TarGuard::new(bytes);
        // Small reads, so headers straddle read boundaries.
        let mut buf = [0u8; 77];
        let mut total = 0;
        loop {
            match g.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(_) => return Err(refusal.borrow().clone().unwrap_or_default()),
            }
        }
    }

    #[test]
    fn big_meta_headers_are_refused_before_they_are_read() {
        for kind in [b'x', b'g', b'L', b'K'] {
            let mut ar = header("././@LongLink", kind, (1 << 30) + 1);
            ar.extend_from_slice(&[b'a'; 4096]);
            let e = pass(&ar).unwrap_err();
            assert!(e.contains("more than 1048576"), "{e}");
        }
        // At the cap, fine.
        let mut ar = header("long", b'L', 600);
        ar.extend_from_slice(&[b'a'; 1024]);
        ar.extend_from_slice(&header("f", b'0', 3));
        ar.extend_from_slice(&[b'x'; 512]);
        ar.extend_from_slice(&[0; 1024]);
        assert_eq!(pass(&ar).unwrap(), ar.len() as u64);
    }

    #[test]
    fn sparse_members_are_refused() {
        let ar = header("sparse", b'S', 10);
        assert!(pass(&ar).unwrap_err().contains("sparse"));
        let rec = b"22 GNU.sparse.major=1\n".to_vec();
        let mut ar = header("pax", b'x', rec.len() as u64);
        ar.extend_from_slice(&rec);
        ar.resize(1024, 0);
        assert!(pass(&ar).unwrap_err().contains("GNU.sparse"));
    }

    #[test]
    fn pax_size_keeps_the_guard_in_step() {
        // A PAX size of 1024 for a member whose ustar size says 0: the
        // 1024 bytes after it are data (which happen to look like a huge
        // long-name header), not a header.
        let rec = b"13 size=1024\n".to_vec();
        let mut ar = header("pax", b'x', rec.len() as u64);
        ar.extend_from_slice(&rec);
        ar.resize(1024, 0);
        ar.extend_from_slice(&header("f", b'0', 0));
        ar.extend_from_slice(&header("fake", b'L', 1 << 40));
        ar.extend_from_slice(&[b'z'; 512]);
        ar.extend_from_slice(&[0; 1024]);
        assert_eq!(pass(&ar).unwrap(), ar.len() as u64);
    }

    /// The attack with the guard switched off: the tar crate alone holds a
    /// whole PAX header in memory before the member it describes.
    #[test]
    fn without_the_guard_tar_buffers_the_whole_header() {
        // One record, "LEN comment=aaaa…\n", of 8 MiB.
        let value = vec![b'a'; 8 << 20];
        let body = |len: usize| {
            let mut r = format!("{len} comment=").into_bytes();
            r.extend_from_slice(&value);
            r.push(b'\n');
            r
        };
        let mut len = body(0).len();
        while body(len).len() != len {
            len = body(len).len();
        }
        let record = body(len);
        let mut ar = header("pax", b'x', record.len() as u64);
        ar.extend_from_slice(&record);
        ar.resize(ar.len().div_ceil(512) * 512, 0);
        ar.extend_from_slice(&header("f", b'0', 0));
        ar.extend_from_slice(&[0; 1024]);

        let mut plain = tar::Archive::new(&ar[..]);
        let mut entries = plain.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        let held: usize = entry
            .pax_extensions()
            .unwrap()
            .expect("a PAX header")
            .map(|e| e.unwrap().value_bytes().len())
            .sum();
        assert_eq!(held, 8 << 20, "tar holds the whole header in memory");
        let e = pass(&ar).unwrap_err();
        assert!(e.contains("more than 1048576"), "{e}");
    }

    /// The attack with the guard switched off: read as the extractor reads
    /// a member (its `Read`), a sparse member's holes come out as zeros, to
    /// be written to disk, 7 GiB of them for the 7 GiB file of tests/escape.rs.
    #[test]
    fn without_the_guard_holes_come_out_as_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let holes = dir.path().join("holes");
        std::fs::File::create(&holes)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        let tar_file = dir.path().join("sparse.tar");
        let ok = std::process::Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .args(["--sparse", "--format=gnu", "-cf"])
            .arg(&tar_file)
            .arg("holes")
            .status()
            .unwrap();
        assert!(ok.success());
        let bytes = std::fs::read(&tar_file).unwrap();
        assert!(bytes.len() < 1 << 20, "the archive itself is small");
        let mut plain = tar::Archive::new(&bytes[..]);
        let mut entry = plain.entries().unwrap().next().unwrap().unwrap();
        let zeros = io::copy(&mut entry, &mut io::sink()).unwrap();
        assert_eq!(zeros, 64 << 20);
        assert!(pass(&bytes).unwrap_err().contains("sparse"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        assert_eq!(parse_size(b"     1750 \0\0"), Some(1000));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[11] = 2;
        b256[10] = 1;
        assert_eq!(parse_size(&b256), Some(258));
    }
}

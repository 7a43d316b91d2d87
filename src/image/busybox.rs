//! The default image, built on first use from the host's static busybox
//! (Debian's busybox-static) and the files in `images/busybox/`.

use std::io::Read;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::ImageConfig;

pub const NAME: &str = "busybox";
pub const BUSYBOX: &str = "/bin/busybox";
pub const SOURCE: &str = "builtin: /bin/busybox (busybox-static) + images/busybox";

/// Files embedded from images/busybox/ at compile time.
const FILES: [(&str, &str, u32); 4] = [
    (
        "etc/passwd",
        include_str!("../../images/busybox/etc/passwd"),
        0o644,
    ),
    (
        "etc/group",
        include_str!("../../images/busybox/etc/group"),
        0o644,
    ),
    (
        "etc/hosts",
        include_str!("../../images/busybox/etc/hosts"),
        0o644,
    ),
    (
        "etc/os-release",
        include_str!("../../images/busybox/etc/os-release"),
        0o644,
    ),
];

/// (dir, mode): the skeleton every Unix program expects.
const DIRS: [(&str, u32); 13] = [
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("home", 0o755),
    ("var", 0o755),
];

pub fn config() -> ImageConfig {
    ImageConfig {
        env: vec![format!("PATH={}", crate::birth::exec::DEFAULT_PATH)],
        cmd: Some(vec!["/bin/sh".into()]),
        ..ImageConfig::default()
    }
}

/// A static binary has no PT_INTERP program header (no ELF interpreter,
/// ld-linux.so, to load its libraries). See elf(5).
fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(|b: [u8; 8]| u64::from_le_bytes(b) as usize)
    };
    if bytes.get(0..5) != Some(b"\x7fELF\x02") {
        return false; // not a 64-bit ELF
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != PT_INTERP)
            .unwrap_or(false)
    })
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0); // fixed: the same busybox gives the same layer digest
    h.set_size(size);
    h
}

/// The image as a tar stream, to be stored like any imported archive.
pub fn tarball() -> Result<Vec<u8>> {
    let mut binary = Vec::new();
    std::fs::File::open(BUSYBOX)
        .and_then(|mut f| f.read_to_end(&mut binary))
        .with_context(|| format!("the default image is built from {BUSYBOX} (Debian's busybox-static), which is missing: run scripts/setup.sh or 'apt-get install busybox-static'"))?;
    if !is_static_elf(&binary) {
        bail!("{BUSYBOX} is dynamically linked, so it cannot run in an image without a C library: install Debian's busybox-static (apt-get install busybox-static)");
    }
    let list = Command::new(BUSYBOX)
        .arg("--list-full")
        .output()
        .with_context(|| format!("running {BUSYBOX} --list-full"))?;
    let applets = String::from_utf8_lossy(&list.stdout).to_string();

    let mut tar = tar::Builder::new(Vec::new());
    for (dir, mode) in DIRS {
        tar.append_data(
            &mut header(tar::EntryType::Directory, mode, 0),
            dir,
            std::io::empty(),
        )?;
    }
    tar.append_data(
        &mut header(tar::EntryType::Regular, 0o755, binary.len() as u64),
        "bin/busybox",
        binary.as_slice(),
    )?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "bin/busybox")
    {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut h, applet, "/bin/busybox")?;
    }
    for (path, text, mode) in FILES {
        tar.append_data(
            &mut header(tar::EntryType::Regular, mode, text.len() as u64),
            path,
            text.as_bytes(),
        )?;
    }
    let mut hdr = header(tar::EntryType::Directory, 0o755, 0);
    hdr.set_uid(1000);
    hdr.set_gid(1000);
    tar.append_data(&mut hdr, "home/student", std::io::empty())?;
    Ok(tar.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic() {
        if let Ok(b) = std::fs::read(BUSYBOX) {
            assert!(is_static_elf(&b), "{BUSYBOX} should be busybox-static");
        }
        if let Ok(b) = std::fs::read("/bin/ls") {
            assert!(!is_static_elf(&b), "/bin/ls is dynamically linked");
        }
        assert!(!is_static_elf(b"not an elf"));
    }
}

//! Volumes: host directories and files, named volumes and tmpfs, mounted
//! into the container's root; and `--read-only` for the root itself.
//! See mount(2) (MS_BIND), mount_setattr(2), tmpfs(5).
//!
//! A volume is a bind mount: the same directory seen at a second place,
//! not a copy. Two pitfalls shape this module:
//! * **The target is the image's path.** `-v /srv:/data` where the image's
//!   `/data` is a symlink to `/` must not mount over the host's `/`: each
//!   component of the target is created or opened inside the rootfs with no
//!   symlink followed ([`crate::inroot`]), and mounted through that descriptor.
//! * **Read-only is a second step.** mount(2) ignores MS_RDONLY on the bind
//!   itself; the classic remount (MS_REMOUNT|MS_BIND|MS_RDONLY) changes only
//!   the top mount, and drops the flags it does not repeat (nosuid, nodev…).
//!   mount_setattr(2) with AT_RECURSIVE sets MOUNT_ATTR_RDONLY on the whole
//!   tree and leaves every other flag as it was.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::MsFlags;

use crate::state::{private_dir_all, StateRoot};
use crate::syscall::{Place, Step, Syscall};

/// Where a volume's files come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `-v /host/path:/ctr` (must exist: see [`parse`]).
    Host(PathBuf),
    /// `-v NAME:/ctr`: `<root>/volumes/NAME/_data`, kept across containers.
    Named(String),
}

/// One `-v SOURCE:TARGET[:ro|rw]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub source: Source,
    pub target: PathBuf,
    pub read_only: bool,
}

/// One `--tmpfs PATH[:OPTIONS]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tmpfs {
    pub target: PathBuf,
    pub flags: MsFlags,
    /// size=, mode=, uid=, gid=, nr_inodes= as tmpfs takes them.
    pub data: String,
}

/// A path inside the container: absolute, no `..`, not `/` itself.
fn container_path(text: &str, what: &str) -> Result<PathBuf, String> {
    let p = Path::new(text);
    let ok = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && p.components().count() > 1;
    if ok {
        Ok(p.to_path_buf())
    } else {
        Err(format!(
            "{what} '{text}' must be an absolute path inside the container, without '..', and not / itself"
        ))
    }
}

/// Parses `-v SOURCE:TARGET[:ro|rw]`. SOURCE is an absolute host path or
/// a volume name (docker's name rule).
pub fn parse(text: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => {
            return Err(format!(
                "-v '{text}': use HOSTPATH:CTRPATH[:ro] or NAME:CTRPATH[:ro]"
            ))
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("-v '{text}': '{m}' is not ro or rw")),
    };
    let source = if source.starts_with('/') {
        Source::Host(PathBuf::from(source))
    } else if crate::lifecycle::names::validate(source).is_ok() {
        Source::Named(source.to_string())
    } else {
        return Err(format!(
            "-v '{text}': '{source}' is neither an absolute host path nor a volume name (letters, digits, '_', '.', '-')"
        ));
    };
    Ok(Volume {
        source,
        target: container_path(target, "-v target")?,
        read_only,
    })
}

/// Parses `--tmpfs PATH[:OPTIONS]`: docker's default is
/// rw,nosuid,nodev,noexec; `exec`, `ro`, `size=64m`, `mode=1777`, `uid=`,
/// `gid=`, `nr_inodes=` are understood.
pub fn parse_tmpfs(text: &str) -> Result<Tmpfs, String> {
    let (path, opts) = text.split_once(':').unwrap_or((text, ""));
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut data = Vec::new();
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            None => match opt {
                "ro" => flags |= MsFlags::MS_RDONLY,
                "rw" => flags -= MsFlags::MS_RDONLY,
                "exec" => flags -= MsFlags::MS_NOEXEC,
                "noexec" => flags |= MsFlags::MS_NOEXEC,
                _ => return Err(format!("--tmpfs '{text}': unknown option '{opt}'")),
            },
            Some(("size" | "mode" | "uid" | "gid" | "nr_inodes", v))
                if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                data.push(opt.to_string())
            }
            Some(_) => return Err(format!("--tmpfs '{text}': unknown option '{opt}'")),
        }
    }
    Ok(Tmpfs {
        target: container_path(path, "--tmpfs")?,
        flags,
        data: data.join(","),
    })
}

/// Where named volumes live: `<root>/volumes/<name>/_data`.
pub fn named_dir(state: &StateRoot, name: &str) -> PathBuf {
    state.root.join("volumes").join(name).join("_data")
}

/// The named volumes under the state root.
pub fn list_named(state: &StateRoot) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.root.join("volumes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks that each host path exists, before anything is made: podman's
/// rule, not docker's (a missing host path is an error, never a directory
/// made as root by a typo).
pub fn check_sources(volumes: &[Volume]) -> Result<()> {
    for v in volumes {
        if let Source::Host(p) = &v.source {
            std::fs::metadata(p).with_context(|| {
                format!(
                    "-v {}: the host path does not exist (rd does not create it: make it first)",
                    p.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Makes the steps that mount `volumes` and `tmpfs` into `rootfs` (named
/// volumes are created on first use).
pub fn steps(
    state: &StateRoot,
    rootfs: &Path,
    volumes: &[Volume],
    tmpfs: &[Tmpfs],
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for v in volumes {
        let source = match &v.source {
            Source::Host(p) => p.clone(),
            Source::Named(name) => {
                let dir = named_dir(state, name);
                if !dir.is_dir() {
                    private_dir_all(dir.parent().unwrap_or(&dir))?;
                    std::fs::create_dir(&dir)
                        .or_else(|e| match e.kind() {
                            std::io::ErrorKind::AlreadyExists => Ok(()),
                            _ => Err(e),
                        })
                        .with_context(|| format!("creating volume {name}"))?;
                }
                dir
            }
        };
        let is_dir = source.is_dir();
        steps.extend(make_target(rootfs, &v.target, is_dir));
        let target = Place::in_root(rootfs, &v.target);
        steps.push(Step::new(
            Syscall::Mount {
                source: Some(source.display().to_string()),
                target: target.clone(),
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                data: None,
            },
            "-v: the host's directory (or file) seen at a second place, submounts and all (MS_REC)",
        ));
        if v.read_only {
            steps.push(Step::new(
                Syscall::SetReadOnly {
                    target,
                    recursive: true,
                },
                ":ro: read-only on the whole tree, nosuid/nodev/noexec kept as they were",
            ));
        }
    }
    for t in tmpfs {
        steps.extend(make_target(rootfs, &t.target, true));
        steps.push(Step::new(
            Syscall::Mount {
                source: Some("tmpfs".into()),
                target: Place::in_root(rootfs, &t.target),
                fstype: Some("tmpfs".into()),
                flags: t.flags,
                data: (!t.data.is_empty()).then(|| t.data.clone()),
            },
            "--tmpfs: memory-backed scratch space, gone with the container",
        ));
    }
    Ok(steps)
}

/// `mkdir -p` of the target inside the root, component by component, no
/// symlink followed; the last one a directory or an empty file (a file
/// can only be bound onto a file).
fn make_target(rootfs: &Path, target: &Path, dir: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut path = PathBuf::from("/");
    let parts: Vec<_> = target.components().skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let place = Place::in_root(rootfs, &path);
        if i + 1 < parts.len() || dir {
            steps.push(crate::birth::mounts::mount_point(place));
        } else {
            steps.push(Step::new(
                Syscall::CreateFile {
                    path: place,
                    mode: 0o644,
                },
                "a file is bound onto a file: an empty one where the image has none",
            ));
        }
    }
    steps
}

/// `--read-only`: the root itself, after pivot_root, not what is mounted
/// on it (/proc, /dev, volumes, /etc/hosts stay as they are).
pub fn read_only_root() -> Step {
    Step::new(
        Syscall::SetReadOnly {
            target: Place::Host(PathBuf::from("/")),
            recursive: false,
        },
        "--read-only: the container cannot change its own files (volumes and --tmpfs stay writable)",
    )
}

/// mount_setattr(2) on the mount `fd` names: MOUNT_ATTR_RDONLY set,
/// nothing cleared. (nix has no wrapper; the struct is mount_attr from
/// linux/mount.h.)
pub fn set_read_only(fd: &std::os::fd::OwnedFd, recursive: bool) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: an fd, an empty NUL-terminated path, flags, and a pointer to
    // a mount_attr that lives for the call, with its size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_forms() {
        assert_eq!(
            parse("/srv/data:/data:ro"),
            Ok(Volume {
                source: Source::Host("/srv/data".into()),
                target: "/data".into(),
                read_only: true
            })
        );
        assert_eq!(
            parse("cache:/var/cache").map(|v| v.source),
            Ok(Source::Named("cache".into()))
        );
        for bad in [
            "/a",
            "/a:/b:rx",
            "/a:relative",
            "/a:/",
            "/a:/x/../y",
            "../a:/b",
            "a b:/c",
            "/a:/b:ro:x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tmpfs_forms() {
        let t = parse_tmpfs("/run:size=64m,mode=1777,exec").unwrap();
        assert_eq!(t.data, "size=64m,mode=1777");
        assert!(!t.flags.contains(MsFlags::MS_NOEXEC));
        assert!(t.flags.contains(MsFlags::MS_NODEV));
        assert!(parse_tmpfs("/x:size=1m,uid=../0").is_err());
        assert!(parse_tmpfs("/x:bogus").is_err());
        assert!(parse_tmpfs("x").is_err());
    }
}

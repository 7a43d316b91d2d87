//! `rd run --host-root`: the host's own `/` as the container's root, seen
//! through a mode per directory, as BenchExec's container mode does.
//!
//! | mode          | what the container sees                       | how                                   |
//! |---------------|-----------------------------------------------|---------------------------------------|
//! | overlay       | the host's files; its writes vanish with it   | overlayfs, the host's dir as lowerdir |
//! | read-only     | the host's files; writes fail (EROFS)         | bind mount + mount_setattr(RDONLY)    |
//! | hidden        | an empty directory                            | a tmpfs on top                        |
//! | full-access   | the host's files; writes reach the host       | bind mount                            |
//!
//! The root is `overlay` and /tmp, /run and /home are `hidden` unless said
//! otherwise (BenchExec's defaults), and so are /root and rd's own state
//! root: the container must not read other containers' files, nor its own
//! upper layer. Outside the hidden directories, root inside reads what the
//! host's root reads (/etc/shadow among them): run an untrusted program
//! with `-u`.
//!
//! **Each host mount on its own.** overlayfs and a plain bind see one
//! filesystem: a mount below a directory does not show through either. So
//! each of the host's mount points gets the mode of its closest configured
//! ancestor and is mounted on its own, parents first. Exceptions:
//! - /proc, /sys and /dev are the container's own, as in an image run;
//! - below a hidden directory, a mount with the same mode needs nothing
//!   (the tmpfs above already hides it);
//! - overlayfs refuses some filesystems as a lower layer (9p, a FUSE mount
//!   without the right features, autofs, which would trigger its automount):
//!   those fall back to read-only, and rd says so on stderr.
//!
//! **Flags are kept.** A bind mount copies the flags of the mount it binds
//! (nosuid, nodev, noexec, the atime family); read-only is then *added* with
//! mount_setattr(2), which changes the one attribute named. A
//! `mount -o remount,bind,ro` would instead set exactly the flags it is given
//! and clear the others: EPERM in a user namespace, where they are locked,
//! and wrong anywhere. An overlay is a new mount: it gets the host mount's
//! flags (read with statvfs(2)), plus nodev (devices come from /dev only).
//!
//! **Where writes go.** The upper and work directories of every overlay live
//! on one tmpfs, mounted in the container's own mount namespace: no host
//! directory holds them, and they vanish with the namespace. (overlayfs also
//! refuses an upperdir inside its own lowerdir, which a directory on the
//! host's `/` would be.) Its pages are charged to the container's memory
//! cgroup: `--memory` bounds the writes too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;

use crate::syscall::{Place, Step, Syscall};

/// How the container sees one directory of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirMode {
    Overlay,
    ReadOnly,
    Hidden,
    FullAccess,
}

impl DirMode {
    fn flag(self) -> &'static str {
        match self {
            DirMode::Overlay => "--overlay-dir",
            DirMode::ReadOnly => "--read-only-dir",
            DirMode::Hidden => "--hidden-dir",
            DirMode::FullAccess => "--full-access-dir",
        }
    }
}

/// The configured directories and their modes: absolute, symlink-free
/// paths of the host, the most specific winning.
#[derive(Debug, Clone)]
pub struct DirModes {
    modes: Vec<(PathBuf, DirMode)>,
}

/// BenchExec's defaults: `/` through an overlay, /tmp, /run and /home
/// hidden; and /root. BenchExec runs the tool as the caller's user, to whom
/// /root is closed anyway; rd's container is root, with CAP_DAC_OVERRIDE,
/// and root's keys and history are none of its business.
const DEFAULTS: [(&str, DirMode); 5] = [
    ("/", DirMode::Overlay),
    ("/tmp", DirMode::Hidden),
    ("/run", DirMode::Hidden),
    ("/home", DirMode::Hidden),
    ("/root", DirMode::Hidden),
];

/// The container's own, whatever is configured: never taken from the host.
const OWN: [&str; 3] = ["/proc", "/sys", "/dev"];

impl DirModes {
    /// The defaults, rd's state root hidden, then what the user asked
    /// (each `(mode, dirs)`), which wins. A directory must be absolute and
    /// exist on the host; it is resolved (symlinks followed) to the path
    /// the container sees it at.
    pub fn new(asked: &[(DirMode, &[PathBuf])], state_root: &Path) -> Result<DirModes> {
        // (A default directory the host lacks hides nothing: skipped, so
        // that nothing is made for it, on the host's own / least of all.)
        let mut modes: Vec<(PathBuf, DirMode)> = DEFAULTS
            .iter()
            .filter(|(p, _)| *p == "/" || Path::new(p).is_dir())
            .map(|(p, m)| (PathBuf::from(p), *m))
            .collect();
        if let Ok(root) = state_root.canonicalize() {
            modes.push((root, DirMode::Hidden));
        }
        let mut given: Vec<(PathBuf, DirMode)> = Vec::new();
        for (mode, dirs) in asked {
            for dir in dirs.iter() {
                if !dir.is_absolute() {
                    bail!(
                        "{} {}: give an absolute path (the host's directory, as the container will see it)",
                        mode.flag(),
                        dir.display()
                    );
                }
                let resolved = dir.canonicalize().with_context(|| {
                    format!(
                        "{} {}: no such directory on the host",
                        mode.flag(),
                        dir.display()
                    )
                })?;
                if !resolved.is_dir() {
                    bail!("{} {}: not a directory", mode.flag(), dir.display());
                }
                if let Some(own) = OWN.iter().find(|o| resolved.starts_with(o)) {
                    bail!(
                        "{} {}: {own} is the container's own (as in an image run), not the host's",
                        mode.flag(),
                        dir.display()
                    );
                }
                if *mode == DirMode::Hidden && resolved == Path::new("/") {
                    bail!("--hidden-dir /: the container would have nothing to run");
                }
                if let Some((_, other)) = given.iter().find(|(p, m)| *p == resolved && m != mode) {
                    bail!(
                        "{} {} and {} {}: one mode per directory",
                        other.flag(),
                        dir.display(),
                        mode.flag(),
                        dir.display()
                    );
                }
                given.push((resolved, *mode));
            }
        }
        for (path, mode) in given {
            modes.retain(|(p, _)| *p != path);
            modes.push((path, mode));
        }
        Ok(DirModes { modes })
    }

    /// The mode of `path`: its closest configured ancestor's (itself
    /// included).
    pub fn mode_of(&self, path: &Path) -> DirMode {
        self.modes
            .iter()
            .filter(|(p, _)| path.starts_with(p))
            .max_by_key(|(p, _)| p.components().count())
            .map(|(_, m)| *m)
            .unwrap_or(DirMode::Overlay)
    }

    fn configured(&self) -> impl Iterator<Item = &Path> {
        self.modes.iter().map(|(p, _)| p.as_path())
    }
}

/// One of the host's mounts, as the caller's mount namespace has it.
#[derive(Debug, Clone)]
pub struct HostMount {
    pub point: PathBuf,
    pub fstype: String,
}

/// The caller's mounts (its mount namespace is the one the container's is
/// copied from).
pub fn host_mounts() -> Result<Vec<HostMount>> {
    let me = procfs::process::Process::myself().context("reading /proc/self")?;
    let mounts = me.mountinfo().context("reading /proc/self/mountinfo")?;
    Ok(mounts
        .into_iter()
        .map(|m| HostMount {
            point: m.mount_point,
            fstype: m.fs_type,
        })
        .collect())
}

/// What one directory of the container is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub path: PathBuf,
    pub mode: DirMode,
    /// The host's filesystem type there ("" for a configured directory
    /// that is not a mount point: it shares its parent's).
    pub fstype: String,
}

/// The directories to mount, parents first: every configured directory
/// and every host mount point, each with its mode, minus those the
/// container does not take from the host (/proc, /sys, /dev and what is
/// below them) and those a hidden ancestor already hides.
pub fn plan(modes: &DirModes, mounts: &[HostMount]) -> Vec<Point> {
    let own = |p: &Path| OWN.iter().any(|o| p.starts_with(o));
    // lxcfs's files reach the container through its /proc (rd::birth::lxcfs).
    let mounts = mounts.iter().filter(|m| m.fstype != "fuse.lxcfs");
    let mut points: Vec<Point> = Vec::new();
    let mut add = |path: &Path, fstype: &str| {
        if own(path) || points.iter().any(|p| p.path == path) {
            return;
        }
        points.push(Point {
            path: path.to_path_buf(),
            mode: modes.mode_of(path),
            fstype: fstype.to_string(),
        });
    };
    // A mount point listed twice (mounted over) is the top one: last wins.
    for m in mounts.rev() {
        add(&m.point, &m.fstype);
    }
    for dir in modes.configured() {
        add(dir, "");
    }
    points.sort_by(|a, b| {
        (a.path.components().count(), &a.path).cmp(&(b.path.components().count(), &b.path))
    });
    // Below a hidden directory only what is not hidden needs a mount.
    let hidden: Vec<PathBuf> = points
        .iter()
        .filter(|p| p.mode == DirMode::Hidden)
        .map(|p| p.path.clone())
        .collect();
    points.retain(|p| {
        let under_hidden = hidden.iter().any(|h| p.path != *h && p.path.starts_with(h));
        !(under_hidden && p.mode == DirMode::Hidden)
    });
    points
}

/// The host mount's flags that a copy must keep, from statvfs(2).
fn kept_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let mut flags = MsFlags::MS_NODEV;
    if let Ok(st) = nix::sys::statvfs::statvfs(path) {
        let f = st.flags();
        for (from, to) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(from) {
                flags |= to;
            }
        }
    }
    flags
}

/// The mode of the container's `/`. Read-only or full access, it is the
/// host's own root filesystem, bound: nothing may be made in it
/// (pivot_root::enter_in_place), and read-only is set after pivot_root
/// (volumes::read_only_root), as for `--read-only`.
pub fn root_mode(points: &[Point]) -> DirMode {
    points
        .iter()
        .find(|p| p.path == Path::new("/"))
        .map_or(DirMode::Overlay, |p| p.mode)
}

/// The steps that build the container's root at `rootfs` from the host's
/// `/`, with the overlays' upper and work directories on a tmpfs at
/// `scratch` (a directory of rd's own).
pub fn mount_rootfs(points: &[Point], rootfs: &Path, scratch: &Path) -> Vec<Step> {
    let mut steps = vec![Step::new(
        Syscall::Mount {
            source: Some("rd-host-root".into()),
            target: Place::Host(scratch.to_path_buf()),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some("mode=700".into()),
        },
        "--host-root: the overlays' writes go here, in the container's mount namespace only: they vanish with it",
    )];
    for (index, point) in points.iter().enumerate() {
        let at_root = point.path == Path::new("/");
        // The root is rootfs itself, a directory of rd's own; anything else
        // is resolved inside it (a host symlink cannot lead it elsewhere).
        let target = if at_root {
            Place::Host(rootfs.to_path_buf())
        } else {
            Place::in_root(rootfs, &point.path)
        };
        if !at_root {
            // Under a hidden parent the directory does not exist yet.
            steps.push(Step::new(
                Syscall::Mkdir {
                    path: target.clone(),
                    mode: 0o755,
                },
                "the mount point (a directory the host has; inside a hidden one, made anew)",
            ));
        }
        let mode = if point.fstype == "autofs" && point.mode == DirMode::Overlay {
            eprintln!(
                "rd: --host-root: {} is an autofs mount: read-only instead of an overlay (which would trigger its automount)",
                point.path.display()
            );
            DirMode::ReadOnly
        } else {
            point.mode
        };
        match mode {
            DirMode::Hidden => steps.push(Step::new(
                Syscall::Mount {
                    source: Some("rd-hidden".into()),
                    target,
                    fstype: Some("tmpfs".into()),
                    flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    data: Some("mode=755".into()),
                },
                "hidden: an empty directory over the host's (--hidden-dir)",
            )),
            DirMode::Overlay => {
                // Named by the point's place in the plan: short, unique.
                let name = index.to_string();
                let (upper, work) = (
                    scratch.join("upper").join(&name),
                    scratch.join("work").join(&name),
                );
                steps.push(Step::new(
                    Syscall::HostOverlay {
                        lower: point.path.clone(),
                        upper,
                        work,
                        target,
                        flags: kept_flags(&point.path),
                    },
                    "overlay: the host's files, this container's writes on the scratch tmpfs (--overlay-dir)",
                ));
            }
            DirMode::ReadOnly | DirMode::FullAccess => {
                steps.push(Step::new(
                    Syscall::Mount {
                        source: Some(point.path.display().to_string()),
                        target: target.clone(),
                        fstype: None,
                        flags: MsFlags::MS_BIND,
                        data: None,
                    },
                    if mode == DirMode::ReadOnly {
                        "read-only: the host's directory, bound (the bind keeps its nosuid, nodev, noexec)"
                    } else {
                        "full access: the host's directory itself, writes and all (--full-access-dir)"
                    },
                ));
                // A read-only `/` is made so after pivot_root (root_mode).
                if mode == DirMode::ReadOnly && !at_root {
                    steps.push(Step::new(
                        Syscall::SetReadOnly {
                            target,
                            recursive: false,
                        },
                        "…then read-only, every other flag left as the host has it (a remount would reset them)",
                    ));
                }
            }
        }
    }
    steps
}

/// Mounts the overlay of host directory `lower` on `target`; where
/// overlayfs will not have `lower`'s filesystem as a lower layer, binds it
/// read-only instead and says so. (Run by Syscall::HostOverlay.)
pub fn overlay_or_read_only(
    lower: &Path,
    upper: &Path,
    work: &Path,
    target: &Place,
    flags: MsFlags,
) -> nix::Result<()> {
    use crate::inroot;
    for dir in [upper, work] {
        std::fs::create_dir_all(dir)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(nix::libc::EIO)))?;
    }
    // mount(2) takes a path: a place inside the root goes through its
    // descriptor, which must stay open until the mount is made.
    let (target_path, _held) = match target {
        Place::Host(p) => (p.clone(), None),
        Place::InRoot { .. } => {
            let fd = target.open()?;
            (PathBuf::from(inroot::fd_path(&fd)), Some(fd))
        }
    };
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let unsafe_char = crate::birth::overlay::unsafe_path_char(lower);
    let refused = match unsafe_char {
        Some(c) => format!("its path holds '{c}', which overlayfs options cannot"),
        None => match nix::mount::mount(
            Some("overlay"),
            &target_path,
            Some("overlay"),
            flags,
            Some(options.as_str()),
        ) {
            Ok(()) => return Ok(()),
            Err(e) => e.desc().to_string(),
        },
    };
    eprintln!(
        "rd: --host-root: overlayfs will not take {} as a lower layer ({refused}): read-only instead",
        lower.display()
    );
    nix::mount::mount(
        Some(lower),
        &target_path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    // The bind now covers the target: open it again to reach the new mount.
    crate::birth::volumes::set_read_only(&target.open()?, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(asked: &[(DirMode, &[PathBuf])]) -> DirModes {
        DirModes::new(asked, Path::new("/nonexistent-state-root")).unwrap()
    }

    fn mount(point: &str, fstype: &str) -> HostMount {
        HostMount {
            point: point.into(),
            fstype: fstype.into(),
        }
    }

    #[test]
    fn the_most_specific_directory_wins() {
        let ro = [PathBuf::from("/usr")];
        let m = modes(&[(DirMode::ReadOnly, &ro)]);
        assert_eq!(m.mode_of(Path::new("/")), DirMode::Overlay);
        assert_eq!(m.mode_of(Path::new("/usr/lib")), DirMode::ReadOnly);
        assert_eq!(m.mode_of(Path::new("/tmp/x")), DirMode::Hidden);
        assert_eq!(m.mode_of(Path::new("/usrx")), DirMode::Overlay);
        // The user's mode for a default directory replaces the default.
        let full = [PathBuf::from("/tmp")];
        let m = modes(&[(DirMode::FullAccess, &full)]);
        assert_eq!(m.mode_of(Path::new("/tmp")), DirMode::FullAccess);
    }

    #[test]
    fn submounts_take_their_ancestors_mode_and_hidden_below_hidden_needs_nothing() {
        let m = modes(&[]);
        let mounts = [
            mount("/", "ext4"),
            mount("/boot", "vfat"),
            mount("/proc", "proc"),
            mount("/proc/sys/fs/binfmt_misc", "binfmt_misc"),
            mount("/run", "tmpfs"),
            mount("/run/user/1000", "tmpfs"),
            mount("/dev/pts", "devpts"),
        ];
        let points = plan(&m, &mounts);
        let got: Vec<(&str, DirMode)> = points
            .iter()
            .map(|p| (p.path.to_str().unwrap(), p.mode))
            .collect();
        // The hidden defaults this machine has (a missing one is skipped).
        let hidden = ["/home", "/root", "/run", "/tmp"]
            .into_iter()
            .filter(|d| Path::new(d).is_dir())
            .map(|d| (d, DirMode::Hidden));
        let want: Vec<(&str, DirMode)> = [("/", DirMode::Overlay), ("/boot", DirMode::Overlay)]
            .into_iter()
            .chain(hidden)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_visible_directory_below_a_hidden_one_is_mounted() {
        let ro = [PathBuf::from("/")];
        let mut m = modes(&[(DirMode::ReadOnly, &ro)]);
        // Below hidden ones: a full-access directory, and a host mount.
        // (Added by hand: DirModes::new would want them to exist.)
        m.modes.push(("/hid".into(), DirMode::Hidden));
        m.modes.push(("/hid/keep".into(), DirMode::FullAccess));
        let points = plan(&m, &[mount("/", "ext4"), mount("/hid/sub", "tmpfs")]);
        let mode = |path: &str| {
            points
                .iter()
                .find(|p| p.path == Path::new(path))
                .map(|p| p.mode)
        };
        assert_eq!(mode("/"), Some(DirMode::ReadOnly));
        assert_eq!(mode("/hid"), Some(DirMode::Hidden));
        assert_eq!(mode("/hid/keep"), Some(DirMode::FullAccess));
        assert_eq!(mode("/hid/sub"), None, "hidden below hidden needs nothing");
    }

    #[test]
    fn bad_directories_say_what_is_wrong() {
        let rel = [PathBuf::from("tmp")];
        let e = DirModes::new(&[(DirMode::Hidden, &rel)], Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        let missing = [PathBuf::from("/no/such/dir/here")];
        let e = DirModes::new(&[(DirMode::ReadOnly, &missing)], Path::new("/x")).unwrap_err();
        assert!(format!("{e:#}").contains("no such directory"), "{e:#}");
        let proc = [PathBuf::from("/proc")];
        let e = DirModes::new(&[(DirMode::FullAccess, &proc)], Path::new("/x")).unwrap_err();
        assert!(e.to_string().contains("container's own"), "{e}");
        let both_a = [PathBuf::from("/usr")];
        let e = DirModes::new(
            &[(DirMode::ReadOnly, &both_a), (DirMode::FullAccess, &both_a)],
            Path::new("/x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("one mode per directory"), "{e}");
    }
}

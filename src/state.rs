//! rd's state root (default /var/lib/rd, `--root` or `RD_ROOT`): everything
//! rd writes outside a container lives under it.
//!
//! ```text
//! <root>/images/<name>/<tag>.json   image records (layers + config)
//! <root>/layers/<sha256>/           unpacked layers, shared, read-only lowerdirs
//! <root>/containers/<id>/           one running container: upper/ work/ rootfs/
//! <root>/layerinfo/<sha256>.json    a layer's size
//! <root>/blobs/sha256/<hex>         pulled manifests and configs
//! <root>/locks/                     flock(2) files: the store, and each layer being added
//! <root>/tmp/                       work in progress, renamed into place when complete
//! <root>/seccomp/<sha256>.bpf       compiled seccomp programs, by their profile
//! ```

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct StateRoot {
    pub root: PathBuf,
}

impl StateRoot {
    pub fn new(root: &Path) -> StateRoot {
        StateRoot {
            root: root.to_path_buf(),
        }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// Compiled seccomp programs, by the sha256 of their profile.
    pub fn seccomp_cache(&self) -> PathBuf {
        self.root.join("seccomp")
    }
}

/// Creates `path` and its missing parents, each 0700: only root may look
/// inside rd's state. An unpacked layer holds the image's setuid-root
/// binaries with their modes; a local user who could reach one could run
/// it, as root, without ever running the image.
pub fn private_dir_all(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl StateRoot {
    /// Makes the state root if missing, and tightens an existing one that
    /// other users can enter (a root made by an older rd, or by hand):
    /// rd says so the one time it does it.
    pub fn secure(&self) -> Result<()> {
        private_dir_all(&self.root)
            .with_context(|| format!("creating the state root {}", self.root.display()))?;
        let mode = std::fs::metadata(&self.root)
            .with_context(|| format!("reading {}", self.root.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            // Only a directory that is rd's (empty, or holding rd's own
            // entries): `--root /tmp` must not turn /tmp into 0700.
            let entries: Vec<String> = std::fs::read_dir(&self.root)
                .with_context(|| format!("reading {}", self.root.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            let rds = [
                "images",
                "layers",
                "layerinfo",
                "containers",
                "blobs",
                "locks",
                "tmp",
                "seccomp",
            ];
            if !entries.is_empty() && !entries.iter().any(|e| rds.contains(&e.as_str())) {
                anyhow::bail!(
                    "the state root {} is open to other users (mode {:04o}) and holds files that are not rd's: rd will not chmod it; give --root a directory of rd's own",
                    self.root.display(),
                    mode & 0o7777
                );
            }
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("tightening {}", self.root.display()))?;
            eprintln!(
                "rd: tightened {} from {:04o} to 0700: other users could reach the setuid files of unpacked images in it",
                self.root.display(),
                mode & 0o7777
            );
        }
        Ok(())
    }
}

/// 12 random hex digits, like docker's short ids: the container's name and
/// its default hostname.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container id")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A directory removed (with everything in it) when dropped, unless kept.
/// Drop runs on success, on `?` errors and on panics alike.
#[derive(Debug)]
pub struct DirGuard {
    pub path: PathBuf,
    pub keep: bool,
}

impl DirGuard {
    pub fn new(path: PathBuf) -> DirGuard {
        DirGuard { path, keep: false }
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("rd: warning: could not remove {}: {e}", self.path.display());
            }
        }
    }
}

/// The file in a container's directory holding the pid of the rd that runs
/// it (first line), then the image layers (diff_ids, one per line) the
/// container runs on, so that `rd rmi` will not delete them under it. One
/// file, not two: each inode created is on the hot path of `rd run`.
pub const OWNER: &str = "owner";
/// Written by `rd run --keep` when the container has ended: keep me.
pub const KEPT: &str = "kept";

/// Containers whose rd is no longer running (it was SIGKILLed, or the
/// machine rebooted): their directories, and maybe cgroups, are leftovers.
/// Kept containers (`--keep`) count only when `include_kept`.
pub fn leftover_containers(state: &StateRoot, include_kept: bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.containers()) else {
        return vec![];
    };
    let mut ids = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        if dir.join(KEPT).exists() {
            if include_kept {
                ids.push(e.file_name().to_string_lossy().to_string());
            }
            continue;
        }
        // No owner file yet: an rd is creating it right now, leave it be.
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER)) else {
            continue;
        };
        if !is_running_rd(owner.lines().next().unwrap_or("").trim()) {
            ids.push(e.file_name().to_string_lossy().to_string());
        }
    }
    ids
}

/// The first live container whose image has one of `layers` (listed in
/// its `owner` file after the pid).
pub fn containers_using(state: &StateRoot, layers: &[String]) -> Option<String> {
    let entries = std::fs::read_dir(state.containers()).ok()?;
    for e in entries.flatten() {
        let Ok(owner) = std::fs::read_to_string(e.path().join(OWNER)) else {
            continue;
        };
        let mut lines = owner.lines();
        let live = is_running_rd(lines.next().unwrap_or("").trim());
        if live && lines.any(|l| layers.iter().any(|x| x == l)) {
            return Some(e.file_name().to_string_lossy().to_string());
        }
    }
    None
}

/// Is `pid` a live rd? (Not a zombie: a killed rd whose parent has not
/// reaped it yet still has a /proc entry. See proc(5), /proc/PID/stat.)
pub fn is_running_rd(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].split_whitespace().next().unwrap_or("Z");
    comm == "rd" && state != "Z" && state != "X"
}

/// A container's directories: `upper` receives its writes, `work` is
/// overlayfs's scratch space, `rootfs` is where the overlay is mounted.
#[derive(Debug)]
pub struct ContainerDirs {
    pub id: String,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub rootfs: PathBuf,
    pub guard: DirGuard,
}

impl ContainerDirs {
    /// Makes `<root>/containers/<id>` with a fresh id (mkdir(2) fails on an
    /// existing one, so two rd processes can never share an id).
    pub fn create(state: &StateRoot, layers: &[String]) -> Result<ContainerDirs> {
        let parent = state.containers();
        private_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        loop {
            let id = random_id()?;
            let dir = parent.join(&id);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
            let guard = DirGuard::new(dir.clone());
            let dirs = ContainerDirs {
                id,
                upper: dir.join("upper"),
                work: dir.join("work"),
                rootfs: dir.join("rootfs"),
                guard,
            };
            for d in [&dirs.upper, &dirs.work, &dirs.rootfs] {
                std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
            }
            let owner = dir.join(OWNER);
            let mut text = std::process::id().to_string();
            for layer in layers {
                text.push('\n');
                text.push_str(layer);
            }
            std::fs::write(&owner, text).with_context(|| format!("writing {}", owner.display()))?;
            return Ok(dirs);
        }
    }
}

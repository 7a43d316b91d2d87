//! rd's state root (default /var/lib/rd, `--root` or `RD_ROOT`): everything
//! rd writes outside a container lives under it.
//!
//! ```text
//! <root>/images/<name>/<tag>.json   image records (layers + config)
//! <root>/layers/<sha256>/           unpacked layers, shared, read-only lowerdirs
//! <root>/containers/<id>/           one container: state.json, monitor.lock, container.log,
//!                                   upper/ work/ rootfs/ (see lifecycle::record)
//! <root>/names/<name> -> <id>       container names (symlinks: created atomically, unique)
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
use nix::fcntl::{Flock, FlockArg};

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
    /// Container names: `names/<name>` is a symlink to the container's id.
    pub fn names(&self) -> PathBuf {
        self.root.join("names")
    }

    /// flock(2)s `<root>/locks/<name>.lock`, shared or exclusive, until the
    /// returned lock is dropped (closing the file releases it).
    pub fn lock(&self, name: &str, exclusive: bool) -> Result<StateLock> {
        let path = self.root.join("locks").join(format!("{name}.lock"));
        if let Some(dir) = path.parent() {
            private_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        let lock = Flock::lock(file, arg)
            .map_err(|(_, e)| e)
            .with_context(|| format!("flock({})", path.display()))?;
        Ok(StateLock { _lock: lock })
    }
}

/// An flock(2) held until dropped.
#[derive(Debug)]
pub struct StateLock {
    _lock: Flock<std::fs::File>,
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
                "names",
                "volumes",
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

/// Is `pid` a live rd? (Not a zombie: a killed rd whose parent has not
/// reaped it yet still has a /proc entry. See proc(5), /proc/PID/stat.)
/// Only for `tmp/<pid>-…` work directories of pulls and imports: a
/// container's liveness is its monitor's flock (see `lifecycle::record`).
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
/// `lock` is the monitor's flock on `monitor.lock`, held from the moment
/// the directory exists (see `lifecycle::record`).
#[derive(Debug)]
pub struct ContainerDirs {
    pub id: String,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub rootfs: PathBuf,
    pub lock: crate::lifecycle::record::MonitorLock,
    pub guard: DirGuard,
}

impl ContainerDirs {
    /// Makes `<root>/containers/<id>` with a fresh id (mkdir(2) fails on an
    /// existing one, so two rd processes can never share an id), and locks
    /// it as this rd's. Under the containers lock, shared: a reclaimer
    /// (exclusive) never sees a directory whose lock is not yet held.
    pub fn create(state: &StateRoot) -> Result<ContainerDirs> {
        let parent = state.containers();
        private_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let _creating = state.lock("containers", false)?;
        loop {
            let id = random_id()?;
            let dir = parent.join(&id);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
            }
            let guard = DirGuard::new(dir.clone());
            let lock = crate::lifecycle::record::MonitorLock::take(&dir)?;
            let dirs = ContainerDirs {
                id,
                upper: dir.join("upper"),
                work: dir.join("work"),
                rootfs: dir.join("rootfs"),
                lock,
                guard,
            };
            for d in [&dirs.upper, &dirs.work, &dirs.rootfs] {
                std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
            }
            return Ok(dirs);
        }
    }
}

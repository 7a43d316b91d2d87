//! Undoing what a level left on the host: a killed level (Ctrl-C, `kill`,
//! the OOM killer) runs no clean-up of its own, and leaves its container's
//! directory under <root>/containers and its rd-<id> cgroups.
//!
//! Each running level holds an flock(2) on <root>/containers/<id>/lock
//! (support::Container); the kernel drops it however the level ends. So a
//! container directory whose lock can be taken belongs to a level that is
//! gone, and `reclaim` removes it with its cgroups. Every level start runs
//! it, and so does `cargo run -p check -- --cleanup`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A container directory without a lock file is reclaimed only when older
/// than this: a level between its mkdir and its flock has none yet.
const UNLOCKED_GRACE: Duration = Duration::from_secs(60);

/// Removes what dead levels left in `root` (their container directories,
/// their rd-<id> cgroups); returns one line per container reclaimed.
pub fn reclaim(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("containers")) else {
        return Vec::new();
    };
    let mut done = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let id = entry.file_name().to_string_lossy().into_owned();
        // Held for the removal: a level cannot start using the directory meanwhile.
        let _lock = match std::fs::File::open(dir.join("lock")) {
            Ok(file) => match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => Some(lock),
                Err(_) => continue, // a running level holds it
            },
            Err(_) => {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() > UNLOCKED_GRACE)
                    .unwrap_or(false);
                if !old {
                    continue;
                }
                None
            }
        };
        let mut what = vec![format!("directory {}", dir.display())];
        for cgroup in cgroups_of(&id) {
            match remove_cgroup(&cgroup) {
                Ok(()) => what.push(format!("cgroup {}", cgroup.display())),
                Err(e) => what.push(format!("cgroup {} NOT removed: {e:#}", cgroup.display())),
            }
        }
        if let Err(e) = remove_tree(&dir) {
            what[0] = format!("directory {} NOT removed: {e:#}", dir.display());
        }
        done.push(format!("container {id}: {}", what.join(", ")));
    }
    done
}

/// rd-<id> in every cgroup hierarchy: /sys/fs/cgroup/rd-<id> (v2) and
/// /sys/fs/cgroup/<controller>/rd-<id> (v1).
fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let name = format!("rd-{id}");
    let root = Path::new("/sys/fs/cgroup");
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path().join(&name))
                .collect()
        })
        .unwrap_or_default();
    found.push(root.join(&name));
    found.retain(|p| p.is_dir());
    found
}

/// Removes a cgroup directory: its child cgroups first, then its processes
/// (SIGKILL to each pid in cgroup.procs: a cgroup with processes cannot be
/// removed, rmdir says EBUSY), then the directory itself. cgroupfs has no
/// files to delete: rmdir of the directory takes its control files along.
pub fn remove_cgroup(dir: &Path) -> Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&entry.path())?;
            }
        }
    }
    // Kill, try rmdir, repeat: a process may still be joining (a level's
    // child writes its pid late), and a killed one leaves the cgroup only
    // once it is fully dead, so rmdir says EBUSY for a moment.
    let procs = dir.join("cgroup.procs");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = std::fs::read_to_string(&procs).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e).with_context(|| format!("rmdir {}", dir.display())),
        }
    }
}

/// `rm -rf` that stays on one filesystem: it never descends into a
/// directory on another device, i.e. a mount point. A leaked bind mount of
/// the host's / inside a container's rootfs must not become "delete the
/// host's files". Mount points it finds are left in place, and named in
/// the error.
pub fn remove_tree(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
    };
    let mut skipped = Vec::new();
    remove_inner(path, meta.dev(), &mut skipped)?;
    if !skipped.is_empty() {
        anyhow::bail!(
            "left in place (another filesystem mounted there): {}",
            skipped.join(", ")
        );
    }
    Ok(())
}

fn remove_inner(path: &Path, dev: u64, skipped: &mut Vec<String>) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("stat {}", path.display()))?;
    if !meta.is_dir() {
        return std::fs::remove_file(path).with_context(|| format!("rm {}", path.display()));
    }
    if meta.dev() != dev {
        skipped.push(path.display().to_string());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).with_context(|| format!("ls {}", path.display()))? {
        let entry = entry.with_context(|| format!("ls {}", path.display()))?;
        remove_inner(&entry.path(), dev, skipped)?;
    }
    if skipped.iter().any(|s| Path::new(s).starts_with(path)) {
        return Ok(()); // not empty: a mount point below
    }
    std::fs::remove_dir(path).with_context(|| format!("rmdir {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_tree_removes_files_dirs_and_symlinks_without_following() {
        let base = std::env::temp_dir().join(format!("rd-check-unit-{}", std::process::id()));
        let outside = base.with_extension("outside");
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        std::fs::write(base.join("a/b/file"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, base.join("a/link")).unwrap();
        remove_tree(&base).unwrap();
        assert!(!base.exists());
        assert!(
            outside.join("keep").exists(),
            "a symlink must not be followed"
        );
        std::fs::remove_dir_all(&outside).unwrap();
        remove_tree(&base).unwrap(); // already gone: fine
    }
}

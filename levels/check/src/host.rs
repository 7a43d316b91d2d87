//! The host's state that a level can damage, and its repair.
//!
//! A container engine under construction changes the host by mistake: a
//! mount made before unshare(CLONE_NEWNS) lands in the host's mount table, a
//! cgroup not removed after the container stays in /sys/fs/cgroup, a
//! sethostname() without a UTS namespace renames the machine. The checker
//! snapshots these before and after every probe, reports what changed, and
//! undoes it, so that a failed level never leaves a host needing a reboot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};

use crate::parse::{self, Mount};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// cgroup v1 (one tree per controller, possibly with a controller-less v2
/// tree at /sys/fs/cgroup/unified: "hybrid") or v2 (one unified tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    V1,
    V2,
}

impl CgroupMode {
    /// rd's own detection (statfs of /sys/fs/cgroup): v2 when it is
    /// cgroup2; v1 and hybrid keep their limits in the v1 trees.
    pub fn detect() -> CgroupMode {
        match rd::birth::cgroups::detect_mode() {
            Some(rd::birth::cgroups::Mode::V2) => CgroupMode::V2,
            _ => CgroupMode::V1,
        }
    }

    /// The directory of cgroup rd-<id> for a controller.
    pub fn dir(self, controller: &str, id: &str) -> PathBuf {
        match self {
            CgroupMode::V2 => Path::new(CGROUP_ROOT).join(format!("rd-{id}")),
            CgroupMode::V1 => Path::new(CGROUP_ROOT)
                .join(controller)
                .join(format!("rd-{id}")),
        }
    }

    pub fn describe(self) -> &'static str {
        let unified = Path::new(CGROUP_ROOT).join("unified").is_dir();
        match self {
            CgroupMode::V2 => "cgroup v2",
            CgroupMode::V1 if unified => "cgroup v1 (hybrid: v2 at /sys/fs/cgroup/unified)",
            CgroupMode::V1 => "cgroup v1",
        }
    }
}

/// The host's mount table, as this process sees it (the checker runs in
/// the host's mount namespace). Empty if it cannot be read.
pub fn mounts() -> Vec<Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse::parse_mountinfo(&t))
        .unwrap_or_default()
}

/// Every `rd-*` directory under /sys/fs/cgroup, at depth 1 (v2, or a stray
/// directory on v1's tmpfs) and depth 2 (v1 controllers, v1's unified/).
/// Symlinks such as v1's `cpu -> cpu,cpuacct` are not followed: each
/// cgroup is found once, under its real directory.
pub fn rd_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let Ok(top) = std::fs::read_dir(CGROUP_ROOT) else {
        return found;
    };
    for entry in top.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        if entry.file_name().to_string_lossy().starts_with("rd-") {
            found.insert(path);
            continue;
        }
        let Ok(inner) = std::fs::read_dir(&path) else {
            continue;
        };
        for sub in inner.flatten() {
            let is_dir = sub.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && sub.file_name().to_string_lossy().starts_with("rd-") {
                found.insert(sub.path());
            }
        }
    }
    found
}

pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

/// Mounts in `after` and not in `before`, compared by (mount point, type,
/// source) as a multiset: a second tmpfs stacked on the same point counts.
pub fn new_mounts(before: &[Mount], after: &[Mount]) -> Vec<Mount> {
    let mut left: Vec<&Mount> = before.iter().collect();
    let mut new = Vec::new();
    for m in after {
        match left.iter().position(|b| *b == m) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => new.push(m.clone()),
        }
    }
    new
}

/// Detaches mounts, deepest first (a mount inside another must go before
/// it). MNT_DETACH (lazy) always succeeds on a mount point, even one still
/// in use: the mount leaves the table now, the kernel frees it when its
/// last user is gone. Returns what could not be unmounted.
pub fn unmount_all(mounts: &[Mount]) -> Vec<String> {
    let mut points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
    points.sort_by_key(|p| std::cmp::Reverse((p.matches('/').count(), p.len())));
    points
        .into_iter()
        .filter_map(|p| {
            // A mount point whose directory was deleted shows as "<path>//deleted".
            let path = p.strip_suffix("//deleted").unwrap_or(p);
            umount2(path, MntFlags::MNT_DETACH)
                .err()
                .map(|e| format!("umount2({path}, MNT_DETACH): {e}"))
        })
        .collect()
}

// Removing a cgroup and a tree on one filesystem: shared with the levels,
// which reclaim what a killed level left (support::cleanup).
pub use support::cleanup::{remove_cgroup, remove_tree};

#[cfg(test)]
mod tests {
    use super::*;

    fn m(point: &str, fstype: &str) -> Mount {
        Mount {
            mount_point: point.into(),
            fstype: fstype.into(),
            source: "none".into(),
            options: "rw".into(),
        }
    }

    #[test]
    fn new_mounts_is_a_multiset_difference() {
        let before = vec![m("/", "ext4"), m("/proc", "proc")];
        let after = vec![
            m("/", "ext4"),
            m("/proc", "proc"),
            m("/proc", "proc"),
            m("/mnt", "tmpfs"),
        ];
        assert_eq!(
            new_mounts(&before, &after),
            vec![m("/proc", "proc"), m("/mnt", "tmpfs")]
        );
        assert!(new_mounts(&after, &before).is_empty());
    }
}

//! A container on disk: its record, and how rd knows whether it is alive.
//!
//! ```text
//! <root>/containers/<id>/state.json     the record (below), replaced whole: temp file + rename(2)
//! <root>/containers/<id>/monitor.lock   flock(2)ed by the container's monitor for its whole life
//! <root>/containers/<id>/container.log  what a detached container writes (stdout and stderr)
//! <root>/containers/<id>/{upper,work,rootfs}
//! <root>/locks/containers.lock          shared while a container is being created, exclusive to reclaim
//! ```
//!
//! **Alive means locked.** A container is alive while its monitor holds an
//! exclusive flock on `monitor.lock`. The kernel drops a process's locks
//! when it dies, however it dies (SIGKILL, OOM, a crash), so the lock
//! cannot outlive the monitor. A pid in a file can: after the monitor
//! dies, the number goes to some other process, and a process's name is
//! whatever the process says it is (any program can call itself "rd").
//! Judge liveness by either, and one rd can delete a live container's
//! directories. (flock(2): the lock belongs to the open file description,
//! which the container's init also shares until it closes its copy.)
//!
//! **Written whole.** A reader (`rd ps` while the monitor records the
//! exit) sees the old record or the new one, never half of one: the new one
//! is written to a temporary file in the same directory, then renamed over
//! the old (rename(2) is atomic within a filesystem).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::state::StateRoot;

pub const RECORD: &str = "state.json";
pub const LOCK: &str = "monitor.lock";
pub const LOG: &str = "container.log";

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Directories, cgroup and record exist; the command has not started.
    Created,
    /// execve(2) of the command succeeded; the monitor waits for it.
    Running,
    /// It ended; `exit_code` says how.
    Exited,
}

/// One container, as `rd ps` and `rd inspect` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The command that runs (entrypoint and arguments).
    pub command: Vec<String>,
    /// RFC 3339 times, UTC.
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub status: Status,
    /// The command's status (128+N for signal N), once exited.
    pub exit_code: Option<i32>,
    /// The kernel's OOM killer ended a process in its cgroup.
    pub oom_killed: bool,
    /// The init's pid, as the host sees it (valid while running).
    pub pid: Option<i32>,
    /// The monitor's pid (for people; rd itself trusts only the lock).
    pub monitor_pid: u32,
    pub detached: bool,
    /// Removed when it ends (`--rm`, or a foreground run without --keep).
    pub auto_remove: bool,
    pub hostname: String,
    /// `--network`: none, host or container:NAME.
    #[serde(default)]
    pub network: String,
    /// Its address on the bridge, and its published ports.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub ports: Vec<String>,
    /// The named volumes it mounts (`rd volume rm` refuses them).
    #[serde(default)]
    pub volumes: Vec<String>,
    /// The image layers (diff_ids) under its overlay: `rd rmi` keeps them.
    pub layers: Vec<String>,
    /// What `rd exec` gives a new process, so it is held like the init.
    pub process: ProcessDefaults,
    /// What the run used (rd::stats), once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::stats::RunStats>,
}

/// The settings every process of the container shares, as its init got them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProcessDefaults {
    /// The image's Env then `-e`/`--env-file` (resolved: `-e KEY` took
    /// rd's value at `rd run`).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// The capabilities kept (bounding, permitted, effective).
    pub capabilities: Vec<String>,
    pub no_new_privileges: bool,
    pub privileged: bool,
    /// The compiled seccomp program's key in `<root>/seccomp/` (None:
    /// unconfined; "": a filter that could not be cached).
    pub seccomp: Option<String>,
    /// The cgroup files a process writes "0" into to join (tasks / cgroup.procs).
    pub cgroup_join: Vec<PathBuf>,
    /// `--ulimit`s: set in every process, as in the init.
    #[serde(default)]
    pub ulimits: Vec<crate::birth::rlimits::Ulimit>,
}

/// Now, as RFC 3339 (seconds), the way docker's inspect prints times.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// How long ago an RFC 3339 time was (zero if unreadable or in the future).
pub fn age(time: &str) -> std::time::Duration {
    humantime::parse_rfc3339(time)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Writes the record whole, or not at all.
pub fn write(dir: &Path, record: &Record) -> Result<()> {
    let path = dir.join(RECORD);
    let tmp = dir.join(format!(".{RECORD}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(record).context("serialising a container record")?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", path.display()))
}

pub fn read(dir: &Path) -> Result<Record> {
    let path = dir.join(RECORD);
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The monitor's lock on its container: held from the moment the
/// directory exists until the monitor is done with it.
#[derive(Debug)]
pub struct MonitorLock {
    file: Flock<File>,
}

impl MonitorLock {
    /// Creates `dir/monitor.lock` and locks it, exclusive. Never waits:
    /// only the rd that just made `dir` can be here.
    pub fn take(dir: &Path) -> Result<MonitorLock> {
        let path = dir.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let file = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .with_context(|| format!("flock({})", path.display()))?;
        Ok(MonitorLock { file })
    }

    /// Leaves the exit status in the lock file, for `rd wait` on a
    /// container that removes itself (`--rm`): the waiter holds the file
    /// open, and reads it once the lock is free, even if it is unlinked.
    pub fn leave_status(&mut self, code: i32) {
        let _ = self.file.write_all(format!("{code}\n").as_bytes());
    }
}

/// Is a monitor holding this container's lock? (A lock file that does not
/// exist has no holder.)
pub fn monitor_alive(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK)) else {
        return false;
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => false, // we got it: nobody holds it (released on drop)
        Err((_, e)) => e == nix::errno::Errno::EWOULDBLOCK,
    }
}

/// Blocks until the container's monitor is done, and returns the exit
/// status it left (None: the monitor died before recording one).
pub fn wait_for_monitor(dir: &Path) -> Result<Option<i32>> {
    let path = dir.join(LOCK);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(read(dir).ok().and_then(|r| r.exit_code));
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut file = file;
    let mut locked = loop {
        match Flock::lock(file, FlockArg::LockShared) {
            Ok(f) => break f,
            // A signal rd does not block interrupted the wait: wait again.
            Err((f, nix::errno::Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(e).with_context(|| format!("flock({})", path.display())),
        }
    };
    let mut text = String::new();
    let _ = locked.rewind();
    let _ = locked.read_to_string(&mut text);
    Ok(text.trim().parse().ok())
}

/// A container directory, its record (None: being created, or a creator
/// died before writing one) and whether its monitor is alive.
pub struct Entry {
    pub id: String,
    pub dir: PathBuf,
    pub record: Option<Record>,
    pub alive: bool,
}

/// Every container under the state root, oldest first.
pub fn list(state: &StateRoot) -> Vec<Entry> {
    let Ok(entries) = std::fs::read_dir(state.containers()) else {
        return vec![];
    };
    let mut out: Vec<Entry> = entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| {
            let dir = e.path();
            Entry {
                id: e.file_name().to_string_lossy().into_owned(),
                record: read(&dir).ok(),
                alive: monitor_alive(&dir),
                dir,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let created = |e: &Entry| e.record.as_ref().map(|r| r.created.clone());
        created(a).cmp(&created(b)).then(a.id.cmp(&b.id))
    });
    out
}

/// Is the entry a leftover: no monitor, and no end recorded? (Its monitor
/// was killed, or the machine rebooted.)
fn is_leftover(e: &Entry) -> bool {
    !e.alive && e.record.as_ref().is_none_or(|r| r.status != Status::Exited)
}

/// Removes one container that no monitor holds: cgroup, name, directory.
/// Call with the containers lock held exclusive.
pub fn remove(state: &StateRoot, e: &Entry) {
    // The record and directory stay until the cgroup is gone: they are how
    // a later rd finds it again.
    if let Err(err) = crate::birth::cgroups::remove_leftover(&e.id) {
        eprintln!("rd: warning: {err:#}");
        return;
    }
    if let Some(r) = &e.record {
        super::names::release(state, &r.name, &e.id);
    }
    let _ = std::fs::remove_dir_all(&e.dir);
}

/// Undoes what killed monitors could not: the directories, cgroups and
/// names of containers whose monitor is gone without recording an end.
/// Mounts need no undoing: they lived in the container's mount namespace,
/// which died with its last process. With `exited`, stopped containers
/// go too (`rd cleanup --exited`).
pub fn reclaim(state: &StateRoot, exited: bool) -> Result<Vec<String>> {
    if !state.containers().exists() {
        return Ok(vec![]);
    }
    let _exclusive = state.lock("containers", true)?;
    let mut ids = Vec::new();
    for e in list(state) {
        if is_leftover(&e) || (exited && !e.alive) {
            remove(state, &e);
            ids.push(e.id);
        }
    }
    Ok(ids)
}

/// The first container (running, or stopped and kept) whose image has
/// one of `layers`, and whether it runs.
pub fn containers_using(state: &StateRoot, layers: &[String]) -> Option<(String, bool)> {
    list(state).into_iter().find_map(|e| {
        let r = e.record.as_ref()?;
        let live = e.alive && r.status != Status::Exited;
        let counts = e.alive || r.status == Status::Exited;
        (counts && r.layers.iter().any(|l| layers.contains(l))).then(|| (r.name.clone(), live))
    })
}

//! One `check NN` run: the binary under test, the temp directories and
//! host markers it needs, the report, and the leak accounting around every
//! probe.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::host::{self, CgroupMode};
use crate::parse::Mount;
use crate::probe::{self, Run, Running};
use crate::report::Report;

/// Where probe roots live. Not /tmp: on this workshop's VMs mkdir on /tmp
/// is slow, and a level's overlay needs a real filesystem for upper/work.
pub const BASE: &str = "/var/tmp";

/// The file in the levels' working directory (see Session::cwd).
pub const CWD_MARKER: &str = "rd-check-host-cwd-marker";

/// Random hex, for names nobody else uses (markers, temp dirs, tmpfs
/// sources the checker looks for in the host's mount table): rd's ids.
pub fn random_tag() -> String {
    rd::state::random_id().unwrap_or_else(|_| format!("{:x}", std::process::id()))
}

/// Files on the host that a container must not see (levels 01 and 03):
/// one in /var/tmp, one in /root. Removed when the session ends.
pub struct Markers {
    pub paths: Vec<PathBuf>,
    /// What each file holds: `breakout` prints it if it escapes.
    pub content: String,
}

impl Markers {
    fn create(tag: &str) -> Markers {
        let content = format!("rd-check host marker {tag}");
        let paths = [BASE, "/root"]
            .iter()
            .filter(|dir| Path::new(dir).is_dir())
            .map(|dir| Path::new(dir).join(format!("rd-check-marker-{tag}")))
            .filter(|p| std::fs::write(p, format!("{content}\n")).is_ok())
            .collect();
        Markers { paths, content }
    }

    pub fn strings(&self) -> Vec<String> {
        self.paths.iter().map(|p| p.display().to_string()).collect()
    }
}

impl Drop for Markers {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Something a probe left on the host.
#[derive(Debug, Clone)]
pub struct Leak {
    pub kind: LeakKind,
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakKind {
    Mount,
    Cgroup,
    ContainerDir,
    Hostname,
    Cleanup,
}

pub struct Session {
    pub binary: PathBuf,
    pub timeout: Duration,
    pub cgroups: CgroupMode,
    pub tag: String,
    pub markers: Markers,
    pub report: Report,
    /// /var/tmp/rd-check-<tag>: every probe root is a directory in it.
    pub base: PathBuf,
    /// Every level runs in base/cwd, which holds the file CWD_MARKER.
    pub cwd: PathBuf,
    probes: usize,
    pub leaks: Vec<(String, Leak)>,
}

impl Session {
    pub fn new(binary: PathBuf, timeout: Duration) -> Result<Session> {
        let tag = random_tag();
        let base = Path::new(BASE).join(format!("rd-check-{tag}"));
        // 0711: others may pass through, not list. Level 14's root inside is
        // uid 100000 on the host, and its overlay mount looks up the layers
        // below here with that uid (the name holds a random tag).
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&base)
            .with_context(|| format!("mkdir {}", base.display()))?;
        // (mkdir(2) applies the umask: set the mode itself.)
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("chmod {}", base.display()))?;
        // The kernel's mount table holds resolved paths: so must the base, for
        // "is this mount under the probe's root?" to work.
        let base = base.canonicalize().unwrap_or(base);
        let cwd = base.join("cwd");
        std::fs::create_dir(&cwd).with_context(|| format!("mkdir {}", cwd.display()))?;
        std::fs::write(
            cwd.join(CWD_MARKER),
            "the level's working directory, on the host\n",
        )
        .with_context(|| format!("writing {}", cwd.join(CWD_MARKER).display()))?;
        Ok(Session {
            cwd,
            binary,
            timeout,
            cgroups: CgroupMode::detect(),
            markers: Markers::create(&tag),
            tag,
            report: Report::default(),
            base,
            probes: 0,
            leaks: Vec::new(),
        })
    }

    /// One probe: a fresh --root, the host snapshotted before and after,
    /// whatever the level left behind reported and cleaned up. `f` runs the
    /// level once or more (all in the same root) through `Probe`.
    pub fn probe<T>(&mut self, f: impl FnOnce(&mut Probe) -> T) -> (T, Vec<Leak>) {
        self.probes += 1;
        let root = self.base.join(format!("probe-{}", self.probes));
        let before_mounts = host::mounts();
        let before_cgroups = host::rd_cgroups();
        let before_hostname = host::hostname();
        let mut probe = Probe {
            root: root.clone(),
            binary: self.binary.clone(),
            timeout: self.timeout,
            tag: self.tag.clone(),
            ids: BTreeSet::new(),
            cmdlines: Vec::new(),
            conditions: probe::Conditions {
                cwd: self.cwd.clone(),
                ..Default::default()
            },
            killed_on_purpose: false,
        };
        if let Err(e) = std::fs::create_dir(&root) {
            // Still run: the level will say what it makes of a missing root.
            eprintln!("check: mkdir {}: {e}", root.display());
        }
        let value = f(&mut probe);
        let mut leaks = self.account(&probe, &before_mounts, &before_cgroups, before_hostname);
        if probe.killed_on_purpose {
            leaks.retain(|l| !matches!(l.kind, LeakKind::ContainerDir | LeakKind::Cgroup));
        }
        let label = probe.cmdlines.join("; ");
        self.leaks
            .extend(leaks.iter().map(|l| (label.clone(), l.clone())));
        (value, leaks)
    }

    /// A probe of a single run.
    pub fn run(&mut self, args: &[&str]) -> Run {
        self.probe(|p| p.run(args)).0
    }

    /// Compares the host with its state before the probe, repairs it.
    ///
    /// Other people may run containers on this host meanwhile (rd, other
    /// levels, other checkers), so only what this probe made is touched: a
    /// mount under the probe's root or carrying the probe's tag, a
    /// cgroup rd-<id> for an id this probe's runs used (seen in the root's
    /// containers/ directory while they ran, or printed by the level).
    fn account(
        &self,
        probe: &Probe,
        before_mounts: &[Mount],
        before_cgroups: &BTreeSet<PathBuf>,
        before_hostname: Option<String>,
    ) -> Vec<Leak> {
        let mut leaks = Vec::new();
        let root_str = probe.root.display().to_string();

        // Container directories: the level removes <root>/containers/<id>
        // when its container ends.
        if let Ok(entries) = std::fs::read_dir(probe.root.join("containers")) {
            for entry in entries.flatten() {
                leaks.push(Leak {
                    kind: LeakKind::ContainerDir,
                    what: format!(
                        "directory {} (not removed when the container ended)",
                        entry.path().display()
                    ),
                });
            }
        }

        let mine = |m: &Mount| probe.owns_mount(m, &root_str);
        let new: Vec<Mount> = host::new_mounts(before_mounts, &host::mounts())
            .into_iter()
            .filter(mine)
            .collect();
        for m in &new {
            leaks.push(Leak {
                kind: LeakKind::Mount,
                what: format!(
                    "mount {} on {} (source {}), now lazily unmounted",
                    m.fstype, m.mount_point, m.source
                ),
            });
        }
        for error in host::unmount_all(&new) {
            leaks.push(Leak {
                kind: LeakKind::Cleanup,
                what: error,
            });
        }

        for dir in host::rd_cgroups().difference(before_cgroups) {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let id = name.trim_start_matches("rd-");
            if !probe.ids.contains(id) {
                continue; // someone else's container
            }
            let removed = match host::remove_cgroup(dir) {
                Ok(()) => "now removed".to_string(),
                Err(e) => format!("could not remove it: {e:#}"),
            };
            leaks.push(Leak {
                kind: LeakKind::Cgroup,
                what: format!("cgroup {} ({removed})", dir.display()),
            });
        }

        let after_hostname = host::hostname();
        if after_hostname != before_hostname {
            let restored = match &before_hostname {
                Some(h) => match nix::unistd::sethostname(h) {
                    Ok(()) => "restored".to_string(),
                    Err(e) => format!("could not restore it: {e}"),
                },
                None => "unknown before".to_string(),
            };
            leaks.push(Leak {
                kind: LeakKind::Hostname,
                what: format!(
                    "the host's hostname changed from {:?} to {:?} ({restored})",
                    before_hostname.unwrap_or_default(),
                    after_hostname.unwrap_or_default()
                ),
            });
        }

        if let Err(e) = host::remove_tree(&probe.root) {
            leaks.push(Leak {
                kind: LeakKind::Cleanup,
                what: format!("removing {}: {e:#}", probe.root.display()),
            });
        }
        leaks
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = host::remove_tree(&self.base) {
            eprintln!("check: could not remove {}: {e:#}", self.base.display());
        }
    }
}

/// The running probe's view: its root, and how to run the level in it.
pub struct Probe {
    pub root: PathBuf,
    binary: PathBuf,
    timeout: Duration,
    pub tag: String,
    /// Container ids this probe's runs used.
    pub ids: BTreeSet<String>,
    cmdlines: Vec<String>,
    /// The conditions of the runs started from here on.
    pub conditions: probe::Conditions,
    /// The probe SIGKILLs the level itself: the directory and cgroups a
    /// killed level cannot remove are cleaned up, not held against it.
    pub killed_on_purpose: bool,
}

impl Probe {
    /// Runs the level to the end, stdin /dev/null.
    pub fn run(&mut self, args: &[&str]) -> Run {
        let running = self.start_with(args, false);
        self.finish(running)
    }

    /// Starts the level with a pipe as stdin: the command can wait in
    /// `read` while the checker looks at the host.
    pub fn start(&mut self, args: &[&str]) -> Running {
        self.start_with(args, true)
    }

    fn start_with(&mut self, args: &[&str], interactive: bool) -> Running {
        let args: Vec<String> = std::iter::once("run")
            .chain(args.iter().copied())
            .map(str::to_string)
            .collect();
        self.start_words(args, interactive)
    }

    /// `exec PID ARGS...` (level 12), to the end, stdin /dev/null.
    pub fn exec(&mut self, pid: nix::unistd::Pid, args: &[&str]) -> Run {
        let pid = pid.to_string();
        let words: Vec<String> = ["exec", pid.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .map(str::to_string)
            .collect();
        let running = self.start_words(words, false);
        self.finish(running)
    }

    fn start_words(&mut self, args: Vec<String>, interactive: bool) -> Running {
        probe::start(
            &self.binary,
            &self.root,
            &args,
            interactive,
            self.timeout,
            &self.conditions,
        )
    }

    pub fn finish(&mut self, running: Running) -> Run {
        let (run, ids) = running.finish();
        self.ids.extend(ids);
        self.cmdlines.push(run.cmdline.clone());
        run
    }

    /// Is this mount one of ours? Under the probe root, or a tmpfs whose
    /// source carries the session tag.
    pub fn owns_mount(&self, m: &Mount, root: &str) -> bool {
        Path::new(&m.mount_point).starts_with(root) || m.source.contains(&self.tag)
    }

    /// The ids in <root>/containers right now (the containers running).
    pub fn running_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.root.join("containers"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Mounts under this probe's root in the mount namespace of `pid` (a
    /// level run with Conditions::shared_mounts), other than the probe
    /// root's own bind mount: what propagated out of its container.
    pub fn mounts_in_namespace_of(&self, pid: nix::unistd::Pid) -> Vec<Mount> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        let root = self.root.display().to_string();
        crate::parse::parse_mountinfo(&text)
            .into_iter()
            .filter(|m| Path::new(&m.mount_point).starts_with(&root) && m.mount_point != root)
            .collect()
    }

    /// Mounts of this probe visible in the host's table right now.
    pub fn host_mounts_now(&self) -> Vec<Mount> {
        let root = self.root.display().to_string();
        host::mounts()
            .into_iter()
            .filter(|m| self.owns_mount(m, &root))
            .collect()
    }
}

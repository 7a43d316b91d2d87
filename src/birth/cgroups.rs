//! Control groups: limits on what the container's processes may use.
//! See cgroups(7) and the kernel's Documentation/admin-guide/cgroup-v2.rst
//! (v1: Documentation/admin-guide/cgroup-v1/).
//!
//! A cgroup is a directory in a cgroup filesystem; its limits are files in
//! it; a process joins by writing its pid to `cgroup.procs`. Hosts come in
//! three shapes, and rd works on all of them:
//!
//! * **v1**: one hierarchy per controller, /sys/fs/cgroup/{memory,cpu,pids}/…
//!   Files: memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.shares,
//!   cpu.cfs_quota_us + cpu.cfs_period_us, pids.max.
//! * **v2** (unified): one tree at /sys/fs/cgroup. Files: memory.max,
//!   memory.swap.max (swap only, not memory+swap), cpu.weight (1..10000,
//!   not shares), cpu.max ("QUOTA PERIOD"), pids.max.
//! * **hybrid**: v1 controllers plus a cgroup2 tree at
//!   /sys/fs/cgroup/unified that holds no resource controller. Limits live in
//!   the v1 hierarchies (crun refuses such hosts; rd uses v1 there).
//!
//! cgroups-rs does the file work for both versions; rd decides the values
//! (docker's units and conversions) and narrates each write for `--trace`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cgroups_rs::fs::cpu::CpuController;
use cgroups_rs::fs::cpuacct::CpuAcctController;
use cgroups_rs::fs::hierarchies;
use cgroups_rs::fs::memory::MemController;
use cgroups_rs::fs::pid::PidController;
use cgroups_rs::fs::{Cgroup, Controller, MaxValue};

use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::V1 => "cgroup v1",
            Mode::V2 => "cgroup v2",
            Mode::Hybrid => "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)",
        })
    }
}

/// Tells v1, v2 and hybrid apart by the filesystem type of /sys/fs/cgroup
/// (statfs(2): CGROUP2_SUPER_MAGIC means unified) and of its `unified` child.
pub fn detect_mode() -> Option<Mode> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};
    let root = statfs("/sys/fs/cgroup").ok()?;
    if root.filesystem_type() == CGROUP2_SUPER_MAGIC {
        return Some(Mode::V2);
    }
    if root.filesystem_type() != TMPFS_MAGIC {
        return None;
    }
    match statfs("/sys/fs/cgroup/unified") {
        Ok(u) if u.filesystem_type() == CGROUP2_SUPER_MAGIC => Some(Mode::Hybrid),
        _ => Some(Mode::V1),
    }
}

/// The limits a user asked for, validated, in docker's units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// --memory, bytes.
    pub memory: Option<u64>,
    /// --memory-swap: memory plus swap, bytes; `None` inside means unlimited (-1).
    pub memory_swap: Option<Option<u64>>,
    /// --cpu-shares: relative weight, 1024 is the default.
    pub cpu_shares: Option<u64>,
    /// --cpus: CPUs' worth of time per period (CFS bandwidth control).
    pub cpus: Option<f64>,
    /// --pids-limit: most processes (and threads) at once.
    pub pids: Option<u64>,
}

/// CFS period rd uses for --cpus, in microseconds (docker's, the kernel's default).
pub const CFS_PERIOD_US: u64 = 100_000;

impl Limits {
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Checks the combinations that only make sense together.
    pub fn validate(&self) -> Result<()> {
        if let Some(Some(swap)) = self.memory_swap {
            match self.memory {
                None => bail!(
                    "--memory-swap needs --memory too (it is memory plus swap, like docker's)"
                ),
                Some(mem) if swap < mem => bail!(
                    "--memory-swap ({}) must be at least --memory ({}): it counts memory plus swap",
                    human_size(swap),
                    human_size(mem)
                ),
                _ => {}
            }
        }
        Ok(())
    }

    /// CFS quota for --cpus: 1.5 CPUs = 150000 µs per 100000 µs period.
    pub fn cfs_quota_us(&self) -> Option<i64> {
        self.cpus
            .map(|c| (c * CFS_PERIOD_US as f64).round().max(1000.0) as i64)
    }
}

/// Parses docker's memory sizes: a number with an optional unit b, k, m, g
/// (powers of 1024), e.g. `512m`, `1g`, `1048576`.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t.as_str(), ""),
    };
    let mult: u64 = match unit.trim_end_matches('b') {
        "" if unit.is_empty() || unit == "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => {
            return Err(format!(
            "'{text}' is not a size: use a number with an optional unit b, k, m or g (e.g. 512m)"
        ))
        }
    };
    let n: f64 = digits.parse().map_err(|_| {
        format!(
            "'{text}' is not a size: use a number with an optional unit b, k, m or g (e.g. 512m)"
        )
    })?;
    let bytes = n * mult as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("'{text}' is not a usable size (must be positive)"));
    }
    Ok(bytes as u64)
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}b")
}

/// --memory: at least 6m, docker's floor; below it even a shell cannot start.
pub fn parse_memory(text: &str) -> std::result::Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < 6 << 20 {
        return Err(format!("'{text}' is below the minimum of 6m"));
    }
    Ok(bytes)
}

/// --memory-swap: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(text: &str) -> std::result::Result<Option<u64>, String> {
    if text.trim() == "-1" {
        return Ok(None);
    }
    parse_size(text).map(Some)
}

/// --cpus: a positive number of CPUs, at most the CPUs this machine has.
pub fn parse_cpus(text: &str) -> std::result::Result<f64, String> {
    let n: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of CPUs (e.g. 0.5 or 2)"))?;
    let online = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    if !(0.01..=online).contains(&n) {
        return Err(format!(
            "'{text}' is out of range: from 0.01 to {online:.2}, as this machine has {online} CPUs"
        ));
    }
    Ok(n)
}

/// --cpu-shares: v1's range, 2 to 262144 (1024 is a normal share).
pub fn parse_cpu_shares(text: &str) -> std::result::Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (2..=262_144).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not a share: use a whole number from 2 to 262144 (1024 is the default weight)"
        )),
    }
}

/// --pids-limit: a positive whole number.
pub fn parse_pids(text: &str) -> std::result::Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "'{text}' is not a process count: use a whole number, 1 or more"
        )),
    }
}

/// v2 has cpu.weight (1..10000, default 100) where v1 had cpu.shares
/// (2..262144, default 1024). The mapping of runc >= 1.3.2 and crun >= 1.23
/// (crun's "cgroup: use a quadratic function for cpu.weight"): in log2 space
/// a quadratic through (2, 1), (1024, 100) and (262144, 10000), so the
/// defaults match: 1024 shares are weight 100. (The old linear mapping gave
/// 1024 -> 39: a container with docker's default shares weighed less than
/// any process outside it.)
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

/// The resource controllers rd puts every container in (for the limits, and
/// for accounting: the OOM-kill counter, `--stats`). cpuacct is v1's CPU
/// time counter (v2 counts in every cgroup's cpu.stat, and has no such
/// controller: the list is filtered by what the host offers).
const CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// A container's cgroup, removed when dropped.
pub struct ContainerCgroup {
    cgroup: Cgroup,
    pub mode: Mode,
    name: String,
    tracer: Tracer,
}

impl ContainerCgroup {
    /// Creates `rd-<id>` in each controller rd uses and writes the limits,
    /// before the container's command can run.
    pub fn create(id: &str, limits: &Limits, tracer: Tracer) -> Result<Option<ContainerCgroup>> {
        let Some(mode) = detect_mode() else {
            if limits.is_empty() {
                return Ok(None); // no cgroup filesystem: run unaccounted
            }
            bail!("this host has no cgroup filesystem at /sys/fs/cgroup, so limits cannot be applied (mount one, or run without limits)");
        };
        let hier = hierarchies::auto();
        let available: Vec<String> = hier
            .subsystems()
            .iter()
            .map(|s| s.controller_name())
            .filter(|c| c != "freezer" || mode != Mode::V2) // cgroups-rs lists v2's freezer, which is not a controller
            .collect();
        for (asked, controller, flag) in [
            (limits.memory.is_some(), "memory", "--memory"),
            (
                limits.cpu_shares.is_some() || limits.cpus.is_some(),
                "cpu",
                "--cpus/--cpu-shares",
            ),
            (limits.pids.is_some(), "pids", "--pids-limit"),
        ] {
            if asked && !available.iter().any(|a| a == controller) {
                bail!(
                    "{flag} needs the {controller} controller, which this host ({mode}) does not offer (available: {})",
                    available.join(" ")
                );
            }
        }
        let mut wanted: Vec<String> = CONTROLLERS
            .iter()
            .filter(|c| available.iter().any(|a| a == *c))
            .map(|c| c.to_string())
            .collect();
        if mode == Mode::V2 && holds_processes(Path::new(hierarchies::UNIFIED_MOUNTPOINT)) {
            // cgroup v2's "no internal processes" rule: a cgroup with
            // processes of its own cannot give controllers to children.
            // Enabling cpu and pids anyway (memory is refused) would turn
            // it "domain threaded", and every child "domain invalid". This
            // happens when rd runs inside a container, whose cgroup
            // namespace root holds the container's own processes.
            if !limits.is_empty() {
                bail!(
                    "the cgroup rd starts from ({} here) holds processes, so cgroup v2 gives its children no controllers (the no-internal-processes rule) and limits cannot apply: move those processes into a leaf cgroup first (as systemd and crun do: mkdir /sys/fs/cgroup/init; for p in $(cat /sys/fs/cgroup/cgroup.procs); do echo $p > /sys/fs/cgroup/init/cgroup.procs; done), or run without limits",
                    hierarchies::UNIFIED_MOUNTPOINT
                );
            }
            // No limits: a plain child groups the container's processes,
            // and the parent's subtree_control is left as it is.
            wanted.clear();
        }
        if wanted.is_empty() && mode != Mode::V2 {
            return Ok(None);
        }
        // (On v2 a cgroup with no controller still groups processes: one
        // directory, one cgroup.procs, whatever the controllers.)
        let name = format!("rd-{id}");
        let t0 = Instant::now();
        let cgroup = Cgroup::new_with_specified_controllers(hier, &name, Some(wanted.clone()))
            .with_context(|| format!("creating cgroup {name} ({mode})"))?;
        let cg = ContainerCgroup {
            cgroup,
            mode,
            name,
            tracer,
        };
        for dir in cg.dirs() {
            tracer.note(
                format!("mkdir({dir:?}, 0755)"),
                "0",
                t0.elapsed().as_secs_f64() * 1000.0,
                "a cgroup is a directory; the kernel fills it with control files",
            );
        }
        cg.apply(limits)?;
        Ok(Some(cg))
    }

    /// The cgroup's directory in each hierarchy it lives in.
    pub fn dirs(&self) -> Vec<PathBuf> {
        if self.mode == Mode::V2 {
            return vec![Path::new(hierarchies::UNIFIED_MOUNTPOINT).join(&self.name)];
        }
        let mut dirs: Vec<PathBuf> = self
            .cgroup
            .subsystems()
            .iter()
            .map(|s| s.to_controller().path().to_path_buf())
            .collect();
        dirs.dedup();
        dirs
    }

    /// v1: each hierarchy this cgroup lives in, as (its directory under
    /// /sys/fs/cgroup, its mount options: the controllers, from
    /// /proc/self/mountinfo), for mounting the same hierarchies again.
    pub fn v1_hierarchies(&self) -> Vec<(String, String)> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut out = Vec::new();
        for dir in self.dirs() {
            let Some(mount_point) = dir.parent() else {
                continue;
            };
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let options = mountinfo.lines().find_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let point = left.split(' ').nth(4)?;
                let mut r = right.split(' ');
                (point == mount_point.to_str()? && r.next()? == "cgroup").then_some(())?;
                let super_opts = r.nth(1)?;
                let keep: Vec<&str> = super_opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro"))
                    .collect();
                Some(keep.join(","))
            });
            let (Some(options), Ok(rel)) = (
                options,
                mount_point.strip_prefix(hierarchies::UNIFIED_MOUNTPOINT),
            ) else {
                continue;
            };
            out.push((rel.display().to_string(), options));
        }
        out
    }

    fn controller<'a, T>(&'a self) -> Option<&'a T>
    where
        &'a T: From<&'a cgroups_rs::fs::Subsystem>,
        T: Controller + cgroups_rs::fs::ControllIdentifier,
    {
        self.cgroup.controller_of::<T>()
    }

    /// Narrates a write that cgroups-rs performs.
    fn write<E: fmt::Display>(
        &self,
        dir: &Path,
        file: &str,
        value: &str,
        why: &str,
        f: impl FnOnce() -> std::result::Result<(), E>,
    ) -> Result<()> {
        let path = dir.join(file);
        self.tracer
            .timed(format!("write({path:?}, {value:?})"), why, f)
            .map_err(|e| anyhow::anyhow!("writing {value} to {}: {e}", path.display()))
    }

    fn apply(&self, limits: &Limits) -> Result<()> {
        let v2 = self.mode == Mode::V2;
        if let Some(mem) = limits.memory {
            let c: &MemController = self.controller().context("no memory controller")?;
            let file = if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            self.write(
                c.path(),
                file,
                &mem.to_string(),
                "past this, the kernel reclaims, then OOM-kills inside the cgroup",
                || c.set_limit(mem as i64),
            )?;
        }
        // docker's rule: --memory without --memory-swap allows as much
        // swap again (memory plus swap = twice the limit). Without it, a
        // host with swap lets a "32m" container use 32m plus any swap.
        // Best effort: a v1 host without swap accounting has no memsw file.
        if let (Some(mem), None) = (limits.memory, limits.memory_swap) {
            let c: &MemController = self.controller().context("no memory controller")?;
            let (file, value) = if v2 {
                ("memory.swap.max", mem as i64)
            } else {
                ("memory.memsw.limit_in_bytes", mem.saturating_mul(2) as i64)
            };
            if c.path().join(file).exists() {
                self.write(
                    c.path(),
                    file,
                    &value.to_string(),
                    "docker's rule without --memory-swap: as much swap as memory",
                    || c.set_memswap_limit(value),
                )?;
            }
        }
        if let Some(swap) = limits.memory_swap {
            let c: &MemController = self.controller().context("no memory controller")?;
            // v1 limits memory+swap together; v2 limits swap alone.
            let (file, value) = match (v2, swap) {
                (_, None) => (
                    if v2 {
                        "memory.swap.max"
                    } else {
                        "memory.memsw.limit_in_bytes"
                    },
                    -1,
                ),
                (true, Some(total)) => (
                    "memory.swap.max",
                    total.saturating_sub(limits.memory.unwrap_or(0)) as i64,
                ),
                (false, Some(total)) => ("memory.memsw.limit_in_bytes", total as i64),
            };
            let shown = if value < 0 {
                "max".to_string()
            } else {
                value.to_string()
            };
            self.write(
                c.path(),
                file,
                &shown,
                "memory plus swap (v1) / swap alone (v2)",
                || c.set_memswap_limit(value),
            )?;
        }
        if let Some(shares) = limits.cpu_shares {
            let c: &CpuController = self.controller().context("no cpu controller")?;
            let (file, value) = if v2 {
                ("cpu.weight", shares_to_weight(shares))
            } else {
                ("cpu.shares", shares)
            };
            self.write(
                c.path(),
                file,
                &value.to_string(),
                "a relative weight: it matters only when CPUs are contended",
                || c.set_shares(value),
            )?;
        }
        if let Some(quota) = limits.cfs_quota_us() {
            let c: &CpuController = self.controller().context("no cpu controller")?;
            if v2 {
                let value = format!("{quota} {CFS_PERIOD_US}");
                self.write(
                    c.path(),
                    "cpu.max",
                    &value,
                    "at most QUOTA µs of CPU time per PERIOD µs: a hard cap",
                    || c.set_cfs_quota_and_period(Some(quota), Some(CFS_PERIOD_US)),
                )?;
            } else {
                self.write(
                    c.path(),
                    "cpu.cfs_period_us",
                    &CFS_PERIOD_US.to_string(),
                    "the accounting period for the quota",
                    || c.set_cfs_period(CFS_PERIOD_US),
                )?;
                self.write(
                    c.path(),
                    "cpu.cfs_quota_us",
                    &quota.to_string(),
                    "at most this many µs of CPU time per period: a hard cap",
                    || c.set_cfs_quota(quota),
                )?;
            }
        }
        if let Some(pids) = limits.pids {
            let c: &PidController = self.controller().context("no pids controller")?;
            self.write(
                c.path(),
                "pids.max",
                &pids.to_string(),
                "fork(2) fails with EAGAIN past this: a fork bomb stops here",
                || c.set_pid_max(MaxValue::Value(pids as i64)),
            )?;
        }
        Ok(())
    }

    /// The steps by which the container's init joins this cgroup, made by
    /// the child itself as its first act, before anything it does could
    /// escape the limits.
    ///
    /// Why the child moves itself, and why it writes "0" to v1's `tasks`
    /// rather than its pid to `cgroup.procs`: moving a whole process (or any
    /// process but oneself) takes the kernel's global cgroup_threadgroup_rwsem
    /// for writing, and taking it waits for an RCU grace period: 5-15 ms on
    /// an idle machine, more than everything else in a container's birth.
    /// A single thread moving itself ("0" means the caller) skips that lock
    /// (kernel/cgroup/cgroup.c, cgroup_procs_write_start), and our init has
    /// one thread, so moving it moves the process. v2 has no such file for
    /// ordinary cgroups (cgroup.threads is for threaded ones), so there the
    /// child writes "0" to cgroup.procs; clone3(CLONE_INTO_CGROUP) is v2's
    /// way to be born in the cgroup instead.
    pub fn join_steps(&self) -> Vec<Step> {
        join_steps(&self.join_files())
    }

    /// The files a process writes "0" into to join this cgroup.
    pub fn join_files(&self) -> Vec<PathBuf> {
        let file = if self.mode == Mode::V2 {
            "cgroup.procs"
        } else {
            "tasks"
        };
        self.dirs().into_iter().map(|dir| dir.join(file)).collect()
    }

    /// The container's directory in each hierarchy `--stats` reads
    /// (rd::stats::measure).
    pub fn accounting(&self) -> crate::stats::CgroupFiles {
        if self.mode == Mode::V2 {
            // One directory: cpu.stat is there with or without the cpu
            // controller enabled, the other files with theirs.
            let dir = self.dirs().into_iter().next();
            return crate::stats::CgroupFiles {
                mode: self.mode,
                cpu: dir.clone(),
                cpuacct: None,
                memory: dir.clone(),
                pids: dir,
            };
        }
        crate::stats::CgroupFiles {
            mode: self.mode,
            cpu: self
                .controller::<CpuController>()
                .map(|c| c.path().to_path_buf()),
            cpuacct: self
                .controller::<CpuAcctController>()
                .map(|c| c.path().to_path_buf()),
            memory: self
                .controller::<MemController>()
                .map(|c| c.path().to_path_buf()),
            pids: self
                .controller::<PidController>()
                .map(|c| c.path().to_path_buf()),
        }
    }

    /// How many processes the kernel's OOM killer ended in this cgroup
    /// (v1: `oom_kill` in memory.oom_control; v2: `oom_kill` in memory.events).
    pub fn oom_kills(&self) -> u64 {
        let Some(c) = self.controller::<MemController>() else {
            return 0;
        };
        let file = if self.mode == Mode::V2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(c.path().join(file))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }
}

/// The steps that join a cgroup through its files (see
/// [`ContainerCgroup::join_steps`]; `rd exec` joins with the files the
/// container's record lists).
pub fn join_steps(files: &[PathBuf]) -> Vec<Step> {
    files
        .iter()
        .map(|file| {
            Step::new(
                Syscall::WriteFile {
                    path: file.clone(),
                    value: "0".into(),
                },
                "join the cgroup (\"0\" = myself) before doing anything; children inherit it",
            )
        })
        .collect()
}

/// Whether `dir` is a non-root v2 cgroup with processes of its own (the
/// real root has no cgroup.type and is exempt from the rule).
fn holds_processes(dir: &Path) -> bool {
    dir.join("cgroup.type").exists()
        && std::fs::read_to_string(dir.join("cgroup.procs"))
            .map(|p| !p.trim().is_empty())
            .unwrap_or(false)
}

/// Removes the cgroup `rd-<id>` left by an rd that was killed (its
/// processes are gone: a PID namespace dies with its init, and the init was
/// killed with rd by PR_SET_PDEATHSIG). Returns the directories removed.
pub fn remove_leftover(id: &str) -> Result<Vec<PathBuf>> {
    if detect_mode().is_none() {
        return Ok(vec![]);
    }
    let cgroup = Cgroup::load(hierarchies::auto(), format!("rd-{id}"));
    let mut dirs: Vec<PathBuf> = cgroup
        .subsystems()
        .iter()
        .map(|s| s.to_controller().path().to_path_buf())
        .filter(|p| p.exists())
        .collect();
    let v2 = Path::new(hierarchies::UNIFIED_MOUNTPOINT).join(format!("rd-{id}"));
    if cgroup.v2() && v2.exists() {
        dirs.push(v2);
    }
    if dirs.is_empty() {
        return Ok(dirs);
    }
    // Its monitor is gone, so PR_SET_PDEATHSIG has killed the init and the
    // kernel the rest of its PID namespace; they may still be exiting.
    // Anything still listed is the dead container's: SIGKILL it, then give
    // the exits a moment before rmdir(2), which fails while one remains.
    for dir in &dirs {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match cgroup.delete() {
            Ok(()) => return Ok(dirs),
            Err(e) if Instant::now() >= deadline => {
                bail!("cannot remove the cgroup rd-{id} ({e}): a process still holds it; rd cleanup will try again")
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        // A PID namespace dies with its init, but exiting tasks may linger in
        // the cgroup an instant; cgroups-rs retries rmdir(2) on EBUSY.
        let t0 = Instant::now();
        let r = self.cgroup.delete();
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        for dir in self.dirs() {
            self.tracer.note(
                format!("rmdir({dir:?})"),
                if r.is_ok() { "0" } else { "-1" },
                took,
                "remove the cgroup: the host is left as it was",
            );
        }
        if let Err(e) = r {
            eprintln!("rd: warning: could not remove cgroup {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_docker_units() {
        assert_eq!(parse_size("32m"), Ok(32 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        for bad in ["12q", "", "m", "-5m", "1.2.3m", "0"] {
            assert!(parse_size(bad).is_err(), "{bad} accepted");
        }
        assert!(parse_memory("1m").is_err());
    }

    #[test]
    fn cpus_must_be_positive_and_available() {
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("abc").is_err());
        assert!(parse_cpus("100000").is_err());
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        let l = Limits {
            cpus: Some(0.5),
            ..Limits::default()
        };
        assert_eq!(l.cfs_quota_us(), Some(50_000));
    }

    #[test]
    fn shares_map_onto_v2_weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(512), 59);
    }

    #[test]
    fn swap_needs_memory_and_must_cover_it() {
        let l = Limits {
            memory_swap: Some(Some(64 << 20)),
            ..Limits::default()
        };
        assert!(l.validate().is_err());
        let l = Limits {
            memory: Some(128 << 20),
            memory_swap: Some(Some(64 << 20)),
            ..Limits::default()
        };
        assert!(l.validate().is_err());
    }
}

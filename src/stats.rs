//! What a run used, as the kernel counted it: `rd run --stats`.
//!
//! A grader (BenchExec) wants four things of a run: how long it took, how
//! much CPU it burnt, how much memory it held at most, and whether a limit
//! stopped it. A process's own accounting (getrusage(2), wait4(2)) misses
//! whatever its children did and were not waited for, and a container's
//! processes are reaped by its init or by the kernel when the PID namespace
//! ends. The container's cgroup misses nothing: every process the
//! container ever had was charged to it. So rd reads the cgroup's counters
//! after the init has ended and before the cgroup is removed:
//!
//! | figure        | cgroup v1                               | cgroup v2                          |
//! |---------------|-----------------------------------------|------------------------------------|
//! | CPU time      | cpuacct.usage_user, cpuacct.usage_sys   | cpu.stat user_usec, system_usec    |
//! | peak memory   | memory.max_usage_in_bytes               | memory.peak (Linux 5.19+)          |
//! | processes     | pids.peak (newer kernels)               | pids.peak (newer kernels)          |
//! | OOM kills     | memory.oom_control oom_kill             | memory.events oom_kill             |
//! | pids refusals | pids.events max                         | pids.events max                    |
//! | throttling    | cpu.stat nr_throttled, throttled_time   | cpu.stat nr_throttled, throttled_usec |
//!
//! Where a file is missing (an older kernel, a controller the host does not
//! offer), the figure comes from wait4(2)'s rusage of the init, its own and
//! its waited-for children's, and the output says so: a lower bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::birth::cgroups::{human_size, Mode};

/// The figures of one run. Times in seconds, sizes in bytes; None where
/// nothing could measure it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    pub exit_code: i32,
    pub wall_seconds: f64,
    pub cpu_user_seconds: f64,
    pub cpu_system_seconds: f64,
    /// Where the CPU times come from.
    pub cpu_source: String,
    pub peak_memory_bytes: Option<u64>,
    /// Where the peak comes from (and, if it is not the cgroup's, why).
    pub peak_memory_source: String,
    /// The most processes (and threads) alive at once.
    pub peak_processes: Option<u64>,
    pub peak_processes_source: String,
    /// Processes the kernel's OOM killer ended (the memory limit was hit).
    pub oom_kills: u64,
    /// fork(2)s refused because --pids-limit was reached.
    pub pids_limit_refusals: u64,
    /// CPU periods in which --cpus throttled the container, and how long.
    pub cpu_throttled_periods: u64,
    pub cpu_throttled_seconds: f64,
}

/// The init's own rusage from wait4(2): its times include the children it
/// waited for, its maxrss is the largest single process among them.
#[derive(Debug, Clone, Copy, Default)]
pub struct InitUsage {
    pub user: Duration,
    pub system: Duration,
    pub max_rss_bytes: u64,
}

/// A number in a cgroup file holding one (`memory.peak`), or None.
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed cgroup file (`usage_usec 1234`).
fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// The files a run's figures are read from, per controller.
pub struct CgroupFiles {
    pub mode: Mode,
    /// The container's directory in each controller's hierarchy (v2: the
    /// same directory for all); None where rd has no cgroup of that kind.
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    pub pids: Option<PathBuf>,
}

/// Reads the figures, once the container's init has ended (its zombie
/// still charged) and before its cgroup is removed.
pub fn measure(
    cgroup: Option<&CgroupFiles>,
    wall: Duration,
    init: InitUsage,
    exit_code: i32,
) -> RunStats {
    let mut s = RunStats {
        exit_code,
        wall_seconds: wall.as_secs_f64(),
        ..RunStats::default()
    };
    let v2 = cgroup.is_some_and(|c| c.mode == Mode::V2);
    // CPU time.
    let cpu = cgroup.and_then(|c| {
        if v2 {
            let stat = c.cpu.as_ref()?.join("cpu.stat");
            let user = read_key(&stat, "user_usec")?;
            let system = read_key(&stat, "system_usec")?;
            Some((user as f64 / 1e6, system as f64 / 1e6, "cpu.stat"))
        } else {
            let dir = c.cpuacct.as_ref()?;
            let user = read_number(&dir.join("cpuacct.usage_user"))?;
            let system = read_number(&dir.join("cpuacct.usage_sys"))?;
            Some((
                user as f64 / 1e9,
                system as f64 / 1e9,
                "cpuacct.usage_user/_sys",
            ))
        }
    });
    (s.cpu_user_seconds, s.cpu_system_seconds, s.cpu_source) = match cpu {
        Some((user, system, file)) => (user, system, format!("the cgroup's {file}")),
        None => (
            init.user.as_secs_f64(),
            init.system.as_secs_f64(),
            "wait4(2) of the init (no cgroup CPU accounting here): processes it did not wait for are missing".into(),
        ),
    };
    // Peak memory.
    let peak_file = if v2 {
        "memory.peak"
    } else {
        "memory.max_usage_in_bytes"
    };
    let peak = cgroup
        .and_then(|c| c.memory.as_ref())
        .and_then(|dir| read_number(&dir.join(peak_file)));
    (s.peak_memory_bytes, s.peak_memory_source) = match peak {
        Some(bytes) => (Some(bytes), format!("the cgroup's {peak_file}")),
        None => (
            Some(init.max_rss_bytes),
            format!("the largest single process's maxrss, wait4(2) (no {peak_file} here): a lower bound"),
        ),
    };
    // Processes.
    let pids_peak = cgroup
        .and_then(|c| c.pids.as_ref())
        .and_then(|dir| read_number(&dir.join("pids.peak")));
    (s.peak_processes, s.peak_processes_source) = match pids_peak {
        Some(n) => (Some(n), "the cgroup's pids.peak".into()),
        None => (
            None,
            "not measured: no pids.peak here (an older kernel, or no pids controller)".into(),
        ),
    };
    // Limits hit.
    if let Some(c) = cgroup {
        if let Some(dir) = &c.memory {
            s.oom_kills = if v2 {
                read_key(&dir.join("memory.events"), "oom_kill")
            } else {
                read_key(&dir.join("memory.oom_control"), "oom_kill")
            }
            .unwrap_or(0);
        }
        if let Some(dir) = &c.pids {
            s.pids_limit_refusals = read_key(&dir.join("pids.events"), "max").unwrap_or(0);
        }
        if let Some(dir) = &c.cpu {
            let stat = dir.join("cpu.stat");
            s.cpu_throttled_periods = read_key(&stat, "nr_throttled").unwrap_or(0);
            s.cpu_throttled_seconds = if v2 {
                read_key(&stat, "throttled_usec").unwrap_or(0) as f64 / 1e6
            } else {
                read_key(&stat, "throttled_time").unwrap_or(0) as f64 / 1e9
            };
        }
    }
    s
}

/// Writes the figures to `path` as JSON, whole (a temporary file beside
/// it, renamed: a reader never sees half of it). rd is root and the file's
/// directory may be anyone's (/tmp): the temporary file is created anew
/// (O_CREAT|O_EXCL, which never follows a symlink planted in its name),
/// and rename(2) replaces whatever `path` is, a symlink included, without
/// following it.
pub fn write_json(path: &Path, stats: &RunStats) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let text = serde_json::to_string_pretty(stats).context("encoding the stats")?;
    let name = path.file_name().context("--stats-file names no file")?;
    let partial = path.with_file_name(format!(".{}.rd-partial", name.to_string_lossy()));
    let _ = std::fs::remove_file(&partial); // a leftover, or a planted link (not followed)
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()))
        .and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("writing --stats-file {}", path.display()))
}

impl RunStats {
    /// The human-readable report, one figure a line, for stderr.
    pub fn report(&self) -> String {
        let mut out = vec![
            format!("rd: stats: exit status {}", self.exit_code),
            format!("rd: stats: wall time    {:.3} s", self.wall_seconds),
            format!(
                "rd: stats: CPU time     {:.3} s user, {:.3} s system ({})",
                self.cpu_user_seconds, self.cpu_system_seconds, self.cpu_source
            ),
        ];
        out.push(match self.peak_memory_bytes {
            Some(b) => format!(
                "rd: stats: peak memory  {} ({b} bytes; {})",
                human_size(b),
                self.peak_memory_source
            ),
            None => format!("rd: stats: peak memory  {}", self.peak_memory_source),
        });
        out.push(match self.peak_processes {
            Some(n) => format!(
                "rd: stats: processes    {n} at most at once ({})",
                self.peak_processes_source
            ),
            None => format!("rd: stats: processes    {}", self.peak_processes_source),
        });
        let mut hit = Vec::new();
        if self.oom_kills > 0 {
            hit.push(format!("memory: {} OOM kill(s)", self.oom_kills));
        }
        if self.pids_limit_refusals > 0 {
            hit.push(format!(
                "pids: {} fork(s) refused",
                self.pids_limit_refusals
            ));
        }
        if self.cpu_throttled_periods > 0 {
            hit.push(format!(
                "cpu: throttled in {} period(s), {:.3} s",
                self.cpu_throttled_periods, self.cpu_throttled_seconds
            ));
        }
        out.push(format!(
            "rd: stats: limits hit   {}",
            if hit.is_empty() {
                "none".to_string()
            } else {
                hit.join("; ")
            }
        ));
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files() {
        let dir = std::env::temp_dir().join(format!("rd-stats-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 3000000\nuser_usec 2500000\nsystem_usec 500000\nnr_throttled 4\nthrottled_usec 250000\n").unwrap();
        std::fs::write(dir.join("memory.peak"), "1048576\n").unwrap();
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(dir.join("pids.events"), "max 2\n").unwrap();
        let files = CgroupFiles {
            mode: Mode::V2,
            cpu: Some(dir.clone()),
            cpuacct: None,
            memory: Some(dir.clone()),
            pids: Some(dir.clone()),
        };
        let s = measure(
            Some(&files),
            Duration::from_millis(1500),
            InitUsage::default(),
            137,
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((s.cpu_user_seconds, s.cpu_system_seconds), (2.5, 0.5));
        assert_eq!(s.peak_memory_bytes, Some(1_048_576));
        assert_eq!(
            (s.oom_kills, s.pids_limit_refusals, s.cpu_throttled_periods),
            (1, 2, 4)
        );
        assert_eq!(s.cpu_throttled_seconds, 0.25);
        assert_eq!(s.peak_processes, None);
        let report = s.report();
        assert!(
            report.contains(
                "memory: 1 OOM kill(s); pids: 2 fork(s) refused; cpu: throttled in 4 period(s)"
            ),
            "{report}"
        );
        assert!(report.contains("no pids.peak here"), "{report}");
    }

    #[test]
    fn without_a_cgroup_the_init_s_rusage_says_so() {
        let init = InitUsage {
            user: Duration::from_millis(700),
            system: Duration::from_millis(100),
            max_rss_bytes: 4096,
        };
        let s = measure(None, Duration::from_secs(1), init, 0);
        assert_eq!((s.cpu_user_seconds, s.cpu_system_seconds), (0.7, 0.1));
        assert_eq!(s.peak_memory_bytes, Some(4096));
        assert!(s.peak_memory_source.contains("lower bound"));
        assert!(s.cpu_source.contains("wait4"));
    }
}

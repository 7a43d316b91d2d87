//! `rd doctor`: what this host gives rd, on one screen, and for each
//! problem the command that fixes it. Read-only: it changes nothing.

use std::path::Path;

use crate::birth::cgroups::{detect_mode, Mode};
use crate::state::StateRoot;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    Ok,
    /// Works, with a caveat worth knowing.
    Note,
    /// Something rd will refuse or fail at.
    Problem,
}

/// One line of the report, and the fix for a problem.
#[derive(Debug)]
pub struct Check {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

fn check(level: Level, what: &'static str, detail: String, fix: Option<&str>) -> Check {
    Check {
        level,
        what,
        detail,
        fix: fix.map(str::to_string),
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every check, in the order a container's birth needs them.
pub fn run(state: &StateRoot) -> Vec<Check> {
    let mut out = vec![kernel(), root()];
    out.extend(cgroups());
    out.push(overlayfs());
    out.push(seccomp());
    out.push(swap());
    out.push(user_namespaces());
    out.push(lxcfs());
    out.push(nftables());
    out.push(bridge_subnet());
    out.push(in_a_container());
    out.push(state_root(state));
    out
}

fn kernel() -> Check {
    let release = read("/proc/sys/kernel/osrelease").trim().to_string();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let version = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    if version >= (5, 12) {
        check(
            Level::Ok,
            "kernel",
            format!("{release} (5.12 or newer: openat2, pidfd, close_range, mount_setattr)"),
            None,
        )
    } else {
        check(
            Level::Problem,
            "kernel",
            format!("{release}: rd needs 5.12 or newer (openat2, pidfds, mount_setattr)"),
            Some("boot a newer kernel (Debian 12: 6.1; Ubuntu 22.04: 5.15)"),
        )
    }
}

fn root() -> Check {
    if nix::unistd::geteuid().is_root() {
        check(Level::Ok, "root", "rd runs as root".into(), None)
    } else {
        check(
            Level::Problem,
            "root",
            "not root: rd makes namespaces, mounts and cgroups".into(),
            Some("sudo rd doctor (rd run needs root too)"),
        )
    }
}

fn cgroups() -> Vec<Check> {
    let Some(mode) = detect_mode() else {
        return vec![check(
            Level::Problem,
            "cgroups",
            "no cgroup filesystem at /sys/fs/cgroup: --memory, --cpus, --pids-limit will be refused".into(),
            Some("mount -t cgroup2 none /sys/fs/cgroup"),
        )];
    };
    let mut out = Vec::new();
    let wanted = ["cpu", "memory", "pids"];
    if mode == Mode::V2 {
        let root = Path::new("/sys/fs/cgroup");
        let available = read("/sys/fs/cgroup/cgroup.controllers");
        let delegated = read("/sys/fs/cgroup/cgroup.subtree_control");
        out.push(check(
            Level::Ok,
            "cgroups",
            format!(
                "v2 (unified); controllers: {}; enabled for children: {}",
                available.trim(),
                delegated.trim()
            ),
            None,
        ));
        for c in wanted {
            if !available.split_whitespace().any(|a| a == c) {
                out.push(check(
                    Level::Problem,
                    "cgroups",
                    format!("the {c} controller is not available here: its limits will be refused"),
                    Some("on systemd: Delegate=yes for rd's unit, or run rd from a root shell"),
                ));
            } else if !delegated.split_whitespace().any(|a| a == c) {
                out.push(check(
                    Level::Note,
                    "cgroups",
                    format!(
                        "{c} is not enabled for children yet: rd enables it when a limit needs it"
                    ),
                    None,
                ));
            }
        }
        let holds = root.join("cgroup.type").exists()
            && !read("/sys/fs/cgroup/cgroup.procs").trim().is_empty();
        if holds {
            out.push(check(
                Level::Problem,
                "cgroups",
                "this cgroup namespace's root holds processes (rd in a container?): v2 gives its children no controllers, so limits are refused".into(),
                Some("mkdir /sys/fs/cgroup/init; for p in $(cat /sys/fs/cgroup/cgroup.procs); do echo $p > /sys/fs/cgroup/init/cgroup.procs; done"),
            ));
        }
    } else {
        let hierarchies: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|c| Path::new("/sys/fs/cgroup").join(c).exists())
            .collect();
        out.push(check(
            Level::Ok,
            "cgroups",
            format!("{mode}; v1 hierarchies for {}", hierarchies.join(" ")),
            None,
        ));
        for c in wanted.iter().filter(|c| !hierarchies.contains(c)) {
            out.push(check(
                Level::Problem,
                "cgroups",
                format!("no v1 {c} hierarchy: its limits will be refused"),
                Some("mount -t cgroup -o CONTROLLER cgroup /sys/fs/cgroup/CONTROLLER"),
            ));
        }
    }
    out
}

fn overlayfs() -> Check {
    if read("/proc/filesystems")
        .split_whitespace()
        .any(|f| f == "overlay")
    {
        check(Level::Ok, "overlayfs", "available".into(), None)
    } else {
        check(
            Level::Problem,
            "overlayfs",
            "not loaded: every rd run will fail".into(),
            Some("modprobe overlay"),
        )
    }
}

fn seccomp() -> Check {
    let has = read("/proc/self/status")
        .lines()
        .any(|l| l.starts_with("Seccomp:"));
    let lib = libseccomp::ScmpVersion::current()
        .map(|v| format!("libseccomp {}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "libseccomp ?".into());
    if has {
        check(
            Level::Ok,
            "seccomp",
            format!("filters available; {lib}"),
            None,
        )
    } else {
        check(
            Level::Problem,
            "seccomp",
            "this kernel has no seccomp: the default filter cannot load".into(),
            Some("a kernel with CONFIG_SECCOMP_FILTER (every distribution's has)"),
        )
    }
}

fn swap() -> Check {
    let kib: u64 = read("/proc/swaps")
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum();
    if kib == 0 {
        check(
            Level::Ok,
            "swap",
            "none: --memory is the whole limit".into(),
            None,
        )
    } else {
        check(
            Level::Note,
            "swap",
            format!("{} MiB: docker's rule applies, --memory M allows M of swap too (--memory-swap sets it)", kib / 1024),
            None,
        )
    }
}

fn user_namespaces() -> Check {
    let max = read("/proc/sys/user/max_user_namespaces")
        .trim()
        .parse::<u64>()
        .unwrap_or(0);
    check(
        Level::Ok,
        "user namespaces",
        if max > 0 {
            format!("available (max {max}); rd does not use them yet: root inside is root outside")
        } else {
            "disabled (rd does not use them yet)".into()
        },
        None,
    )
}

fn lxcfs() -> Check {
    match crate::birth::lxcfs::find() {
        Some(dir) => check(
            Level::Ok,
            "lxcfs",
            format!(
                "running at {}: a container's /proc/meminfo, uptime, cpuinfo... are its own",
                dir.display()
            ),
            None,
        ),
        None => check(
            Level::Note,
            "lxcfs",
            "not running, so not used: inside, free and uptime show the host's memory and uptime"
                .into(),
            Some(
                "apt install lxcfs, then start it (systemctl start lxcfs, or lxcfs /var/lib/lxcfs)",
            ),
        ),
    }
}

fn nftables() -> Check {
    let found = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match found {
        Some(v) => check(
            Level::Ok,
            "nftables",
            format!("{v} (NAT and -p for --network bridge)"),
            None,
        ),
        None => check(
            Level::Problem,
            "nftables",
            "nft not found: --network bridge, the default, will fail (none and host work)".into(),
            Some("apt-get install nftables"),
        ),
    }
}

fn bridge_subnet() -> Check {
    match crate::birth::bridge::Subnet::from_env()
        .and_then(|s| crate::birth::bridge::check_routes(&s).map(|()| s))
    {
        Ok(s) => check(Level::Ok, "bridge", format!("{} on {s}", crate::birth::bridge::BRIDGE), None),
        Err(e) => check(
            Level::Problem,
            "bridge",
            format!("{e:#}"),
            Some("RD_BRIDGE_SUBNET=10.77.0.0/16 rd run ... (any private range the host does not route)"),
        ),
    }
}

fn in_a_container() -> Check {
    let marker = ["/.dockerenv", "/run/.containerenv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_string)
        .or_else(|| {
            read("/proc/1/environ")
                .split('\0')
                .find_map(|e| e.strip_prefix("container="))
                .map(|c| format!("container={c}"))
        });
    match marker {
        Some(m) => check(
            Level::Note,
            "host",
            format!("rd runs inside a container ({m}): it needs that container's privileges, and its cgroup"),
            None,
        ),
        None => check(Level::Ok, "host", "not inside a container, as far as rd can tell".into(), None),
    }
}

fn state_root(state: &StateRoot) -> Check {
    let mut dir = state.root.as_path();
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
    match nix::sys::statvfs::statvfs(dir) {
        Ok(st) => {
            let free = st.blocks_available().saturating_mul(st.fragment_size());
            let gib = free as f64 / (1u64 << 30) as f64;
            let detail = format!("{} ({gib:.1} GiB free)", state.root.display());
            if free < 1 << 30 {
                check(
                    Level::Problem,
                    "state root",
                    format!("{detail}: images need room"),
                    Some("rd rmi IMAGE, rd cleanup --exited, or --root DIR on a larger disk"),
                )
            } else {
                check(Level::Ok, "state root", detail, None)
            }
        }
        Err(e) => check(
            Level::Problem,
            "state root",
            format!("{}: {e}", state.root.display()),
            Some("--root DIR (or RD_ROOT) to a directory rd may create"),
        ),
    }
}

/// Prints the report; returns how many problems it found.
pub fn print(checks: &[Check]) -> usize {
    println!("rd doctor: what this host gives rd");
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok     ",
            Level::Note => "note   ",
            Level::Problem => "PROBLEM",
        };
        println!("  {tag} {:<16} {}", c.what, c.detail);
        if let Some(fix) = &c.fix {
            println!("  {:<7} {:<16} fix: {fix}", "", "");
        }
    }
    let problems = checks.iter().filter(|c| c.level == Level::Problem).count();
    println!(
        "{}",
        match problems {
            0 => "no problems: rd can run here".to_string(),
            n => format!("{n} problem(s): see the fixes above"),
        }
    );
    problems
}

/// One line for scripts/setup.sh.
pub fn summary(checks: &[Check]) -> String {
    let get = |what: &str| {
        checks
            .iter()
            .find(|c| c.what == what)
            .map(|c| {
                c.detail
                    .split([' ', ';', '('])
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let problems: Vec<&str> = checks
        .iter()
        .filter(|c| c.level == Level::Problem)
        .map(|c| c.what)
        .collect();
    format!(
        "host: kernel {}, cgroups {}, {}",
        get("kernel"),
        get("cgroups"),
        if problems.is_empty() {
            "no problems (rd doctor)".to_string()
        } else {
            format!(
                "problems with {} (rd doctor says how to fix them)",
                problems.join(", ")
            )
        }
    )
}

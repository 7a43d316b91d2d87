//! The workshop's checker: `sudo cargo run -p check -- NN`.
//!
//! Builds level NN (`cargo build -p levelNN`), runs it with probe commands
//! inside containers, and prints one line per criterion: PASS, or FAIL with
//! what it saw and where to look. Exit status 0 iff everything passed.
//!
//!   check NN                 build and check levels/NN_*/
//!   check NN --bin PATH      check that binary (no build)
//!   check NN --solution      check NN's reference solution: the next level's
//!                            binary (level-solution for 10); CI runs this
//!   check --cleanup          remove what killed levels left in the
//!                            workshop's root (every check does this first)
//!
//! Every probe gets a fresh --root under /var/tmp, a time limit, and a
//! before/after comparison of the host (mounts, rd-* cgroups, container
//! directories, hostname); whatever a level leaves behind is reported and
//! undone.

mod criteria;
mod host;
mod parse;
mod probe;
mod report;
mod session;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

/// Directory and title of each level, as in levels/generate.py.
const LEVELS: [(&str, &str); 15] = [
    ("00_fork_exec", "fork and exec"),
    ("01_chroot_image", "chroot into an image"),
    ("02_mount_ns", "the mount namespace"),
    ("03_pivot_root", "pivot_root"),
    ("04_overlay", "overlayfs"),
    ("05_uts_namespace", "the UTS namespace"),
    ("06_pid_namespace", "the PID namespace"),
    ("07_net_namespace", "the network namespace"),
    ("08_cpu_cgroup", "the cpu cgroup"),
    ("09_memory_cgroup", "the memory cgroup"),
    ("10_setuid", "dropping root"),
    ("11_capabilities", "capabilities and seccomp (bonus)"),
    ("12_exec", "exec (bonus)"),
    ("13_network_cable", "a network cable (bonus)"),
    ("14_user_namespace", "user namespaces (bonus)"),
];

#[derive(Debug, Parser)]
#[command(
    about = "Checks a workshop level: builds it, runs it in containers, says what works (run as root)"
)]
struct Cli {
    /// The level: 0 to 14 (`04` works too)
    #[arg(value_parser = parse_level, value_name = "NN", required_unless_present = "cleanup")]
    level: Option<u8>,
    /// Remove what killed levels left (container directories and rd-<id>
    /// cgroups in /var/lib/rd-workshop, or $RD_WORKSHOP_ROOT), then exit.
    /// A check, and every level's start, does this too.
    #[arg(long, conflicts_with_all = ["bin", "solution"])]
    cleanup: bool,
    /// Check this binary instead of building the level
    #[arg(long, value_name = "PATH", conflicts_with = "solution")]
    bin: Option<PathBuf>,
    /// Check the level's reference solution: the next level's binary (level-solution after 10)
    #[arg(long)]
    solution: bool,
    /// Build (and check) the release binary
    #[arg(long)]
    release: bool,
    /// Seconds a probe may run before its process group is killed
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    timeout: u64,
}

fn parse_level(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(n) if usize::from(n) < LEVELS.len() => Ok(n),
        _ => Err(format!(
            "'{text}' is not a level: use 0 to {}",
            LEVELS.len() - 1
        )),
    }
}

/// The Cargo package holding the binary to check.
fn package(level: u8, solution: bool) -> String {
    match (level, solution) {
        (n, false) => format!("level{n:02}"),
        (n, true) if usize::from(n) + 1 < LEVELS.len() => format!("level{:02}", n + 1),
        _ => "level-solution".into(),
    }
}

/// The workspace root: this crate is levels/check in it.
fn workspace_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

/// The cargo that is running us (`cargo run` sets $CARGO), else the PATH's.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Where cargo puts binaries: $CARGO_TARGET_DIR, or what `cargo metadata`
/// says (it knows about .cargo/config.toml's build.target-dir), or target/.
fn target_dir(workspace: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return workspace.join(dir); // join keeps an absolute path as it is
    }
    let metadata = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace)
        .output();
    if let Ok(out) = metadata {
        if let Some(dir) =
            parse::json_string_field(&String::from_utf8_lossy(&out.stdout), "target_directory")
        {
            return PathBuf::from(dir);
        }
    }
    workspace.join("target")
}

/// Is this one of the variables `cargo run` gives the program it runs
/// (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...)? Handed down to our own `cargo
/// build`, they reach build scripts, and some rerun when one changes (ring's
/// watches CARGO_MANIFEST_DIR): the student's next `cargo build` would then
/// see them gone and rebuild ring, rustls, reqwest and rd again, 8-30 s every
/// time they alternate with `check`. Without them our build is the student's.
/// (CARGO itself stays: it is which cargo to run. CARGO_HOME, CARGO_TARGET_DIR
/// and the like are the user's settings, not cargo run's.)
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// `cargo build -p PACKAGE`, then the binary's path.
fn build(package: &str, release: bool) -> Result<PathBuf> {
    let workspace = workspace_root();
    let mut command = Command::new(cargo());
    command
        .args(["build", "--quiet", "-p", package])
        .current_dir(&workspace);
    for (name, _) in std::env::vars_os() {
        if set_by_cargo_run(&name.to_string_lossy()) {
            command.env_remove(name);
        }
    }
    if release {
        command.arg("--release");
    }
    eprintln!(
        "check: cargo build -p {package}{}",
        if release { " --release" } else { "" }
    );
    let status = command
        .status()
        .with_context(|| format!("running {} build", cargo()))?;
    if !status.success() {
        bail!("cargo build -p {package} failed ({status}): fix the compile errors above first");
    }
    let binary = target_dir(&workspace)
        .join(if release { "release" } else { "debug" })
        .join(package);
    if !binary.is_file() {
        bail!(
            "cargo built {package} but {} does not exist",
            binary.display()
        );
    }
    Ok(binary)
}

/// The workshop's state roots a student's levels use: the default, and
/// $RD_WORKSHOP_ROOT when set.
fn workshop_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/var/lib/rd-workshop")];
    if let Some(dir) = std::env::var_os("RD_WORKSHOP_ROOT") {
        roots.push(PathBuf::from(dir));
    }
    roots.dedup();
    roots
}

/// support::cleanup::reclaim on each workshop root; prints what it removed.
fn reclaim_workshop_roots() -> usize {
    let mut count = 0;
    for root in workshop_roots() {
        for line in support::cleanup::reclaim(&root) {
            println!("removed what a killed level left: {line}");
            count += 1;
        }
    }
    count
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.cleanup {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("check: removing cgroups and container directories needs root: sudo cargo run -p check -- --cleanup");
            return ExitCode::from(2);
        }
        if reclaim_workshop_roots() == 0 {
            println!(
                "nothing to remove: no container of a killed level in {}",
                workshop_roots()
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return ExitCode::SUCCESS;
    }
    probe::catch_interrupts();
    let verdict = check(&cli);
    if probe::interrupted() {
        eprintln!("check: interrupted (the levels it ran are stopped, the host is cleaned up)");
        return ExitCode::from(130);
    }
    match verdict {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("check: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ok(true) iff every criterion passed.
fn check(cli: &Cli) -> Result<bool> {
    let level = cli.level.context("which level? check NN (0 to 14)")?;
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the checker runs containers, which needs root: sudo cargo run -p check -- {level:02}"
        );
    }
    reclaim_workshop_roots();
    let binary = match &cli.bin {
        Some(path) => {
            if !path.is_file() {
                bail!("{} is not a file", path.display());
            }
            path.canonicalize().unwrap_or_else(|_| path.clone())
        }
        None => build(&package(level, cli.solution), cli.release)?,
    };
    let (dir, title) = LEVELS[usize::from(level)];
    let mut session = session::Session::new(binary.clone(), Duration::from_secs(cli.timeout))?;
    println!("check {level:02} — {title} (levels/{dir})");
    println!(
        "binary: {}; host: {}",
        binary.display(),
        session.cgroups.describe()
    );
    let started = Instant::now();
    criteria::check(level, &mut session);
    println!(
        "{} ({:.1}s)",
        session.report.summary(),
        started.elapsed().as_secs_f64()
    );
    Ok(session.report.failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_packages() {
        assert_eq!(parse_level("04"), Ok(4));
        assert_eq!(parse_level("14"), Ok(14));
        assert!(parse_level("15").is_err());
        assert!(parse_level("x").is_err());
        assert_eq!(package(3, false), "level03");
        assert_eq!(package(3, true), "level04");
        assert_eq!(package(9, true), "level10");
        assert_eq!(package(10, true), "level11");
        assert_eq!(package(12, true), "level13");
        assert_eq!(package(13, true), "level14");
        assert_eq!(package(14, true), "level-solution");
    }

    #[test]
    fn workspace_root_holds_the_levels() {
        assert!(workspace_root().join("levels/generate.py").is_file());
    }
}

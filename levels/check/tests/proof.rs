//! The proof that the workshop's exercises are real, for every level N:
//!
//! - the checker FAILS level N's skeleton (there is something to do), and
//! - the checker PASSES level N's reference solution, which is level N+1's
//!   skeleton (levels/generate.py builds it so), or level-solution for 10.
//!
//! So no level can be passed without doing its TODO, and every level can be
//! passed. Needs root (the checker runs containers); CI runs it as root.
//! `cargo test -p check --test proof -- --nocapture` shows the run as it goes;
//! the per-level summary is written to stderr even when output is captured.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod common;

use common::{build_levels, package, say, LEVELS};

struct Verdict {
    code: Option<i32>,
    failed: Vec<String>,
    summary: String,
    stdout: String,
}

fn check(level: u8, binary: &Path) -> Verdict {
    let out = Command::new(env!("CARGO_BIN_EXE_check"))
        .arg(level.to_string())
        .arg("--bin")
        .arg(binary)
        .output()
        .expect("running the checker");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Verdict {
        code: out.status.code(),
        failed: stdout
            .lines()
            .filter_map(|l| l.strip_prefix("FAIL  "))
            .map(str::to_string)
            .collect(),
        summary: stdout
            .lines()
            .rev()
            .find(|l| l.contains(" passed, "))
            .unwrap_or("no summary line")
            .to_string(),
        stdout: stdout.clone() + &String::from_utf8_lossy(&out.stderr),
    }
}

#[test]
fn every_skeleton_fails_and_every_solution_passes() {
    if !nix::unistd::geteuid().is_root() {
        say("proof: SKIPPED, the checker needs root (run `sudo cargo test -p check`; CI runs it as root)");
        return;
    }
    let started = Instant::now();
    let bin_dir = build_levels();
    say(&format!(
        "proof: levels built in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    let mut problems = Vec::new();
    for n in 0..LEVELS {
        let t = Instant::now();
        let skeleton = check(n, &bin_dir.join(package(n)));
        let solution = check(n, &bin_dir.join(package(n + 1)));
        say(&format!(
            "proof: level {n:02}: skeleton {} ({}), solution {} ({}) [{:.1}s]",
            if skeleton.code == Some(1) {
                "fails"
            } else {
                "DOES NOT FAIL"
            },
            skeleton.summary,
            if solution.code == Some(0) {
                "passes"
            } else {
                "DOES NOT PASS"
            },
            solution.summary,
            t.elapsed().as_secs_f64()
        ));
        for name in &skeleton.failed {
            say(&format!("proof:     skeleton FAIL  {name}"));
        }
        // Exit 1 is "criteria failed"; 2 would be the checker's own error.
        if skeleton.code != Some(1) || skeleton.failed.is_empty() {
            problems.push(format!(
                "level {n:02}: the skeleton ({}) is not failed by the checker:\n{}",
                package(n),
                skeleton.stdout
            ));
        }
        if solution.code != Some(0) {
            problems.push(format!(
                "level {n:02}: the solution ({}) does not pass:\n{}",
                package(n + 1),
                solution.stdout
            ));
        }
    }
    say(&format!(
        "proof: done in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

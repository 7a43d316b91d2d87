//! What the checker's integration tests share: building every level once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const LEVELS: u8 = 15;

/// Writes past the test harness's output capture: CI logs show the
/// summary even when the test passes.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub fn package(n: u8) -> String {
    if n < LEVELS {
        format!("level{n:02}")
    } else {
        "level-solution".into()
    }
}

/// Builds every level binary, once, into the directory where cargo put the
/// checker (same target dir, same profile), and returns that directory.
pub fn build_levels() -> PathBuf {
    let checker = PathBuf::from(env!("CARGO_BIN_EXE_check"));
    let bin_dir = checker
        .parent()
        .expect("the checker's directory")
        .to_path_buf();
    let target_dir = bin_dir
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args(["build", "--quiet"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&workspace);
    if bin_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    for n in 0..=LEVELS {
        cargo.args(["-p", &package(n)]);
    }
    let status = cargo.status().expect("running cargo build");
    assert!(
        status.success(),
        "cargo build of the levels failed: {status}"
    );
    bin_dir
}

//! Builds the level 03 breakout program as a static binary: the busybox
//! image has no C library for a dynamic one to load.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=breakout.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("breakout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg("breakout.c")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{cc} -static breakout.c failed ({s}): install gcc and libc6-dev (scripts/setup.sh)"),
        Err(e) => panic!("cannot run {cc} to build breakout.c ({e}): install gcc and libc6-dev (scripts/setup.sh)"),
    }
}

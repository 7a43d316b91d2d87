//! Copies the program to build into OUT_DIR: the file named by
//! $RD_MUTANT_SOURCE (levels/mutants.py writes a mutated reference solution
//! there), or else the workshop's reference solution. Inner doc comments
//! (`//!`) are dropped: `include!` takes items, not a crate's header.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=RD_MUTANT_SOURCE");
    let source = match std::env::var_os("RD_MUTANT_SOURCE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from("../solution/src/main.rs"),
    };
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    let items: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//!"))
        .collect();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("main.rs"), items.join("\n") + "\n").expect("writing OUT_DIR/main.rs");
}

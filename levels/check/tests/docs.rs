//! The workshop's documents run: every command in a ```sh block of
//! workshop.md and of each level's README.md is executed, so the docs cannot
//! drift from the code.
//!
//! - `[sudo] cargo run -p check -- NN` runs the checker against level NN's
//!   reference solution (`check NN --solution`): it must pass. A student runs
//!   the same command against their own work.
//! - `[sudo] cargo run -p levelNN -- ARGS` runs that level's binary (its
//!   skeleton: a TODO may make it fail, but it must not crash or hang).
//! - `cargo build …` is skipped: the test built everything already.
//! - Anything else runs with `sh -c` from the repository's root and must
//!   exit 0.
//!
//! Every command gets its own state roots (RD_ROOT, RD_WORKSHOP_ROOT), so
//! the docs' commands never touch /var/lib/rd or /var/lib/rd-workshop.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{build_levels, say};

/// A command from a document, and where it was found.
struct DocCommand {
    text: String,
    place: String,
}

/// A document's path as the repository names it (levels/03_pivot_root/README.md).
fn short(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The ```sh blocks of a markdown file, one command per line (a trailing
/// backslash continues a line; blank lines and # comments are skipped).
fn sh_commands(path: &Path) -> Vec<DocCommand> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        if pending.is_empty() {
            start = i + 1;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => pending.push_str(&format!("{head} ")),
            None => {
                pending.push_str(trimmed);
                out.push(DocCommand {
                    text: std::mem::take(&mut pending),
                    place: format!("{}:{start}", short(path)),
                });
            }
        }
    }
    out
}

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![root.join("workshop.md")];
    let mut levels: Vec<PathBuf> = std::fs::read_dir(root.join("levels"))
        .expect("reading levels/")
        .flatten()
        .map(|e| e.path().join("README.md"))
        .filter(|p| p.exists())
        .collect();
    levels.sort();
    docs.extend(levels);
    docs
}

/// Removes `sudo`, `sudo -E` and `sudo env "PATH=$PATH"` in front of a command.
fn without_sudo(text: &str) -> &str {
    let mut t = text.trim();
    for prefix in ["sudo env \"PATH=$PATH\" ", "sudo -E ", "sudo "] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest.trim_start();
        }
    }
    t
}

/// What the test does with one command, as a shell command line.
enum Plan {
    Skip(&'static str),
    MustPass(String),
    MustNotCrash(String),
}

fn plan(text: &str, bin_dir: &Path) -> Plan {
    let t = without_sudo(text);
    let quote = |p: PathBuf| format!("'{}'", p.display());
    if let Some(rest) = t.strip_prefix("cargo run -p check --") {
        return Plan::MustPass(format!(
            "{} {} --solution",
            quote(bin_dir.join("check")),
            rest.trim()
        ));
    }
    if let Some(rest) = t.strip_prefix("cargo run -p ") {
        if let Some((package, args)) = rest.split_once(" --") {
            if package.starts_with("level") {
                return Plan::MustNotCrash(format!(
                    "{} {}",
                    quote(bin_dir.join(package.trim())),
                    args.trim()
                ));
            }
        }
    }
    if t.starts_with("cargo build") || t.starts_with("cargo test") {
        return Plan::Skip("built already");
    }
    Plan::MustPass(t.to_string())
}

/// Runs `sh -c LINE` with its own state roots and a timeout.
fn run(line: &str, root: &Path) -> (Option<i32>, String) {
    let state = tempfile::Builder::new()
        .prefix("rd-docs-")
        .tempdir_in("/var/tmp")
        .expect("a temporary state root");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(root)
        .env("RD_ROOT", state.path().join("rd"))
        .env("RD_WORKSHOP_ROOT", state.path().join("workshop"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running sh");
    // A guard against hangs, not a speed target: the first check command
    // builds its level (and rd, with its HTTP and TLS crates) in a fresh
    // clone, which takes minutes on two cores busy with the other tests.
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    match child.wait_with_output() {
        Ok(out) => (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ),
        Err(e) => (None, format!("waiting for sh: {e}")),
    }
}

#[test]
fn the_documents_commands_work() {
    if !nix::unistd::geteuid().is_root() {
        say("docs: SKIPPED, the commands need root (CI runs them as root)");
        return;
    }
    let root = workspace_root();
    let bin_dir = build_levels();
    let mut problems = Vec::new();
    let mut ran = 0;
    for doc in documents(&root) {
        for cmd in sh_commands(&doc) {
            let (line, must_pass) = match plan(&cmd.text, &bin_dir) {
                Plan::Skip(why) => {
                    say(&format!("docs: skip {} ({why}): {}", cmd.place, cmd.text));
                    continue;
                }
                Plan::MustPass(line) => (line, true),
                Plan::MustNotCrash(line) => (line, false),
            };
            ran += 1;
            let (code, output) = run(&line, &root);
            let crashed = code.is_none() || code == Some(101) || output.contains("panicked");
            let ok = if must_pass { code == Some(0) } else { !crashed };
            say(&format!(
                "docs: {} {}: {}",
                if ok { "ok  " } else { "FAIL" },
                cmd.place,
                cmd.text
            ));
            if !ok {
                problems.push(format!(
                    "{}: `{}` (run as `{line}`) exited {code:?}:\n{output}",
                    cmd.place, cmd.text
                ));
            }
        }
    }
    say(&format!("docs: {ran} commands run"));
    assert!(
        ran >= 11,
        "expected at least one check command per level, found {ran} commands"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_level_readme_says_how_to_check_it() {
    let root = workspace_root();
    for n in 0..=14 {
        let dir = std::fs::read_dir(root.join("levels"))
            .expect("reading levels/")
            .flatten()
            .find(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{n:02}_"))
            })
            .unwrap_or_else(|| panic!("no directory for level {n:02}"));
        let readme = dir.path().join("README.md");
        let wanted = format!("sudo cargo run -p check -- {n:02}");
        let found = readme.exists() && sh_commands(&readme).iter().any(|c| c.text == wanted);
        assert!(
            found,
            "{} has no ```sh block with `{wanted}`",
            readme.display()
        );
    }
}

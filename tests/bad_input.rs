//! Bad input and missing privileges: one `rd: ` line on stderr, exit 125,
//! nothing left behind (no container dir, no cgroup, no new image), and
//! never a panic.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{make_mini_rootfs, make_tarball, run_with_timeout, Output, Rd, TIMEOUT};

/// What rd's store holds: image records, layers, work in progress.
fn store(rd: &Rd) -> (Vec<PathBuf>, Vec<String>, Vec<String>) {
    (rd.tree("images"), rd.entries("layers"), rd.entries("tmp"))
}

/// Runs `rd run ARGS` and checks the whole contract for a refused command.
#[track_caller]
fn refused(rd: &Rd, args: &[&str]) -> Output {
    let before = store(rd);
    let out = rd.run(args);
    out.assert_rd_error();
    rd.assert_no_containers(&out);
    assert_eq!(
        store(rd),
        before,
        "the image store changed after a refused command\n{out}"
    );
    out
}

/// Runs `PREFIX... rd run -- true` (rd started with fewer privileges) and
/// checks it is refused with a line containing `says`, touching nothing.
#[track_caller]
fn refused_for_privileges(prefix: &[&str], says: &str) {
    let rd = Rd::new();
    let out = run_with_timeout(&mut rd.command_via(prefix, &["run", "--", "true"]), TIMEOUT);
    out.assert_rd_error();
    assert!(
        out.stderr.contains(says),
        "expected the message to contain {says:?}\n{out}"
    );
    rd.assert_no_containers(&out);
    assert!(
        rd.tree("").is_empty(),
        "rd wrote to its state root although it refused to run: {:?}",
        rd.tree("")
    );
    rd.finish();
}

#[test]
fn not_root_is_refused() {
    refused_for_privileges(
        &[
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
        ],
        "root",
    );
}

#[test]
fn missing_cap_sys_admin_is_refused() {
    refused_for_privileges(
        &[
            "setpriv",
            "--bounding-set",
            "-sys_admin",
            "--inh-caps",
            "-sys_admin",
        ],
        "CAP_SYS_ADMIN",
    );
}

#[test]
fn missing_image_from_an_unreachable_registry_says_so() {
    // Not in the store, so rd run tries to pull it; nothing listens on
    // port 1, as with no network at all.
    let rd = Rd::new();
    let out = refused(&rd, &["-i", "127.0.0.1:1/nosuchimage", "--", "true"]);
    assert!(
        out.stderr.contains("nosuchimage") && out.stderr.contains("cannot reach 127.0.0.1:1"),
        "expected the message to name the image and the registry it could not reach\n{out}"
    );
    assert!(
        out.stderr.contains("rd images"),
        "expected the message to say that local images still work\n{out}"
    );
    rd.finish();
}

#[test]
fn kernel_without_overlayfs_is_refused() {
    let rd = Rd::new();
    let fake = rd.root().join("filesystems");
    let real = std::fs::read_to_string("/proc/filesystems").expect("reading /proc/filesystems");
    let without: String = real
        .lines()
        .filter(|l| l.split_whitespace().last() != Some("overlay"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&fake, without).expect("writing the fake /proc/filesystems");
    // A private mount namespace (unshare -m makes propagation private), so
    // the bind mount never reaches the host.
    let script = format!(
        "mount --bind '{}' /proc/filesystems && exec '{}' --root '{}' run -- true",
        fake.display(),
        common::rd_bin(),
        rd.root().display()
    );
    let out = run_with_timeout(
        Command::new("unshare").args(["-m", "sh", "-c", &script]),
        TIMEOUT,
    );
    out.assert_rd_error();
    assert!(
        out.stderr.contains("overlay"),
        "expected the message to name overlayfs\n{out}"
    );
    rd.assert_no_containers(&out);
    assert!(
        rd.entries("images").is_empty() && rd.entries("layers").is_empty(),
        "rd stored an image although it refused to run"
    );
    std::fs::remove_file(&fake).ok();
    rd.finish();
}

#[test]
fn bad_memory_size_is_refused() {
    let rd = Rd::new();
    let out = refused(&rd, &["--memory", "12q", "--", "true"]);
    assert!(
        out.stderr.contains("12q"),
        "expected the message to quote the bad size\n{out}"
    );
    rd.finish();
}

#[test]
fn negative_cpus_is_refused() {
    let rd = Rd::new();
    refused(&rd, &["--cpus", "-1", "--", "true"]);
    rd.finish();
}

#[test]
fn unknown_user_is_refused() {
    let rd = Rd::new();
    rd.warm();
    let out = refused(&rd, &["--user", "nosuchuser", "--", "true"]);
    assert!(
        out.stderr.contains("nosuchuser"),
        "expected the message to name the unknown user\n{out}"
    );
    rd.finish();
}

#[test]
fn importing_a_file_that_is_not_a_tarball_stores_nothing() {
    let rd = Rd::new();
    let file = rd.root().join("not-a-tarball.tar");
    std::fs::write(&file, "this is plain text, not a tar archive\n".repeat(50)).unwrap();
    let out = rd.rd(&["import", &file.to_string_lossy(), "junk"]);
    out.assert_rd_error();
    let images = rd.rd(&["images"]);
    images.assert_ok();
    assert!(
        !images.stdout.contains("junk"),
        "a failed import left an image record\n{images}"
    );
    assert!(
        rd.tree("images").is_empty(),
        "a failed import left files under images/: {:?}",
        rd.tree("images")
    );
    assert!(
        rd.tree("layers").is_empty(),
        "a failed import left files under layers/: {:?}",
        rd.tree("layers")
    );
    assert!(
        rd.tree("tmp").is_empty(),
        "a failed import left files under tmp/: {:?}",
        rd.tree("tmp")
    );
    rd.finish();
}

#[test]
fn image_with_a_deleted_layer_is_reported_damaged() {
    let rd = Rd::new();
    let src = rd.root().join("src");
    make_mini_rootfs(&src);
    let tarball = rd.root().join("mini.tar");
    make_tarball(&src, &tarball, false);
    rd.rd(&["import", &tarball.to_string_lossy(), "broken"])
        .assert_ok();
    let layers = rd.layers("broken");
    assert_eq!(
        layers.len(),
        1,
        "expected one layer for an imported tarball"
    );
    std::fs::remove_dir_all(&layers[0]).expect("deleting the layer directory");
    let out = refused(&rd, &["-i", "broken", "--", "/bin/sh", "-c", "true"]);
    assert!(
        out.stderr.contains("damaged") || out.stderr.contains("missing"),
        "expected the message to say the image is damaged / its layer missing\n{out}"
    );
    rd.finish();
}

#[test]
fn odd_inputs_never_panic() {
    let rd = Rd::new();
    rd.warm();
    let long = "h".repeat(100);
    let cases: Vec<Vec<&str>> = vec![
        vec!["--hostname", &long, "--", "true"],
        vec!["--hostname", "bad_name!", "--", "true"],
        vec!["-i", "UPPER", "--", "true"],
        vec!["-i", "", "--", "true"],
        vec!["-i", "busybox:", "--", "true"],
        vec!["--memory", "0", "--", "true"],
        vec!["--memory", "1m", "--", "true"],
        vec!["--memory", "99999999999g", "--", "true"],
        vec!["--pids-limit", "0", "--", "true"],
        vec!["--pids-limit", "-5", "--", "true"],
        vec!["--cpu-shares", "1", "--", "true"],
        vec!["--cpus", "0", "--", "true"],
        vec!["--cpus", "nan", "--", "true"],
        vec!["--memory-swap", "16m", "--", "true"],
        vec!["--memory", "64m", "--memory-swap", "32m", "--", "true"],
        vec!["-w", "/etc/passwd/sub", "--", "true"],
        vec!["--user", "99999999999", "--", "true"],
        vec!["--user", "student:nosuchgroup", "--", "true"],
        vec!["--preserve-fds", "4294967293", "--", "true"],
        vec!["--cap-add", "SYS_WIZARD", "--", "true"],
        vec!["--cap-drop", "", "--", "true"],
        vec!["--security-opt", "seccomp", "--", "true"],
        vec!["--security-opt", "apparmor=unconfined", "--", "true"],
        vec!["--security-opt", "seccomp=/nonexistent.json", "--", "true"],
        vec!["-t", "-T", "--", "true"],
    ];
    for args in cases {
        let out = refused(&rd, &args);
        assert!(
            !out.stderr.contains("panicked"),
            "rd panicked on {args:?}\n{out}"
        );
    }
    rd.finish();
}

/// A mistyped option (`--memroy` for `--memory`) must be a usage error, as
/// in docker ("unknown flag"), not the container's command: with `--`
/// present, nothing before it can be the command.
#[test]
fn unknown_flag_is_a_usage_error() {
    let rd = Rd::new();
    let out = refused(&rd, &["--memroy", "32m", "--", "true"]);
    assert!(
        out.stderr.contains("--memroy"),
        "expected the message to name the unknown flag\n{out}"
    );
    rd.finish();
}

#[test]
fn bad_ulimits_are_refused() {
    let rd = Rd::new();
    for (arg, says) in [
        ("nofiles=64", "is not a ulimit"),
        ("nofile=128:64", "above the hard limit"),
        ("nofile=many", "whole number"),
        ("nofile", "NAME=SOFT[:HARD]"),
    ] {
        let out = refused(&rd, &["--ulimit", arg, "--", "true"]);
        out.assert_code(125);
        assert!(
            out.stderr.contains(says),
            "--ulimit {arg}: expected '{says}'\n{out}"
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line\n{out}");
    }
    rd.finish();
}

#[test]
fn a_stats_file_in_a_missing_directory_is_refused_before_the_run() {
    let rd = Rd::new();
    let out = refused(
        &rd,
        &[
            "--stats-file",
            "/nonexistent-rd-dir/stats.json",
            "--",
            "true",
        ],
    );
    out.assert_code(125);
    assert!(out.stderr.contains("no such directory"), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line\n{out}");
    rd.finish();
}

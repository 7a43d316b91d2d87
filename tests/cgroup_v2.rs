//! rd on a cgroup v2 host, proven on this hybrid one: in a private mount
//! namespace, the host's cgroup2 hierarchy is mounted at /sys/fs/cgroup,
//! so rd sees a unified (v2) layout and takes its v2 code path for real.
//! The hierarchy is the same one the host has at /sys/fs/cgroup/unified, so
//! the host can watch the cgroup appear and go.
//!
//! (On a host that is already v2, tests/limits.rs covers the v2 files.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{cgroup_mode, is_container_id, CgroupMode, Rd, Running};

/// Where this host's cgroup2 hierarchy is mounted, if it is hybrid.
fn unified_mount() -> Option<PathBuf> {
    let p = Path::new("/sys/fs/cgroup/unified");
    (cgroup_mode() == CgroupMode::V1 && p.join("cgroup.controllers").exists())
        .then(|| p.to_path_buf())
}

/// `unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec rd --root R ARGS'`.
fn rd_on_v2(rd: &Rd, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"")
        .arg("sh")
        .arg(common::rd_bin())
        .arg("--root")
        .arg(rd.root())
        .args(args)
        .env_remove("RD_ROOT");
    cmd
}

#[test]
fn on_a_v2_layout_the_container_joins_a_unified_cgroup_which_is_removed_after() {
    let Some(unified) = unified_mount() else {
        eprintln!("not a hybrid host: the v2 path is covered by tests/limits.rs on v2 hosts");
        return;
    };
    let rd = Rd::new();
    let mut c = Running::start(rd_on_v2(
        &rd,
        &[
            "run",
            "--",
            "sh",
            "-c",
            "hostname; cat /proc/self/cgroup; echo ready; read line; exit 0",
        ],
    ));
    let id = c.next_line(Duration::from_secs(30));
    assert!(
        is_container_id(&id),
        "expected the container id first, got {id:?}"
    );
    let inside = c.lines_until("ready", Duration::from_secs(30));
    // The v2 line: hierarchy 0, no controller list. Inside its cgroup
    // namespace the container sees its own cgroup as the root: `/`.
    let v2_line = inside.iter().find(|l| l.starts_with("0::"));
    assert_eq!(
        v2_line,
        Some(&"0::/".to_string()),
        "/proc/self/cgroup inside a container on a v2 layout: {inside:?}"
    );
    let dir = unified.join(format!("rd-{id}"));
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_else(|e| {
        panic!(
            "the host should see {} while the container runs: {e}",
            dir.display()
        )
    });
    assert_eq!(
        procs.lines().count(),
        1,
        "one process (the container's sh) in {}: {procs}",
        dir.display()
    );
    c.close_stdin();
    let out = c.wait(Duration::from_secs(30));
    out.assert_ok();
    assert!(
        !dir.exists(),
        "{} must be removed when the container ends",
        dir.display()
    );
    rd.finish();
}

#[test]
fn on_a_v2_layout_a_limit_needs_its_controller() {
    let Some(unified) = unified_mount() else {
        eprintln!("not a hybrid host: nothing to check here");
        return;
    };
    let controllers =
        std::fs::read_to_string(unified.join("cgroup.controllers")).unwrap_or_default();
    if controllers.split_whitespace().any(|c| c == "memory") {
        eprintln!(
            "this host's cgroup2 tree has the memory controller: tests/limits.rs checks limits"
        );
        return;
    }
    // Here v1 owns memory, so the v2 tree cannot offer it: one clear line,
    // 125, nothing left behind.
    let rd = Rd::new();
    let out = common::run_with_timeout(
        &mut rd_on_v2(&rd, &["run", "--memory", "32m", "--", "true"]),
        Duration::from_secs(30),
    );
    out.assert_rd_error();
    out.assert_stderr_contains("needs the memory controller");
    rd.finish();
}

//! rd on a cgroup v2 layout. On a v2 host (CI's guest, scripts/vm.sh) rd
//! runs as it is. On a hybrid host it is proven all the same: in a private
//! mount namespace, the host's cgroup2 hierarchy is mounted at
//! /sys/fs/cgroup, so rd sees a unified layout and takes its v2 code path
//! for real; the hierarchy is the one the host has at
//! /sys/fs/cgroup/unified, so the host can watch the cgroup appear and go.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{cgroup_mode, is_container_id, CgroupMode, Rd, Running};

/// Where this host's cgroup2 hierarchy is mounted: /sys/fs/cgroup on a v2
/// host, /sys/fs/cgroup/unified on a hybrid one (None on v1 only).
fn unified_mount() -> Option<PathBuf> {
    if cgroup_mode() == CgroupMode::V2 {
        return Some(PathBuf::from("/sys/fs/cgroup"));
    }
    let p = Path::new("/sys/fs/cgroup/unified");
    (cgroup_mode() == CgroupMode::V1 && p.join("cgroup.controllers").exists())
        .then(|| p.to_path_buf())
}

/// rd with a v2 layout: as it is on a v2 host; on a hybrid one
/// `unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec rd --root R ARGS'`.
fn rd_on_v2(rd: &Rd, args: &[&str]) -> Command {
    if cgroup_mode() == CgroupMode::V2 {
        return rd.command(args);
    }
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
        eprintln!("a v1-only host: no cgroup2 hierarchy to run on");
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

/// rd inside a container on a v2 host: its cgroup namespace's root is the
/// container's cgroup, which holds processes. Limits cannot apply there
/// (cgroup v2's no-internal-processes rule): one line, and the cgroup's
/// subtree_control left as it was; without limits rd runs.
#[test]
fn in_a_cgroup_namespace_whose_root_holds_processes() {
    if cgroup_mode() != CgroupMode::V2 {
        eprintln!("not a v2 host: nothing to check here");
        return;
    }
    let rd = Rd::new();
    let outer = Path::new("/sys/fs/cgroup").join(format!("rd-test-outer-{}", std::process::id()));
    std::fs::create_dir(&outer).expect("mkdir the outer cgroup");
    let run = |args: &[&str]| {
        // A shell moves itself into `outer`, then, in new cgroup and mount
        // namespaces rooted there, runs rd: as rd in a container would.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec unshare -C -m --propagation private sh -c 'umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\"' sh \"$@\"",
                outer.display()
            ))
            .arg("sh")
            .arg(common::rd_bin())
            .arg("--root")
            .arg(rd.root())
            .args(args);
        common::run_with_timeout(&mut cmd, Duration::from_secs(60))
    };
    let control =
        || std::fs::read_to_string(outer.join("cgroup.subtree_control")).unwrap_or_default();
    let before = control();
    let out = run(&["run", "--network", "none", "--memory", "32m", "--", "true"]);
    out.assert_code(125)
        .assert_stderr_contains("no-internal-processes");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert_eq!(control(), before, "rd changed subtree_control");
    let out = run(&["run", "--network", "none", "--", "echo", "ran"]);
    out.assert_ok();
    assert_eq!(out.stdout, "ran\n");
    assert_eq!(control(), before, "rd changed subtree_control");
    let _ = std::fs::remove_dir(&outer);
    rd.finish();
}

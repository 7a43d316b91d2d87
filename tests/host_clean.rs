//! Seen from the host: rd never mounts in the host's mount namespace, and
//! leaves no cgroup or container directory behind, whatever way the
//! container ends.

mod common;

use std::time::Duration;

use common::{assert_mounts_unchanged, assert_no_cgroup_of, is_container_id, mount_table, Rd};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One run's container id, from a command that prints its default hostname
/// first (the hostname is the container's id).
fn id_from(out: &common::Output) -> String {
    let id = out
        .stdout_lines()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        is_container_id(&id),
        "expected the container id on stdout's first line\n{out}"
    );
    id
}

#[test]
fn five_containers_in_a_row_leave_the_mount_table_unchanged() {
    let rd = Rd::new();
    let before = mount_table();

    let runs: [(&[&str], i32); 5] = [
        (&["--", "sh", "-c", "hostname; echo hello > /tmp/x"], 0),
        (&["--", "sh", "-c", "hostname; exit 3"], 3),
        (&["--", "sh", "-c", "hostname; exec no-such-command"], 127),
        (
            &[
                "--memory",
                "32m",
                "--",
                "sh",
                "-c",
                "hostname; exec dd if=/dev/zero of=/dev/null bs=100M count=1",
            ],
            137,
        ),
        (&["--user", "nosuchuser", "--", "true"], 125),
    ];
    for (args, code) in runs {
        let out = rd.run(args);
        out.assert_code(code).assert_no_panic();
        rd.assert_no_containers(&out);
        if code != 125 {
            assert_no_cgroup_of(&id_from(&out));
        }
        assert_mounts_unchanged(&before, &format!("after `rd run {}`", args.join(" ")));
    }
    rd.finish();
}

#[test]
fn no_leftovers_after_success() {
    let rd = Rd::new();
    let out = rd.run(&["--memory", "64m", "--pids-limit", "10", "--", "hostname"]);
    out.assert_ok();
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id_from(&out));
    rd.finish();
}

#[test]
fn no_leftovers_after_exit_127() {
    let rd = Rd::new();
    // Cgroup made (limits), then the command is not found.
    let out = rd.run(&["--memory", "64m", "--", "no-such-command"]);
    out.assert_code(127);
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn no_leftovers_after_oom() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--memory",
        "32m",
        "--",
        "sh",
        "-c",
        "hostname; exec dd if=/dev/zero of=/dev/null bs=100M count=1",
    ]);
    out.assert_code(137);
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id_from(&out));
    rd.finish();
}

#[test]
fn no_leftovers_after_an_rd_error_inside_the_child() {
    let rd = Rd::new();
    // The container exists (dirs, cgroup, namespaces) before -w fails.
    let out = rd.run(&["--memory", "64m", "-w", "/etc/passwd/sub", "--", "true"]);
    out.assert_rd_error();
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn no_leftovers_after_sigint() {
    let rd = Rd::new();
    let mut c = rd.spawn(&[
        "--memory",
        "64m",
        "--",
        "sh",
        "-c",
        "hostname; exec sleep 100",
    ]);
    let id = c.next_line(Duration::from_secs(30));
    c.container_init("sleep", Duration::from_secs(30));
    c.signal(Signal::SIGINT);
    let out = c.wait(Duration::from_secs(30));
    out.assert_code(137);
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id);
    rd.finish();
}

#[test]
fn no_leftovers_after_sigkill_of_pid_1() {
    let rd = Rd::new();
    let mut c = rd.spawn(&[
        "--pids-limit",
        "10",
        "--",
        "sh",
        "-c",
        "hostname; exec sleep 100",
    ]);
    let id = c.next_line(Duration::from_secs(30));
    let init = c.container_init("sleep", Duration::from_secs(30));
    kill(Pid::from_raw(init), Signal::SIGKILL).expect("kill -9 the container's PID 1");
    let out = c.wait(Duration::from_secs(30));
    out.assert_code(137);
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id);
    rd.finish();
}

#[test]
fn no_host_mounts_while_a_container_runs() {
    // The overlay, proc, sysfs, /dev... live only in the container's mount
    // namespace: the host's table is the same even while it runs.
    let rd = Rd::new();
    let before = mount_table();
    let mut c = rd.spawn(&["--", "sh", "-c", "echo ready; read line"]);
    c.wait_for_line(|l| l == "ready", Duration::from_secs(30));
    assert_mounts_unchanged(&before, "while a container runs");
    c.write_stdin("go\n");
    c.wait(Duration::from_secs(30)).assert_ok();
    rd.finish();
}

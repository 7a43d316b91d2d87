//! rd exits with its command's status (docker's convention): the command's
//! own code, 126/127 when it cannot be run, 128+N for a signal N.

mod common;

use std::time::Duration;

use common::{assert_no_cgroup_of, Rd};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn success_is_0() {
    let rd = Rd::new();
    let out = rd.run(&["--", "true"]);
    out.assert_ok();
    assert!(
        out.stderr.trim().is_empty(),
        "expected nothing on stderr for `true`\n{out}"
    );
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn the_commands_own_code_passes_through() {
    let rd = Rd::new();
    let out = rd.run(&["--", "sh", "-c", "exit 3"]);
    out.assert_code(3).assert_no_panic();
    let out = rd.run(&["--", "false"]);
    out.assert_code(1);
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn missing_command_is_127_with_not_found() {
    let rd = Rd::new();
    let out = rd.run(&["--", "no-such-command-here"]);
    out.assert_code(127).assert_no_panic();
    assert!(
        out.stderr.contains("not found"),
        "expected a 'not found' line on stderr\n{out}"
    );
    let out = rd.run(&["--", "/bin/no-such-command-here"]);
    out.assert_code(127);
    assert!(
        out.stderr.contains("no-such-command-here"),
        "expected stderr to name the missing command\n{out}"
    );
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn non_executable_file_is_126() {
    let rd = Rd::new();
    let out = rd.run(&["--", "/etc/passwd"]);
    out.assert_code(126).assert_no_panic();
    assert!(
        out.stderr.contains("/etc/passwd"),
        "expected stderr to name /etc/passwd\n{out}"
    );
    let out = rd.run(&["--", "/etc"]);
    out.assert_code(126).assert_no_panic();
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn a_child_killed_by_sigkill_gives_137() {
    let rd = Rd::new();
    let out = rd.run(&["--", "sh", "-c", "sleep 100 & kill -9 $!; wait $!"]);
    out.assert_code(137).assert_no_panic();
    rd.finish();
}

#[test]
fn pid_1_sigkilled_from_the_host_gives_137() {
    let rd = Rd::new();
    let mut c = rd.spawn(&["--", "sleep", "100"]);
    // rd's child, once it has exec'd sleep: the container's PID 1.
    let init = c.container_init("sleep", Duration::from_secs(30));
    let id = rd.entries("containers");
    assert_eq!(
        id.len(),
        1,
        "expected one container directory while it runs, got {id:?}"
    );
    kill(Pid::from_raw(init), Signal::SIGKILL).expect("kill -9 the container's PID 1");
    let out = c.wait(Duration::from_secs(30));
    out.assert_code(137).assert_no_panic();
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id[0]);
    rd.finish();
}

//! SIGINT and SIGTERM sent to rd end the container, and rd still cleans up.

mod common;

use std::time::Duration;

use common::{assert_no_cgroup_of, Rd};
use nix::sys::signal::Signal;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn sigint_is_forwarded_to_a_pid_1_that_traps_it() {
    let rd = Rd::new();
    let mut c = rd.spawn(&[
        "--",
        "sh",
        "-c",
        "trap 'exit 130' INT; echo ready; while :; do sleep 0.1; done",
    ]);
    c.wait_for_line(|l| l == "ready", WAIT);
    let id = rd.entries("containers");
    assert_eq!(
        id.len(),
        1,
        "expected one container directory while it runs, got {id:?}"
    );
    c.signal(Signal::SIGINT);
    let out = c.wait(WAIT);
    out.assert_code(130).assert_no_panic();
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id[0]);
    rd.finish();
}

/// `sleep` as PID 1 has no handler: the kernel drops SIGINT/SIGTERM for a
/// namespace's init, so rd must end it with SIGKILL, and say so.
fn signal_ends_a_pid_1_without_handler(sig: Signal) {
    let rd = Rd::new();
    let mut c = rd.spawn(&["--", "sleep", "100"]);
    c.container_init("sleep", WAIT);
    let id = rd.entries("containers");
    assert_eq!(
        id.len(),
        1,
        "expected one container directory while it runs, got {id:?}"
    );
    c.signal(sig);
    let out = c.wait(WAIT);
    out.assert_code(137).assert_no_panic();
    assert!(
        out.stderr.contains(sig.as_str()) && out.stderr.contains("SIGKILL"),
        "expected stderr to explain that {sig} was turned into SIGKILL\n{out}"
    );
    rd.assert_no_containers(&out);
    assert_no_cgroup_of(&id[0]);
    rd.finish();
}

#[test]
fn sigint_ends_a_pid_1_without_handler() {
    signal_ends_a_pid_1_without_handler(Signal::SIGINT);
}

#[test]
fn sigterm_ends_a_pid_1_without_handler() {
    signal_ends_a_pid_1_without_handler(Signal::SIGTERM);
}

#[test]
fn sigterm_is_forwarded_to_a_pid_1_that_traps_it() {
    let rd = Rd::new();
    let mut c = rd.spawn(&[
        "--",
        "sh",
        "-c",
        "trap 'echo got-term; exit 143' TERM; echo ready; while :; do sleep 0.1; done",
    ]);
    c.wait_for_line(|l| l == "ready", WAIT);
    c.signal(Signal::SIGTERM);
    let out = c.wait(WAIT);
    out.assert_code(143).assert_no_panic();
    assert!(
        out.stdout.contains("got-term"),
        "the container's trap did not run\n{out}"
    );
    rd.assert_no_containers(&out);
    rd.finish();
}

/// A script that starts rd in the background (`rd run ... &`) makes the
/// shell ignore SIGINT for it, and an ignored signal stays ignored across
/// execve(2). The container must still start with default dispositions
/// (as docker's do), or its PID 1 cannot trap SIGINT at all (POSIX shells
/// refuse to trap a signal ignored on entry).
#[test]
fn container_starts_with_default_signal_dispositions_even_if_rd_ignored_sigint() {
    use std::os::unix::process::CommandExt;
    let rd = Rd::new();
    let mut cmd = rd.command(&[
        "run",
        "--",
        "sh",
        "-c",
        "grep SigIgn /proc/self/status; trap 'exit 130' INT; echo ready; while :; do sleep 0.1; done",
    ]);
    // SAFETY: signal(2) is async-signal-safe; nothing else runs in pre_exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut c = common::Running::start(cmd);
    let sigign = c.next_line(WAIT);
    c.wait_for_line(|l| l == "ready", WAIT);
    c.signal(Signal::SIGINT);
    let out = c.wait(WAIT);
    assert_eq!(
        out.code, 130,
        "expected the container's trap to turn SIGINT into exit 130 (the container's {sigign:?}; SIGINT is bit 0x2)\n{out}"
    );
    rd.assert_no_containers(&out);
    rd.finish();
}

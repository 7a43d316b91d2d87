//! `rd run --trace` narrates every step of the container's birth, in order;
//! without --trace, none of it is printed.

mod common;

use common::{cgroup_mode, CgroupMode, Rd};

/// A step of the trace: a label and the pieces its line must all contain
/// (any one of several alternatives).
struct TraceStep {
    label: &'static str,
    alternatives: Vec<Vec<&'static str>>,
}

impl TraceStep {
    fn matches(&self, line: &str) -> bool {
        self.alternatives
            .iter()
            .any(|pieces| pieces.iter().all(|p| line.contains(p)))
    }
}

/// The steps, in order.
fn steps() -> Vec<TraceStep> {
    let mut s = vec![("clone into new namespaces", vec!["clone(", "CLONE_NEWPID"])];
    let join_cgroup = TraceStep {
        label: "join the cgroup (a write to its cgroup.procs, or v1 tasks)",
        alternatives: vec![
            vec!["write(\"", "/rd-", "/cgroup.procs\""],
            vec!["write(\"", "/rd-", "/tasks\""],
        ],
    };
    s.extend([
        (
            "make / private",
            vec!["mount(NULL, \"/\", NULL, MS_REC|MS_PRIVATE"],
        ),
        ("mount the overlay", vec!["mount(\"overlay\""]),
        ("mount proc", vec!["mount(\"proc\""]),
        ("mount sysfs", vec!["mount(\"sysfs\""]),
        ("tmpfs on /dev", vec!["mount(\"tmpfs\"", "/dev\""]),
        ("mknod null", vec!["mknod(", "/dev/null\""]),
        ("mknod zero", vec!["mknod(", "/dev/zero\""]),
        ("mknod full", vec!["mknod(", "/dev/full\""]),
        ("mknod random", vec!["mknod(", "/dev/random\""]),
        ("mknod urandom", vec!["mknod(", "/dev/urandom\""]),
        ("mknod tty", vec!["mknod(", "/dev/tty\""]),
        ("mount devpts", vec!["mount(\"devpts\""]),
        ("sethostname", vec!["sethostname("]),
        ("lo up", vec!["SIOCSIFFLAGS"]),
        ("pivot_root", vec!["pivot_root("]),
        ("detach the old root", vec!["umount2(", "MNT_DETACH"]),
        ("execve", vec!["execve("]),
    ]);
    let mut steps: Vec<TraceStep> = s
        .into_iter()
        .map(|(label, pieces)| TraceStep {
            label,
            alternatives: vec![pieces],
        })
        .collect();
    if cgroup_mode() != CgroupMode::None {
        steps.insert(1, join_cgroup);
    }
    steps
}

#[test]
fn trace_names_every_step_in_order() {
    let rd = Rd::new();
    let out = rd.run(&["--trace", "--", "/bin/true"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stderr.lines().collect();
    let mut at = 0;
    for step in steps() {
        match lines[at..].iter().position(|l| step.matches(l)) {
            Some(i) => at += i + 1,
            None => {
                let anywhere = lines.iter().position(|l| step.matches(l));
                panic!(
                    "--trace: no line for step '{}' (containing {:?}) after line {at}{}\n{out}",
                    step.label,
                    step.alternatives,
                    match anywhere {
                        Some(i) => format!(" (it is at line {}, out of order)", i + 1),
                        None => " (it is missing)".into(),
                    }
                );
            }
        }
    }
    rd.finish();
}

#[test]
fn trace_shows_the_requested_hostname_and_command() {
    let rd = Rd::new();
    let out = rd.run(&["--trace", "--hostname", "traced", "--", "/bin/echo", "hi"]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "hi",
        "the traced command's output is wrong\n{out}"
    );
    assert!(
        out.stderr.contains("sethostname(\"traced\")"),
        "expected sethostname(\"traced\") in the trace\n{out}"
    );
    assert!(
        out.stderr.contains("execve(\"/bin/echo\""),
        "expected execve(\"/bin/echo\" ...) in the trace\n{out}"
    );
    rd.finish();
}

#[test]
fn without_trace_nothing_is_narrated() {
    let rd = Rd::new();
    let out = rd.run(&["--", "/bin/true"]);
    out.assert_ok();
    for step in steps() {
        for line in out.stderr.lines() {
            assert!(
                !step.matches(line),
                "step '{}' narrated without --trace: {line}\n{out}",
                step.label
            );
        }
    }
    assert!(
        out.stderr.trim().is_empty(),
        "expected no stderr at all without --trace\n{out}"
    );
    rd.finish();
}

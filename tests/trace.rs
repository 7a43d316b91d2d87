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
    let mut s = vec![
        ("clone into new namespaces", vec!["clone(", "CLONE_NEWPID"]),
        ("close the caller's descriptors", vec!["close_range(3"]),
    ];
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
        ("mount proc", vec!["mount(\"proc\"", "\"/proc\")"]),
        ("mount sysfs", vec!["mount(\"sysfs\"", "\"/sys\")"]),
        (
            "tmpfs on /dev, nodev",
            vec!["mount(\"tmpfs\"", "\"/dev\")", "MS_NODEV"],
        ),
        (
            "bind null",
            vec!["mount(\"/dev/null\"", "\"/dev/null\")", "MS_BIND"],
        ),
        ("bind zero", vec!["mount(\"/dev/zero\"", "MS_BIND"]),
        ("bind full", vec!["mount(\"/dev/full\"", "MS_BIND"]),
        ("bind random", vec!["mount(\"/dev/random\"", "MS_BIND"]),
        ("bind urandom", vec!["mount(\"/dev/urandom\"", "MS_BIND"]),
        ("bind tty", vec!["mount(\"/dev/tty\"", "MS_BIND"]),
        ("mount devpts", vec!["mount(\"devpts\""]),
        ("mount mqueue", vec!["mount(\"mqueue\""]),
        ("sethostname", vec!["sethostname("]),
        ("lo up", vec!["SIOCSIFFLAGS"]),
        ("pivot_root", vec!["pivot_root("]),
        ("detach the old root", vec!["umount2(", "MNT_DETACH"]),
        ("/proc/sys read-only", vec!["\"/proc/sys\")", "MS_RDONLY"]),
        ("working directory inside the root", vec!["getcwd()"]),
        ("seccomp", vec!["seccomp(SECCOMP_SET_MODE_FILTER"]),
        (
            "CAP_SYS_ADMIN out of the bounding set",
            vec!["prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN)"],
        ),
        ("setgroups", vec!["setgroups("]),
        ("capset", vec!["capset("]),
        ("no ambient capabilities", vec!["PR_CAP_AMBIENT_CLEAR_ALL"]),
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
        steps.insert(2, join_cgroup);
        let ns = TraceStep {
            label: "a cgroup namespace",
            alternatives: vec![vec!["unshare(CLONE_NEWCGROUP)"]],
        };
        steps.insert(3, ns);
        let cgroupfs = TraceStep {
            label: "the container's cgroup at /sys/fs/cgroup, read-only",
            alternatives: vec![
                vec!["mount(\"cgroup2\"", "/sys/fs/cgroup\")", "MS_RDONLY"],
                vec!["mount(\"cgroup\"", "/sys/fs/cgroup/", "MS_RDONLY"],
            ],
        };
        // After "mount sysfs".
        let at = steps
            .iter()
            .position(|s| s.label == "mount sysfs")
            .unwrap_or(0);
        steps.insert(at + 1, cgroupfs);
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

//! `rd run --trace` narrates every step of the container's birth, in order;
//! without --trace, none of it is printed.

mod common;

use common::{cgroup_mode, CgroupMode, Rd};

/// The steps, in order: (label, every piece the step's line must contain).
fn steps() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut s = vec![("clone into new namespaces", vec!["clone(", "CLONE_NEWPID"])];
    if cgroup_mode() != CgroupMode::None {
        s.push(("join the cgroup", vec!["write(", "cgroup.procs"]));
    }
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
    s
}

#[test]
fn trace_names_every_step_in_order() {
    let rd = Rd::new();
    let out = rd.run(&["--trace", "--", "/bin/true"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stderr.lines().collect();
    let mut at = 0;
    for (label, pieces) in steps() {
        match lines[at..]
            .iter()
            .position(|l| pieces.iter().all(|p| l.contains(p)))
        {
            Some(i) => at += i + 1,
            None => {
                let anywhere = lines
                    .iter()
                    .position(|l| pieces.iter().all(|p| l.contains(p)));
                panic!(
                    "--trace: no line for step '{label}' (containing {pieces:?}) after line {at}{}\n{out}",
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
    for (label, pieces) in steps() {
        for line in out.stderr.lines() {
            assert!(
                !pieces.iter().all(|p| line.contains(p)),
                "step '{label}' narrated without --trace: {line}\n{out}"
            );
        }
    }
    assert!(
        out.stderr.trim().is_empty(),
        "expected no stderr at all without --trace\n{out}"
    );
    rd.finish();
}

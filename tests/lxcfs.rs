//! lxcfs: when it runs, a container's /proc/meminfo, uptime... describe the
//! container; a hidden clean /proc keeps nested proc mounts possible.
//!
//! Each test starts its own lxcfs in a mount namespace of its own (`unshare
//! -m`), with rd inside it: rd finds the fuse.lxcfs mount there, and the
//! host's mount table never holds it.

mod common;

use common::{Output, Rd};

/// `rd --root ROOT ARGS...` with an lxcfs of its own running: a FUSE mount
/// on a fresh directory under /var/tmp, in a private mount namespace,
/// stopped and removed afterwards.
fn with_lxcfs(rd: &Rd, args: &[&str]) -> Output {
    // (modprobe: a fresh guest kernel has FUSE as a module, not loaded.)
    let script = "modprobe fuse 2>/dev/null; dir=$(mktemp -d /var/tmp/rd-lxcfs-XXXXXX) || exit 1; \
                  lxcfs -f -p \"$dir.pid\" \"$dir\" >/dev/null 2>&1 & lxcfs=$!; \
                  for i in $(seq 100); do grep -q fuse.lxcfs /proc/self/mountinfo && break; sleep 0.05; done; \
                  grep -q fuse.lxcfs /proc/self/mountinfo || echo 'lxcfs did not start' >&2; \
                  \"$0\" \"$@\"; status=$?; \
                  kill $lxcfs; wait $lxcfs; umount \"$dir\" 2>/dev/null; rmdir \"$dir\"; rm -f \"$dir.pid\"; exit $status";
    rd.in_own_mount_namespace(script, args)
}

#[test]
fn free_and_meminfo_show_the_memory_limit() {
    let rd = Rd::new();
    // The host's procps free reads /proc/meminfo (busybox's asks sysinfo(2),
    // which lxcfs cannot answer): --host-root runs the host's.
    let out = with_lxcfs(
        &rd,
        &["run", "--host-root", "--memory", "64m", "--", "free", "-m"],
    );
    out.assert_ok();
    let total = out
        .stdout_lines()
        .iter()
        .find_map(|l| l.strip_prefix("Mem:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(
        total,
        Some(64),
        "free -m inside shows the --memory limit\n{out}"
    );
    // An image run, and uptime: the container's, seconds old.
    let out = with_lxcfs(
        &rd,
        &[
            "run",
            "--memory",
            "64m",
            "--",
            "sh",
            "-c",
            "head -1 /proc/meminfo; cut -d. -f1 /proc/uptime",
        ],
    );
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(
        lines
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["MemTotal:", "65536", "kB"]),
        "{out}"
    );
    let uptime: u64 = lines
        .get(1)
        .and_then(|u| u.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        uptime < 10,
        "/proc/uptime is the container's (it just started): {uptime}\n{out}"
    );
    // Without lxcfs, the host's: the binds are what changed it.
    let out = rd.run(&["--memory", "64m", "--", "head", "-1", "/proc/meminfo"]);
    out.assert_ok();
    assert!(
        !out.stdout.contains(" 65536 kB"),
        "without lxcfs MemTotal is the host's\n{out}"
    );
    rd.finish();
}

#[test]
fn a_nested_proc_mount_works_thanks_to_the_hidden_clean_proc() {
    let rd = Rd::new();
    // --privileged: the container may make a user namespace and mount, as
    // a rootless container engine inside it would. The kernel's rule
    // applies to a mount namespace owned by a user namespace other than
    // the host's: there, a new /proc needs a fully visible one.
    let nested = "unshare -U -r -m -p -f --mount-proc true && echo nested-proc-ok";
    let out = with_lxcfs(&rd, &["run", "--privileged", "--", "sh", "-c", nested]);
    out.assert_ok();
    assert!(out.stdout_lines().contains(&"nested-proc-ok"), "{out}");
    // The container takes the clean instance away itself: the lxcfs binds
    // leave no fully visible /proc, and the kernel refuses the new one.
    let without = format!("umount /dev/.rd && umount /dev/.rd/proc && {{ {nested}; true; }}");
    let out = with_lxcfs(&rd, &["run", "--privileged", "--", "sh", "-c", &without]);
    out.assert_ok();
    assert!(
        !out.stdout_lines().contains(&"nested-proc-ok"),
        "without the clean /proc the nested mount should be refused (EPERM)\n{out}"
    );
    rd.finish();
}

#[test]
fn trace_says_when_lxcfs_is_not_used() {
    let rd = Rd::new();
    let host_has_lxcfs = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .contains("fuse.lxcfs");
    let out = rd.run(&["--trace", "--", "true"]);
    out.assert_ok();
    let says = out.stderr.contains("lxcfs is not running");
    assert_eq!(says, !host_has_lxcfs, "--trace's lxcfs line\n{out}");
    let out = with_lxcfs(&rd, &["run", "--trace", "--", "true"]);
    out.assert_ok();
    assert!(!out.stderr.contains("lxcfs is not running"), "{out}");
    assert!(
        out.stderr.contains("/proc/meminfo"),
        "the binds are traced\n{out}"
    );
    rd.finish();
}

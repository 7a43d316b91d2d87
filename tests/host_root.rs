//! `rd run --host-root`: the host's own / as the root, through directory
//! modes (overlay, read-only, hidden, full access), and nothing of it left
//! on the host afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Rd;

/// A host directory of the test's own, outside the directories hidden by
/// default (/tmp, /run, /home): under /var/tmp. It holds `host-file`.
fn host_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("rd-host-root-test-")
        .tempdir_in("/var/tmp")
        .expect("creating a test directory under /var/tmp");
    std::fs::write(dir.path().join("host-file"), "from-host\n").expect("writing host-file");
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"))
}

#[test]
fn overlay_by_default_writes_vanish_and_tmp_and_the_state_root_are_hidden() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display();
    let root = rd.root().display();
    let script = format!(
        "cat {d}/host-file; echo changed > {d}/host-file; echo new > {d}/new-file; cat {d}/host-file; \
         echo tmp $(ls -A /tmp | wc -l); ls {root} 2>&1 | head -1; echo state $(ls -A {root} 2>/dev/null | wc -l); \
         grep -c . /etc/os-release >/dev/null && echo host-etc"
    );
    let out = rd.run(&["--host-root", "--", "sh", "-c", &script]);
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(lines.get(..2), Some(&["from-host", "changed"][..]), "{out}");
    // The host's /tmp holds this test's state root: inside, /tmp is empty.
    assert!(lines.contains(&"tmp 0"), "/tmp is hidden by default\n{out}");
    assert!(
        lines.contains(&"state 0"),
        "rd's state root is hidden\n{out}"
    );
    assert!(
        lines.contains(&"host-etc"),
        "the host's /etc is the container's\n{out}"
    );
    assert_eq!(
        read(&dir.path().join("host-file")),
        "from-host\n",
        "the write reached the host"
    );
    assert!(
        !dir.path().join("new-file").exists(),
        "a new file reached the host\n{out}"
    );
    rd.finish();
}

#[test]
fn read_only_dir_refuses_writes_and_shows_the_hosts_files() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display().to_string();
    let script = format!("cat {d}/host-file; echo x > {d}/host-file && echo wrote; echo x > {d}/other && echo wrote-other; true");
    let out = rd.run(&[
        "--host-root",
        "--read-only-dir",
        &d,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    out.assert_ok();
    assert_eq!(out.stdout_lines(), ["from-host"], "{out}");
    assert!(
        out.stderr.contains("Read-only file system"),
        "expected EROFS\n{out}"
    );
    // The same without the mode: the overlay takes the writes.
    let out = rd.run(&["--host-root", "--", "sh", "-c", &script]);
    assert!(out.stdout_lines().contains(&"wrote"), "{out}");
    assert_eq!(read(&dir.path().join("host-file")), "from-host\n");
    rd.finish();
}

#[test]
fn a_read_only_root_refuses_writes_everywhere_but_the_hidden_dirs() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display().to_string();
    let script = format!(
        "cat {d}/host-file; echo x > {d}/host-file || echo refused; echo y > /tmp/t && echo tmp-ok"
    );
    let out = rd.run(&[
        "--trace",
        "--host-root",
        "--read-only-dir",
        "/",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["from-host", "refused", "tmp-ok"],
        "{out}"
    );
    // The root is the host's own filesystem: pivot_root makes no
    // /.old_root in it (a killed run would leave it on the host).
    assert!(out.stderr.contains("pivot_root(\".\", \".\")"), "{out}");
    assert!(!out.stderr.contains(".old_root"), "{out}");
    rd.finish();
}

#[test]
fn hidden_dir_is_empty_and_the_hosts_files_stay_out_of_reach() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display().to_string();
    let script = format!("echo entries $(ls -A {d} | wc -l); cat {d}/host-file; true");
    let out = rd.run(&["--host-root", "--hidden-dir", &d, "--", "sh", "-c", &script]);
    out.assert_ok();
    assert_eq!(out.stdout_lines(), ["entries 0"], "{out}");
    assert!(out.stderr.contains("No such file"), "{out}");
    rd.finish();
}

#[test]
fn full_access_dir_writes_reach_the_host() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display().to_string();
    let script = format!("echo from-container > {d}/out");
    let out = rd.run(&[
        "--host-root",
        "--full-access-dir",
        &d,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    out.assert_ok();
    assert_eq!(read(&dir.path().join("out")), "from-container\n", "{out}");
    rd.finish();
}

/// Runs rd in a mount namespace of its own where DIR/nested is a tmpfs
/// holding `file` ("inner"): a host with a submount, without touching the
/// real host's table. Prints, after rd, what the file holds there.
fn with_nested_mount(rd: &Rd, dir: &str, args: &[&str]) -> common::Output {
    with_submount(rd, &format!("{dir}/nested"), args)
}

/// with_nested_mount for any submount path.
fn with_submount(rd: &Rd, nested: &str, args: &[&str]) -> common::Output {
    let script = format!(
        "mkdir -p '{nested}' && mount -t tmpfs -o nosuid,noexec rd-test-nested '{nested}' && echo inner > '{nested}/file' && \"$0\" \"$@\"; \
         status=$?; echo \"after: $(cat '{nested}/file')\"; exit $status"
    );
    rd.in_own_mount_namespace(&script, args)
}

#[test]
fn a_nested_host_mount_gets_its_ancestors_mode() {
    let rd = Rd::new();
    let dir = host_dir();
    let d = dir.path().display().to_string();
    let script =
        format!("cat {d}/nested/file; echo changed > {d}/nested/file && cat {d}/nested/file; true");
    // Read-only from the ancestor: the submount is read-only too, and keeps
    // the host's nosuid and noexec (a remount that dropped them would be
    // refused in a user namespace, and wrong anywhere).
    let flags = format!("grep ' {d}/nested ' /proc/self/mountinfo | cut -d' ' -f6");
    let out = with_nested_mount(
        &rd,
        &d,
        &[
            "run",
            "--host-root",
            "--read-only-dir",
            &d,
            "--",
            "sh",
            "-c",
            &format!("{script}; {flags}"),
        ],
    );
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(lines.first().copied(), Some("inner"), "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    let options: Vec<&str> = lines.get(1).copied().unwrap_or("").split(',').collect();
    for flag in ["ro", "nosuid", "noexec"] {
        assert!(
            options.contains(&flag),
            "the read-only submount lacks {flag}\n{out}"
        );
    }
    assert_eq!(lines.last().copied(), Some("after: inner"), "{out}");
    // The default (overlay): writes inside, none on the host; the overlay
    // takes the host mount's nosuid and noexec, and adds nodev.
    let out = with_nested_mount(
        &rd,
        &d,
        &[
            "run",
            "--host-root",
            "--",
            "sh",
            "-c",
            &format!("{script}; {flags}"),
        ],
    );
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(lines.get(..2), Some(&["inner", "changed"][..]), "{out}");
    let options: Vec<&str> = lines.get(2).copied().unwrap_or("").split(',').collect();
    for flag in ["rw", "nosuid", "noexec", "nodev"] {
        assert!(
            options.contains(&flag),
            "the overlay of the submount lacks {flag}\n{out}"
        );
    }
    assert_eq!(lines.last().copied(), Some("after: inner"), "{out}");
    // Full access: the write reaches the (namespace's) host.
    let out = with_nested_mount(
        &rd,
        &d,
        &[
            "run",
            "--host-root",
            "--full-access-dir",
            &d,
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["inner", "changed", "after: changed"],
        "{out}"
    );
    rd.finish();
}

#[test]
fn a_mount_overlayfs_cannot_take_falls_back_to_read_only_with_a_note() {
    // overlayfs options cannot name a lowerdir holding a comma: rd cannot
    // overlay it, and must neither fail the run nor expose it writable.
    let rd = Rd::new();
    let dir = host_dir();
    let nested = format!("{}/with,comma", dir.path().display());
    let script = format!("cat '{nested}/file'; echo changed > '{nested}/file' && echo wrote; true");
    let out = with_submount(
        &rd,
        &nested,
        &["run", "--host-root", "--", "sh", "-c", &script],
    );
    out.assert_ok();
    assert_eq!(out.stdout_lines(), ["inner", "after: inner"], "{out}");
    assert!(
        out.stderr.contains("overlayfs will not take") && out.stderr.contains("read-only instead"),
        "the fallback is said\n{out}"
    );
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    rd.finish();
}

#[test]
fn a_killed_monitor_and_rd_cleanup_leave_the_host_as_it_was() {
    let rd = Rd::new();
    let out = rd.rd(&[
        "run",
        "-d",
        "--name",
        "hr",
        "--host-root",
        "--",
        "sleep",
        "60",
    ]);
    out.assert_ok();
    let inspect = rd.rd(&["inspect", "hr"]);
    inspect.assert_ok();
    let rec: serde_json::Value =
        serde_json::from_str(&inspect.stdout).expect("inspect prints JSON");
    let (monitor, init) = (
        rec["monitor_pid"].as_i64().expect("monitor_pid") as i32,
        rec["pid"].as_i64().expect("pid") as i32,
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the monitor");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{init}")).exists() {
        assert!(Instant::now() < deadline, "the init outlived its monitor");
        std::thread::sleep(Duration::from_millis(20));
    }
    rd.rd(&["cleanup"]).assert_ok();
    rd.finish();
}

#[test]
fn bad_host_root_input_is_one_line_and_125() {
    let rd = Rd::new();
    let missing = PathBuf::from("/var/tmp/rd-no-such-dir-here");
    for (args, says) in [
        (
            vec!["--host-root", "--hidden-dir", "tmp", "--", "true"],
            "absolute",
        ),
        (
            vec!["--host-root", "-i", "busybox", "--", "true"],
            "--host-root",
        ),
        (vec!["--read-only-dir", "/usr", "--", "true"], "--host-root"),
        (
            vec![
                "--host-root",
                "--read-only-dir",
                missing.to_str().unwrap_or("/x"),
                "--",
                "true",
            ],
            "no such directory",
        ),
        (
            vec!["--host-root", "--full-access-dir", "/proc", "--", "true"],
            "container's own",
        ),
        (vec!["--host-root"], "give one"),
    ] {
        let out = rd.run(&args);
        out.assert_code(125);
        assert!(
            out.stderr.contains(says),
            "{args:?}: expected '{says}'\n{out}"
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: one line\n{out}"
        );
        rd.assert_no_containers(&out);
    }
    rd.finish();
}

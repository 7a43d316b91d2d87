//! The escape suite: root inside a default container tries what issue #8
//! listed, and each attempt must be refused. A probe that cannot succeed
//! proves nothing, so each one also runs with its defence switched off
//! (--privileged, or the matching --cap-add / --security-opt / --preserve-fds)
//! and must succeed there.
//!
//! The attacks are small programs: busybox's applets, and tests/probes/escape.c
//! (built static with gcc once per run) for the system calls busybox has no
//! applet for. Each prints WORKED, REFUSED or NA (this kernel cannot run it).

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{host, make_mini_rootfs, make_tarball, run_with_timeout, Output, Rd};

/// The probe program, built once for the whole test binary.
fn probe_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rd-escape-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("escape");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probes/escape.c");
        host(
            "gcc",
            &[
                "-static",
                "-O2",
                "-o",
                bin.to_str().unwrap(),
                src.to_str().unwrap(),
            ],
        )
        .assert_ok();
        bin
    })
}

/// A test's rd with the image `escape`: busybox, the probe at /bin/escape,
/// a setuid-root copy at /bin/escape-suid, and a user `student` (1000).
struct Lab {
    rd: Rd,
}

impl Lab {
    fn new() -> Lab {
        Lab::with_rootfs(|_| {})
    }

    /// The image, changed by `tweak` before it is imported.
    fn with_rootfs(tweak: impl FnOnce(&Path)) -> Lab {
        let rd = Rd::new();
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        make_mini_rootfs(&rootfs);
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::create_dir_all(rootfs.join("mnt")).unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:1000::/tmp:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nstudent:x:1000:\n").unwrap();
        for applet in [
            "cat", "echo", "find", "grep", "head", "id", "ls", "mkdir", "mknod", "mount", "pwd",
            "stty", "tty", "wc",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::copy(probe_binary(), rootfs.join("bin/escape")).unwrap();
        let suid = rootfs.join("bin/escape-suid");
        std::fs::copy(probe_binary(), &suid).unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        tweak(&rootfs);
        let tar = work.path().join("escape.tar");
        make_tarball(&rootfs, &tar, false);
        rd.rd(&["import", tar.to_str().unwrap(), "escape"])
            .assert_ok();
        Lab { rd }
    }

    /// `rd run -i escape FLAGS -- CMD...` (no terminal: stdin is /dev/null).
    #[track_caller]
    fn run(&self, flags: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["-i", "escape"];
        args.extend_from_slice(flags);
        args.push("--");
        args.extend_from_slice(cmd);
        self.rd.run(&args)
    }

    /// The same, as a shell command line.
    #[track_caller]
    fn sh(&self, flags: &[&str], script: &str) -> Output {
        self.run(flags, &["/bin/sh", "-c", script])
    }
}

/// Runs `probe` by default and with `off` (the defence switched off):
/// REFUSED, then WORKED. Returns false when this kernel cannot run it.
#[track_caller]
fn refused_unless(lab: &Lab, off: &[&str], probe: &[&str]) -> bool {
    let mut cmd = vec!["/bin/escape"];
    cmd.extend_from_slice(probe);
    let control = lab.run(off, &cmd);
    if control.stdout.starts_with("NA") {
        eprintln!(
            "{probe:?}: not applicable on this kernel: {}",
            control.stdout
        );
        return false;
    }
    assert!(
        control.stdout.starts_with("WORKED"),
        "with the defence off ({off:?}) the attack must work, or it proves nothing\n{control}"
    );
    let out = lab.run(&[], &cmd);
    assert!(
        out.stdout.starts_with("REFUSED"),
        "a default container must refuse {probe:?}\n{out}"
    );
    true
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

/// Docker's 14: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
/// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const DEFAULT_CAPS: &str = "00000000a80425fb";

#[test]
fn root_keeps_dockers_14_capabilities_and_a_seccomp_filter() {
    let lab = Lab::new();
    let out = lab.run(&[], &["/bin/escape", "status"]);
    out.assert_ok();
    for key in ["CapEff:", "CapPrm:", "CapBnd:", "CapInh:"] {
        assert_eq!(status_field(&out.stdout, key), DEFAULT_CAPS, "{key}\n{out}");
    }
    assert_eq!(status_field(&out.stdout, "CapAmb:"), "0000000000000000");
    assert_eq!(status_field(&out.stdout, "Seccomp:"), "2", "{out}");

    // Switched off: every capability this kernel has, and no filter.
    let host_bounding = status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd:",
    );
    let off = lab.run(&["--privileged"], &["/bin/escape", "status"]);
    off.assert_ok();
    assert_eq!(status_field(&off.stdout, "CapEff:"), host_bounding, "{off}");
    assert_eq!(status_field(&off.stdout, "Seccomp:"), "0", "{off}");
    assert!(
        off.stderr.contains("--privileged: every defence is off"),
        "{off}"
    );

    // --cap-add and --cap-drop, docker's names.
    let added = lab.run(
        &["--cap-add", "SYS_ADMIN", "--cap-drop", "CAP_NET_RAW"],
        &["/bin/escape", "status"],
    );
    let eff = u64::from_str_radix(&status_field(&added.stdout, "CapEff:"), 16).unwrap();
    assert_ne!(eff & (1 << 21), 0, "SYS_ADMIN added\n{added}");
    assert_eq!(eff & (1 << 13), 0, "NET_RAW dropped\n{added}");
    let none = lab.run(&["--cap-drop", "all"], &["/bin/escape", "status"]);
    assert_eq!(status_field(&none.stdout, "CapEff:"), "0000000000000000");
    lab.rd.finish();
}

#[test]
fn sysctls_and_proc_are_read_only_or_hidden() {
    let lab = Lab::new();
    // Write core_pattern's own value back: harmless where it works.
    let script = "cat /proc/sys/kernel/core_pattern > /tmp/cp && cat /tmp/cp > /proc/sys/kernel/core_pattern && echo WROTE";
    let out = lab.sh(&[], script);
    assert!(!out.stdout.contains("WROTE"), "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    let off = lab.sh(&["--privileged"], script);
    assert!(off.stdout.contains("WROTE"), "{off}");

    // Masked: /proc/keys is /dev/null, /sys/firmware an empty tmpfs.
    let out = lab.sh(
        &[],
        "wc -c < /proc/keys; ls -A /sys/firmware | wc -l; grep -c ' /proc/sys ro,' /proc/self/mountinfo",
    );
    assert_eq!(out.stdout_lines(), ["0", "0", "1"], "{out}");
    lab.rd.finish();
}

#[test]
fn the_cgroup_tree_is_the_containers_own_and_read_only() {
    let lab = Lab::new();
    let v2 = common::cgroup_mode() == common::CgroupMode::V2;
    let limit = if v2 {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    };
    let raise = format!("echo 67108864 > {limit} && cat {limit}");
    let out = lab.sh(&["--memory", "32m"], &raise);
    assert!(!out.stdout.contains("67108864"), "{out}");
    let off = lab.sh(&["--memory", "32m", "--privileged"], &raise);
    assert!(off.stdout.contains("67108864"), "{off}");

    // A cgroup namespace: every hierarchy's root is the container's cgroup,
    // and no other cgroup of the host is in sight.
    let out = lab.sh(
        &[],
        "cat /proc/self/cgroup; find /sys/fs/cgroup -mindepth 2 -type d | wc -l",
    );
    let lines = out.stdout_lines();
    assert!(lines.len() > 1, "{out}");
    for l in &lines[..lines.len() - 1] {
        assert!(l.ends_with(":/"), "{l}\n{out}");
    }
    assert_eq!(lines.last(), Some(&"0"), "{out}");

    // Mounting the cgroup filesystem: refused, unless privileged.
    let mount = if v2 {
        "mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && echo MOUNTED"
    } else {
        "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg && echo MOUNTED"
    };
    assert!(!lab.sh(&[], mount).stdout.contains("MOUNTED"));
    let off = lab.sh(&["--privileged"], mount);
    assert!(off.stdout.contains("MOUNTED"), "{off}");
    lab.rd.finish();
}

#[test]
fn device_nodes_made_in_the_container_do_not_open() {
    let lab = Lab::new();
    // /dev/kmsg is 1:11 (the host's kernel log); a loop device is 7:0.
    for (node, kind, major, minor) in [
        ("/dev/kmsg2", "c", "1", "11"),
        ("/tmp/kmsg", "c", "1", "11"),
        ("/dev/loop9", "b", "7", "0"),
    ] {
        let script = format!("mknod {node} {kind} {major} {minor} && /bin/escape read {node}");
        let out = lab.sh(&[], &script);
        assert!(out.stdout.contains("REFUSED EACCES"), "{node}\n{out}");
        if node.starts_with("/dev/") && kind == "c" {
            let off = lab.sh(&["--privileged"], &script);
            assert!(off.stdout.contains("WORKED"), "{node}\n{off}");
        }
    }
    // The allowed ones work.
    let out = lab.sh(
        &[],
        "head -c 5 /dev/zero | wc -c; head -c 5 /dev/urandom | wc -c; echo x > /dev/null && echo null",
    );
    assert_eq!(out.stdout_lines(), ["5", "5", "null"], "{out}");
    lab.rd.finish();
}

#[test]
fn no_new_mounts_no_remounts() {
    let lab = Lab::new();
    for script in [
        "mount -t tmpfs none /mnt && echo MOUNTED",
        "mount -o remount,rw /sys && echo MOUNTED",
    ] {
        let out = lab.sh(&[], script);
        assert!(!out.stdout.contains("MOUNTED"), "{script}\n{out}");
        let off = lab.sh(&["--privileged"], script);
        assert!(off.stdout.contains("MOUNTED"), "{script}\n{off}");
    }
    lab.rd.finish();
}

#[test]
fn seccomp_refuses_keyctl_user_namespaces_and_foreign_abis() {
    let lab = Lab::new();
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    refused_unless(&lab, &unconfined, &["keyctl"]);
    refused_unless(&lab, &unconfined, &["unshare-user"]);
    refused_unless(&lab, &unconfined, &["clone-user"]);
    let abis = [
        refused_unless(&lab, &unconfined, &["i386"]),
        refused_unless(&lab, &unconfined, &["x32"]),
    ];
    assert!(
        abis.iter().any(|&ran| ran),
        "no foreign ABI to test on x86_64?"
    );
    // bpf and perf_event_open need capabilities too: off = --privileged.
    refused_unless(&lab, &["--privileged"], &["bpf"]);
    refused_unless(&lab, &["--privileged"], &["perf"]);
    lab.rd.finish();
}

#[test]
fn a_docker_profile_file_is_honoured() {
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    // Everything allowed, but getcwd refused with ENOTSUP (95).
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = lab.run(&["--security-opt", &opt], &["/bin/escape", "keyctl"]);
    assert!(
        out.stdout.starts_with("WORKED"),
        "only getcwd is refused\n{out}"
    );
    let out = lab.sh(&["--security-opt", &opt], "/bin/busybox pwd");
    assert!(out.stderr.contains("not supported"), "{out}");

    std::fs::write(&profile, "{\"defaultAction\": \"SCMP_ACT_DANCE\"}").unwrap();
    let bad = lab.run(&["--security-opt", &opt], &["true"]);
    bad.assert_rd_error();
    assert!(bad.stderr.contains("SCMP_ACT_DANCE"), "{bad}");
    // Well-formed JSON that libseccomp cannot compile (two comparisons of
    // one argument): one line, and no container was made.
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [
              {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
              {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap();
    let bad = lab.run(&["--security-opt", &opt], &["true"]);
    bad.assert_rd_error();
    assert!(bad.stderr.contains("does not compile"), "{bad}");
    lab.rd.finish();
}

#[test]
fn a_setuid_root_binary_under_user_regains_at_most_the_default_set() {
    let lab = Lab::new();
    let plain = lab.run(&["-u", "1000:1000"], &["/bin/escape", "status"]);
    assert_eq!(status_field(&plain.stdout, "CapEff:"), "0000000000000000");
    assert_eq!(status_field(&plain.stdout, "CapPrm:"), "0000000000000000");
    assert_eq!(status_field(&plain.stdout, "CapBnd:"), DEFAULT_CAPS);

    let suid = lab.run(&["-u", "1000:1000"], &["/bin/escape-suid", "status"]);
    assert_eq!(
        status_field(&suid.stdout, "CapEff:"),
        DEFAULT_CAPS,
        "{suid}"
    );
    let off = lab.run(
        &["-u", "1000:1000", "--privileged"],
        &["/bin/escape-suid", "status"],
    );
    let full = status_field(&off.stdout, "CapEff:");
    assert_ne!(full, DEFAULT_CAPS, "{off}");
    assert_eq!(full, status_field(&off.stdout, "CapBnd:"), "{off}");

    // no-new-privileges: the setuid bit gives nothing at all.
    let nnp = lab.run(
        &["-u", "1000:1000", "--security-opt", "no-new-privileges"],
        &["/bin/escape-suid", "status"],
    );
    assert_eq!(status_field(&nnp.stdout, "CapEff:"), "0000000000000000");
    assert!(
        status_field(&nnp.stdout, "Uid:").starts_with("1000\t1000"),
        "{nnp}"
    );
    assert_eq!(status_field(&nnp.stdout, "NoNewPrivs:"), "1");
    lab.rd.finish();
}

#[test]
fn the_callers_supplementary_groups_stay_outside() {
    let lab = Lab::new();
    for (user, want) in [(None, "0"), (Some("1000:1000"), "1000")] {
        let mut args = vec!["run", "-i", "escape"];
        if let Some(u) = user {
            args.extend(["-u", u]);
        }
        args.extend(["--", "id", "-G"]);
        let mut cmd = lab.rd.command(&args);
        // SAFETY: setgroups in the forked child before exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setgroups(&[nix::unistd::Gid::from_raw(10), 4242.into()])
                    .map_err(std::io::Error::from)
            });
        }
        let out = run_with_timeout(&mut cmd, common::TIMEOUT);
        assert_eq!(out.stdout.trim(), want, "{user:?}\n{out}");
    }
    lab.rd.finish();
}

/// `rd ARGS` with the caller's descriptor 3 open on `dir` (a shell's `3<DIR`).
fn with_fd3(lab: &Lab, dir: &Path, args: &[&str]) -> Output {
    let fd = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let raw = fd.as_raw_fd();
    let mut cmd = lab.rd.command(args);
    // SAFETY: dup2 in the forked child before exec (not close-on-exec).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_with_timeout(&mut cmd, common::TIMEOUT);
    drop(fd);
    out
}

#[test]
fn the_callers_descriptors_are_closed_and_cannot_be_the_working_directory() {
    let lab = Lab::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("host-marker"), "").unwrap();

    let probe = ["run", "-i", "escape", "--", "/bin/escape", "fd", "3"];
    let out = with_fd3(&lab, outside.path(), &probe);
    assert!(out.stdout.starts_with("REFUSED EBADF"), "{out}");
    let kept = [
        "run",
        "-i",
        "escape",
        "--preserve-fds",
        "1",
        "--",
        "/bin/escape",
        "fd",
        "3",
    ];
    assert!(with_fd3(&lab, outside.path(), &kept)
        .stdout
        .starts_with("WORKED"));

    // CVE-2024-21626: the leaked descriptor as the working directory.
    let cwd = |flags: &[&str]| {
        let mut args = vec!["run", "-i", "escape", "-w", "/proc/self/fd/3"];
        args.extend_from_slice(flags);
        args.extend(["--", "ls"]);
        with_fd3(&lab, outside.path(), &args)
    };
    let closed = cwd(&[]);
    closed.assert_rd_error();
    assert!(!closed.stdout.contains("host-marker"), "{closed}");
    let checked = cwd(&["--preserve-fds", "1"]);
    checked.assert_rd_error();
    assert!(
        checked.stderr.contains("outside the container's root"),
        "{checked}"
    );
    assert!(!checked.stdout.contains("host-marker"), "{checked}");
    let off = cwd(&["--preserve-fds", "1", "--privileged"]);
    assert!(off.stdout.contains("host-marker"), "{off}");
    lab.rd.finish();
}

/// Opens a pty pair; the slave becomes the controlling terminal of the
/// command's process, as a shell's terminal would be.
fn at_terminal(cmd: &mut Command) -> (OwnedFd, OwnedFd) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave.as_raw_fd();
    cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
    // SAFETY: setsid and TIOCSCTTY in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    (pty.master, pty.slave)
}

/// What the terminal's output side received (the master's read side).
fn read_available(fd: &OwnedFd) -> String {
    nix::fcntl::fcntl(
        fd,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut f = std::fs::File::from(fd.try_clone().unwrap());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs rd at a terminal; returns (rd's exit code, what rd printed, what
/// is left queued as *input* on the terminal for the caller's shell).
fn run_at_terminal(lab: &Lab, args: &[&str]) -> (i32, String, String) {
    let mut cmd = lab.rd.command(args);
    let (master, slave) = at_terminal(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut printed = String::new();
    let code = loop {
        printed.push_str(&read_available(&master));
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        assert!(std::time::Instant::now() < deadline, "rd hangs\n{printed}");
        std::thread::sleep(Duration::from_millis(20));
    };
    printed.push_str(&read_available(&master));
    // What a shell reading this terminal would get next: the pending input.
    let queued = read_available(&slave);
    (code, printed, queued)
}

#[test]
fn tiocsti_cannot_type_into_the_callers_terminal() {
    let lab = Lab::new();
    let inject = |flags: &[&str]| {
        let mut args = vec!["run", "-i", "escape"];
        args.extend_from_slice(flags);
        args.extend(["--", "/bin/escape", "tiocsti", "0", "echo pwned\n"]);
        run_at_terminal(&lab, &args)
    };
    // Sharing the caller's terminal (-T): its own session keeps it out.
    let (_, printed, queued) = inject(&["-T"]);
    assert!(printed.contains("REFUSED EPERM"), "{printed}");
    assert!(!queued.contains("pwned"), "{queued}");
    let (_, printed, queued) = inject(&["-T", "--privileged"]);
    assert!(printed.contains("WORKED"), "{printed}");
    assert!(
        queued.contains("echo pwned"),
        "the control must reach the terminal: {queued:?}"
    );

    // The default at a terminal: a pty of its own. TIOCSTI works there, on
    // the container's own terminal, and the caller's gets nothing.
    let (code, printed, queued) = inject(&[]);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("WORKED"), "{printed}");
    assert!(!queued.contains("pwned"), "{queued}");
    lab.rd.finish();
}

#[test]
fn a_terminal_of_its_own_with_job_control_and_the_exit_status() {
    let lab = Lab::new();
    let (code, printed, _) = run_at_terminal(
        &lab,
        &[
            "run",
            "-i",
            "escape",
            "--",
            "/bin/sh",
            "-c",
            "tty; [ -t 0 ] && echo STDIN-TTY; stty size; exit 7",
        ],
    );
    assert_eq!(code, 7, "{printed}");
    assert!(printed.contains("/dev/pts/0"), "{printed}");
    assert!(printed.contains("STDIN-TTY"), "{printed}");
    // Piped input keeps working (no terminal: no pty).
    let mut cmd = lab.rd.command(&["run", "-i", "escape", "--", "cat"]);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    lab.rd.finish();
}

#[test]
fn images_whose_proc_sys_or_dev_are_symlinks_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    for (dir, link) in [
        ("proc", "/etc".to_string()),
        ("sys", "/".to_string()),
        ("dev", "../..".to_string()),
        ("dev", target.clone()),
    ] {
        let lab = Lab::with_rootfs(|root| {
            let _ = std::fs::remove_dir(root.join(dir));
            std::os::unix::fs::symlink(&link, root.join(dir)).unwrap();
        });
        let out = lab.run(&[], &["true"]);
        out.assert_rd_error();
        assert!(out.stderr.contains("symlink"), "/{dir} -> {link}\n{out}");
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        lab.rd.finish();
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn etc_passwd_that_is_a_fifo_or_a_link_to_dev_zero_is_refused() {
    for (what, make) in [
        (
            "FIFO",
            Box::new(|p: &Path| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap()
            }) as Box<dyn Fn(&Path)>,
        ),
        (
            "symlink",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ),
    ] {
        let lab = Lab::with_rootfs(|root| {
            let passwd = root.join("etc/passwd");
            std::fs::remove_file(&passwd).unwrap();
            make(&passwd);
        });
        let out = lab.rd.run_timeout(
            &["-i", "escape", "-u", "student", "--", "true"],
            Duration::from_secs(20),
        );
        out.assert_rd_error();
        assert!(out.stderr.contains("/etc/passwd"), "{what}\n{out}");
        assert_eq!(out.stderr_lines().len(), 1, "{what}\n{out}");
        lab.rd.finish();
    }
}

#[test]
fn the_state_root_is_private_to_root() {
    let lab = Lab::new();
    let root = lab.rd.root();
    let suid = host("find", &[root.to_str().unwrap(), "-name", "escape-suid"]);
    let suid = suid.stdout.trim().to_string();
    assert!(suid.contains("/layers/"), "{suid}");
    // As a local user would: uid and gid 65534, no supplementary groups
    // (std drops them when it changes the uid of a root process).
    let as_nobody = |path: &str| -> std::io::Result<String> {
        let out = Command::new(path)
            .arg("status")
            .uid(65534)
            .gid(65534)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let out = as_nobody(&suid);
    let denied = |r: &std::io::Result<String>| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied);
    assert!(denied(&out), "nobody must not reach {suid}: {out:?}");

    // An old root of mode 0755: the setuid binary is within anyone's reach
    // (the attack works), until rd tightens it, and says so.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["layers", host("dirname", &[&suid]).stdout.trim()] {
        let p = if dir.starts_with('/') {
            PathBuf::from(dir)
        } else {
            root.join(dir)
        };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cur = PathBuf::from(&suid);
    while let Some(parent) = cur.parent() {
        if parent == root {
            break;
        }
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        cur = parent.to_path_buf();
    }
    let reached = as_nobody(&suid);
    assert!(
        reached.as_ref().is_ok_and(|o| o.contains("Uid:")),
        "the control must reach it: {reached:?}"
    );
    let run = lab.sh(&[], "exit 0");
    run.assert_ok();
    assert!(run.stderr.contains("tightened"), "{run}");
    let mode = std::fs::metadata(root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(denied(&as_nobody(&suid)));
    let again = lab.sh(&[], "exit 0");
    assert!(!again.stderr.contains("tightened"), "said once\n{again}");

    // A --root that is not rd's (`--root /tmp`, say) is never chmod'ed.
    let foreign = tempfile::tempdir().unwrap();
    std::fs::write(foreign.path().join("someone-elses"), "").unwrap();
    std::fs::set_permissions(foreign.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mut cmd = Command::new(common::rd_bin());
    cmd.env_remove("RD_ROOT")
        .arg("--root")
        .arg(foreign.path())
        .args(["run", "--", "true"]);
    let out = run_with_timeout(&mut cmd, common::TIMEOUT);
    out.assert_rd_error();
    assert!(out.stderr.contains("not rd's"), "{out}");
    let mode = std::fs::metadata(foreign.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o1777);
    lab.rd.finish();
}

// ------------------------------------------------------------ tar bombs

/// A gzip'd tar whose first member is a meta header (`kind`) of `size`
/// bytes of zeros: a few MB on disk, `size` in memory if buffered.
fn bomb(path: &Path, kind: u8, size: u64) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").unwrap();
    h.set_size(size);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mode(0o644);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size.div_ceil(512) * 512;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        gz.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap();
}

/// `rd import FILE NAME` inside a fresh memory cgroup of `limit` bytes;
/// returns the output and how many OOM kills the cgroup saw.
fn import_with_memory_limit(rd: &Rd, file: &Path, limit: u64) -> (Output, u64) {
    let v2 = common::cgroup_mode() == common::CgroupMode::V2;
    let base = if v2 {
        "/sys/fs/cgroup"
    } else {
        "/sys/fs/cgroup/memory"
    };
    let cg = PathBuf::from(base).join(format!("escape-bomb-{}", std::process::id()));
    std::fs::create_dir(&cg).unwrap();
    let (limit_file, events) = if v2 {
        ("memory.max", "memory.events")
    } else {
        ("memory.limit_in_bytes", "memory.oom_control")
    };
    std::fs::write(cg.join(limit_file), limit.to_string()).unwrap();
    if v2 {
        let _ = std::fs::write(cg.join("memory.swap.max"), "0");
    } else {
        let _ = std::fs::write(cg.join("memory.memsw.limit_in_bytes"), limit.to_string());
    }
    let procs = cg.join("cgroup.procs");
    let mut cmd = rd.command(&["import", file.to_str().unwrap(), "bomb"]);
    // SAFETY: writing our own pid to cgroup.procs in the child before exec.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs, "0"));
    }
    let out = run_with_timeout(&mut cmd, Duration::from_secs(120));
    let kills = std::fs::read_to_string(cg.join(events))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0);
    std::fs::remove_dir(&cg).unwrap();
    (out, kills)
}

#[test]
fn tar_bombs_are_refused_before_they_are_buffered() {
    let rd = Rd::new();
    let dir = tempfile::tempdir().unwrap();
    for (kind, name) in [(b'x', "PAX header"), (b'L', "GNU long name")] {
        let file = dir.path().join(format!("bomb-{}.tar.gz", kind as char));
        bomb(&file, kind, 1 << 30);
        assert!(std::fs::metadata(&file).unwrap().len() < 16 << 20);
        let (out, kills) = import_with_memory_limit(&rd, &file, 256 << 20);
        assert_eq!(kills, 0, "{name}: OOM-killed\n{out}");
        out.assert_rd_error();
        assert!(out.stderr.contains("more than 1048576"), "{name}\n{out}");
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        assert!(rd.entries("tmp").is_empty(), "{:?}", rd.entries("tmp"));
        assert!(rd.entries("layers").is_empty());
    }

    // Sparse members (7 GiB of holes), GNU and PAX formats: refused, never
    // written out as zeros.
    let holes = dir.path().join("holes");
    host("truncate", &["-s", "7G", holes.to_str().unwrap()]).assert_ok();
    for format in ["gnu", "pax"] {
        let tar = dir.path().join(format!("sparse-{format}.tar"));
        host(
            "tar",
            &[
                "-C",
                dir.path().to_str().unwrap(),
                "--sparse",
                &format!("--format={format}"),
                "-cf",
                tar.to_str().unwrap(),
                "holes",
            ],
        )
        .assert_ok();
        let out = rd.rd(&["import", tar.to_str().unwrap(), "sparse"]);
        out.assert_rd_error();
        assert!(out.stderr.contains("sparse"), "{format}\n{out}");
        assert!(rd.entries("tmp").is_empty());
    }
    rd.finish();
}

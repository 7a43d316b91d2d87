//! What a container's command sees: its own PID namespace, hostname,
//! network, mounts, /dev, overlay root, user, environment and directory.

mod common;

use common::{host_block_devices, host_hostname, is_container_id, parse_mountinfo_line, Rd};

#[test]
fn pid_1_is_the_command() {
    let rd = Rd::new();
    let out = rd.run(&["--", "sh", "-c", "echo $$"]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "1",
        "expected `echo $$` to print 1 (the command is PID 1)\n{out}"
    );
    rd.finish();
}

#[test]
fn proc_and_ps_list_only_the_containers_processes() {
    let rd = Rd::new();
    // Two background sleeps, so the container has a few processes to list.
    let out = rd.run(&[
        "--",
        "sh",
        "-c",
        // Wait (bounded by the test's timeout) until both have exec'd sleep.
        "sleep 30 & sleep 30 & until [ \"$(pidof sleep | wc -w)\" = 2 ]; do :; done; \
         ls /proc | grep '^[0-9][0-9]*$' | tr '\\n' ' '; echo; ps; kill %1 %2",
    ]);
    out.assert_ok();
    let lines = out.stdout_lines();
    let pids: Vec<u32> = lines[0]
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        pids.contains(&1),
        "expected PID 1 in the container's /proc\n{out}"
    );
    assert!(
        pids.len() <= 8 && pids.iter().all(|&p| p < 20),
        "expected /proc to list only the container's few processes (sh, 2 sleeps, ls, grep, tr), got {pids:?}\n{out}"
    );
    let host_pid = std::process::id();
    assert!(
        !pids.contains(&host_pid),
        "the test's own host pid {host_pid} is visible inside\n{out}"
    );
    // ps: a header, then one line per process, all with small pids.
    let ps: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| !l.starts_with("PID"))
        .collect();
    assert!(
        ps.len() >= 3,
        "expected ps to list sh and the two sleeps\n{out}"
    );
    for l in &ps {
        let pid: u32 = l
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap_or(u32::MAX);
        assert!(
            pid < 20,
            "ps lists a pid that is not the container's: {l}\n{out}"
        );
    }
    assert_eq!(
        ps.iter()
            .filter(|l| l.split_whitespace().skip(2).collect::<Vec<_>>() == ["sleep", "30"])
            .count(),
        2,
        "expected the 2 sleeps in ps\n{out}"
    );
    rd.finish();
}

#[test]
fn hostname_defaults_to_the_container_id() {
    let rd = Rd::new();
    let host_before = host_hostname();
    let out = rd.run(&["--", "hostname"]);
    out.assert_ok();
    let name = out.stdout.trim();
    assert!(
        is_container_id(name),
        "expected the default hostname to be the container id (12 hex digits), got {name:?}\n{out}"
    );
    assert_ne!(
        name, host_before,
        "the container sees the host's hostname\n{out}"
    );
    let out2 = rd.run(&["--", "sh", "-c", "echo $HOSTNAME"]);
    out2.assert_ok();
    let name2 = out2.stdout.trim();
    assert!(
        is_container_id(name2),
        "expected $HOSTNAME to be a container id, got {name2:?}\n{out2}"
    );
    assert_ne!(name, name2, "two containers got the same id/hostname");
    assert_eq!(host_hostname(), host_before, "the host's hostname changed");
    rd.finish();
}

#[test]
fn hostname_flag_sets_the_containers_name_only() {
    let rd = Rd::new();
    let host_before = host_hostname();
    let out = rd.run(&[
        "--hostname",
        "web1",
        "--",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/hostname",
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["web1", "web1"],
        "expected hostname web1 inside\n{out}"
    );
    assert_eq!(
        host_hostname(),
        host_before,
        "the host's hostname changed after --hostname web1"
    );
    let hostname_cmd = common::host("hostname", &[]);
    assert_eq!(
        hostname_cmd.stdout.trim(),
        host_before,
        "`hostname` on the host changed\n{hostname_cmd}"
    );
    rd.finish();
}

#[test]
fn only_loopback_exists_and_it_is_up() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--network",
        "none",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net; cat /sys/class/net/lo/flags",
    ]);
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(
        lines.first().copied(),
        Some("lo"),
        "expected /sys/class/net to hold only lo\n{out}"
    );
    assert_eq!(lines.len(), 2, "expected only lo in /sys/class/net\n{out}");
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("lo's flags {:?} are not hex: {e}\n{out}", lines[1]));
    assert!(
        flags & 0x1 != 0,
        "lo is down: flags {flags:#x} lack IFF_UP (0x1)\n{out}"
    );
    // And it works: 127.0.0.1 answers.
    let ping = rd.run(&[
        "--",
        "sh",
        "-c",
        "ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reachable",
    ]);
    assert_eq!(
        ping.stdout.trim(),
        "reachable",
        "127.0.0.1 unreachable inside the container\n{ping}"
    );
    rd.finish();
}

#[test]
fn mountinfo_shows_only_the_containers_mounts() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--",
        "sh",
        "-c",
        "cat /proc/self/mountinfo; echo ===; ls -a /",
    ]);
    out.assert_ok();
    let (mountinfo, ls) = out
        .stdout
        .split_once("===")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let mounts: Vec<_> = mountinfo.lines().filter_map(parse_mountinfo_line).collect();
    let points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
    // The container's own: its root, the kernel's filesystems, /dev and
    // what is bound or mounted in it, its cgroup, the masked and read-only
    // paths (those this kernel has). Nothing else, nothing of the host's.
    let base = [
        "/",
        "/dev",
        "/dev/mqueue",
        "/dev/pts",
        "/dev/shm",
        "/proc",
        "/sys",
        "/sys/fs/cgroup",
        "/proc/sys",
    ];
    for p in base {
        assert!(points.contains(&p), "{p} is not mounted inside\n{out}");
    }
    for p in &points {
        let device = p
            .strip_prefix("/dev/")
            .is_some_and(|d| rd::birth::devices::DEVICES.iter().any(|(n, _, _)| *n == d));
        let security =
            rd::security::masks::MASKED.contains(p) || rd::security::masks::READ_ONLY.contains(p);
        let etc = p
            .strip_prefix("/etc/")
            .is_some_and(|f| rd::birth::etc_files::FILES.contains(&f));
        assert!(
            base.contains(p) || device || security || etc || p.starts_with("/sys/fs/cgroup/"),
            "unexpected mount {p} inside\n{out}"
        );
    }
    let root = rd.root().to_string_lossy().to_string();
    for line in mountinfo.lines().filter(|l| !l.trim().is_empty()) {
        let m = parse_mountinfo_line(line)
            .unwrap_or_else(|| panic!("bad mountinfo line {line:?}\n{out}"));
        if m.mount_point == "/" {
            // overlay's options name the host's layer dirs: that is fine,
            // but the mount point and source must not.
            assert!(
                !m.source.contains(&root),
                "the root mount's source names a host path: {line}"
            );
        } else {
            assert!(
                !line.contains(&root),
                "a mount names the state root {root}: {line}"
            );
        }
        assert!(
            !line.contains(".old_root"),
            "the old root is still mounted: {line}"
        );
    }
    let entries: Vec<&str> = ls.split_whitespace().collect();
    assert!(
        !entries.contains(&".old_root"),
        "/.old_root is left in the container's root\n{out}"
    );
    rd.finish();
}

#[test]
fn root_is_an_overlay() {
    let rd = Rd::new();
    let out = rd.run(&["--", "cat", "/proc/self/mountinfo"]);
    out.assert_ok();
    let root = out
        .stdout
        .lines()
        .filter_map(parse_mountinfo_line)
        .find(|m| m.mount_point == "/")
        .unwrap_or_else(|| panic!("no / in the container's mountinfo\n{out}"));
    assert_eq!(root.fstype, "overlay", "expected / to be an overlay\n{out}");
    assert!(
        root.super_options.contains("upperdir=") && root.super_options.contains("lowerdir="),
        "the overlay has no upperdir/lowerdir: {root:?}"
    );
    rd.finish();
}

#[test]
fn dev_has_working_nodes_and_no_host_disks() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--",
        "sh",
        "-c",
        "head -c 16 /dev/urandom | wc -c; \
         echo x > /dev/null && echo null-ok; \
         head -c 8 /dev/zero | od -An -tx1; \
         if echo x > /dev/full; then echo full-accepted; else echo full-refused; fi; \
         echo ===; ls /dev",
    ]);
    out.assert_ok();
    let (checks, ls) = out
        .stdout
        .split_once("===")
        .unwrap_or_else(|| panic!("no separator\n{out}"));
    let lines: Vec<&str> = checks
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines.first().copied(),
        Some("16"),
        "/dev/urandom did not give 16 bytes\n{out}"
    );
    assert!(
        lines.contains(&"null-ok"),
        "writing to /dev/null failed\n{out}"
    );
    assert!(
        lines.contains(&"00 00 00 00 00 00 00 00"),
        "/dev/zero did not read 8 zero bytes\n{out}"
    );
    assert!(
        lines.contains(&"full-refused"),
        "writing to /dev/full succeeded\n{out}"
    );
    assert!(
        out.stderr.contains("No space left on device"),
        "expected ENOSPC from /dev/full on stderr\n{out}"
    );
    let inside: Vec<&str> = ls.split_whitespace().collect();
    for name in &inside {
        let disk = ["vd", "sd", "hd", "xvd", "nvme", "mmcblk", "loop", "dm-"]
            .iter()
            .any(|p| name.starts_with(p));
        assert!(
            !disk,
            "the host's disk device {name} is in the container's /dev\n{out}"
        );
    }
    for dev in host_block_devices() {
        assert!(
            !inside.contains(&dev.as_str()),
            "host block device /dev/{dev} visible in the container\n{out}"
        );
    }
    rd.finish();
}

#[test]
fn writes_stay_in_their_container() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--",
        "sh",
        "-c",
        "echo secret > /written-by-first && echo changed >> /etc/hosts && cat /written-by-first",
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "secret",
        "could not write to the container's root\n{out}"
    );
    let layers = rd.layers("busybox");
    assert!(!layers.is_empty(), "busybox has no layers");
    for layer in &layers {
        assert!(
            layer.join("etc/passwd").exists(),
            "layer {} from rd inspect has no etc/passwd",
            layer.display()
        );
        assert!(
            !layer.join("written-by-first").exists(),
            "the container's write landed in the image layer {}",
            layer.display()
        );
        let hosts = std::fs::read_to_string(layer.join("etc/hosts")).unwrap_or_default();
        assert!(
            !hosts.contains("changed"),
            "the container's change to /etc/hosts landed in the image layer {}",
            layer.display()
        );
    }
    let second = rd.run(&[
        "--",
        "sh",
        "-c",
        "if [ -e /written-by-first ]; then echo present; else echo absent; fi; grep -c changed /etc/hosts",
    ]);
    assert_eq!(
        second.stdout_lines(),
        ["absent", "0"],
        "a second container sees the first one's writes\n{second}"
    );
    rd.finish();
}

#[test]
fn user_numeric_uid_and_gid() {
    let rd = Rd::new();
    let out = rd.run(&["--user", "1000:1000", "--", "sh", "-c", "id -u; id -g"]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["1000", "1000"],
        "expected uid 1000 gid 1000\n{out}"
    );
    rd.finish();
}

#[test]
fn user_by_name_gets_its_groups() {
    let rd = Rd::new();
    let out = rd.run(&["--user", "student", "--", "sh", "-c", "id -u; id -g; id -G"]);
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(
        &lines[..2],
        ["1000", "1000"],
        "expected student to be uid 1000 gid 1000\n{out}"
    );
    let groups: Vec<&str> = lines
        .get(2)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert!(
        groups.contains(&"10"),
        "expected student's groups to include wheel (10)\n{out}"
    );
    assert!(!groups.contains(&"0"), "student kept root's group 0\n{out}");
    rd.finish();
}

#[test]
fn default_user_is_root() {
    let rd = Rd::new();
    let out = rd.run(&["--", "sh", "-c", "id -u; id -g"]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["0", "0"],
        "expected root by default\n{out}"
    );
    rd.finish();
}

#[test]
fn env_flag_sets_variables() {
    let rd = Rd::new();
    let out = rd.run(&[
        "-e",
        "KEY=VAL",
        "-e",
        "OTHER=a b",
        "--",
        "sh",
        "-c",
        "echo \"$KEY\"; echo \"$OTHER\"; env | grep -c '^KEY=VAL$'",
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["VAL", "a b", "1"],
        "expected KEY=VAL and OTHER='a b' in the env\n{out}"
    );
    rd.finish();
}

#[test]
fn workdir_is_used_and_created() {
    let rd = Rd::new();
    let out = rd.run(&["-w", "/tmp/work", "--", "pwd"]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "/tmp/work",
        "expected pwd to print /tmp/work\n{out}"
    );
    let out = rd.run(&[
        "-w",
        "/new/deep/dir",
        "--",
        "sh",
        "-c",
        "pwd; [ -d /new/deep/dir ] && echo exists",
    ]);
    out.assert_ok();
    assert_eq!(
        out.stdout_lines(),
        ["/new/deep/dir", "exists"],
        "expected a missing -w directory to be created\n{out}"
    );
    rd.finish();
}

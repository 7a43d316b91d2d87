//! Volumes (`-v`, named volumes, `--tmpfs`, `--read-only`), the /etc files
//! every container gets, and `--network none|host|container:C`. Real
//! mounts and namespaces; each test with its own state root, and the
//! host's mount table as before at the end.

mod common;

use std::path::Path;

use common::{make_mini_rootfs, make_tarball, Rd};

/// An image whose `/data` is a symlink to `/` (an attack on volume
/// targets) and whose `/etc/resolv.conf` is a symlink to the host's.
fn hostile_image(rd: &Rd) {
    let work = tempfile::tempdir().expect("tempdir");
    let rootfs = work.path().join("rootfs");
    make_mini_rootfs(&rootfs);
    for applet in ["cat", "echo", "ls", "readlink", "test"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("applet");
    }
    std::fs::create_dir_all(rootfs.join("etc")).expect("etc");
    std::os::unix::fs::symlink("/", rootfs.join("data")).expect("data link");
    std::os::unix::fs::symlink("/etc/shadow", rootfs.join("etc/resolv.conf")).expect("resolv link");
    std::fs::write(rootfs.join("etc/hosts"), "image's own hosts\n").expect("hosts");
    let tar = work.path().join("hostile.tar");
    make_tarball(&rootfs, &tar, false);
    rd.rd(&["import", tar.to_str().unwrap_or_default(), "hostile"])
        .assert_ok();
}

#[test]
fn host_directories_read_write_and_read_only() {
    let rd = Rd::new();
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("in"), "from the host\n").expect("write");
    let vol = format!("{}:/data", host.path().display());
    let out = rd.run(&[
        "-v",
        &vol,
        "--",
        "sh",
        "-c",
        "cat /data/in; echo from the container > /data/out",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "from the host\n");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap_or_default(),
        "from the container\n"
    );
    // :ro refuses writes; the host's file stays as it was.
    let ro = format!("{}:/data:ro", host.path().display());
    let out = rd.run(&["-v", &ro, "--", "sh", "-c", "echo again > /data/out"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap_or_default(),
        "from the container\n"
    );
    // A single file, onto a path the image does not have (made in the
    // container's own layer), and --trace narrates the bind and the ro.
    let file = format!("{}:/etc/app/config:ro", host.path().join("in").display());
    let out = rd.run(&["--trace", "-v", &file, "--", "cat", "/etc/app/config"]);
    out.assert_ok();
    assert_eq!(out.stdout, "from the host\n");
    assert!(out.stderr.contains("MS_BIND|MS_REC"), "{out}");
    assert!(out.stderr.contains("MOUNT_ATTR_RDONLY"), "{out}");
    rd.finish();
}

#[test]
fn named_volumes_persist_until_removed() {
    let rd = Rd::new();
    rd.run(&[
        "-v",
        "notes:/notes",
        "--",
        "sh",
        "-c",
        "echo kept > /notes/a",
    ])
    .assert_ok();
    let out = rd.run(&["-v", "notes:/n", "--", "cat", "/n/a"]);
    out.assert_ok();
    assert_eq!(out.stdout, "kept\n");
    assert_eq!(
        rd.rd(&["volume", "ls"]).stdout_lines(),
        vec!["VOLUME NAME", "notes"]
    );
    // In use by a kept container: refused until it is removed.
    rd.run(&["--keep", "--name", "user1", "-v", "notes:/n", "--", "true"])
        .assert_ok();
    rd.rd(&["volume", "rm", "notes"])
        .assert_code(1)
        .assert_stderr_contains("rd rm user1");
    rd.rd(&["rm", "user1"]).assert_ok();
    rd.rd(&["volume", "rm", "notes"]).assert_ok();
    assert_eq!(rd.rd(&["volume", "ls"]).stdout_lines(), vec!["VOLUME NAME"]);
    rd.finish();
}

#[test]
fn tmpfs_and_a_read_only_root() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        "-v",
        "rw:/rw",
        "--",
        "sh",
        "-c",
        "echo a > /scratch/a && echo tmpfs-ok; echo b > /rw/b && echo volume-ok; \
         echo c > /root-file || echo root-refused; grep ' /scratch ' /proc/mounts",
    ]);
    out.assert_ok();
    let lines = out.stdout_lines();
    for want in ["tmpfs-ok", "volume-ok", "root-refused"] {
        assert!(lines.contains(&want), "missing {want}\n{out}");
    }
    let mount = lines
        .iter()
        .find(|l| l.contains("/scratch"))
        .copied()
        .unwrap_or_default();
    for opt in ["nosuid", "nodev", "noexec", "size=1024k"] {
        assert!(mount.contains(opt), "--tmpfs lacks {opt}: {mount}");
    }
    rd.rd(&["volume", "rm", "rw"]).assert_ok();
    rd.finish();
}

#[test]
fn etc_files_are_the_containers_own_and_the_images_stay() {
    let rd = Rd::new();
    hostile_image(&rd);
    let out = rd.run(&[
        "-i",
        "hostile",
        "--name",
        "named",
        "--hostname",
        "box",
        "--",
        "sh",
        "-c",
        "cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf",
    ]);
    out.assert_ok();
    assert!(out.stdout.starts_with("box\n"), "{out}");
    assert!(out.stdout.contains("127.0.0.1\tlocalhost"), "{out}");
    assert!(
        out.stdout.contains("box named"),
        "the container's names resolve\n{out}"
    );
    assert!(!out.stdout.contains("image's own hosts"), "{out}");
    // Loopback nameservers are the host's own lo: never in the container's.
    for line in out.stdout.lines().filter(|l| l.starts_with("nameserver")) {
        let addr = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(!addr.starts_with("127.") && addr != "::1", "{line}");
    }
    assert!(out.stdout.contains("nameserver"), "{out}");
    // The image's layer is unchanged: its hosts, its symlink.
    let layer = &rd.layers("hostile")[0];
    assert_eq!(
        std::fs::read_to_string(layer.join("etc/hosts")).unwrap_or_default(),
        "image's own hosts\n"
    );
    assert_eq!(
        std::fs::read_link(layer.join("etc/resolv.conf")).ok(),
        Some(std::path::PathBuf::from("/etc/shadow"))
    );
    rd.finish();
}

#[test]
fn a_volume_target_behind_an_image_symlink_never_lands_on_the_host() {
    // The attack: the image's /data is a symlink to /, so a naive
    // mount(src, rootfs + "/data/x") would cover the host's /x. The target
    // is resolved inside the rootfs with no symlink followed: refused.
    let rd = Rd::new();
    hostile_image(&rd);
    let host = tempfile::tempdir().expect("tempdir");
    let victim = Path::new("/tmp").join(format!("rd-victim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&victim);
    let before = common::mount_table();
    let target = format!("/data{}", victim.display());
    let vol = format!("{}:{target}", host.path().display());
    let out = rd.run(&["-i", "hostile", "-v", &vol, "--", "true"]);
    out.assert_rd_error().assert_stderr_contains("symlink");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(!victim.exists(), "rd made {} on the host", victim.display());
    common::assert_mounts_unchanged(&before, "the refused volume");
    rd.finish();
}

#[test]
fn network_none_host_and_another_containers() {
    let rd = Rd::new();
    let ifaces = |out: &common::Output| -> Vec<String> {
        out.stdout
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_string())
            .collect()
    };
    let none = rd.run(&["--network", "none", "--", "cat", "/proc/net/dev"]);
    none.assert_ok();
    assert_eq!(ifaces(&none), vec!["lo"], "--network none: only lo\n{none}");
    let host = rd.run(&["--network", "host", "--", "cat", "/proc/net/dev"]);
    host.assert_ok();
    let mut theirs = ifaces(&host);
    let mut ours: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    // Other tests' bridged containers add and remove rd0 and rdv* links
    // meanwhile: compare the rest.
    let stable = |v: &mut Vec<String>| {
        v.retain(|n| !n.starts_with("rd"));
        v.sort();
    };
    stable(&mut theirs);
    stable(&mut ours);
    assert_eq!(theirs, ours, "--network host: the host's interfaces");

    // container:C shares C's network namespace (and its hostname).
    rd.run(&[
        "-d",
        "--name",
        "netowner",
        "--hostname",
        "owner",
        "--",
        "sleep",
        "60",
    ])
    .assert_ok();
    let theirs = rd.rd(&["exec", "netowner", "readlink", "/proc/self/ns/net"]);
    let joined = rd.run(&[
        "--network",
        "container:netowner",
        "--",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; hostname",
    ]);
    joined.assert_ok();
    let lines = joined.stdout_lines();
    assert_eq!(
        lines.first().copied(),
        Some(theirs.stdout.trim()),
        "{joined}"
    );
    assert_eq!(lines.get(1).copied(), Some("owner"));
    rd.rd(&["rm", "-f", "netowner"]).assert_ok();
    rd.finish();
}

#[test]
fn bad_volumes_and_networks_get_one_line_and_leave_nothing() {
    let rd = Rd::new();
    rd.run(&["--", "true"]).assert_ok();
    let before = rd.tree("");
    for (args, text) in [
        (
            &["-v", "/no/such/dir:/data", "--", "true"][..],
            "does not exist",
        ),
        (&["-v", "/tmp", "--", "true"][..], "HOSTPATH:CTRPATH"),
        (&["-v", "/tmp:relative", "--", "true"][..], "absolute path"),
        (&["-v", "/tmp:/x:rx", "--", "true"][..], "not ro or rw"),
        (&["--tmpfs", "/x:bogus", "--", "true"][..], "unknown option"),
        (
            &["--network", "galaxy", "--", "true"][..],
            "not a network mode",
        ),
        (
            &["--network", "container:ghost", "--", "true"][..],
            "no such container",
        ),
    ] {
        let out = rd.run(args);
        out.assert_code(125).assert_stderr_contains(text);
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
        let after = rd.tree("");
        let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
        assert!(new.is_empty(), "{args:?} left {new:?}");
    }
    rd.finish();
}

//! `--network bridge`, end to end, on this machine only: no packet leaves
//! it. The test makes its own "internet", a network namespace behind a
//! veth with an HTTP server in it, and only ever talks to that namespace,
//! to containers and to loopback.
//!
//! The bridge, its nftables table and ip_forward are host-wide, so the
//! scenarios run one after another in one test, which ends with
//! `rd network prune` and compares the host's links, routes, ruleset and
//! ip_forward with what they were before.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{host, Rd};

const INET_NS: &str = "rdtest-inet";
const INET_HOST: &str = "198.51.100.1"; // TEST-NET-2: never routed anywhere
const INET_SERVER: &str = "198.51.100.2";

/// What the host's network looks like (rd must leave it so after prune).
fn host_network() -> String {
    let run = |p: &str, a: &[&str]| {
        Command::new(p)
            .args(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let links: Vec<String> = run("ip", &["-o", "link"])
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect();
    format!(
        "links {links:?}\nroutes {}\nnft {}\nip_forward {}",
        run("ip", &["route"]),
        run("nft", &["list", "ruleset"]),
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default()
    )
}

/// The test's internet: a namespace, a veth to it, a web server in it.
struct Internet {
    server: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Internet {
    fn new() -> Internet {
        Internet::remove();
        host("ip", &["netns", "add", INET_NS]).assert_ok();
        host(
            "ip",
            &[
                "link", "add", "rdti0", "type", "veth", "peer", "name", "eth0", "netns", INET_NS,
            ],
        )
        .assert_ok();
        host(
            "ip",
            &["addr", "add", &format!("{INET_HOST}/24"), "dev", "rdti0"],
        )
        .assert_ok();
        host("ip", &["link", "set", "rdti0", "up"]).assert_ok();
        let ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", INET_NS];
            all.extend_from_slice(args);
            host("ip", &all).assert_ok();
        };
        ns(&[
            "ip",
            "addr",
            "add",
            &format!("{INET_SERVER}/24"),
            "dev",
            "eth0",
        ]);
        ns(&["ip", "link", "set", "eth0", "up"]);
        ns(&["ip", "link", "set", "lo", "up"]);
        ns(&["ip", "route", "add", "default", "via", INET_HOST]);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("index.html"),
            "a page from the test internet\n",
        )
        .expect("page");
        let log = dir.path().join("server.log");
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                INET_NS,
                "python3",
                "-u",
                "-m",
                "http.server",
                "80",
                "--bind",
                INET_SERVER,
            ])
            .current_dir(dir.path())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .expect("python3 http.server in the test namespace");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Serving")
        {
            assert!(
                Instant::now() < deadline,
                "the test internet's server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Internet {
            server,
            log,
            _dir: dir,
        }
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        Internet::remove();
    }
}

impl Internet {
    /// Removes the test's namespace and veth (also what a crashed run
    /// left), and waits until the kernel has: a namespace is torn down
    /// asynchronously, its veth with it.
    fn remove() {
        let _ = host("ip", &["link", "del", "rdti0"]);
        let _ = host("ip", &["netns", "del", INET_NS]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while host("ip", &["link", "show", "rdti0"]).code == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// GET / from ADDR:PORT, as a host process would (no curl needed).
fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        assert!(Instant::now() < deadline, "nothing answered on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn address_of(rd: &Rd, c: &str) -> String {
    let out = rd.rd(&["inspect", c]);
    out.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    json["address"].as_str().unwrap_or_default().to_string()
}

/// Is /run/netns a mount point? `ip netns add` makes it one on a
/// machine's first use, and leaves it (iproute2's doing, not rd's).
fn netns_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(common::parse_mountinfo_line)
        .any(|m| m.mount_point == "/run/netns")
}

/// Puts /run/netns back as the test found it: unmounted, if it was.
struct NetnsMount {
    was_mounted: bool,
}

impl Drop for NetnsMount {
    fn drop(&mut self) {
        if !self.was_mounted && netns_mounted() {
            let _ = nix::mount::umount2("/run/netns", nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

#[test]
fn bridge_nat_published_ports_and_a_clean_host_after_prune() {
    // Dropped last, whatever happens: after the internet and rd's clean-up.
    let _netns = NetnsMount {
        was_mounted: netns_mounted(),
    };
    Internet::remove();
    // The first `ip netns add` on a machine mounts /run/netns, which stays
    // (iproute2's doing, not rd's): make it before the mount table is
    // noted; _netns unmounts it at the end if the test made it.
    host("ip", &["netns", "add", INET_NS]).assert_ok();
    Internet::remove();
    let rd = Rd::new();
    // Earlier test binaries ran bridged containers (the default): start
    // from the host as it was before rd's first bridged run.
    rd.rd(&["network", "prune"]).assert_ok();
    let before = host_network();

    // 0. Without nft (not on PATH), the first bridged run fails with one
    // line and leaves no half-made bridge, and ip_forward as it was.
    let out = common::run_with_timeout(
        rd.command(&["run", "--", "true"])
            .env("PATH", "/usr/bin:/bin"),
        common::TIMEOUT,
    );
    out.assert_code(125).assert_stderr_contains("nftables");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert_eq!(
        host_network(),
        before,
        "a failed first run left network state"
    );

    let internet = Internet::new();

    // 1. Out through NAT: the server sees the host's address, not the container's.
    let out = rd.run(&[
        "--network",
        "bridge",
        "--",
        "wget",
        "-qO-",
        &format!("http://{INET_SERVER}/index.html"),
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "a page from the test internet\n");
    let log = std::fs::read_to_string(&internet.log).unwrap_or_default();
    assert!(
        log.contains(&format!("{INET_HOST} - -")),
        "not masqueraded: {log}"
    );
    assert!(
        !log.contains("10.123."),
        "a container's address left the host: {log}"
    );

    // 2. A server in a container, published: from loopback, from the
    // host's own address, and from another host (the test internet).
    rd.run(&[
        "-d",
        "--name",
        "web",
        "--network",
        "bridge",
        "-p",
        "127.0.0.1:18080:80",
        "-p",
        "18081:80",
        "--",
        "sh",
        "-c",
        "echo served by web > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
    ])
    .assert_ok();
    assert!(http_get("127.0.0.1:18080").contains("served by web"));
    assert!(http_get("127.0.0.1:18081").contains("served by web"));
    let from_outside = host(
        "ip",
        &["netns", "exec", INET_NS, "python3", "-c",
          &format!("import urllib.request; print(urllib.request.urlopen('http://{INET_HOST}:18081/index.html', timeout=5).read().decode(), end='')")],
    );
    assert_eq!(from_outside.stdout, "served by web\n", "{from_outside}");
    // 127.0.0.1:18080 is for loopback only: not reachable from outside.
    let refused = host(
        "ip",
        &["netns", "exec", INET_NS, "python3", "-c",
          &format!("import urllib.request; urllib.request.urlopen('http://{INET_HOST}:18080/index.html', timeout=2)")],
    );
    assert_ne!(
        refused.code, 0,
        "a 127.0.0.1 publish answered from outside\n{refused}"
    );

    // 3. Containers reach each other by address; /etc/hosts names them.
    let web = address_of(&rd, "web");
    assert!(web.starts_with("10.123."), "{web}");
    let out = rd.run(&[
        "--network",
        "bridge",
        "--",
        "wget",
        "-qO-",
        &format!("http://{web}/index.html"),
    ]);
    assert_eq!(out.stdout, "served by web\n", "{out}");
    let hosts = rd.rd(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts.stdout.contains(&format!("{web}\t")) && hosts.stdout.contains(" web"),
        "{hosts}"
    );

    // 4. A host port already published: one line, 125, nothing left.
    let out = rd.run(&["--network", "bridge", "-p", "18081:80", "--", "true"]);
    out.assert_code(125)
        .assert_stderr_contains("already published by container");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");

    // 5. 20 bridged containers at once: 20 distinct addresses.
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let mut cmd = rd.command(&[
                "run",
                "-d",
                "--name",
                &format!("b{i:02}"),
                "--network",
                "bridge",
                "--",
                "sleep",
                "60",
            ]);
            std::thread::spawn(move || common::run_with_timeout(&mut cmd, common::TIMEOUT))
        })
        .collect();
    for h in handles {
        h.join().expect("thread").assert_ok();
    }
    let mut addrs: Vec<String> = (0..20)
        .map(|i| address_of(&rd, &format!("b{i:02}")))
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 20, "{addrs:?}");

    // 6. SIGKILL of a publishing container's monitor: its veth dies with
    // its namespace; the next rd takes back its address, port and rules.
    let rec = rd.rd(&["inspect", "web"]);
    let json: serde_json::Value = serde_json::from_str(&rec.stdout).expect("json");
    let monitor = json["monitor_pid"].as_i64().expect("monitor_pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the monitor");
    std::thread::sleep(Duration::from_millis(500));
    rd.rd(&["ps"]).assert_ok();
    // Its port is free again for a new container.
    rd.run(&["--network", "bridge", "-p", "18081:80", "--", "true"])
        .assert_ok();

    let mut all = vec!["rm".to_string(), "-f".to_string()];
    all.extend((0..20).map(|i| format!("b{i:02}")));
    let args: Vec<&str> = all.iter().map(String::as_str).collect();
    rd.rd(&args).assert_ok();
    drop(internet);
    let out = rd.rd(&["network", "prune"]);
    out.assert_ok();
    assert!(out.stdout.contains("deleted the bridge rd0"), "{out}");
    assert_eq!(
        host_network(),
        before,
        "the host's network is not as before"
    );
    rd.finish();
}

#[test]
fn bad_ports_get_one_line() {
    let rd = Rd::new();
    for (args, text) in [
        (&["-p", "80", "--", "true"][..], "HOSTPORT:CTRPORT"),
        (&["-p", "99999:80", "--", "true"][..], "HOSTPORT:CTRPORT"),
        (
            &["-p", "8080:80/sctp", "--", "true"][..],
            "HOSTPORT:CTRPORT",
        ),
        (
            &["--network", "none", "-p", "8080:80", "--", "true"][..],
            "needs --network bridge",
        ),
    ] {
        let out = rd.run(args);
        out.assert_code(125).assert_stderr_contains(text);
        assert_eq!(out.stderr_lines().len(), 1, "{out}");
    }
    // (Not rd.finish(): the other test's `ip netns add` mounts on the host
    // meanwhile; nothing here reaches the kernel.)
    rd.assert_no_containers(&"after bad -p");
}

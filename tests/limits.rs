//! Resource limits: the cgroup rd makes for a container, as the host sees
//! it, and what the limits do to the container's processes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{assert_no_cgroup_of, cgroup_mode, cgroups_of, is_container_id, CgroupMode, Rd};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the host's {}: {e}", path.display()))
        .trim()
        .to_string()
}

#[test]
fn limits_are_written_to_the_hosts_cgroup_and_removed_after() {
    let mode = cgroup_mode();
    if mode == CgroupMode::None {
        eprintln!("no cgroup filesystem at /sys/fs/cgroup: nothing to check");
        return;
    }
    let rd = Rd::new();
    let mut c = rd.spawn(&[
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids-limit",
        "50",
        "--",
        "sh",
        "-c",
        "hostname; cat /proc/self/cgroup; echo ready; read line; echo bye",
    ]);
    let id = c.next_line(Duration::from_secs(30));
    assert!(
        is_container_id(&id),
        "expected the container id (default hostname) first, got {id:?}"
    );
    let inside = c.lines_until("ready", Duration::from_secs(30));
    assert_eq!(
        rd.entries("containers"),
        std::slice::from_ref(&id),
        "expected containers/<id> while it runs"
    );

    // The host's side, while the container runs.
    let name = format!("rd-{id}");
    match mode {
        CgroupMode::V2 => {
            let dir = Path::new("/sys/fs/cgroup").join(&name);
            assert_eq!(
                read(&dir.join("memory.max")),
                "67108864",
                "memory.max for --memory 64m"
            );
            assert_eq!(
                read(&dir.join("cpu.max")),
                "50000 100000",
                "cpu.max for --cpus 0.5"
            );
            assert_eq!(
                read(&dir.join("cpu.weight")),
                "59",
                "cpu.weight for --cpu-shares 512 (runc >= 1.3.2, crun >= 1.23: 1024 -> 100, 512 -> 59)"
            );
            assert_eq!(
                read(&dir.join("pids.max")),
                "50",
                "pids.max for --pids-limit 50"
            );
            let procs = read(&dir.join("cgroup.procs"));
            assert!(
                !procs.is_empty(),
                "{name}/cgroup.procs is empty while the container runs"
            );
            let v2 = inside
                .iter()
                .find(|l| l.starts_with("0::"))
                .cloned()
                .unwrap_or_default();
            // Its cgroup namespace's root is that cgroup: `/` inside
            // (cgroup.procs above shows it is the host's {name}).
            assert_eq!(
                v2, "0::/",
                "expected the container at the root of its cgroup namespace, got {inside:?}"
            );
            // docker's swap rule: --memory 64m alone allows 64m of swap.
            assert_eq!(
                read(&dir.join("memory.swap.max")),
                "67108864",
                "memory.swap.max for --memory 64m without --memory-swap"
            );
        }
        CgroupMode::V1 => {
            let cg = Path::new("/sys/fs/cgroup");
            let mem = cg.join("memory").join(&name);
            let cpu = cg.join("cpu").join(&name);
            let pids = cg.join("pids").join(&name);
            assert_eq!(
                read(&mem.join("memory.limit_in_bytes")),
                "67108864",
                "memory.limit_in_bytes for --memory 64m"
            );
            assert_eq!(
                read(&cpu.join("cpu.cfs_quota_us")),
                "50000",
                "cpu.cfs_quota_us for --cpus 0.5"
            );
            assert_eq!(
                read(&cpu.join("cpu.cfs_period_us")),
                "100000",
                "cpu.cfs_period_us for --cpus 0.5"
            );
            assert_eq!(
                read(&cpu.join("cpu.shares")),
                "512",
                "cpu.shares for --cpu-shares 512"
            );
            assert_eq!(
                read(&pids.join("pids.max")),
                "50",
                "pids.max for --pids-limit 50"
            );
            for dir in [&mem, &cpu, &pids] {
                assert!(
                    !read(&dir.join("cgroup.procs")).is_empty(),
                    "{}/cgroup.procs is empty while the container runs",
                    dir.display()
                );
            }
            // /proc/self/cgroup: ID:CONTROLLERS:PATH
            for ctrl in ["memory", "cpu", "pids"] {
                let line = inside
                    .iter()
                    .find(|l| {
                        l.split(':')
                            .nth(1)
                            .is_some_and(|cs| cs.split(',').any(|c| c == ctrl))
                    })
                    .unwrap_or_else(|| {
                        panic!("no {ctrl} line in /proc/self/cgroup inside: {inside:?}")
                    });
                // Its cgroup namespace's root is that cgroup: `/` inside
                // (cgroup.procs above shows it is the host's {name}).
                assert!(
                    line.ends_with(":/"),
                    "expected the container at the root of its cgroup namespace for {ctrl}, got {line:?}"
                );
            }
        }
        CgroupMode::None => unreachable!(),
    }

    c.write_stdin("go\n");
    let out = c.wait(Duration::from_secs(30));
    out.assert_ok();
    assert!(
        out.stdout.contains("bye"),
        "the container did not finish normally\n{out}"
    );
    assert!(
        cgroups_of(&id).is_empty(),
        "cgroups left after exit: {:?}\n{out}",
        cgroups_of(&id)
    );
    assert_no_cgroup_of(&id);
    rd.finish();
}

#[test]
fn oom_ends_the_container_with_137_and_says_why() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--memory",
        "32m",
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=100M",
        "count=1",
    ]);
    out.assert_code(137).assert_no_panic();
    assert!(
        out.stderr.contains("memory limit"),
        "expected stderr to say the memory limit was hit\n{out}"
    );
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn memory_limit_allows_what_fits() {
    // The same dd with a small block fits in 32m: the limit is not a blanket failure.
    let rd = Rd::new();
    let out = rd.run(&[
        "--memory",
        "32m",
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1M",
        "count=8",
    ]);
    out.assert_ok();
    assert!(
        !out.stderr.contains("memory limit"),
        "rd reported an OOM that did not happen\n{out}"
    );
    rd.finish();
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let rd = Rd::new();
    let out = rd.run_timeout(
        &[
            "--pids-limit",
            "20",
            "--",
            "sh",
            "-c",
            "for i in $(seq 60); do sleep 5 & done; wait",
        ],
        Duration::from_secs(60),
    );
    out.assert_no_panic();
    assert!(
        out.stderr.contains("can't fork")
            || out.stderr.contains("Resource temporarily unavailable"),
        "expected a fork failure on stderr with --pids-limit 20\n{out}"
    );
    assert_ne!(out.code, 125, "rd itself failed\n{out}");
    rd.assert_no_containers(&out);
    rd.finish();
}

#[test]
fn without_pids_limit_all_60_start() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--",
        "sh",
        "-c",
        "for i in $(seq 60); do sleep 30 & done; ls /proc | grep -c '^[0-9][0-9]*$'",
    ]);
    out.assert_ok();
    let n: u32 = out
        .stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("expected a count on stdout\n{out}"));
    // sh + 60 sleeps (+ ls and grep).
    assert!(
        n >= 61,
        "expected all 60 sleeps running without a limit, counted {n} processes\n{out}"
    );
    assert!(
        !out.stderr.contains("can't fork"),
        "fork failed without a limit\n{out}"
    );
    rd.finish();
}

/// Makes 70 files in /tmp, prints `ulimit -n` and `ulimit -Hn`, then has
/// busybox paste open all 70 at once: `opened-all` if it could.
const OPEN_70: &str = "cd /tmp && files=$(for i in $(seq 70); do : > f$i; echo f$i; done); \
                       ulimit -n; ulimit -Hn; paste $files > /dev/null && echo opened-all; true";

#[test]
fn ulimit_nofile_stops_opening_files_at_the_limit() {
    let rd = Rd::new();
    // Without a limit (the host's 1024 or more), all 70 open: the probe
    // can tell.
    let free = rd.run(&["--", "sh", "-c", OPEN_70]);
    free.assert_ok();
    assert!(
        free.stdout_lines().contains(&"opened-all"),
        "without --ulimit, paste could not open 70 files\n{free}"
    );
    let out = rd.run(&["--ulimit", "nofile=64:128", "--", "sh", "-c", OPEN_70]);
    out.assert_ok();
    let lines = out.stdout_lines();
    assert_eq!(
        lines.get(..2),
        Some(&["64", "128"][..]),
        "soft and hard limits inside\n{out}"
    );
    assert!(
        !lines.contains(&"opened-all"),
        "--ulimit nofile=64: 70 files opened at once\n{out}"
    );
    assert!(
        out.stderr.contains("Too many open files") || out.stderr.contains("No file descriptors"),
        "expected EMFILE from paste\n{out}"
    );
    rd.finish();
}

#[test]
fn ulimits_reach_exec_and_trace_narrates_them() {
    let rd = Rd::new();
    let out = rd.run(&[
        "--trace",
        "--ulimit",
        "core=0",
        "--ulimit",
        "nofile=100:200",
        "--",
        "true",
    ]);
    out.assert_ok();
    for call in [
        "setrlimit(RLIMIT_CORE, {soft 0, hard 0})",
        "setrlimit(RLIMIT_NOFILE, {soft 100, hard 200})",
    ] {
        assert!(
            out.stderr.contains(call),
            "--trace: no line for {call}\n{out}"
        );
    }
    rd.rd(&[
        "run",
        "-d",
        "--name",
        "limited",
        "--ulimit",
        "nofile=100:200",
        "--",
        "sleep",
        "60",
    ])
    .assert_ok();
    let exec = rd.rd(&["exec", "limited", "sh", "-c", "ulimit -n; ulimit -Hn"]);
    exec.assert_ok();
    assert_eq!(
        exec.stdout_lines(),
        ["100", "200"],
        "rd exec's limits\n{exec}"
    );
    rd.rd(&["rm", "-f", "limited"]).assert_ok();
    rd.finish();
}

/// A --stats-file's figures.
fn stats_of(file: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("reading --stats-file {}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("--stats-file is not JSON: {e}\n{text}"))
}

#[test]
fn stats_report_cpu_time_peak_memory_and_an_oom_kill() {
    let rd = Rd::new();
    let file = rd.root().join("stats.json");
    let file_arg = file.display().to_string();
    // A busy loop of about a second, then the shell's own account of the
    // CPU it and its children used (`times`: two lines, m and s each).
    let script = "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done; times";
    let out = rd.run(&[
        "--stats",
        "--stats-file",
        &file_arg,
        "--",
        "sh",
        "-c",
        script,
    ]);
    out.assert_ok();
    let seconds = |field: &str| -> f64 {
        let (m, s) = field
            .trim_end_matches('s')
            .split_once('m')
            .unwrap_or(("0", "0"));
        m.parse::<f64>().unwrap_or(0.0) * 60.0 + s.parse::<f64>().unwrap_or(0.0)
    };
    let shell: f64 = out.stdout.split_whitespace().map(seconds).sum();
    let stats = stats_of(&file);
    let cpu = stats["cpu_user_seconds"].as_f64().unwrap_or(-1.0)
        + stats["cpu_system_seconds"].as_f64().unwrap_or(-1.0);
    assert!(
        shell > 0.5,
        "the busy loop used {shell} s of CPU by its own account\n{out}"
    );
    assert!(
        cpu >= shell - 0.05 && cpu <= shell + 0.5,
        "--stats: {cpu} s of CPU, the shell counted {shell} s\n{stats}\n{out}"
    );
    assert!(
        stats["wall_seconds"].as_f64().unwrap_or(0.0) >= 1.0,
        "{stats}"
    );
    assert!(
        out.stderr.contains("rd: stats: CPU time"),
        "--stats says it on stderr\n{out}"
    );
    assert_eq!(stats["oom_kills"], 0, "{stats}");

    // 20 MB held in a shell variable: the peak is at least that.
    let out = rd.run(&[
        "--stats-file",
        &file_arg,
        "--",
        "sh",
        "-c",
        "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    out.assert_ok();
    let stats = stats_of(&file);
    let peak = stats["peak_memory_bytes"].as_u64().unwrap_or(0);
    assert!(
        peak >= 20_000_000,
        "peak memory {peak} after holding 20 MB\n{stats}"
    );

    // Twice the limit: the OOM killer, and the stats say so.
    let out = rd.run(&[
        "--memory",
        "16m",
        "--stats-file",
        &file_arg,
        "--",
        "sh",
        "-c",
        "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(out.code, 137, "{out}");
    let stats = stats_of(&file);
    assert!(stats["oom_kills"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert_eq!(stats["exit_code"], 137, "{stats}");
    rd.finish();
}

#[test]
fn a_detached_containers_stats_are_in_its_record() {
    let rd = Rd::new();
    rd.rd(&[
        "run", "-d", "--name", "measured", "--", "sh", "-c", "exit 3",
    ])
    .assert_ok();
    rd.rd(&["wait", "measured"]);
    let out = rd.rd(&["inspect", "measured"]);
    out.assert_ok();
    let rec: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect prints JSON");
    let stats = &rec["stats"];
    assert_eq!(stats["exit_code"], 3, "{out}");
    assert!(
        stats["cpu_source"].is_string() && stats["wall_seconds"].as_f64().is_some(),
        "{out}"
    );
    rd.rd(&["rm", "measured"]).assert_ok();
    rd.finish();
}

#[test]
fn stats_file_does_not_write_through_planted_symlinks() {
    // rd is root; --stats-file may name a directory anyone writes to. Links
    // planted at the file's name and at its temporary name must be
    // replaced, not followed.
    let rd = Rd::new();
    let dir = tempfile::Builder::new()
        .prefix("rd-stats-links-")
        .tempdir_in("/var/tmp")
        .expect("a directory under /var/tmp");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("writing the victim");
    let file = dir.path().join("stats.json");
    std::os::unix::fs::symlink(&victim, &file).expect("planting a link at the file");
    std::os::unix::fs::symlink(&victim, dir.path().join(".stats.json.rd-partial"))
        .expect("planting a link at the temporary name");
    let out = rd.run(&["--stats-file", file.to_str().unwrap_or(""), "--", "true"]);
    out.assert_ok();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap_or_default(),
        "precious\n",
        "the stats were written through a link\n{out}"
    );
    assert!(
        !file.is_symlink(),
        "the link at the file's name is replaced\n{out}"
    );
    assert_eq!(stats_of(&file)["exit_code"], 0);
    rd.finish();
}

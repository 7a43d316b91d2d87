//! Classroom operations, as a user drives them: `rd run -d`, `ps`, `logs`,
//! `exec`, `stop`, `kill`, `rm`, `wait`, `inspect`, `--init`, names, and
//! docker's argument order. Real containers, each test with its own state
//! root; every test ends with no container, mount or cgroup left.

mod common;

use std::time::{Duration, Instant};

use common::{Output, Rd};

/// `rd run -d ARGS...`: the id it printed.
#[track_caller]
fn detach(rd: &Rd, args: &[&str]) -> String {
    let mut all = vec!["-d"];
    all.extend_from_slice(args);
    let out = rd.run(&all);
    out.assert_ok();
    let id = out.stdout.trim().to_string();
    assert!(
        id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "rd run -d prints the container's id, got {id:?}\n{out}"
    );
    id
}

/// The record `rd inspect` prints.
#[track_caller]
fn inspect(rd: &Rd, c: &str) -> serde_json::Value {
    let out = rd.rd(&["inspect", c]);
    out.assert_ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{out}"))
}

/// Polls `rd ps -a` until the line for `name` satisfies `pred`.
#[track_caller]
fn ps_line(rd: &Rd, name: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = rd.rd(&["ps", "-a"]);
        out.assert_ok();
        if let Some(l) = out.stdout.lines().find(|l| l.ends_with(name)) {
            if pred(l) {
                return l.to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no matching line for {name}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_container_outlives_the_shell_that_started_it() {
    let rd = Rd::new();
    // A shell starts it and exits at once; stdout is a pipe the test reads
    // to its end, so a monitor still holding it would hang this command.
    let t0 = Instant::now();
    let out = common::run_with_timeout(
        std::process::Command::new("sh").args([
            "-c",
            &format!(
                "{} --root {} run -d --name bg -- sh -c 'echo hello from bg; exec sleep 60'",
                common::rd_bin(),
                rd.root().display()
            ),
        ]),
        Duration::from_secs(30),
    );
    out.assert_ok();
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "rd run -d did not return promptly"
    );
    let line = ps_line(&rd, "bg", |l| l.contains("Up "));
    assert!(line.contains("busybox"), "{line}");
    assert!(
        line.contains("\"sleep 60\"") || line.contains("\"sh -c echo hello"),
        "{line}"
    );

    // The monitor left the test's session and terminal: a session of its own.
    let rec = inspect(&rd, "bg");
    let monitor = rec["monitor_pid"].as_i64().expect("monitor_pid") as i32;
    let sid = |pid: i32| nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid))).ok();
    assert_eq!(sid(monitor), Some(nix::unistd::Pid::from_raw(monitor)));
    assert_ne!(sid(monitor), nix::unistd::getsid(None).ok());
    assert_eq!(rec["status"], "running");
    assert!(rec["pid"].as_i64().is_some());

    let logs = rd.rd(&["logs", "bg"]);
    logs.assert_ok();
    assert_eq!(logs.stdout, "hello from bg\n");

    let rm = rd.rd(&["rm", "-f", "bg"]);
    rm.assert_ok();
    assert_eq!(rm.stdout.trim(), "bg");
    rd.finish();
}

#[test]
fn ps_shows_up_and_exited_with_docker_columns() {
    let rd = Rd::new();
    let up = detach(&rd, &["--name", "up", "--", "sleep", "60"]);
    let done = detach(&rd, &["--name", "done", "--", "sh", "-c", "exit 3"]);
    let out = rd.rd(&["wait", "done"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "3");

    let ps = rd.rd(&["ps"]);
    ps.assert_ok();
    let header = ps.stdout.lines().next().unwrap_or_default();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{col} missing\n{ps}");
    }
    assert!(ps.stdout.contains(&up), "{ps}");
    assert!(
        !ps.stdout.contains(&done),
        "rd ps lists running ones only\n{ps}"
    );
    let line = ps_line(&rd, "done", |_| true);
    assert!(line.starts_with(&done), "{line}");
    assert!(line.contains("Exited (3) "), "{line}");
    assert!(line.contains(" ago"), "{line}");

    let q = rd.rd(&["ps", "-aq"]);
    let mut ids = q.stdout_lines();
    ids.sort();
    let mut want = vec![up.as_str(), done.as_str()];
    want.sort();
    assert_eq!(ids, want);

    // An id prefix works where a container is expected.
    rd.rd(&["rm", &done[..6]]).assert_ok();
    rd.rd(&["rm", "-f", &up]).assert_ok();
    assert_eq!(rd.rd(&["ps", "-aq"]).stdout.trim(), "");
    rd.finish();
}

#[test]
fn logs_tail_and_follow() {
    let rd = Rd::new();
    detach(
        &rd,
        &[
            "--name",
            "talker",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 1; echo late",
        ],
    );
    // -f follows until the container ends, then returns.
    let out = rd.rd(&["logs", "-f", "talker"]);
    out.assert_ok();
    assert_eq!(
        out.stdout, "line 1\nline 2\nline 3\nline 4\nline 5\noops\nlate\n",
        "stdout and stderr, in order, up to the end\n{out}"
    );
    let tail = rd.rd(&["logs", "--tail", "2", "talker"]);
    assert_eq!(tail.stdout, "oops\nlate\n");
    rd.rd(&["rm", "talker"]).assert_ok();

    // A foreground container keeps no log: say so.
    rd.run(&["--keep", "--name", "fg", "--", "echo", "hi"])
        .assert_ok();
    let out = rd.rd(&["logs", "fg"]);
    out.assert_code(1).assert_stderr_contains("foreground");
    // Its upper layer sits on the image's: rmi refuses until rd rm.
    rd.rd(&["rmi", "busybox"])
        .assert_code(125)
        .assert_stderr_contains("rd rm fg");
    rd.rd(&["rm", "fg"]).assert_ok();
    rd.finish();
}

#[test]
fn exec_joins_the_containers_namespaces_cgroup_and_defences() {
    let rd = Rd::new();
    detach(
        &rd,
        &[
            "--name",
            "box",
            "--hostname",
            "boxhost",
            "--",
            "sleep",
            "60",
        ],
    );
    // Inside, the exec'd process compares itself with the container's PID 1.
    let script = r#"
        hostname
        for ns in pid mnt uts ipc net cgroup; do
            [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/1/ns/$ns)" ] && echo "same $ns"
        done
        ps -o pid,args | grep -q '^ *1 sleep 60' && echo "pid 1 is the init"
        cmp -s /proc/self/cgroup /proc/1/cgroup && echo "same cgroup"
        for f in CapEff CapBnd CapPrm NoNewPrivs Seccomp; do
            [ "$(grep "^$f:" /proc/self/status)" = "$(grep "^$f:" /proc/1/status)" ] && echo "same $f"
        done
        grep '^Seccomp:' /proc/self/status
        exit 42
    "#;
    let out = rd.rd(&["exec", "box", "sh", "-c", script]);
    out.assert_code(42);
    let lines = out.stdout_lines();
    assert_eq!(lines.first().copied(), Some("boxhost"), "{out}");
    for want in [
        "same pid",
        "same mnt",
        "same uts",
        "same ipc",
        "same net",
        "same cgroup",
        "pid 1 is the init",
        "same CapEff",
        "same CapBnd",
        "same CapPrm",
        "same NoNewPrivs",
        "same Seccomp",
        "Seccomp:\t2",
    ] {
        assert!(lines.contains(&want), "missing '{want}'\n{out}");
    }

    // From the host: the exec'd process sits in the container's cgroup.
    let rec = inspect(&rd, "box");
    let joined = rec["process"]["cgroup_join"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !joined.is_empty() {
        let out = rd.rd(&["exec", "box", "sh", "-c", "sleep 0.5 & echo started; wait"]);
        out.assert_ok();
        let procs_file = std::path::Path::new(&joined).with_file_name("cgroup.procs");
        let n = std::fs::read_to_string(&procs_file)
            .unwrap_or_default()
            .lines()
            .count();
        assert!(n >= 1, "the container's cgroup lists its processes");
    }

    // --trace narrates each setns.
    let out = rd.rd(&["exec", "--trace", "box", "true"]);
    out.assert_ok();
    for ns in [
        "CLONE_NEWPID",
        "CLONE_NEWNS",
        "CLONE_NEWNET",
        "CLONE_NEWUTS",
        "CLONE_NEWIPC",
        "CLONE_NEWCGROUP",
    ] {
        assert!(
            out.stderr.contains(&format!("setns(pidfd, {ns})")),
            "no setns {ns} in the trace\n{out}"
        );
    }
    assert!(out.stderr.contains("prctl(PR_SET_DUMPABLE, 0)"), "{out}");

    // -e, -w and -u; the image's PATH; a missing command is 127.
    let out = rd.rd(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        "echo $A; pwd; id -u",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout_lines(), vec!["1", "/tmp", "65534"]);
    rd.rd(&["exec", "box", "no-such-command"]).assert_code(127);
    // -t: a terminal of its own, in the container's devpts.
    let out = rd.rd(&["exec", "-t", "box", "tty"]);
    out.assert_ok();
    assert!(out.stdout.trim().starts_with("/dev/pts/"), "{out}");
    rd.rd(&["rm", "-f", "box"]).assert_ok();
    rd.finish();
}

#[test]
fn exec_gets_no_more_privilege_than_the_container() {
    // The attack: root in an exec'd process mounts over the container's
    // files. Refused by default (no CAP_SYS_ADMIN, seccomp); the same exec
    // into a --privileged container (the defences off) succeeds.
    let rd = Rd::new();
    detach(&rd, &["--name", "plain", "--", "sleep", "60"]);
    detach(
        &rd,
        &["--name", "priv", "--privileged", "--", "sleep", "60"],
    );
    let attack = ["sh", "-c", "mount -t tmpfs none /tmp && echo MOUNTED"];
    let mut args = vec!["exec", "plain"];
    args.extend(attack);
    let out = rd.rd(&args);
    assert!(
        !out.stdout.contains("MOUNTED"),
        "exec could mount by default\n{out}"
    );
    let mut args = vec!["exec", "priv"];
    args.extend(attack);
    let out = rd.rd(&args);
    assert!(
        out.stdout.contains("MOUNTED"),
        "the attack needs the defences off to work\n{out}"
    );
    // Without the container's own compiled filter, exec refuses rather
    // than start a process with none.
    let cache = rd.root().join("seccomp");
    let moved = rd.root().join("seccomp.moved");
    std::fs::rename(&cache, &moved).expect("move the seccomp cache");
    let out = rd.rd(&["exec", "plain", "true"]);
    std::fs::rename(&moved, &cache).expect("restore the seccomp cache");
    out.assert_code(125).assert_stderr_contains("laxer filter");
    rd.rd(&["exec", "plain", "true"]).assert_ok();
    rd.rd(&["rm", "-f", "plain", "priv"]).assert_ok();
    rd.finish();
}

#[test]
fn stop_waits_the_grace_period_for_a_pid_1_without_handler() {
    let rd = Rd::new();
    detach(&rd, &["--name", "deaf", "--", "sleep", "60"]);
    detach(
        &rd,
        &[
            "--name",
            "polite",
            "--",
            "sh",
            "-c",
            "trap 'echo bye; exit 5' TERM; while :; do sleep 0.1; done",
        ],
    );
    ps_line(&rd, "polite", |l| l.contains("Up "));
    let t0 = Instant::now();
    let out = rd.rd(&["stop", "-t", "2", "deaf"]);
    let took = t0.elapsed();
    out.assert_ok();
    assert!(
        took >= Duration::from_secs(2),
        "SIGTERM is lost on a PID 1 without handler: stop must wait 2 s, took {took:?}"
    );
    assert_eq!(
        rd.rd(&["wait", "deaf"]).stdout.trim(),
        "137",
        "then SIGKILL"
    );

    let t0 = Instant::now();
    rd.rd(&["stop", "-t", "20", "polite"]).assert_ok();
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "a PID 1 with a handler ends at once"
    );
    assert_eq!(rd.rd(&["wait", "polite"]).stdout.trim(), "5");
    assert!(rd.rd(&["logs", "polite"]).stdout.contains("bye"));
    ps_line(&rd, "polite", |l| l.contains("Exited (5)"));

    // --init passes SIGTERM on to a command that handles it.
    detach(
        &rd,
        &[
            "--init",
            "--name",
            "inited",
            "--",
            "sh",
            "-c",
            "trap 'exit 9' TERM; while :; do sleep 0.1; done",
        ],
    );
    ps_line(&rd, "inited", |l| l.contains("Up "));
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    rd.rd(&["stop", "-t", "20", "inited"]).assert_ok();
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(rd.rd(&["wait", "inited"]).stdout.trim(), "9");

    // rd kill -s: any signal, by name.
    detach(
        &rd,
        &[
            "--name",
            "killme",
            "--",
            "sh",
            "-c",
            "trap 'exit 4' USR1; while :; do sleep 0.1; done",
        ],
    );
    ps_line(&rd, "killme", |l| l.contains("Up "));
    std::thread::sleep(Duration::from_millis(300));
    rd.rd(&["kill", "-s", "USR1", "killme"]).assert_ok();
    assert_eq!(rd.rd(&["wait", "killme"]).stdout.trim(), "4");
    rd.rd(&["rm", "deaf", "polite", "inited", "killme"])
        .assert_ok();
    rd.finish();
}

#[test]
fn init_reaps_the_zombie_a_plain_pid_1_leaves() {
    let rd = Rd::new();
    // An orphan (its parent, the subshell, exits at once) is re-parented
    // to PID 1; `sleep` as PID 1 never wait()s for it.
    let cmd = ["sh", "-c", "(sleep 0.1 &); exec sleep 60"];
    for (name, init) in [("plain", false), ("inited", true)] {
        let mut args = vec!["--name", name];
        if init {
            args.push("--init");
        }
        args.push("--");
        args.extend(cmd);
        detach(&rd, &args);
    }
    std::thread::sleep(Duration::from_millis(700));
    let zombies = |name: &str| {
        let out = rd.rd(&["exec", name, "ps", "-o", "stat,args"]);
        out.assert_ok();
        out.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('Z'))
            .count()
    };
    assert_eq!(
        zombies("plain"),
        1,
        "sleep as PID 1 leaves the orphan a zombie"
    );
    assert_eq!(zombies("inited"), 0, "rd's init reaps it");
    let ps = rd.rd(&["exec", "inited", "ps", "-o", "pid,args"]);
    assert!(
        ps.stdout.lines().any(|l| l.trim() == "1 rd-init"),
        "PID 1 is rd's init\n{ps}"
    );
    // The init never execs, so close-on-exec never cleans its descriptors:
    // it closes them all (the host's netns and netlink socket of the
    // bridge among them). Seen with ptrace rights, which a non-dumpable
    // PID 1 otherwise denies: only stdin, stdout, stderr.
    let out = rd.run(&[
        "--init",
        "--cap-add",
        "SYS_PTRACE",
        "--",
        "sh",
        "-c",
        "ls /proc/1/fd",
    ]);
    out.assert_ok();
    assert_eq!(out.stdout_lines(), vec!["0", "1", "2"], "{out}");
    // rd's own command line and environment are not the container's to read.
    let out = rd.rd(&["exec", "inited", "sh", "-c", "cat /proc/1/environ"]);
    assert!(out.code != 0 && !out.stdout.contains("RD_"), "{out}");
    rd.rd(&["rm", "-f", "plain", "inited"]).assert_ok();
    rd.finish();
}

#[test]
fn rm_force_of_a_running_container_leaves_nothing() {
    let rd = Rd::new();
    detach(
        &rd,
        &["--name", "victim", "--memory", "64m", "--", "sleep", "60"],
    );
    let out = rd.rd(&["rm", "victim"]);
    out.assert_code(1).assert_stderr_contains("is running");
    rd.rd(&["rm", "-f", "victim"]).assert_ok();
    assert!(rd.entries("names").is_empty(), "the name is freed");
    rd.finish();
}

#[test]
fn a_killed_monitor_leaves_nothing_that_ps_and_cleanup_do_not_reclaim() {
    let rd = Rd::new();
    detach(
        &rd,
        &["--name", "orphan", "--memory", "64m", "--", "sleep", "60"],
    );
    let rec = inspect(&rd, "orphan");
    let monitor = rec["monitor_pid"].as_i64().expect("monitor_pid") as i32;
    let init = rec["pid"].as_i64().expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the monitor");
    // PR_SET_PDEATHSIG: the container dies with its monitor.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{init}")).exists() {
        assert!(Instant::now() < deadline, "the init outlived its monitor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = rd.rd(&["ps", "-a"]);
    out.assert_ok();
    assert!(!out.stdout.contains("orphan"), "{out}");
    let out = rd.rd(&["cleanup"]);
    out.assert_ok();
    assert!(rd.entries("names").is_empty());
    rd.finish();
}

#[test]
fn twenty_detached_containers_at_once() {
    let rd = Rd::new();
    rd.warm();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let cmd = rd.command(&[
                "run",
                "-d",
                "--name",
                &format!("c{i:02}"),
                "--",
                "sleep",
                "60",
            ]);
            std::thread::spawn(move || {
                let mut cmd = cmd;
                common::run_with_timeout(&mut cmd, common::TIMEOUT)
            })
        })
        .collect();
    for h in handles {
        let out: Output = h.join().expect("thread");
        out.assert_ok();
    }
    let ps = rd.rd(&["ps"]);
    ps.assert_ok();
    assert_eq!(
        ps.stdout_lines().len(),
        21,
        "a header and 20 containers\n{ps}"
    );
    for i in 0..20 {
        assert!(ps.stdout.contains(&format!("c{i:02}")), "{ps}");
    }
    // Meanwhile, other rd runs reclaim leftovers: none of these is one.
    rd.run(&["--", "true"]).assert_ok();
    let names: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    let out = rd.rd(&args);
    out.assert_ok();
    assert_eq!(out.stdout_lines().len(), 20);
    rd.finish();
}

#[test]
fn dockers_argument_forms() {
    let rd = Rd::new();
    // rd run IMAGE COMMAND: the first word is the image.
    let out = rd.run(&["busybox", "echo", "hi"]);
    out.assert_ok();
    assert_eq!(out.stdout, "hi\n");
    // -i IMAGE -- COMMAND, -i IMAGE COMMAND, IMAGE -- COMMAND agree.
    for args in [
        &["-i", "busybox", "--", "sh", "-c", "echo $0"][..],
        &["-i", "busybox", "sh", "-c", "echo $0"][..],
        &["busybox", "--", "sh", "-c", "echo $0"][..],
        &["--", "sh", "-c", "echo $0"][..],
    ] {
        let out = rd.run(args);
        out.assert_ok();
        assert_eq!(out.stdout, "sh\n", "{args:?}\n{out}");
    }
    // A path where the image goes: one clear line.
    let out = rd.run(&["/bin/sh", "-c", "true"]);
    out.assert_code(125)
        .assert_stderr_contains("rd run -- /bin/sh");
    // A first word that names no image: the pull fails (here: nothing
    // listens on port 9), and rd says how to run it as a command instead.
    let out = rd.run(&["127.0.0.1:9/nosuch", "-c", "true"]);
    out.assert_code(125)
        .assert_stderr_contains("was taken as the image");
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    // --entrypoint and --env-file.
    let dir = tempfile::tempdir().expect("tempdir");
    let env = dir.path().join("env");
    std::fs::write(&env, "# comment\nGREETING=hello world\nFROM_RD\n").expect("env file");
    let out = rd
        .command(&[
            "run",
            "--env-file",
            env.to_str().unwrap_or_default(),
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "echo $GREETING; echo $FROM_RD",
        ])
        .env("FROM_RD", "copied")
        .output()
        .expect("rd run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello world\ncopied\n"
    );
    rd.finish();
}

#[test]
fn bad_input_gets_one_line_and_changes_nothing() {
    let rd = Rd::new();
    detach(&rd, &["--name", "webserver", "--", "sleep", "60"]);
    detach(&rd, &["--name", "ended", "--", "true"]);
    rd.rd(&["wait", "ended"]).assert_ok();
    let before = rd.tree("");

    for (args, code, text) in [
        (&["logs", "webservr"][..], 1, "did you mean 'webserver'"),
        (&["exec", "ended", "true"][..], 1, "is not running"),
        (&["rm", "webserver"][..], 1, "rd rm -f webserver"),
        (&["stop", "-t", "-3", "webserver"][..], 125, "-3"),
        (
            &["kill", "-s", "SIGNOPE", "webserver"][..],
            1,
            "not a signal",
        ),
        (
            &["run", "-d", "--name", "webserver", "--", "true"][..],
            125,
            "already in use",
        ),
        (
            &["run", "--name", "bad/name", "--", "true"][..],
            125,
            "not a container name",
        ),
        (&["inspect", "nothing-like-it"][..], 125, "nothing-like-it"),
    ] {
        let out = rd.rd(args);
        out.assert_code(code).assert_stderr_contains(text);
        assert_eq!(out.stderr_lines().len(), 1, "one line\n{out}");
        assert_eq!(rd.tree(""), before, "{args:?} changed the state root");
    }
    ps_line(&rd, "webserver", |l| l.contains("Up "));
    rd.rd(&["rm", "-f", "webserver", "ended"]).assert_ok();
    rd.finish();
}

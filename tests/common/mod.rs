//! Test harness for rd's integration tests: drives the built `rd` binary as a
//! user would, each test with its own state root, and checks what rd leaves
//! on the host (mounts, cgroups, container directories).
//!
//! Every test binary runs its tests in parallel threads, so the host-wide
//! checks here are written to tolerate other tests' containers running at
//! the same time (see [`Rd::finish`]).

#![allow(dead_code)]

pub mod oci;
pub mod registry;

pub mod front;

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single rd command may take before the test kills it.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The rd binary cargo built for these tests.
pub fn rd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rd")
}

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status, or 128+N if a signal N killed the process itself.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line, for messages.
    pub what: String,
}

impl Output {
    /// Non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Non-empty lines of stdout, trimmed.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Panics (with everything rd printed) unless the exit status is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit status {code}, got {}\n{self}",
            self.code
        );
        self
    }

    /// Panics unless rd exited 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    /// Panics if rd (or anything) panicked.
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "rd panicked\n{self}"
        );
        self
    }

    /// rd's own failure: exit 125 and exactly one non-empty stderr line,
    /// starting with "rd: ".
    #[track_caller]
    pub fn assert_rd_error(&self) -> &Self {
        self.assert_no_panic();
        self.assert_code(125);
        let lines = self.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected exactly one line on stderr, got {}\n{self}",
            lines.len()
        );
        assert!(
            lines[0].starts_with("rd: "),
            "expected the stderr line to start with 'rd: '\n{self}"
        );
        self
    }

    /// Panics unless stderr contains `text`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "expected stderr to contain {text:?}\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nexit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.what,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

fn status_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Reads a pipe to its end in a thread; the text arrives on the receiver.
fn collect<R: Read + Send + 'static>(mut pipe: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// Stops a process that overran: SIGTERM first (rd then ends its container
/// and cleans up), SIGKILL if it is still there 5 seconds later.
pub fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for `child` to exit within `timeout`; stops it (see [`stop`]) and
/// returns an error on timeout. Returns its exit code (128+N for a signal).
fn wait_deadline(child: &mut Child, timeout: Duration, what: &str) -> Result<i32, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status_code(status)),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
        if Instant::now() >= deadline {
            stop(child);
            return Err(format!(
                "TIMEOUT: {what} still running after {timeout:?}; killed it"
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` (stdin from /dev/null) and returns what it did; kills it and
/// panics if it has not finished within `timeout`.
#[track_caller]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = collect(child.stdout.take().expect("stdout piped"));
    let err = collect(child.stderr.take().expect("stderr piped"));
    let result = wait_deadline(&mut child, timeout, &what);
    // A leftover process holding the pipes must not hang the test either.
    let stdout = out
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "<stdout still open 10s after exit>".into());
    let stderr = err
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "<stderr still open 10s after exit>".into());
    match result {
        Ok(code) => Output {
            code,
            stdout,
            stderr,
            what,
        },
        Err(e) => panic!("{e}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"),
    }
}

/// Runs a host command (not rd) with the default timeout.
#[track_caller]
pub fn host(program: &str, args: &[&str]) -> Output {
    run_with_timeout(Command::new(program).args(args), TIMEOUT)
}

// ---------------------------------------------------------------- roots

/// Every state root of this test process that is alive, so the cgroup leak
/// check can tell a running container of another test from a leak.
static ROOTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live_container_ids() -> BTreeSet<String> {
    let roots = ROOTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut ids = BTreeSet::new();
    for root in roots {
        if let Ok(entries) = std::fs::read_dir(root.join("containers")) {
            for e in entries.flatten() {
                ids.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    ids
}

/// One test's rd: its own state root in a fresh temporary directory under
/// /tmp, and a snapshot of the host taken when it was made.
pub struct Rd {
    dir: tempfile::TempDir,
    mounts_before: Vec<String>,
    cgroups_before: BTreeSet<PathBuf>,
}

impl Default for Rd {
    fn default() -> Self {
        Self::new()
    }
}

impl Rd {
    pub fn new() -> Rd {
        let dir = tempfile::Builder::new()
            .prefix("rd-test-")
            .tempdir_in("/tmp")
            .expect("creating a temporary state root under /tmp");
        // As rd makes a state root of its own: 0700 (an open one is
        // tightened, with a line on stderr; tests/escape.rs checks that).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod 0700 the state root");
        ROOTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.path().to_path_buf());
        Rd {
            dir,
            mounts_before: mount_table(),
            cgroups_before: rd_cgroups().into_iter().collect(),
        }
    }

    /// The state root (passed to rd as --root).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rd --root ROOT ARGS...`, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(rd_bin());
        cmd.env_remove("RD_ROOT")
            .arg("--root")
            .arg(self.root())
            .args(args);
        cmd
    }

    /// `PREFIX... rd --root ROOT ARGS...` (e.g. through setpriv).
    pub fn command_via(&self, prefix: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(prefix[0]);
        cmd.args(&prefix[1..])
            .env_remove("RD_ROOT")
            .arg(rd_bin())
            .arg("--root")
            .arg(self.root())
            .args(args);
        cmd
    }

    /// `rd --root ROOT ARGS...` run by `sh -c SCRIPT` in a mount namespace
    /// of its own (`unshare -m`, private): SCRIPT makes mounts there (the
    /// host's table never holds them, so parallel tests are not disturbed)
    /// and runs rd as `"$0" "$@"`. With the default timeout.
    #[track_caller]
    pub fn in_own_mount_namespace(&self, script: &str, args: &[&str]) -> Output {
        let prefix = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
        ];
        run_with_timeout(&mut self.command_via(&prefix, args), TIMEOUT)
    }

    /// `rd --root ROOT ARGS...` (any subcommand), with the default timeout.
    #[track_caller]
    pub fn rd(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.command(args), TIMEOUT)
    }

    /// `rd run ARGS...`, with the default timeout.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_timeout(args, TIMEOUT)
    }

    #[track_caller]
    pub fn run_timeout(&self, args: &[&str], timeout: Duration) -> Output {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        run_with_timeout(&mut self.command(&all), timeout)
    }

    /// `rd run ARGS...` in the background, stdout read line by line and
    /// stdin a pipe the test can write to or close.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        Running::start(self.command(&all))
    }

    /// Builds the busybox image now (rd builds it on first use), so a test
    /// can tell the images before and after a failing command.
    #[track_caller]
    pub fn warm(&self) {
        self.rd(&["inspect", "busybox"]).assert_ok();
    }

    /// The layer directories of an image, from `rd inspect`.
    #[track_caller]
    pub fn layers(&self, image: &str) -> Vec<PathBuf> {
        let out = self.rd(&["inspect", image]);
        out.assert_ok();
        let json: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("rd inspect printed no JSON ({e})\n{out}"));
        json["layers"]
            .as_array()
            .unwrap_or_else(|| panic!("no \"layers\" array in rd inspect's JSON\n{out}"))
            .iter()
            .map(|l| PathBuf::from(l.as_str().expect("layer dirs are strings")))
            .collect()
    }

    /// Names under `<root>/SUB` (empty if it does not exist).
    pub fn entries(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join(sub))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every path under `<root>/SUB`, recursively (for before/after checks).
    pub fn tree(&self, sub: &str) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(d) = std::fs::read_dir(p) {
                for e in d.flatten() {
                    out.push(e.path());
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        walk(&e.path(), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root().join(sub), &mut out);
        out.sort();
        out
    }

    /// `<root>/containers/` must be empty (or absent): rd removed its
    /// container's directory.
    #[track_caller]
    pub fn assert_no_containers(&self, context: &dyn fmt::Display) {
        let left = self.entries("containers");
        assert!(
            left.is_empty(),
            "container directories left in {}: {left:?}\n{context}",
            self.root().join("containers").display()
        );
    }

    /// After the test: no container directory, no leaked rd-* cgroup and
    /// the host's mount table exactly as when this Rd was made.
    #[track_caller]
    pub fn finish(&self) {
        self.assert_no_containers(&"(at the end of the test)");
        assert_no_leaked_cgroups(&self.cgroups_before);
        assert_mounts_unchanged(&self.mounts_before, "during this test");
    }
}

impl Drop for Rd {
    fn drop(&mut self) {
        if thread::panicking() {
            // A failed test may have left containers (e.g. an rd killed
            // after a timeout, or a detached one): keep the host tidy for
            // the other tests. The failure itself has already been reported.
            let ids = run_with_timeout(&mut self.command(&["ps", "-aq"]), TIMEOUT);
            for id in ids.stdout_lines() {
                let _ = run_with_timeout(&mut self.command(&["rm", "-f", id]), TIMEOUT);
            }
            for id in self.entries("containers") {
                for dir in cgroups_of(&id) {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
        ROOTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|r| r != self.dir.path());
    }
}

// ---------------------------------------------------------------- running

/// An rd running in the background.
pub struct Running {
    child: Child,
    pub what: String,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Receiver<String>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let what = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let pipe = child.stdout.take().expect("stdout piped");
        let acc = Arc::clone(&stdout);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                acc.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&format!("{line}\n"));
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining into `acc`.
                }
            }
        });
        let stderr = collect(child.stderr.take().expect("stderr piped"));
        Running {
            stdin: child.stdin.take(),
            child,
            what,
            lines,
            stdout,
            stderr,
        }
    }

    /// rd's own pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stdout line matching `pred` and returns it; on timeout
    /// (or if rd exits first) kills rd and panics with its output.
    #[track_caller]
    pub fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no expected line on stdout within {timeout:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail("stdout closed before the expected line")
                }
            }
        }
    }

    /// Waits for the next stdout line.
    #[track_caller]
    pub fn next_line(&mut self, timeout: Duration) -> String {
        self.wait_for_line(|_| true, timeout)
    }

    /// The stdout lines before the line `marker` (which is consumed).
    #[track_caller]
    pub fn lines_until(&mut self, marker: &str, timeout: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(timeout);
            if line == marker {
                return lines;
            }
            lines.push(line);
        }
    }

    /// Closes rd's stdin (a container blocked in `read` goes on).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn write_stdin(&mut self, text: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = s.write_all(text.as_bytes());
            let _ = s.flush();
        }
    }

    /// The container's PID 1 as the host sees it: rd's child. Waits until
    /// it runs a program named `comm` (i.e. has exec'd the command).
    #[track_caller]
    pub fn container_init(&mut self, comm: &str, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            for pid in children_of(self.pid()) {
                let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if c.trim() == comm {
                    return pid;
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!("rd's child never ran '{comm}' within {timeout:?}"));
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                self.fail(&format!("rd exited before its child ran '{comm}'"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `sig` to rd itself.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
    }

    /// Waits for rd to exit (killing it and panicking on timeout).
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        self.stdin = None;
        let result = wait_deadline(&mut self.child, timeout, &self.what);
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| "<stderr still open 10s after exit>".into());
        // Let the stdout reader reach EOF.
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => continue,
            }
        }
        let stdout = self
            .stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match result {
            Ok(code) => Output {
                code,
                stdout,
                stderr,
                what: self.what.clone(),
            },
            Err(e) => panic!("{e}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"),
        }
    }

    #[track_caller]
    fn fail(&mut self, why: &str) -> ! {
        stop(&mut self.child);
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        let stdout = self
            .stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        panic!(
            "{why}\ncommand: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            self.what
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Pids whose parent is `ppid` (field 4 of /proc/PID/stat).
pub fn children_of(ppid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm (field 2) is in parentheses and may hold spaces: parse after ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(ppid) {
            out.push(pid);
        }
    }
    out
}

// ---------------------------------------------------------------- host state

/// One sorted "MOUNTPOINT FSTYPE SOURCE" line per mount in a mountinfo text
/// (mount IDs left out: the kernel reuses them).
pub fn mount_table_of(mountinfo: &str) -> Vec<String> {
    let mut rows: Vec<String> = mountinfo
        .lines()
        .filter_map(parse_mountinfo_line)
        .map(|m| format!("{} {} {}", m.mount_point, m.fstype, m.source))
        .collect();
    rows.sort();
    rows
}

/// The host's (this process's) mount table, as [`mount_table_of`].
pub fn mount_table() -> Vec<String> {
    mount_table_of(
        &std::fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo"),
    )
}

/// The fields of a mountinfo line the tests look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub mount_point: String,
    pub options: String,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

/// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
pub fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let dash = fields.iter().position(|f| *f == "-")?;
    Some(Mount {
        mount_point: fields.get(4)?.to_string(),
        options: fields.get(5)?.to_string(),
        fstype: fields.get(dash + 1)?.to_string(),
        source: fields.get(dash + 2)?.to_string(),
        super_options: fields.get(dash + 3).unwrap_or(&"").to_string(),
    })
}

/// Panics (with a diff) if the host's mount table differs from `before`.
#[track_caller]
pub fn assert_mounts_unchanged(before: &[String], when: &str) {
    let after = mount_table();
    if after != before {
        let removed: Vec<&String> = before.iter().filter(|m| !after.contains(m)).collect();
        let added: Vec<&String> = after.iter().filter(|m| !before.contains(m)).collect();
        panic!(
            "the host's mount table changed {when}:\n  removed: {removed:#?}\n  added: {added:#?}"
        );
    }
}

/// The host's hostname.
pub fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("reading /proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

/// The host's cgroup layout, from the filesystem type at /sys/fs/cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// One unified cgroup2 tree at /sys/fs/cgroup.
    V2,
    /// v1 controllers under /sys/fs/cgroup/<ctrl>/ (maybe plus a
    /// controller-less cgroup2 at /sys/fs/cgroup/unified: hybrid).
    V1,
    /// No cgroup filesystem.
    None,
}

pub fn cgroup_mode() -> CgroupMode {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // The last mount on /sys/fs/cgroup is the one visible.
    let fstype = info
        .lines()
        .rev()
        .filter_map(parse_mountinfo_line)
        .find(|m| m.mount_point == "/sys/fs/cgroup")
        .map(|m| m.fstype);
    match fstype.as_deref() {
        Some("cgroup2") => CgroupMode::V2,
        Some(_) => CgroupMode::V1,
        None => CgroupMode::None,
    }
}

/// Every directory named rd-* directly under /sys/fs/cgroup (v2) or under
/// one of its subdirectories (v1 controllers, hybrid's unified).
pub fn rd_cgroups() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    let is_rd = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().starts_with("rd-"))
            .unwrap_or(false)
    };
    if let Ok(top) = std::fs::read_dir(base) {
        for e in top.flatten() {
            let p = e.path();
            if !p.is_dir() || p.is_symlink() {
                continue;
            }
            if is_rd(&p) {
                out.push(p.clone());
            }
            if let Ok(sub) = std::fs::read_dir(&p) {
                for s in sub.flatten() {
                    let sp = s.path();
                    if sp.is_dir() && is_rd(&sp) {
                        out.push(sp);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// The rd-<id> cgroup directories of one container.
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let name = format!("rd-{id}");
    rd_cgroups()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy() == name)
                .unwrap_or(false)
        })
        .collect()
}

#[track_caller]
pub fn assert_no_cgroup_of(id: &str) {
    let left = cgroups_of(id);
    assert!(
        left.is_empty(),
        "cgroup directories of container {id} left on the host: {left:?}"
    );
}

fn id_of(cgroup: &Path) -> String {
    cgroup
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches("rd-").to_string())
        .unwrap_or_default()
}

fn has_processes(cgroup: &Path) -> bool {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false)
}

/// No rd-* cgroup was left behind since `before` was taken. Other tests'
/// containers may be running meanwhile: rd makes containers/<id> before the
/// cgroup and removes it after, so a cgroup whose container directory
/// exists in some live state root of this process is not a leak. A cgroup
/// of an rd outside this process (someone else's) is told apart by having
/// processes, or by disappearing within a few seconds.
#[track_caller]
pub fn assert_no_leaked_cgroups(before: &BTreeSet<PathBuf>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = live_container_ids();
        let suspects: Vec<PathBuf> = rd_cgroups()
            .into_iter()
            .filter(|p| !before.contains(p))
            .filter(|p| !live.contains(&id_of(p)))
            .filter(|p| p.exists() && !has_processes(p))
            .collect();
        if suspects.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("rd left cgroup directories behind (no container, no process in them): {suspects:#?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Block devices in the host's /dev (vda, sda, nvme0n1, loop0, ...).
pub fn host_block_devices() -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    let mut out: Vec<String> = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().map(|t| t.is_block_device()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A container id: 12 lower-case hex digits.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Builds a small root filesystem directory for `rd import`: a copy of the
/// host's static busybox at bin/busybox, bin/sh -> busybox, and /file owned
/// by 1000:1000 with mode 4755 (setuid).
pub fn make_mini_rootfs(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir bin");
    std::fs::copy("/bin/busybox", dir.join("bin/busybox"))
        .expect("copying /bin/busybox (install busybox-static)");
    std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).expect("symlink bin/sh");
    let file = dir.join("file");
    std::fs::write(&file, "setuid test file\n").expect("write file");
    std::os::unix::fs::chown(&file, Some(1000), Some(1000)).expect("chown file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755))
        .expect("chmod 4755 file");
}

/// `tar -C DIR -c[z]f OUT .`
#[track_caller]
pub fn make_tarball(dir: &Path, out: &Path, gzip: bool) {
    let flags = if gzip { "-czf" } else { "-cf" };
    host(
        "tar",
        &[
            "-C",
            &dir.to_string_lossy(),
            flags,
            &out.to_string_lossy(),
            ".",
        ],
    )
    .assert_ok();
}

//! Running a level binary: `LEVEL --root ROOT run ARGS...`, with a time
//! limit, its output captured, and nothing left running afterwards.
//!
//! The level runs in a process group of its own (setpgid(0, 0) before exec),
//! and everything it forks stays in that group unless it calls setsid(2) or
//! setpgid(2) itself (a container's command rarely does). So one
//! killpg(SIGKILL) ends the level, its child and the child's children: even
//! a PID 1 in a new PID namespace, as the signal comes from an ancestor
//! namespace (pid_namespaces(7)).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::parse;

/// Bytes kept of each stream: a level gone wrong may print without end.
const OUTPUT_CAP: usize = 256 * 1024;
/// How often the checker looks at the level while it runs.
const TICK: Duration = Duration::from_millis(10);

/// Set by Ctrl-C (SIGINT) or SIGTERM: the running level is killed like at
/// a deadline, later probes do not start, and the checker still cleans up
/// (markers, temp roots, leaks) before it exits.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst); // async-signal-safe: one atomic store
}

/// Catches SIGINT and SIGTERM (see INTERRUPTED). The levels run in process
/// groups of their own, so the terminal's Ctrl-C reaches only the checker,
/// which then ends them itself.
pub fn catch_interrupts() {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            eprintln!(
                "check: cannot catch {signal}: {e} (an interrupted check may leave temp files)"
            );
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
    /// Still running at the deadline: the whole process group was killed.
    TimedOut(Duration),
    /// The binary could not be started at all.
    NotStarted(String),
}

/// A finished run: what the level printed and how it ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// `run -i breakout -- /bin/breakout ...`, for the report.
    pub cmdline: String,
    pub stdout: String,
    pub stderr: String,
    pub status: Status,
    /// The script began with the checker's guard (see criteria::guarded).
    pub guarded: bool,
}

/// The guard criteria::guarded puts before a script that writes or mounts:
/// `test -e <host marker> && exit 99; `.
pub const GUARD_END: &str = " && exit 99; ";

/// A script without its guard, for display (and copy-paste).
fn unguarded(arg: &str) -> Option<&str> {
    let rest = arg.strip_prefix("test -e ")?;
    Some(&rest[rest.find(GUARD_END)? + GUARD_END.len()..])
}

impl Run {
    /// The exit code, if the level exited normally.
    pub fn code(&self) -> Option<i32> {
        match self.status {
            Status::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// stdout's lines, trailing whitespace trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().map(str::trim_end).collect()
    }

    /// Did the command print exactly this line?
    pub fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l.trim() == line)
    }

    /// The container id: from the status line, which levels 01+ print.
    pub fn container_id(&self) -> Option<String> {
        parse::status_line(&self.stderr).map(|(id, _)| id)
    }

    pub fn status_text(&self) -> String {
        match &self.status {
            Status::Exited(code) => format!("exit {code}"),
            Status::Signaled(sig) => {
                let name = Signal::try_from(*sig).map(|s| s.as_str()).unwrap_or("?");
                format!("killed by signal {sig} ({name})")
            }
            Status::TimedOut(after) => format!("still running after {}s: killed", after.as_secs()),
            Status::NotStarted(why) => format!("could not start: {why}"),
        }
    }

    /// What the report shows of this run: the command, its status, then a
    /// few lines of stdout and stderr.
    pub fn saw(&self) -> Vec<String> {
        let mut saw = vec![format!("`{}` → {}", self.cmdline, self.status_text())];
        // The copy of the image (levels 01-03) is announced on every run:
        // noise here (level 04's criterion looks for it itself).
        let stderr: String = self
            .stderr
            .lines()
            .filter(|l| !l.starts_with("extracting image "))
            .map(|l| format!("{l}\n"))
            .collect();
        for (name, text, lines) in [("stdout", &self.stdout, 4), ("stderr", &stderr, 3)] {
            let excerpt = parse::excerpt(text, lines);
            if excerpt.is_empty() {
                continue;
            }
            for (i, line) in excerpt.iter().enumerate() {
                let label = if i == 0 {
                    format!("{name}: ")
                } else {
                    " ".repeat(name.len() + 2)
                };
                saw.push(format!("{label}{line}"));
            }
        }
        if self.guarded && self.status == Status::Exited(99) {
            saw.push(
                "exit 99: the command saw the host's marker file, so it ran in the host's own /:"
                    .into(),
            );
            saw.push("the probe stopped there rather than mount or write on the host".into());
        }
        saw
    }
}

/// A level started and not yet waited for.
pub struct Running {
    cmdline: String,
    guarded: bool,
    child: Option<Child>,
    not_started: Option<String>,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    timeout: Duration,
    /// The probe root's containers/ directory, listed on every tick: the
    /// ids found there are this run's containers (see Session::probe).
    containers_dir: PathBuf,
    ids: BTreeSet<String>,
    /// Set once the level has exited (a zombie until finish() reaps it).
    exited: bool,
    /// The level is our tracee (Conditions::hold_parent_until) until
    /// hold_parent() lets it go.
    traced: bool,
}

/// The conditions a level runs in. Some mistakes only show on some hosts
/// (a shared `/`, a root with supplementary groups, a slow parent): the
/// checker makes those hosts for every level, so that a mistake cannot pass
/// because this machine happens to hide it.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// The level's working directory: a host directory holding a marker
    /// file (a container whose cwd stays on the host lists it).
    pub cwd: PathBuf,
    /// Run the level in a mount namespace of its own whose `/` is rshared
    /// (as systemd makes it) and whose probe root is a shared mount of its
    /// own: a mount inside the container that is not made private
    /// (recursively) shows up in the level's namespace. It vanishes with the
    /// level, so the host's table is never touched.
    pub shared_mounts: bool,
    /// Stop the level's parent right after its first fork(2), while its
    /// child runs on, until the command prints this line (or 5 s pass):
    /// whatever the parent still had to do for the child comes too late.
    pub hold_parent_until: Option<String>,
    /// A host directory the level inherits open, as descriptor LEAKED_FD:
    /// the caller's environment is hostile, and a container that keeps it
    /// can reach the host's files through /proc/self/fd/LEAKED_FD whatever
    /// its root is (runc's CVE-2024-21626 was such a leak).
    pub leaked_dir: Option<PathBuf>,
}

/// The descriptor number Conditions::leaked_dir is given as.
pub const LEAKED_FD: i32 = 9;

/// A supplementary group the checker gives every level (with 0, as a root
/// shell has): `--user` must drop both. Chosen to be nobody's group.
pub const PLANTED_GID: u32 = 4711;

/// Starts `binary --root ROOT WORDS...` (`run ARGS...`, or `exec PID
/// ARGS...`). With `interactive`, the level's stdin is a pipe the checker
/// closes in finish() (so that a container waiting in `read` goes on);
/// otherwise /dev/null.
pub fn start(
    binary: &Path,
    root: &Path,
    args: &[String],
    interactive: bool,
    timeout: Duration,
    conditions: &Conditions,
) -> Running {
    let guarded = args.iter().any(|a| unguarded(a).is_some());
    let cmdline = args
        .iter()
        .map(|a| shell_quote(unguarded(a).unwrap_or(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new(binary);
    command
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("RD_WORKSHOP_ROOT")
        .stdin(if interactive {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(&conditions.cwd)
        .process_group(0);
    let root_c = CString::new(root.as_os_str().as_bytes()).unwrap_or_default();
    let shared = conditions.shared_mounts;
    let traced = conditions.hold_parent_until.is_some();
    // Opened close-on-exec; dup2 below makes the copy the level inherits.
    let leaked = match &conditions.leaked_dir {
        Some(dir) => match std::fs::File::open(dir) {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("check: cannot open {}: {e}", dir.display());
                None
            }
        },
        None => None,
    };
    let leaked_raw = leaked.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    // SAFETY: between fork and exec only system calls, on memory prepared
    // before the fork (no allocation, no lock).
    unsafe {
        command.pre_exec(move || {
            let groups = [
                nix::libc::gid_t::from(0u32),
                nix::libc::gid_t::from(PLANTED_GID),
            ];
            if nix::libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if shared {
                use nix::mount::{mount, MsFlags};
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                let none: Option<&str> = None;
                mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SHARED, none)?;
                mount(
                    Some(root_c.as_c_str()),
                    root_c.as_c_str(),
                    none,
                    MsFlags::MS_BIND,
                    none,
                )?;
            }
            if let Some(fd) = leaked_raw {
                // dup2 clears close-on-exec on the copy (unless fd is
                // already LEAKED_FD: then clear it by hand).
                if nix::libc::dup2(fd, LEAKED_FD) < 0
                    || nix::libc::fcntl(LEAKED_FD, nix::libc::F_SETFD, 0) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if traced {
                nix::sys::ptrace::traceme()?;
            }
            Ok(())
        });
    }
    let mut running = Running {
        cmdline,
        guarded,
        child: None,
        not_started: None,
        stdin: None,
        stdout: Arc::default(),
        stderr: Arc::default(),
        readers: Vec::new(),
        started: Instant::now(),
        timeout,
        containers_dir: root.join("containers"),
        ids: BTreeSet::new(),
        exited: false,
        traced: false,
    };
    if interrupted() {
        running.not_started = Some("interrupted".into());
        return running;
    }
    match command.spawn() {
        Ok(mut child) => {
            running.traced = traced;
            running.stdin = child.stdin.take();
            if let Some(out) = child.stdout.take() {
                running.readers.push(reader(out, running.stdout.clone()));
            }
            if let Some(err) = child.stderr.take() {
                running.readers.push(reader(err, running.stderr.clone()));
            }
            running.child = Some(child);
        }
        Err(e) => running.not_started = Some(format!("{}: {e}", binary.display())),
    }
    running
}

/// A thread that drains one pipe into a buffer (keeping the first
/// OUTPUT_CAP bytes), so that the level never blocks on a full pipe.
fn reader(mut pipe: impl Read + Send + 'static, buffer: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if let Ok(mut buf) = buffer.lock() {
                        let room = OUTPUT_CAP.saturating_sub(buf.len());
                        buf.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}

fn text(buffer: &Arc<Mutex<Vec<u8>>>) -> String {
    buffer
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl Running {
    /// The level's pid (its process group's id too).
    pub fn pid(&self) -> Option<Pid> {
        let pid = i32::try_from(self.child.as_ref()?.id()).ok()?;
        Some(Pid::from_raw(pid))
    }

    /// Past the time limit (or interrupted: as good as a deadline).
    fn past_deadline(&self) -> bool {
        Instant::now() >= self.started + self.timeout || interrupted()
    }

    /// Has the level exited? Looked at with WNOWAIT: the level stays a
    /// zombie, so its pid (= its process group's id) cannot be reused by an
    /// unrelated process before finish() has killed the group's stragglers.
    fn poll_exit(&mut self) -> bool {
        if !self.exited {
            if let Some(pid) = self.pid() {
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                self.exited = !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive));
            } else {
                self.exited = true;
            }
        }
        self.exited
    }

    /// Notes the container directories that exist right now.
    fn poll_ids(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.containers_dir) {
            for entry in entries.flatten() {
                self.ids
                    .insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }

    /// Conditions::hold_parent_until, carried out: the level stopped at its
    /// exec (PTRACE_TRACEME), is let go with PTRACE_O_TRACEFORK; at its
    /// first fork the kernel stops it before fork() returns in the parent,
    /// and auto-attaches the child, which we detach at once (it runs on).
    /// The parent stays stopped until the command prints `line`, then is
    /// detached too. Returns what happened, for the report.
    pub fn hold_parent(&mut self, line: &str) -> String {
        use nix::sys::ptrace::{self, Event, Options};
        if !self.traced {
            return "the level was not started traced".into();
        }
        self.traced = false;
        let Some(pid) = self.pid() else {
            return "the level did not start".into();
        };
        let all = WaitPidFlag::__WALL;
        let peek = WaitPidFlag::WEXITED | WaitPidFlag::WSTOPPED | WaitPidFlag::WNOWAIT | all;
        // Stops are consumed with waitpid; an exit is only peeked at (with
        // WNOWAIT), so that finish() still reaps it.
        let mut first = true;
        loop {
            match waitid(Id::Pid(pid), peek | WaitPidFlag::WNOHANG) {
                Ok(WaitStatus::StillAlive) if self.past_deadline() => {
                    return "the level neither forked nor ended in time".into();
                }
                Ok(WaitStatus::StillAlive) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(_) => {
                    return "the level ended without forking".into();
                }
                _ => {}
            }
            let resume = match nix::sys::wait::waitpid(pid, Some(all)) {
                Ok(WaitStatus::PtraceEvent(_, _, event))
                    if event == Event::PTRACE_EVENT_FORK as i32 =>
                {
                    break;
                }
                Ok(WaitStatus::Stopped(_, _)) if first => {
                    // The SIGTRAP of the exec: set the options, drop it.
                    first = false;
                    let options = Options::PTRACE_O_TRACEFORK | Options::PTRACE_O_EXITKILL;
                    if let Err(e) = ptrace::setoptions(pid, options) {
                        let _ = ptrace::detach(pid, None);
                        return format!("ptrace(PTRACE_SETOPTIONS): {e}");
                    }
                    None
                }
                Ok(WaitStatus::Stopped(_, sig)) => Some(sig), // a signal for the level: deliver it
                _ => None,
            };
            if let Err(e) = ptrace::cont(pid, resume) {
                return format!("ptrace(PTRACE_CONT): {e}");
            }
        }
        // At the fork: the child is our tracee too, stopped; let it go.
        let child = ptrace::getevent(pid)
            .ok()
            .and_then(|c| i32::try_from(c).ok())
            .map(Pid::from_raw);
        if let Some(child) = child {
            let _ = nix::sys::wait::waitpid(child, Some(all));
            let _ = ptrace::detach(child, None);
        }
        let until = self.started + self.timeout.min(Duration::from_secs(5));
        let saw = loop {
            self.poll_ids();
            if self.stdout().lines().any(|l| l.trim() == line) {
                break format!(
                    "the level's parent was held at fork() until the command printed `{line}`"
                );
            }
            if Instant::now() >= until || interrupted() {
                break format!("the level's parent was held at fork() for 5 s; the command never printed `{line}`");
            }
            std::thread::sleep(TICK);
        };
        let _ = ptrace::detach(pid, None);
        saw
    }

    /// The processes of the level's process group other than the level:
    /// its container, and anything the container started.
    pub fn group_members(&self) -> Vec<Pid> {
        let Some(pgid) = self.pid() else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid != pgid.as_raw())
            .filter(|pid| {
                // /proc/PID/stat: "pid (comm) state ppid pgrp ...": comm may
                // hold spaces and parentheses, so split after the last ')'.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.split_whitespace().collect())
                    .unwrap_or_default();
                // Zombies count as gone: they run nothing.
                fields.first() != Some(&"Z")
                    && fields.get(2) == Some(&pgid.as_raw().to_string().as_str())
            })
            .map(Pid::from_raw)
            .collect()
    }

    /// SIGKILL to the level alone, as the OOM killer or `kill -9` would:
    /// no clean-up of its own runs.
    pub fn kill_level(&self) {
        if let Some(pid) = self.pid() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }

    /// Writes a line to the level's stdin (started interactive): a `read`
    /// in the container returns it.
    pub fn send_line(&mut self, line: &str) -> bool {
        use std::io::Write;
        match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(format!("{line}\n").as_bytes()).is_ok(),
            None => false,
        }
    }

    /// stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Waits until the command prints `line` (a whole line) and returns
    /// true; false if the level ends or the deadline passes first.
    pub fn wait_for_line(&mut self, line: &str) -> bool {
        loop {
            self.poll_ids();
            if self.stdout().lines().any(|l| l.trim() == line) {
                return true;
            }
            if self.poll_exit() || self.past_deadline() {
                // One last look: the line may have come with the exit.
                std::thread::sleep(TICK);
                return self.stdout().lines().any(|l| l.trim() == line);
            }
            std::thread::sleep(TICK);
        }
    }

    /// Closes stdin, waits for the level to end (killing its process group
    /// at the deadline), kills whatever of the group is left, reaps.
    /// Returns the run and the container ids it used.
    pub fn finish(mut self) -> (Run, BTreeSet<String>) {
        drop(self.stdin.take()); // EOF: a `read` in the container returns
        let mut timed_out = false;
        while !self.poll_exit() {
            self.poll_ids();
            if self.past_deadline() {
                timed_out = true;
                self.kill_group();
                break;
            }
            std::thread::sleep(TICK);
        }
        self.poll_ids();
        // Output still in flight: the readers end when every writer (the
        // level and anything it left running) has closed the pipes.
        self.wait_readers(Duration::from_secs(1));
        self.kill_group(); // stragglers: a level that did not wait for its child
        let status = self.reap(timed_out);
        self.wait_readers(Duration::from_millis(300));
        let stdout = text(&self.stdout);
        let stderr = text(&self.stderr);
        for id in parse::container_ids(&stdout)
            .into_iter()
            .chain(parse::container_ids(&stderr))
        {
            self.ids.insert(id);
        }
        (
            Run {
                cmdline: self.cmdline,
                stdout,
                stderr,
                status,
                guarded: self.guarded,
            },
            self.ids,
        )
    }

    fn kill_group(&self) {
        if let Some(pid) = self.pid() {
            let _ = killpg(pid, Signal::SIGKILL); // ESRCH: nobody left, fine
        }
    }

    fn wait_readers(&self, limit: Duration) {
        let until = Instant::now() + limit;
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            std::thread::sleep(TICK);
        }
        // Readers still blocked (a process outside the group holds the
        // pipe) are left behind, detached: the checker must not hang.
    }

    fn reap(&mut self, timed_out: bool) -> Status {
        if let Some(why) = self.not_started.take() {
            return Status::NotStarted(why);
        }
        let Some(child) = self.child.as_mut() else {
            return Status::NotStarted("no process".into());
        };
        // After SIGKILL the level ends at once, unless it sleeps in the
        // kernel uninterruptibly (D state): then give up waiting.
        let until = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(TICK),
                _ => break None,
            }
        };
        match (timed_out, status) {
            (true, _) => Status::TimedOut(self.timeout),
            (false, Some(s)) => match (s.code(), s.signal()) {
                (Some(code), _) => Status::Exited(code),
                (None, Some(sig)) => Status::Signaled(sig),
                _ => Status::NotStarted(format!("unexpected wait status {s}")),
            },
            (false, None) => Status::NotStarted("the level could not be reaped".into()),
        }
    }
}

/// Quotes an argument for display, as a shell would need it.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,%+".contains(c));
    if plain {
        arg.to_string()
    } else if !arg.contains('\'') {
        format!("'{arg}'")
    } else if !arg.contains(['"', '$', '`', '\\']) {
        // Reads better than '\'' around a script that holds single quotes
        // (but $ ` \\ would mean something inside double quotes).
        format!("\"{arg}\"")
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_for_display() {
        assert_eq!(shell_quote("echo"), "echo");
        assert_eq!(shell_quote("exit 3"), "'exit 3'");
        assert_eq!(shell_quote("it's"), "\"it's\"");
        assert_eq!(shell_quote("$it's"), r"'$it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn guard_is_hidden_from_display() {
        assert_eq!(
            unguarded("test -e /var/tmp/m && exit 99; echo hi"),
            Some("echo hi")
        );
        assert_eq!(unguarded("echo hi"), None);
        assert_eq!(unguarded("test -e /x; echo"), None);
    }
}

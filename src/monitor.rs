//! rd's side of a running container: after clone(2), rd is the container's
//! monitor. One poll(2) loop watches, until the container's init has ended:
//!
//! * the signalfd: SIGCHLD (the init ended), SIGINT/SIGTERM/SIGHUP to
//!   forward (see [`crate::signals`]), SIGWINCH to pass on to the pty;
//! * the child's error pipe: a failure before execve, or EOF once execve
//!   has succeeded (the pipe is close-on-exec);
//! * with a terminal: the socket on which the child sends the pty's master,
//!   then the caller's stdin (to the master) and the master (to stdout).
//!
//! ```text
//!   rd (monitor)                          container
//!   ────────────                          ─────────
//!   poll ◀── error pipe ────────────────  rd's code until execve
//!        ◀── socket (pty master) ───────  its own /dev/ptmx
//!   stdin ──▶ master ═══ pty ═══ slave ─▶ stdin of the command
//!   stdout ◀─ master ═══ pty ═══ slave ◀─ stdout/stderr
//!        ◀── signalfd: SIGCHLD           init exits
//! ```

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::security::terminal::{self, RawMode};
use crate::signals;
use crate::trace::Tracer;

/// How the container ended, and what the child reported before execve.
pub struct Outcome {
    pub status: WaitStatus,
    /// "STATUS\tMESSAGE" if the child failed before execve, else empty.
    pub report: String,
}

impl Outcome {
    /// docker's status: the command's own, 128+N when signal N killed it.
    pub fn code(&self) -> i32 {
        match self.status {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
            _ => crate::birth::exec::EXIT_RD_ERROR,
        }
    }

    /// The child's failure before execve, with the status it chose.
    pub fn failure(&self) -> Option<crate::error::ExitError> {
        let (code, message) = self.report.split_once('\t')?;
        let code = code.parse().unwrap_or(crate::birth::exec::EXIT_RD_ERROR);
        Some(crate::error::ExitError::new(code, message))
    }
}

/// What the monitor relays, and whom it tells.
pub struct Watch<'a> {
    /// The caller's stdin goes to the terminal (not for `rd run -d`, whose
    /// stdin is /dev/null: its end would end the container's shell).
    pub relay_stdin: bool,
    /// The child is a PID namespace's init (`rd run`), not a process that
    /// joined one (`rd exec`): see [`signals::deliver`].
    pub pid1: bool,
    /// Called once, when execve has succeeded (the error pipe's EOF).
    pub on_start: &'a mut dyn FnMut(),
}

/// Watches the child until it ends. It is left a zombie (waitid(WNOWAIT)),
/// so its pid stays its own until the caller has recorded the end and
/// calls [`reap`]: nothing can take the number while the record still
/// says "running" (see `lifecycle::commands`).
pub fn watch(
    child: Pid,
    errors: OwnedFd,
    console: Option<OwnedFd>,
    tracer: &Tracer,
    how: Watch,
) -> Result<Outcome> {
    let sfd =
        SignalFd::with_flags(&signals::handled_set(), SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let mut errors = Some(std::fs::File::from(errors));
    let mut report = Vec::new();
    let mut console = console;
    let mut master: Option<std::fs::File> = None;
    let mut stdin_open = true;
    let mut _raw: Option<RawMode> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SIGCHLD may have come before the signalfd existed: look first.
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(child), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => {
                if let Some(m) = &mut master {
                    drain(m, &mut buf);
                }
                if let Some(e) = &mut errors {
                    let _ = e.read_to_end(&mut report);
                }
                return Ok(Outcome {
                    status,
                    report: String::from_utf8_lossy(&report).into_owned(),
                });
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waitpid"),
        }

        // Which descriptors to watch this round, in a fixed order.
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        fn slot<'a>(v: &mut Vec<PollFd<'a>>, fd: Option<BorrowedFd<'a>>) -> Option<usize> {
            let fd = fd?;
            v.push(PollFd::new(fd, PollFlags::POLLIN));
            Some(v.len() - 1)
        }
        let i_err = slot(&mut fds, errors.as_ref().map(|f| f.as_fd()));
        let i_sock = slot(&mut fds, console.as_ref().map(|f| f.as_fd()));
        let i_master = slot(&mut fds, master.as_ref().map(|f| f.as_fd()));
        let i_stdin = slot(
            &mut fds,
            (master.is_some() && stdin_open && how.relay_stdin).then(|| stdin.as_fd()),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (r_sig, r_err, r_sock, r_master, r_stdin) = (
            ready(Some(0)),
            ready(i_err),
            ready(i_sock),
            ready(i_master),
            ready(i_stdin),
        );
        drop(fds);

        if r_err {
            let e = errors.as_mut().expect("polled");
            match e.read(&mut buf) {
                Ok(0) | Err(_) => {
                    errors = None; // execve succeeded, or the child is gone
                    if report.is_empty() {
                        (how.on_start)();
                    }
                }
                Ok(n) => report.extend_from_slice(&buf[..n]),
            }
        }
        if r_sock {
            let sock = console.take().expect("polled");
            if let Some(m) = terminal::receive_master(sock.as_fd()) {
                terminal::copy_window_size(m.as_fd());
                if how.relay_stdin && nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
                    _raw = RawMode::enter();
                }
                master = Some(std::fs::File::from(m));
            }
        }
        if r_master {
            let m = master.as_mut().expect("polled");
            match m.read(&mut buf) {
                Ok(0) | Err(_) => master = None, // EIO: every slave descriptor closed
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
                }
            }
        }
        if r_stdin {
            match nix::unistd::read(std::io::stdin().as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    // Piped input into a pty (-t): its end is the EOF
                    // character (^D), which the line discipline turns
                    // into end-of-file for the reader.
                    stdin_open = false;
                    if let Some(m) = master.as_mut() {
                        let _ = m.write_all(&[0x04]);
                    }
                }
                Ok(n) => {
                    if let Some(m) = master.as_mut() {
                        let _ = m.write_all(&buf[..n]);
                    }
                }
            }
        }
        if r_sig {
            if let Ok(Some(info)) = sfd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    match sig {
                        Signal::SIGCHLD => {}
                        Signal::SIGWINCH => {
                            if let Some(m) = &master {
                                terminal::copy_window_size(m.as_fd());
                            }
                        }
                        _ => signals::deliver(child, sig, how.pid1, tracer),
                    }
                }
            }
        }
    }
}

/// Reaps the child [`watch`] left a zombie, with its rusage (wait4(2)):
/// its CPU times and those of the children it waited for, and the largest
/// resident size among them.
pub fn reap(child: Pid) -> crate::stats::InitUsage {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to fill.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to our own status and rusage.
        let r = unsafe { nix::libc::wait4(child.as_raw(), &mut status, 0, &mut usage) };
        if r >= 0 || Errno::last() != Errno::EINTR {
            break;
        }
    }
    let time = |t: nix::libc::timeval| {
        std::time::Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
    };
    crate::stats::InitUsage {
        user: time(usage.ru_utime),
        system: time(usage.ru_stime),
        max_rss_bytes: (usage.ru_maxrss.max(0) as u64) * 1024, // kilobytes
    }
}

/// Reads what the container's terminal still holds once its init is gone.
fn drain(master: &mut std::fs::File, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        master.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let mut out = std::io::stdout().lock();
    while let Ok(n) = master.read(buf) {
        if n == 0 {
            break;
        }
        let _ = out.write_all(&buf[..n]);
    }
    let _ = out.flush();
}

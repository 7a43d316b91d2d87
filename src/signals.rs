//! Signals: rd stands between the user and the container's PID 1.
//!
//! rd blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD for itself from the start
//! and reads them from a signalfd(2), so a Ctrl-C can never kill rd halfway
//! through and leave mounts, cgroups or directories behind: it arrives as
//! data, and rd decides. The child unblocks them before exec (a blocked mask
//! is inherited across execve(2)).
//!
//! The PID 1 pitfall (pid_namespaces(7)): a namespace's init receives only
//! the signals it installed a handler for; with the default action they are
//! simply dropped, even SIGINT and SIGTERM. `sleep 100` as PID 1 cannot be
//! interrupted. So when PID 1 does not catch the signal, rd ends the
//! container with SIGKILL (which the kernel always delivers) and says why.

use anyhow::{Context, Result};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::trace::Tracer;

/// The signals rd forwards to (or enforces on) the container.
pub const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// si_code of a signal the kernel itself sent: the terminal's Ctrl-C
/// (already delivered to the container's processes, which share rd's
/// foreground process group) or a hangup. kill(2) gives SI_USER instead.
const SI_KERNEL: i32 = 0x80;

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the signals rd handles itself; call before creating anything.
pub fn block() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None).context("sigprocmask(SIG_BLOCK)")
}

/// A terminating signal that arrived while rd was busy (and blocked it).
pub fn pending_termination() -> Option<Signal> {
    // nix has no sigpending(2) wrapper.
    // SAFETY: sigset_t is plain data, filled in by the kernel.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    if unsafe { libc::sigpending(&mut set) } != 0 {
        return None;
    }
    // SAFETY: set was filled in by sigpending above.
    FORWARDED
        .into_iter()
        .find(|s| unsafe { libc::sigismember(&set, *s as i32) } == 1)
}

/// Does `pid` have a handler installed for `sig`? (SigCgt in /proc/PID/status)
fn catches(pid: Pid, sig: Signal) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .map(|mask| mask & (1 << (sig as i32 - 1)) != 0)
        .unwrap_or(false)
}

/// Waits for the container's init to end, forwarding signals meanwhile.
pub fn wait_for_exit(child: Pid, tracer: &Tracer) -> Result<WaitStatus> {
    let sfd = SignalFd::new(&handled_set()).context("signalfd")?;
    loop {
        // SIGCHLD may have come before the signalfd existed: look first.
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status) => return Ok(status),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waitpid"),
        }
        let info = match sfd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("reading the signalfd"),
        };
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        if sig == Signal::SIGCHLD {
            continue;
        }
        if catches(child, sig) {
            if info.ssi_code != SI_KERNEL {
                let r = kill(child, sig);
                tracer.note(
                    format!("kill({child}, {})", sig.as_str()),
                    if r.is_ok() { "0" } else { "-1" },
                    0.0,
                    "forward the signal: the container's PID 1 has a handler for it",
                );
            }
        } else {
            eprintln!(
                "rd: got {}; the container's PID 1 has no handler for it, and a PID namespace's init ignores such signals (pid_namespaces(7)): stopping the container with SIGKILL",
                sig.as_str()
            );
            let r = kill(child, Signal::SIGKILL);
            tracer.note(
                format!("kill({child}, SIGKILL)"),
                if r.is_ok() { "0" } else { "-1" },
                0.0,
                "SIGKILL is the one signal a namespace's init cannot ignore",
            );
        }
    }
}

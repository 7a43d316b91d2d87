//! Signals: rd stands between the user and the container's PID 1.
//!
//! rd blocks SIGINT, SIGTERM, SIGHUP, SIGCHLD and SIGWINCH for itself from the start
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
use nix::unistd::Pid;

use crate::trace::Tracer;

/// The signals rd forwards to (or enforces on) the container.
pub const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The signals rd reads from its signalfd: those it forwards, SIGCHLD (the
/// container's init ended) and SIGWINCH (the caller's terminal was resized).
pub fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
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

/// Will `pid` see `sig`: has it a handler for it (SigCgt in
/// /proc/PID/status), or does it block it (SigBlk: a blocked signal is
/// queued, even for an init, for sigwaitinfo(2); rd's `--init` does that)?
fn catches(pid: Pid, sig: Signal) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            .unwrap_or(0)
    };
    (mask("SigCgt:") | mask("SigBlk:")) & (1 << (sig as i32 - 1)) != 0
}

/// Passes `sig` on to the container's init, or ends it when the init
/// has no handler for it (the PID 1 pitfall above).
///
/// The container has a session of its own (see
/// [`crate::security::terminal`]): a Ctrl-C at the caller's terminal
/// reaches rd only, so rd forwards every signal, whoever sent it.
///
/// A process that joined a container (`rd exec`) is no init: the kernel
/// delivers to it as to any process, so the signal simply goes on.
pub fn deliver(child: Pid, sig: Signal, pid1: bool, tracer: &Tracer) {
    if !pid1 || catches(child, sig) {
        let r = kill(child, sig);
        tracer.note(
            format!("kill({child}, {})", sig.as_str()),
            if r.is_ok() { "0" } else { "-1" },
            0.0,
            "forward the signal: the process has a handler for it, or is no namespace's init",
        );
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

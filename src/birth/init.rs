//! `--init`: a small init as the container's PID 1, the command its child.
//!
//! PID 1 has two duties no ordinary program expects (pid_namespaces(7)):
//! * **Reaping.** A process whose parent dies is re-parented to PID 1, and
//!   when it exits it stays a zombie until PID 1 wait(2)s for it. A shell
//!   or a server as PID 1 never does: zombies pile up.
//! * **Signals.** The kernel delivers to PID 1 only the signals it has a
//!   handler for: `docker stop` of a `sleep` PID 1 waits out the grace period.
//!
//! rd's init is rd's own code, still running in the process clone(2)
//! created: it forks the command, then waits in sigwaitinfo(2) with every
//! signal blocked. A blocked signal is queued, never dropped, even for
//! PID 1, so SIGTERM from `rd stop` reaches it and is passed on to the
//! command. On SIGCHLD it reaps every zombie; when the command itself has
//! ended it exits with the command's status, and the kernel kills what is
//! left in the namespace. (tini, docker's `--init`, works the same way.)

use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::trace::Tracer;

/// Forks the command. Returns in the child (which execs it); the parent
/// becomes the init and never returns. The init closes every descriptor
/// above 2, the error pipe among them, so that rd sees its EOF when the
/// command's execve succeeds.
pub fn fork_command(terminal: bool, t: &Tracer) -> nix::Result<()> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None)?;
    // SAFETY: the container's process is single-threaded.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // A process group of its own, in the foreground of the terminal:
            // Ctrl-C reaches the command, not the init. (tcsetpgrp from a
            // background group would stop us with SIGTTOU: still blocked.)
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if terminal {
                let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            }
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            t.note(
                "fork()",
                &child.to_string(),
                0.0,
                "--init: the command is PID 1's child; PID 1 stays rd's init, which reaps and forwards",
            );
            // The init never execs, so close-on-exec never closes what rd
            // still holds here: the error pipe (rd waits for its EOF), the
            // console socket, the host's netns and netlink socket of
            // --network bridge, another container's pidfd. Every one goes:
            // the init needs none, and a descriptor is a way out.
            let _ = crate::security::fds::close_from(3, &[]);
            hide_rd();
            supervise(child)
        }
    }
}

/// What a process in the container can see of the init: not rd's command
/// line nor its environment. /proc/1/cmdline reads the init's argument
/// area, whoever asks, so it is overwritten in place with "rd-init" (what
/// setproctitle does); /proc/1/environ and /proc/1/mem need ptrace access,
/// which a non-dumpable process grants to no one without CAP_SYS_PTRACE.
fn hide_rd() {
    let _ = nix::sys::prctl::set_name(c"rd-init");
    let _ = nix::sys::prctl::set_dumpable(false);
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after "(comm)": state is field 3; arg_start..env_end are 48..51.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return;
    };
    let f: Vec<usize> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let (Some(&arg_start), Some(&env_end)) = (f.get(48 - 3), f.get(51 - 3)) else {
        return;
    };
    if arg_start == 0 || env_end <= arg_start || env_end - arg_start > 1 << 20 {
        return;
    }
    // SAFETY: [arg_start, env_end) is this process's argument and
    // environment strings, on its own stack, writable; nothing reads them
    // after this point (the init uses neither its arguments nor getenv).
    unsafe {
        let area = std::slice::from_raw_parts_mut(arg_start as *mut u8, env_end - arg_start);
        area.fill(0);
        let name = b"rd-init";
        area[..name.len()].copy_from_slice(name);
    }
}

/// The init's loop: forward signals to the command, reap every child,
/// exit with the command's status when it ends.
fn supervise(command: Pid) -> ! {
    let all = SigSet::all();
    loop {
        let Ok(sig) = all.wait() else { continue };
        if sig != Signal::SIGCHLD {
            let _ = kill(command, sig);
            continue;
        }
        // Reap everything that has ended: the command, and any orphan.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => exit(128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {} // an orphan, reaped
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process at once, with no destructor to run
    // on rd's copied memory.
    unsafe { libc::_exit(code) }
}

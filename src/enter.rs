//! `rd exec`: a new process in a running container, top to bottom.
//!
//! ```text
//!  rd exec (host namespaces, stays there)        child
//!  ──────────────────────────────────────        ─────
//!  find the container; pidfd_open(its init)
//!  prctl(PR_SET_DUMPABLE, 0)
//!  setns(pidfd, CLONE_NEWPID)   (for children)
//!  fork ──────────────────────────────────────▶ close the caller's descriptors, PDEATHSIG
//!                                               join its cgroup
//!                                               setns: cgroup, ipc, uts, net, mnt (last)
//!                                               setsid; its own pty (-t)
//!                                               cwd, seccomp, bounding set, user, capset
//!  monitor: signals, pty ◀──── exec error ───── execve(COMMAND)
//!  exit with the command's status
//! ```
//!
//! The process gets what the container's init got (its record says what):
//! the same capabilities, seccomp program, no_new_privs and user, the
//! image's environment and `rd run -e`, then this command's `-e`. The
//! steps after the namespaces are the init's own ([`Process::start`]).

use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::unistd::ForkResult;

use crate::birth::exec::{ExecFailure, EXIT_RD_ERROR};
use crate::birth::join;
use crate::birth::process::Process;
use crate::container::{console_socketpair, report_failure};
use crate::lifecycle::{commands, resolve};
use crate::monitor;
use crate::security::{seccomp, terminal};
use crate::state::StateRoot;
use crate::trace::Tracer;

/// What `rd exec` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub container: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// -t / -T; None: a terminal when the caller sits at one.
    pub tty: Option<bool>,
}

/// Runs the command in the container; returns its exit status.
pub fn exec(spec: &ExecSpec, state: &StateRoot, tracer: Tracer) -> Result<i32> {
    let found = resolve(state, &spec.container)?;
    let (rec, pidfd) = commands::open_running(&found, &spec.container)?;
    let p = &rec.process;
    let seccomp = match (&p.seccomp, p.privileged) {
        (Some(key), false) => Some(Arc::new(seccomp::read_cached(&state.seccomp_cache(), key)?)),
        _ => None,
    };
    let keep: Vec<caps::Capability> = p
        .capabilities
        .iter()
        .map(|c| c.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("the container's record names an unknown capability: {e}"))?;
    tracer.run(&join::not_dumpable())?;

    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    let use_tty = spec.tty.unwrap_or_else(terminal::caller_has_terminal);
    let console = if use_tty {
        Some(console_socketpair()?)
    } else {
        None
    };
    let mut keep_fds = vec![err_write.as_raw_fd(), pidfd.as_raw_fd()];
    keep_fds.extend(console.as_ref().map(|(_, c)| c.as_raw_fd()));
    let steps = join::child_steps(pidfd.as_raw_fd(), &p.cgroup_join, keep_fds);
    let process = Process {
        user: spec.user.as_deref().or(p.user.as_deref()),
        workdir: spec.workdir.as_deref().or(p.workdir.as_deref()),
        command: &spec.command,
        env: &p.env,
        extra_env: &spec.env,
        hostname: &rec.hostname,
        privileged: p.privileged,
        no_new_privileges: p.no_new_privileges,
        seccomp,
        keep: &keep,
        console: console.as_ref().map(|(_, c)| c.as_raw_fd()),
        init: false,
        ulimits: &p.ulimits,
    };

    tracer.run(&join::pid_namespace(pidfd.as_raw_fd()))?;
    // SAFETY: rd is single-threaded; the child only runs rd's steps, then execs.
    let child = match unsafe { nix::unistd::fork() }.context("fork")? {
        ForkResult::Child => {
            let _ = nix::unistd::close(err_read.as_raw_fd());
            let Err(failure) = become_process(&steps, &process, &tracer);
            report_failure(&err_write, &failure);
            // SAFETY: the forked child ends here, running no destructor of
            // the parent's copied state.
            unsafe { libc::_exit(failure.status) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(err_write);
    drop(pidfd);
    let console: Option<OwnedFd> = console.map(|(parent_end, _)| parent_end);
    let outcome = monitor::watch(
        child,
        err_read,
        console,
        &tracer,
        monitor::Watch {
            relay_stdin: true,
            pid1: false,
            on_start: &mut || {},
        },
    )?;
    monitor::reap(child);
    match outcome.failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(outcome.code()),
    }
}

fn become_process(
    steps: &[crate::syscall::Step],
    process: &Process,
    t: &Tracer,
) -> Result<Infallible, ExecFailure> {
    t.run_all(steps).map_err(|e| ExecFailure {
        status: EXIT_RD_ERROR,
        message: e.to_string(),
    })?;
    process.start(t)
}

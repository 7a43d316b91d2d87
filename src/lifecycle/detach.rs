//! `rd run -d`: the monitor leaves the terminal, the front returns at once.
//!
//! The rd you started (the front) forks the monitor and waits on a pipe.
//! The monitor starts a session of its own (setsid(2): no controlling
//! terminal, so no SIGHUP when yours closes, and no way back to it), points
//! its stdio at /dev/null and, once the container's directory exists, at
//! the container's log; then it creates the container as a foreground rd
//! would. When the command has been exec'd it writes the id on the pipe:
//! the front prints it and exits 0. A failure before that (a duplicate
//! name, a missing command) comes back on the pipe as one line and the
//! status rd run would have exited with.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::unistd::ForkResult;

use crate::error::{exit_status, ExitError};

/// The monitor's end of the pipe to the front.
pub struct Ready {
    pipe: Option<File>,
}

impl Ready {
    /// The command runs: the front prints `id` and returns.
    pub fn started(&mut self, id: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(format!("ok\t{id}").as_bytes());
        }
    }

    /// The container did not start: the front reports why.
    fn failed(&mut self, err: &anyhow::Error) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(format!("err\t{}\t{err:#}", exit_status(err)).as_bytes());
        }
    }

    /// Whether the front still waits (the container has not started yet).
    pub fn waiting(&self) -> bool {
        self.pipe.is_some()
    }
}

/// Points stdout and stderr at `file` (the container's log): the init
/// inherits them, so what the container writes lands there directly.
pub fn log_to(file: &File) -> Result<()> {
    for fd in [1, 2] {
        // SAFETY: dup2 onto stdout/stderr, which rd owns.
        nix::errno::Errno::result(unsafe { libc::dup2(file.as_raw_fd(), fd) })
            .context("dup2 of the container's log onto stdout/stderr")?;
    }
    Ok(())
}

/// Forks the monitor, which calls `monitor`; returns in the front with 0
/// once the container runs (its id printed), or with the failure.
pub fn detach(monitor: impl FnOnce(&mut Ready) -> Result<i32>) -> Result<i32> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    // SAFETY: rd is single-threaded here (a pull's threads end with its
    // client), so the child's copy has no lock held by a missing thread.
    match unsafe { nix::unistd::fork() }.context("fork of the container's monitor")? {
        ForkResult::Child => {
            drop(read_end);
            let mut ready = Ready {
                pipe: Some(File::from(write_end)),
            };
            let code = match leave_terminal(&ready).and_then(|()| monitor(&mut ready)) {
                Ok(code) => code,
                Err(e) => {
                    let code = exit_status(&e);
                    if ready.waiting() {
                        ready.failed(&e);
                    } else {
                        eprintln!("rd: {e:#}"); // into the container's log
                    }
                    code
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { .. } => {
            drop(write_end);
            front(read_end)
        }
    }
}

/// The monitor's first steps: a session of its own, stdio on /dev/null,
/// no descriptor of the caller's, `/` as its working directory (so it
/// keeps no directory of yours busy).
fn leave_terminal(ready: &Ready) -> Result<()> {
    nix::unistd::setsid().context("setsid")?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    for fd in [0, 1, 2] {
        // SAFETY: dup2 onto the standard descriptors.
        nix::errno::Errno::result(unsafe { libc::dup2(null.as_raw_fd(), fd) })
            .context("dup2 of /dev/null")?;
    }
    drop(null);
    let keep: Vec<i32> = ready.pipe.iter().map(|p| p.as_raw_fd()).collect();
    crate::security::fds::close_from(3, &keep).context("close_range")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

/// The front: waits for the monitor's word.
fn front(pipe: OwnedFd) -> Result<i32> {
    let mut text = String::new();
    File::from(pipe)
        .read_to_string(&mut text)
        .context("reading from the container's monitor")?;
    let mut parts = text.splitn(3, '\t');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ok"), Some(id), None) => {
            println!("{id}");
            Ok(0)
        }
        (Some("err"), Some(code), Some(message)) => {
            Err(ExitError::new(code.parse().unwrap_or(125), message.to_string()).into())
        }
        _ => Err(ExitError::new(
            125,
            "the container's monitor ended before the container started (rd cleanup removes what it left)",
        )
        .into()),
    }
}

//! Namespaces: the container's private views of the system. See
//! namespaces(7), clone(2).
//!
//! rd creates all of them at once with clone(2), so the child is born inside:
//! CLONE_NEWPID in particular only applies to *children* created after it
//! (unshare(CLONE_NEWPID) leaves the caller where it was), so the container's
//! first process must be created by clone, and it is PID 1 of its namespace.

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::trace::Tracer;

/// One namespace per isolated resource: processes, mounts, hostname, System V
/// IPC, network. (No user namespace: rd runs containers as real root, like
/// docker's default; no cgroup namespace yet.)
pub fn container_namespaces() -> CloneFlags {
    CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
}

/// The child's stack. clone(2) without CLONE_VM gives the child a copy of our
/// memory, so this buffer is the child's own copy; pages are only really
/// allocated when touched.
const STACK_SIZE: usize = 8 << 20;

/// clone(2)s `child` into new namespaces; returns its pid (as the host sees it).
pub fn spawn_in_new_namespaces(child: impl FnMut() -> isize, tracer: &Tracer) -> Result<Pid> {
    let mut stack = vec![0u8; STACK_SIZE];
    let flags = container_namespaces();
    let t0 = std::time::Instant::now();
    // SAFETY: rd is single-threaded here, so the child's copy of the address
    // space has no lock held by a thread that does not exist in it.
    let pid = unsafe { nix::sched::clone(Box::new(child), &mut stack, flags, Some(Signal::SIGCHLD as i32)) };
    let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    let ret = match &pid {
        Ok(p) => p.to_string(),
        Err(e) => format!("-1 {e}"),
    };
    tracer.note(
        format!("clone(child, stack, {}|SIGCHLD)", names.join("|")),
        &ret,
        t0.elapsed().as_secs_f64() * 1000.0,
        "the child is born in new PID, mount, UTS, IPC and network namespaces: it is PID 1 there",
    );
    pid.context("clone(2) into new namespaces (needs CAP_SYS_ADMIN; is this kernel built with namespaces?)")
}

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

/// One namespace per isolated resource: processes, mounts, hostname, System V
/// IPC, and the network unless it is the host's or another container's
/// (`--network`). (No user namespace: rd runs containers as real root,
/// like docker's default; the cgroup namespace comes after joining the
/// cgroup, by unshare(2).)
pub fn container_namespaces(new_network: bool) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if new_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// The child's stack. clone(2) without CLONE_VM gives the child a copy of our
/// memory, so this buffer is the child's own copy; pages are only really
/// allocated when touched.
const STACK_SIZE: usize = 8 << 20;

/// How the clone call reads in the trace, flags as clone(2) names them.
pub fn describe_clone(flags: CloneFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    format!("clone(child, stack, {}|SIGCHLD)", names.join("|"))
}

/// clone(2)s `child` into new namespaces; returns its pid (as the host sees
/// it). The child narrates the call itself, as its first line, so the trace
/// reads in order although parent and child now run at the same time.
pub fn spawn_in_new_namespaces(flags: CloneFlags, child: impl FnMut() -> isize) -> Result<Pid> {
    let mut stack = vec![0u8; STACK_SIZE];
    // SAFETY: rd is single-threaded here, so the child's copy of the address
    // space has no lock held by a thread that does not exist in it.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(child),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    };
    pid.context(
        "clone(2) into new namespaces (needs CAP_SYS_ADMIN; is this kernel built with namespaces?)",
    )
}

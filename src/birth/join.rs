//! Joining a running container (`rd exec`): setns(2) into each of its
//! namespaces, through a pidfd of its init.
//!
//! A container is nothing but processes sharing namespaces and a cgroup;
//! a process "enters" it by joining them, one namespace type at a time.
//! The order is forced by the kernel:
//!
//! * **PID first, in the parent, then fork.** setns(CLONE_NEWPID) never
//!   moves the caller: a process's pid is fixed for life. It sets the
//!   namespace the caller's *next children* are born in (pid_namespaces(7)),
//!   so rd joins it, then forks: the child has a pid in the container.
//! * **The cgroup before the cgroup namespace.** Joining writes to the
//!   cgroup's files on the host's cgroupfs; from inside the container's
//!   cgroup namespace (and mount namespace) those paths are out of reach.
//! * **The mount namespace last.** After it, paths are the container's:
//!   the kernel sets the root and the working directory to that
//!   namespace's root, which after pivot_root is the container's rootfs.
//! * **Never dumpable until execve.** The joining process carries rd's
//!   memory into a place the container controls: a process in it that
//!   could ptrace it or read /proc/PID/mem (root with CAP_SYS_PTRACE, or a
//!   process of the same uid) could steer it while it still holds rd's
//!   privileges and descriptors (runc's CVE-2016-9962). PR_SET_DUMPABLE 0
//!   forbids both; execve(2) resets it for the command.

use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use crate::syscall::{Step, Syscall};

/// Before anything else: rd exec itself is not dumpable (its child,
/// forked after, inherits that).
pub fn not_dumpable() -> Step {
    Step::new(
        Syscall::NotDumpable,
        "nothing in the container may ptrace this process or read its memory before execve (CVE-2016-9962)",
    )
}

/// In the parent: the PID namespace, for the child about to be forked.
pub fn pid_namespace(pidfd: i32) -> Step {
    Step::new(
        Syscall::Setns {
            pidfd,
            nstype: CloneFlags::CLONE_NEWPID,
        },
        "a pid is for life: this only decides where my next child is born, so rd forks after it",
    )
}

/// In the child: the cgroup, then the other namespaces, mount last.
pub fn child_steps(pidfd: i32, cgroup_join: &[PathBuf], keep: Vec<i32>) -> Vec<Step> {
    let mut steps = vec![
        Step::new(
            Syscall::CloseFrom { first: 3, keep },
            "none of the caller's descriptors crosses into the container",
        ),
        Step::new(
            Syscall::ParentDeathSignal {
                signal: Signal::SIGKILL,
            },
            "if rd exec dies, this process dies too: nothing runs on unsupervised",
        ),
    ];
    steps.extend(crate::birth::cgroups::join_steps(cgroup_join));
    let namespaces = [
        (
            CloneFlags::CLONE_NEWCGROUP,
            "the container's cgroup namespace: /proc/self/cgroup says / as for its init",
        ),
        (
            CloneFlags::CLONE_NEWIPC,
            "its System V IPC and POSIX message queues",
        ),
        (CloneFlags::CLONE_NEWUTS, "its hostname"),
        (CloneFlags::CLONE_NEWNET, "its network: its lo, its ports"),
        (
            CloneFlags::CLONE_NEWNS,
            "its mounts, last: root and working directory become the container's root",
        ),
    ];
    for (nstype, why) in namespaces {
        steps.push(Step::new(Syscall::Setns { pidfd, nstype }, why));
    }
    steps.extend([
        Step::new(
            Syscall::UnblockAllSignals,
            "rd blocked signals to handle them itself; the command starts with none blocked",
        ),
        Step::new(
            Syscall::DefaultSignalActions,
            "an ignored signal stays ignored across execve(2)",
        ),
        Step::new(
            Syscall::Setsid,
            "a session of its own: the caller's terminal is not its controlling terminal (no TIOCSTI into it)",
        ),
    ]);
    steps
}

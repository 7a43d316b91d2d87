//! Workshop level 02: the mount namespace.
//!
//! Run it:   sudo cargo run -p level02 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 02
//!
//! Mount proc, sys and /dev for the container without touching the host's mount table.
//! Read ../README.md first; the `TODO(02)` comments below say where.

#[allow(unused_imports)]
use std::ffi::CString;
#[allow(unused_imports)]
use std::path::Path;

#[allow(unused_imports)]
use support::anyhow::{bail, Context, Result};
#[allow(unused_imports)]
use support::nix;
#[allow(unused_imports)]
use support::{Args, Container};

fn main() {
    match support::parse() {
        support::Command::Run(args) => support::exit(run(&args)),
        support::Command::Exec(_) => {
            support::todo("12", "exec: a new process in a running container")
        }
    }
}

/// The parent: prepare, create the child, wait for it, clean up.
#[allow(unused_variables)]
fn run(args: &Args) -> Result<i32> {
    let container = Container::create(args)?;

    // A private copy of the image for this container (level 04 does better).
    let rootfs = support::fresh_rootfs(args, &container)?;

    // SAFETY: this program is single-threaded, so the child's copy of our
    // memory holds no lock that another thread was holding.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            // If this program dies, the kernel kills the container too
            // (prctl(2), PR_SET_PDEATHSIG): nothing runs on unsupervised.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            let err: support::anyhow::Error = contain(args, &container, &rootfs)
                .err()
                .unwrap_or_else(|| support::anyhow::anyhow!("exec returned"));
            eprintln!("error in the container: {err:#}");
            // docker's convention: 127 when the command could not be run,
            // 125 when the container failed before that.
            let exec_failed = err.downcast_ref::<support::ExecFailed>().is_some();
            std::process::exit(if exec_failed { 127 } else { 125 });
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).context("waitpid")?;
            let code = support::status_code(status);
            eprintln!("container {} exited with status {code}", container.id);
            Ok(code)
        }
    }
}

/// The child: become the container, then exec the command. Returns only on
/// failure.
#[allow(unused_variables)]
fn contain(args: &Args, container: &Container, rootfs: &Path) -> Result<()> {
    // TODO(02): a mount namespace of our own, so our mounts are ours alone:
    //  1. nix::sched::unshare(CloneFlags::CLONE_NEWNS);
    //  2. mount(None, "/", None, MS_REC | MS_PRIVATE, None): why is a new
    //     mount namespace not enough on its own (man 7 mount_namespaces,
    //     "shared subtrees")? And why MS_REC?
    //  3. mount proc on <rootfs>/proc ("proc", flags MS_NOSUID|MS_NOEXEC|MS_NODEV)
    //     and sysfs on <rootfs>/sys (read-only), then support::mount_dev(rootfs)
    //     for a tmpfs /dev with the usual device nodes.
    // Do it before chroot: after it, <rootfs> is "/".
    // The image's files become our "/". (Is a chroot a jail? See level 03.)
    nix::unistd::chroot(rootfs).context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")?;
    let argv: Vec<CString> = args
        .command
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<_, _>>()
        .context("an argument holds a NUL byte")?;
    let err = nix::unistd::execvp(&argv[0], &argv).err();
    Err(support::ExecFailed(format!(
        "execvp({}): {}",
        args.command[0],
        err.map(|e| e.desc()).unwrap_or("returned")
    ))
    .into())
}

//! Workshop level 03: pivot_root.
//!
//! Run it:   sudo cargo run -p level03 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 03
//!
//! Leave the host's root behind: a chroot can be escaped; after pivot_root the host's tree is detached.
//! Read ../README.md first; the `TODO(03)` comments below say where.

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
    // Our own mount table, copied from the host's; then cut the propagation
    // between the two (on systemd hosts "/" is shared: without this, our
    // mounts would appear on the host).
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making / private")?;
    let mount = |source: &str, target: &str, fstype: &str, flags: nix::mount::MsFlags| {
        nix::mount::mount(
            Some(source),
            &rootfs.join(target),
            Some(fstype),
            flags,
            None::<&str>,
        )
        .with_context(|| format!("mounting {fstype} on {target}"))
    };
    use nix::mount::MsFlags as F;
    mount(
        "proc",
        "proc",
        "proc",
        F::MS_NOSUID | F::MS_NOEXEC | F::MS_NODEV,
    )?;
    mount(
        "sysfs",
        "sys",
        "sysfs",
        F::MS_RDONLY | F::MS_NOSUID | F::MS_NOEXEC | F::MS_NODEV,
    )?;
    support::mount_dev(rootfs)?;
    // TODO(03): replace chroot with pivot_root, so nothing of the host stays
    // reachable. Before and after, try:
    //   sudo cargo run -p level03 -- run -i breakout -- /bin/breakout /etc/hostname
    //  1. pivot_root(2) needs new_root to be a mount point on another mount
    //     than "/": ours is a plain directory on the host's root mount, hence
    //     EBUSY (elsewhere it would be EINVAL). Make it a mount of its own:
    //     bind-mount it onto itself,
    //     mount(rootfs, rootfs, None, MS_BIND | MS_REC, None)
    //     (level 04's overlay mount will make this step unnecessary);
    //  2. mkdir <rootfs>/.old_root, pivot_root(rootfs, <rootfs>/.old_root);
    //  3. chdir("/"), umount2("/.old_root", MNT_DETACH), rmdir("/.old_root").
    // Why MNT_DETACH? What would a plain umount say, and why?
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

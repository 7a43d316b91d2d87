//! Workshop level 05: the UTS namespace.
//!
//! Run it:   sudo cargo run -p level05 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 05
//!
//! A hostname of the container's own.
//! Read ../README.md first; the `TODO(05)` comments below say where.

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

    // The image's layers are unpacked once and shared read-only by every
    // container; this container's writes go to its own upper directory.
    let layers = support::image_layers(args)?;
    let upper = container.dir.join("upper");
    let work = container.dir.join("work");
    let rootfs = container.dir.join("rootfs");
    for dir in [&upper, &work, &rootfs] {
        std::fs::create_dir(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    }
    let lowerdir: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| l.display().to_string())
        .collect();
    let overlay_options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );

    // SAFETY: this program is single-threaded, so the child's copy of our
    // memory holds no lock that another thread was holding.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            // If this program dies, the kernel kills the container too
            // (prctl(2), PR_SET_PDEATHSIG): nothing runs on unsupervised.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            let err: support::anyhow::Error = contain(args, &container, &rootfs, &overlay_options)
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
fn contain(args: &Args, container: &Container, rootfs: &Path, overlay_options: &str) -> Result<()> {
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
    // TODO(05): a hostname of our own: unshare(CLONE_NEWUTS), then
    // sethostname(--hostname, or the container id). Check the host's
    // hostname afterwards: why did it not change?
    nix::mount::mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        nix::mount::MsFlags::MS_NODEV,
        Some(overlay_options),
    )
    .context("mounting the overlay")?;
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
    // Swap roots: the image becomes "/", the host's root moves under it,
    // and then we cut it loose entirely.
    let old_root = rootfs.join(".old_root");
    std::fs::create_dir_all(&old_root).context("mkdir .old_root")?;
    nix::unistd::pivot_root(rootfs, &old_root).context("pivot_root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    nix::mount::umount2("/.old_root", nix::mount::MntFlags::MNT_DETACH)
        .context("umount2 /.old_root")?;
    std::fs::remove_dir("/.old_root").context("rmdir /.old_root")?;
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

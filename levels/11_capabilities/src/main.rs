//! Workshop level 11: capabilities and seccomp (bonus).
//!
//! Run it:   sudo cargo run -p level11 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 11
//!
//! Root inside keeps only the capabilities a container needs, and a seccomp filter stops a user namespace from giving the rest back.
//! Read ../README.md first; the `TODO(11)` comments below say where.

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

    // A new PID namespace for our *next child* (the caller stays where it
    // is; see pid_namespaces(7)): the forked child will be its PID 1.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID)")?;

    // A cgroup "rd-<id>": a directory in the cgroup filesystem; its limits are
    // files in it. v1 has one tree per controller, v2 a single tree.
    let cgroup_v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let name = format!("rd-{}", container.id);
    let cgroup_dir = |controller: &str| {
        if cgroup_v2 {
            Path::new("/sys/fs/cgroup").join(&name)
        } else {
            Path::new("/sys/fs/cgroup").join(controller).join(&name)
        }
    };
    // A limit is a file in the cgroup. On v2 a controller's files exist only
    // when the parent cgroup enables the controller for its children (the
    // child's cgroup.controllers lists those it got).
    let write_limit = |dir: &Path, controller: &str, file: &str, value: u64| -> Result<()> {
        let path = dir.join(file);
        if cgroup_v2 && !path.exists() {
            let got = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if !got.split_whitespace().any(|c| c == controller) {
                bail!(
                    "{} has no {file}: enable the {controller} controller for the cgroups below \
                     /sys/fs/cgroup: echo +{controller} > /sys/fs/cgroup/cgroup.subtree_control",
                    dir.display()
                );
            }
            bail!(
                "{} has no {file}: this kernel does not offer it",
                dir.display()
            );
        }
        std::fs::write(&path, value.to_string()).with_context(|| format!("writing {file}"))
    };
    // The child joins each directory; dropping `cgroups` (after waitpid, or
    // on an error before) removes each.
    let mut cgroups = Cgroups(Vec::new());
    cgroups
        .add(cgroup_dir("cpu"))
        .context("creating the cpu cgroup")?;
    if let Some(shares) = args.cpu_shares {
        let (file, value) = if cgroup_v2 {
            ("cpu.weight", 1 + (shares - 2) * 9999 / 262_142)
        } else {
            ("cpu.shares", shares)
        };
        write_limit(&cgroups.0[0], "cpu", file, value)?;
    }
    if !cgroup_v2 {
        // v1: a second tree
        cgroups
            .add(cgroup_dir("memory"))
            .context("creating the memory cgroup")?;
    }
    let memory_dir = cgroups.0.last().cloned().unwrap_or_default();
    if let Some(limit) = args.memory {
        let file = if cgroup_v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        write_limit(&memory_dir, "memory", file, limit)?;
        // docker's rule: no --memory-swap means as much swap as memory.
        let total = args.memory_swap.unwrap_or(limit.saturating_mul(2));
        let (file, value) = if cgroup_v2 {
            ("memory.swap.max", total.saturating_sub(limit)) // v2: swap alone
        } else {
            ("memory.memsw.limit_in_bytes", total) // v1: memory + swap
        };
        // (A kernel without swap accounting has no such file.)
        if args.memory_swap.is_some() || memory_dir.join(file).exists() {
            write_limit(&memory_dir, "memory", file, value)?;
        }
    }

    // SAFETY: this program is single-threaded, so the child's copy of our
    // memory holds no lock that another thread was holding.
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            // If this program dies, the kernel kills the container too
            // (prctl(2), PR_SET_PDEATHSIG): nothing runs on unsupervised.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            // Join the cgroup(s) first: whatever we do from here on is
            // accounted and limited. (In our PID namespace we are pid 1; the
            // kernel reads a pid in the writer's namespace, so "1" names us.)
            for dir in &cgroups.0 {
                let joined =
                    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string());
                if let Err(e) = joined {
                    eprintln!("error in the container: joining {}: {e}", dir.display());
                    std::process::exit(125);
                }
            }
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
            drop(cgroups); // rmdir each: empty now, its last process is gone
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
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).context("unshare(CLONE_NEWUTS)")?;
    nix::unistd::sethostname(args.hostname.as_deref().unwrap_or(&container.id))
        .context("sethostname")?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    support::loopback_up()?;
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
    // TODO(11): root inside still holds every capability: it can mount,
    // make and read device nodes, write the host's sysctls. Cut its powers
    // HERE, before the user switch (dropping from the bounding set needs
    // CAP_SETPCAP, which a --user process no longer has):
    //  1. A seccomp filter (the libseccomp crate, support::libseccomp) that
    //     allows everything but unshare(2) and clone(2) with CLONE_NEWUSER in
    //     their flags (EPERM), and clone3 (ENOSYS): ScmpFilterContext::new(Allow),
    //     add_rule_conditional with ScmpArgCompare::new(0,
    //     ScmpCompareOp::MaskedEqual(CLONE_NEWUSER), CLONE_NEWUSER), load().
    //     Why must a container not make a user namespace, when it can no
    //     longer mount? Why ENOSYS for clone3, and not EPERM?
    //  2. The bounding set: drop every capability not in support::KEEP_CAPS
    //     (support::supported_caps() lists the kernel's):
    //       for cap in support::supported_caps() {
    //           if !support::KEEP_CAPS.contains(&cap) {
    //               support::caps::drop(None, support::caps::CapSet::Bounding, cap)?;
    //           }
    //       }
    //  3. Effective, inheritable, then permitted: exactly KEEP_CAPS
    //     (support::caps::set(None, CapSet::Effective, &keep), and so on).
    // Why is step 2 needed when step 3 already leaves root without them?
    if let Some(spec) = &args.user {
        use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
        let id = support::lookup_user(spec)?;
        let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).context("setgroups")?;
        setgid(Gid::from_raw(id.gid)).context("setgid")?;
        setuid(Uid::from_raw(id.uid)).context("setuid")?; // last: no way back
                                                          // Changing credentials cleared PR_SET_PDEATHSIG (prctl(2)): again.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).context("prctl")?;
    }
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

/// The container's cgroup directories, in the order made. The child joins
/// each; dropping this removes each, last made first (rmdir(2) works on an
/// empty cgroup only: after waitpid, the container's last process is gone).
/// A Drop, so that an error between the mkdir and the fork cleans up too.
struct Cgroups(Vec<std::path::PathBuf>);

impl Cgroups {
    fn add(&mut self, dir: std::path::PathBuf) -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        self.0.push(dir);
        Ok(())
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

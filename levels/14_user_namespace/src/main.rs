//! Workshop level 14: user namespaces (bonus).
//!
//! Run it:   sudo cargo run -p level14 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 14
//!
//! Root inside, nobody outside: uid and gid maps, and what a mount can and cannot do then.
//! Read ../README.md first; the `TODO(14)` comments below say where.

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
        support::Command::Exec(args) => support::exit(enter(&args)),
    }
}

/// The parent: prepare, create the child, wait for it, clean up.
#[allow(unused_variables)]
fn run(args: &Args) -> Result<i32> {
    // TODO(14): --userns: the container in a user namespace, its root an
    // unprivileged uid (ROOT_OUTSIDE) on the host. Five steps, each marked
    // TODO(14) below; when they are done, delete this line:
    if args.userns {
        support::todo("14", "--userns: a user namespace");
    }
    // Step 0: --ip cannot work with --userns in this design: refuse the
    // pair in one line (bail!) before anything is made. (Why? README.)
    let container = Container::create(args)?;

    // The image's layers are unpacked once and shared read-only by every
    // container; this container's writes go to its own upper directory.
    let layers = support::image_layers(args)?;
    // TODO(14) step 2: root inside is ROOT_OUTSIDE outside, and the image's
    // files belong to the host's root (uid 0), which is nobody inside: it
    // could not write a file of its own image. With --userns, take
    //   support::image_layers_shifted(args, ROOT_OUTSIDE)
    // instead (the same layers, every owner moved up by ROOT_OUTSIDE), and
    // after the mkdirs below, chown upper and work to ROOT_OUTSIDE:ROOT_OUTSIDE
    // (std::os::unix::fs::chown): the overlay is mounted by root inside.
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
    // TODO(14) step 1: with --userns, the child must be born in a user
    // namespace AND a PID namespace owned by it: skip the unshare above,
    // and fork with clone(2) instead (see TODO(14) above the fork).

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

    // TODO(14) step 1 (continued): with --userns, instead of fork():
    //   clone(CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD) with no stack of its own,
    // which is fork() with namespaces (write fork_into_userns(), see
    // TODO(14) at the end of this file). One clone, both flags: the user
    // namespace is made first and owns the PID namespace. Why does that
    // matter to the child's mount of /proc?
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
            // TODO(14) step 2: with --userns, write the child's maps, as root
            // outside (std::fs::write), one line each:
            //   /proc/<child>/uid_map  "0 100000 65536"   (inside, outside, count)
            //   /proc/<child>/gid_map  the same
            // then write a byte to the pipe the child waits on (step 3) and
            // close it. If a write fails, still close the pipe and waitpid
            // before returning the error. Why can't the child write its own?
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
    // TODO(14) step 3: pass the pipe's read end to contain() as a new
    // parameter (Option<OwnedFd>), and HERE, first, with it: wait for the
    // parent's byte (nix::unistd::read; none means the maps failed: bail!).
    // We are in the user namespace with every capability in it, but as the
    // host's root, whom it does not map. Become its root: setgroups(&[])
    // (we still hold the host's supplementary groups: which?), then
    // setresgid(0, 0, 0), setresuid(0, 0, 0) (nix::unistd), and set
    // PR_SET_PDEATHSIG again (as in TODO(10)). Every namespace made from
    // here on (mount, UTS, network) is owned by the user namespace: why does
    // that matter for mount(2)?
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
    // A netlink socket talks to the namespace it was opened in, for good:
    // opened before the unshare, this one stays the host's (for --ip).
    let host_netlink = if args.ip.is_some() {
        Some(support::netlink()?)
    } else {
        None
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    support::loopback_up()?;
    if let (Some(ip), Some(mut host)) = (args.ip, host_netlink) {
        use std::os::fd::AsRawFd;
        let id = &container.id[..8];
        let (host_end, our_end) = (format!("rdh-{id}"), format!("rdc-{id}"));
        let gateway = std::net::Ipv4Addr::from(u32::from(ip) & 0xffff_ff00 | 1);
        // Made through the host's socket, so in the host's namespace; its
        // peer is born in ours (a namespace is named by an open file).
        let ours = std::fs::File::open("/proc/self/ns/net").context("opening /proc/self/ns/net")?;
        host.add_veth(&host_end, &our_end, ours.as_raw_fd())
            .context("creating the veth pair")?;
        let link = host.index(&host_end).context("finding the host's end")?;
        host.add_address(link, gateway, 24)
            .context("addressing the host's end")?;
        host.set_up(link, None)
            .context("bringing the host's end up")?;
        // Our end: only a socket in our namespace sees it.
        let mut inside = support::netlink()?;
        let link = inside.index(&our_end).context("finding our end")?;
        inside
            .add_address(link, ip, 24)
            .context("addressing our end")?;
        inside.set_up(link, None).context("bringing our end up")?;
        inside
            .add_default_route(gateway)
            .context("the default route")?;
    }
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
    // TODO(14) step 4: in a user namespace mknod(2) is refused, whatever
    // the capabilities. With --userns, support::bind_dev(rootfs) instead
    // of mount_dev: it bind-mounts the host's device nodes.
    // Swap roots: the image becomes "/", the host's root moves under it,
    // and then we cut it loose entirely.
    let old_root = rootfs.join(".old_root");
    std::fs::create_dir_all(&old_root).context("mkdir .old_root")?;
    nix::unistd::pivot_root(rootfs, &old_root).context("pivot_root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    nix::mount::umount2("/.old_root", nix::mount::MntFlags::MNT_DETACH)
        .context("umount2 /.old_root")?;
    std::fs::remove_dir("/.old_root").context("rmdir /.old_root")?;
    // Root's powers cut down before exec. 1. The filter. It refuses a new
    // user namespace: inside one, a process holds every capability again
    // (for that namespace), and much of the kernel (mount, netfilter, bpf)
    // opens up to it. (Loading a filter needs CAP_SYS_ADMIN or
    // no_new_privs; libseccomp sets no_new_privs itself, its CTL_NNP
    // attribute, so no setuid binary gains anything from here on either.)
    {
        use support::libseccomp::{
            ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
        };
        let newuser = nix::libc::CLONE_NEWUSER as u64;
        let refuse = ScmpAction::Errno(nix::libc::EPERM);
        let mut filter = ScmpFilterContext::new(ScmpAction::Allow).context("seccomp_init")?;
        let with_newuser = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(newuser), newuser);
        for name in ["unshare", "clone"] {
            let call = ScmpSyscall::from_name(name).context("seccomp: a syscall name")?;
            filter
                .add_rule_conditional(refuse, call, &[with_newuser])
                .context("seccomp_rule_add")?;
        }
        // clone3 passes its flags in memory, where a filter cannot look:
        // ENOSYS ("no such call") makes glibc fall back to clone.
        let clone3 = ScmpSyscall::from_name("clone3").context("seccomp: a syscall name")?;
        filter
            .add_rule(ScmpAction::Errno(nix::libc::ENOSYS), clone3)
            .context("seccomp_rule_add")?;
        filter.load().context("loading the seccomp filter")?;
    }
    // 2. The bounding set: the most any later execve can grant, a setuid
    // binary's included. 3. What root holds now, effective first (it must
    // stay within permitted), permitted last.
    use support::caps::{self, CapSet};
    let keep: caps::CapsHashSet = support::KEEP_CAPS.iter().copied().collect();
    for cap in support::supported_caps() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    for set in [CapSet::Effective, CapSet::Inheritable, CapSet::Permitted] {
        caps::set(None, set, &keep).with_context(|| format!("capset ({set:?})"))?;
    }
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

/// `exec PID -- COMMAND`: a new process in a running container. setns(2)
/// joins the container's namespaces one by one; the PID namespace, as
/// unshare's did in level 06, applies to the children only: hence the fork.
fn enter(args: &support::ExecArgs) -> Result<i32> {
    use nix::sched::{setns, CloneFlags};
    // Every namespace file is opened before the first setns: once we are
    // in the container's mount namespace, /proc is the container's, where
    // the host's pid names another process, or none.
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut namespaces = Vec::new();
    for (name, flag) in kinds {
        let path = format!("/proc/{}/ns/{name}", args.pid);
        let file = std::fs::File::open(&path).with_context(|| {
            format!(
                "opening {path} (is {} a running container's process?)",
                args.pid
            )
        })?;
        namespaces.push((name, flag, file));
    }
    for (name, flag, file) in &namespaces {
        setns(file, *flag).with_context(|| format!("setns({name})"))?;
    }
    // Joining the mount namespace also set our root and working directory
    // to its root: the container's / (setns(2), CLONE_NEWNS).
    // SAFETY: single-threaded, as in run().
    match unsafe { nix::unistd::fork() }.context("fork")? {
        nix::unistd::ForkResult::Child => {
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            let argv: Vec<CString> = args
                .command
                .iter()
                .filter_map(|a| CString::new(a.as_str()).ok())
                .collect();
            let err = nix::unistd::execvp(&argv[0], &argv).err();
            eprintln!(
                "error in the container: execvp({}): {}",
                args.command[0],
                err.map(|e| e.desc()).unwrap_or("returned")
            );
            std::process::exit(127);
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).context("waitpid")?;
            Ok(support::status_code(status))
        }
    }
}

// TODO(14) step 1 (the function): fork(2) with namespaces.
//   /// Root inside is this uid and gid outside.
//   const ROOT_OUTSIDE: u32 = 100_000;
//   fn fork_into_userns() -> Result<nix::unistd::ForkResult>
// calls clone(2) the raw way, as fork does (stack 0: the child goes on, on
// a copy of ours; SIGCHLD: the parent's waitpid sees it end):
//   let flags = nix::libc::CLONE_NEWUSER | nix::libc::CLONE_NEWPID | nix::libc::CLONE_NEWIPC | nix::libc::SIGCHLD;
//   let pid = unsafe { nix::libc::syscall(nix::libc::SYS_clone, flags as nix::libc::c_ulong, 0, 0, 0, 0) };
// and returns what fork would: -1 is an error (std::io::Error::last_os_error()),
// 0 is ForkResult::Child, any other is Parent { child: Pid::from_raw(pid as i32) }.
// (CLONE_NEWIPC: /dev's mqueue may be mounted only by root in the user
// namespace owning the IPC namespace, and until now we shared the host's.)
// Why can't this process, the parent, unshare(CLONE_NEWUSER) itself?

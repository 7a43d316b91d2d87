// @header
//! Workshop level {NN}: {TITLE}.
//!
//! Run it:   sudo cargo run -p level{NN} -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- {NN}
//!
//! {GOAL}
//! Read ../README.md first; the `TODO({NN})` comments below say where.
// @end
// @solution
//! The workshop's reference solution: every level's TODO, done. Each level's
//! skeleton (levels/NN_*/src/main.rs) is this file with the levels from NN on
//! not yet written; levels/generate.py makes them.
//!
//! Run it:   sudo cargo run -p level-solution -- run -- /bin/sh -c 'echo hello; hostname; id'
// @end

// @template
// The lines marked `@level` are for levels/generate.py, which writes each
// level's skeleton from this one file (so level N+1 always holds level N's
// solution). Edit levels/template/main.rs, then run levels/generate.py.
// @end

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
// @level todo=12
        // TODO(12): `exec PID -- COMMAND`: write enter(&args) (see TODO(12)
        // at the end of this file) and call it here, as run() is above.
// @end
// @level unsolved=12
        support::Command::Exec(_) => support::todo("12", "exec: a new process in a running container"),
// @end
// @level solved=12
        support::Command::Exec(args) => support::exit(enter(&args)),
// @end
    }
}

/// The parent: prepare, create the child, wait for it, clean up.
#[allow(unused_variables)]
fn run(args: &Args) -> Result<i32> {
// @level todo=14
    // TODO(14): --userns: the container in a user namespace, its root an
    // unprivileged uid (ROOT_OUTSIDE) on the host. Five steps, each marked
    // TODO(14) below; when they are done, delete this line:
    if args.userns {
        support::todo("14", "--userns: a user namespace");
    }
    // Step 0: --ip cannot work with --userns in this design: refuse the
    // pair in one line (bail!) before anything is made. (Why? README.)
// @end
// @level solved=14
    // The cable's host end is made by the child (level 13), which is in the
    // user namespace by then: the host's network refuses it (README).
    if args.userns && args.ip.is_some() {
        bail!("--ip and --userns cannot be used together: in a user namespace the child has no say over the host's network");
    }
// @end
    let container = Container::create(args)?;

// @level solved=00 unsolved=01
    // The host's own root, for now.
    let rootfs = std::path::PathBuf::from("/");
// @end
// @level todo=01
    // TODO(01): give the container the image's files: replace the line above
    // with a private copy of the image, made for this container:
    //   let rootfs = support::fresh_rootfs(args, &container)?;
    // (then see TODO(01) in contain()).
// @end
// @level solved=01 unsolved=04
    // A private copy of the image for this container (level 04 does better).
    let rootfs = support::fresh_rootfs(args, &container)?;
// @end
// @level todo=04
    // TODO(04): stop copying the whole image for every container. Instead:
    //   let layers = support::image_layers(args)?;   // unpacked once, cached
    // make `upper`, `work` and `rootfs` directories in container.dir, and in
    // the child mount an overlay on rootfs (see the TODO(04) in contain()):
    //   lowerdir = the layers, top-most first, joined with ':' (image_layers
    //              gives them lowest first: reverse them)
    //   upperdir = upper (this container's writes), workdir = work
    // Why must workdir be on the same filesystem as upperdir?
// @end
// @level solved=04
    // The image's layers are unpacked once and shared read-only by every
    // container; this container's writes go to its own upper directory.
// @end
// @level solved=04 unsolved=14
    let layers = support::image_layers(args)?;
// @end
// @level todo=14
    // TODO(14) step 2: root inside is ROOT_OUTSIDE outside, and the image's
    // files belong to the host's root (uid 0), which is nobody inside: it
    // could not write a file of its own image. With --userns, take
    //   support::image_layers_shifted(args, ROOT_OUTSIDE)
    // instead (the same layers, every owner moved up by ROOT_OUTSIDE), and
    // after the mkdirs below, chown upper and work to ROOT_OUTSIDE:ROOT_OUTSIDE
    // (std::os::unix::fs::chown): the overlay is mounted by root inside.
// @end
// @level solved=14
    // Root inside is ROOT_OUTSIDE outside: the image's files must be its
    // own (uid 0 of the image becomes ROOT_OUTSIDE), and so must the upper
    // and work directories, which the overlay writes as the mounter.
    let layers = if args.userns {
        support::image_layers_shifted(args, ROOT_OUTSIDE)?
    } else {
        support::image_layers(args)?
    };
// @end
// @level solved=04
    let upper = container.dir.join("upper");
    let work = container.dir.join("work");
    let rootfs = container.dir.join("rootfs");
    for dir in [&upper, &work, &rootfs] {
        std::fs::create_dir(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    }
// @end
// @level solved=14
    if args.userns {
        for dir in [&upper, &work] {
            std::os::unix::fs::chown(dir, Some(ROOT_OUTSIDE), Some(ROOT_OUTSIDE))
                .with_context(|| format!("chown {}", dir.display()))?;
        }
    }
// @end
// @level solved=04
    let lowerdir: Vec<String> = layers.iter().rev().map(|l| l.display().to_string()).collect();
    let overlay_options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
// @end

// @level todo=06
    // TODO(06): give the container its own PID namespace, so that the
    // command is PID 1 and sees only its own processes:
    //   nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID)")?;
    // called HERE, in the parent, before fork(). Why does unshare(CLONE_NEWPID)
    // not move the caller itself into the new namespace (man 7 pid_namespaces)?
    // (/proc is already mounted by the child since level 02: once the child is
    // in the new namespace, that mount shows only the container's processes.)
// @end
// @level solved=06 unsolved=14
    // A new PID namespace for our *next child* (the caller stays where it
    // is; see pid_namespaces(7)): the forked child will be its PID 1.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID)")?;
// @end
// @level todo=14
    // TODO(14) step 1: with --userns, the child must be born in a user
    // namespace AND a PID namespace owned by it: skip the unshare above,
    // and fork with clone(2) instead (see TODO(14) above the fork).
// @end
// @level solved=14
    // A new PID namespace for our *next child* (the caller stays where it
    // is; see pid_namespaces(7)): the forked child will be its PID 1. With
    // --userns the clone below makes it, owned by the new user namespace.
    if !args.userns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID).context("unshare(CLONE_NEWPID)")?;
    }
    // The parent tells the child "your maps are written" through a pipe.
    let mapped = if args.userns {
        Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?)
    } else {
        None
    };
// @end

// @level todo=08
    // TODO(08): put the container in a cpu cgroup with --cpu-shares.
    //  1. Which cgroup layout does this host have? statfs("/sys/fs/cgroup"):
    //     CGROUP2_SUPER_MAGIC means v2 (unified); otherwise v1 (or hybrid:
    //     v1 controllers, plus a v2 tree at /sys/fs/cgroup/unified).
    //  2. mkdir the cgroup "rd-<container id>": v1 /sys/fs/cgroup/cpu/rd-<id>,
    //     v2 /sys/fs/cgroup/rd-<id>.
    //  3. If --cpu-shares was given: v1 writes it to cpu.shares; v2 has
    //     cpu.weight (1..10000) instead: weight = 1 + (shares - 2) * 9999 / 262142.
    //  4. The child joins the cgroup (see the second TODO(08), in the
    //     child's branch of the fork below).
    //  5. After the child ends, rmdir the cgroup (it must be empty: why?).
    //     On an error after the mkdir too: a failed start leaves nothing.
    //     (The solution puts the directories in a `Cgroups` whose Drop
    //     removes them, so every way out of run() cleans up.)
    // On v2, cpu.weight exists only if the parent cgroup delegates the cpu
    // controller: /sys/fs/cgroup/cgroup.subtree_control must list "cpu"
    // (systemd does so; cat it to see). When it is missing, say so in one
    // line: what to run (echo +cpu > /sys/fs/cgroup/cgroup.subtree_control).
// @end
// @level solved=08
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
            bail!("{} has no {file}: this kernel does not offer it", dir.display());
        }
        std::fs::write(&path, value.to_string()).with_context(|| format!("writing {file}"))
    };
    // The child joins each directory; dropping `cgroups` (after waitpid, or
    // on an error before) removes each.
    let mut cgroups = Cgroups(Vec::new());
    cgroups.add(cgroup_dir("cpu")).context("creating the cpu cgroup")?;
    if let Some(shares) = args.cpu_shares {
        let (file, value) = if cgroup_v2 {
            ("cpu.weight", 1 + (shares - 2) * 9999 / 262_142)
        } else {
            ("cpu.shares", shares)
        };
        write_limit(&cgroups.0[0], "cpu", file, value)?;
    }
// @end
// @level todo=09
    // TODO(09): a memory cgroup for --memory (and --memory-swap), like TODO(08):
    //   v1: /sys/fs/cgroup/memory/rd-<id>/memory.limit_in_bytes
    //       (and memory.memsw.limit_in_bytes: memory + swap, set after the limit)
    //   v2: /sys/fs/cgroup/rd-<id>/memory.max (and memory.swap.max: swap alone)
    // Add the directory to the cgroups the child joins and the parent removes:
    //   cgroups.add(cgroup_dir("memory")).context("creating the memory cgroup")?;
    // (v1 only: on v2 the one directory holds every controller's files), and
    // write the limits with write_limit, which says what to enable on v2.
    // What does the kernel do to a process that needs more than the limit?
// @end
// @level solved=09
    if !cgroup_v2 {
        // v1: a second tree
        cgroups.add(cgroup_dir("memory")).context("creating the memory cgroup")?;
    }
    let memory_dir = cgroups.0.last().cloned().unwrap_or_default();
    if let Some(limit) = args.memory {
        let file = if cgroup_v2 { "memory.max" } else { "memory.limit_in_bytes" };
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
// @end

// @level todo=00
    // TODO(00): run the command in a child process:
    //  1. fork(2) (nix::unistd::fork, unsafe: why?) into a parent and a child;
    //  2. the child: execvp(2) the command (nix::unistd::execvp with CStrings);
    //     if exec returns, it failed: print why and exit 127;
    //  3. the parent: waitpid(2) for the child, report its exit status
    //     (support::status_code) on stderr as
    //     "container <id> exited with status <N>", and return it.
    // The child must never return from run(): it would run the parent's
    // clean-up (Container's Drop) a second time. End it with
    // std::process::exit.
    // Then replace the todo below with your code. What happens to the child's
    // memory when it calls exec? And if the parent never calls waitpid?
    drop(container); // (todo() exits at once: clean up first)
    support::todo("00", "fork, exec and wait")
// @end
// @level todo=14
    // TODO(14) step 1 (continued): with --userns, instead of fork():
    //   clone(CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD) with no stack of its own,
    // which is fork() with namespaces (write fork_into_userns(), see
    // TODO(14) at the end of this file). One clone, both flags: the user
    // namespace is made first and owns the PID namespace. Why does that
    // matter to the child's mount of /proc?
// @end
// @level solved=00 unsolved=14
    // SAFETY: this program is single-threaded, so the child's copy of our
    // memory holds no lock that another thread was holding.
    match unsafe { nix::unistd::fork() }.context("fork")? {
// @end
// @level solved=14
    // SAFETY: this program is single-threaded, so the child's copy of our
    // memory holds no lock that another thread was holding.
    let forked = if args.userns { fork_into_userns() } else { unsafe { nix::unistd::fork() }.context("fork") };
    match forked? {
// @end
// @level solved=00
        nix::unistd::ForkResult::Child => {
            // If this program dies, the kernel kills the container too
            // (prctl(2), PR_SET_PDEATHSIG): nothing runs on unsupervised.
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
// @end
// @level todo=08
            // TODO(08): the child joins the cgroup before anything else: it
            // writes its pid (std::process::id()) to cgroup.procs in the
            // cgroup's directory. Inside the new PID namespace that pid is 1:
            // why does the kernel still find the right process?
// @end
// @level solved=08
            // Join the cgroup(s) first: whatever we do from here on is
            // accounted and limited. (In our PID namespace we are pid 1; the
            // kernel reads a pid in the writer's namespace, so "1" names us.)
            for dir in &cgroups.0 {
                let joined = std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string());
                if let Err(e) = joined {
                    eprintln!("error in the container: joining {}: {e}", dir.display());
                    std::process::exit(125);
                }
            }
// @end
// @level solved=00
            let err: support::anyhow::Error = contain(
                args,
                &container,
                &rootfs,
// @end
// @level solved=04
                &overlay_options,
// @end
// @level solved=14
                mapped.map(|(ours, _)| ours),
// @end
// @level solved=00
            )
            .err()
                .unwrap_or_else(|| support::anyhow::anyhow!("exec returned"));
            eprintln!("error in the container: {err:#}");
            // docker's convention: 127 when the command could not be run,
            // 125 when the container failed before that.
            let exec_failed = err.downcast_ref::<support::ExecFailed>().is_some();
            std::process::exit(if exec_failed { 127 } else { 125 });
        }
        nix::unistd::ForkResult::Parent { child } => {
// @end
// @level todo=14
            // TODO(14) step 2: with --userns, write the child's maps, as root
            // outside (std::fs::write), one line each:
            //   /proc/<child>/uid_map  "0 100000 65536"   (inside, outside, count)
            //   /proc/<child>/gid_map  the same
            // then write a byte to the pipe the child waits on (step 3) and
            // close it. If a write fails, still close the pipe and waitpid
            // before returning the error. Why can't the child write its own?
// @end
// @level solved=14
            // The child's maps: root inside is ROOT_OUTSIDE outside, and so
            // on for 65536 ids. Written by us, root in the parent user
            // namespace: a process inside may map only its own uid, one line
            // (user_namespaces(7)). Once each, one write each.
            let maps = mapped.map(|(_, tell)| {
                let written = ["uid_map", "gid_map"].iter().try_for_each(|file| {
                    std::fs::write(format!("/proc/{child}/{file}"), format!("0 {ROOT_OUTSIDE} 65536"))
                        .with_context(|| format!("writing /proc/{child}/{file}"))
                });
                if written.is_ok() {
                    let _ = nix::unistd::write(&tell, b"y"); // then `tell` closes
                }
                written
            });
// @end
// @level solved=00
            let status = nix::sys::wait::waitpid(child, None).context("waitpid")?;
            let code = support::status_code(status);
            eprintln!("container {} exited with status {code}", container.id);
// @end
// @level solved=14
            if let Some(written) = maps {
                written?;
            }
// @end
// @level solved=08
            drop(cgroups); // rmdir each: empty now, its last process is gone
// @end
// @level solved=00
            Ok(code)
        }
    }
// @end
}

// @level solved=00
/// The child: become the container, then exec the command. Returns only on
/// failure.
#[allow(unused_variables)]
fn contain(
    args: &Args,
    container: &Container,
    rootfs: &Path,
// @end
// @level solved=04
    overlay_options: &str,
// @end
// @level solved=14
    mapped: Option<std::os::fd::OwnedFd>,
// @end
// @level solved=00
) -> Result<()> {
// @end
// @level todo=14
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
// @end
// @level solved=14
    // Born in the user namespace with every capability in it, but as the
    // host's root, whom it does not map (we are "nobody" inside). Once the
    // parent has written the maps, become its root: uid and gid 0 inside,
    // ROOT_OUTSIDE outside. Drop the host's supplementary groups first (the
    // host's root group among them): the kernel would go on honouring them.
    // The namespaces made from here on are owned by the user namespace, so
    // root inside may mount, set the hostname and bring lo up in them.
    if let Some(mapped) = mapped {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let mut answer = [0u8; 1];
        let got = nix::unistd::read(&mapped, &mut answer).context("waiting for the maps")?;
        if got != 1 {
            bail!("the parent did not write our uid and gid maps");
        }
        setgroups(&[]).context("setgroups")?;
        let (gid, uid) = (Gid::from_raw(0), Uid::from_raw(0));
        setresgid(gid, gid, gid).context("setresgid")?;
        setresuid(uid, uid, uid).context("setresuid")?;
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).context("prctl")?;
    }
// @end
// @level todo=02
    // TODO(02): a mount namespace of our own, so our mounts are ours alone:
    //  1. nix::sched::unshare(CloneFlags::CLONE_NEWNS);
    //  2. mount(None, "/", None, MS_REC | MS_PRIVATE, None): why is a new
    //     mount namespace not enough on its own (man 7 mount_namespaces,
    //     "shared subtrees")? And why MS_REC?
    //  3. mount proc on <rootfs>/proc ("proc", flags MS_NOSUID|MS_NOEXEC|MS_NODEV)
    //     and sysfs on <rootfs>/sys (read-only), then support::mount_dev(rootfs)
    //     for a tmpfs /dev with the usual device nodes.
    // Do it before chroot: after it, <rootfs> is "/".
// @end
// @level solved=02
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
// @end
// @level todo=05
    // TODO(05): a hostname of our own: unshare(CLONE_NEWUTS), then
    // sethostname(--hostname, or the container id). Check the host's
    // hostname afterwards: why did it not change?
// @end
// @level solved=05
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).context("unshare(CLONE_NEWUTS)")?;
    nix::unistd::sethostname(args.hostname.as_deref().unwrap_or(&container.id)).context("sethostname")?;
// @end
// @level todo=13
    // TODO(13): a network cable to the host, when --ip is given. A netlink
    // socket talks to the network namespace it was opened in, for good: open
    // one HERE, before unshare(CLONE_NEWNET), and it stays the host's:
    //   let host_netlink = if args.ip.is_some() { Some(support::netlink()?) } else { None };
    // (then see the second TODO(13), after the unshare).
// @end
// @level solved=13
    // A netlink socket talks to the namespace it was opened in, for good:
    // opened before the unshare, this one stays the host's (for --ip).
    let host_netlink = if args.ip.is_some() { Some(support::netlink()?) } else { None };
// @end
// @level todo=07
    // TODO(07): a network namespace: unshare(CLONE_NEWNET), then
    // support::loopback_up(). What interfaces does a new network namespace
    // have, and in what state? (ip link, or ls /sys/class/net, inside.)
// @end
// @level solved=07
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    support::loopback_up()?;
// @end
// @level todo=13
    // TODO(13): plug the cable: a veth pair, one end here, one on the host.
    // With ip = --ip and gateway = ip's /24 with .1 (the host's end):
    //  1. through the host's socket, make the pair, its peer born in our new
    //     namespace (given as an open /proc/self/ns/net):
    //       host.add_veth("rdh-<first 8 of the id>", "rdc-<the same>", ours.as_raw_fd())
    //     then give the host's end the gateway address (/24) and set it up
    //     (host.index(name), add_address(link, gateway, 24), set_up(link, None));
    //  2. through a socket opened now (support::netlink(), in our namespace):
    //     our end gets ip/24, goes up, and the default route goes via gateway.
    // Why can't the host's socket give our end its address? What removes the
    // pair when the container ends?
// @end
// @level solved=13
    if let (Some(ip), Some(mut host)) = (args.ip, host_netlink) {
        use std::os::fd::AsRawFd;
        let id = &container.id[..8];
        let (host_end, our_end) = (format!("rdh-{id}"), format!("rdc-{id}"));
        let gateway = std::net::Ipv4Addr::from(u32::from(ip) & 0xffff_ff00 | 1);
        // Made through the host's socket, so in the host's namespace; its
        // peer is born in ours (a namespace is named by an open file).
        let ours = std::fs::File::open("/proc/self/ns/net").context("opening /proc/self/ns/net")?;
        host.add_veth(&host_end, &our_end, ours.as_raw_fd()).context("creating the veth pair")?;
        let link = host.index(&host_end).context("finding the host's end")?;
        host.add_address(link, gateway, 24).context("addressing the host's end")?;
        host.set_up(link, None).context("bringing the host's end up")?;
        // Our end: only a socket in our namespace sees it.
        let mut inside = support::netlink()?;
        let link = inside.index(&our_end).context("finding our end")?;
        inside.add_address(link, ip, 24).context("addressing our end")?;
        inside.set_up(link, None).context("bringing our end up")?;
        inside.add_default_route(gateway).context("the default route")?;
    }
// @end
// @level todo=04
    // TODO(04): mount the overlay on rootfs: mount("overlay", rootfs,
    // "overlay", MS_NODEV, <the options>) — pass the options string from
    // run() as a new parameter — HERE, before proc, sys and /dev are
    // mounted on it (mounted after, it would cover them), and drop the bind
    // mount below, which the overlay replaces (an overlay mount is a mount
    // point too).
// @end
// @level solved=04
    nix::mount::mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        nix::mount::MsFlags::MS_NODEV,
        Some(overlay_options),
    )
    .context("mounting the overlay")?;
// @end
// @level solved=02
    let mount = |source: &str, target: &str, fstype: &str, flags: nix::mount::MsFlags| {
        nix::mount::mount(Some(source), &rootfs.join(target), Some(fstype), flags, None::<&str>)
            .with_context(|| format!("mounting {fstype} on {target}"))
    };
    use nix::mount::MsFlags as F;
    mount("proc", "proc", "proc", F::MS_NOSUID | F::MS_NOEXEC | F::MS_NODEV)?;
    mount("sysfs", "sys", "sysfs", F::MS_RDONLY | F::MS_NOSUID | F::MS_NOEXEC | F::MS_NODEV)?;
// @end
// @level solved=02 unsolved=14
    support::mount_dev(rootfs)?;
// @end
// @level todo=14
    // TODO(14) step 4: in a user namespace mknod(2) is refused, whatever
    // the capabilities. With --userns, support::bind_dev(rootfs) instead
    // of mount_dev: it bind-mounts the host's device nodes.
// @end
// @level solved=14
    // mknod(2) is refused in a user namespace: bind the host's nodes in.
    if args.userns {
        support::bind_dev(rootfs)?;
    } else {
        support::mount_dev(rootfs)?;
    }
// @end
// @level todo=03
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
// @end
// @level solved=01 unsolved=03
    // The image's files become our "/". (Is a chroot a jail? See level 03.)
    nix::unistd::chroot(rootfs).context("chroot")?;
    nix::unistd::chdir("/").context("chdir /")?;
// @end
// @level solved=03 unsolved=04
    // pivot_root wants new_root to be a mount point: bind it onto itself.
    nix::mount::mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .context("bind-mounting the rootfs onto itself")?;
// @end
// @level solved=03
    // Swap roots: the image becomes "/", the host's root moves under it,
    // and then we cut it loose entirely.
    let old_root = rootfs.join(".old_root");
    std::fs::create_dir_all(&old_root).context("mkdir .old_root")?;
    nix::unistd::pivot_root(rootfs, &old_root).context("pivot_root")?;
    nix::unistd::chdir("/").context("chdir /")?;
    nix::mount::umount2("/.old_root", nix::mount::MntFlags::MNT_DETACH).context("umount2 /.old_root")?;
    std::fs::remove_dir("/.old_root").context("rmdir /.old_root")?;
// @end
// @level todo=01
    // TODO(01): make the image's files our "/": the parent copied them to
    // `rootfs` (see TODO(01) in run()). chroot(2) into it, then chdir
    // to "/" (nix::unistd::chroot, chdir). Why the chdir? Then try: is
    // /etc/os-release the host's or the image's? Can you see the host's /home?
// @end
// @level todo=11
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
// @end
// @level solved=11
    // Root's powers cut down before exec. 1. The filter. It refuses a new
    // user namespace: inside one, a process holds every capability again
    // (for that namespace), and much of the kernel (mount, netfilter, bpf)
    // opens up to it. (Loading a filter needs CAP_SYS_ADMIN or
    // no_new_privs; libseccomp sets no_new_privs itself, its CTL_NNP
    // attribute, so no setuid binary gains anything from here on either.)
    {
        use support::libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
        let newuser = nix::libc::CLONE_NEWUSER as u64;
        let refuse = ScmpAction::Errno(nix::libc::EPERM);
        let mut filter = ScmpFilterContext::new(ScmpAction::Allow).context("seccomp_init")?;
        let with_newuser = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(newuser), newuser);
        for name in ["unshare", "clone"] {
            let call = ScmpSyscall::from_name(name).context("seccomp: a syscall name")?;
            filter.add_rule_conditional(refuse, call, &[with_newuser]).context("seccomp_rule_add")?;
        }
        // clone3 passes its flags in memory, where a filter cannot look:
        // ENOSYS ("no such call") makes glibc fall back to clone.
        let clone3 = ScmpSyscall::from_name("clone3").context("seccomp: a syscall name")?;
        filter.add_rule(ScmpAction::Errno(nix::libc::ENOSYS), clone3).context("seccomp_rule_add")?;
        filter.load().context("loading the seccomp filter")?;
    }
    // 2. The bounding set: the most any later execve can grant, a setuid
    // binary's included. 3. What root holds now, effective first (it must
    // stay within permitted), permitted last.
    use support::caps::{self, CapSet};
    let keep: caps::CapsHashSet = support::KEEP_CAPS.iter().copied().collect();
    for cap in support::supported_caps() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    for set in [CapSet::Effective, CapSet::Inheritable, CapSet::Permitted] {
        caps::set(None, set, &keep).with_context(|| format!("capset ({set:?})"))?;
    }
// @end
// @level todo=10
    // TODO(10): run the command as --user, never as root:
    //   if let Some(spec) = &args.user {
    //       let id = support::lookup_user(spec)?; // the image's /etc/passwd and /etc/group
    //       let groups: Vec<nix::unistd::Gid> = id.groups.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
    //       nix::unistd::setgroups(&groups).context("setgroups")?;
    //   }
    // then, in the same block, setgid(Gid::from_raw(id.gid)), then
    // setuid(Uid::from_raw(id.uid)), in this order: why can't setgid come
    // after setuid? Last, set
    // PR_SET_PDEATHSIG again (nix::sys::prctl::set_pdeathsig, as after the
    // fork): changing credentials clears it (prctl(2)), and a level killed
    // with `kill -9` would leave the command running as the user.
// @end
// @level solved=10
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
// @end
// @level solved=00
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
// @end

// @level solved=08
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
// @end

// @level todo=12
// TODO(12): `exec PID -- COMMAND` runs a new process in a running container,
// as `docker exec` does. PID is any process of the container, as the host
// numbers it (its PID 1: on the host, `pgrep -f` finds it). Write
//   fn enter(args: &support::ExecArgs) -> Result<i32>
// which:
//  1. opens /proc/<PID>/ns/{ipc,uts,net,pid,mnt}: one file per namespace
//     (std::fs::File::open). All of them first: why?
//  2. joins each with nix::sched::setns(&file, CloneFlags::CLONE_NEW...),
//     the mount namespace last;
//  3. forks: the child execs the command (as in TODO(00)), the parent waits
//     and returns support::status_code(status). Why is the fork needed here,
//     when setns(2) has already moved us into the PID namespace?
// Try it: start `sudo cargo run -p level12 -- run --hostname web1 -- sleep 300`,
// then in another terminal:
//   sudo cargo run -p level12 -- exec $(pgrep -x -f 'sleep 300') -- /bin/sh -c 'hostname; ps'
// @end
// @level solved=12
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
        let file = std::fs::File::open(&path).with_context(|| format!("opening {path} (is {} a running container's process?)", args.pid))?;
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
            let argv: Vec<CString> = args.command.iter().filter_map(|a| CString::new(a.as_str()).ok()).collect();
            let err = nix::unistd::execvp(&argv[0], &argv).err();
            eprintln!("error in the container: execvp({}): {}", args.command[0], err.map(|e| e.desc()).unwrap_or("returned"));
            std::process::exit(127);
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).context("waitpid")?;
            Ok(support::status_code(status))
        }
    }
}
// @end

// @level todo=14
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
// @end
// @level solved=14
/// Root inside the user namespace is this uid (and gid) outside; the 65536
/// ids from 0 inside are ROOT_OUTSIDE.. outside (a range no host user has:
/// /etc/subuid is where a host hands such ranges out).
const ROOT_OUTSIDE: u32 = 100_000;

/// fork(2) with two namespaces for the child: clone(2) as fork calls it
/// (no stack of its own: the child goes on, on a copy of ours; SIGCHLD:
/// our waitpid sees it end), plus CLONE_NEWUSER | CLONE_NEWPID. With both
/// in one call the user namespace is made first and owns the PID
/// namespace, so root inside may mount the container's /proc. The parent
/// cannot unshare(CLONE_NEWUSER) itself instead: it would be nobody to the
/// host from then on, unable to write the child's maps or remove a cgroup.
fn fork_into_userns() -> Result<nix::unistd::ForkResult> {
    use nix::libc;
    // (And an IPC namespace: /dev's mqueue filesystem may be mounted only
    // by root in the user namespace that owns the IPC namespace; until
    // now the levels shared the host's.)
    let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::SIGCHLD;
    // SAFETY: as fork(): single-threaded, and without CLONE_VM the child
    // has its own copy of our memory. (glibc's atfork handlers do not run:
    // nothing here registers one.) The other arguments (stack, tids, tls)
    // are 0 on every architecture's argument order.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags as libc::c_ulong, 0, 0, 0, 0) };
    match pid {
        -1 => Err(std::io::Error::last_os_error()).context("clone(CLONE_NEWUSER | CLONE_NEWPID)"),
        0 => Ok(nix::unistd::ForkResult::Child),
        pid => Ok(nix::unistd::ForkResult::Parent { child: nix::unistd::Pid::from_raw(pid as i32) }),
    }
}
// @end

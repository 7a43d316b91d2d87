//! A container's birth, top to bottom. This file is the table of contents of
//! the workshop: every step below is made in the module named after its
//! kernel concept (`birth/`, `security/`), and performed through [`Tracer`]
//! so `--trace` narrates it.
//!
//! ```text
//!  rd (parent, host namespaces)             child (new namespaces, PID 1)
//!  ───────────────────────────              ─────────────────────────────
//!  (before the birth: checks, leftovers
//!   of killed runs, the image, pulled
//!   if missing — see main.rs; with -d,
//!   the monitor forked — see lifecycle)
//!  mkdir containers/<id>/{upper,work,rootfs}
//!  flock monitor.lock, name
//!  (bridge) lease an address, -p rules
//!  create cgroup rd-<id>, write limits
//!  record "created" (state.json, once)
//!  clone(NEWPID|NEWNS|NEWUTS|NEWIPC[|NEWNET]) ─▶ close the caller's descriptors
//!                                            join cgroup rd-<id>, unshare(NEWCGROUP)
//!                                            unblock signals, PDEATHSIG, setsid
//!                                            mount / MS_REC|MS_PRIVATE
//!                                            mount the overlay rootfs
//!                                            mount proc, sysfs, cgroupfs (read-only)
//!                                            /dev (nodev + bound nodes), devpts, shm, mqueue
//!                                            /etc files, volumes, --tmpfs
//!                                            sethostname, lo up (bridge: veth, eth0)
//!                                            pivot_root, detach the old root
//!                                            mask /proc and /sys paths
//!                                            its own pty (with -t)
//!                                            chdir, check it is inside the root
//!                                            no_new_privs (if asked), seccomp
//!                                            drop the bounding set
//!                                            setgroups, setgid, setuid, capset
//!                                            [--init: fork; PID 1 stays rd's init]
//!  monitor: signals, pty ◀── exec error ─── execve(COMMAND)
//!  record "running"; wait (waitid WNOWAIT)
//!  record "exited", then reap
//!  remove cgroup and directories (kept: -d, --keep)
//!  exit with the command's status
//! ```
//!
//! The overlay and every other mount live only in the child's mount
//! namespace: when its last process exits, the kernel unmounts them all, so
//! even a SIGKILLed rd cannot leave a mount on the host.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use crate::birth::cgroups::{human_size, ContainerCgroup, Limits};
use crate::birth::devices::DevicePolicy;
use crate::birth::exec::{self, ExecFailure, EXIT_RD_ERROR};
use crate::birth::network::NetworkMode;
use crate::birth::process::Process;
use crate::birth::{
    bridge, devices, etc_files, host_root, lxcfs, mounts, namespaces, overlay, pivot_root, uts,
    volumes,
};
use crate::error::ExitError;
use crate::image::registry::RegistryOptions;
use crate::image::Image;
use crate::lifecycle::detach::{self, Ready};
use crate::lifecycle::names;
use crate::lifecycle::record::{self, ProcessDefaults, Record, Status};
use crate::monitor;
use crate::security::{masks, seccomp, terminal, Security};
use crate::state::{ContainerDirs, StateRoot};
use crate::stats;
use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;

/// What `rd run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub image: String,
    /// The image was the first word (`rd run IMAGE COMMAND`), not `-i`.
    pub image_from_word: bool,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub limits: Limits,
    /// Keep the container (its record, upper layer, log) after it ends,
    /// until `rd rm`: `--keep`, or `-d` without `--rm`.
    pub keep: bool,
    /// `-d`: the monitor leaves the terminal; stdio goes to the log.
    pub detach: bool,
    /// `--name`.
    pub name: Option<String>,
    /// `--init`: rd's init is PID 1, the command its child.
    pub init: bool,
    /// `--ulimit`: the process's resource limits (rd exec's too).
    pub ulimits: Vec<crate::birth::rlimits::Ulimit>,
    /// `--stats`: what the run used, on stderr when it ends.
    pub stats: bool,
    /// `--host-root`: the host's / instead of an image, with these modes.
    pub host_root: Option<HostRootDirs>,
    /// `--stats-file`: the same as JSON (an absolute path: a detached
    /// container's monitor no longer stands in the caller's directory).
    pub stats_file: Option<PathBuf>,
    /// `--entrypoint`: replaces the image's (Some("") clears it).
    pub entrypoint: Option<String>,
    /// `--network`, and `-p` (bridge only).
    pub network: NetworkMode,
    pub ports: Vec<bridge::Port>,
    /// `-v`, `--tmpfs`, `--read-only`.
    pub volumes: Vec<volumes::Volume>,
    pub tmpfs: Vec<volumes::Tmpfs>,
    pub read_only: bool,
    /// How to reach a registry when the image must be pulled first.
    pub registry: RegistryOptions,
    /// Capabilities, seccomp, --privileged, --preserve-fds.
    pub security: Security,
    /// -t (Some(true)) / -T (Some(false)): a pseudo-terminal of its own;
    /// None: one when the caller sits at a terminal.
    pub tty: Option<bool>,
}

/// `--host-root`'s directories, as given (host_root::DirModes checks them).
#[derive(Debug, Clone, Default)]
pub struct HostRootDirs {
    pub overlay: Vec<PathBuf>,
    pub read_only: Vec<PathBuf>,
    pub hidden: Vec<PathBuf>,
    pub full_access: Vec<PathBuf>,
}

/// Runs a container from `image` and returns its exit status (docker's
/// convention). The checks, the leftovers of killed runs and the image
/// come first (see main.rs): this is the birth itself. With `-d` this runs
/// in the forked monitor, and `ready` tells the front when the command runs.
pub fn run(
    spec: &RunSpec,
    image: &Image,
    state: &StateRoot,
    tracer: Tracer,
    mut ready: Option<&mut Ready>,
) -> Result<i32> {
    if spec.host_root.is_some() && spec.command.is_empty() && spec.entrypoint.is_none() {
        anyhow::bail!(
            "--host-root runs no default command: give one (rd run --host-root -- /bin/sh)"
        );
    }
    let command = image.command(&spec.command, spec.entrypoint.as_deref())?;
    volumes::check_sources(&spec.volumes)?;
    // --host-root: which of the host's directories the container sees how,
    // decided here, from the caller's mount table, before anything exists.
    let host_points = match &spec.host_root {
        Some(d) => {
            use host_root::DirMode;
            let modes = host_root::DirModes::new(
                &[
                    (DirMode::Overlay, &d.overlay),
                    (DirMode::ReadOnly, &d.read_only),
                    (DirMode::Hidden, &d.hidden),
                    (DirMode::FullAccess, &d.full_access),
                ],
                &state.root,
            )
            .map_err(|e| ExitError::new(125, format!("{e:#}")))?;
            Some(host_root::plan(&modes, &host_root::host_mounts()?))
        }
        None => None,
    };
    let lxcfs_dir = lxcfs::find();
    if lxcfs_dir.is_none() {
        tracer.note(
            "lxcfs: a fuse.lxcfs mount in /proc/self/mountinfo",
            "none",
            0.0,
            "lxcfs is not running: /proc/meminfo, uptime, cpuinfo... inside are the host's (free shows the host's memory)",
        );
    }
    // Compiled (or read from the cache) before anything exists: a profile
    // that does not compile is one line, with nothing to undo.
    let seccomp = match spec.security.seccomp_profile() {
        Some(profile) => Some(Arc::new(seccomp::compile_cached(
            &profile,
            &state.seccomp_cache(),
        )?)),
        None => None,
    };
    if spec.security.privileged {
        eprintln!("rd: --privileged: every defence is off (all capabilities, no seccomp, no masked paths, any device node opens): root in this container is root on the host");
    }

    if !spec.ports.is_empty() && spec.network != NetworkMode::Bridge {
        return Err(ExitError::new(
            125,
            "-p publishes a port of the container's own network: it needs --network bridge",
        )
        .into());
    }
    let network = Network::resolve(state, &spec.network, &tracer)?;

    // Held until the container's record names its layers: `rd rmi` waits
    // for it, then sees them in use.
    let store = crate::image::Store::new(state);
    let store_lock = store.lock(false)?;
    let mut dirs = tracer.timed(
        format!(
            "mkdir(\"{}/<id>/{{upper,work,rootfs}}\", 0755) + flock(monitor.lock)",
            state.containers().display()
        ),
        "this container's own directories: its writes (upper), overlay's scratch (work), its root; the lock says it is alive",
        || ContainerDirs::create(state),
    )?;
    let mut name = NameGuard {
        state,
        id: dirs.id.clone(),
        name: match &spec.name {
            Some(n) => {
                names::claim(state, n, &dirs.id)?;
                n.clone()
            }
            None => names::claim_generated(state, &dirs.id)?,
        },
        keep: false,
    };
    let hostname = match (&spec.hostname, &network) {
        (Some(h), _) => h.clone(),
        (None, Network::Join { hostname, .. }) => hostname.clone(),
        (None, Network::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| dirs.id.clone()),
        (None, Network::Own | Network::Bridge { .. }) => dirs.id.clone(),
    };
    let keep = spec.security.capabilities();
    let env: Vec<String> = image
        .config()
        .env
        .iter()
        .cloned()
        .chain(exec::resolve_keys(&spec.env))
        .collect();
    // -u and -w win over the image's User and WorkingDir (docker's rule).
    let user = spec.user.clone().or(image.config().user.clone());
    let workdir = spec.workdir.clone().or(image.config().working_dir.clone());
    let mut rec = Record {
        id: dirs.id.clone(),
        name: name.name.clone(),
        image: spec.image.clone(),
        command: command.clone(),
        created: record::now(),
        started: None,
        finished: None,
        status: Status::Created,
        exit_code: None,
        oom_killed: false,
        pid: None,
        monitor_pid: std::process::id(),
        detached: spec.detach,
        auto_remove: !spec.keep,
        hostname: hostname.clone(),
        network: spec.network.clone().into(),
        address: None,
        ports: vec![],
        volumes: spec
            .volumes
            .iter()
            .filter_map(|v| match &v.source {
                volumes::Source::Named(n) => Some(n.clone()),
                volumes::Source::Host(_) => None,
            })
            .collect(),
        layers: image.record.layers.clone(),
        process: ProcessDefaults {
            env: env.clone(),
            user: user.clone(),
            workdir: workdir.clone(),
            capabilities: keep.iter().map(|c| c.to_string()).collect(),
            no_new_privileges: spec.security.no_new_privileges,
            privileged: spec.security.privileged,
            // A filter that could not be cached is recorded as "": rd exec
            // then refuses, rather than start a process with no filter.
            seccomp: seccomp.as_ref().map(|p| p.key.clone().unwrap_or_default()),
            cgroup_join: vec![],
            ulimits: spec.ulimits.clone(),
        },
        stats: None,
    };
    let container_dir = dirs.guard.path.clone();
    overlay::check_fits(image.layer_dirs(), &dirs.upper, &dirs.work)?;
    if let Some(c) = overlay::unsafe_path_char(&dirs.rootfs) {
        anyhow::bail!(
            "the state root {} contains '{c}', which overlayfs options cannot hold: choose another --root",
            state.root.display()
        );
    }
    // On the bridge: an address, and the ports published to it.
    let (lease, _published) = match &network {
        Network::Bridge { subnet, .. } => {
            let lease = bridge::lease(subnet, &container_dir)?;
            let published = bridge::publish(&container_dir, lease.addr, &spec.ports, &tracer)?;
            rec.address = Some(lease.addr.to_string());
            rec.ports = spec.ports.iter().map(|p| p.to_string()).collect();
            (Some(lease), Some(published))
        }
        _ => (None, None),
    };
    let cgroup = ContainerCgroup::create(&dirs.id, &spec.limits, tracer)?;
    if let Some(cg) = &cgroup {
        rec.process.cgroup_join = cg.join_files();
    }
    // One write of the whole record, once all of it is known.
    record::write(&container_dir, &rec)?;
    drop(store_lock);
    if spec.detach {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(container_dir.join(record::LOG))
            .context("creating the container's log")?;
        detach::log_to(&log)?;
    }
    let etc = etc_files::contents(&etc_files::Identity {
        hostname: &hostname,
        names: &[&rec.name, &rec.id],
        address: lease.as_ref().map(|l| std::net::IpAddr::V4(l.addr)),
        host_network: matches!(network, Network::Host),
    });
    let staging = container_dir.join("etc");
    std::fs::create_dir(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut mounts_in_root = etc_files::steps(&dirs.rootfs, &staging, etc);
    mounts_in_root.extend(volumes::steps(
        state,
        &dirs.rootfs,
        &spec.volumes,
        &spec.tmpfs,
    )?);

    // A pipe (close-on-exec) carries the child's failure before exec; once
    // exec has succeeded the parent reads EOF from it. With a terminal, a
    // socketpair carries the pty's master from the child to rd.
    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    let use_tty = match spec.tty {
        Some(t) => t,
        None => !spec.detach && terminal::caller_has_terminal(),
    };
    let console = if use_tty {
        Some(console_socketpair()?)
    } else {
        None
    };
    let net_fds: Vec<i32> = match &network {
        Network::Join { pidfd, .. } => vec![pidfd.as_raw_fd()],
        Network::Bridge {
            host_netns,
            netlink,
            ..
        } => vec![host_netns.as_raw_fd(), netlink.as_raw_fd()],
        _ => vec![],
    };
    let rd_fds: Vec<i32> = std::iter::once(err_write.as_raw_fd())
        .chain(console.as_ref().map(|(_, c)| c.as_raw_fd()))
        .chain(net_fds)
        .collect();

    let plan = birth_plan(
        spec,
        image,
        &dirs,
        cgroup.as_ref(),
        &hostname,
        &rd_fds,
        Extra {
            network: network.steps(&dirs.id, lease.as_ref().map(|l| l.addr)),
            mounts_in_root,
            host_points,
            lxcfs: lxcfs_dir,
        },
    );
    let clone_flags = namespaces::container_namespaces(spec.network.new_namespace());
    let job = ChildJob {
        plan: &plan,
        clone_flags,
        process: Process {
            user: user.as_deref(),
            workdir: workdir.as_deref(),
            command: &command,
            env: &env,
            extra_env: &[],
            hostname: &hostname,
            privileged: spec.security.privileged,
            no_new_privileges: spec.security.no_new_privileges,
            seccomp,
            keep: &keep,
            console: console.as_ref().map(|(_, c)| c.as_raw_fd()),
            init: spec.init,
            ulimits: &spec.ulimits,
        },
        tracer,
    };

    if let Some(sig) = crate::signals::pending_termination() {
        return Err(ExitError::new(
            128 + sig as i32,
            format!(
                "interrupted by {} before the container started",
                sig.as_str()
            ),
        )
        .into());
    }

    let clone_started = std::time::Instant::now();
    let child = namespaces::spawn_in_new_namespaces(clone_flags, || {
        job.child_main(&err_write, &err_read, clone_started)
    })?;
    drop(err_write);
    let console = console.map(|(parent_end, _child_end)| parent_end);

    // The command runs: say so on disk, and to the front (-d).
    let mut started = false;
    let mut on_start = || {
        if started {
            return;
        }
        started = true;
        rec.status = Status::Running;
        rec.pid = Some(child.as_raw());
        rec.started = Some(record::now());
        if let Err(e) = record::write(&container_dir, &rec) {
            eprintln!("rd: {e:#}");
        }
        if let Some(r) = ready.as_deref_mut() {
            r.started(&rec.id);
        }
    };
    let outcome = monitor::watch(
        child,
        err_read,
        console,
        &tracer,
        monitor::Watch {
            relay_stdin: !spec.detach,
            pid1: true,
            on_start: &mut on_start,
        },
    )?;
    if outcome.report.is_empty() {
        on_start(); // it ran, however briefly
    }
    let code = outcome.code();
    let oom_kills = cgroup.as_ref().map(|cg| cg.oom_kills()).unwrap_or(0);
    // Recorded while the init is still a zombie (see monitor::watch), then reaped.
    rec.status = Status::Exited;
    rec.exit_code = Some(code);
    rec.oom_killed = oom_kills > 0;
    rec.finished = Some(record::now());
    if let Err(e) = record::write(&container_dir, &rec) {
        eprintln!("rd: {e:#}");
    }
    dirs.lock.leave_status(code);
    let init_usage = monitor::reap(child);
    // What it used, read while its cgroup still counts it (rd::stats): for
    // --stats, --stats-file, or the record of a container that is kept.
    if spec.stats || spec.stats_file.is_some() || spec.keep {
        let files = cgroup.as_ref().map(|cg| cg.accounting());
        let used = stats::measure(files.as_ref(), clone_started.elapsed(), init_usage, code);
        if spec.stats {
            eprintln!("{}", used.report());
        }
        if let Some(file) = &spec.stats_file {
            if let Err(e) = stats::write_json(file, &used) {
                eprintln!("rd: {e:#}");
            }
        }
        rec.stats = Some(used);
        if spec.keep {
            if let Err(e) = record::write(&container_dir, &rec) {
                eprintln!("rd: {e:#}");
            }
        }
    }
    tracer.note(
        format!("wait4({child}, …)"),
        &format!("{child} ({:?})", outcome.status),
        0.0,
        "the container's PID 1 has ended; the kernel has torn down its namespaces and mounts",
    );
    if let Some(failure) = outcome.failure() {
        return Err(failure.into());
    }
    if oom_kills > 0 {
        let limit = spec
            .limits
            .memory
            .map(human_size)
            .unwrap_or_else(|| "?".into());
        eprintln!(
            "rd: the container hit its memory limit ({limit}): the kernel's OOM killer ended {oom_kills} process(es) (exit status {code})"
        );
    }
    if spec.keep {
        dirs.guard.keep = true;
        name.keep = true;
        if !spec.detach {
            eprintln!(
                "rd: kept container {} ({}): rd ps -a lists it, rd rm {} removes it",
                rec.name,
                dirs.guard.path.display(),
                rec.name
            );
        }
    }
    // cgroup, then name and directories: dropped here, in reverse order of creation.
    drop(cgroup);
    let dir = dirs.guard.path.clone();
    if spec.keep {
        return Ok(code);
    }
    tracer.timed(
        format!("unlinkat(AT_FDCWD, {dir:?}, AT_REMOVEDIR), its contents first"),
        "the container's upper layer and directories go: the host is left as it was",
        || {
            drop(name);
            drop(dirs);
            Ok::<(), std::convert::Infallible>(())
        },
    )?;
    Ok(code)
}

/// The container's network, resolved before anything is made.
enum Network {
    /// A namespace of its own (`--network none`).
    Own,
    /// A namespace of its own on the bridge: the host's namespace and a
    /// netlink socket in it, for the child to plug its veth in.
    Bridge {
        subnet: bridge::Subnet,
        host_netns: OwnedFd,
        netlink: crate::birth::netlink::Netlink,
    },
    /// The host's (`--network host`).
    Host,
    /// Another container's, joined through a pidfd of its init.
    Join { pidfd: OwnedFd, hostname: String },
}

impl Network {
    fn resolve(state: &StateRoot, mode: &NetworkMode, t: &Tracer) -> Result<Network> {
        Ok(match mode {
            NetworkMode::None => Network::Own,
            NetworkMode::Bridge => {
                let subnet = bridge::Subnet::from_env()?;
                bridge::ensure_bridge(&subnet, t)?;
                let host_netns = nix::fcntl::open(
                    "/proc/self/ns/net",
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .context("opening the host's network namespace")?;
                let netlink =
                    crate::birth::netlink::Netlink::open().context("opening a netlink socket")?;
                Network::Bridge {
                    subnet,
                    host_netns,
                    netlink,
                }
            }
            NetworkMode::Host => Network::Host,
            NetworkMode::Container(c) => {
                // rd run's failures are 125, whatever lifecycle says.
                let as_run_error = |e: anyhow::Error| {
                    anyhow::Error::from(ExitError::new(
                        125,
                        format!("--network container:{c}: {e:#}"),
                    ))
                };
                let found = crate::lifecycle::resolve(state, c).map_err(as_run_error)?;
                let (rec, pidfd) =
                    crate::lifecycle::commands::open_running(&found, c).map_err(as_run_error)?;
                Network::Join {
                    pidfd,
                    hostname: rec.hostname,
                }
            }
        })
    }
}

impl Network {
    /// The child's network steps: lo up in a namespace of its own, the
    /// veth and address on the bridge, or joining another container's.
    fn steps(&self, id: &str, address: Option<std::net::Ipv4Addr>) -> Vec<Step> {
        match (self, address) {
            (Network::Own, _) => vec![crate::birth::network::bring_up_loopback()],
            (
                Network::Bridge {
                    subnet,
                    host_netns,
                    netlink,
                },
                Some(addr),
            ) => {
                let mut steps = vec![crate::birth::network::bring_up_loopback()];
                steps.extend(bridge::container_steps(
                    host_netns.as_raw_fd(),
                    netlink.as_raw_fd(),
                    id,
                    addr,
                    subnet,
                ));
                steps
            }
            (Network::Join { pidfd, .. }, _) => {
                vec![crate::birth::network::join_container(pidfd.as_raw_fd())]
            }
            _ => vec![],
        }
    }
}

/// What the birth plan takes beyond the container itself.
struct Extra {
    /// The network's steps (see [`Network::steps`]).
    network: Vec<Step>,
    /// /etc files, volumes, --tmpfs: after /dev, before pivot_root.
    mounts_in_root: Vec<Step>,
    /// `--host-root`: the host's directories to mount, instead of the
    /// image's overlay (see [`host_root::plan`]).
    host_points: Option<Vec<host_root::Point>>,
    /// Where lxcfs serves its /proc files, if it runs (see [`lxcfs`]).
    lxcfs: Option<PathBuf>,
}

/// The pair of sockets on which the child sends its pty's master.
pub fn console_socketpair() -> Result<(OwnedFd, OwnedFd)> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair for the container's terminal")
}

/// The container's name, released with it unless it is kept.
struct NameGuard<'a> {
    state: &'a StateRoot,
    name: String,
    id: String,
    keep: bool,
}

impl Drop for NameGuard<'_> {
    fn drop(&mut self) {
        if !self.keep {
            names::release(self.state, &self.name, &self.id);
        }
    }
}

/// The child's steps up to pivot_root and the masks, in order. Built by the
/// parent, so all of it is known before anything happens. (What depends on
/// the image's /etc/passwd follows in [`ChildJob::become_container`].)
fn birth_plan(
    spec: &RunSpec,
    image: &Image,
    dirs: &ContainerDirs,
    cgroup: Option<&ContainerCgroup>,
    hostname: &str,
    rd_fds: &[i32],
    extra: Extra,
) -> Vec<Step> {
    let rootfs = &dirs.rootfs;
    let privileged = spec.security.privileged;
    let mut plan = vec![Step::new(
        Syscall::CloseFrom {
            first: spec.security.preserve_fds.saturating_add(3),
            keep: rd_fds.to_vec(),
        },
        "nothing the caller had open crosses into the container (a directory fd leads past any root)",
    )];
    if let Some(cg) = cgroup {
        plan.extend(cg.join_steps());
        plan.push(Step::new(
            Syscall::Unshare {
                flags: CloneFlags::CLONE_NEWCGROUP,
            },
            "a cgroup namespace rooted at the cgroup just joined: /proc/self/cgroup says /, the host's tree is out of sight",
        ));
    }
    plan.extend([
        Step::new(
            Syscall::UnblockAllSignals,
            "rd blocked signals to handle them itself; the container starts with none blocked",
        ),
        Step::new(
            Syscall::DefaultSignalActions,
            "an ignored signal stays ignored across execve(2): Rust ignores SIGPIPE, a shell's `cmd &` ignores SIGINT",
        ),
        Step::new(
            Syscall::ParentDeathSignal {
                signal: Signal::SIGKILL,
            },
            "if rd dies, the kernel kills the container: nothing runs on unsupervised",
        ),
        Step::new(
            Syscall::Setsid,
            "a session of its own: the caller's terminal is not its controlling terminal (no TIOCSTI into it)",
        ),
        mounts::make_root_private(),
    ]);
    let root_mode = extra.host_points.as_deref().map(host_root::root_mode);
    match &extra.host_points {
        // The upper directory, unused by an overlay of the image here,
        // holds the scratch tmpfs of every overlay of the host.
        Some(points) => plan.extend(host_root::mount_rootfs(points, rootfs, &dirs.upper)),
        None => plan.extend(overlay::mount_rootfs(
            image.layer_dirs(),
            &dirs.upper,
            &dirs.work,
            rootfs,
        )),
    }
    plan.extend(mounts::kernel_filesystems(rootfs));
    if let Some(cg) = cgroup {
        plan.extend(mounts::cgroup_filesystems(rootfs, cg, privileged));
    }
    let policy = if privileged {
        DevicePolicy::Mknod
    } else {
        DevicePolicy::BindHostNodes
    };
    plan.extend(devices::populate_dev(rootfs, policy));
    if let Some(dir) = &extra.lxcfs {
        plan.extend(lxcfs::steps(dir, rootfs));
    }
    plan.extend(extra.mounts_in_root);
    plan.push(uts::set_hostname(hostname));
    plan.extend(extra.network);
    match root_mode {
        Some(host_root::DirMode::ReadOnly | host_root::DirMode::FullAccess) => {
            plan.extend(pivot_root::enter_in_place(rootfs))
        }
        _ => plan.extend(pivot_root::enter(rootfs)),
    }
    if spec.read_only || root_mode == Some(host_root::DirMode::ReadOnly) {
        // After pivot_root, which needs a writable root for its put_old.
        plan.push(volumes::read_only_root());
    }
    if !privileged {
        plan.extend(masks::steps());
    }
    plan
}

/// Everything the child needs, borrowed from the parent's memory (clone
/// without CLONE_VM hands the child a copy of it).
struct ChildJob<'a> {
    plan: &'a [Step],
    clone_flags: CloneFlags,
    process: Process<'a>,
    tracer: Tracer,
}

impl ChildJob<'_> {
    /// The child's entry point; returns only on failure, with its exit status.
    fn child_main(
        &self,
        errors: &OwnedFd,
        parents_end: &OwnedFd,
        clone_started: std::time::Instant,
    ) -> isize {
        // /proc is still the host's here: /proc/self names us by our pid
        // in the host's PID namespace. In our own, getpid() returns 1.
        let host_pid = std::fs::read_link("/proc/self")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "?".into());
        self.tracer.note(
            namespaces::describe_clone(self.clone_flags),
            &format!(
                "{host_pid} (and getpid() = {} inside)",
                nix::unistd::getpid()
            ),
            clone_started.elapsed().as_secs_f64() * 1000.0,
            "born in new PID, mount, UTS, IPC (and network) namespaces: PID 1 of its own",
        );
        // Our copy of the parent's end: the parent must be the only reader.
        let _ = nix::unistd::close(parents_end.as_raw_fd());
        let Err(failure) = self.become_container();
        report_failure(errors, &failure);
        failure.status as isize
    }

    fn become_container(&self) -> Result<Infallible, ExecFailure> {
        self.tracer.run_all(self.plan).map_err(|e| ExecFailure {
            status: EXIT_RD_ERROR,
            message: e.to_string(),
        })?;
        self.process.start(&self.tracer)
    }
}

/// The child's last word, on the error pipe: "STATUS\tMESSAGE".
pub fn report_failure(errors: &OwnedFd, failure: &ExecFailure) {
    if let Ok(fd) = errors.try_clone() {
        let mut pipe = std::fs::File::from(fd);
        let _ = pipe.write_all(format!("{}\t{}", failure.status, failure.message).as_bytes());
    }
}

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
//!   if missing — see main.rs)
//!  mkdir containers/<id>/{upper,work,rootfs}
//!  create cgroup rd-<id>, write limits
//!  clone(NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET) ──▶ close the caller's descriptors
//!                                            join cgroup rd-<id>, unshare(NEWCGROUP)
//!                                            unblock signals, PDEATHSIG, setsid
//!                                            mount / MS_REC|MS_PRIVATE
//!                                            mount the overlay rootfs
//!                                            mount proc, sysfs, cgroupfs (read-only)
//!                                            /dev (nodev + bound nodes), devpts, shm, mqueue
//!                                            sethostname, lo up
//!                                            pivot_root, detach the old root
//!                                            mask /proc and /sys paths
//!                                            its own pty (with -t)
//!                                            chdir, check it is inside the root
//!                                            no_new_privs (if asked), seccomp
//!                                            drop the bounding set
//!                                            setgroups, setgid, setuid, capset
//!  monitor: signals, pty ◀── exec error ─── execve(COMMAND)
//!  remove cgroup and directories
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
use nix::sys::wait::WaitStatus;

use crate::birth::cgroups::{human_size, ContainerCgroup, Limits};
use crate::birth::devices::DevicePolicy;
use crate::birth::exec::{self, ExecFailure, EXIT_RD_ERROR};
use crate::birth::{devices, mounts, namespaces, overlay, pivot_root, user, uts};
use crate::error::ExitError;
use crate::image::registry::RegistryOptions;
use crate::image::Image;
use crate::security::{capabilities, masks, seccomp, terminal, Security};
use crate::state::{self, ContainerDirs, StateRoot};
use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;
use crate::{monitor, signals};

/// What `rd run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub limits: Limits,
    /// Keep containers/<id> (the upper layer) after exit, for inspection.
    pub keep: bool,
    /// How to reach a registry when the image must be pulled first.
    pub registry: RegistryOptions,
    /// Capabilities, seccomp, --privileged, --preserve-fds.
    pub security: Security,
    /// -t (Some(true)) / -T (Some(false)): a pseudo-terminal of its own;
    /// None: one when the caller sits at a terminal.
    pub tty: Option<bool>,
}

/// Runs a container from `image` and returns its exit status (docker's
/// convention). The checks, the leftovers of killed runs and the image
/// come first (see main.rs): this is the birth itself.
pub fn run(spec: &RunSpec, image: &Image, state: &StateRoot, tracer: Tracer) -> Result<i32> {
    let command = image.command(&spec.command)?;
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

    // Held until the container's directory names its layers: `rd rmi` waits
    // for it, then sees them in use.
    let store = crate::image::Store::new(state);
    let store_lock = store.lock(false)?;
    let mut dirs = tracer.timed(
        format!(
            "mkdir(\"{}/<id>/{{upper,work,rootfs}}\", 0755)",
            state.containers().display()
        ),
        "this container's own directories: its writes (upper), overlay's scratch (work), its root",
        || ContainerDirs::create(state, &image.record.layers),
    )?;
    drop(store_lock);
    dirs.guard.keep = spec.keep;
    overlay::check_fits(image.layer_dirs(), &dirs.upper, &dirs.work)?;
    if let Some(c) = overlay::unsafe_path_char(&dirs.rootfs) {
        anyhow::bail!(
            "the state root {} contains '{c}', which overlayfs options cannot hold: choose another --root",
            state.root.display()
        );
    }
    let hostname = spec.hostname.clone().unwrap_or_else(|| dirs.id.clone());
    let cgroup = ContainerCgroup::create(&dirs.id, &spec.limits, tracer)?;

    // A pipe (close-on-exec) carries the child's failure before exec; once
    // exec has succeeded the parent reads EOF from it. With a terminal, a
    // socketpair carries the pty's master from the child to rd.
    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    let use_tty = spec.tty.unwrap_or_else(terminal::caller_has_terminal);
    let console = if use_tty {
        let (parent_end, child_end) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .context("socketpair for the container's terminal")?;
        Some((parent_end, child_end))
    } else {
        None
    };
    let rd_fds: Vec<i32> = std::iter::once(err_write.as_raw_fd())
        .chain(console.as_ref().map(|(_, c)| c.as_raw_fd()))
        .collect();

    let plan = birth_plan(spec, image, &dirs, cgroup.as_ref(), &hostname, &rd_fds);
    let keep = spec.security.capabilities();
    let job = ChildJob {
        plan: &plan,
        // -u and -w win over the image's User and WorkingDir (docker's rule).
        user: spec.user.as_deref().or(image.config().user.as_deref()),
        workdir: spec
            .workdir
            .as_deref()
            .or(image.config().working_dir.as_deref()),
        command: &command,
        image_env: &image.config().env,
        user_env: &spec.env,
        hostname: &hostname,
        security: &spec.security,
        seccomp,
        bounding: capabilities::bounding_steps(&keep),
        keep: &keep,
        console: console.as_ref().map(|(_, c)| c.as_raw_fd()),
        tracer,
    };

    if let Some(sig) = signals::pending_termination() {
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
    let child = namespaces::spawn_in_new_namespaces(|| {
        job.child_main(&err_write, &err_read, clone_started)
    })?;
    drop(err_write);
    let console = console.map(|(parent_end, _child_end)| parent_end);

    let outcome = monitor::watch(child, err_read, console, &tracer)?;
    let status = outcome.status;
    tracer.note(
        format!("wait4({child}, …)"),
        &format!("{child} ({status:?})"),
        0.0,
        "the container's PID 1 has ended; the kernel has torn down its namespaces and mounts",
    );
    if let Some((code, message)) = outcome.report.split_once('\t') {
        let code = code.parse().unwrap_or(EXIT_RD_ERROR);
        return Err(ExitError::new(code, message.to_string()).into());
    }

    let code = match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => EXIT_RD_ERROR,
    };
    if let Some(cg) = &cgroup {
        let kills = cg.oom_kills();
        if kills > 0 {
            let limit = spec
                .limits
                .memory
                .map(human_size)
                .unwrap_or_else(|| "?".into());
            eprintln!(
                "rd: the container hit its memory limit ({limit}): the kernel's OOM killer ended {kills} process(es) (exit status {code})"
            );
        }
    }
    if spec.keep {
        let _ = std::fs::write(dirs.guard.path.join(state::KEPT), "");
        eprintln!(
            "rd: kept {} (--keep); 'rd cleanup --kept' removes it",
            dirs.guard.path.display()
        );
    }
    // cgroup, then directories: dropped here, in reverse order of creation.
    drop(cgroup);
    let dir = dirs.guard.path.clone();
    tracer.timed(
        format!("unlinkat(AT_FDCWD, {dir:?}, AT_REMOVEDIR), its contents first"),
        "the container's upper layer and directories go: the host is left as it was",
        || {
            drop(dirs);
            Ok::<(), std::convert::Infallible>(())
        },
    )?;
    Ok(code)
}

/// Undoes what a killed rd could not: the directories (and cgroups) of
/// containers whose rd is gone. Mounts need no undoing: they lived in the
/// container's mount namespace, which died with its last process.
pub fn reclaim_leftovers(state: &StateRoot, include_kept: bool) -> Vec<String> {
    let ids = state::leftover_containers(state, include_kept);
    for id in &ids {
        crate::birth::cgroups::remove_leftover(id);
        let _ = std::fs::remove_dir_all(state.containers().join(id));
    }
    ids
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
    plan.extend(overlay::mount_rootfs(
        image.layer_dirs(),
        &dirs.upper,
        &dirs.work,
        rootfs,
    ));
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
    plan.push(uts::set_hostname(hostname));
    plan.push(crate::birth::network::bring_up_loopback());
    plan.extend(pivot_root::enter(rootfs));
    if !privileged {
        plan.extend(masks::steps());
    }
    plan
}

/// Everything the child needs, borrowed from the parent's memory (clone
/// without CLONE_VM hands the child a copy of it).
struct ChildJob<'a> {
    plan: &'a [Step],
    user: Option<&'a str>,
    workdir: Option<&'a str>,
    command: &'a [String],
    image_env: &'a [String],
    user_env: &'a [String],
    hostname: &'a str,
    security: &'a Security,
    /// The compiled filter (None: unconfined or --privileged).
    seccomp: Option<Arc<seccomp::Program>>,
    /// The bounding-set drops, and the capabilities kept.
    bounding: Vec<Step>,
    keep: &'a [caps::Capability],
    /// The child's end of the console socketpair, with a terminal.
    console: Option<i32>,
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
            namespaces::describe_clone(),
            &format!(
                "{host_pid} (and getpid() = {} inside)",
                nix::unistd::getpid()
            ),
            clone_started.elapsed().as_secs_f64() * 1000.0,
            "born in new PID, mount, UTS, IPC and network namespaces: PID 1 of its own",
        );
        // Our copy of the parent's end: the parent must be the only reader.
        let _ = nix::unistd::close(parents_end.as_raw_fd());
        let Err(failure) = self.become_container();
        let mut pipe = std::fs::File::from(match errors.try_clone() {
            Ok(fd) => fd,
            Err(_) => return failure.status as isize,
        });
        let _ = pipe.write_all(format!("{}\t{}", failure.status, failure.message).as_bytes());
        failure.status as isize
    }

    fn become_container(&self) -> Result<Infallible, ExecFailure> {
        let rd_error = |message: String| ExecFailure {
            status: EXIT_RD_ERROR,
            message,
        };
        let t = &self.tracer;
        t.run_all(self.plan).map_err(|e| rd_error(e.to_string()))?;

        // Inside the new root now: /etc/passwd is the image's.
        let identity = match self.user {
            None => user::Identity::root(),
            Some(spec) => t
                .timed(
                    "open(in_root(\"/\", \"/etc/passwd\" and \"/etc/group\"), O_RDONLY|O_NONBLOCK) + read",
                    "--user: names are the image's; rd reads its files itself (never NSS: that would run the image's code as root)",
                    || user::resolve_in_container(Some(spec)),
                )
                .map_err(|e| rd_error(format!("{e:#}")))?,
        };
        if let Some(socket) = self.console {
            t.run(&Step::new(
                Syscall::Console {
                    socket,
                    uid: identity.uid,
                    gid: identity.gid,
                },
                "a terminal of its own (-t): rd relays between it and yours",
            ))
            .map_err(|e| rd_error(e.to_string()))?;
        }
        if let Some(dir) = self.workdir {
            // Like docker, a missing working directory is created.
            t.timed(
                format!("mkdir -p {dir:?}"),
                "-w names a directory the image may not have: docker creates it",
                || std::fs::create_dir_all(dir),
            )
            .map_err(|e| rd_error(format!("creating working directory {dir}: {e}")))?;
            t.run(&Step::new(
                Syscall::Chdir {
                    path: PathBuf::from(dir),
                },
                "-w: where the command starts",
            ))
            .map_err(|e| rd_error(e.to_string()))?;
        }
        if !self.security.privileged {
            t.run(&Step::new(
                Syscall::RequireCwdInRoot,
                "a working directory reached through a leaked descriptor would stand outside the root (CVE-2024-21626)",
            ))
            .map_err(|e| match e.errno {
                nix::errno::Errno::EXDEV => rd_error(format!(
                    "the working directory {} lies outside the container's root (through a descriptor of the caller's?): refused",
                    self.workdir.unwrap_or("/")
                )),
                _ => rd_error(e.to_string()),
            })?;
        }
        t.run_all(&self.privilege_steps(&identity))
            .map_err(|e| rd_error(e.to_string()))?;

        let env = exec::environment(
            self.image_env,
            self.user_env,
            self.hostname,
            &identity.home,
            self.console.is_some(),
        );
        let path = t.timed(
            format!(
                "stat() along the container's PATH for {:?}",
                self.command[0]
            ),
            "execve(2) takes a path: rd searches the image's PATH, as execvp(3) would",
            || exec::find_command(&self.command[0], &env),
        )?;
        let step = exec::exec_step(path.clone(), self.command.to_vec(), env);
        let err = match t.run(&step) {
            Err(e) => e.errno,
            Ok(_) => nix::errno::Errno::UnknownErrno, // execve does not return on success
        };
        Err(exec::explain_exec_error(&path, err))
    }

    /// The last steps before execve, in runc's order: no_new_privs, seccomp
    /// (while rd still holds CAP_SYS_ADMIN, which loading a filter without
    /// no_new_privs needs), the bounding set, the user, the final sets.
    fn privilege_steps(&self, identity: &user::Identity) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.security.no_new_privileges {
            steps.push(Step::new(
                Syscall::NoNewPrivs,
                "--security-opt no-new-privileges: execve never grants privilege (setuid bits, file capabilities)",
            ));
        }
        if let Some(program) = &self.seccomp {
            steps.push(Step::new(
                Syscall::Seccomp {
                    program: program.clone(),
                },
                "whole system calls out of reach, privileged or not: keyctl, bpf, mount, user namespaces…",
            ));
        }
        steps.extend(self.bounding.iter().cloned());
        steps.extend(user::switch_steps(identity));
        steps.extend(capabilities::final_steps(self.keep, identity.uid == 0));
        steps
    }
}

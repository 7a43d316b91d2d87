//! A container's birth, top to bottom. This file is the table of contents of
//! the workshop: every step below is made in the module named after its
//! kernel concept, and performed through [`Tracer`] so `--trace` narrates it.
//!
//! ```text
//!  rd (parent, host namespaces)             child (new namespaces, PID 1)
//!  ───────────────────────────              ─────────────────────────────
//!  check privileges, overlayfs
//!  block SIGINT/SIGTERM/SIGHUP/SIGCHLD
//!  find the image (build busybox once)
//!  mkdir containers/<id>/{upper,work,rootfs}
//!  create cgroup rd-<id>, write limits
//!  clone(NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET) ──▶ join cgroup rd-<id>
//!                                            unblock signals, PDEATHSIG
//!                                            mount / MS_REC|MS_PRIVATE
//!                                            mount the overlay rootfs
//!                                            mount proc, sysfs, /dev, devpts, shm
//!                                            sethostname, lo up
//!                                            pivot_root, detach the old root
//!                                            setgroups, setgid, setuid
//!  wait, forwarding signals  ◀── exec error ─ execve(COMMAND)
//!  remove cgroup and directories
//!  exit with the command's status
//! ```
//!
//! The overlay and every other mount live only in the child's mount
//! namespace: when its last process exits, the kernel unmounts them all, so
//! even a SIGKILLed rd cannot leave a mount on the host.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

use crate::cgroups::{human_size, ContainerCgroup, Limits};
use crate::error::ExitError;
use crate::exec::{self, ExecFailure, EXIT_RD_ERROR};
use crate::image::registry::RegistryOptions;
use crate::image::{pull, Image, Store};
use crate::state::{self, ContainerDirs, StateRoot};
use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;
use crate::{devices, mounts, namespaces, overlay, pivot_root, preflight, signals, user, uts};

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
}

/// Runs a container and returns its exit status (docker's convention).
pub fn run(spec: &RunSpec, state: &StateRoot, tracer: Tracer) -> Result<i32> {
    preflight::require_privileges()?;
    preflight::require_overlayfs()?;
    spec.limits.validate()?;
    // From here on, Ctrl-C is data read by rd, never a sudden death.
    tracer.timed(
        "sigprocmask(SIG_BLOCK, [SIGINT SIGTERM SIGHUP SIGCHLD], NULL)",
        "from now on a Ctrl-C is news rd reads (signalfd), not a sudden death that leaves a mess",
        signals::block,
    )?;
    for id in reclaim_leftovers(state, false) {
        eprintln!("rd: removed the leftovers of container {id} (its rd was killed)");
    }

    let store = Store::new(state);
    let image = pull::obtain(&store, &spec.image, &spec.registry)?;
    let command = image.command(&spec.command)?;

    // Held until the container's directory names its layers: `rd rmi` waits
    // for it, then sees them in use.
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

    let plan = birth_plan(&image, &dirs, cgroup.as_ref(), &hostname);
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

    // A pipe (close-on-exec) carries the child's failure before exec; once
    // exec has succeeded the parent reads EOF from it.
    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe2")?;
    let clone_started = std::time::Instant::now();
    let child = namespaces::spawn_in_new_namespaces(|| {
        job.child_main(&err_write, &err_read, clone_started)
    })?;
    drop(err_write);

    let mut report = String::new();
    let _ = std::fs::File::from(err_read).read_to_string(&mut report);
    let status = signals::wait_for_exit(child, &tracer)?;
    tracer.note(
        format!("wait4({child}, …)"),
        &format!("{child} ({status:?})"),
        0.0,
        "the container's PID 1 has ended; the kernel has torn down its namespaces and mounts",
    );
    if let Some((code, message)) = report.split_once('\t') {
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
        crate::cgroups::remove_leftover(id);
        let _ = std::fs::remove_dir_all(state.containers().join(id));
    }
    ids
}

/// The child's steps up to and including pivot_root, in order. Built by the
/// parent, so the whole plan is known before anything happens.
fn birth_plan(
    image: &Image,
    dirs: &ContainerDirs,
    cgroup: Option<&ContainerCgroup>,
    hostname: &str,
) -> Vec<Step> {
    let rootfs = &dirs.rootfs;
    let mut plan = cgroup.map(ContainerCgroup::join_steps).unwrap_or_default();
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
        mounts::make_root_private(),
    ]);
    plan.extend(overlay::mount_rootfs(
        image.layer_dirs(),
        &dirs.upper,
        &dirs.work,
        rootfs,
    ));
    plan.extend(mounts::kernel_filesystems(rootfs));
    plan.extend(devices::populate_dev(rootfs));
    plan.push(uts::set_hostname(hostname));
    plan.push(crate::network::bring_up_loopback());
    plan.extend(pivot_root::enter(rootfs));
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
            Some(spec) => {
                user::resolve_in_container(spec).map_err(|e| rd_error(format!("{e:#}")))?
            }
            None => user::Identity::root(),
        };
        if let Some(dir) = self.workdir {
            // Like docker, a missing working directory is created.
            std::fs::create_dir_all(dir)
                .map_err(|e| rd_error(format!("creating working directory {dir}: {e}")))?;
            t.run(&Step::new(
                Syscall::Chdir {
                    path: PathBuf::from(dir),
                },
                "-w: where the command starts",
            ))
            .map_err(|e| rd_error(e.to_string()))?;
        }
        if self.user.is_some() {
            t.run_all(&user::switch_steps(&identity))
                .map_err(|e| rd_error(e.to_string()))?;
        }

        let env = exec::environment(self.image_env, self.user_env, self.hostname, &identity.home);
        let path = exec::find_command(&self.command[0], &env)?;
        let step = exec::exec_step(path.clone(), self.command.to_vec(), env);
        let err = match t.run(&step) {
            Err(e) => e.errno,
            Ok(_) => nix::errno::Errno::UnknownErrno, // execve does not return on success
        };
        Err(exec::explain_exec_error(&path, err))
    }
}

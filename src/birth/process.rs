//! The container's process, once it stands inside the container's
//! namespaces and root: who it is (`--user`), where it starts (`-w`), what
//! it may do (capabilities, seccomp, no_new_privs), then execve(2).
//!
//! The init of `rd run` and every process of `rd exec` end the same way,
//! through [`Process::start`]: a process that joins a container later gets
//! exactly what its init got, never a laxer set.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use caps::Capability;

use super::exec::{self, ExecFailure, EXIT_RD_ERROR};
use super::{rlimits, user};
use crate::security::{capabilities, seccomp};
use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;

/// What the process becomes; borrowed from the parent's memory (the child
/// of clone or fork has a copy of it).
pub struct Process<'a> {
    /// USER[:GROUP], names from the image's /etc/passwd (None: root).
    pub user: Option<&'a str>,
    pub workdir: Option<&'a str>,
    pub command: &'a [String],
    /// The container's environment: the image's Env, then `rd run -e`.
    pub env: &'a [String],
    /// `rd exec -e`, on top.
    pub extra_env: &'a [String],
    pub hostname: &'a str,
    pub privileged: bool,
    pub no_new_privileges: bool,
    /// The compiled filter (None: unconfined or --privileged).
    pub seccomp: Option<Arc<seccomp::Program>>,
    /// The capabilities kept.
    pub keep: &'a [Capability],
    /// The console socket, with a terminal of its own (-t).
    pub console: Option<i32>,
    /// `--init`: rd's init stays PID 1 and forks the command.
    pub init: bool,
    /// `--ulimit`s, set before the capabilities are cut.
    pub ulimits: &'a [rlimits::Ulimit],
}

fn rd_error(message: String) -> ExecFailure {
    ExecFailure {
        status: EXIT_RD_ERROR,
        message,
    }
}

impl Process<'_> {
    /// Becomes the process and execs the command; returns only on failure.
    pub fn start(&self, t: &Tracer) -> Result<Infallible, ExecFailure> {
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
        if !self.privileged {
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
            self.env,
            self.extra_env,
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
        if self.init {
            // Returns in the child, which goes on to execve; the parent
            // stays PID 1 as the init, and never returns.
            super::init::fork_command(self.console.is_some(), t)
                .map_err(|e| rd_error(format!("fork for --init: {e}")))?;
        }
        let step = exec::exec_step(path.clone(), self.command.to_vec(), env);
        let err = match t.run(&step) {
            Err(e) => e.errno,
            Ok(_) => nix::errno::Errno::UnknownErrno, // execve does not return on success
        };
        Err(exec::explain_exec_error(&path, err))
    }

    /// The last steps before execve, in runc's order: the rlimits (raising
    /// a hard limit takes CAP_SYS_RESOURCE, soon gone), no_new_privs,
    /// seccomp (while rd still holds CAP_SYS_ADMIN, which loading a filter
    /// without no_new_privs needs), the bounding set, the user, the final
    /// sets.
    fn privilege_steps(&self, identity: &user::Identity) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .ulimits
            .iter()
            .map(|limit| {
                Step::new(
                    Syscall::Setrlimit {
                        limit: limit.clone(),
                    },
                    "--ulimit: this process's limit, inherited by every process it starts",
                )
            })
            .collect();
        if self.no_new_privileges {
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
        steps.extend(capabilities::bounding_steps(self.keep));
        steps.extend(user::switch_steps(identity));
        steps.extend(capabilities::final_steps(self.keep, identity.uid == 0));
        steps
    }
}

//! The kernel calls a container's birth is made of, as data.
//!
//! Each [`Syscall`] value is one call with its real arguments. The same value
//! is rendered for `--trace` (C syntax, as in the man pages) and performed, so
//! the narration can never drift from the work: there is no `println!` beside
//! a call, only calls that know how to describe themselves.
//!
//! The modules named after kernel concepts (`mounts`, `overlay`, `devices`,
//! `uts`, `network`, `pivot_root`, `user`, `exec`) build lists of [`Step`]s;
//! `container.rs` runs them in order through a [`crate::trace::Tracer`].

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag};

/// One kernel call, with the arguments it will be made with.
#[derive(Debug, Clone)]
pub enum Syscall {
    /// mount(2)
    Mount {
        source: Option<String>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    /// umount2(2)
    Umount2 { target: PathBuf, flags: MntFlags },
    /// mkdir(2); an existing directory is fine (images may ship /proc, /dev...).
    Mkdir { path: PathBuf, mode: u32 },
    /// rmdir(2)
    Rmdir { path: PathBuf },
    /// mknod(2) for a character device.
    MknodChar {
        path: PathBuf,
        mode: u32,
        major: u64,
        minor: u64,
    },
    /// symlink(2)
    Symlink { target: String, linkpath: PathBuf },
    /// pivot_root(2)
    PivotRoot { new_root: PathBuf, put_old: PathBuf },
    /// chdir(2)
    Chdir { path: PathBuf },
    /// umask(2)
    Umask { mask: u32 },
    /// sethostname(2)
    Sethostname { name: String },
    /// ioctl(SIOCSIFFLAGS): set IFF_UP on a network interface.
    InterfaceUp { name: String },
    /// sigprocmask(SIG_SETMASK, {}): unblock every signal.
    UnblockAllSignals,
    /// signal(SIG, SIG_DFL) for every signal that can be caught.
    DefaultSignalActions,
    /// prctl(PR_SET_PDEATHSIG)
    ParentDeathSignal { signal: Signal },
    /// setgroups(2)
    Setgroups { gids: Vec<u32> },
    /// setgid(2)
    Setgid { gid: u32 },
    /// setuid(2)
    Setuid { uid: u32 },
    /// open(2) + write(2) of a short value, as `echo VALUE > PATH` would.
    WriteFile { path: PathBuf, value: String },
    /// execve(2): does not return when it succeeds.
    Execve {
        path: PathBuf,
        argv: Vec<String>,
        envp: Vec<String>,
    },
}

/// A call and the one-line reason it is made: what `--trace` prints after `#`.
#[derive(Debug, Clone)]
pub struct Step {
    pub call: Syscall,
    pub why: &'static str,
    /// What to look at when this call fails (printed after the errno).
    pub hint: Option<&'static str>,
}

impl Step {
    pub fn new(call: Syscall, why: &'static str) -> Step {
        Step {
            call,
            why,
            hint: None,
        }
    }

    pub fn hint(mut self, hint: &'static str) -> Step {
        self.hint = Some(hint);
        self
    }
}

fn cstr(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

fn cpath(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

impl Syscall {
    /// Makes the call. `Ok` carries the return value as strace would print it.
    pub fn perform(&self) -> Result<String, Errno> {
        use nix::unistd;
        match self {
            Syscall::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                nix::mount::mount(
                    source.as_deref(),
                    target,
                    fstype.as_deref(),
                    *flags,
                    data.as_deref(),
                )?;
            }
            Syscall::Umount2 { target, flags } => nix::mount::umount2(target, *flags)?,
            Syscall::Mkdir { path, mode } => {
                match unistd::mkdir(path, Mode::from_bits_truncate(*mode)) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) if path.is_dir() => {
                        return Ok("-1 EEXIST (already in the image: fine)".into())
                    }
                    Err(e) => return Err(e),
                }
            }
            Syscall::Rmdir { path } => {
                let p = cpath(path)?;
                // SAFETY: p is a valid NUL-terminated string for the call's duration.
                Errno::result(unsafe { libc::rmdir(p.as_ptr()) })?;
            }
            Syscall::MknodChar {
                path,
                mode,
                major,
                minor,
            } => nix::sys::stat::mknod(
                path.as_path(),
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(*mode),
                nix::sys::stat::makedev(*major, *minor),
            )?,
            Syscall::Symlink { target, linkpath } => {
                unistd::symlinkat(target.as_str(), nix::fcntl::AT_FDCWD, linkpath.as_path())?
            }
            Syscall::PivotRoot { new_root, put_old } => {
                unistd::pivot_root(new_root.as_path(), put_old.as_path())?
            }
            Syscall::Chdir { path } => unistd::chdir(path.as_path())?,
            Syscall::Umask { mask } => {
                let old = nix::sys::stat::umask(Mode::from_bits_truncate(*mask));
                return Ok(format!("{:04o}", old.bits()));
            }
            Syscall::Sethostname { name } => unistd::sethostname(name)?,
            Syscall::InterfaceUp { name } => crate::network::interface_up(name)?,
            Syscall::UnblockAllSignals => nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )?,
            Syscall::DefaultSignalActions => {
                for sig in Signal::iterator() {
                    if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
                        continue; // their action cannot be changed
                    }
                    // SAFETY: restoring the default action installs no handler code.
                    unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl)? };
                }
            }
            Syscall::ParentDeathSignal { signal } => nix::sys::prctl::set_pdeathsig(Some(*signal))?,
            Syscall::Setgroups { gids } => {
                let gids: Vec<unistd::Gid> =
                    gids.iter().map(|g| unistd::Gid::from_raw(*g)).collect();
                unistd::setgroups(&gids)?
            }
            Syscall::Setgid { gid } => unistd::setgid(unistd::Gid::from_raw(*gid))?,
            Syscall::Setuid { uid } => unistd::setuid(unistd::Uid::from_raw(*uid))?,
            Syscall::WriteFile { path, value } => std::fs::write(path, value)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?,
            Syscall::Execve { path, argv, envp } => {
                let path = cpath(path)?;
                let argv = argv
                    .iter()
                    .map(|a| cstr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let envp = envp
                    .iter()
                    .map(|e| cstr(e))
                    .collect::<Result<Vec<_>, _>>()?;
                // Only returns on failure.
                let err = unistd::execve(&path, &argv, &envp);
                return Err(err.err().unwrap_or(Errno::UnknownErrno));
            }
        }
        Ok("0".into())
    }

    /// Whether a successful call returns (execve does not: the trace line is
    /// printed before it is made).
    pub fn returns(&self) -> bool {
        !matches!(self, Syscall::Execve { .. })
    }
}

/// Renders flags as the man pages write them: `MS_REC|MS_PRIVATE`.
fn flag_names<I: Iterator<Item = (&'static str, T)>, T>(names: I) -> String {
    let v: Vec<&str> = names.map(|(n, _)| n).collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

fn quoted(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("{s:?}"),
        None => "NULL".into(),
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Syscall::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => write!(
                f,
                "mount({}, {:?}, {}, {}, {})",
                quoted(source.as_deref()),
                target,
                quoted(fstype.as_deref()),
                flag_names(flags.iter_names()),
                quoted(data.as_deref())
            ),
            Syscall::Umount2 { target, flags } => {
                write!(f, "umount2({target:?}, {})", flag_names(flags.iter_names()))
            }
            Syscall::Mkdir { path, mode } => write!(f, "mkdir({path:?}, {mode:04o})"),
            Syscall::Rmdir { path } => write!(f, "rmdir({path:?})"),
            Syscall::MknodChar {
                path,
                mode,
                major,
                minor,
            } => write!(
                f,
                "mknod({path:?}, S_IFCHR|{mode:04o}, makedev({major}, {minor}))"
            ),
            Syscall::Symlink { target, linkpath } => {
                write!(f, "symlink({target:?}, {linkpath:?})")
            }
            Syscall::PivotRoot { new_root, put_old } => {
                write!(f, "pivot_root({new_root:?}, {put_old:?})")
            }
            Syscall::Chdir { path } => write!(f, "chdir({path:?})"),
            Syscall::Umask { mask } => write!(f, "umask({mask:04o})"),
            Syscall::Sethostname { name } => write!(f, "sethostname({name:?})"),
            Syscall::InterfaceUp { name } => {
                write!(
                    f,
                    "ioctl(socket(AF_INET), SIOCSIFFLAGS, {{ifr_name={name:?}, IFF_UP}})"
                )
            }
            Syscall::UnblockAllSignals => write!(f, "sigprocmask(SIG_SETMASK, [], NULL)"),
            Syscall::DefaultSignalActions => write!(f, "signal(SIGHUP..SIGSYS, SIG_DFL)"),
            Syscall::ParentDeathSignal { signal } => {
                write!(f, "prctl(PR_SET_PDEATHSIG, {})", signal.as_str())
            }
            Syscall::Setgroups { gids } => write!(f, "setgroups({}, {gids:?})", gids.len()),
            Syscall::Setgid { gid } => write!(f, "setgid({gid})"),
            Syscall::Setuid { uid } => write!(f, "setuid({uid})"),
            Syscall::WriteFile { path, value } => write!(f, "write({path:?}, {value:?})"),
            Syscall::Execve { path, argv, envp } => {
                write!(f, "execve({path:?}, {argv:?}, [{} vars])", envp.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_man_pages() {
        let m = Syscall::Mount {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        };
        assert_eq!(
            m.to_string(),
            r#"mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)"#
        );
        let n = Syscall::MknodChar {
            path: "/r/dev/null".into(),
            mode: 0o666,
            major: 1,
            minor: 3,
        };
        assert_eq!(
            n.to_string(),
            r#"mknod("/r/dev/null", S_IFCHR|0666, makedev(1, 3))"#
        );
    }
}

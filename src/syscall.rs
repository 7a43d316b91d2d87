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
use std::sync::Arc;

use caps::Capability;

use crate::birth::netlink::Netlink;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag};

use crate::inroot;

/// Where a call acts on the filesystem.
#[derive(Debug, Clone)]
pub enum Place {
    /// A path of rd's own (its state root, the host's /dev/null): trusted.
    Host(PathBuf),
    /// `path` inside `root`, a tree the image controls: resolved with
    /// openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS), then acted on through
    /// the descriptor (see [`crate::inroot`]). A symlink on the way is ELOOP.
    InRoot { root: PathBuf, path: PathBuf },
}

impl Place {
    /// `path` inside `root`.
    pub fn in_root(root: &Path, path: impl AsRef<Path>) -> Place {
        Place::InRoot {
            root: root.to_path_buf(),
            path: Path::new("/").join(path.as_ref()),
        }
    }

    /// A descriptor of the place itself (O_PATH, no symlink followed), to
    /// act on it through /proc/self/fd (mount(2)) or with *at() calls.
    pub fn open(&self) -> Result<std::os::fd::OwnedFd, Errno> {
        match self {
            Place::Host(p) => inroot::target(Path::new("/"), p),
            Place::InRoot { root, path } => inroot::target(root, path),
        }
    }

    /// The parent directory's descriptor and the last component, for *at() calls.
    fn parent(&self) -> Result<(std::os::fd::OwnedFd, std::ffi::OsString), Errno> {
        match self {
            Place::Host(p) => {
                let name = p.file_name().ok_or(Errno::EINVAL)?.to_os_string();
                let dir = inroot::open_root(p.parent().unwrap_or(Path::new("/")))?;
                Ok((dir, name))
            }
            Place::InRoot { root, path } => inroot::parent_and_name(root, path),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Host(p) => write!(f, "{p:?}"),
            Place::InRoot { root, path } => write!(f, "in_root({root:?}, {path:?})"),
        }
    }
}

/// One kernel call, with the arguments it will be made with.
#[derive(Debug, Clone)]
pub enum Syscall {
    /// mount(2)
    Mount {
        source: Option<String>,
        target: Place,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    /// umount2(2)
    Umount2 { target: PathBuf, flags: MntFlags },
    /// mkdir(2); an existing directory is fine (images may ship /proc, /dev...).
    Mkdir { path: Place, mode: u32 },
    /// rmdir(2)
    Rmdir { path: PathBuf },
    /// mknod(2) for a character device.
    MknodChar {
        path: Place,
        mode: u32,
        major: u64,
        minor: u64,
    },
    /// open(2) with O_CREAT|O_EXCL: an empty file, for a bind mount to cover.
    CreateFile { path: Place, mode: u32 },
    /// symlink(2)
    Symlink { target: String, linkpath: Place },
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
    /// mount(2) of an overlay of a host directory (`--host-root`): upper and
    /// work made first; if overlayfs refuses the host's filesystem as a lower
    /// layer, a read-only bind instead, said on stderr.
    HostOverlay {
        lower: PathBuf,
        upper: PathBuf,
        work: PathBuf,
        target: Place,
        flags: MsFlags,
    },
    /// setrlimit(2): one resource's soft and hard limits (`--ulimit`).
    Setrlimit {
        limit: crate::birth::rlimits::Ulimit,
    },
    /// open(2) + write(2) of a short value, as `echo VALUE > PATH` would.
    WriteFile { path: PathBuf, value: String },
    /// unshare(2): new namespaces for the caller itself.
    Unshare { flags: CloneFlags },
    /// setsid(2): a new session, with no controlling terminal.
    Setsid,
    /// mount_setattr(2): MOUNT_ATTR_RDONLY on a mount (and, recursive, its
    /// submounts), every other attribute left as it is.
    SetReadOnly { target: Place, recursive: bool },
    /// unlinkat(2) of an entry if it is a symlink (nothing otherwise).
    UnlinkIfSymlink { path: Place },
    /// RTM_NEWLINK of a veth pair, the peer born in another namespace.
    Veth {
        name: String,
        peer: String,
        peer_netns: i32,
    },
    /// RTM_NEWLINK (set) of a host link: master BRIDGE, up, through a
    /// netlink socket opened in the host's namespace.
    AttachToBridge {
        socket: i32,
        link: String,
        bridge: String,
    },
    /// RTM_NEWADDR.
    AddAddress {
        link: String,
        addr: std::net::Ipv4Addr,
        prefix: u8,
    },
    /// RTM_NEWROUTE default via GATEWAY.
    DefaultRoute { gateway: std::net::Ipv4Addr },
    /// setns(2) through a pidfd, one namespace type at a time.
    Setns { pidfd: i32, nstype: CloneFlags },
    /// prctl(PR_SET_DUMPABLE, 0): no ptrace, no /proc/PID/mem, until execve.
    NotDumpable,
    /// close_range(2) from `first` up, sparing the descriptors rd itself
    /// still needs (close-on-exec: the error pipe, the console socket).
    CloseFrom { first: u32, keep: Vec<i32> },
    /// getcwd(2), refusing a working directory outside the root.
    RequireCwdInRoot,
    /// prctl(PR_SET_NO_NEW_PRIVS, 1)
    NoNewPrivs,
    /// seccomp(2) with a filter compiled from the profile (libseccomp).
    Seccomp {
        program: Arc<crate::security::seccomp::Program>,
    },
    /// prctl(PR_CAPBSET_DROP): out of the bounding set, for good.
    CapBsetDrop { cap: Capability },
    /// capset(2): the permitted (= effective) and inheritable sets.
    Capset {
        permitted: Vec<Capability>,
        inheritable: Vec<Capability>,
    },
    /// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    ClearAmbient,
    /// Hides a path: /dev/null bound over a file, an empty read-only tmpfs
    /// over a directory (two kinds of mount(2), chosen by what is there).
    Mask { path: PathBuf },
    /// Makes a path read-only: mount(2) MS_BIND onto itself, then a remount
    /// MS_BIND|MS_REMOUNT|MS_RDONLY that keeps its nosuid/nodev/noexec.
    ReadOnly { path: PathBuf },
    /// The container's terminal: open /dev/ptmx in its own devpts, the peer
    /// (ioctl TIOCGPTPEER) becomes the controlling terminal (TIOCSCTTY) and
    /// stdin/out/err (dup2); the master goes to rd over `socket` (SCM_RIGHTS).
    Console { socket: i32, uid: u32, gid: u32 },
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

/// An entry that mkdirat/openat(O_EXCL) found already there: fine if it is
/// of the kind wanted, ELOOP if it is a symlink (never followed), `wrong`
/// for anything else.
fn already_there(
    dir: &std::os::fd::OwnedFd,
    name: &std::ffi::OsStr,
    want: SFlag,
    wrong: Errno,
) -> Result<String, Errno> {
    let st = nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    match st.st_mode & SFlag::S_IFMT.bits() {
        m if m == want.bits() => Ok("-1 EEXIST (already in the image: fine)".into()),
        m if m == SFlag::S_IFLNK.bits() => Err(Errno::ELOOP),
        _ => Err(wrong),
    }
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
            } => match target {
                Place::Host(p) => nix::mount::mount(
                    source.as_deref(),
                    p,
                    fstype.as_deref(),
                    *flags,
                    data.as_deref(),
                )?,
                Place::InRoot { root, path } => {
                    let fd = inroot::target(root, path)?;
                    nix::mount::mount(
                        source.as_deref(),
                        inroot::fd_path(&fd).as_str(),
                        fstype.as_deref(),
                        *flags,
                        data.as_deref(),
                    )?
                }
            },
            Syscall::HostOverlay {
                lower,
                upper,
                work,
                target,
                flags,
            } => crate::birth::host_root::overlay_or_read_only(lower, upper, work, target, *flags)?,
            Syscall::Umount2 { target, flags } => nix::mount::umount2(target, *flags)?,
            Syscall::Mkdir { path, mode } => {
                let (dir, name) = path.parent()?;
                match nix::sys::stat::mkdirat(
                    &dir,
                    name.as_os_str(),
                    Mode::from_bits_truncate(*mode),
                ) {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => {
                        return already_there(&dir, &name, SFlag::S_IFDIR, Errno::ENOTDIR)
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
            } => {
                let (dir, name) = path.parent()?;
                nix::sys::stat::mknodat(
                    &dir,
                    name.as_os_str(),
                    SFlag::S_IFCHR,
                    Mode::from_bits_truncate(*mode),
                    nix::sys::stat::makedev(*major, *minor),
                )?
            }
            Syscall::CreateFile { path, mode } => {
                let (dir, name) = path.parent()?;
                match nix::fcntl::openat(
                    &dir,
                    name.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(*mode),
                ) {
                    Ok(_) => {}
                    Err(Errno::EEXIST) => {
                        return already_there(&dir, &name, SFlag::S_IFREG, Errno::EISDIR)
                    }
                    Err(e) => return Err(e),
                }
            }
            Syscall::UnlinkIfSymlink { path } => {
                let (dir, name) = path.parent()?;
                match nix::sys::stat::fstatat(
                    &dir,
                    name.as_os_str(),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits() => {
                        nix::unistd::unlinkat(
                            &dir,
                            name.as_os_str(),
                            nix::unistd::UnlinkatFlags::NoRemoveDir,
                        )?;
                        return Ok("0 (it was a symlink)".into());
                    }
                    Ok(_) | Err(Errno::ENOENT) => return Ok("-1 (not a symlink: kept)".into()),
                    Err(e) => return Err(e),
                }
            }
            Syscall::SetReadOnly { target, recursive } => {
                crate::birth::volumes::set_read_only(&target.open()?, *recursive)?;
            }
            Syscall::Symlink { target, linkpath } => {
                let (dir, name) = linkpath.parent()?;
                unistd::symlinkat(target.as_str(), &dir, name.as_os_str())?
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
            Syscall::InterfaceUp { name } => crate::birth::network::interface_up(name)?,
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
            Syscall::Setrlimit { limit } => {
                let resource = limit.resource().ok_or(Errno::EINVAL)?;
                nix::sys::resource::setrlimit(resource, limit.soft, limit.hard)?
            }
            Syscall::WriteFile { path, value } => std::fs::write(path, value)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?,
            Syscall::Unshare { flags } => nix::sched::unshare(*flags)?,
            Syscall::Setsid => {
                let sid = unistd::setsid()?;
                return Ok(sid.to_string());
            }
            Syscall::CloseFrom { first, keep } => crate::security::fds::close_from(*first, keep)?,
            Syscall::RequireCwdInRoot => return crate::security::fds::require_cwd_in_root(),
            Syscall::NoNewPrivs => nix::sys::prctl::set_no_new_privs()?,
            Syscall::Setns { pidfd, nstype } => {
                // SAFETY: setns takes a descriptor and a flag; no memory.
                Errno::result(unsafe { libc::setns(*pidfd, nstype.bits()) })?;
            }
            Syscall::NotDumpable => nix::sys::prctl::set_dumpable(false)?,
            Syscall::Veth {
                name,
                peer,
                peer_netns,
            } => Netlink::open()?.add_veth(name, peer, *peer_netns)?,
            Syscall::AttachToBridge {
                socket,
                link,
                bridge,
            } => {
                // SAFETY: rd opened this socket before clone and keeps it
                // open; into_raw_fd below gives it back unclosed.
                let mut nl = unsafe { Netlink::from_fd(*socket) };
                let result = (|| {
                    let index = nl.index(link)?;
                    let master = nl.index(bridge)?;
                    nl.set_up(index, Some(master))
                })();
                nl.into_raw_fd();
                result?
            }
            Syscall::AddAddress { link, addr, prefix } => {
                let mut nl = Netlink::open()?;
                let index = nl.index(link)?;
                nl.add_address(index, *addr, *prefix)?
            }
            Syscall::DefaultRoute { gateway } => Netlink::open()?.add_default_route(*gateway)?,
            Syscall::Seccomp { program } => crate::security::seccomp::load(program)?,
            Syscall::CapBsetDrop { cap } => {
                caps::drop(None, caps::CapSet::Bounding, *cap).map_err(|_| Errno::last())?
            }
            Syscall::Capset {
                permitted,
                inheritable,
            } => crate::security::capabilities::set(permitted, inheritable)?,
            Syscall::ClearAmbient => {
                caps::clear(None, caps::CapSet::Ambient).map_err(|_| Errno::last())?
            }
            Syscall::Mask { path } => return crate::security::masks::mask(path),
            Syscall::ReadOnly { path } => return crate::security::masks::read_only(path),
            Syscall::Console { socket, uid, gid } => {
                return crate::security::terminal::console_in_child(*socket, *uid, *gid)
            }
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

    /// Whether the call resolves a path inside a root the image controls.
    pub fn in_root(&self) -> bool {
        let place = match self {
            Syscall::Mount { target, .. } => target,
            Syscall::Mkdir { path, .. }
            | Syscall::MknodChar { path, .. }
            | Syscall::CreateFile { path, .. } => path,
            Syscall::Symlink { linkpath, .. } => linkpath,
            Syscall::UnlinkIfSymlink { path } => path,
            Syscall::SetReadOnly { target, .. } => target,
            Syscall::HostOverlay { target, .. } => target,
            Syscall::Mask { .. } | Syscall::ReadOnly { .. } => return true,
            _ => return false,
        };
        matches!(place, Place::InRoot { .. })
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
                "mount({}, {}, {}, {}, {})",
                quoted(source.as_deref()),
                target,
                quoted(fstype.as_deref()),
                flag_names(flags.iter_names()),
                quoted(data.as_deref())
            ),
            Syscall::HostOverlay {
                lower,
                upper,
                work,
                target,
                flags,
            } => write!(
                f,
                "mount(\"overlay\", {target}, \"overlay\", {}, \"lowerdir={},upperdir={},workdir={}\")",
                flag_names(flags.iter_names()),
                lower.display(),
                upper.display(),
                work.display()
            ),
            Syscall::Umount2 { target, flags } => {
                write!(f, "umount2({target:?}, {})", flag_names(flags.iter_names()))
            }
            Syscall::Mkdir { path, mode } => write!(f, "mkdir({path}, {mode:04o})"),
            Syscall::Rmdir { path } => write!(f, "rmdir({path:?})"),
            Syscall::MknodChar {
                path,
                mode,
                major,
                minor,
            } => write!(
                f,
                "mknod({path}, S_IFCHR|{mode:04o}, makedev({major}, {minor}))"
            ),
            Syscall::CreateFile { path, mode } => {
                write!(f, "open({path}, O_CREAT|O_EXCL|O_NOFOLLOW, {mode:04o})")
            }
            Syscall::Symlink { target, linkpath } => {
                write!(f, "symlink({target:?}, {linkpath})")
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
            Syscall::Setrlimit { limit } => {
                let value = |v: u64| {
                    if v == crate::birth::rlimits::UNLIMITED {
                        "RLIM_INFINITY".to_string()
                    } else {
                        v.to_string()
                    }
                };
                write!(
                    f,
                    "setrlimit(RLIMIT_{}, {{soft {}, hard {}}})",
                    limit.name.to_ascii_uppercase(),
                    value(limit.soft),
                    value(limit.hard)
                )
            }
            Syscall::WriteFile { path, value } => write!(f, "write({path:?}, {value:?})"),
            Syscall::Unshare { flags } => {
                write!(f, "unshare({})", flag_names(flags.iter_names()))
            }
            Syscall::Setsid => write!(f, "setsid()"),
            Syscall::CloseFrom { first, keep } => {
                write!(f, "close_range({first}, ~0U, 0) sparing rd's own {keep:?}")
            }
            Syscall::RequireCwdInRoot => write!(f, "getcwd() inside the root"),
            Syscall::NoNewPrivs => write!(f, "prctl(PR_SET_NO_NEW_PRIVS, 1)"),
            Syscall::SetReadOnly { target, recursive } => write!(
                f,
                "mount_setattr({target}, {}, {{attr_set=MOUNT_ATTR_RDONLY}})",
                if *recursive { "AT_EMPTY_PATH|AT_RECURSIVE" } else { "AT_EMPTY_PATH" }
            ),
            Syscall::UnlinkIfSymlink { path } => write!(f, "unlinkat({path}, 0) if a symlink"),
            Syscall::Setns { nstype, .. } => {
                write!(f, "setns(pidfd, {})", flag_names(nstype.iter_names()))
            }
            Syscall::NotDumpable => write!(f, "prctl(PR_SET_DUMPABLE, 0)"),
            Syscall::Veth { name, peer, .. } => {
                write!(f, "RTM_NEWLINK {name} type veth peer {peer} netns <host>")
            }
            Syscall::AttachToBridge { link, bridge, .. } => {
                write!(f, "RTM_NEWLINK {link} master {bridge} up (in the host's namespace)")
            }
            Syscall::AddAddress { link, addr, prefix } => {
                write!(f, "RTM_NEWADDR {addr}/{prefix} dev {link}")
            }
            Syscall::DefaultRoute { gateway } => write!(f, "RTM_NEWROUTE default via {gateway}"),
            Syscall::Seccomp { program } => write!(
                f,
                "seccomp(SECCOMP_SET_MODE_FILTER, 0, {{{}}})",
                program.summary
            ),
            Syscall::CapBsetDrop { cap } => write!(f, "prctl(PR_CAPBSET_DROP, {cap})"),
            Syscall::Capset {
                permitted,
                inheritable,
            } => write!(
                f,
                "capset(effective=permitted={}, inheritable={})",
                crate::security::capabilities::names(permitted),
                crate::security::capabilities::names(inheritable)
            ),
            Syscall::ClearAmbient => write!(f, "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)"),
            Syscall::Mask { path } => write!(
                f,
                "mount(\"/dev/null\" or \"tmpfs\", in_root(\"/\", {path:?}), MS_BIND or MS_RDONLY)"
            ),
            Syscall::ReadOnly { path } => write!(
                f,
                "mount({path:?}, in_root(\"/\", {path:?}), NULL, MS_BIND|MS_REC) + remount MS_RDONLY"
            ),
            Syscall::Console { socket, .. } => write!(
                f,
                "open(\"/dev/ptmx\") + ioctl(TIOCGPTPEER) + ioctl(TIOCSCTTY) + dup2(0,1,2) + sendmsg({socket}, SCM_RIGHTS)"
            ),
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
            target: Place::Host("/".into()),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        };
        assert_eq!(
            m.to_string(),
            r#"mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)"#
        );
        let n = Syscall::MknodChar {
            path: Place::Host("/r/dev/null".into()),
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

//! The network namespace: a new one holds a single interface, `lo`, and it
//! starts DOWN. See network_namespaces(7) and netdevice(7).

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::syscall::{Step, Syscall};

/// `--network`: which network stack the container gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum NetworkMode {
    /// A new, empty network namespace with only `lo` (level 07's lesson).
    None,
    /// A new namespace plugged into the bridge rd0 (see [`super::bridge`]):
    /// the default, as in docker.
    #[default]
    Bridge,
    /// The host's own stack: no network namespace at all.
    Host,
    /// Another container's network namespace, joined with setns(2).
    Container(String),
}

impl NetworkMode {
    /// Whether clone(2) makes a new network namespace for the container.
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Bridge)
    }
}

impl From<NetworkMode> for String {
    fn from(m: NetworkMode) -> String {
        match m {
            NetworkMode::None => "none".into(),
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// Parses `--network none|host|container:NAME`.
pub fn parse_mode(text: &str) -> Result<NetworkMode, String> {
    match text {
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        "bridge" | "default" => Ok(NetworkMode::Bridge),
        _ => match text.strip_prefix("container:") {
            Some(c) if !c.is_empty() => Ok(NetworkMode::Container(c.to_string())),
            _ => Err(format!(
                "'{text}' is not a network mode: none, bridge, host or container:NAME"
            )),
        },
    }
}

/// `--network container:C`: the child joins C's network namespace through
/// a pidfd of C's init, before anything else depends on the network.
pub fn join_container(pidfd: i32) -> Step {
    Step::new(
        Syscall::Setns {
            pidfd,
            nstype: nix::sched::CloneFlags::CLONE_NEWNET,
        },
        "--network container:C: C's interfaces, addresses and ports are this container's too",
    )
}

pub fn bring_up_loopback() -> Step {
    Step::new(
        Syscall::InterfaceUp { name: "lo".into() },
        "a new network namespace has only lo, and it is down: 127.0.0.1 needs it up",
    )
}

/// SIOCGIFFLAGS then SIOCSIFFLAGS with IFF_UP, on any socket of the
/// namespace: two ioctls, simpler than a netlink dependency for one flag.
pub fn interface_up(name: &str) -> Result<(), Errno> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(Errno::EINVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name; the kernel
    // reads and writes only within it.
    unsafe {
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req))?;
    }
    Ok(())
}

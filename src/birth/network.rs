//! The network namespace: a new one holds a single interface, `lo`, and it
//! starts DOWN. See network_namespaces(7) and netdevice(7).

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::syscall::{Step, Syscall};

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

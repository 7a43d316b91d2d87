//! The terminal: the container gets its own session, and its own
//! pseudo-terminal when there is a person at the keyboard. See pty(7),
//! credentials(7) ("sessions"), ioctl_tty(2).
//!
//! A terminal is a door into the shell that owns it. With TIOCSTI a process
//! can push bytes into a terminal's *input*, as if typed: a container that
//! shares the caller's terminal and session could queue `rm -rf ~` for the
//! caller's shell to run after rd exits. Two defences:
//! * the container always starts in a session of its own (setsid(2)), so
//!   the caller's terminal is not its controlling terminal, and TIOCSTI on
//!   it needs CAP_SYS_ADMIN, which the container does not have;
//! * with `-t` (the default when stdin and stdout are terminals) it does
//!   not touch the caller's terminal at all: it gets a pseudo-terminal of
//!   its own devpts instance. rd puts the caller's terminal in raw mode and
//!   relays bytes both ways; the container's line discipline handles Ctrl-C,
//!   job control and echo, as a terminal emulator's would.
//!
//! The pty is made *inside* the container (its /dev/ptmx, after pivot_root),
//! as runc does: the container never holds a descriptor of the host's devpts,
//! and `tty` in it names /dev/pts/0. The master side travels to rd over a
//! socketpair (SCM_RIGHTS, unix(7)).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

nix::ioctl_write_int_bad!(tiocsctty, libc::TIOCSCTTY);
nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Does the caller sit at a terminal (stdin and stdout both ttys)?
pub fn caller_has_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        && nix::unistd::isatty(std::io::stdout()).unwrap_or(false)
}

/// In the container, after pivot_root: make a pty in its own devpts, make
/// it the controlling terminal and stdio, hand the master to rd.
pub fn console_in_child(socket: RawFd, uid: u32, gid: u32) -> Result<String, Errno> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::unlockpt(&master)?;
    // TIOCGPTPEER opens the peer through the master itself: no path lookup
    // of /dev/pts/N that something could have swapped (ioctl_tty(2)).
    // SAFETY: an ioctl that returns a new descriptor or -1.
    let peer = Errno::result(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    })?;
    // SAFETY: `peer` is a descriptor we now own.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    let name = nix::pty::ptsname_r(&master).unwrap_or_else(|_| "/dev/pts/?".into());
    // The user owns their terminal (as login(1) would arrange).
    nix::unistd::fchown(&peer, Some(uid.into()), Some(gid.into()))?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    unsafe { tiocsctty(peer.as_raw_fd(), 0) }?;
    for fd in 0..3 {
        // SAFETY: dup2 onto stdio; the old ones are closed by it.
        Errno::result(unsafe { libc::dup2(peer.as_raw_fd(), fd) })?;
    }
    drop(peer);
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(b"pty")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    // SAFETY: the socket is ours and nothing else uses it after this.
    unsafe { libc::close(socket) };
    Ok(format!("0 ({name})"))
}

/// rd's side: the master, once the child has sent it (None if the child
/// closed the socket without sending, i.e. it failed before).
pub fn receive_master(socket: BorrowedFd) -> Option<OwnedFd> {
    let mut buf = [0u8; 8];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just gave us this descriptor.
            return fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    None
}

/// The caller's terminal in raw mode for as long as this lives: every key
/// goes to the container as typed, and its line discipline does the rest.
/// Dropped on every path out of rd (return, error, panic), which restores
/// the terminal as it was.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copies the caller's window size to the container's terminal (at start,
/// and on each SIGWINCH): full-screen programs draw to fit.
pub fn copy_window_size(master: BorrowedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize; TIOCSWINSZ reads one.
    unsafe {
        if tiocgwinsz(libc::STDIN_FILENO, &mut ws).is_ok() {
            let _ = tiocswinsz(master.as_raw_fd(), &ws);
        }
    }
}

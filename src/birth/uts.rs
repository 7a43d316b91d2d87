//! The UTS namespace: the container's own hostname. See uts_namespaces(7).
//! (UTS is "UNIX Time-sharing System", the struct utsname of uname(2).)

use crate::syscall::{Step, Syscall};

pub fn set_hostname(name: &str) -> Step {
    Step::new(
        Syscall::Sethostname { name: name.into() },
        "only this UTS namespace sees the new name; the host keeps its own",
    )
}

//! Resource limits, setrlimit(2): `--ulimit nofile=64:128`.
//!
//! An rlimit belongs to a process, not to a cgroup: each process has a soft
//! limit (what the kernel enforces) and a hard limit (the ceiling the soft
//! one may be raised to without CAP_SYS_RESOURCE), and a child inherits
//! both across fork(2) and keeps them across execve(2). So rd sets them in
//! the container's process just before exec, and `rd exec` sets the same
//! ones in each process it starts. Raising a hard limit needs
//! CAP_SYS_RESOURCE, which the container's root no longer holds after its
//! capabilities are cut: rd sets them before.
//!
//! Most limits count per process (nofile, stack, as, core...). Two do not:
//! nproc counts every process of the *real uid*, on the whole host, and
//! msgqueue and sigpending are per user too. `--ulimit nproc=` in a
//! container whose user is shared with the host counts the host's
//! processes as well (docker documents the same pitfall): `--pids-limit`,
//! a cgroup's count, is the container's own.

use nix::sys::resource::Resource;
use serde::{Deserialize, Serialize};

/// docker's names (`docker run --ulimit`), each with its resource and
/// what it limits. (locks is accepted, as docker does, though the kernel
/// has ignored it since 2.4.)
const NAMES: [(&str, Resource, &str); 16] = [
    ("as", Resource::RLIMIT_AS, "address space, bytes"),
    ("core", Resource::RLIMIT_CORE, "core file size, bytes"),
    (
        "cpu",
        Resource::RLIMIT_CPU,
        "CPU time, seconds (SIGXCPU, then SIGKILL)",
    ),
    ("data", Resource::RLIMIT_DATA, "data segment, bytes"),
    (
        "fsize",
        Resource::RLIMIT_FSIZE,
        "file size, bytes (SIGXFSZ)",
    ),
    ("locks", Resource::RLIMIT_LOCKS, "file locks"),
    ("memlock", Resource::RLIMIT_MEMLOCK, "locked memory, bytes"),
    (
        "msgqueue",
        Resource::RLIMIT_MSGQUEUE,
        "POSIX message queues, bytes, per user",
    ),
    (
        "nice",
        Resource::RLIMIT_NICE,
        "ceiling of the nice value, as 20 - nice",
    ),
    ("nofile", Resource::RLIMIT_NOFILE, "open file descriptors"),
    (
        "nproc",
        Resource::RLIMIT_NPROC,
        "processes of the real uid, host-wide",
    ),
    (
        "rss",
        Resource::RLIMIT_RSS,
        "resident memory (ignored by Linux)",
    ),
    ("rtprio", Resource::RLIMIT_RTPRIO, "real-time priority"),
    (
        "rttime",
        Resource::RLIMIT_RTTIME,
        "real-time CPU time, microseconds",
    ),
    (
        "sigpending",
        Resource::RLIMIT_SIGPENDING,
        "queued signals, per user",
    ),
    ("stack", Resource::RLIMIT_STACK, "stack size, bytes"),
];

/// One `--ulimit NAME=SOFT[:HARD]`, as stored in the container's record
/// (for `rd exec`) and applied before exec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// RLIM_INFINITY, what `unlimited` and -1 mean.
pub const UNLIMITED: u64 = nix::libc::RLIM_INFINITY;

impl Ulimit {
    /// The kernel's resource for this name (parse() only accepts known ones).
    pub fn resource(&self) -> Option<Resource> {
        NAMES
            .iter()
            .find(|(n, _, _)| *n == self.name)
            .map(|(_, r, _)| *r)
    }

    /// `nofile=64:128`, `core=unlimited`, as `ulimit` would say them.
    pub fn display(&self) -> String {
        let value = |v: u64| {
            if v == UNLIMITED {
                "unlimited".to_string()
            } else {
                v.to_string()
            }
        };
        format!("{}={}:{}", self.name, value(self.soft), value(self.hard))
    }
}

/// The names, for messages and --help.
pub fn names() -> String {
    NAMES
        .iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `NAME=SOFT[:HARD]` (docker's form): SOFT and HARD are whole numbers, or
/// `unlimited` (or -1); HARD defaults to SOFT; SOFT may not exceed HARD.
pub fn parse(text: &str) -> Result<Ulimit, String> {
    let Some((name, values)) = text.split_once('=') else {
        return Err(format!(
            "'{text}' is not NAME=SOFT[:HARD] (e.g. nofile=1024:2048)"
        ));
    };
    let name = name.trim().to_ascii_lowercase();
    if !NAMES.iter().any(|(n, _, _)| *n == name) {
        return Err(format!("'{name}' is not a ulimit: use one of {}", names()));
    }
    let number = |v: &str| -> Result<u64, String> {
        match v.trim() {
            "unlimited" | "-1" => Ok(UNLIMITED),
            v => v.parse::<u64>().map_err(|_| {
                format!("'{v}' is not a limit for {name}: a whole number, or unlimited")
            }),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((soft, hard)) => (number(soft)?, number(hard)?),
        None => {
            let v = number(values)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(format!(
            "{name}: the soft limit {soft} is above the hard limit {hard}: the soft one is enforced, the hard one is its ceiling"
        ));
    }
    Ok(Ulimit { name, soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_forms() {
        let u = parse("nofile=64").unwrap();
        assert_eq!((u.soft, u.hard), (64, 64));
        assert_eq!(u.resource(), Some(Resource::RLIMIT_NOFILE));
        let u = parse("NOFILE=64:128").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 64, 128));
        let u = parse("core=unlimited").unwrap();
        assert_eq!((u.soft, u.hard), (UNLIMITED, UNLIMITED));
        assert_eq!(parse("core=0:-1").unwrap().display(), "core=0:unlimited");
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert!(parse("nofiles=64").unwrap_err().contains("one of as, core"));
        assert!(parse("nofile").unwrap_err().contains("NAME=SOFT[:HARD]"));
        assert!(parse("nofile=lots").unwrap_err().contains("whole number"));
        assert!(parse("nofile=128:64")
            .unwrap_err()
            .contains("above the hard"));
        assert!(parse("nofile=unlimited:64").is_err());
    }
}

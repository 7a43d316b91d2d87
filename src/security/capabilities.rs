//! Capabilities: root's power, cut into ~40 pieces. See capabilities(7).
//!
//! The kernel does not check "is this uid 0?" but "does this thread hold
//! CAP_X?". A container keeps docker's default 14 (enough for a package
//! manager, a web server on port 80, chown, ping) and loses the rest: above
//! all CAP_SYS_ADMIN (mount, most of the kernel's admin interfaces),
//! CAP_SYS_MODULE, CAP_SYS_RAWIO and CAP_SYS_PTRACE.
//!
//! The sets, and why each is set the way it is:
//! * **bounding**: the ceiling for anything gained at execve(2), a setuid-root
//!   binary included. Dropped with PR_CAPBSET_DROP, one capability at a
//!   time, and never raised again. This is what makes a setuid binary under
//!   `--user 1000` regain at most the default 14.
//! * **permitted** and **effective**: what the thread may use now. Root's
//!   become the kept set (capset(2)); a non-root `--user` gets empty ones,
//!   which the kernel does itself when setuid(2) leaves uid 0.
//! * **inheritable**: the kept set for root (docker's default), empty for a
//!   non-root user, so that a file with inheritable file capabilities
//!   cannot hand them to an unprivileged user (CVE-2022-24769).
//! * **ambient**: cleared; nothing is handed on to non-setuid programs.

use caps::{CapSet, Capability};
use nix::errno::Errno;

use crate::syscall::{Step, Syscall};

/// Docker's default set (moby's oci/caps/defaults.go), in the kernel's order.
pub const DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_NET_RAW,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_MKNOD,
    Capability::CAP_AUDIT_WRITE,
    Capability::CAP_SETFCAP,
];

/// Every capability this kernel knows: what the bounding set is cut from.
pub fn supported() -> Vec<Capability> {
    let mut all: Vec<Capability> = caps::runtime::procfs_all_supported(None)
        .unwrap_or_else(|_| caps::all())
        .into_iter()
        .collect();
    all.sort_by_key(|c| c.index());
    all
}

/// The capabilities rd itself holds (its permitted set): "all" for a
/// container can be no more than that. (Root in a VM or in another
/// container may lack some, CAP_SYS_RESOURCE for instance.)
pub fn held() -> Vec<Capability> {
    let mut held: Vec<Capability> = caps::read(None, CapSet::Permitted)
        .unwrap_or_default()
        .into_iter()
        .collect();
    held.sort_by_key(|c| c.index());
    held
}

/// Parses docker's names: `SYS_ADMIN`, `CAP_SYS_ADMIN`, `sys_admin`, or `ALL`
/// (`None`).
pub fn parse(name: &str) -> Result<Option<Capability>, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse::<Capability>().map(Some).map_err(|_| {
        format!("'{name}' is not a capability: use docker's names (NET_ADMIN, SYS_PTRACE, ...) or ALL; see capabilities(7)")
    })
}

/// `CHOWN|KILL|…` for the trace.
pub fn names(list: &[Capability]) -> String {
    if list.is_empty() {
        return "0".into();
    }
    list.iter()
        .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// Why a container loses a capability: the one-line reason `--trace` prints.
fn why_dropped(cap: Capability) -> &'static str {
    use Capability::*;
    match cap {
        CAP_SYS_ADMIN => "mount, swapon, sethostname on the host's behalf…: the catch-all of kernel administration",
        CAP_SYS_MODULE => "root in here must not load code into the host's kernel",
        CAP_SYS_RAWIO => "raw I/O ports and /dev/mem: the host's hardware",
        CAP_SYS_PTRACE => "ptrace and /proc/PID/mem of any process it can see",
        CAP_SYS_BOOT => "reboot(2) restarts the whole machine, not the container",
        CAP_SYS_TIME => "the clock is not namespaced: setting it sets the host's",
        CAP_SYS_NICE => "real-time priorities could starve the host's processes",
        CAP_SYS_RESOURCE => "overriding resource limits and quotas",
        CAP_SYS_PACCT => "process accounting is host-wide",
        CAP_SYS_TTY_CONFIG => "vhangup and the host's virtual terminals",
        CAP_SYSLOG => "the kernel log (dmesg) shows the host's addresses and events",
        CAP_NET_ADMIN => "firewall, routes and interfaces (of its own netns, but a large kernel surface)",
        CAP_NET_BROADCAST => "broadcast and multicast listening",
        CAP_IPC_LOCK => "locking memory the host cannot reclaim",
        CAP_IPC_OWNER => "bypassing System V IPC permissions",
        CAP_LINUX_IMMUTABLE => "changing immutable and append-only files",
        CAP_DAC_READ_SEARCH => "open_by_handle_at(2) walks the host's filesystems (the shocker exploit)",
        CAP_LEASE => "file leases on files it does not own",
        CAP_AUDIT_CONTROL => "the kernel's audit rules are host-wide",
        CAP_AUDIT_READ => "reading the host's audit log",
        CAP_MAC_ADMIN | CAP_MAC_OVERRIDE => "AppArmor/SELinux policy is the host's",
        CAP_WAKE_ALARM => "timers that wake the host from suspend",
        CAP_BLOCK_SUSPEND => "keeping the host from suspending",
        CAP_PERFMON => "performance counters observe the whole machine",
        CAP_BPF => "BPF programs run in the host's kernel",
        CAP_CHECKPOINT_RESTORE => "checkpoint/restore powers over other processes",
        _ => "not in docker's default set",
    }
}

/// Drops every capability not in `keep` from the bounding set: the
/// ceiling for anything an execve(2) can give, setuid-root binaries included.
pub fn bounding_steps(keep: &[Capability]) -> Vec<Step> {
    supported()
        .into_iter()
        .filter(|c| !keep.contains(c))
        .map(|cap| Step::new(Syscall::CapBsetDrop { cap }, why_dropped(cap)))
        .collect()
}

/// After the user switch: the kept set for root, nothing for anyone else;
/// no ambient capabilities.
pub fn final_steps(keep: &[Capability], root: bool) -> Vec<Step> {
    let kept = if root { keep.to_vec() } else { vec![] };
    vec![
        Step::new(
            Syscall::Capset {
                permitted: kept.clone(),
                inheritable: kept,
            },
            if root {
                "root keeps only these; the bounding set already caps what execve can give back"
            } else {
                "a non-root user starts with none (setuid already cleared them); a setuid binary regains at most the bounding set"
            },
        ),
        Step::new(
            Syscall::ClearAmbient,
            "ambient capabilities would pass to every program it execs: none",
        ),
    ]
}

/// capset(2) for the calling thread: permitted = effective = `permitted`.
pub fn set(permitted: &[Capability], inheritable: &[Capability]) -> Result<(), Errno> {
    let p: caps::CapsHashSet = permitted.iter().copied().collect();
    let i: caps::CapsHashSet = inheritable.iter().copied().collect();
    // Effective first (it must stay within permitted), then inheritable
    // (within permitted plus bounding), then permitted itself.
    caps::set(None, CapSet::Effective, &p).map_err(|_| Errno::last())?;
    caps::set(None, CapSet::Inheritable, &i).map_err(|_| Errno::last())?;
    caps::set(None, CapSet::Permitted, &p).map_err(|_| Errno::last())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names() {
        assert_eq!(parse("SYS_ADMIN"), Ok(Some(Capability::CAP_SYS_ADMIN)));
        assert_eq!(parse("cap_net_raw"), Ok(Some(Capability::CAP_NET_RAW)));
        assert_eq!(parse("all"), Ok(None));
        assert!(parse("SYS_WIZARD")
            .unwrap_err()
            .contains("not a capability"));
        assert_eq!(names(&DEFAULT[..2]), "CHOWN|DAC_OVERRIDE");
    }
}

//! What stops root in a container from reaching the host.
//!
//! Namespaces give the container its own *view* of the system; they do not
//! take away root's *powers*. A root process in a fresh mount namespace can
//! still write /proc/sys/kernel/core_pattern (the kernel runs that program
//! as root on the host), mount the host's cgroup tree, mknod a device of the
//! host's disks, load a kernel module, or push keystrokes into the caller's
//! terminal. Each module here removes one such power, as a step of the
//! birth, in the order production runtimes use (runc, youki): after the
//! mounts and pivot_root, then
//!
//! | step | module | what it stops |
//! |------|--------|---------------|
//! | masked and read-only paths | `masks` | /proc/sys, /proc/kcore, /sys/firmware… |
//! | the container's terminal and session | `terminal` | TIOCSTI into the caller's terminal |
//! | close descriptors, check the working directory | `fds` | a caller's fd leading out of the root |
//! | no_new_privs | (prctl) | setuid binaries gaining privilege |
//! | seccomp | `seccomp` | keyctl, bpf, mount, user namespaces, foreign ABIs… |
//! | capabilities | `capabilities` | everything root may do that the 14 kept ones do not cover |
//!
//! `--privileged` turns them off (all capabilities, no seccomp, no masks,
//! every device creatable, no working-directory check): the control a
//! teacher uses to show what each defence stops.

pub mod capabilities;
pub mod fds;
pub mod masks;
pub mod seccomp;
pub mod terminal;

use std::sync::Arc;

use caps::Capability;

/// The defences a container runs with (`rd run`'s security flags).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// Every defence off.
    pub privileged: bool,
    /// --cap-add, --cap-drop: docker's names; `None` stands for ALL.
    pub cap_add: Vec<Option<Capability>>,
    pub cap_drop: Vec<Option<Capability>>,
    /// --security-opt no-new-privileges
    pub no_new_privileges: bool,
    /// --security-opt seccomp=unconfined (None) or seccomp=FILE.json.
    pub seccomp: SeccompChoice,
    /// --preserve-fds N: descriptors 3 .. 3+N pass into the container.
    pub preserve_fds: u32,
}

/// Which seccomp filter, if any.
#[derive(Debug, Clone, Default)]
pub enum SeccompChoice {
    /// rd's own profile (`seccomp::Profile::default_profile`).
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in docker's JSON format.
    Profile(Arc<seccomp::Profile>),
}

impl Security {
    /// The capabilities the container keeps (bounding, permitted, effective).
    pub fn capabilities(&self) -> Vec<Capability> {
        if self.privileged {
            return capabilities::held();
        }
        let mut keep: Vec<Capability> = capabilities::DEFAULT.to_vec();
        if self.cap_drop.contains(&None) {
            keep.clear();
        }
        keep.retain(|c| !self.cap_drop.contains(&Some(*c)));
        if self.cap_add.contains(&None) {
            keep = capabilities::held();
        }
        for c in self.cap_add.iter().flatten() {
            if !keep.contains(c) {
                keep.push(*c);
            }
        }
        // Nothing rd does not hold itself: capset(2) could not grant it.
        let held = capabilities::held();
        keep.retain(|c| held.contains(c));
        keep.sort_by_key(|c| c.index());
        keep
    }

    /// The seccomp profile to load, if any.
    pub fn seccomp_profile(&self) -> Option<Arc<seccomp::Profile>> {
        if self.privileged {
            return None;
        }
        match &self.seccomp {
            SeccompChoice::Default => Some(Arc::new(seccomp::Profile::default_profile())),
            SeccompChoice::Unconfined => None,
            SeccompChoice::Profile(p) => Some(p.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_set_add_and_drop() {
        let s = Security::default();
        assert_eq!(s.capabilities().len(), 14);
        assert!(!s.capabilities().contains(&Capability::CAP_SYS_ADMIN));
        let s = Security {
            cap_add: vec![Some(Capability::CAP_SYS_ADMIN)],
            cap_drop: vec![Some(Capability::CAP_NET_RAW)],
            ..Default::default()
        };
        let c = s.capabilities();
        assert!(c.contains(&Capability::CAP_SYS_ADMIN));
        assert!(!c.contains(&Capability::CAP_NET_RAW));
        assert_eq!(c.len(), 14);
        let s = Security {
            cap_drop: vec![None],
            cap_add: vec![Some(Capability::CAP_CHOWN)],
            ..Default::default()
        };
        assert_eq!(s.capabilities(), vec![Capability::CAP_CHOWN]);
        let s = Security {
            privileged: true,
            ..Default::default()
        };
        assert_eq!(s.capabilities(), capabilities::held());
        assert!(s.seccomp_profile().is_none());
    }
}

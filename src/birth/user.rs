//! Dropping root: the container's command runs as `--user`. See
//! credentials(7), setgroups(2), setgid(2), setuid(2).
//!
//! Two pitfalls this module is shaped by:
//! * Order: setgroups and setgid need privilege, so they come before
//!   setuid; after setuid(non-zero) there is no way back (that is the point).
//! * Names are looked up in the *image's* /etc/passwd and /etc/group, read
//!   by rd itself after pivot_root. Never through NSS (getpwnam): that would
//!   load the image's libnss_*.so into rd — untrusted code running as root.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::syscall::{Step, Syscall};

/// Who the command runs as, resolved against the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (setgroups): from /etc/group for a named user.
    pub groups: Vec<u32>,
    pub home: String,
}

impl Identity {
    pub fn root() -> Identity {
        Identity {
            uid: 0,
            gid: 0,
            groups: vec![],
            home: "/root".into(),
        }
    }
}

/// One line of /etc/passwd: name:password:uid:gid:gecos:home:shell
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// One line of /etc/group: name:password:gid:member,member
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolves `USER[:GROUP]` (names or numbers) against passwd/group texts.
/// Numbers need no entry (like docker: `--user 1000:1000` works on any image).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || grp == Some("") {
        bail!("--user '{spec}' is malformed: use USER, UID, USER:GROUP or UID:GID");
    }
    let entry = match user.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(passwd_entries(passwd).find(|e| e.name == user).with_context(|| {
            format!("--user: no user named '{user}' in the image's /etc/passwd (use a numeric UID, or one of: {})",
                passwd_entries(passwd).map(|e| e.name).collect::<Vec<_>>().join(", "))
        })?),
    };
    let uid = match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.as_ref().map(|e| e.uid).unwrap_or(0),
    };
    let gid = match grp {
        None => entry.as_ref().map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .with_context(|| {
                    format!("--user: no group named '{g}' in the image's /etc/group")
                })?,
        },
    };
    // Supplementary groups: every group listing the user by name (what
    // initgroups(3) would do), plus the primary one.
    let mut groups = vec![gid];
    if let Some(e) = &entry {
        for g in group_entries(group) {
            if g.members.contains(&e.name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        home: entry
            .map(|e| e.home.to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into()),
    })
}

/// The most rd reads of the image's /etc/passwd or /etc/group.
const ACCOUNTS_CAP: u64 = 4 << 20;

/// Resolves `--user` against the image's files (call after pivot_root:
/// paths are the container's). The files are hostile data: read without
/// following a symlink, only if regular, and at most 4 MiB (see
/// [`crate::inroot::read_small_file`]). No `--user` is root, with no
/// supplementary groups, whatever the caller had.
pub fn resolve_in_container(spec: Option<&str>) -> Result<Identity> {
    let Some(spec) = spec else {
        return Ok(Identity::root());
    };
    let read = |p: &str| -> Result<String> {
        crate::inroot::read_small_file(Path::new("/"), Path::new(p), ACCOUNTS_CAP)
            .map(Option::unwrap_or_default)
            .with_context(|| format!("--user {spec}: the image's {p}"))
    };
    resolve(spec, &read("/etc/passwd")?, &read("/etc/group")?)
}

/// The credential changes, privileged ones first.
pub fn switch_steps(id: &Identity) -> Vec<Step> {
    vec![
        Step::new(
            Syscall::Setgroups {
                gids: id.groups.clone(),
            },
            "the image's groups for this user, never the caller's: first, as it needs privilege",
        ),
        Step::new(
            Syscall::Setgid { gid: id.gid },
            "the primary group, also before setuid",
        ),
        Step::new(
            Syscall::Setuid { uid: id.uid },
            "last: from here on there is no way back to root",
        ),
        Step::new(
            Syscall::ParentDeathSignal {
                signal: nix::sys::signal::Signal::SIGKILL,
            },
            "changing credentials cleared PR_SET_PDEATHSIG (prctl(2)): set it again",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:1000::/home/student:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nstudent:x:1000:\nwheel:x:10:student\nnogroup:x:65534:\n";

    #[test]
    fn names_and_numbers() {
        let s = resolve("student", PASSWD, GROUP).unwrap();
        assert_eq!(
            (s.uid, s.gid, s.home.as_str()),
            (1000, 1000, "/home/student")
        );
        assert_eq!(s.groups, vec![1000, 10]);
        let n = resolve("1000:1000", PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        let u = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let g = resolve("student:nogroup", PASSWD, GROUP).unwrap();
        assert_eq!(g.gid, 65534);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve("nosuchuser", PASSWD, GROUP)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no user named 'nosuchuser'"), "{e}");
        assert!(resolve("student:nosuchgroup", PASSWD, GROUP).is_err());
        assert!(resolve(":", PASSWD, GROUP).is_err());
    }
}

//! The files every container expects in /etc: `hostname`, `hosts` and
//! `resolv.conf`. See hostname(5), hosts(5), resolv.conf(5).
//!
//! The container's child writes them into a small tmpfs of its own
//! (mounted on `containers/<id>/etc/`, in its mount namespace only) and
//! bind-mounts each one over the image's: the image's files are never
//! changed, `rd run` of the same image twice gives two containers two
//! hostnames, and the container's /proc/self/mountinfo names a tmpfs, not
//! a path of the host's (docker's binds from /var/lib/docker show it). The
//! targets are
//! resolved inside the rootfs with no symlink followed; an image whose
//! `/etc/resolv.conf` is a symlink (to systemd-resolved's stub, or to the
//! host's `/`) gets it replaced by a plain file in the container's own
//! upper layer first.

use std::net::IpAddr;
use std::path::Path;

use nix::mount::MsFlags;

use crate::syscall::{Place, Step, Syscall};

/// The three files, in the order they are mounted.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// docker's fallback when the host names no nameserver a container can
/// reach (only loopback ones, which are the host's own and out of reach
/// from another network namespace).
pub const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// What goes into the files.
pub struct Identity<'a> {
    pub hostname: &'a str,
    /// The container's name and id, which resolve to its address.
    pub names: &'a [&'a str],
    /// Its address (None: no network of its own beyond lo).
    pub address: Option<IpAddr>,
    /// `--network host`: the host's own hosts and resolv.conf.
    pub host_network: bool,
}

/// What the files hold, by name.
pub fn contents(id: &Identity) -> Vec<(&'static str, String)> {
    let hosts = if id.host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        hosts(id)
    };
    let resolv = resolv_conf(
        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        || std::fs::read_to_string("/run/systemd/resolve/resolv.conf").ok(),
        id.host_network,
    );
    vec![
        ("hostname", format!("{}\n", id.hostname)),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ]
}

/// /etc/hosts: localhost, and the container's own names.
fn hosts(id: &Identity) -> String {
    let mut text = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    let mut names = vec![id.hostname];
    names.extend(id.names.iter().filter(|n| **n != id.hostname));
    // No address of its own: Debian's convention for the hostname.
    let address = id
        .address
        .map(|a| a.to_string())
        .unwrap_or_else(|| "127.0.1.1".into());
    text.push_str(&format!("{address}\t{}\n", names.join(" ")));
    text
}

/// resolv.conf for the container: the host's, minus loopback nameservers
/// (127.0.0.53 is systemd-resolved on the *host's* lo). With none left,
/// systemd-resolved's list of upstream servers, then docker's fallback.
fn resolv_conf(
    host: &str,
    resolved_upstreams: impl Fn() -> Option<String>,
    host_network: bool,
) -> String {
    if host_network {
        return host.to_string();
    }
    let reachable = |text: &str| -> (String, usize) {
        let mut out = String::new();
        let mut servers = 0;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some("nameserver") {
                let loopback = words
                    .next()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                    .is_none_or(|a| a.is_loopback());
                if loopback {
                    continue;
                }
                servers += 1;
            }
            out.push_str(line);
            out.push('\n');
        }
        (out, servers)
    };
    let (out, servers) = reachable(host);
    if servers > 0 {
        return out;
    }
    if let Some((up, n)) = resolved_upstreams().map(|t| reachable(&t)) {
        if n > 0 {
            return up;
        }
    }
    let mut out = out;
    out.push_str("# the host names no nameserver a container can reach: docker's fallback\n");
    for s in FALLBACK_NAMESERVERS {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

/// The steps: a tmpfs on `staging` (an empty directory of the container's,
/// on the host), the files written into it, then each mounted over the
/// image's (made if missing; a symlink replaced).
pub fn steps(rootfs: &Path, staging: &Path, files: Vec<(&'static str, String)>) -> Vec<Step> {
    let dir = staging;
    let mut steps = vec![Step::new(
        Syscall::Mount {
            source: Some("tmpfs".into()),
            target: Place::Host(staging.to_path_buf()),
            fstype: Some("tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: Some("size=64k,mode=0755".into()),
        },
        "the container's own /etc files live on a tmpfs of its mount namespace: nothing of the host's path shows inside",
    )];
    for (name, text) in files {
        steps.push(Step::new(
            Syscall::WriteFile {
                path: dir.join(name),
                value: text,
            },
            "written per container: its hostname, its names, nameservers it can reach",
        ));
    }
    steps.push(crate::birth::mounts::mount_point(Place::in_root(
        rootfs, "/etc",
    )));
    for name in FILES {
        let target = Place::in_root(rootfs, Path::new("/etc").join(name));
        steps.extend([
            Step::new(
                Syscall::UnlinkIfSymlink {
                    path: target.clone(),
                },
                "an image's symlink here could point anywhere (the host's files): replaced, in the container's own layer",
            ),
            Step::new(
                Syscall::CreateFile {
                    path: target.clone(),
                    mode: 0o644,
                },
                "a file is bound onto a file: an empty one where the image has none",
            ),
            Step::new(
                Syscall::Mount {
                    source: Some(dir.join(name).display().to_string()),
                    target,
                    fstype: None,
                    flags: MsFlags::MS_BIND,
                    data: None,
                },
                "this container's own copy, over the image's (which stays as it was)",
            ),
        ]);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nameservers_are_dropped() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n";
        let out = resolv_conf(host, || None, false);
        assert_eq!(out, "search lan\nnameserver 10.0.0.1\noptions edns0\n");
        // Only the stub: systemd-resolved's upstreams, else the fallback.
        let stub = "nameserver 127.0.0.53\n";
        let up = resolv_conf(stub, || Some("nameserver 192.0.2.1\n".into()), false);
        assert_eq!(up, "nameserver 192.0.2.1\n");
        let none = resolv_conf(stub, || None, false);
        assert!(none.contains("nameserver 8.8.8.8"));
        assert!(!none.contains("127.0.0.53"));
        assert_eq!(resolv_conf(stub, || None, true), stub);
    }

    #[test]
    fn hosts_name_the_container() {
        let id = Identity {
            hostname: "web",
            names: &["web", "3f2a"],
            address: Some("10.88.0.2".parse().unwrap()),
            host_network: false,
        };
        let text = hosts(&id);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("10.88.0.2\tweb 3f2a\n"));
    }
}

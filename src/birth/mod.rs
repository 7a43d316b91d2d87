//! The kernel steps of a container's birth, one module per concept, in the
//! order [`crate::container`] performs them:
//!
//! | module        | concept                                   | man page            |
//! |---------------|-------------------------------------------|---------------------|
//! | `cgroups`     | memory, cpu, pids limits (v1, v2, hybrid) | cgroups(7)          |
//! | `namespaces`  | clone(2) into new namespaces              | namespaces(7)       |
//! | `mounts`      | private propagation, proc, sysfs, cgroupfs| mount_namespaces(7) |
//! | `overlay`     | copy-on-write root filesystem             | overlayfs docs      |
//! | `host_root`   | --host-root: the host's / through modes   | mount_setattr(2)    |
//! | `devices`     | a minimal /dev, devpts, mqueue            | mknod(2), pts(4)    |
//! | `lxcfs`       | /proc/meminfo etc. for the container      | proc(5), lxcfs(1)   |
//! | `etc_files`   | /etc/hostname, hosts, resolv.conf         | hosts(5)            |
//! | `volumes`     | -v, --tmpfs, --read-only                  | mount_setattr(2)    |
//! | `uts`         | hostname                                  | uts_namespaces(7)   |
//! | `network`     | loopback in a new network namespace       | netdevice(7)        |
//! | `bridge`      | --network bridge: veth, bridge, NAT, -p    | veth(4), nft(8)     |
//! | `netlink`     | asking the kernel for links and routes    | rtnetlink(7)        |
//! | `pivot_root`  | switch root, detach the host's            | pivot_root(2)       |
//! | `user`        | drop to --user                            | credentials(7)      |
//! | `rlimits`     | --ulimit: per-process resource limits     | setrlimit(2)        |
//! | `process`     | user, cwd, privileges, then execve        | capabilities(7)     |
//! | `init`        | --init: an init that reaps and forwards   | pid_namespaces(7)   |
//! | `exec`        | execve the command                        | execve(2)           |
//! | `join`        | setns(2) into a running container (exec)  | setns(2)            |
//!
//! What keeps root in the container from reaching the host (capabilities,
//! seccomp, masked paths, descriptors, the terminal) is in [`crate::security`].

pub mod bridge;
pub mod cgroups;
pub mod devices;
pub mod etc_files;
pub mod exec;
pub mod host_root;
pub mod init;
pub mod join;
pub mod lxcfs;
pub mod mounts;
pub mod namespaces;
pub mod netlink;
pub mod network;
pub mod overlay;
pub mod pivot_root;
pub mod process;
pub mod rlimits;
pub mod user;
pub mod uts;
pub mod volumes;

//! rd: a teaching container engine. Every step of a container's birth, for
//! real, in the order the kernel needs them: start reading at
//! [`container`], which runs them top to bottom.
//!
//! One module per kernel concept:
//!
//! | module        | concept                                   | man page            |
//! |---------------|-------------------------------------------|---------------------|
//! | `namespaces`  | clone(2) into new namespaces              | namespaces(7)       |
//! | `mounts`      | private propagation, proc, sysfs          | mount_namespaces(7) |
//! | `overlay`     | copy-on-write root filesystem             | overlayfs docs      |
//! | `devices`     | a minimal /dev, devpts                    | mknod(2), pts(4)    |
//! | `uts`         | hostname                                  | uts_namespaces(7)   |
//! | `network`     | loopback in a new network namespace       | netdevice(7)        |
//! | `cgroups`     | memory, cpu, pids limits (v1, v2, hybrid) | cgroups(7)          |
//! | `pivot_root`  | switch root, detach the host's            | pivot_root(2)       |
//! | `user`        | drop to --user                            | credentials(7)      |
//! | `exec`        | execve the command                        | execve(2)           |
//!
//! Around them: `syscall` (the calls as data) and `trace` (their narration),
//! `signals` (forwarding, the PID 1 pitfall), `image` (the image store),
//! `state` (rd's directories), `preflight` (checks before any change).

pub mod cgroups;
pub mod cli;
pub mod container;
pub mod devices;
pub mod error;
pub mod exec;
pub mod image;
pub mod mounts;
pub mod namespaces;
pub mod network;
pub mod overlay;
pub mod pivot_root;
pub mod preflight;
pub mod signals;
pub mod state;
pub mod syscall;
pub mod trace;
pub mod user;
pub mod uts;

//! rd: a teaching container engine. Every step of a container's birth, for
//! real, in the order the kernel needs them: start reading at
//! [`container`], which runs them top to bottom.
//!
//! The layout is the architecture:
//!
//! | folder / module | what it holds                                                    |
//! |-----------------|------------------------------------------------------------------|
//! | `container`     | the birth, top to bottom: the table of contents                  |
//! | `enter`         | `rd exec`: a new process joins a running container               |
//! | `lifecycle/`    | who watches a container (the process model), its record, names, ps/stop/rm… |
//! | `birth/`        | its kernel steps, one module per concept (namespaces, mounts…)  |
//! | `security/`     | what stops root in the container: capabilities, seccomp, masks… |
//! | `inroot`        | resolving a path inside a root that an image controls            |
//! | `image/`        | the image store: import, pull, unpack, layers                    |
//! | `syscall`, `trace` | the calls as data, and their narration (`--trace`)            |
//! | `doctor`      | `rd doctor`: what this host gives rd, and the fixes               |
//! | `state`, `signals`, `preflight` | rd's directories, Ctrl-C and PID 1, checks before any change |
//! | `cli`, `error`  | the command line, exit statuses                                  |

pub mod birth;
pub mod cli;
pub mod container;
pub mod doctor;
pub mod enter;
pub mod error;
pub mod image;
pub mod inroot;
pub mod lifecycle;
pub mod monitor;
pub mod preflight;
pub mod security;
pub mod signals;
pub mod state;
pub mod stats;
pub mod syscall;
pub mod trace;

//! Images: where a container's root filesystem comes from.
//!
//! An image is a list of layers (directories, stacked as overlay lowerdirs,
//! lowest first) plus a config (Env, Cmd, Entrypoint, WorkingDir, User).
//! Layers are stored once by the sha256 of their uncompressed tar stream (the
//! OCI "diff_id"), so images that share a layer share its directory.
//!
//! Where they come from: `busybox.rs` (built from the host, offline),
//! `unpack/` (a tarball: `rd import`, and every pulled layer), and
//! `registry/` + `pull.rs` (any OCI or Docker registry: `rd pull`).

pub mod busybox;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use reference::ImageRef;
pub use store::{Image, ImageConfig, ImageRecord, Store};

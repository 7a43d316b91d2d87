//! `rd volume ls|create|rm`: named volumes, kept under the state root
//! (`<root>/volumes/<name>/_data`) across containers until removed.

use anyhow::{Context, Result};

use super::record::{self, Status};
use super::EXIT_FAILED;
use crate::birth::volumes::{list_named, named_dir};
use crate::cli::VolumeCommand;
use crate::error::ExitError;
use crate::state::{private_dir_all, StateRoot};

pub fn command(state: &StateRoot, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Ls => {
            println!("VOLUME NAME");
            for name in list_named(state) {
                println!("{name}");
            }
            Ok(0)
        }
        VolumeCommand::Create { names } => {
            for name in names {
                let dir = named_dir(state, &name);
                private_dir_all(dir.parent().unwrap_or(&dir))?;
                if let Err(e) = std::fs::create_dir(&dir) {
                    if e.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(e).with_context(|| format!("creating volume {name}"));
                    }
                }
                println!("{name}");
            }
            Ok(0)
        }
        VolumeCommand::Rm { names } => {
            let mut failed = false;
            for name in names {
                match remove(state, &name) {
                    Ok(()) => println!("{name}"),
                    Err(e) => {
                        eprintln!("rd: {e:#}");
                        failed = true;
                    }
                }
            }
            Ok(if failed { EXIT_FAILED } else { 0 })
        }
    }
}

/// Removes a named volume, unless a container (running or kept) uses it.
fn remove(state: &StateRoot, name: &str) -> Result<()> {
    let exists = list_named(state).iter().any(|n| n == name);
    if !exists {
        return Err(ExitError::new(
            EXIT_FAILED,
            format!("no such volume: '{name}' (rd volume ls lists them)"),
        )
        .into());
    }
    let _exclusive = state.lock("containers", true)?;
    for e in record::list(state) {
        let Some(r) = e.record else { continue };
        if r.volumes.iter().any(|v| v == name) && (e.alive || r.status == Status::Exited) {
            return Err(ExitError::new(
                EXIT_FAILED,
                format!(
                    "volume '{name}' is in use by container {}: rd rm {} first",
                    r.name, r.name
                ),
            )
            .into());
        }
    }
    let dir = state.root.join("volumes").join(name);
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
}

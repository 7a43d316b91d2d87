//! rd's errors carry the exit status the user sees (docker's convention: 125
//! for rd's own failures, 126/127 when the command cannot be run).

/// An error that decides rd's exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub status: i32,
    pub message: String,
}

impl ExitError {
    pub fn new(status: i32, message: impl Into<String>) -> ExitError {
        ExitError {
            status,
            message: message.into(),
        }
    }
}

/// The exit status for any error: its own if it has one, else 125.
pub fn exit_status(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<ExitError>()
        .map(|e| e.status)
        .unwrap_or(crate::birth::exec::EXIT_RD_ERROR)
}

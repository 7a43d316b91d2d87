//! A container's life after its birth: who watches it, where its state
//! lives, and the commands that look at it and end it (`rd ps`, `logs`,
//! `stop`, `kill`, `rm`, `wait`, `inspect`; `rd exec` is in [`crate::enter`]).
//!
//! # The process model
//!
//! Which processes exist, and who waits for whom:
//!
//! ```text
//!  foreground: rd run -- CMD                 detached: rd run -d -- CMD
//!  ─────────────────────────                 ──────────────────────────
//!  rd (the monitor, your terminal)           rd (front) ──fork──▶ rd (the monitor)
//!   │ mkdir, cgroup, record "created"         │ waits on a pipe       setsid(): no terminal
//!   │ flock(monitor.lock)                     │                       stdio → container.log
//!   │                                         │                       mkdir, cgroup, record, flock
//!   └─clone(NEW*)─▶ init (PID 1)              │                       └─clone(NEW*)─▶ init (PID 1)
//!        [--init: init ─fork─▶ CMD]           │ ◀── "started <id>" ── record "running"
//!   record "running"                          prints the id, exits 0
//!   waits: relays signals and the pty                                 waits: relays signals
//!   init ends: record "exited", status                                init ends: record "exited"
//!   removes cgroup and directories                                    removes the cgroup; keeps the
//!   (--keep: the directory stays)                                     directory for logs (--rm: not)
//!   exits with the command's status                                   exits; flock released
//!
//!  rd exec C -- CMD2: rd ─setns(PID)─fork─▶ child ─setns(cgroup,ipc,uts,net,mnt)─▶ execve(CMD2)
//!  (rd waits for it: its status is rd exec's; see `crate::enter`)
//! ```
//!
//! * The monitor is the init's parent: only a parent can wait(2) for a
//!   process, and only the parent's death triggers the init's
//!   PR_SET_PDEATHSIG. So the monitor lives exactly as long as the
//!   container, and a SIGKILLed monitor takes the container with it.
//! * The monitor holds an flock on `monitor.lock` all along: that, and
//!   nothing else, is how any rd knows the container is alive (see
//!   [`record`]). What a killed monitor leaves (a directory, a cgroup, a
//!   name) is found by the next rd command that looks (`rd run`, `ps`,
//!   `rm`, `cleanup`) and removed.
//! * A detached monitor starts a session of its own (setsid(2)): closing
//!   the terminal that started it sends it no SIGHUP, and nothing it runs
//!   can reach that terminal.

pub mod commands;
pub mod detach;
pub mod names;
pub mod record;
pub mod volumes;

use std::path::PathBuf;

use anyhow::Result;

use crate::error::ExitError;
use crate::state::StateRoot;

/// docker's status when a container command fails (no such container…).
pub const EXIT_FAILED: i32 = 1;

/// A container found by name, id or id prefix.
pub struct Found {
    pub id: String,
    pub dir: PathBuf,
}

/// Finds the container `query` names: a name, an id, or an unambiguous
/// prefix of an id (as docker accepts them).
pub fn resolve(state: &StateRoot, query: &str) -> Result<Found> {
    let found = |id: String| Found {
        dir: state.containers().join(&id),
        id,
    };
    if let Some(id) = names::lookup(state, query) {
        if state.containers().join(&id).is_dir() {
            return Ok(found(id));
        }
    }
    let all = record::list(state);
    let hex = !query.is_empty() && query.bytes().all(|b| b.is_ascii_hexdigit());
    let matches: Vec<&record::Entry> = all
        .iter()
        .filter(|e| e.record.is_some() && hex && e.id.starts_with(query))
        .collect();
    match matches.as_slice() {
        [one] => Ok(found(one.id.clone())),
        [] => {
            let known: Vec<String> = all
                .iter()
                .filter_map(|e| e.record.as_ref())
                .map(|r| r.name.clone())
                .collect();
            let hint = if known.is_empty() {
                "there are no containers (rd ps -a lists them)".to_string()
            } else if let Some(near) = nearest(query, &known) {
                format!("did you mean '{near}'? (rd ps -a lists them all)")
            } else {
                format!("containers: {}", known.join(", "))
            };
            Err(ExitError::new(EXIT_FAILED, format!("no such container: '{query}'; {hint}")).into())
        }
        many => Err(ExitError::new(
            EXIT_FAILED,
            format!(
                "'{query}' is the start of several container ids ({}): give more of it",
                many.iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .into()),
    }
}

/// The closest known name, if it is close (an edit or two away).
fn nearest<'a>(query: &str, names: &'a [String]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    names
        .iter()
        .map(|n| (distance(query, n), n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_names() {
        let names = vec!["web".to_string(), "database".to_string()];
        assert_eq!(super::nearest("wbe", &names), Some("web"));
        assert_eq!(super::nearest("databse", &names), Some("database"));
        assert_eq!(super::nearest("zzzzzz", &names), None);
    }
}

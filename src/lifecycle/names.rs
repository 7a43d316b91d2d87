//! Container names: `--name web`, or one made up (docker's `adjective_name`).
//!
//! A name is a symlink, `<root>/names/<name>` → `<id>`. symlink(2) fails
//! with EEXIST when the name exists, so of two `rd run --name web` started
//! at once exactly one wins, with no lock: the file system is the arbiter.

use anyhow::{Context, Result};

use crate::error::ExitError;
use crate::state::{private_dir_all, StateRoot};

/// docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (at least two characters).
pub fn validate(name: &str) -> std::result::Result<String, String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && name.len() >= 2 && name.len() <= 128 {
        Ok(name.to_string())
    } else {
        Err(format!(
            "'{name}' is not a container name: 2 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        ))
    }
}

/// Gives container `id` the name `name`; fails if another container has it.
pub fn claim(state: &StateRoot, name: &str, id: &str) -> Result<()> {
    let dir = state.names();
    private_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match std::os::unix::fs::symlink(id, dir.join(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let holder = lookup(state, name).unwrap_or_else(|| "?".into());
            Err(ExitError::new(
                125,
                format!(
                    "the name '{name}' is already in use by container {holder}: choose another name, or remove that container (rd rm {name})"
                ),
            )
            .into())
        }
        Err(e) => Err(e).with_context(|| format!("creating the name {name}")),
    }
}

/// A made-up name that is free: docker's habit of naming every container.
pub fn claim_generated(state: &StateRoot, id: &str) -> Result<String> {
    const LEFT: [&str; 24] = [
        "agile", "bold", "brave", "calm", "clever", "curious", "eager", "fair", "gentle", "happy",
        "keen", "kind", "lucid", "merry", "nimble", "patient", "quick", "quiet", "sharp", "steady",
        "sunny", "tidy", "vivid", "witty",
    ];
    const RIGHT: [&str; 24] = [
        "babbage",
        "bell",
        "curie",
        "dijkstra",
        "euler",
        "fermat",
        "gauss",
        "hamilton",
        "hopper",
        "kernighan",
        "knuth",
        "lamport",
        "liskov",
        "lovelace",
        "mccarthy",
        "noether",
        "pike",
        "ritchie",
        "shannon",
        "thompson",
        "torvalds",
        "turing",
        "wing",
        "wozniak",
    ];
    // The id is random: its bytes choose the words.
    let seed = u64::from_str_radix(id, 16).unwrap_or(0);
    for attempt in 0..8u64 {
        let n = seed.wrapping_add(attempt.wrapping_mul(7919));
        let mut name = format!(
            "{}_{}",
            LEFT[(n % 24) as usize],
            RIGHT[((n / 24) % 24) as usize]
        );
        if attempt > 0 {
            name.push_str(&format!("{attempt}"));
        }
        if claim(state, &name, id).is_ok() {
            return Ok(name);
        }
    }
    claim(state, id, id)?;
    Ok(id.to_string())
}

/// The id a name points to.
pub fn lookup(state: &StateRoot, name: &str) -> Option<String> {
    if validate(name).is_err() {
        return None; // never a path: "../x" is no name
    }
    std::fs::read_link(state.names().join(name))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// Frees `name` if it still points to `id`.
pub fn release(state: &StateRoot, name: &str, id: &str) {
    if lookup(state, name).as_deref() == Some(id) {
        let _ = std::fs::remove_file(state.names().join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_name_rules() {
        for ok in ["web", "a1", "my_app.v2-x", "0day"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-x", "_x", "a/b", "../x", "a b", "é1"] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_name_is_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateRoot::new(dir.path());
        claim(&state, "web", "aaaa").unwrap();
        let err = claim(&state, "web", "bbbb").unwrap_err();
        assert!(format!("{err}").contains("already in use by container aaaa"));
        release(&state, "web", "bbbb"); // not its name: nothing happens
        assert_eq!(lookup(&state, "web").as_deref(), Some("aaaa"));
        release(&state, "web", "aaaa");
        assert_eq!(lookup(&state, "web"), None);
        let made = claim_generated(&state, "0123456789ab").unwrap();
        assert!(made.contains('_'));
        assert_eq!(lookup(&state, &made).as_deref(), Some("0123456789ab"));
    }
}

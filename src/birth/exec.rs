//! The last step: execve(2) the command, which replaces rd's code in the
//! container's PID 1 with the image's program. See execve(2), environ(7).
//!
//! Exit statuses follow docker's convention, so scripts can tell rd's own
//! failures from the command's: 125 rd failed, 126 found but not executable,
//! 127 not found; otherwise the command's own status (128+N if a signal N
//! killed it).

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::syscall::{Step, Syscall};

pub const EXIT_RD_ERROR: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// PATH when neither the image nor `-e` sets one (docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Sets `key=value` in an environment list, replacing an earlier value.
fn set_var(env: &mut Vec<String>, entry: String) {
    let key = entry.split('=').next().unwrap_or_default().to_string();
    env.retain(|e| e.split('=').next() != Some(key.as_str()));
    env.push(entry);
}

/// The command's environment, docker's way: defaults, then the image's
/// `Env`, then each `-e` (by key; `-e KEY` alone copies rd's own KEY).
pub fn environment(
    image_env: &[String],
    user_env: &[String],
    hostname: &str,
    home: &str,
    terminal: bool,
) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    // With a terminal of its own, programs want to know what it speaks:
    // the caller's TERM (docker says xterm).
    if terminal {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        env.push(format!("TERM={term}"));
    }
    for e in image_env {
        set_var(&mut env, e.clone());
    }
    for e in user_env {
        if e.contains('=') {
            set_var(&mut env, e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set_var(&mut env, format!("{e}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// `-e KEY` entries take rd's own value of KEY (and are dropped when rd
/// has none); `KEY=VALUE` entries pass as they are.
pub fn resolve_keys(user_env: &[String]) -> Vec<String> {
    user_env
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

/// A failure to start the command, with the status docker would give.
#[derive(Debug)]
pub struct ExecFailure {
    pub status: i32,
    pub message: String,
}

impl std::fmt::Display for ExecFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Finds COMMAND the way execvp(3) does: a name with a `/` is a path, any
/// other name is searched in the container's PATH (not rd's!).
pub fn find_command(command: &str, env: &[String]) -> Result<PathBuf, ExecFailure> {
    if command.contains('/') {
        return Ok(PathBuf::from(command));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(command);
        if candidate.metadata().map(|m| !m.is_dir()).unwrap_or(false) {
            return Ok(candidate);
        }
    }
    Err(ExecFailure {
        status: EXIT_NOT_FOUND,
        message: format!("{command}: command not found in the container (PATH={path})"),
    })
}

pub fn exec_step(path: PathBuf, argv: Vec<String>, envp: Vec<String>) -> Step {
    Step::new(
        Syscall::Execve { path, argv, envp },
        "the image's program replaces rd's code: it is now the container's PID 1",
    )
}

/// Turns execve's errno into docker's status and a line saying why.
pub fn explain_exec_error(path: &Path, errno: Errno) -> ExecFailure {
    let p = path.display();
    let (status, why) = match errno {
        Errno::ENOENT => (
            EXIT_NOT_FOUND,
            "no such file (if it exists, the interpreter on its #! line or its ELF loader is missing)".to_string(),
        ),
        Errno::EACCES => (
            EXIT_NOT_EXECUTABLE,
            "permission denied (not executable, or a directory on the way is not searchable for this user)".to_string(),
        ),
        Errno::ENOEXEC => (EXIT_NOT_EXECUTABLE, "not an executable format the kernel knows".to_string()),
        e => (EXIT_NOT_EXECUTABLE, format!("{e} ({})", e.desc())),
    };
    ExecFailure {
        status,
        message: format!("cannot execute {p}: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_env_overrides_by_key() {
        let env = environment(
            &["A=image".into(), "PATH=/img".into()],
            &["A=user".into()],
            "h",
            "/root",
            false,
        );
        assert!(env.contains(&"A=user".to_string()));
        assert!(!env.contains(&"A=image".to_string()));
        assert!(env.contains(&"PATH=/img".to_string()));
        assert!(env.contains(&"HOSTNAME=h".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn missing_commands_are_127() {
        let e = find_command("surely-not-a-command-rd", &["PATH=/nonexistent".into()]).unwrap_err();
        assert_eq!(e.status, 127);
    }
}

//! `rd ps`, `logs`, `stop`, `kill`, `rm`, `wait` and `inspect` of a
//! container: docker's output formats and exit statuses.
//!
//! Signals go to the container's init through a pidfd (pidfd_open(2)),
//! never to a bare pid: a pid names whatever process has it *now*. The
//! monitor observes the init's end with waitid(WNOWAIT) and records it
//! before it reaps, so while the record says "running" the pid cannot
//! have been reused, and a pidfd opened then is the init's for good.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::Signal;

use super::record::{self, Record, Status};
use super::{resolve, Found, EXIT_FAILED};
use crate::error::ExitError;
use crate::state::StateRoot;

fn failed(message: String) -> anyhow::Error {
    ExitError::new(EXIT_FAILED, message).into()
}

/// A running container's record and a pidfd of its init.
pub fn open_running(found: &Found, query: &str) -> Result<(Record, OwnedFd)> {
    let not_running = |r: Option<&Record>| {
        let how = r.map(status_text).unwrap_or_else(|| "gone".into());
        failed(format!("container {query} is not running ({how})"))
    };
    let r = record::read(&found.dir).ok();
    let (Some(rec), true) = (r.as_ref(), record::monitor_alive(&found.dir)) else {
        return Err(not_running(r.as_ref()));
    };
    let (Status::Running, Some(pid)) = (rec.status, rec.pid) else {
        return Err(not_running(Some(rec)));
    };
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(not_running(Some(rec)));
    }
    // SAFETY: fd is a descriptor we own from here on.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Still "running" after the pidfd exists: the pid was the init's.
    match record::read(&found.dir) {
        Ok(again) if again.status == Status::Running && again.pid == Some(pid) => {
            Ok((again, pidfd))
        }
        again => Err(not_running(again.ok().as_ref())),
    }
}

/// pidfd_send_signal(2).
pub fn send(pidfd: &OwnedFd, sig: Signal) -> nix::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    nix::errno::Errno::result(rc).map(drop)
}

/// Parses docker's signal names: KILL, SIGKILL, sigkill or 9.
pub fn parse_signal(text: &str) -> std::result::Result<Signal, String> {
    let upper = text.to_ascii_uppercase();
    let parsed = match upper.parse::<i32>() {
        Ok(n) => Signal::try_from(n).ok(),
        Err(_) => {
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            full.parse::<Signal>().ok()
        }
    };
    parsed.ok_or_else(|| {
        format!("'{text}' is not a signal: use a name (TERM, KILL, HUP, USR1…) or a number (kill -l lists them)")
    })
}

/// docker's go-units HumanDuration: "3 seconds", "About a minute"…
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if s / 60 == 1 => "About a minute".into(),
        _ if s / 60 < 60 => format!("{} minutes", s / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 14 => format!("{} days", hours / 24),
        _ if hours < 24 * 60 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 730 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// The STATUS column: "Up 3 minutes", "Exited (137) 5 seconds ago", "Created".
pub fn status_text(r: &Record) -> String {
    match r.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}",
            human_duration(record::age(r.started.as_deref().unwrap_or(&r.created)))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            r.exit_code.unwrap_or(-1),
            human_duration(record::age(r.finished.as_deref().unwrap_or(&r.created)))
        ),
    }
}

/// The COMMAND column: quoted, at most 20 characters (docker's "…").
fn command_text(command: &[String]) -> String {
    let full = command.join(" ");
    let short: String = if full.chars().count() > 20 {
        full.chars().take(19).chain(['…']).collect()
    } else {
        full
    };
    format!("\"{short}\"")
}

/// `rd ps [-a] [-q]`.
pub fn ps(state: &StateRoot, all: bool, quiet: bool) -> Result<()> {
    record::reclaim(state, false)?;
    let rows: Vec<Record> = record::list(state)
        .into_iter()
        .rev() // newest first, as docker lists them
        .filter_map(|e| e.record.map(|r| (r, e.alive)))
        .filter(|(r, alive)| all || (*alive && r.status != Status::Exited))
        .map(|(r, _)| r)
        .collect();
    let mut out = std::io::stdout().lock();
    if quiet {
        for r in &rows {
            writeln!(out, "{}", r.id)?;
        }
        return Ok(());
    }
    let mut table = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "NAMES".into(),
    ]];
    for r in &rows {
        table.push([
            r.id.clone(),
            r.image.clone(),
            command_text(&r.command),
            format!("{} ago", human_duration(record::age(&r.created))),
            status_text(r),
            r.name.clone(),
        ]);
    }
    // Columns as wide as their widest cell, three spaces apart (docker's
    // tabwriter); the last column unpadded.
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c < 5 {
                let pad = widths[c] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `rd logs [-f] [--tail N] C`.
pub fn logs(state: &StateRoot, query: &str, follow: bool, tail: Option<usize>) -> Result<()> {
    let found = resolve(state, query)?;
    let path = found.dir.join(record::LOG);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed(format!(
                "container {query} ran in the foreground: its output went to the terminal that started it (rd logs shows what detached containers, rd run -d, write)"
            )));
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut out = std::io::stdout().lock();
    if let Some(n) = tail {
        let start = tail_offset(&mut file, n)?;
        file.seek(SeekFrom::Start(start))?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).context("reading the log")?;
        if n > 0 {
            out.write_all(&buf[..n])?;
            continue;
        }
        out.flush()?;
        if !follow || !record::monitor_alive(&found.dir) {
            // One last read: what was written just before the end.
            let n = file.read(&mut buf).unwrap_or(0);
            out.write_all(&buf[..n])?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the last `n` lines of the file start.
fn tail_offset(file: &mut std::fs::File, n: usize) -> Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut pos = len;
    let mut newlines = 0;
    let mut buf = vec![0u8; 8192];
    while pos > 0 {
        let step = pos.min(buf.len() as u64);
        pos -= step;
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut buf[..step as usize])?;
        for i in (0..step as usize).rev() {
            // The file's last newline ends the last line; count the others.
            if buf[i] == b'\n' && pos + i as u64 != len - 1 {
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
    }
    Ok(0)
}

/// `rd kill [-s SIGNAL] C`.
pub fn kill(state: &StateRoot, query: &str, sig: Signal) -> Result<()> {
    let found = resolve(state, query)?;
    let (_, pidfd) = open_running(&found, query)?;
    send(&pidfd, sig).with_context(|| format!("sending {} to container {query}", sig.as_str()))
}

/// `rd stop [-t SECS] C`: SIGTERM, then SIGKILL after the grace period.
/// An init with no handler for SIGTERM never sees it (pid_namespaces(7)):
/// the full grace period passes, then SIGKILL, as with docker.
pub fn stop(state: &StateRoot, query: &str, grace: Duration) -> Result<()> {
    let found = resolve(state, query)?;
    let Ok((_, pidfd)) = open_running(&found, query) else {
        return Ok(()); // docker: stopping a stopped container is no error
    };
    let _ = send(&pidfd, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !record::monitor_alive(&found.dir) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = send(&pidfd, Signal::SIGKILL);
    record::wait_for_monitor(&found.dir)?;
    Ok(())
}

/// `rd rm [-f] C`.
pub fn rm(state: &StateRoot, query: &str, force: bool) -> Result<()> {
    let found = resolve(state, query)?;
    if record::monitor_alive(&found.dir) {
        if !force {
            return Err(failed(format!(
                "container {query} is running: stop it first (rd stop {query}) or remove it by force (rd rm -f {query})"
            )));
        }
        if let Ok((_, pidfd)) = open_running(&found, query) {
            let _ = send(&pidfd, Signal::SIGKILL);
        }
        record::wait_for_monitor(&found.dir)?;
    }
    let _exclusive = state.lock("containers", true)?;
    let entry = record::Entry {
        record: record::read(&found.dir).ok(),
        alive: record::monitor_alive(&found.dir),
        id: found.id,
        dir: found.dir,
    };
    if entry.alive {
        return Err(failed(format!(
            "container {query} is still being watched by its monitor: try again"
        )));
    }
    record::remove(state, &entry);
    Ok(())
}

/// `rd wait C`: blocks until it ends; returns its exit status.
pub fn wait(state: &StateRoot, query: &str) -> Result<i32> {
    let found = resolve(state, query)?;
    match record::wait_for_monitor(&found.dir)? {
        Some(code) => Ok(code),
        None => Err(failed(format!(
            "container {query}'s monitor was killed before the container ended: its exit status is unknown"
        ))),
    }
}

/// `rd inspect C`: the record, as JSON.
pub fn inspect(state: &StateRoot, query: &str) -> Result<()> {
    let found = resolve(state, query)?;
    let r = record::read(&found.dir)?;
    let mut json = serde_json::to_value(&r)?;
    json["monitor_alive"] = record::monitor_alive(&found.dir).into();
    json["directory"] = found.dir.display().to_string().into();
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_durations() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(s(0)), "Less than a second");
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(5)), "5 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(180)), "3 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("1"), Ok(Signal::SIGHUP));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn commands_are_cut_at_20() {
        assert_eq!(command_text(&["sleep".into(), "1".into()]), "\"sleep 1\"");
        let long = command_text(&["/docker-entrypoint.sh".into(), "nginx".into()]);
        assert_eq!(long, "\"/docker-entrypoint.…\"");
    }

    #[test]
    fn tail_finds_the_last_lines() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"a\nb\nc\n").unwrap();
        let off = tail_offset(&mut f, 2).unwrap();
        assert_eq!(off, 2);
        assert_eq!(tail_offset(&mut f, 9).unwrap(), 0);
    }
}

//! The narrated trace: `rd run --trace` prints every kernel-level step as it
//! is performed, with its real arguments, its result, how long it took and
//! why it is there.
//!
//! ```text
//! [rd +  3.12ms] mount("overlay", "/var/lib/rd/containers/3f2a/rootfs", "overlay", MS_NODEV, "lowerdir=…") = 0 <0.21ms>  # copy-on-write root
//! ```
//!
//! Parent and child both trace to stderr; the clock starts when `rd` starts,
//! so the timestamps of the two processes line up.

use std::fmt::Display;
use std::io::Write;
use std::time::Instant;

use nix::errno::Errno;

use crate::syscall::Step;

/// A step that failed: the call as it was made, the errno, and a hint.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {} ({}){}", errno, errno.desc(), hint.map(|h| format!(" — {h}")).unwrap_or_default())]
pub struct StepError {
    pub call: String,
    pub errno: Errno,
    pub hint: Option<&'static str>,
}

/// Why an in-root path failed with ELOOP: the image put a symlink there.
const SYMLINK_HINT: &str = "the image has a symlink on this path (its /proc, /sys, /dev or a directory in them): rd mounts only onto real directories inside the root, never through a link that could lead out of it";

#[derive(Debug, Clone, Copy)]
pub struct Tracer {
    enabled: bool,
    start: Instant,
}

impl Tracer {
    pub fn new(enabled: bool) -> Tracer {
        Tracer::starting_at(enabled, Instant::now())
    }

    /// A tracer whose clock started at `start` (rd's own start).
    pub fn starting_at(enabled: bool, start: Instant) -> Tracer {
        Tracer { enabled, start }
    }

    /// Performs a step and, when tracing, narrates it.
    pub fn run(&self, step: &Step) -> Result<String, StepError> {
        if self.enabled && !step.call.returns() {
            // execve replaces this program: say it before it happens.
            self.line(&step.call, "…", None, step.why);
        }
        let t0 = Instant::now();
        let result = step.call.perform();
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(ret) => {
                if self.enabled && step.call.returns() {
                    self.line(&step.call, &ret, Some(took), step.why);
                }
                Ok(ret)
            }
            Err(errno) => {
                if self.enabled {
                    let ret = format!("-1 {errno}");
                    self.line(&step.call, &ret, Some(took), step.why);
                }
                let hint = if errno == Errno::ELOOP && step.call.in_root() {
                    Some(SYMLINK_HINT)
                } else {
                    step.hint
                };
                Err(StepError {
                    call: step.call.to_string(),
                    errno,
                    hint,
                })
            }
        }
    }

    /// Runs a list of steps in order, stopping at the first failure.
    pub fn run_all(&self, steps: &[Step]) -> Result<(), StepError> {
        for step in steps {
            self.run(step)?;
        }
        Ok(())
    }

    /// Narrates work done by a library on rd's behalf (cgroups-rs writing a
    /// cgroup file, for instance), after it was done.
    pub fn note(&self, call: impl Display, ret: &str, took_ms: f64, why: &str) {
        if self.enabled {
            self.line(&call, ret, Some(took_ms), why);
        }
    }

    /// Times `f`, and narrates it as `call` when tracing.
    pub fn timed<T, E: Display>(
        &self,
        call: impl Display,
        why: &str,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let t0 = Instant::now();
        let r = f();
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        match &r {
            Ok(_) => self.note(&call, "0", took, why),
            Err(e) => self.note(&call, &format!("-1 ({e})"), took, why),
        }
        r
    }

    fn line(&self, call: &dyn Display, ret: &str, took_ms: Option<f64>, why: &str) {
        // The time the call started, so lines sort as the calls were made.
        let at = self.start.elapsed().as_secs_f64() * 1000.0 - took_ms.unwrap_or(0.0);
        let took = took_ms.map(|t| format!(" <{t:.3}ms>")).unwrap_or_default();
        // One write per line, so parent and child lines never interleave mid-line.
        let line = format!("[rd +{at:8.3}ms] {call} = {ret}{took}  # {why}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

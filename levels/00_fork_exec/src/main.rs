//! Workshop level 00: fork and exec.
//!
//! Run it:   sudo cargo run -p level00 -- run -- /bin/sh -c 'echo hello; hostname; id'
//! Check it: sudo cargo run -p check -- 00
//!
//! Run the command in a child process and report how it ended.
//! Read ../README.md first; the `TODO(00)` comments below say where.

#[allow(unused_imports)]
use std::ffi::CString;
#[allow(unused_imports)]
use std::path::Path;

#[allow(unused_imports)]
use support::anyhow::{bail, Context, Result};
#[allow(unused_imports)]
use support::nix;
#[allow(unused_imports)]
use support::{Args, Container};

fn main() {
    match support::parse() {
        support::Command::Run(args) => support::exit(run(&args)),
        support::Command::Exec(_) => {
            support::todo("12", "exec: a new process in a running container")
        }
    }
}

/// The parent: prepare, create the child, wait for it, clean up.
#[allow(unused_variables)]
fn run(args: &Args) -> Result<i32> {
    let container = Container::create(args)?;

    // TODO(00): run the command in a child process:
    //  1. fork(2) (nix::unistd::fork, unsafe: why?) into a parent and a child;
    //  2. the child: execvp(2) the command (nix::unistd::execvp with CStrings);
    //     if exec returns, it failed: print why and exit 127;
    //  3. the parent: waitpid(2) for the child, report its exit status
    //     (support::status_code) on stderr as
    //     "container <id> exited with status <N>", and return it.
    // The child must never return from run(): it would run the parent's
    // clean-up (Container's Drop) a second time. End it with
    // std::process::exit.
    // Then replace the todo below with your code. What happens to the child's
    // memory when it calls exec? And if the parent never calls waitpid?
    drop(container); // (todo() exits at once: clean up first)
    support::todo("00", "fork, exec and wait")
}

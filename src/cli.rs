//! The command line: `rd run`, `rd exec`, `rd ps`, `rd logs`, `rd stop`,
//! `rd kill`, `rd rm`, `rd wait`, `rd inspect`, `rd pull`, `rd import`,
//! `rd images`, `rd rmi`, `rd cleanup`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::birth::cgroups;
use crate::image::registry::{Credentials, Platform, RegistryOptions};

#[derive(Debug, Parser)]
#[command(
    name = "rd",
    version,
    about = "A teaching container engine: every step of a container's birth, for real.",
    long_about = "rd runs real containers with the kernel's own mechanisms (namespaces, \
overlayfs, cgroups, pivot_root) and can narrate each system call it makes (--trace). \
It needs root.\n\nStart with:  rd run --trace -- /bin/sh -c 'hostname; ps'\n\
A server in the background, a shell inside it, its logs, a clean end:\n  \
rd run -d --name web busybox httpd -f -v\n  rd ps\n  rd exec -t web sh\n  rd logs web\n  \
rd stop web\n  rd rm web",
    after_help = "State (images, layers, containers) lives under --root (default /var/lib/rd)."
)]
pub struct Cli {
    /// Where rd keeps images, layers and running containers' directories
    #[arg(
        long,
        global = true,
        env = "RD_ROOT",
        default_value = "/var/lib/rd",
        value_name = "DIR"
    )]
    pub root: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in a new container and exit with its status (or -d: in the background)
    #[command(
        override_usage = "rd run [OPTIONS] IMAGE [COMMAND [ARG...]]\n       rd run [OPTIONS] [-i IMAGE] -- COMMAND [ARG...]",
        after_help = "The image: the first word after the options (docker's way: rd run busybox echo hi), \
or -i IMAGE, or, after a bare --, the default image (busybox): rd run -- echo hi.\n\n\
In the background: -d prints the container's id and returns; the container lives on, its \
output kept for rd logs; rd ps lists it, rd exec runs more in it, rd stop ends it, rd rm \
removes it (--rm: removed when it ends). A foreground container is removed when it ends \
(--keep keeps it for rd ps -a, rd logs, rd inspect).\n\n\
Exit status: the command's own; 128+N if signal N killed it (137: SIGKILL, \
e.g. by the OOM killer); 125 if rd itself failed; 126 if the command cannot be executed; \
127 if it is not found.\n\nExamples:\n  rd run -- /bin/sh\n  rd run busybox echo hi\n  rd run --trace -- /bin/true\n  \
rd run -d --name web busybox httpd -f -v\n  rd run --init -- sh -c 'sleep 1 & exec sleep 60'\n  \
rd run --memory 32m -- sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1'\n  \
rd run --user student -w /tmp -e GREETING=hi -- sh -c 'id; pwd; echo $GREETING'\n\n\
What stops root in a container: docker's 14 capabilities and no more, a seccomp filter \
(keyctl, bpf, mount, user namespaces... refused), /proc/sys and friends read-only or hidden, \
device nodes that do not open (nodev), none of your descriptors, a session and terminal of its \
own. --cap-add, --cap-drop, --security-opt and --privileged take them away one by one, to see \
what each stops: rd run --trace shows every one of them as it is put in place.\n\n\
Terminal: at a terminal (stdin and stdout both ttys) the container gets a pseudo-terminal of \
its own, yours in raw mode until it ends, so shells get job control and Ctrl-C; piped input \
(echo hi | rd run -- cat) passes as it is. -t forces a terminal, -T refuses one."
    )]
    Run(Box<RunArgs>),
    /// Run a command in a running container (its namespaces, cgroup and defences)
    #[command(
        after_help = "The process joins each of the container's namespaces (setns), its cgroup, \
and gets what the container's first process got: capabilities, seccomp filter, \
no-new-privileges, user, environment. --trace shows every step.\n\n\
Exit status: the command's own; 126 or 127 if it cannot be run; 1 if there is no such \
running container.\n\nExamples:\n  rd exec web ps\n  rd exec -t web sh\n  \
rd exec -u nobody -w /tmp -e A=1 web sh -c 'id; pwd; echo $A'"
    )]
    Exec(Box<ExecArgs>),
    /// List containers (running ones; -a: all)
    Ps {
        /// All containers, also those that have ended
        #[arg(short, long)]
        all: bool,
        /// Only their ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what a detached container wrote to stdout and stderr
    Logs {
        /// Keep printing what it writes, until it ends
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines
        #[arg(short = 'n', long, value_name = "N", value_parser = parse_tail)]
        tail: Option<TailArg>,
        /// Name, id or unique id prefix
        container: String,
    },
    /// Stop containers: SIGTERM, then SIGKILL after the grace period
    #[command(
        after_help = "A container's PID 1 receives only the signals it has a handler for \
(pid_namespaces(7)): a PID 1 without a SIGTERM handler (sleep, a shell script) ignores it, \
and SIGKILL ends it after the grace period. rd run --init gives the container an init that \
passes SIGTERM on."
    )]
    Stop {
        /// Seconds to wait between SIGTERM and SIGKILL
        #[arg(short, long, value_name = "SECS", default_value_t = 10)]
        time: u32,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Send a signal to containers' PID 1 (default: SIGKILL)
    Kill {
        /// Signal name (TERM, HUP, USR1…) or number
        #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
        signal: String,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// The bridge network: `rd network prune` removes rd0, rd's nftables table, and restores ip_forward
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Named volumes: list, create, remove (-v NAME:/path creates one on first use)
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Remove containers that have ended (-f: stop running ones first)
    Rm {
        /// Kill a running container (SIGKILL), then remove it
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Wait for containers to end and print their exit statuses
    Wait {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Download an image from a registry (Docker Hub, or any OCI registry) into the store
    #[command(
        after_help = "IMAGE is NAME[:TAG] or NAME@sha256:DIGEST, with docker's rules: 'ubuntu' is \
docker.io/library/ubuntu:latest on Docker Hub; 'HOST[:PORT]/PATH' names another registry. \
Registries on localhost and 127.0.0.0/8 are reached over plain HTTP, all others over HTTPS \
(unless named with --insecure-registry).\n\nExamples:\n  rd pull ubuntu\n  rd pull debian:bookworm\n  \
rd pull 127.0.0.1:5000/team/app:1.2\n  rd pull --platform linux/arm64 alpine"
    )]
    Pull {
        /// NAME[:TAG] or NAME@sha256:DIGEST
        image: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Add a root filesystem tarball (.tar or .tar.gz, e.g. from `docker export`) as image NAME
    Import {
        /// The tarball
        file: PathBuf,
        /// The image's name, NAME[:TAG]
        name: String,
    },
    /// List the images in the store
    Images,
    /// Remove images from the store (and their layers, unless another image shares them)
    Rmi {
        /// NAME[:TAG] or NAME@sha256:DIGEST
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Print a container's record, or an image's, as JSON
    #[command(
        after_help = "A container is looked up first (by name, id or id prefix), then an image; \
--type chooses. `rd image inspect IMAGE` is not a command: use --type image."
    )]
    Inspect {
        /// Look only for this kind of object
        #[arg(long = "type", value_enum)]
        kind: Option<InspectType>,
        /// A container (name or id) or an image (NAME[:TAG])
        name: String,
    },
    /// Say what this host gives rd (kernel, cgroups, overlayfs, seccomp, nftables…) and how to fix what is missing
    Doctor {
        /// One line (for scripts)
        #[arg(long)]
        summary: bool,
    },
    /// Remove what killed runs left behind (container directories, cgroups, names, unfinished pulls)
    Cleanup {
        /// Also remove containers that have ended and were kept (-d, --keep)
        #[arg(long, alias = "kept")]
        exited: bool,
    },
}

/// How to reach a registry: for `rd pull`, and `rd run` of an image not yet
/// in the store.
#[derive(Debug, Clone, Args, Default)]
pub struct RegistryArgs {
    /// Reach this registry over plain HTTP (localhost and 127.0.0.0/8 always are)
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "RD_INSECURE_REGISTRY",
        value_delimiter = ','
    )]
    pub insecure: Vec<String>,

    /// User name for registries that ask for a login
    #[arg(long, value_name = "USER", env = "RD_REGISTRY_USERNAME")]
    pub username: Option<String>,

    /// Password for --username (prefer the environment: a command line is visible in ps)
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "RD_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Platform to pick from a multi-platform image (default: this machine's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", env = "RD_PLATFORM")]
    pub platform: Option<String>,
}

/// `rd network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Remove the bridge rd0 and rd's nftables table when no container uses them, and put ip_forward back
    Prune,
}

/// `rd volume ...`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List named volumes
    Ls,
    /// Create named volumes
    Create {
        #[arg(required = true, value_parser = crate::lifecycle::names::validate)]
        names: Vec<String>,
    },
    /// Remove named volumes and their files (not while a container uses them)
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// What `rd inspect` looks for.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum InspectType {
    Container,
    Image,
}

/// `--tail N` or `--tail all`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailArg(pub Option<usize>);

fn parse_tail(text: &str) -> Result<TailArg, String> {
    if text == "all" {
        return Ok(TailArg(None));
    }
    text.parse()
        .map(|n| TailArg(Some(n)))
        .map_err(|_| format!("'{text}' is not a number of lines (or 'all')"))
}

/// What the process runs as, with: `rd run` and `rd exec` alike (exec's
/// defaults are the container's).
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Set an environment variable (KEY=VALUE, or KEY to copy rd's own)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Working directory for the command (created if missing)
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Run as USER[:GROUP] (names from the image's /etc/passwd, or numbers)
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// A terminal of its own (default: when stdin and stdout are terminals, unless -d)
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,

    /// No terminal of its own, even at a terminal (stdio passes as it is)
    #[arg(short = 'T', long)]
    pub no_tty: bool,
}

impl ProcessArgs {
    /// -t: Some(true), -T: Some(false), neither: None (decided later).
    pub fn tty(&self) -> Option<bool> {
        match (self.tty, self.no_tty) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub process: ProcessArgs,

    /// Accepted for docker's habit (-it): stdin always reaches the process
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Print every step of joining the container, with its result and why
    #[arg(long)]
    pub trace: bool,

    /// The container (name, id or unique id prefix)
    pub container: String,

    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `--memory-swap`: a size, or -1 for unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwapArg(pub Option<u64>);

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Image to run (see `rd images`); pulled from its registry if not in the store
    #[arg(short, long)]
    pub image: Option<String>,

    /// Run in the background: print the container's id and return
    #[arg(short, long)]
    pub detach: bool,

    /// Name the container (unique; default: a made-up one, like docker's)
    #[arg(long, value_parser = crate::lifecycle::names::validate, value_name = "NAME")]
    pub name: Option<String>,

    /// Remove the container when it ends (a foreground one always is, unless --keep)
    #[arg(long, conflicts_with = "keep")]
    pub rm: bool,

    /// PID 1 is a small init from rd (reaps zombies, passes signals on); the command its child
    #[arg(long)]
    pub init: bool,

    /// Replace the image's ENTRYPOINT ('' clears it)
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// Read environment variables from a file (KEY=VALUE lines; KEY copies rd's; # comments)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// bridge (the default: eth0 on rd0, 10.123.0.0/16 or RD_BRIDGE_SUBNET, NAT), none (only lo), host, container:NAME
    #[arg(long, value_name = "MODE", default_value = "bridge",
          value_parser = crate::birth::network::parse_mode)]
    pub network: crate::birth::network::NetworkMode,

    /// Publish a port of a bridged container on the host's ([HOSTIP:]HOSTPORT:CTRPORT[/udp])
    #[arg(short = 'p', long = "publish", value_name = "[IP:]PORT:PORT",
          value_parser = crate::birth::bridge::parse_port)]
    pub ports: Vec<crate::birth::bridge::Port>,

    /// Mount HOSTPATH (which must exist: rd does not create it, unlike docker) or a named volume
    #[arg(short, long = "volume", value_name = "HOSTPATH|NAME:CTRPATH[:ro]",
          value_parser = crate::birth::volumes::parse)]
    pub volumes: Vec<crate::birth::volumes::Volume>,

    /// Mount a tmpfs at PATH (default nosuid,nodev,noexec; size=64m, mode=1777, exec, ro…)
    #[arg(long, value_name = "PATH[:OPTIONS]", value_parser = crate::birth::volumes::parse_tmpfs)]
    pub tmpfs: Vec<crate::birth::volumes::Tmpfs>,

    /// The root filesystem read-only (volumes, --tmpfs, /dev and /etc/hosts stay writable)
    #[arg(long)]
    pub read_only: bool,

    /// Print every kernel call of the container's birth, with its result and why
    #[arg(long)]
    pub trace: bool,

    /// No image: the host's own / is the root, seen through a mode per directory (BenchExec's
    /// container mode). Default: / through an overlay (writes vanish with the container), /tmp,
    /// /run, /home, /root and rd's state root hidden; /proc, /sys and /dev the container's own.
    /// Root inside reads what the host's root reads elsewhere: run untrusted programs with -u
    #[arg(long, conflicts_with = "image")]
    pub host_root: bool,

    /// --host-root: see DIR's host files; writes land in the container's layer and vanish
    #[arg(long, value_name = "DIR", requires = "host_root")]
    pub overlay_dir: Vec<PathBuf>,

    /// --host-root: see DIR's host files read-only (its nosuid/nodev/noexec kept)
    #[arg(long, value_name = "DIR", requires = "host_root")]
    pub read_only_dir: Vec<PathBuf>,

    /// --host-root: an empty directory in DIR's place; the host's files stay out of reach
    #[arg(long, value_name = "DIR", requires = "host_root")]
    pub hidden_dir: Vec<PathBuf>,

    /// --host-root: DIR itself: writes reach the host
    #[arg(long, value_name = "DIR", requires = "host_root")]
    pub full_access_dir: Vec<PathBuf>,

    /// Hostname inside the container (default: the container's id)
    #[arg(long, value_parser = parse_hostname)]
    pub hostname: Option<String>,

    #[command(flatten)]
    pub process: ProcessArgs,

    /// Memory limit: a size with unit b, k, m or g (e.g. 64m)
    #[arg(short, long, value_parser = cgroups::parse_memory, value_name = "SIZE")]
    pub memory: Option<u64>,

    /// Memory plus swap limit (a size, or -1 for unlimited swap)
    #[arg(long, value_parser = parse_swap, allow_negative_numbers = true, value_name = "SIZE")]
    pub memory_swap: Option<SwapArg>,

    /// Relative CPU weight when CPUs are contended (default 1024)
    #[arg(long, value_parser = cgroups::parse_cpu_shares, allow_negative_numbers = true, value_name = "N")]
    pub cpu_shares: Option<u64>,

    /// Hard CPU cap in CPUs (e.g. 0.5 = half of one CPU)
    #[arg(long, value_parser = cgroups::parse_cpus, allow_negative_numbers = true, value_name = "N")]
    pub cpus: Option<f64>,

    /// Most processes and threads at once
    #[arg(long, value_parser = cgroups::parse_pids, allow_negative_numbers = true, value_name = "N")]
    pub pids_limit: Option<u64>,

    /// A resource limit of the process, setrlimit(2), e.g. nofile=1024:2048 (soft:hard; unlimited or
    /// -1): as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc (counts the
    /// uid's processes host-wide: --pids-limit counts the container's), rss, rtprio, rttime,
    /// sigpending, stack. Repeatable
    #[arg(long, value_name = "NAME=SOFT[:HARD]", value_parser = crate::birth::rlimits::parse)]
    pub ulimit: Vec<crate::birth::rlimits::Ulimit>,

    /// Keep the container after it ends (its record, upper layer, log) until rd rm
    #[arg(long)]
    pub keep: bool,

    /// When the container ends, say what it used on stderr: wall and CPU time, peak memory, most
    /// processes at once, limits hit (from its cgroup; `rd inspect` keeps them for --keep and -d)
    #[arg(long)]
    pub stats: bool,

    /// Write the same figures to FILE as JSON when the container ends
    #[arg(long, value_name = "FILE")]
    pub stats_file: Option<PathBuf>,

    /// Add a capability to docker's default 14 (NET_ADMIN, SYS_PTRACE, ..., or ALL)
    #[arg(long, value_name = "CAP", value_parser = parse_cap)]
    pub cap_add: Vec<CapArg>,

    /// Remove a capability from the default set (or ALL)
    #[arg(long, value_name = "CAP", value_parser = parse_cap)]
    pub cap_drop: Vec<CapArg>,

    /// no-new-privileges, seccomp=unconfined, or seccomp=PROFILE.json (docker's format)
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// Turn every defence off: all capabilities, no seccomp, no masked paths, any device
    #[arg(long)]
    pub privileged: bool,

    /// Pass the caller's descriptors 3 .. 3+N-1 into the container (all others are closed)
    #[arg(long, value_name = "N", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=65536))]
    pub preserve_fds: u32,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// IMAGE then COMMAND and its arguments (docker's order), or after -- (or with -i) only COMMAND
    // trailing_var_arg: from the first word on, everything is the image's
    // and the command's (`rd run busybox sh -c 'echo hi'`); before it,
    // `-x` is an rd option, so a mistyped option is an error, not a command.
    #[arg(trailing_var_arg = true, value_name = "IMAGE] [COMMAND")]
    pub args: Vec<String>,
}

/// The image and command of `rd run`, and whether the image was the first
/// word (docker's order).
#[derive(Debug, PartialEq)]
pub struct ImageAndCommand {
    pub image: String,
    pub command: Vec<String>,
    pub from_word: bool,
}

/// Which image and command `rd run`'s words name. `after_dashes`: how
/// many of the words came after a bare `--` on the command line.
pub fn image_and_command(
    image: Option<&str>,
    words: &[String],
    after_dashes: Option<usize>,
) -> anyhow::Result<ImageAndCommand> {
    const DEFAULT: &str = "busybox";
    let given = |image: &str, command: &[String]| ImageAndCommand {
        image: image.to_string(),
        command: command.to_vec(),
        from_word: false,
    };
    if let Some(image) = image {
        // -i IMAGE: every word is the command's.
        return Ok(given(image, words));
    }
    if after_dashes.is_some_and(|n| n >= words.len()) {
        // `rd run [OPTIONS] -- COMMAND`: the default image.
        return Ok(given(DEFAULT, words));
    }
    let Some((first, rest)) = words.split_first() else {
        return Ok(given(DEFAULT, &[]));
    };
    if first.starts_with('/') || first.starts_with('.') {
        anyhow::bail!(
            "'{first}' is a path, not an image: to run it in the default image, put -- before it (rd run -- {first} ...), or name the image first (rd run busybox {first} ...)"
        );
    }
    // `rd run IMAGE -- COMMAND`: the -- only separates.
    let rest = match rest.split_first() {
        Some((dashes, command)) if dashes == "--" => command,
        _ => rest,
    };
    Ok(ImageAndCommand {
        image: first.clone(),
        command: rest.to_vec(),
        from_word: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dockers_order_and_rds() {
        let f = |image: Option<&str>, w: &[&str], dashes: Option<usize>| {
            let r = image_and_command(image, &words(w), dashes).unwrap();
            (r.image, r.command.join(" "), r.from_word)
        };
        // rd run busybox echo hi
        assert_eq!(
            f(None, &["busybox", "echo", "hi"], None),
            ("busybox".into(), "echo hi".into(), true)
        );
        // rd run -- /bin/sh
        assert_eq!(
            f(None, &["/bin/sh"], Some(1)),
            ("busybox".into(), "/bin/sh".into(), false)
        );
        // rd run -i debian -- ls, rd run -i debian ls
        assert_eq!(
            f(Some("debian"), &["ls"], Some(1)),
            ("debian".into(), "ls".into(), false)
        );
        assert_eq!(
            f(Some("debian"), &["ls"], None),
            ("debian".into(), "ls".into(), false)
        );
        // rd run debian -- ls
        assert_eq!(
            f(None, &["debian", "--", "ls"], Some(1)),
            ("debian".into(), "ls".into(), true)
        );
        // rd run debian
        assert_eq!(
            f(None, &["debian"], None),
            ("debian".into(), "".into(), true)
        );
        // rd run
        assert_eq!(f(None, &[], None), ("busybox".into(), "".into(), false));
        // rd run /bin/sh: a path is no image
        assert!(image_and_command(None, &words(&["/bin/sh"]), None).is_err());
    }

    #[test]
    fn env_files_as_docker_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(
            &file,
            "# a comment\n\nA=1\nB=\"quoted stays\"\n  C=x=y\nHOME\n",
        )
        .unwrap();
        assert_eq!(
            read_env_file(&file).unwrap(),
            vec!["A=1", "B=\"quoted stays\"", "C=x=y", "HOME"]
        );
        std::fs::write(&file, "BAD KEY=1\n").unwrap();
        assert!(format!("{:#}", read_env_file(&file).unwrap_err()).contains("line 1"));
    }
}

/// Reads docker's --env-file format: KEY=VALUE per line, KEY alone takes
/// rd's own value, blank lines and lines starting with # are skipped; no
/// quotes are removed (docker's rule: the value is the rest of the line).
pub fn read_env_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--env-file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or_default();
        if key.is_empty() || key.contains(char::is_whitespace) {
            anyhow::bail!(
                "--env-file {} line {}: '{line}' is not KEY=VALUE (a key has no spaces)",
                path.display(),
                n + 1
            );
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// A capability name, or ALL (`None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapArg(pub Option<caps::Capability>);

fn parse_cap(text: &str) -> Result<CapArg, String> {
    crate::security::capabilities::parse(text).map(CapArg)
}

/// What `--security-opt` asked for.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
    pub seccomp_file: Option<PathBuf>,
}

/// Parses docker's `--security-opt` values (`=` or `:` both separate).
pub fn parse_security_opts(opts: &[String]) -> anyhow::Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp_unconfined = true,
            ("seccomp", Some(file)) if !file.is_empty() => {
                out.seccomp_file = Some(PathBuf::from(file))
            }
            _ => anyhow::bail!(
                "--security-opt '{opt}' is not understood: use no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json"
            ),
        }
    }
    Ok(out)
}

fn parse_swap(text: &str) -> Result<SwapArg, String> {
    cgroups::parse_memory_swap(text).map(SwapArg)
}

/// sethostname(2) takes at most 64 bytes; keep to the characters DNS allows.
fn parse_hostname(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is not a hostname: 1 to 64 letters, digits, '-' or '.'"
        ))
    }
}

impl RegistryArgs {
    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        let credentials = match (&self.username, &self.password) {
            (Some(username), Some(password)) => Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => anyhow::bail!(
                "--username needs a password: --password, or RD_REGISTRY_PASSWORD in the environment"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a password was given without a user name: add --username (or RD_REGISTRY_USERNAME)"
            ),
        };
        let platform = match &self.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        Ok(RegistryOptions {
            insecure: self.insecure.clone(),
            credentials,
            platform,
        })
    }
}

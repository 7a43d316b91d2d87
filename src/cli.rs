//! The command line: `rd run`, `rd pull`, `rd import`, `rd images`, `rd rmi`,
//! `rd inspect`, `rd cleanup`.

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
It needs root.\n\nStart with:  sudo rd run --trace -- /bin/sh -c 'hostname; ps'",
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
    /// Run COMMAND in a new container and exit with its status
    #[command(
        after_help = "Exit status: the command's own; 128+N if signal N killed it (137: SIGKILL, \
e.g. by the OOM killer); 125 if rd itself failed; 126 if the command cannot be executed; \
127 if it is not found.\n\nExamples:\n  rd run -- /bin/sh\n  rd run --trace -- /bin/true\n  \
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
    /// Print an image's record (layers' directories, config) as JSON
    Inspect {
        /// NAME[:TAG]
        image: String,
    },
    /// Remove what killed runs left behind (container directories, cgroups, unfinished pulls)
    Cleanup {
        /// Also remove containers kept with `rd run --keep`
        #[arg(long)]
        kept: bool,
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

/// `--memory-swap`: a size, or -1 for unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwapArg(pub Option<u64>);

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Image to run (see `rd images`); pulled from its registry if not in the store
    #[arg(short, long, default_value = "busybox")]
    pub image: String,

    /// Print every kernel call of the container's birth, with its result and why
    #[arg(long)]
    pub trace: bool,

    /// Hostname inside the container (default: the container's id)
    #[arg(long, value_parser = parse_hostname)]
    pub hostname: Option<String>,

    /// Set an environment variable (KEY=VALUE, or KEY to copy rd's own)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Working directory for the command (created if missing)
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Run as USER[:GROUP] (names from the image's /etc/passwd, or numbers)
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

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

    /// Keep the container's directory (its upper layer) after exit
    #[arg(long)]
    pub keep: bool,

    /// Give the container a terminal of its own (default: when stdin and stdout are terminals)
    #[arg(short = 't', long, conflicts_with = "no_tty")]
    pub tty: bool,

    /// No terminal of its own, even at a terminal (stdio passes as it is)
    #[arg(short = 'T', long)]
    pub no_tty: bool,

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

    /// The command and its arguments (default: the image's Cmd)
    // trailing_var_arg: from COMMAND's first word on, everything is
    // COMMAND's (`rd run sh -c 'echo hi'`); before it, `-x` is an rd option,
    // so a mistyped option is an error rather than a command.
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<String>,
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

//! The workshop's support crate: what every level needs but none of them
//! teaches — the command line, images on disk, /dev's device nodes, user
//! names, exit statuses. Each level's `main.rs` stays about one kernel
//! mechanism, called through `nix` with its C semantics.
//!
//! Much of it is rd's own code (`rd::image`, `rd::birth::devices`, `rd::birth::user`):
//! when you have finished the workshop, `src/` is where it all comes together.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::wait::WaitStatus;

pub mod cleanup;

pub use anyhow;
pub use caps;
pub use libseccomp;
pub use nix;

/// `levelNN run [OPTIONS] [-i IMAGE] -- COMMAND [ARG...]`: the same shape as
/// `rd run`, so a level and rd can be checked by the same checker.
#[derive(Debug, Parser)]
#[command(about = "A workshop level: run COMMAND in a (more or less) contained process")]
pub struct Cli {
    /// Where images and containers live (separate from rd's /var/lib/rd)
    #[arg(
        long,
        global = true,
        env = "RD_WORKSHOP_ROOT",
        default_value = "/var/lib/rd-workshop",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Subcommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Run COMMAND in a new container
    Run(Args),
    /// Run COMMAND in a running container, named by the host pid of one of
    /// its processes (level 12)
    Exec(ExecArgs),
}

/// `levelNN exec PID -- COMMAND [ARG...]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// A process of the container, as the host numbers it (its PID 1: `pgrep -f`, `ps`)
    pub pid: i32,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What the command line asks for.
pub enum Command {
    Run(Args),
    Exec(ExecArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Image: busybox (built from the host's static busybox) or breakout
    /// (busybox plus level 03's /bin/breakout)
    #[arg(short, long, default_value = "busybox")]
    pub image: String,
    /// Hostname inside the container (level 05; default: the container id)
    #[arg(long)]
    pub hostname: Option<String>,
    /// Memory limit, e.g. 64m (level 09)
    #[arg(short, long, value_parser = rd::birth::cgroups::parse_memory, value_name = "SIZE")]
    pub memory: Option<u64>,
    /// Memory plus swap limit, e.g. 128m (level 09)
    #[arg(long, value_parser = rd::birth::cgroups::parse_size, value_name = "SIZE")]
    pub memory_swap: Option<u64>,
    /// CPU weight, 1024 being the default (level 08)
    #[arg(long, value_parser = rd::birth::cgroups::parse_cpu_shares, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Run as USER[:GROUP], names or numbers (level 10)
    #[arg(short, long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// A network cable to the host: the container's address, e.g. 10.200.0.2,
    /// in a /24 whose .1 is the host's end (level 13)
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Run in a user namespace: root inside is an unprivileged uid outside,
    /// 100000 (level 14)
    #[arg(long)]
    pub userns: bool,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Filled in from --root.
    #[arg(skip)]
    pub root: PathBuf,
}

/// Parses the command line (and exits with a usage message if it is wrong).
pub fn parse() -> Command {
    let cli = Cli::parse();
    match cli.command {
        Subcommand::Run(mut args) => {
            args.root = cli.root;
            Command::Run(args)
        }
        Subcommand::Exec(args) => Command::Exec(args),
    }
}

/// One container's directory, `<root>/containers/<id>`, removed when the
/// parent is done with it. (A child that execs or exits never runs this.)
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    /// flock(2)ed for the level's life: see the cleanup module.
    _lock: Flock<std::fs::File>,
}

impl Container {
    /// Reclaims what killed levels left in the root (cleanup::reclaim), then
    /// makes this container's directory and locks it.
    pub fn create(args: &Args) -> Result<Container> {
        for line in cleanup::reclaim(&args.root) {
            eprintln!("removed what a killed level left: {line}");
        }
        let id = rd::state::random_id()?;
        let dir = args.root.join("containers").join(&id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let lock = std::fs::File::create(dir.join("lock"))
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
            })
            .with_context(|| format!("locking {}/lock", dir.display()));
        match lock {
            Ok(lock) => Ok(Container {
                id,
                dir,
                _lock: lock,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn store_at(root: &Path) -> rd::image::Store {
    rd::image::Store::new(&rd::state::StateRoot::new(root))
}

/// The level 03 breakout program, compiled static by build.rs.
const BREAKOUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/breakout"));

/// The image's layers, lowest first, unpacked once and cached: what
/// overlayfs stacks as lowerdirs (level 04).
pub fn image_layers(args: &Args) -> Result<Vec<PathBuf>> {
    let store = store_at(&args.root);
    let image = match store.resolve(&args.image) {
        Ok(image) => image,
        Err(_) if args.image == "breakout" => breakout_image(&store)?,
        Err(e) => return Err(e),
    };
    Ok(image.layer_dirs().to_vec())
}

/// The image's layers as image_layers gives them, but with every file's
/// owner and group moved up by `base` (uid 0 becomes `base`, 1000 becomes
/// `base` + 1000): what root in a user namespace that maps 0 to `base` sees
/// as its own (level 14). Each layer is copied and chowned once, then
/// cached in `<root>/layers-shifted/<base>/`. podman does the same for
/// a container with `--userns`, unless idmapped mounts (mount_setattr(2),
/// MOUNT_ATTR_IDMAP) let the kernel shift the owners on the fly instead.
pub fn image_layers_shifted(args: &Args, base: u32) -> Result<Vec<PathBuf>> {
    let cache = args.root.join("layers-shifted").join(base.to_string());
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    // A level killed while copying left `.<layer>-<its pid>`: remove it.
    for entry in std::fs::read_dir(&cache)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix('.').and_then(|n| n.rsplit('-').next());
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let mut shifted = Vec::new();
    for layer in image_layers(args)? {
        let name = layer
            .file_name()
            .context("a layer directory without a name")?;
        let done = cache.join(name);
        if !done.exists() {
            // Made beside, then renamed: a half-made copy is never used.
            let partial = cache.join(format!(
                ".{}-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&partial);
            let result = cp_a(&layer, &partial)
                .and_then(|()| shift_owners(&partial, base))
                .and_then(|()| std::fs::rename(&partial, &done).map_err(Into::into));
            if result.is_err() {
                let _ = std::fs::remove_dir_all(&partial);
                if !done.exists() {
                    // (Another level may have renamed its copy there first.)
                    result
                        .with_context(|| format!("shifting the owners of {}", layer.display()))?;
                }
            }
        }
        shifted.push(done);
    }
    Ok(shifted)
}

/// lchown(2)s every entry below `dir` (and `dir`) by `base`. chown(2)
/// clears the set-user-ID and set-group-ID bits of a file, even root's
/// chown: they are put back. (A file capability, security.capability, is
/// cleared too, and not put back: busybox has none.)
fn shift_owners(dir: &Path, base: u32) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir)?;
    let (uid, gid) = (meta.uid().checked_add(base), meta.gid().checked_add(base));
    let (Some(uid), Some(gid)) = (uid, gid) else {
        bail!(
            "{}: owner {}:{} + {base} is out of range",
            dir.display(),
            meta.uid(),
            meta.gid()
        );
    };
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
        .with_context(|| format!("lchown {}", dir.display()))?;
    if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            shift_owners(&entry?.path(), base)?;
        }
    }
    Ok(())
}

/// `breakout`: busybox plus one layer holding /bin/breakout.
fn breakout_image(store: &rd::image::Store) -> Result<rd::image::Image> {
    busybox_plus(
        store,
        "breakout",
        &[("bin/breakout", 0o755, BREAKOUT)],
        "builtin: busybox + level 03's breakout",
    )
}

/// An image `name` in `root`'s store: busybox's layers, then one layer per
/// `(path, mode, content)`, each holding that one file (the checker's
/// test images are made so).
pub fn image_from_busybox(
    root: &Path,
    name: &str,
    files: &[(&str, u32, &[u8])],
    source: &str,
) -> Result<rd::image::Image> {
    busybox_plus(&store_at(root), name, files, source)
}

fn busybox_plus(
    store: &rd::image::Store,
    name: &str,
    files: &[(&str, u32, &[u8])],
    source: &str,
) -> Result<rd::image::Image> {
    let busybox = store.resolve("busybox")?;
    let mut layers: Vec<(String, u64)> = busybox
        .record
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), if i == 0 { busybox.record.size } else { 0 }))
        .collect();
    for (path, mode, content) in files {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(content.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *content)?;
        let archive = tar.into_inner().context("building a layer")?;
        layers.push(store.add_layer(std::io::Cursor::new(archive), None, None)?);
    }
    let name = rd::image::ImageRef::parse(name)?;
    let record = store.record(&name, layers, busybox.record.config.clone(), source);
    store.save(&name, record)
}

/// A private copy of the image's files for this container (levels 01-03):
/// every start copies the whole image, which level 04 fixes.
pub fn fresh_rootfs(args: &Args, container: &Container) -> Result<PathBuf> {
    let layers = image_layers(args)?;
    let rootfs = container.dir.join("rootfs");
    std::fs::create_dir_all(&rootfs)?;
    eprintln!("extracting image {} into {}", args.image, rootfs.display());
    for layer in layers {
        cp_a(&layer.join("."), &rootfs)?;
    }
    Ok(rootfs)
}

/// `cp -a FROM TO`: a tree copied with its owners, modes and links.
fn cp_a(from: &Path, to: &Path) -> Result<()> {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .context("running cp -a")?;
    if !status.success() {
        bail!("cp -a {} {} failed", from.display(), to.display());
    }
    Ok(())
}

/// Mounts a tmpfs on `<rootfs>/dev` and creates the usual device nodes and
/// links in it (null, zero, full, random, urandom, tty, devpts, shm): rd's
/// own `devices` module, run quietly.
pub fn mount_dev(rootfs: &Path) -> Result<()> {
    populate_dev(rootfs, rd::birth::devices::DevicePolicy::Mknod)
}

/// Like mount_dev, but the tmpfs is nodev and the host's nodes are
/// bind-mounted onto empty files in it (rd's default). In a user namespace
/// mknod(2) is refused, whatever the capabilities: devices are the host's
/// business (level 14).
pub fn bind_dev(rootfs: &Path) -> Result<()> {
    populate_dev(rootfs, rd::birth::devices::DevicePolicy::BindHostNodes)
}

fn populate_dev(rootfs: &Path, policy: rd::birth::devices::DevicePolicy) -> Result<()> {
    rd::trace::Tracer::new(false)
        .run_all(&rd::birth::devices::populate_dev(rootfs, policy))
        .context("populating /dev")
}

/// Brings `lo` up in the current network namespace (rd's `network` module).
pub fn loopback_up() -> Result<()> {
    rd::birth::network::interface_up("lo").context("bringing lo up")
}

/// Resolves `USER[:GROUP]` against the container's /etc/passwd and
/// /etc/group (call it after entering the new root).
pub fn lookup_user(spec: &str) -> Result<rd::birth::user::Identity> {
    rd::birth::user::resolve_in_container(Some(spec))
}

/// The error of an exec that failed: the command could not be run (exit
/// 127, as a shell says), as opposed to a container that failed before.
#[derive(Debug)]
pub struct ExecFailed(pub String);

impl std::fmt::Display for ExecFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExecFailed {}

/// The exit status a shell would report for a waited-for child.
pub fn status_code(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 125,
    }
}

/// Ends the level: the command's status, or 125 and the error on one line.
pub fn exit(result: Result<i32>) -> ! {
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(125)
        }
    }
}

/// Where a level's lesson is still to be written: say so and stop.
pub fn todo(level: &str, what: &str) -> ! {
    eprintln!("TODO({level}): {what} (see the TODOs in src/main.rs and README.md)");
    std::process::exit(1)
}

/// The capabilities a level 11 container's root keeps: docker's default
/// set (rd's `src/security/capabilities.rs`) without CAP_MKNOD. Docker keeps
/// CAP_MKNOD and stops device nodes with the devices cgroup; rd keeps it and
/// makes every writable filesystem nodev. The levels' /dev is a tmpfs that
/// allows devices, so here the capability itself goes.
pub const KEEP_CAPS: [caps::Capability; 13] = [
    caps::Capability::CAP_CHOWN,
    caps::Capability::CAP_DAC_OVERRIDE,
    caps::Capability::CAP_FOWNER,
    caps::Capability::CAP_FSETID,
    caps::Capability::CAP_KILL,
    caps::Capability::CAP_SETGID,
    caps::Capability::CAP_SETUID,
    caps::Capability::CAP_SETPCAP,
    caps::Capability::CAP_NET_BIND_SERVICE,
    caps::Capability::CAP_NET_RAW,
    caps::Capability::CAP_SYS_CHROOT,
    caps::Capability::CAP_AUDIT_WRITE,
    caps::Capability::CAP_SETFCAP,
];

/// Every capability this kernel knows (caps::all() may list newer ones it
/// does not, and PR_CAPBSET_DROP refuses those with EINVAL).
pub fn supported_caps() -> Vec<caps::Capability> {
    rd::security::capabilities::supported()
}

/// A NETLINK_ROUTE socket (rd's `src/birth/netlink.rs`): `ip link` and `ip
/// addr` as calls (add_veth, index, add_address, set_up,
/// add_default_route). It talks to the network namespace it was opened in,
/// for its whole life (level 13).
pub fn netlink() -> Result<rd::birth::netlink::Netlink> {
    rd::birth::netlink::Netlink::open().context("opening a netlink socket")
}

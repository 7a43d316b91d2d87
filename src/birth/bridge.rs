//! `--network bridge`: the cable plugged in. A bridge `rd0` on the host (a
//! virtual switch), and per container a veth pair (a virtual cable): one
//! end, `eth0`, in the container's network namespace, the other on the
//! bridge. An address for `eth0`, a default route via the bridge, IPv4
//! forwarding on the host, and NAT (masquerade) for what leaves the host;
//! `-p` publishes a container's port on the host's (DNAT). See veth(4),
//! ip-link(8), nft(8).
//!
//! What rd changes on the host, and when it is undone:
//! * `rd0`, its address, `net.ipv4.ip_forward=1`, `route_localnet` on
//!   `rd0`, and the nftables table `ip rd` (its own: no other table or chain
//!   is touched) are made on first use and stay while any container uses
//!   them, like docker0; `rd network prune` removes them all and puts
//!   ip_forward back as it was. Addresses and ports are host-wide, like
//!   the bridge: their files live in `/run/rd/network`, whatever `--root`.
//! * A container's veth pair dies with its network namespace: the kernel
//!   deletes both ends when the namespace's last process exits, even after
//!   a SIGKILL. Its address (a lease file) and its `-p` rules are removed by
//!   its monitor, or by the next rd that finds the monitor gone.
//! * Published ports are DNAT rules in prerouting (traffic from other
//!   hosts) and output (from the host itself); 127.0.0.1 works because
//!   `route_localnet` lets the rewritten packet leave through `rd0`, and a
//!   masquerade rule gives it a source the container can answer. (docker
//!   answers loopback with a userland proxy; rules keep rd to one process.)

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::netlink::Netlink;
use crate::state::private_dir_all;
use crate::syscall::{Step, Syscall};
use crate::trace::Tracer;

/// The bridge's name.
pub const BRIDGE: &str = "rd0";
/// The default subnet (`RD_BRIDGE_SUBNET` changes it): private, and
/// rarely used by anything else (docker takes 172.17/16, podman 10.88/16).
pub const DEFAULT_SUBNET: &str = "10.123.0.0/16";
/// The nftables table rd keeps its rules in.
const TABLE: &str = "rd";

/// An IPv4 subnet: the bridge has its first address, containers the rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `A.B.C.D/P`: a private range, /8 to /28, with no host bits.
    pub fn parse(text: &str) -> Result<Subnet, String> {
        let bad =
            || format!("'{text}' is not a private IPv4 subnet like {DEFAULT_SUBNET} (/8 to /28)");
        let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
        let base: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(8..=28).contains(&prefix) || !base.is_private() {
            return Err(bad());
        }
        let s = Subnet { base, prefix };
        if u32::from(base) & !s.mask() != 0 {
            return Err(bad());
        }
        Ok(s)
    }

    /// `RD_BRIDGE_SUBNET`, or the default.
    pub fn from_env() -> Result<Subnet> {
        let text = std::env::var("RD_BRIDGE_SUBNET").unwrap_or_else(|_| DEFAULT_SUBNET.into());
        Subnet::parse(&text).map_err(|e| anyhow::anyhow!("RD_BRIDGE_SUBNET: {e}"))
    }

    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }

    /// The n-th address (n >= 2: .0 is the network, .1 the bridge), if it
    /// is not the broadcast address.
    fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        (n >= 2 && n < !self.mask()).then(|| Ipv4Addr::from(u32::from(self.base) + n))
    }

    fn overlaps(&self, dest: u32, mask: u32) -> bool {
        let m = mask & self.mask();
        dest & m == u32::from(self.base) & m
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Where the bridge's state lives: host-wide, like the bridge itself (two
/// state roots share rd0, so they must share its addresses and ports), and
/// on /run, which a reboot empties together with the bridge.
/// `RD_NETWORK_DIR` moves it (for tests).
fn network_dir() -> PathBuf {
    std::env::var_os("RD_NETWORK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/rd/network"))
}

/// flock(2) of the network directory's lock: shared while a container
/// takes its address, exclusive to make or prune the bridge.
fn network_lock(exclusive: bool) -> Result<crate::state::StateLock> {
    crate::state::StateRoot::new(&network_dir()).lock("network", exclusive)
}

/// A container's address: `/run/rd/network/leases/<addr>` holds the
/// container's directory, made with O_EXCL (two rd runs can never take one
/// address), removed when dropped; a lease whose container's monitor is
/// gone is taken back by the next rd that looks for a free address.
pub struct Lease {
    path: PathBuf,
    pub addr: Ipv4Addr,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the lowest free address of the subnet for the container whose
/// directory is `owner`.
pub fn lease(subnet: &Subnet, owner: &Path) -> Result<Lease> {
    let _shared = network_lock(false)?;
    if !bridge_exists() {
        bail!("the bridge {BRIDGE} was removed (rd network prune?) while this container started: run it again");
    }
    let dir = network_dir().join("leases");
    private_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // The lowest free address. Leases of dead containers are taken back
    // only when none is free (and by rd cleanup, rd network prune): the
    // common start checks no other container's liveness.
    for sweep in [false, true] {
        if sweep {
            sweep_stale();
        }
        let mut n = 2;
        while let Some(addr) = subnet.nth(n) {
            let path = dir.join(addr.to_string());
            match claim(&path, owner) {
                Ok(()) => return Ok(Lease { path, addr }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }
    bail!("every address of {subnet} is taken: rd rm some containers, or choose a larger RD_BRIDGE_SUBNET")
}

/// Creates `path` holding `owner`, whole, or fails with AlreadyExists: the
/// content is written to a temporary file first, then link(2)ed into
/// place, so no reader (the sweep) ever sees an empty claim.
fn claim(path: &Path, owner: &Path) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, owner.as_os_str().as_encoded_bytes())?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// Takes back what containers whose monitor is gone held: their leases,
/// their published ports and those ports' rules. (A lease names the
/// container's directory; its monitor's flock says if it lives.)
pub fn sweep_stale() {
    for sub in ["leases", "ports"] {
        let Ok(entries) = std::fs::read_dir(network_dir().join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue; // a claim being made
            }
            let Ok(owner) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let owner = PathBuf::from(owner);
            if !crate::lifecycle::record::monitor_alive(&owner) {
                let _ = std::fs::remove_file(e.path());
                if sub == "ports" {
                    let id = owner
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let _ = delete_rules(&id);
                }
            }
        }
    }
}

/// Whether the container a claim names has no monitor any more.
fn is_stale(claim: &Path) -> bool {
    std::fs::read_to_string(claim)
        .map(|owner| !crate::lifecycle::record::monitor_alive(Path::new(&owner)))
        .unwrap_or(false)
}

/// Whether rd0 exists in the host's namespace.
fn bridge_exists() -> bool {
    Netlink::open().and_then(|mut nl| nl.index(BRIDGE)).is_ok()
}

/// Runs `nft -j JSON` with `commands` (nft's JSON schema,
/// libnftables-json(5)), as one argument: `-f -` would need /dev/stdin,
/// which a minimal /dev (a container's, an initramfs's) may lack.
fn nft(commands: Vec<serde_json::Value>) -> Result<()> {
    let text = json!({ "nftables": commands }).to_string();
    let out = Command::new("nft")
        .args(["-j", &text])
        .stdin(Stdio::null())
        .output()
        .context("running nft (install the nftables package: scripts/setup.sh does)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "nft refused rd's rules: {}",
            err.lines().next().unwrap_or("?")
        );
    }
    Ok(())
}

fn rule(chain: &str, comment: Option<&str>, expr: Vec<serde_json::Value>) -> serde_json::Value {
    let mut r = json!({ "family": "ip", "table": TABLE, "chain": chain, "expr": expr });
    if let Some(c) = comment {
        r["comment"] = c.into();
    }
    json!({ "add": { "rule": r } })
}

fn saddr(addr: &str, len: u8) -> serde_json::Value {
    json!({ "match": { "op": "==", "left": { "payload": { "protocol": "ip", "field": "saddr" } },
                       "right": { "prefix": { "addr": addr, "len": len } } } })
}

fn oifname(op: &str, name: &str) -> serde_json::Value {
    json!({ "match": { "op": op, "left": { "meta": { "key": "oifname" } }, "right": name } })
}

/// Makes the bridge, its address, forwarding and NAT, if missing. Under
/// the `network` lock: two first runs at once make one bridge.
pub fn ensure_bridge(subnet: &Subnet, t: &Tracer) -> Result<()> {
    if bridge_exists() {
        return Ok(()); // the common case: no lock (lease() checks again, locked)
    }
    let _lock = network_lock(true)?;
    let mut nl = Netlink::open().context("opening a netlink socket")?;
    if nl.index(BRIDGE).is_ok() {
        return Ok(());
    }
    check_routes(subnet)?;
    t.timed(
        format!("RTM_NEWLINK {BRIDGE} type bridge"),
        "a virtual switch on the host: every container's veth plugs into it",
        || nl.add_bridge(BRIDGE),
    )
    .context("creating the bridge rd0")?;
    let index = nl.index(BRIDGE).context("finding rd0")?;
    // Nothing half-made: a failure from here (no nft, say) removes the
    // bridge and puts ip_forward back.
    let result = configure_bridge(&mut nl, index, subnet, t);
    if result.is_err() {
        let _ = nl.delete(index);
        let saved = network_dir().join("ip_forward.saved");
        if let Ok(value) = std::fs::read_to_string(&saved) {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", value.trim());
            let _ = std::fs::remove_file(&saved);
        }
        let _ = nft(vec![
            json!({ "delete": { "table": { "family": "ip", "name": TABLE } } }),
        ]);
    }
    result
}

/// rd0's address, up, forwarding, route_localnet, the NAT table.
fn configure_bridge(nl: &mut Netlink, index: u32, subnet: &Subnet, t: &Tracer) -> Result<()> {
    t.timed(
        format!(
            "RTM_NEWADDR {}/{} dev {BRIDGE}",
            subnet.gateway(),
            subnet.prefix
        ),
        "the bridge's own address: the containers' gateway",
        || nl.add_address(index, subnet.gateway(), subnet.prefix),
    )
    .context("giving rd0 its address")?;
    t.timed(
        format!("RTM_NEWLINK {BRIDGE} up"),
        "a link is down until told otherwise",
        || nl.set_up(index, None),
    )
    .context("bringing rd0 up")?;
    // Forwarding: saved first, so `rd network prune` can put it back.
    let saved = network_dir().join("ip_forward.saved");
    let forward = "/proc/sys/net/ipv4/ip_forward";
    let before = std::fs::read_to_string(forward).unwrap_or_default();
    if before.trim() != "1" && !saved.exists() {
        std::fs::write(&saved, before.trim()).context("saving ip_forward")?;
    }
    for (file, why) in [
        (
            forward.to_string(),
            "the host routes between rd0 and its other links: containers reach out",
        ),
        (
            format!("/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet"),
            "a packet to 127.0.0.1, rewritten to a container's address (-p), may leave through rd0",
        ),
    ] {
        t.timed(format!("write({file:?}, \"1\")"), why, || {
            std::fs::write(&file, "1")
        })
        .with_context(|| format!("writing {file}"))?;
    }
    let net = subnet.base.to_string();
    t.timed(
        format!("nft: table ip {TABLE}, nat chains, masquerade {subnet}"),
        "NAT: what leaves the host from a container carries the host's address",
        || {
            nft(vec![
                json!({ "add": { "table": { "family": "ip", "name": TABLE } } }),
                json!({ "add": { "chain": { "family": "ip", "table": TABLE, "name": "prerouting",
                    "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept" } } }),
                json!({ "add": { "chain": { "family": "ip", "table": TABLE, "name": "output",
                    "type": "nat", "hook": "output", "prio": -100, "policy": "accept" } } }),
                json!({ "add": { "chain": { "family": "ip", "table": TABLE, "name": "postrouting",
                    "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept" } } }),
                rule(
                    "postrouting",
                    None,
                    vec![
                        saddr(&net, subnet.prefix),
                        oifname("!=", BRIDGE),
                        json!({ "masquerade": null }),
                    ],
                ),
                rule(
                    "postrouting",
                    None,
                    vec![
                        saddr("127.0.0.0", 8),
                        oifname("==", BRIDGE),
                        json!({ "masquerade": null }),
                    ],
                ),
            ])
        },
    )?;
    Ok(())
}

/// Refuses a subnet that overlaps a route the host already has (its LAN,
/// a VPN): containers would shadow it, or it them.
pub fn check_routes(subnet: &Subnet) -> Result<()> {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
        let (Some(dest), Some(mask)) = (hex(f[1]), hex(f[7])) else {
            continue;
        };
        if mask != 0 && f[0] != BRIDGE && subnet.overlaps(dest, mask) {
            bail!(
                "the bridge's subnet {subnet} overlaps the host's route to {}/{} (dev {}): set RD_BRIDGE_SUBNET to another private range",
                Ipv4Addr::from(dest),
                mask.count_ones(),
                f[0]
            );
        }
    }
    Ok(())
}

/// The container's side, in its own network namespace: the veth pair
/// (peer born in the host's namespace), the host end on the bridge, the
/// address, up, the default route.
pub fn container_steps(
    host_netns: i32,
    host_netlink: i32,
    id: &str,
    lease: Ipv4Addr,
    subnet: &Subnet,
) -> Vec<Step> {
    let peer = format!("rdv{}", &id[..id.len().min(10)]);
    vec![
        Step::new(
            Syscall::Veth {
                name: "eth0".into(),
                peer: peer.clone(),
                peer_netns: host_netns,
            },
            "a virtual cable: eth0 here, its other end born in the host's namespace",
        ),
        Step::new(
            Syscall::AttachToBridge {
                socket: host_netlink,
                link: peer,
                bridge: BRIDGE.into(),
            },
            "the host end plugs into rd0 (through a netlink socket opened in the host's namespace)",
        ),
        Step::new(
            Syscall::AddAddress {
                link: "eth0".into(),
                addr: lease,
                prefix: subnet.prefix,
            },
            "its address on the bridge's subnet (leased, unique)",
        ),
        Step::new(
            Syscall::InterfaceUp {
                name: "eth0".into(),
            },
            "a link is down until told otherwise",
        ),
        Step::new(
            Syscall::DefaultRoute {
                gateway: subnet.gateway(),
            },
            "everything not on the bridge goes to the host, which forwards and masquerades it",
        ),
    ]
}

/// `-p [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub port: u16,
    pub udp: bool,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        let proto = if self.udp { "udp" } else { "tcp" };
        write!(f, "{ip}:{}->{}/{proto}", self.host_port, self.port)
    }
}

pub fn parse_port(text: &str) -> Result<Port, String> {
    let bad = || format!("-p '{text}': use [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp], ports 1-65535");
    let (spec, udp) = match text.rsplit_once('/') {
        Some((s, "tcp")) => (s, false),
        Some((s, "udp")) => (s, true),
        Some(_) => return Err(bad()),
        None => (text, false),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [h, c] => (None, *h, *c),
        [i, h, c] => (Some(*i), *h, *c),
        _ => return Err(bad()),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    Ok(Port {
        host_ip: match ip {
            None | Some("") => None,
            Some(i) => Some(i.parse().map_err(|_| bad())?),
        },
        host_port: port(host).ok_or_else(bad)?,
        port: port(ctr).ok_or_else(bad)?,
        udp,
    })
}

/// Published ports: claimed files (one container per host port), and the
/// DNAT rules; all removed when dropped.
pub struct Published {
    claims: Vec<PathBuf>,
    id: String,
    rules: bool,
}

impl Drop for Published {
    fn drop(&mut self) {
        if self.rules {
            let _ = delete_rules(&self.id);
        }
        for c in &self.claims {
            let _ = std::fs::remove_file(c);
        }
    }
}

/// Claims each host port for the container in `owner` (its directory) and
/// adds its DNAT rules.
pub fn publish(owner: &Path, addr: Ipv4Addr, ports: &[Port], t: &Tracer) -> Result<Published> {
    let id = owner
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let id = id.as_str();
    let mut published = Published {
        claims: vec![],
        id: id.to_string(),
        rules: false,
    };
    if ports.is_empty() {
        return Ok(published);
    }
    let dir = network_dir().join("ports");
    private_dir_all(&dir)?;
    for p in ports {
        let proto = if p.udp { "udp" } else { "tcp" };
        let path = dir.join(format!("{proto}-{}", p.host_port));
        let mut claimed = claim(&path, owner);
        if claimed
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists)
            && is_stale(&path)
        {
            // Its container's monitor is gone: its rules and claim go.
            sweep_stale();
            claimed = claim(&path, owner);
        }
        match claimed {
            Ok(()) => published.claims.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = Path::new(&holder)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                bail!("port {}/{proto} is already published by container {holder}: choose another host port", p.host_port);
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        // A program of the host's listening there would be shadowed: refuse.
        let ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let free = if p.udp {
            std::net::UdpSocket::bind((ip, p.host_port)).map(drop)
        } else {
            std::net::TcpListener::bind((ip, p.host_port)).map(drop)
        };
        if let Err(e) = free {
            bail!(
                "port {}/{proto} on {ip} is not free on the host ({e}): choose another host port",
                p.host_port
            );
        }
    }
    let comment = format!("rd:{id}");
    let mut rules = Vec::new();
    for p in ports {
        let proto = if p.udp { "udp" } else { "tcp" };
        let mut expr = vec![json!({ "match": { "op": "==",
            "left": { "fib": { "result": "type", "flags": ["daddr"] } }, "right": "local" } })];
        if let Some(ip) = p.host_ip {
            expr.push(json!({ "match": { "op": "==",
                "left": { "payload": { "protocol": "ip", "field": "daddr" } }, "right": ip.to_string() } }));
        }
        expr.push(json!({ "match": { "op": "==",
            "left": { "payload": { "protocol": proto, "field": "dport" } }, "right": p.host_port } }));
        expr.push(json!({ "dnat": { "addr": addr.to_string(), "port": p.port } }));
        for chain in ["prerouting", "output"] {
            rules.push(rule(chain, Some(&comment), expr.clone()));
        }
    }
    let list: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
    t.timed(
        format!("nft: dnat {} to {addr} (prerouting, output)", list.join(", ")),
        "-p: a connection to the host's port is rewritten to the container's address, from other hosts and from this one",
        || nft(rules),
    )?;
    published.rules = true;
    Ok(published)
}

/// Deletes the rules commented `rd:<id>` from rd's table.
fn delete_rules(id: &str) -> Result<()> {
    let out = Command::new("nft")
        .args(["-j", "-a", "list", "table", "ip", TABLE])
        .output()
        .context("running nft")?;
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let comment = format!("rd:{id}");
    let deletes: Vec<serde_json::Value> = listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["comment"] == comment.as_str())
        .map(|r| {
            json!({ "delete": { "rule": { "family": "ip", "table": TABLE,
                "chain": r["chain"], "handle": r["handle"] } } })
        })
        .collect();
    if deletes.is_empty() {
        return Ok(());
    }
    nft(deletes)
}

/// `rd network prune`: the bridge, the table and forwarding as before rd's
/// first bridged run, when no container holds an address any more.
pub fn prune() -> Result<Vec<String>> {
    let _lock = network_lock(true)?;
    sweep_stale();
    let leases: Vec<String> = std::fs::read_dir(network_dir().join("leases"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    if !leases.is_empty() {
        bail!(
            "{} container(s) still use the bridge ({}): rd rm them first",
            leases.len(),
            leases.join(", ")
        );
    }
    let mut done = Vec::new();
    let mut nl = Netlink::open().context("opening a netlink socket")?;
    if let Ok(index) = nl.index(BRIDGE) {
        nl.delete(index).context("deleting rd0")?;
        done.push(format!("deleted the bridge {BRIDGE}"));
    }
    let exists = Command::new("nft")
        .args(["list", "table", "ip", TABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if exists {
        nft(vec![
            json!({ "delete": { "table": { "family": "ip", "name": TABLE } } }),
        ])?;
        done.push(format!("deleted the nftables table ip {TABLE}"));
    }
    let saved = network_dir().join("ip_forward.saved");
    if let Ok(value) = std::fs::read_to_string(&saved) {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", value.trim())
            .context("restoring ip_forward")?;
        let _ = std::fs::remove_file(&saved);
        done.push(format!("net.ipv4.ip_forward back to {}", value.trim()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.123.0.0/16").unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 123, 0, 1));
        assert_eq!(s.nth(2), Some(Ipv4Addr::new(10, 123, 0, 2)));
        assert_eq!(s.nth(65535), None);
        // A host route to 10.0.0.0/8 covers it; one to 192.0.2.0/24 does not.
        assert!(s.overlaps(u32::from(Ipv4Addr::new(10, 0, 0, 0)), 0xff00_0000));
        assert!(!s.overlaps(u32::from(Ipv4Addr::new(192, 0, 2, 0)), 0xffff_ff00));
        for bad in [
            "8.8.8.0/24",
            "10.123.0.1/16",
            "10.0.0.0/30",
            "10.0.0.0",
            "x/16",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(
            parse_port("127.0.0.1:8080:80").unwrap(),
            Port {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                port: 80,
                udp: false
            }
        );
        assert!(parse_port("53:53/udp").unwrap().udp);
        for bad in [
            "80",
            "0:80",
            "8080:80/sctp",
            "x:80:80",
            "70000:80",
            "1:2:3:4",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }
}

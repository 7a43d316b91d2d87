//! seccomp: a filter the kernel runs on every system call the container
//! makes, before the call itself. See seccomp(2), and the kernel's
//! Documentation/userspace-api/seccomp_filter.rst.
//!
//! Capabilities decide *who* may do a privileged thing; seccomp removes
//! whole system calls, privileged or not: the kernel code behind keyctl(2)
//! or bpf(2) cannot be exploited by a program that cannot reach it. The
//! filter is a small BPF program, inherited by every child and kept across
//! execve(2); nothing in the container can remove it.
//!
//! rd's default profile refuses what docker's default refuses, with EPERM,
//! and allows everything else (docker's is an allow-list of ~350 calls;
//! the effect for a container without CAP_SYS_ADMIN is the same). `--security-opt
//! seccomp=FILE.json` loads a profile in docker's format instead, and
//! `seccomp=unconfined` loads none.
//!
//! Why libseccomp (the C library, through the `libseccomp` crate) and not
//! the pure-Rust seccompiler: docker's profile format *is* libseccomp's
//! model (an action per rule, argument comparisons, architecture lists),
//! so a profile file maps onto it one to one, as it does for runc and crun.
//! seccompiler has one action per filter. libseccomp compiles rd's default
//! profile in about 0.3 ms, so rd keeps the compiled program in its state
//! root (`seccomp/`, by the profile's hash) and the next start reads it.
//!
//! Foreign ABIs. An x86_64 process can still enter the kernel through the
//! i386 (`int $0x80`) and x32 entry points, with other syscall numbers that
//! a filter written for x86_64 would not recognise. The filter first checks
//! the architecture of each call; a foreign one is refused (EPERM).

use std::path::Path;

use anyhow::{bail, Context, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::errno::Errno;
use serde::Deserialize;

/// One rule: when `syscall` is called (with `args` matching), do `action`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub syscall: String,
    pub action: ScmpAction,
    pub args: Vec<ScmpArgCompare>,
}

/// A whole filter: the rules, what to do otherwise, which ABIs to accept.
#[derive(Debug, Clone)]
pub struct Profile {
    pub default_action: ScmpAction,
    /// ABIs besides the native one (a docker profile may list x86 and x32).
    pub extra_arches: Vec<ScmpArch>,
    pub rules: Vec<Rule>,
    /// Where it came from, for the trace: "rd's default" or the file.
    pub origin: String,
}

const EPERM: ScmpAction = ScmpAction::Errno(libc::EPERM);

/// rd's default profile, group by group: what is refused, and why.
const REFUSED: &[(&str, &[&str])] = &[
    // The kernel keyring is not namespaced: a container could read or
    // plant keys of the host's users.
    ("keyring", &["keyctl", "add_key", "request_key"]),
    // Programs and observers inside the host's kernel: BPF runs code in
    // the kernel, perf_event_open watches the whole machine, userfaultfd is
    // the classic tool for winning kernel race conditions.
    (
        "kernel observation and code",
        &["bpf", "perf_event_open", "userfaultfd"],
    ),
    // New namespaces, above all user namespaces: inside one, an ordinary
    // process is "root" again to a large, often buggy, part of the kernel.
    // (clone creating a user namespace is refused by the rule below; clone3
    // passes its flags in memory that a filter cannot read, so it answers
    // ENOSYS and the C library falls back to clone.)
    ("namespaces", &["unshare", "setns"]),
    // Mounting: the mount table is how a container was built; changing it
    // from inside is how it is escaped.
    (
        "mounts",
        &[
            "mount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
        ],
    ),
    // Code into the host's kernel, or a new kernel altogether.
    (
        "kernel modules and kexec",
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "kexec_file_load",
        ],
    ),
    // open_by_handle_at opens any file of a filesystem by its handle,
    // outside the container's root (the 2014 "shocker" escape).
    ("file handles", &["open_by_handle_at", "name_to_handle_at"]),
    // The machine as a whole: power, swap, clock, accounting, quotas, the
    // kernel log, I/O ports.
    (
        "host-wide state",
        &[
            "reboot",
            "swapon",
            "swapoff",
            "settimeofday",
            "clock_settime",
            "clock_adjtime",
            "adjtimex",
            "acct",
            "quotactl",
            "quotactl_fd",
            "syslog",
            "lookup_dcookie",
            "iopl",
            "ioperm",
            "vhangup",
        ],
    ),
    // Obsolete interfaces nobody needs and attackers like.
    (
        "obsolete",
        &["uselib", "ustat", "sysfs", "_sysctl", "nfsservctl"],
    ),
];

impl Profile {
    /// rd's default: allow, except the calls above (EPERM), clone with
    /// CLONE_NEWUSER (EPERM) and clone3 (ENOSYS).
    pub fn default_profile() -> Profile {
        let mut rules: Vec<Rule> = REFUSED
            .iter()
            .flat_map(|(_, calls)| calls.iter())
            .map(|name| Rule {
                syscall: name.to_string(),
                action: EPERM,
                args: vec![],
            })
            .collect();
        // clone(flags, ...) on x86_64: flags is the first argument.
        let newuser = libc::CLONE_NEWUSER as u64;
        rules.push(Rule {
            syscall: "clone".into(),
            action: EPERM,
            args: vec![ScmpArgCompare::new(
                0,
                ScmpCompareOp::MaskedEqual(newuser),
                newuser,
            )],
        });
        rules.push(Rule {
            syscall: "clone3".into(),
            action: ScmpAction::Errno(libc::ENOSYS),
            args: vec![],
        });
        Profile {
            default_action: ScmpAction::Allow,
            extra_arches: vec![],
            rules,
            origin: "rd's default".into(),
        }
    }

    /// One line for `--trace`.
    pub fn summary(&self) -> String {
        let refused = self
            .rules
            .iter()
            .filter(|r| r.action != ScmpAction::Allow)
            .count();
        let allowed = self.rules.len() - refused;
        format!(
            "{}: default {}, {allowed} rules allow, {refused} refuse, foreign ABIs refused{}",
            self.origin,
            action_name(self.default_action),
            if self.extra_arches.is_empty() {
                String::new()
            } else {
                format!(" but {:?}", self.extra_arches)
            }
        )
    }

    /// Reads a profile in docker's JSON format (moby's profiles/seccomp).
    /// `caps` are the container's capabilities: docker's profile enables
    /// some rules only for containers holding a capability.
    pub fn from_docker_file(path: &Path, caps: &[caps::Capability]) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seccomp profile {}", path.display()))?;
        let mut profile = Profile::from_docker_json(&text, caps)
            .with_context(|| format!("seccomp profile {}", path.display()))?;
        profile.origin = path.display().to_string();
        Ok(profile)
    }

    pub fn from_docker_json(text: &str, caps: &[caps::Capability]) -> Result<Profile> {
        let doc: DockerProfile =
            serde_json::from_str(text).context("not a docker seccomp profile")?;
        let default_action = parse_action(&doc.default_action, doc.default_errno_ret)?;
        let mut extra_arches = Vec::new();
        let arch_names = doc
            .arch_map
            .iter()
            .flat_map(|m| std::iter::once(&m.architecture).chain(m.sub_architectures.iter()))
            .chain(doc.architectures.iter());
        for name in arch_names {
            let arch: ScmpArch = name
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown architecture '{name}'"))?;
            // Only the ABIs this machine can run matter; archMap lists others.
            if arch != ScmpArch::native() && runs_here(arch) && !extra_arches.contains(&arch) {
                extra_arches.push(arch);
            }
        }
        let cap_names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
        let mut rules = Vec::new();
        for entry in &doc.syscalls {
            if !entry.includes.applies(&cap_names, true)
                || entry.excludes.applies(&cap_names, false)
            {
                continue;
            }
            let action = parse_action(&entry.action, entry.errno_ret)?;
            let mut args = Vec::new();
            for a in &entry.args {
                let op = match a.op.as_str() {
                    "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
                    "SCMP_CMP_LT" => ScmpCompareOp::Less,
                    "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
                    "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
                    "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
                    "SCMP_CMP_GT" => ScmpCompareOp::Greater,
                    "SCMP_CMP_MASKED_EQ" => ScmpCompareOp::MaskedEqual(a.value),
                    other => bail!("unknown argument comparison '{other}'"),
                };
                let datum = if a.op == "SCMP_CMP_MASKED_EQ" {
                    a.value_two
                } else {
                    a.value
                };
                if a.index > 5 {
                    bail!("argument index {} out of range 0-5", a.index);
                }
                args.push(ScmpArgCompare::new(a.index, op, datum));
            }
            let names = entry.names.iter().chain(entry.name.iter());
            for name in names {
                rules.push(Rule {
                    syscall: name.clone(),
                    action,
                    args: args.clone(),
                });
            }
        }
        Ok(Profile {
            default_action,
            extra_arches,
            rules,
            origin: "profile".into(),
        })
    }

    /// Compiles the profile into a filter (not yet loaded).
    fn compile(&self) -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
        let mut filter = ScmpFilterContext::new(self.default_action)?;
        // libseccomp sets no_new_privs itself at load unless told not to;
        // that is --security-opt no-new-privileges' decision, not seccomp's.
        filter.set_ctl_nnp(false)?;
        filter.set_act_badarch(EPERM)?;
        for arch in &self.extra_arches {
            filter.add_arch(*arch)?;
        }
        for rule in &self.rules {
            if rule.action == self.default_action {
                continue; // libseccomp refuses a rule that changes nothing
            }
            // A name this libseccomp or this architecture does not know
            // cannot be called here anyway (docker's profiles list many).
            let Ok(call) = ScmpSyscall::from_name(&rule.syscall) else {
                continue;
            };
            if rule.args.is_empty() {
                filter.add_rule(rule.action, call)?;
            } else {
                filter.add_rule_conditional(rule.action, call, &rule.args)?;
            }
        }
        Ok(filter)
    }
}

/// A compiled filter: the BPF program libseccomp generated, as the kernel
/// takes it (an array of `struct sock_filter`).
#[derive(Debug)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    /// The profile's one-line summary, for `--trace`.
    pub summary: String,
    /// Its name in the cache (`<key>.bpf`), once cached: `rd exec` loads
    /// the very program the container's init got.
    pub key: Option<String>,
}

/// Compiles the profile into BPF, or reads it from `cache` (a directory
/// of rd's state root) when this profile was compiled before. libseccomp
/// takes about 0.3 ms per compile, more than any other step of a start;
/// the cached program is a few hundred bytes. The file is named by the
/// sha256 of the profile and of libseccomp's version, so a changed profile
/// or library never meets a stale program.
pub fn compile_cached(profile: &Profile, cache: &Path) -> Result<Program> {
    use sha2::{Digest, Sha256};
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let key = format!(
        "{:x}",
        Sha256::digest(format!("{version}\n{profile:?}").as_bytes())
    );
    let path = cache.join(format!("{key}.bpf"));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(mut program) = Program::from_bytes(&bytes, profile.summary()) {
            program.key = Some(key);
            return Ok(program);
        }
    }
    let mut program = compile(profile)?;
    // A cache that cannot be written costs only time (and `rd exec` says
    // it cannot find the program).
    let written = crate::state::private_dir_all(cache).and_then(|()| {
        let tmp = cache.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, program.to_bytes())?;
        std::fs::rename(&tmp, &path)
    });
    if written.is_ok() {
        program.key = Some(key);
    }
    Ok(program)
}

/// The cached program named `key` (for `rd exec`).
pub fn read_cached(cache: &Path, key: &str) -> Result<Program> {
    let ok = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
    let path = cache.join(format!("{key}.bpf"));
    let bytes = std::fs::read(&path)
        .ok()
        .filter(|_| ok)
        .with_context(|| format!("the container's seccomp program {} is missing: rd exec will not run a process with a laxer filter than the container's", path.display()))?;
    Program::from_bytes(&bytes, format!("the container's filter ({key:.12})"))
        .with_context(|| format!("{} is not a seccomp program", path.display()))
}

/// Compiles the profile into BPF with libseccomp.
pub fn compile(profile: &Profile) -> Result<Program> {
    let ctx = profile.compile().map_err(|e| {
        anyhow::anyhow!(
            "the seccomp profile ({}) does not compile: {e}",
            profile.origin
        )
    })?;
    let memfd =
        nix::sys::memfd::memfd_create(c"rd-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .context("memfd_create for the seccomp program")?;
    ctx.export_bpf(&memfd)
        .map_err(|e| anyhow::anyhow!("exporting the seccomp program: {e}"))?;
    let mut file = std::fs::File::from(memfd);
    use std::io::{Read, Seek};
    file.rewind().context("reading the seccomp program")?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .context("reading the seccomp program")?;
    Program::from_bytes(&bytes, profile.summary())
        .context("libseccomp exported a program rd cannot read")
}

impl Program {
    /// `struct sock_filter` is 8 bytes: code (u16), jt, jf (u8), k (u32).
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();

    fn from_bytes(bytes: &[u8], summary: String) -> Option<Program> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(Self::INSN)
            || bytes.len() / Self::INSN > 4096
        {
            return None;
        }
        let filter = bytes
            .chunks_exact(Self::INSN)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Program {
            filter,
            summary,
            key: None,
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.filter
            .iter()
            .flat_map(|f| {
                let mut b = Vec::with_capacity(Self::INSN);
                b.extend_from_slice(&f.code.to_ne_bytes());
                b.push(f.jt);
                b.push(f.jf);
                b.extend_from_slice(&f.k.to_ne_bytes());
                b
            })
            .collect()
    }
}

/// Loads the program for the calling thread and everything it execs:
/// seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog). Without no_new_privs this
/// needs CAP_SYS_ADMIN, which rd still holds at this step.
pub fn load(program: &Program) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: program.filter.len() as u16,
        filter: program.filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at a valid filter array for the call's duration.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(rc).map(drop)
}

fn runs_here(arch: ScmpArch) -> bool {
    matches!(
        (ScmpArch::native(), arch),
        (ScmpArch::X8664, ScmpArch::X86 | ScmpArch::X32) | (ScmpArch::Aarch64, ScmpArch::Arm)
    )
}

fn action_name(a: ScmpAction) -> String {
    match a {
        ScmpAction::Allow => "ALLOW".into(),
        ScmpAction::Errno(e) => format!("ERRNO({})", Errno::from_raw(e)),
        other => format!("{other:?}").to_uppercase(),
    }
}

fn parse_action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.unwrap_or(0) as u16),
        other => bail!("unsupported action '{other}' (rd knows SCMP_ACT_ALLOW, ERRNO, KILL, KILL_PROCESS, TRAP, LOG, TRACE)"),
    })
}

/// docker's profile format, the parts rd uses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<DockerRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerRule {
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<DockerArg>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// A rule's `includes`/`excludes`: capabilities and architectures.
#[derive(Deserialize, Default)]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
}

impl Filter {
    /// Does the condition hold? An empty condition holds for `includes`
    /// (`empty`) and not for `excludes`.
    fn applies(&self, caps: &[String], empty: bool) -> bool {
        if self.caps.is_empty() && self.arches.is_empty() {
            return empty;
        }
        let native = native_arch_names();
        let caps_hit = self.caps.iter().any(|c| caps.contains(c));
        let arch_hit = self.arches.iter().any(|a| native.contains(&a.as_str()));
        if empty {
            // includes: every listed kind must match.
            (self.caps.is_empty() || self.caps.iter().all(|c| caps.contains(c)))
                && (self.arches.is_empty() || arch_hit)
        } else {
            caps_hit || arch_hit
        }
    }
}

/// The names docker's profiles use for this machine's architecture.
fn native_arch_names() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["amd64", "x86_64"],
        "aarch64" => &["arm64", "aarch64"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles_and_names_known_calls() {
        let p = Profile::default_profile();
        let program = compile(&p).unwrap();
        assert!(program.filter.len() > 40, "{}", program.filter.len());
        let cache = tempfile::tempdir().unwrap();
        let first = compile_cached(&p, cache.path()).unwrap();
        let again = compile_cached(&p, cache.path()).unwrap();
        assert_eq!(first.to_bytes(), program.to_bytes());
        assert_eq!(again.to_bytes(), program.to_bytes());
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
        for name in [
            "keyctl",
            "bpf",
            "mount",
            "unshare",
            "kexec_load",
            "open_by_handle_at",
        ] {
            assert!(p.rules.iter().any(|r| r.syscall == name), "{name}");
        }
    }

    #[test]
    fn docker_format() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }"#;
        let p = Profile::from_docker_json(json, &[]).unwrap();
        assert_eq!(p.default_action, ScmpAction::Errno(1));
        assert!(p
            .rules
            .iter()
            .any(|r| r.syscall == "clone" && r.args.len() == 1));
        assert!(!p.rules.iter().any(|r| r.syscall == "mount"));
        assert!(p
            .rules
            .iter()
            .any(|r| r.syscall == "clone3" && r.action == ScmpAction::Errno(38)));
        compile(&p).unwrap();
        let admin = Profile::from_docker_json(json, &[caps::Capability::CAP_SYS_ADMIN]).unwrap();
        assert!(admin.rules.iter().any(|r| r.syscall == "mount"));
        assert!(!admin.rules.iter().any(|r| r.syscall == "clone"));
        assert!(Profile::from_docker_json("{\"defaultAction\": \"SCMP_ACT_DANCE\"}", &[]).is_err());
        assert!(Profile::from_docker_json("[]", &[]).is_err());
    }
}

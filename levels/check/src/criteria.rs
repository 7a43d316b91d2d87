//! What each level must do, as probes: run the level with a command whose
//! output shows the property, then judge the output (and the host).
//!
//! Two habits keep the verdicts honest:
//! - a negative criterion ("the host's file is NOT visible") also needs a
//!   sign of life (`echo probe-alive` first): a level that crashes must not
//!   pass by printing nothing;
//! - each criterion shows what it saw, so a FAIL explains itself.

use std::path::PathBuf;

use crate::host::CgroupMode;
use crate::parse::{self, Mount};
use crate::probe::{Run, Status};
use crate::report::Outcome;
use crate::session::{LeakKind, Session, CWD_MARKER};

/// Runs level `level`'s criteria, then the checks that hold for every
/// level: earlier levels still work, nothing was left on the host.
pub fn check(level: u8, s: &mut Session) {
    match level {
        0 => level00(s),
        1 => level01(s),
        2 => level02(s),
        3 => level03(s),
        4 => level04(s),
        5 => level05(s),
        6 => level06(s),
        7 => level07(s),
        8 => level08(s),
        9 => level09(s),
        10 => level10(s),
        11 => level11(s),
        12 => level12(s),
        13 => level13(s),
        _ => level14(s),
    }
    if level > 0 {
        earlier_levels(level, s);
    }
    leaks(s);
}

fn add(s: &mut Session, name: &str, pass: bool, saw: Vec<String>, hint: &str) {
    s.report.add(Outcome::new(name, pass, saw, hint));
}

fn sh(script: &str) -> [&str; 4] {
    ["--", "sh", "-c", script]
}

/// `script`, unless the container can see the host's marker file: then it
/// runs in the host's own / (level 01 not done), and a probe that mounts or
/// writes must not touch the host: it exits 99 instead (see Run::saw).
fn guarded(s: &Session, script: &str) -> String {
    match s.markers.paths.first() {
        Some(marker) => format!(
            "test -e {}{}{script}",
            marker.display(),
            crate::probe::GUARD_END
        ),
        None => script.to_string(),
    }
}

/// Mounts listed in a probe's output (lines of mountinfo among others).
fn mounts_in(lines: &[String]) -> Vec<Mount> {
    parse::parse_mountinfo(&lines.join("\n"))
}

/// The mount at "/" (the last one: mounts stack).
fn root_mount(mounts: &[Mount]) -> Option<&Mount> {
    mounts.iter().rev().find(|m| m.mount_point == "/")
}

/// Mount points other than a container's own: its root and the API
/// filesystems under /proc, /sys and /dev.
fn foreign_mount_points(mounts: &[Mount]) -> Vec<String> {
    mounts
        .iter()
        .map(|m| m.mount_point.as_str())
        .filter(|p| {
            *p != "/"
                && !["/proc", "/sys", "/dev"]
                    .iter()
                    .any(|ok| std::path::Path::new(p).starts_with(ok))
        })
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- level 00

fn level00(s: &mut Session) {
    let run = s.run(&["--", "echo", "hello-from-level"]);
    add(
        s,
        "runs the command and shows its output (`run -- echo hello-from-level`)",
        run.has_line("hello-from-level"),
        run.saw(),
        "TODO(00): fork(2) (nix::unistd::fork), and in the child execvp(2) the command\n\
         (nix::unistd::execvp with CStrings). man 2 fork, man 3 exec.",
    );

    let run = s.run(&sh("exit 3"));
    add(
        s,
        "exits with the command's status (`sh -c 'exit 3'` → 3)",
        run.code() == Some(3),
        run.saw(),
        "TODO(00): the parent waitpid(2)s for the child (nix::sys::wait::waitpid) and returns\n\
         support::status_code(status), so the level exits as the command did. man 2 waitpid.",
    );
    let line = parse::status_line(&run.stderr);
    add(
        s,
        "the status line says how it ended (`container <id> exited with status 3` on stderr)",
        line.as_ref().is_some_and(|(id, code)| parse::is_container_id(id) && *code == 3),
        vec![match &line {
            Some((id, code)) => format!("status line: container {id} exited with status {code}"),
            None => "no `container <id> exited with status N` line on stderr".into(),
        }],
        "TODO(00) step 3: after waitpid(2), the parent prints `container <id> exited with status <N>`\n\
         on stderr (eprintln!, container.id): levels 01+ and this checker read the id from it.",
    );

    let run = s.run(&["--", "/no/such/command"]);
    let returned = run.code() == Some(125) && run.stderr.contains("error: ");
    add(
        s,
        "a command that cannot be run gives 127 (`run -- /no/such/command`)",
        run.code() == Some(127),
        run.saw(),
        if returned {
            "the child returned from run() with the exec error (it went up to main: `error: ...`,\n\
             125), running the parent's clean-up a second time. When execvp(2) returns it has failed:\n\
             print why and end the child with std::process::exit(127), as a shell does (TODO(00) step 2)."
        } else {
            "when execvp(2) returns it has failed (ENOENT here): print why and end the child with\n\
             std::process::exit(127), as a shell does (TODO(00) step 2). man 3 exec."
        },
    );

    let run = s.run(&sh("kill -9 $$"));
    add(
        s,
        "a command killed by signal N gives 128+N (`sh -c 'kill -9 $$'` → 137)",
        run.code() == Some(137),
        run.saw(),
        "waitpid(2) reports a killed child as WaitStatus::Signaled: support::status_code turns it\n\
         into 128+N, as shells do. man 2 waitpid (WIFSIGNALED).",
    );
}

// ---------------------------------------------------------------- level 01

fn level01(s: &mut Session) {
    let run = s.run(&["--", "cat", "/etc/os-release"]);
    add(
        s,
        "the image's files are its / (`cat /etc/os-release` says rd busybox)",
        run.stdout.contains("rd busybox"),
        run.saw(),
        "TODO(01): the parent copies the image (support::fresh_rootfs), the child chroot(2)s into\n\
         the copy and chdir(\"/\") (nix::unistd::chroot, chdir). man 2 chroot.",
    );

    let markers = s.markers.strings();
    let script = format!("echo probe-alive; ls -d {}", markers.join(" "));
    let run = s.run(&sh(&script));
    let seen: Vec<&String> = markers
        .iter()
        .filter(|m| run.stdout.contains(m.as_str()))
        .collect();
    let alive = run.has_line("probe-alive");
    let mut saw = vec![format!(
        "host files made for this check: {}",
        markers.join(", ")
    )];
    saw.extend(run.saw());
    add(
        s,
        "the host's files are not visible inside (`ls -d <host files>` fails)",
        alive && seen.is_empty() && !markers.is_empty() && run.code() != Some(0),
        saw,
        if alive {
            "the container sees the host's own files: chroot(2) into the image's copy (TODO(01))."
        } else {
            "the command did not run (no `probe-alive` line): see the status and stderr above."
        },
    );

    let run = s.run(&sh("echo probe-alive; pwd; ls"));
    let alive = run.has_line("probe-alive");
    let on_host = run.stdout.contains(CWD_MARKER);
    let mut saw = vec![format!(
        "the level was started in {}, which holds {CWD_MARKER}",
        s.cwd.display()
    )];
    saw.extend(run.saw());
    add(
        s,
        "the working directory is the image's / (`pwd; ls` inside, the level started elsewhere)",
        alive && !on_host && run.has_line("/") && run.has_line("bin"),
        saw,
        if alive {
            "chroot(2) changes what / means, not the working directory: the level started in a host\n\
             directory and the command is still in it (`ls` lists the host's files, `..` climbs out).\n\
             chdir(\"/\") right after chroot (TODO(01)). man 2 chroot."
        } else {
            "the command did not run (no `probe-alive` line): see the status and stderr above."
        },
    );
}

// ---------------------------------------------------------------- level 02

fn level02(s: &mut Session) {
    // A tmpfs whose source names this session: easy to spot on the host.
    let source = format!("rdcheck-{}", s.tag);
    let script = guarded(
        s,
        &format!("mkdir -p /mnt; mount -t tmpfs {source} /mnt; grep -c ' /mnt ' /proc/self/mountinfo; echo ready; read x; true"),
    );
    // Under a shared / (as systemd makes it), with the probe root a mount
    // of its own: see Conditions::shared_mounts.
    let ((run, ready, on_host), _) = s.probe(|p| {
        p.conditions.shared_mounts = true;
        let mut running = p.start(&sh(&script));
        let ready = running.wait_for_line("ready");
        let mut on_host = p.host_mounts_now();
        if let Some(pid) = running.pid() {
            on_host.extend(p.mounts_in_namespace_of(pid));
        }
        (p.finish(running), ready, on_host)
    });
    let inside: Vec<&str> = run
        .lines()
        .into_iter()
        .take_while(|l| *l != "ready")
        .collect();
    add(
        s,
        "a mount made inside is there inside (`mount -t tmpfs … /mnt`; mountinfo lists /mnt once)",
        inside.contains(&"1"),
        run.saw(),
        "the container needs /proc for /proc/self/mountinfo: TODO(02) mounts proc on <rootfs>/proc\n\
         in the child, after unshare(CLONE_NEWNS) and before chroot. man 5 proc.",
    );
    let mut saw: Vec<String> = if !ready {
        vec!["the container never printed `ready`".into()]
    } else if on_host.is_empty() {
        vec![
            "the mount table outside (/ shared, the probe root a shared mount), read while the \
             container ran: none of its mounts"
                .into(),
        ]
    } else {
        on_host
            .iter()
            .map(|m| {
                format!(
                    "outside the container while it ran: {} on {} (source {})",
                    m.fstype, m.mount_point, m.source
                )
            })
            .collect()
    };
    if !ready || !on_host.is_empty() {
        saw.extend(run.saw());
    }
    add(
        s,
        "…and not on the host, neither while the container runs nor after",
        ready && on_host.is_empty(),
        saw,
        "TODO(02) step 2: right after unshare(CLONE_NEWNS), mount(None, \"/\", None, MS_REC | MS_PRIVATE,\n\
         None), before mounting anything: a new mount namespace still shares propagation with the\n\
         host's wherever the host's mounts are shared (systemd makes / shared; the checker ran the\n\
         level so). Without MS_REC only / itself turns private: the mounts below it, the container's\n\
         root among them, still propagate. man 7 mount_namespaces, \"shared subtrees\".",
    );

    let run = s.run(&sh("grep ^Pid: /proc/self/status; [ -c /dev/null ] && echo dev-ok; [ -d /sys/kernel ] && echo sys-ok; echo @mountinfo; cat /proc/self/mountinfo"));
    add(
        s,
        "/proc works inside (`grep ^Pid: /proc/self/status`)",
        run.stdout.lines().any(|l| l.starts_with("Pid:")),
        run.saw(),
        "TODO(02): mount(\"proc\", <rootfs>/proc, \"proc\", MS_NOSUID | MS_NOEXEC | MS_NODEV) in the child,\n\
         before chroot (after it, <rootfs> is /). man 5 proc.",
    );
    add(
        s,
        "/sys and /dev are mounted inside (/sys/kernel exists, /dev/null is a device)",
        run.has_line("dev-ok") && run.has_line("sys-ok"),
        run.saw(),
        "TODO(02): sysfs on <rootfs>/sys (read-only: MS_RDONLY), and support::mount_dev(rootfs) for a\n\
         tmpfs /dev with null, zero, tty… man 5 sysfs.",
    );
    let parts = parse::sections(&run.stdout);
    let mounts = mounts_in(
        parts
            .get("mountinfo")
            .map(Vec::as_slice)
            .unwrap_or_default(),
    );
    let sys = mounts.iter().rev().find(|m| m.mount_point == "/sys");
    add(
        s,
        "/sys is read-only inside (its line in /proc/self/mountinfo says ro)",
        sys.is_some_and(|m| m.fstype == "sysfs" && m.read_only()),
        vec![match sys {
            Some(m) => format!("/sys: {} mounted {}", m.fstype, m.options),
            None => "no mount at /sys".into(),
        }],
        "TODO(02) step 3: mount sysfs with MS_RDONLY: /sys is not namespaced, and root inside could\n\
         write the host's kernel and device settings through it. man 5 sysfs.",
    );
}

// ---------------------------------------------------------------- level 03

fn level03(s: &mut Session) {
    let run = s.run(&sh("ls -a /; echo @mountinfo; cat /proc/self/mountinfo"));
    let parts = parse::sections(&format!("@ls\n{}", run.stdout));
    let ls = parts.get("ls").cloned().unwrap_or_default();
    let busy = |call: &str| {
        run.stderr
            .lines()
            .any(|l| l.contains(call) && (l.contains("EBUSY") || l.contains("busy")))
    };
    add(
        s,
        "the old root is gone (`ls -a /` shows no .old_root)",
        ls.iter().any(|l| l.trim() == "bin") && !ls.iter().any(|l| l.trim() == ".old_root"),
        run.saw(),
        if busy("pivot_root") {
            "TODO(03) step 1: pivot_root(2) says EBUSY because new_root is not a mount point (it is a\n\
             plain directory on the host's root mount): bind-mount rootfs onto itself first,\n\
             mount(rootfs, rootfs, None, MS_BIND | MS_REC, None). man 2 pivot_root (EBUSY, EINVAL)."
        } else if busy("umount") {
            "TODO(03) step 3: a plain umount of /.old_root says EBUSY: the old root has mounts below it\n\
             (the host's /proc, /sys...) and processes using it. umount2(\"/.old_root\", MNT_DETACH)\n\
             detaches the whole tree at once, the kernel frees it when unused. man 2 umount2."
        } else {
            "TODO(03) step 3: after pivot_root(2) and chdir(\"/\"), umount2(\"/.old_root\", MNT_DETACH), then\n\
             rmdir(\"/.old_root\"). man 2 pivot_root, man 2 umount2."
        },
    );

    let mounts = mounts_in(
        parts
            .get("mountinfo")
            .map(Vec::as_slice)
            .unwrap_or_default(),
    );
    let foreign = foreign_mount_points(&mounts);
    let has_root = root_mount(&mounts).is_some();
    let mut saw = vec![format!(
        "{} mounts inside; at /: {}; others than /, /proc, /sys, /dev: {}",
        mounts.len(),
        if has_root { "yes" } else { "none" },
        if foreign.is_empty() {
            "none".to_string()
        } else {
            foreign
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        }
    )];
    saw.extend(run.saw().into_iter().take(1));
    add(
        s,
        "inside, the mount table is the container's own (a mount at /, others under /proc, /sys, /dev)",
        has_root && foreign.is_empty(),
        saw,
        "TODO(03): pivot_root(2) makes the image's mount the root and moves the host's under\n\
         /.old_root, which umount2(MNT_DETACH) then removes. After a chroot, the container's / is\n\
         no mount at all. man 2 pivot_root.",
    );

    let marker = s
        .markers
        .strings()
        .into_iter()
        .next()
        .unwrap_or_else(|| "/etc/hostname".into());
    let run = s.run(&["-i", "breakout", "--", "/bin/breakout", &marker]);
    let escaped = run.stdout.contains("ESCAPED") || run.stdout.contains(&s.markers.content);
    let mut saw = vec![format!("host file: {marker}")];
    saw.extend(run.saw());
    add(
        s,
        "the chroot escape fails (`run -i breakout -- /bin/breakout <host file>` says contained)",
        run.stdout.contains("contained") && !escaped && run.code() != Some(0),
        saw,
        if escaped {
            "chroot(2) only changes where / resolves: a root process chroots again into a subdirectory\n\
             and climbs out with \"..\". TODO(03): pivot_root(2) and detach the old root, so that there is\n\
             nothing above / to climb to. man 2 pivot_root, man 2 chroot (NOTES)."
        } else {
            "breakout did not run (no `contained`/`ESCAPED` line): see the status and stderr above."
        },
    );
}

// ---------------------------------------------------------------- level 04

struct OverlayProbe {
    first: Run,
    second: Run,
    layers_first: usize,
    layers_second: usize,
    reached: Vec<PathBuf>,
}

fn layer_dirs(root: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("layers"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

fn level04(s: &mut Session) {
    let token = format!("written-by-rd-check-{}", s.tag);
    let write = guarded(
        s,
        &format!(
            "cat /proc/self/mountinfo; echo {token} > /etc/written-by-container && echo wrote"
        ),
    );
    let (o, _) = s.probe(|p| {
        let first = p.run(&sh(&write));
        let layers = layer_dirs(&p.root);
        let reached = layers
            .iter()
            .map(|l| l.join("etc/written-by-container"))
            .filter(|f| f.exists())
            .collect();
        let second = p.run(&sh("echo alive; cat /etc/written-by-container"));
        OverlayProbe {
            first,
            layers_first: layers.len(),
            layers_second: layer_dirs(&p.root).len(),
            second,
            reached,
        }
    });

    let lines: Vec<String> = o.first.stdout.lines().map(str::to_string).collect();
    let mounts = mounts_in(&lines);
    let root = root_mount(&mounts);
    let mut saw = vec![match root {
        Some(m) => format!("inside, / is a {} mount (source {})", m.fstype, m.source),
        None => "inside, no mount at / in /proc/self/mountinfo".into(),
    }];
    saw.extend(o.first.saw().into_iter().take(1));
    add(
        s,
        "/ is an overlay (the / line of /proc/self/mountinfo inside)",
        root.is_some_and(|m| m.fstype == "overlay"),
        saw,
        "TODO(04): in the child, mount(\"overlay\", rootfs, \"overlay\", MS_NODEV,\n\
         \"lowerdir=<layers, top first, ':'-joined>,upperdir=<upper>,workdir=<work>\") and pivot_root\n\
         into it. Kernel docs: Documentation/filesystems/overlayfs.rst.",
    );

    let wrote = o.first.has_line("wrote");
    let mut saw = vec![format!(
        "the write inside: {}; layers under <root>/layers: {}; holding the file: {}",
        if wrote { "done" } else { "failed" },
        o.layers_first,
        if o.reached.is_empty() {
            "none".into()
        } else {
            o.reached
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    )];
    if !wrote {
        saw.extend(o.first.saw());
    }
    add(
        s,
        "a write inside (`echo … > /etc/written-by-container`) does not reach the image's layers",
        wrote && o.reached.is_empty() && o.layers_first > 0,
        saw,
        "the layers are lowerdirs, read-only and shared: a container's writes go to its upperdir\n\
         (copy-up). Never mount a layer directory itself as the root.",
    );

    let alive = o.second.has_line("alive");
    add(
        s,
        "a second container does not see the first one's write",
        alive && !o.second.stdout.contains(&token),
        o.second.saw(),
        if alive {
            "each container needs its own upperdir (and workdir) in its own container directory."
        } else {
            "the second container did not run (no `alive` line): see the status and stderr above."
        },
    );

    let extracted = o.second.stderr.contains("extracting image");
    let mut saw = vec![format!(
        "layers after the first start: {}, after the second: {}; second start printed `extracting image`: {}",
        o.layers_first,
        o.layers_second,
        if extracted { "yes" } else { "no" }
    )];
    if !alive {
        saw.extend(o.second.saw());
    }
    add(
        s,
        "a second start of the image does not extract it again",
        alive && !extracted && o.layers_first > 0 && o.layers_first == o.layers_second,
        saw,
        "TODO(04): support::image_layers(args) unpacks each layer once into <root>/layers and reuses\n\
         it; support::fresh_rootfs copies the whole image for every container.",
    );

    let script = guarded(
        s,
        "echo probe-alive; mknod /rd-check-null c 1 3 && echo made; echo x > /rd-check-null && echo opened",
    );
    let run = s.run(&sh(&script));
    let alive = run.has_line("probe-alive");
    add(
        s,
        "a device node made on the container's root does not open (`mknod /rd-check-null c 1 3`, then a write)",
        alive && !run.has_line("opened"),
        run.saw(),
        if alive {
            "root inside can mknod(2) any device on its root filesystem and open it: the host's disks,\n\
             /dev/kmsg, /dev/mem. Mount the overlay with MS_NODEV (TODO(04)): device nodes on it then do\n\
             not open. (rd: every filesystem a container can write is nodev.) man 8 mount (nodev)."
        } else {
            "the command did not run (no `probe-alive` line): see the status and stderr above."
        },
    );

    let (made, run) = s
        .probe(|p| {
            let made = layered_image(&p.root);
            let run = p.run(&[
                "-i",
                LAYERED_IMAGE,
                "--",
                "sh",
                "-c",
                "echo probe-alive; cat /etc/rd-layer",
            ]);
            (made, run)
        })
        .0;
    let mut saw = vec![match &made {
        Ok(()) => format!(
            "image {LAYERED_IMAGE}: busybox, then a layer with /etc/rd-layer = middle, then one with top"
        ),
        Err(e) => format!("the checker could not make its test image: {e:#}"),
    }];
    saw.extend(run.saw());
    add(
        s,
        "the layers stack in order: the top layer's file wins (`-i <3-layer image> -- cat /etc/rd-layer`)",
        made.is_ok() && run.has_line("top"),
        saw,
        if run.has_line("middle") {
            "TODO(04): overlayfs takes the first lowerdir as the top: lowerdir lists the layers top-most\n\
             first. support::image_layers gives them lowest first: reverse them. Kernel docs:\n\
             filesystems/overlayfs.rst, \"Multiple lower layers\"."
        } else {
            "TODO(04): lowerdir lists the layers top-most first (see the status and stderr above)."
        },
    );
}

/// The image `layered_image` makes.
const LAYERED_IMAGE: &str = "rdcheck-layers";

/// An image of three layers in the probe's root: busybox, then
/// /etc/rd-layer = "middle", then /etc/rd-layer = "top". A level that
/// stacks its lowerdirs upside down shows "middle".
fn layered_image(root: &std::path::Path) -> anyhow::Result<()> {
    let file = "etc/rd-layer";
    support::image_from_busybox(
        root,
        LAYERED_IMAGE,
        &[(file, 0o644, b"middle\n"), (file, 0o644, b"top\n")],
        "rd check: layer order",
    )?;
    Ok(())
}

// ---------------------------------------------------------------- level 05

fn level05(s: &mut Session) {
    let ((run, ids), leaks_a) = s.probe(|p| {
        let run = p.run(&["--", "hostname"]);
        (run, p.ids.clone())
    });
    let name = run
        .lines()
        .first()
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let mut saw = run.saw();
    saw.push(format!(
        "container id: {}",
        ids.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    add(
        s,
        "the hostname is the container's id by default (`run -- hostname`)",
        parse::is_container_id(&name) && ids.contains(&name),
        saw,
        "TODO(05): in the child, unshare(CLONE_NEWUTS), then sethostname(--hostname, or else the\n\
         container id). man 7 uts_namespaces, man 2 sethostname.",
    );

    let (run, leaks_b) = s.probe(|p| p.run(&["--hostname", "web1", "--", "hostname"]));
    add(
        s,
        "`--hostname web1` gives web1",
        run.has_line("web1"),
        run.saw(),
        "TODO(05): sethostname(args.hostname) when it is given.",
    );

    let changed: Vec<String> = leaks_a
        .iter()
        .chain(&leaks_b)
        .filter(|l| l.kind == LeakKind::Hostname)
        .map(|l| l.what.clone())
        .collect();
    let saw = if changed.is_empty() {
        vec![format!(
            "the host is still {:?}",
            crate::host::hostname().unwrap_or_default()
        )]
    } else {
        changed
    };
    add(
        s,
        "the host's hostname is unchanged",
        saw.len() == 1 && saw[0].starts_with("the host is still"),
        saw,
        "sethostname(2) changes the hostname of the caller's UTS namespace: unshare(CLONE_NEWUTS)\n\
         first, or it renames the machine (the checker put the old name back).",
    );
}

// ---------------------------------------------------------------- level 06

fn host_processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0)
}

fn level06(s: &mut Session) {
    let run = s.run(&sh("echo $$; ls /proc | grep -c '^[0-9]'"));
    let lines = run.lines();
    add(
        s,
        "the command is PID 1 (`sh -c 'echo $$'` prints 1)",
        lines.first() == Some(&"1"),
        run.saw(),
        "TODO(06): unshare(CLONE_NEWPID) in the parent, before fork(): the caller stays where it is,\n\
         its next child becomes PID 1 of the new namespace. man 7 pid_namespaces.",
    );
    let count: Option<usize> = lines.get(1).and_then(|l| l.trim().parse().ok());
    let mut saw = vec![format!(
        "processes in the container's /proc: {}; on the host: {}",
        count.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
        host_processes()
    )];
    saw.extend(run.saw());
    add(
        s,
        "it sees only the container's processes (`ls /proc | grep -c '^[0-9]'` ≤ 5)",
        count.is_some_and(|c| c <= 5),
        saw,
        "/proc shows the PID namespace of whoever mounted it: the child mounts it (level 02) after\n\
         fork(), so with unshare(CLONE_NEWPID) before the fork (TODO(06)) it lists the container only.",
    );
}

// ---------------------------------------------------------------- level 07

fn level07(s: &mut Session) {
    let run = s.run(&sh(
        "echo @net; ls /sys/class/net; echo @flags; cat /sys/class/net/lo/flags",
    ));
    let parts = parse::sections(&run.stdout);
    let net: Vec<String> = parts
        .get("net")
        .map(|l| {
            l.iter()
                .flat_map(|x| x.split_whitespace())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut saw = vec![format!(
        "interfaces: {}",
        if net.is_empty() {
            "?".into()
        } else {
            net.join(" ")
        }
    )];
    saw.extend(run.saw());
    add(
        s,
        "the only network interface is lo (`ls /sys/class/net`)",
        net == ["lo"],
        saw,
        "TODO(07): unshare(CLONE_NEWNET) in the child, before sysfs is mounted (sysfs shows the network\n\
         namespace of whoever mounts it). A new network namespace has only lo. man 7 network_namespaces.",
    );
    let flags = parts
        .get("flags")
        .and_then(|l| l.first())
        .and_then(|f| parse::parse_hex(f));
    add(
        s,
        "lo is up (/sys/class/net/lo/flags has IFF_UP)",
        flags.is_some_and(|f| f & 1 == 1),
        vec![format!("lo flags: {}", flags.map(|f| format!("{f:#x}")).unwrap_or_else(|| "?".into()))],
        "TODO(07): support::loopback_up() after unshare(CLONE_NEWNET): a new namespace's lo is down.\n\
         man 7 netdevice (SIOCSIFFLAGS, IFF_UP).",
    );
}

// ----------------------------------------------------------- levels 08, 09

/// A container paused in `read`, its cgroup file read from the host.
struct CgroupProbe {
    run: Run,
    ready: bool,
    id: Option<String>,
    dir: Option<PathBuf>,
    value: Option<String>,
    /// The cgroup's directory existed while the container ran.
    existed: bool,
    gone_after: bool,
    /// What holding the level's parent at fork() gave (see Conditions).
    held: String,
}

/// Runs `sh -c 'cat /proc/self/cgroup; echo ready; read x'` with `options`
/// and reads `file` in the container's cgroup for `controller` meanwhile.
/// The level's parent is held at fork() until `ready`: the command's view of
/// its cgroup is what the child did on its own.
fn cgroup_probe(s: &mut Session, options: &[&str], controller: &str, file: &str) -> CgroupProbe {
    let mode = s.cgroups;
    let mut args: Vec<&str> = options.to_vec();
    args.extend(sh("cat /proc/self/cgroup; echo ready; read x; true"));
    s.probe(|p| {
        p.conditions.hold_parent_until = Some("ready".into());
        let mut running = p.start(&args);
        let held = running.hold_parent("ready");
        let ready = running.wait_for_line("ready");
        // The id: the container's directory under <root>/containers (the
        // support crate's, not the student's code), else rd-<id> inside.
        let listed = p.running_ids();
        let id = match listed.as_slice() {
            [one] => Some(one.clone()),
            _ => parse::container_ids(&running.stdout()).into_iter().next(),
        };
        let dir = id.as_ref().map(|id| mode.dir(controller, id));
        let existed = dir.as_ref().is_some_and(|d| d.is_dir());
        let value = dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|v| v.trim().to_string());
        let run = p.finish(running);
        let gone_after = dir.as_ref().is_some_and(|d| !d.exists());
        CgroupProbe {
            run,
            ready,
            id,
            dir,
            value,
            existed,
            gone_after,
            held,
        }
    })
    .0
}

fn cgroup_saw(c: &CgroupProbe, file: &str) -> Vec<String> {
    let mut saw = vec![match (&c.dir, &c.value) {
        (Some(d), Some(v)) => format!("{}/{file}: {v}", d.display()),
        (Some(d), None) if c.existed => {
            format!("{} existed, but not {file} in it", d.display())
        }
        (Some(d), None) => format!("{}: missing while the container ran", d.display()),
        (None, _) if c.ready => {
            "no container id found (no directory under <root>/containers)".into()
        }
        (None, _) => "the container never printed `ready`".into(),
    }];
    saw.extend(c.run.saw());
    saw
}

/// /proc/self/cgroup inside names rd-<id> for this controller (v2: 0::).
fn in_cgroup(s: &Session, c: &CgroupProbe, controller: &str) -> (bool, String) {
    let v1 = if s.cgroups == CgroupMode::V1 {
        Some(controller)
    } else {
        None
    };
    let path = parse::cgroup_path(&c.run.stdout, v1);
    let want = c.id.as_ref().map(|id| format!("rd-{id}"));
    let pass = match (&path, &want) {
        (Some(p), Some(w)) => p.rsplit('/').next() == Some(w.as_str()),
        _ => false,
    };
    let line = if v1.is_some() {
        format!("the {controller} line")
    } else {
        "the 0:: line".into()
    };
    (
        pass,
        format!(
            "{line} of /proc/self/cgroup: {}",
            path.unwrap_or_else(|| "missing".into())
        ),
    )
}

/// On v2, a controller's files exist in a cgroup only when its parent
/// enables the controller for its children: the one line that fixes it,
/// when the level's error or the missing file says that is the trouble.
fn controller_hint(s: &Session, c: &CgroupProbe, controller: &str, file: &str) -> Option<String> {
    let missing = c.existed && c.value.is_none();
    let said = c.run.stderr.contains(file) || c.run.stderr.contains("subtree_control");
    let enabled = std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
        .map(|t| t.split_whitespace().any(|c| c == controller))
        .unwrap_or(false);
    (s.cgroups == CgroupMode::V2 && !enabled && (missing || said)).then(|| {
        format!(
            "the {controller} controller is not enabled for the children of /sys/fs/cgroup, so rd-<id> has\n\
             no {file}: enable it, as root, `echo +{controller} > /sys/fs/cgroup/cgroup.subtree_control`,\n\
             then check again (systemd hosts do this; a bare VM may not). man 7 cgroups (v2 \"subtree_control\")."
        )
    })
}

fn level08(s: &mut Session) {
    let (file, want) = match s.cgroups {
        CgroupMode::V1 => ("cpu.shares", 512),
        CgroupMode::V2 => ("cpu.weight", parse::cpu_weight(512)),
    };
    let c = cgroup_probe(s, &["--cpu-shares", "512"], "cpu", file);
    let hint = controller_hint(s, &c, "cpu", file).unwrap_or_else(|| {
        "TODO(08): mkdir the cgroup (v1: /sys/fs/cgroup/cpu/rd-<id>, v2: /sys/fs/cgroup/rd-<id>) and\n\
         write the shares to cpu.shares (v1) or 1 + (shares - 2) * 9999 / 262142 to cpu.weight (v2).\n\
         man 7 cgroups; kernel docs: admin-guide/cgroup-v2.rst (cpu.weight)."
            .into()
    });
    add(
        s,
        &format!("`--cpu-shares 512` gives the container's cgroup rd-<id> {file} = {want}"),
        c.value.as_deref() == Some(want.to_string().as_str()),
        cgroup_saw(&c, file),
        &hint,
    );
    let (pass, line) = in_cgroup(s, &c, "cpu");
    add(
        s,
        "the container is in rd-<id> before it runs anything (/proc/self/cgroup inside, the parent held at fork)",
        pass,
        vec![line, c.held.clone()],
        "TODO(08) step 4: the child writes its pid (std::process::id()) to the cgroup's cgroup.procs,\n\
         first thing after fork(). Not the parent: by the time it writes, the child may have exec'd\n\
         and forked, and what it forked stays outside (the checker held the parent at fork() to show\n\
         it). man 7 cgroups (\"cgroup.procs\").",
    );
    add(
        s,
        "the cgroup is removed when the container ends",
        c.existed && c.gone_after,
        vec![match (&c.dir, c.existed, c.gone_after) {
            (Some(d), true, true) => format!("{} gone after the exit", d.display()),
            (Some(d), true, false) => format!("{} still there after the exit", d.display()),
            (Some(d), false, _) => format!("{} was not there while the container ran", d.display()),
            (None, _, _) => "no container id found (see above)".into(),
        }],
        "TODO(08) step 5: after waitpid(2), the parent rmdirs the cgroup (rmdir works on an empty\n\
         cgroup only: its last process has exited by then).",
    );
}

fn level09(s: &mut Session) {
    let file = match s.cgroups {
        CgroupMode::V1 => "memory.limit_in_bytes",
        CgroupMode::V2 => "memory.max",
    };
    let c = cgroup_probe(s, &["--memory", "32m"], "memory", file);
    let hint = controller_hint(s, &c, "memory", file).unwrap_or_else(|| {
        "TODO(09): v1: mkdir /sys/fs/cgroup/memory/rd-<id> (a tree of its own) and write the limit in\n\
         bytes to memory.limit_in_bytes; v2: memory.max in /sys/fs/cgroup/rd-<id>. man 7 cgroups;\n\
         kernel docs: admin-guide/cgroup-v1/memory.rst, admin-guide/cgroup-v2.rst."
            .into()
    });
    add(
        s,
        &format!("`--memory 32m` gives the container's memory cgroup {file} = 33554432"),
        c.value.as_deref() == Some("33554432"),
        cgroup_saw(&c, file),
        &hint,
    );
    let (pass, line) = in_cgroup(s, &c, "memory");
    add(
        s,
        "the container runs in its memory cgroup from the start (/proc/self/cgroup inside, the parent held at fork)",
        pass,
        vec![line, c.held.clone()],
        "TODO(09): add the memory cgroup to the list the child joins: on v1 it writes its pid to\n\
         cgroup.procs in the memory tree as well as in the cpu tree.",
    );

    let big = s.run(&[
        "--memory",
        "32m",
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=100M",
        "count=1",
    ]);
    let killed = big.code() == Some(137)
        || big.status == Status::Signaled(9)
        || big.stdout.contains("Killed")
        || big.stderr.contains("Killed");
    add(
        s,
        "more than the limit is refused: `dd bs=100M count=1` under `--memory 32m` is killed",
        killed,
        big.saw(),
        "the kernel enforces the limit on the cgroup's processes: the OOM killer sends SIGKILL (exit\n\
         137). The child must be in the memory cgroup with the limit set before it execs (TODO(09)).",
    );
    let small = s.run(&[
        "--memory",
        "32m",
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1M",
        "count=1",
    ]);
    add(
        s,
        "within the limit all is well: `dd bs=1M count=1` under `--memory 32m` succeeds",
        small.code() == Some(0),
        small.saw(),
        "the limit is in bytes: 32m is 33554432 (args.memory already holds bytes).",
    );

    // --memory-swap: v1's memory+swap, v2's swap alone. Only where the
    // kernel accounts swap (v1 without swapaccount has no memsw files).
    let (file, want) = match s.cgroups {
        CgroupMode::V1 => ("memory.memsw.limit_in_bytes", "67108864"),
        CgroupMode::V2 => ("memory.swap.max", "33554432"),
    };
    let accounted = match s.cgroups {
        CgroupMode::V1 => std::path::Path::new("/sys/fs/cgroup/memory")
            .join(file)
            .exists(),
        CgroupMode::V2 => std::fs::read_to_string("/proc/swaps").is_ok(),
    };
    if !accounted {
        return;
    }
    if s.cgroups == CgroupMode::V1 {
        // The kernel refuses memory+swap below memory (EINVAL): a start that
        // fails after its cgroups exist.
        let (run, leaks) =
            s.probe(|p| p.run(&["--memory", "64m", "--memory-swap", "32m", "--", "true"]));
        let left: Vec<String> = leaks
            .iter()
            .filter(|l| l.kind == LeakKind::Cgroup)
            .map(|l| l.what.clone())
            .collect();
        let mut saw = run.saw();
        saw.extend(left.iter().cloned());
        add(
            s,
            "a start that fails after its cgroups exist leaves none (`--memory 64m --memory-swap 32m`: EINVAL)",
            run.code().is_some_and(|c| c != 0) && left.is_empty(),
            saw,
            "an error between the mkdir and the fork returns from run() before the rmdir after waitpid:\n\
             remove the cgroups on every way out of run() (TODO(08) step 5; the solution's Cgroups\n\
             removes its directories in Drop, which runs on `?` too).",
        );
    }
    let c = cgroup_probe(
        s,
        &["--memory", "32m", "--memory-swap", "64m"],
        "memory",
        file,
    );
    add(
        s,
        &format!("`--memory 32m --memory-swap 64m` gives {file} = {want}"),
        c.value.as_deref() == Some(want),
        cgroup_saw(&c, file),
        "TODO(09): --memory-swap is memory plus swap. v1: write it to memory.memsw.limit_in_bytes after\n\
         memory.limit_in_bytes (memory+swap may never be below memory alone: the other order fails\n\
         with EINVAL); v2: memory.swap.max holds the swap alone, memory-swap minus memory. Kernel docs:\n\
         admin-guide/cgroup-v1/memory.rst (memsw), admin-guide/cgroup-v2.rst (memory.swap.max).",
    );
}

// ---------------------------------------------------------------- level 10

fn level10(s: &mut Session) {
    let run = s.run(&[
        "--user",
        "1000:1000",
        "--",
        "sh",
        "-c",
        "id -u; id -g; id -G",
    ]);
    let lines = run.lines();
    let ids_ok = lines.first() == Some(&"1000") && lines.get(1) == Some(&"1000");
    add(
        s,
        "`--user 1000:1000` runs the command as uid 1000, gid 1000 (`id -u; id -g`)",
        ids_ok,
        run.saw(),
        "TODO(10): in the child, after entering the new root (the user is looked up in the image's\n\
         /etc/passwd): support::lookup_user(spec), then setgroups, setgid, setuid — in this order.\n\
         man 2 setuid, man 7 credentials.",
    );
    let groups: Vec<&str> = lines
        .get(2)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let planted = crate::probe::PLANTED_GID.to_string();
    add(
        s,
        &format!("…without the level's supplementary groups (`id -G` has neither 0 nor {planted})"),
        ids_ok && !groups.is_empty() && !groups.contains(&"0") && !groups.contains(&planted.as_str()),
        vec![
            format!("the level was started with supplementary groups 0 and {planted}"),
            format!("id -G: {}", if groups.is_empty() { "?".into() } else { groups.join(" ") }),
        ],
        "setgid(2) and setuid(2) leave the supplementary groups alone: setgroups(2) first (with the\n\
         user's groups from lookup_user), while still root. A root shell often has groups (sudo -s\n\
         keeps root's); the checker gave the level two, so that it shows. man 2 setgroups.",
    );

    let run = s.run(&["--user", "student", "--", "id", "-un"]);
    add(
        s,
        "`--user student` runs it as student (`id -un`)",
        run.has_line("student"),
        run.saw(),
        "TODO(10): names are resolved in the container's /etc/passwd and /etc/group:\n\
         support::lookup_user after chroot/pivot_root, not before.",
    );

    let script = guarded(s, "echo alive; echo x > /etc/x && echo wrote");
    let run = s.run(&["--user", "1000:1000", "--", "sh", "-c", &script]);
    let alive = run.has_line("alive");
    add(
        s,
        "…and cannot act as root (`echo x > /etc/x` as 1000 fails)",
        alive && !run.has_line("wrote") && run.code() != Some(0),
        run.saw(),
        if alive {
            "the command still has root's powers: setuid(uid) last, after setgroups and setgid (TODO(10))."
        } else {
            "the command did not run (no `alive` line): see the status and stderr above."
        },
    );

    // SIGKILL to the level alone: its container must die with it (the
    // PR_SET_PDEATHSIG the child set at fork, level 00), --user or not.
    let ((ready, before, survivors, run), _) = s.probe(|p| {
        p.killed_on_purpose = true;
        let mut running = p.start(&[
            "--user",
            "1000:1000",
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ]);
        let ready = running.wait_for_line("ready");
        let before = running.group_members();
        running.kill_level();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut survivors = running.group_members();
        while !survivors.is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
            survivors = running.group_members();
        }
        let described: Vec<String> = survivors.iter().map(|pid| describe_process(*pid)).collect();
        (ready, before.len(), described, p.finish(running))
    });
    let mut saw = vec![if !ready {
        "the container never printed `ready`".to_string()
    } else if survivors.is_empty() {
        format!("{before} process(es) of the container before the kill; none 2 s after it")
    } else {
        format!("still running 2 s after the kill: {}", survivors.join(", "))
    }];
    if !ready {
        saw.extend(run.saw());
    }
    add(
        s,
        "killing the level (SIGKILL, to it alone) ends a --user container too",
        ready && survivors.is_empty(),
        saw,
        "prctl(2): PR_SET_PDEATHSIG is cleared when the process's credentials change, so after\n\
         setuid(2) the container no longer dies with the level: set PDEATHSIG again after setuid\n\
         (TODO(10)). The checker removed what the killed level left.",
    );
}

/// `1234 (sleep, uid 1000)`, for the report.
fn describe_process(pid: nix::unistd::Pid) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|u| u.split_whitespace().next().unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("{pid} ({}, uid {uid})", comm.trim())
}

// ------------------------------------------------------- level 11 (bonus)

/// The capability mask of `caps`, as /proc/PID/status prints it.
fn cap_mask(caps: &[support::caps::Capability]) -> String {
    format!(
        "{:016x}",
        caps.iter().fold(0u64, |m, c| m | (1u64 << c.index()))
    )
}

fn level11(s: &mut Session) {
    let source = format!("rdcheck-{}", s.tag);
    // Each attack prints a word when it works. The sysctl is written with
    // the value it has, and the mount is a tmpfs the checker can find: a
    // level that fails to stop them still changes nothing on the host.
    let mount =
        format!("mkdir -p /mnt; mount -t tmpfs {source} /mnt && echo mounted && umount /mnt");
    let (device, what) = host_disk();
    let mknod = format!(
        "mknod /dev/rd-check-dev {device} && echo device-made && head -c 512 /dev/rd-check-dev > /dev/null && echo device-read"
    );
    let attacks = [
        (
            mount.as_str(),
            "mounted",
            "root inside cannot mount (`mount -t tmpfs … /mnt`: CAP_SYS_ADMIN is gone)",
            "TODO(11) step 3: effective and permitted = support::KEEP_CAPS, which has no CAP_SYS_ADMIN:\n\
             mount(2) checks that capability, not uid 0. man 7 capabilities.",
        ),
        (
            mknod.as_str(),
            "device-made",
            "root inside cannot make a device node (`mknod` of the host's disk, to read it: no CAP_MKNOD)",
            "TODO(11) steps 2 and 3: without CAP_MKNOD (not in support::KEEP_CAPS), mknod(2) of a device\n\
             fails. The levels' /dev allows devices: with every capability, a node made there reads the\n\
             host's disk (`device-read`); with docker's set plus CAP_MKNOD the kernel still refuses the\n\
             read of a disk, but any other device the node names opens.",
        ),
        (
            "v=$(cat /proc/sys/kernel/kptr_restrict) && echo $v > /proc/sys/kernel/kptr_restrict && echo sysctl-written",
            "sysctl-written",
            "root inside cannot write a host sysctl (kernel.kptr_restrict, with its own value)",
            "TODO(11) step 3: kernel.kptr_restrict is one of the sysctls that need CAP_SYS_ADMIN to\n\
             write (most need only uid 0: rd also binds /proc/sys read-only, see src/security/masks.rs).",
        ),
        (
            "mkdir -p /mnt; unshare -Urm sh -c 'mount -t tmpfs none /mnt && echo userns-mounted'",
            "userns-mounted",
            "a user namespace gives nothing back (`unshare -Urm`, then a mount in it, fails: the filter)",
            "TODO(11) step 1: in a new user namespace a process holds every capability again, for that\n\
             namespace: it can mount there. The filter must refuse unshare(2) and clone(2) with\n\
             CLONE_NEWUSER (MaskedEqual on argument 0) and clone3. man 7 user_namespaces.",
        ),
        (
            "touch /etc/rd-check && chown 1000:1000 /etc/rd-check && echo chowned",
            "chowned",
            "root still does what a container needs (`chown` of a file it made: CAP_CHOWN kept)",
            "keep exactly support::KEEP_CAPS: CAP_CHOWN is in it (package managers chown their files).",
        ),
    ];
    for (attack, word, name, hint) in attacks {
        let run = s.run(&sh(&guarded(
            s,
            &format!("echo probe-alive; {attack}; true"),
        )));
        let alive = run.has_line("probe-alive");
        let worked = run.has_line(word);
        let pass = alive && if word == "chowned" { worked } else { !worked };
        let mut saw = run.saw();
        if word == "device-made" {
            saw.insert(0, format!("the device: {what}"));
        }
        let hint = if alive {
            hint
        } else {
            "the command did not run (no `probe-alive` line): see the status and stderr above."
        };
        add(s, name, pass, saw, hint);
    }

    let run = s.run(&sh("grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status"));
    let field = |name: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let keep = cap_mask(&support::KEEP_CAPS);
    let bounding = field("CapBnd:");
    let mut saw = vec![format!("CapBnd: {bounding}, CapEff: {}", field("CapEff:"))];
    saw.extend(run.saw());
    add(
        s,
        &format!("the bounding set is support::KEEP_CAPS (CapBnd: {keep})"),
        bounding == keep,
        saw,
        "TODO(11) step 2: drop every capability not kept from the bounding set (PR_CAPBSET_DROP,\n\
         support::caps::drop(None, CapSet::Bounding, cap)). It is the ceiling of what an execve grants,\n\
         and root's execve grants all of it: capset alone is undone by the command's own exec.",
    );
    add(
        s,
        "a seccomp filter is loaded (`Seccomp: 2` in /proc/self/status)",
        field("Seccomp:") == "2",
        vec![format!("Seccomp: {}", field("Seccomp:"))],
        "TODO(11) step 1: load() the filter before exec: it stays with the process and its children.",
    );
}

/// `b MAJ MIN` of the block device holding the host's /, if it has one
/// (reading it raw is the attack), else `c 1 8` (/dev/random: any device
/// that opens shows the capability), with a description.
fn host_disk() -> (String, String) {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata("/").map(|m| m.dev()).unwrap_or(0);
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    if std::path::Path::new(&format!("/sys/dev/block/{major}:{minor}")).exists() {
        (
            format!("b {major} {minor}"),
            format!("the host's root disk, block {major}:{minor}"),
        )
    } else {
        (
            "c 1 8".into(),
            "/dev/random, char 1:8 (the host's / is on no block device)".into(),
        )
    }
}

// ------------------------------------------------------- level 12 (bonus)

/// What `readlink /proc/PID/ns/NAME` says of each namespace, on the host.
fn namespaces_of(pid: nix::unistd::Pid) -> Vec<(String, String)> {
    ["pid", "mnt", "uts", "net"]
        .iter()
        .map(|name| {
            let link = std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
                .map(|l| l.display().to_string())
                .unwrap_or_else(|_| "?".into());
            (name.to_string(), link)
        })
        .collect()
}

fn level12(s: &mut Session) {
    // $$ is the shell itself, the process exec started: /proc/$$ names it
    // only if it is in the container's PID namespace (its children would
    // be there even if it were not).
    let script = "hostname; echo @ns; for n in pid mnt uts net; do readlink /proc/$$/ns/$n; done; \
                  echo @init; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo @os; cat /etc/os-release; exit 3";
    let (probe, _) = s.probe(|p| {
        let mut running = p.start(&[
            "--hostname",
            "web1",
            "--",
            "sh",
            "-c",
            "echo ready; read x; true",
        ]);
        let ready = running.wait_for_line("ready");
        // The container's PID 1, as the host numbers it: the level's child.
        let init = running.group_members().into_iter().next();
        let outside = init.map(namespaces_of).unwrap_or_default();
        let exec = init.map(|pid| p.exec(pid, &["--", "sh", "-c", script]));
        let bad = p.exec(nix::unistd::Pid::from_raw(i32::MAX - 1), &["--", "true"]);
        let run = p.finish(running);
        (ready, init, outside, exec, bad, run)
    });
    let (ready, init, outside, exec, bad, run) = probe;
    let Some(exec) = exec.filter(|_| ready) else {
        let mut saw = vec![format!(
            "the container never printed `ready`, or no container process was found (init: {init:?})"
        )];
        saw.extend(run.saw());
        add(
            s,
            "exec runs a command in a running container",
            false,
            saw,
            "see the status and stderr above.",
        );
        return;
    };
    let parts = parse::sections(&format!("@hostname\n{}", exec.stdout));
    let inside: Vec<String> = parts.get("ns").cloned().unwrap_or_default();
    let same = |name: &str| {
        let theirs = outside
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_str());
        theirs.is_some_and(|l| l != "?" && inside.iter().any(|i| i.trim() == l))
    };
    let opened_late = exec.stderr.contains("opening /proc/");
    let hint = |h: &'static str| -> &'static str {
        if opened_late {
            "TODO(12) step 1: a /proc/<PID>/ns file could not be opened: open all of them before the first\n\
             setns(2). Once in the container's mount namespace, /proc is the container's, where the host's\n\
             pid names another process, or none."
        } else {
            h
        }
    };
    let mut saw = vec![format!(
        "the container's init: host pid {}; its namespaces: {}",
        init.map(|p| p.to_string()).unwrap_or_default(),
        outside
            .iter()
            .map(|(n, l)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    saw.extend(exec.saw());
    let hostname = parts
        .get("hostname")
        .and_then(|l| l.first())
        .map(|l| l.trim().to_string());
    add(
        s,
        "exec joins the container's UTS namespace (`hostname` says web1)",
        hostname.as_deref() == Some("web1") && same("uts"),
        saw.clone(),
        hint("TODO(12) step 2: setns(/proc/<PID>/ns/uts, CLONE_NEWUTS). man 2 setns."),
    );
    add(
        s,
        "…its mount namespace, and so its root (/etc/os-release is the image's)",
        same("mnt") && parts.get("os").is_some_and(|l| l.iter().any(|x| x.contains("rd busybox"))),
        saw.clone(),
        hint(
            "TODO(12) step 2: setns(/proc/<PID>/ns/mnt, CLONE_NEWNS), last: it also moves the caller's root\n\
             and working directory to the namespace's root, the container's /. man 2 setns.",
        ),
    );
    add(
        s,
        "…its PID namespace (/proc/self/ns/pid is the container's; /proc/1 is its init)",
        same("pid") && parts.get("init").is_some_and(|l| l.iter().any(|x| x.contains("read x"))),
        saw.clone(),
        hint(
            "TODO(12) step 3: setns(CLONE_NEWPID) moves only the caller's future children into the PID\n\
             namespace (a process's pid is for life, pid_namespaces(7)): fork after joining it, and exec\n\
             the command in the child.",
        ),
    );
    add(
        s,
        "…its network namespace (`readlink /proc/self/ns/net` inside and of the init outside)",
        same("net"),
        saw.clone(),
        hint(
            "TODO(12) step 2: setns(/proc/<PID>/ns/net, CLONE_NEWNET) too (and ipc: the levels share the\n\
             host's IPC namespace, docker gives each container one).",
        ),
    );
    add(
        s,
        "exec exits with the command's status (`exit 3` → 3)",
        exec.code() == Some(3),
        exec.saw(),
        hint("TODO(12) step 3: the parent waitpid(2)s for the child and returns support::status_code(status)."),
    );
    add(
        s,
        "exec of a process that does not exist fails with a message (`exec <no such pid> -- true`)",
        bad.code().is_some_and(|c| c != 0) && !bad.stderr.trim().is_empty(),
        bad.saw(),
        "opening /proc/<PID>/ns/... fails (ENOENT): say so (.with_context) and return the error.",
    );
}

// ------------------------------------------------------- level 13 (bonus)

/// The host's interface holding `addr`, from `ip -o -4 addr` (none: None).
fn interface_with(addr: std::net::Ipv4Addr) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let here = fields.get(3)?.split('/').next()? == addr.to_string();
        here.then(|| fields.get(1).map(|n| n.trim_end_matches(':').to_string()))?
    })
}

/// Accepts one connection on `listener` within `limit` and reads a line.
fn accept_line(listener: &std::net::TcpListener, limit: std::time::Duration) -> Option<String> {
    use std::io::Read;
    let until = std::time::Instant::now() + limit;
    listener.set_nonblocking(true).ok()?;
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(2)))
                    .ok()?;
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                return Some(text.trim().to_string());
            }
            Err(_) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(_) => return None,
        }
    }
}

/// Connects to `addr` (retrying while the container starts its listener)
/// and reads what it says.
fn connect_line(addr: std::net::SocketAddr, limit: std::time::Duration) -> Result<String, String> {
    use std::io::Read;
    let until = std::time::Instant::now() + limit;
    loop {
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)) {
            Ok(mut stream) => {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut text = String::new();
                let _ = stream.read_to_string(&mut text);
                return Ok(text.trim().to_string());
            }
            Err(e) if std::time::Instant::now() >= until => return Err(e.to_string()),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

fn level13(s: &mut Session) {
    use std::net::Ipv4Addr;
    // A /24 of 10.200/16 for this check, and a second host address outside
    // it that only a default route reaches. Packets go to the container's
    // namespace and back, nowhere else.
    let subnet = (u32::from_str_radix(&s.tag[..2], 16).unwrap_or(7) % 250 + 1) as u8;
    let ip = Ipv4Addr::new(10, 200, subnet, 2);
    let gateway = Ipv4Addr::new(10, 200, subnet, 1);
    let beyond = Ipv4Addr::new(10, 201, subnet, 1);
    let ip_arg = ip.to_string();
    let script = format!(
        "ip -4 -o addr; echo ready; nc -l -p 7000 -e echo cable-ok & read go; \
         echo hello-host | nc -w 2 {beyond} 7001; echo sent=$?; read done; true"
    );
    let (probe, _) = s.probe(|p| {
        let mut running = p.start(&["--ip", &ip_arg, "--", "sh", "-c", &script]);
        let ready = running.wait_for_line("ready");
        let host_end = interface_with(gateway);
        let inbound = connect_line((ip, 7000).into(), std::time::Duration::from_secs(3));
        // The far address on the host's end, and a listener on it.
        let mut outbound = None;
        if let Some(end) = &host_end {
            let added = std::process::Command::new("ip")
                .args(["addr", "add", &format!("{beyond}/32"), "dev", end])
                .status()
                .is_ok_and(|st| st.success());
            if let (true, Ok(listener)) = (added, std::net::TcpListener::bind((beyond, 7001))) {
                running.send_line("go");
                outbound = accept_line(&listener, std::time::Duration::from_secs(4));
            }
        }
        running.send_line("done");
        let run = p.finish(running);
        // The pair goes with the container's network namespace, which the
        // kernel tears down a moment after its last process.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut left = host_end
            .clone()
            .filter(|e| std::path::Path::new("/sys/class/net").join(e).exists());
        while left.is_some() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(50));
            left = left.filter(|e| std::path::Path::new("/sys/class/net").join(e).exists());
        }
        if let Some(end) = &left {
            // Undone, as every leak: the pair goes with its host end.
            let _ = std::process::Command::new("ip")
                .args(["link", "del", end])
                .status();
        }
        (ready, host_end, inbound, outbound, left, run)
    });
    let (ready, host_end, inbound, outbound, left, run) = probe;
    let inside_addr = run
        .stdout
        .lines()
        .any(|l| l.contains(&format!("inet {ip}/24")) && !l.contains(" lo "));
    let mut saw = vec![format!(
        "inside: {ip}/24 on an interface other than lo: {}; on the host, {gateway} is on: {}",
        if inside_addr { "yes" } else { "no" },
        host_end.clone().unwrap_or_else(|| "no interface".into())
    )];
    saw.extend(run.saw());
    add(
        s,
        &format!("`--ip {ip}` gives the container its end of a cable ({ip}/24), the host the other ({gateway}/24)"),
        ready && inside_addr && host_end.is_some(),
        saw.clone(),
        "TODO(13): a veth pair made through the host's netlink socket (opened before\n\
         unshare(CLONE_NEWNET)), the peer born in the container's namespace; the host's end gets\n\
         the .1 address, the container's end --ip, through a socket opened inside. man 4 veth.",
    );
    add(
        s,
        &format!("the host reaches the container (TCP from the host to {ip}:7000)"),
        inbound.as_deref() == Ok("cable-ok"),
        vec![format!("from the host to {ip}:7000: {inbound:?}")],
        "both ends must be up (set_up on each, through the socket of its own namespace), with their\n\
         addresses in the same /24. man 8 ip-link.",
    );
    add(
        s,
        &format!("the container reaches the host beyond the cable's /24 ({beyond}, via its default route)"),
        outbound.as_deref() == Some("hello-host"),
        vec![format!("received from the container on {beyond}:7001: {outbound:?}")],
        "TODO(13) step 2: the container's default route goes via the host's end (add_default_route):\n\
         without it, only the cable's own /24 is reachable. man 8 ip-route.",
    );
    add(
        s,
        "the cable is gone when the container ends (no host end left)",
        host_end.is_some() && left.is_none(),
        vec![match (&host_end, &left) {
            (Some(e), None) => format!("{e} gone after the exit"),
            (Some(e), Some(_)) => format!("{e} still on the host 3 s after the exit (now deleted)"),
            (None, _) => "there was no host end".into(),
        }],
        "a veth pair dies with either end, and the container's end dies with its network namespace:\n\
         do not keep the namespace alive (an open /proc/.../ns/net held by the parent, a bind mount of it).",
    );
}

// ------------------------------------------------------- level 14 (bonus)

/// The uid the level 14 solution maps root to (its ROOT_OUTSIDE).
const ROOT_OUTSIDE: u32 = 100_000;

/// `Uid:` and `Gid:` of a host process, real ids, as the host numbers them.
fn host_ids(pid: nix::unistd::Pid) -> (Option<u32>, Option<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    (field("Uid:"), field("Gid:"))
}

/// Where a level 14 container that failed to start went wrong, from its
/// error: the step to look at, or None.
fn userns_failure_hint(stderr: &str) -> Option<&'static str> {
    let lower = stderr.to_lowercase();
    if lower.contains("todo(14)") {
        Some("TODO(14): --userns is still a todo() in run().")
    } else if lower.contains("mounting proc") {
        Some(
            "TODO(14) step 1: mounting /proc takes CAP_SYS_ADMIN in the user namespace that owns the PID\n\
             namespace. Made by level 06's unshare in the parent, it is owned by the host's: make both in\n\
             one clone(CLONE_NEWUSER | CLONE_NEWPID), the user namespace is made first and owns the other.",
        )
    } else if lower.contains("mknod") {
        Some("TODO(14) step 4: mknod(2) is refused in a user namespace: support::bind_dev(rootfs) with --userns.")
    } else if lower.contains("mqueue") {
        Some(
            "TODO(14) step 1: /dev's mqueue is mounted by root of the user namespace that owns the IPC\n\
             namespace: CLONE_NEWIPC in the clone too.",
        )
    } else if lower.contains("read-only file system") {
        // The overlay came up, but without a usable upper layer.
        Some(
            "TODO(14) steps 2 and 3: the overlay came up read-only: its upper and work directories are not\n\
             root-inside's own. Root inside is ROOT_OUTSIDE outside when the maps say `0 100000 65536`\n\
             (a map of 0 to 0 makes it the host's root, and leaves ROOT_OUTSIDE unmapped: its files are nobody's),\n\
             and upper and work are chowned to ROOT_OUTSIDE.",
        )
    } else if lower.contains("overlay") || lower.contains("upper") || lower.contains("work") {
        Some(
            "TODO(14) step 2: the overlay is mounted by root inside, ROOT_OUTSIDE outside: the layers must\n\
             be its own (support::image_layers_shifted(args, ROOT_OUTSIDE)), and so must upper and work\n\
             (chown ROOT_OUTSIDE:ROOT_OUTSIDE); every directory above them must let it pass (x).",
        )
    } else if lower.contains("map") || lower.contains("setres") || lower.contains("setgroups") {
        Some(
            "TODO(14) steps 2 and 3: the parent writes /proc/<child>/uid_map and gid_map, then tells the\n\
             child, which waits for it before setgroups, setresgid and setresuid.",
        )
    } else {
        None
    }
}

fn level14(s: &mut Session) {
    // 1. Who root is, inside and out.
    let script = "id -u; id -g; echo @map; cat /proc/self/uid_map; echo ready; read x; true";
    let (probe, _) = s.probe(|p| {
        let mut running = p.start(&["--userns", "--", "sh", "-c", script]);
        let ready = running.wait_for_line("ready");
        let init = running.group_members().into_iter().next();
        let outside = init.map(host_ids).unwrap_or_default();
        (ready, init, outside, p.finish(running))
    });
    let (ready, init, (uid, gid), run) = probe;
    let lines = run.lines();
    let inside = (lines.first().copied(), lines.get(1).copied());
    let mut saw = vec![format!(
        "inside: uid {} gid {}; outside (host pid {}): uid {} gid {}",
        inside.0.unwrap_or("?"),
        inside.1.unwrap_or("?"),
        init.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
        uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into()),
        gid.map(|g| g.to_string()).unwrap_or_else(|| "?".into()),
    )];
    saw.extend(run.saw());
    let failure = (!ready).then(|| userns_failure_hint(&run.stderr)).flatten();
    let hint = if let Some(h) = failure {
        h
    } else if uid == Some(0) || gid == Some(0) {
        "TODO(14) step 2: root inside must not be root outside: the maps say `0 100000 65536` (inside,\n\
         outside, count); a map of 0 to 0 gives the host's root back. man 7 user_namespaces."
    } else if inside.0 == Some("65534") {
        "TODO(14) step 3: inside, we are the host's root, whom the namespace does not map (65534, the\n\
         overflow uid): after the parent's maps, setresgid(0, 0, 0) and setresuid(0, 0, 0)."
    } else {
        "TODO(14) steps 1 to 3: clone with CLONE_NEWUSER, the parent writes `0 100000 65536` to\n\
         /proc/<child>/uid_map and gid_map, the child becomes uid and gid 0 inside."
    };
    add(
        s,
        &format!("`--userns`: root inside (uid and gid 0) is {ROOT_OUTSIDE} outside"),
        ready
            && inside == (Some("0"), Some("0"))
            && uid == Some(ROOT_OUTSIDE)
            && gid == Some(ROOT_OUTSIDE),
        saw,
        hint,
    );

    // 2. The container as before: PID 1, /proc, /sys, its hostname, /dev.
    let script =
        "hostname; echo pid $$; echo x > /dev/null && echo dev-null-ok; ls /sys/class/net; \
                  cat /proc/1/cmdline | tr '\\0' ' '; echo";
    let run = s.run(&["--userns", "--hostname", "web1", "--", "sh", "-c", script]);
    let works = run.code() == Some(0)
        && run.has_line("web1")
        && run.has_line("pid 1")
        && run.has_line("dev-null-ok")
        && run.has_line("lo");
    add(
        s,
        "…and works as before: PID 1, /proc and /sys mounted, its hostname, a usable /dev/null",
        works,
        run.saw(),
        userns_failure_hint(&run.stderr).unwrap_or(
            "every namespace after the user namespace, and every mount, made by root inside: see the\n\
             stderr above.",
        ),
    );

    // 3. The image's files are root's, and root can change them.
    let script =
        "stat -c 'owner %u:%g' /etc/passwd /bin/busybox; echo written >> /etc/hosts && echo wrote";
    let run = s.run(&["--userns", "--", "sh", "-c", script]);
    let owned = run.lines().iter().filter(|l| **l == "owner 0:0").count() == 2;
    add(
        s,
        "the image's files are root's inside, and root can write them (`stat /etc/passwd`, `echo >> /etc/hosts`)",
        owned && run.has_line("wrote"),
        run.saw(),
        userns_failure_hint(&run.stderr).filter(|_| run.code() == Some(125)).unwrap_or(
            "TODO(14) step 2: the layers belong to the host's root, who is nobody (65534) inside, and\n\
             copy-up cannot give a file to an unmapped owner: support::image_layers_shifted(args,\n\
             ROOT_OUTSIDE), and upper and work chowned to ROOT_OUTSIDE.",
        ),
    );

    // 4. A host directory left open in the caller: root inside holds
    // CAP_DAC_OVERRIDE (level 11 keeps it), but only over files whose owner
    // its namespace maps. The directory is root's, mode 0770, and so is
    // the file in it (0660): group 0, as planted in every level, opens it.
    let secret = s.base.join("host-secret");
    let made = std::fs::create_dir(&secret)
        .and_then(|()| std::fs::write(secret.join("secret"), "host-secret\n"))
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o770))?;
            std::fs::set_permissions(
                secret.join("secret"),
                std::fs::Permissions::from_mode(0o660),
            )
        });
    let fd = crate::probe::LEAKED_FD;
    let script = format!(
        "echo probe-alive; grep ^Groups: /proc/self/status; cat /proc/self/fd/{fd}/secret; true"
    );
    let (runs, _) = s.probe(|p| {
        p.conditions.leaked_dir = Some(secret.clone());
        // The same level without --userns first: root reads it (the
        // attack works, so the check below can fail).
        let plain = p.run(&["--", "sh", "-c", &script]);
        let userns = p.run(&["--userns", "--", "sh", "-c", &script]);
        (plain, userns)
    });
    let (plain, run) = runs;
    let groups = run
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| g.trim().to_string())
        .unwrap_or_default();
    let mut saw = vec![format!(
        "without --userns the same command {} the host's file (fd {fd}, a directory 0770 root:root)",
        if plain.has_line("host-secret") { "read" } else { "did not read" }
    )];
    if let Err(e) = &made {
        saw.push(format!(
            "the checker could not make {}: {e}",
            secret.display()
        ));
    }
    saw.extend(run.saw());
    let hint = if !run.has_line("probe-alive") {
        userns_failure_hint(&run.stderr)
            .unwrap_or("the command did not run: see the status and stderr above.")
    } else if !groups.is_empty() {
        "TODO(14) step 3: setgroups(&[]) before setresgid: the host's supplementary groups (root's group\n\
         0 among them) go on opening the host's files, mapped or not (`Groups:` above)."
    } else {
        "TODO(14) step 2: root inside must be an unprivileged uid outside (0 100000 65536): the host's\n\
         root-owned files are then closed to it, whatever its capabilities. man 7 user_namespaces."
    };
    add(
        s,
        &format!("a host directory the caller left open (fd {fd}) stays closed: root inside is nobody to the host"),
        made.is_ok() && run.has_line("probe-alive") && !run.has_line("host-secret"),
        saw,
        hint,
    );

    // 5. --ip cannot work from inside a user namespace: refused up front.
    let run = s.run(&["--userns", "--ip", "10.200.254.2", "--", "true"]);
    add(
        s,
        "`--userns --ip` is refused in one line before anything is made (exit 125)",
        run.code() == Some(125) && run.stderr.trim().lines().count() == 1 && !run.stderr.contains("error in the container"),
        run.saw(),
        "TODO(14) step 0: the cable's host end is made by the child, which is then in the user\n\
         namespace, without power over the host's network: bail! when both are given, first thing in\n\
         run().",
    );
}

// ------------------------------------------------------- earlier levels

/// One container, one script, the cheap checks of every level below
/// `level`: a later TODO must not break an earlier one.
fn earlier_levels(level: u8, s: &mut Session) {
    let mut markers = s.markers.strings().join(" ");
    if markers.is_empty() {
        markers = "/nonexistent-rd-check".into(); // `ls -d` alone would list "."
    }
    let script = format!(
        "echo @os; cat /etc/os-release; echo @markers; ls -d {markers} 2>/dev/null; echo @ls; ls -a /; \
         echo @mountinfo; cat /proc/self/mountinfo; echo @pid; echo $$; echo @hostname; hostname; \
         echo @net; ls /sys/class/net; echo @cgroup; cat /proc/self/cgroup; \
         echo @dev; [ -c /dev/null ] && echo chardev; echo @cwd; pwd; ls; echo @end; exit 7"
    );
    let ((run, ids), _) = s.probe(|p| {
        let run = p.run(&sh(&script));
        (run, p.ids.clone())
    });
    let parts = parse::sections(&run.stdout);
    let get = |k: &str| parts.get(k).cloned().unwrap_or_default();
    let first = |k: &str| {
        get(k)
            .first()
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    };
    let mounts = mounts_in(&get("mountinfo"));
    let id = run.container_id().or_else(|| {
        (ids.len() == 1)
            .then(|| ids.iter().next().cloned())
            .flatten()
    });
    let rd_id = id.as_ref().map(|id| format!("rd-{id}"));
    let in_cgroup = |controller: Option<&str>| {
        let path = parse::cgroup_path(&get("cgroup").join("\n"), controller);
        matches!((path, &rd_id), (Some(p), Some(w)) if p.rsplit('/').next() == Some(w.as_str()))
    };
    let v1 = s.cgroups == CgroupMode::V1;

    let cwd = get("cwd");
    let checks: [(&str, bool); 10] = [
        (
            "00 exit status and output",
            run.code() == Some(7) && parts.contains_key("end"),
        ),
        (
            "01 the image's files and working directory, not the host's",
            get("os").iter().any(|l| l.contains("rd busybox"))
                && get("markers").is_empty()
                && cwd.first().map(|l| l.trim()) == Some("/")
                && !cwd.iter().any(|l| l.contains(CWD_MARKER)),
        ),
        (
            "02 /proc and /dev",
            mounts
                .iter()
                .any(|m| m.mount_point == "/proc" && m.fstype == "proc")
                && first("dev") == "chardev",
        ),
        (
            "03 no .old_root, own mount table",
            !get("ls").iter().any(|l| l.trim() == ".old_root")
                && root_mount(&mounts).is_some()
                && foreign_mount_points(&mounts).is_empty(),
        ),
        (
            "04 / is an overlay",
            root_mount(&mounts).is_some_and(|m| m.fstype == "overlay"),
        ),
        (
            "05 hostname is the container id",
            id.as_deref().is_some_and(|id| first("hostname") == id),
        ),
        ("06 PID 1", first("pid") == "1"),
        (
            "07 only lo",
            get("net")
                .iter()
                .flat_map(|l| l.split_whitespace())
                .collect::<Vec<_>>()
                == ["lo"],
        ),
        (
            "08 in cgroup rd-<id> (cpu)",
            in_cgroup(if v1 { Some("cpu") } else { None }),
        ),
        (
            "09 in cgroup rd-<id> (memory)",
            in_cgroup(if v1 { Some("memory") } else { None }),
        ),
    ];
    let relevant = &checks[..usize::from(level).min(checks.len())];
    let broken: Vec<&str> = relevant
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    let mut saw = vec![if broken.is_empty() {
        format!(
            "all hold: {}",
            relevant
                .iter()
                .map(|(n, _)| &n[..2])
                .collect::<Vec<_>>()
                .join(" ")
        )
    } else {
        format!("broken: {}", broken.join("; "))
    }];
    if !broken.is_empty() {
        saw.extend(run.saw());
    }
    let binary = s.binary.display().to_string();
    let hint: Vec<String> = broken
        .iter()
        .map(|name| {
            let nn = &name[..2];
            format!(
                "{nn}: {}\n    details: sudo cargo run -p check -- {nn} --bin {binary}",
                earlier_hint(nn)
            )
        })
        .collect();
    add(
        s,
        &format!(
            "earlier levels still hold (00..{:02}, in one container)",
            relevant.len() - 1
        ),
        broken.is_empty(),
        saw,
        &format!(
            "a later TODO broke an earlier level's work in this level's code (the earlier level's own\n\
             binary is not what broke: check this one against the earlier level's criteria):\n{}",
            hint.join("\n")
        ),
    );
}

/// Where to look when an earlier level's cheap check breaks.
fn earlier_hint(level: &str) -> &'static str {
    match level {
        "00" => "the child execs the command, the parent waits and exits with its status (TODO(00)).",
        "01" => "the image's files as /, and chdir(\"/\") after chroot or pivot_root, or the working\n    \
                 directory stays in the host's tree (TODO(01), TODO(03) step 3).",
        "02" => "proc on <rootfs>/proc and a /dev, mounted in the child's mount namespace (TODO(02)).",
        "03" => "pivot_root, then chdir(\"/\"), umount2(\"/.old_root\", MNT_DETACH) and rmdir (TODO(03)).",
        "04" => "the overlay mounted on rootfs before proc, sys and /dev (TODO(04)).",
        "05" => "unshare(CLONE_NEWUTS) and sethostname to the container id (TODO(05)).",
        "06" => "unshare(CLONE_NEWPID) in the parent before fork (TODO(06)).",
        "07" => "unshare(CLONE_NEWNET) before sysfs is mounted, then lo up (TODO(07)).",
        "08" => "the child joins rd-<id> (cgroup.procs) first thing after fork (TODO(08)).",
        _ => "the child joins the memory cgroup too (TODO(09)).",
    }
}

// ---------------------------------------------------------------- leaks

/// `text` cut to `max` characters, for labels.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

/// Everything the probes left on the host (already cleaned up by then).
fn leaks(s: &mut Session) {
    let leaks = s.leaks.clone();
    let mut saw: Vec<String> = leaks
        .iter()
        .take(8)
        .map(|(probe, l)| format!("after `{}`: {}", shorten(probe, 60), l.what))
        .collect();
    if leaks.len() > 8 {
        saw.push(format!("… and {} more", leaks.len() - 8));
    }
    if saw.is_empty() {
        saw.push(
            "mounts, rd-* cgroups, container directories and hostname as before every probe".into(),
        );
    }
    let mut hints = Vec::new();
    let has = |k: LeakKind| leaks.iter().any(|(_, l)| l.kind == k);
    if has(LeakKind::Mount) {
        hints.push("mounts: unshare(CLONE_NEWNS) and make / private (MS_REC | MS_PRIVATE) before any mount (TODO(02)).");
    }
    if has(LeakKind::Cgroup) {
        hints.push("cgroups: rmdir the cgroup(s) after waitpid(2) (TODO(08), TODO(09)).");
    }
    if has(LeakKind::ContainerDir) {
        hints.push(
            "container directories: the level ended without dropping its Container (timed out? killed?\n\
             or std::process::exit in the parent before Container's Drop ran).",
        );
    }
    if has(LeakKind::Hostname) {
        hints.push("hostname: unshare(CLONE_NEWUTS) before sethostname(2) (TODO(05)).");
    }
    if has(LeakKind::Cleanup) {
        hints.push("the checker could not undo everything: see above (umount -l / rmdir by hand).");
    }
    add(
        s,
        "nothing is left on the host (mounts, cgroups, container directories, hostname)",
        leaks.is_empty(),
        saw,
        &hints.join("\n"),
    );
}

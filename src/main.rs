//! `rd`: parse the command line, run the command, exit with docker's statuses.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use indicatif::HumanBytes;
use rd::birth::cgroups::Limits;
use rd::cli::{Cli, Command, InspectType, RunArgs};
use rd::container::{self, RunSpec};
use rd::enter::ExecSpec;
use rd::error::{exit_status, ExitError};
use rd::image::{pull, ImageRef, Store};
use rd::lifecycle;
use rd::security::seccomp::Profile;
use rd::security::{SeccompChoice, Security};
use rd::state::StateRoot;
use rd::trace::Tracer;

fn main() -> ExitCode {
    // Started first, so trace timestamps count from rd's own start.
    let tracer_start = std::time::Instant::now();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line, docker's status for a usage error: 125.
            // clap lists what is missing on indented lines below the first
            // ("required arguments were not provided:\n  --host-root"):
            // they join it, the usage after them does not.
            let text = e.render().to_string();
            let mut lines = text.lines();
            let mut line = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            for more in lines.take_while(|l| l.starts_with("  ")) {
                line.push(' ');
                line.push_str(more.trim());
            }
            eprintln!("rd: {line} (see rd --help)");
            return ExitCode::from(125);
        }
    };
    match dispatch(cli, tracer_start) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("rd: {e:#}");
            ExitCode::from(exit_status(&e).clamp(0, 255) as u8)
        }
    }
}

fn dispatch(cli: Cli, start: std::time::Instant) -> Result<i32> {
    let state = StateRoot::new(&cli.root);
    match cli.command {
        Command::Run(args) => {
            let tracer = Tracer::starting_at(args.trace, start);
            let spec = run_spec(*args)?;
            // Before the birth: checks, leftovers of killed runs, the image.
            rd::preflight::require_privileges()?;
            rd::preflight::require_overlayfs()?;
            spec.limits.validate()?;
            // From here on, Ctrl-C is data read by rd, never a sudden death.
            tracer.timed(
                "sigprocmask(SIG_BLOCK, [SIGINT SIGTERM SIGHUP SIGCHLD SIGWINCH], NULL)",
                "from now on a Ctrl-C is news rd reads (signalfd), not a sudden death that leaves a mess",
                rd::signals::block,
            )?;
            state.secure()?;
            reclaim(&state);
            let image = if spec.host_root.is_some() {
                rd::image::Image::host_root()
            } else {
                pull::obtain(&Store::new(&state), &spec.image, &spec.registry)
                    .map_err(|e| explain_image_word(e, &spec))?
            };
            if spec.detach {
                lifecycle::detach::detach(|ready| {
                    container::run(&spec, &image, &state, tracer, Some(ready))
                })
            } else {
                container::run(&spec, &image, &state, tracer, None)
            }
        }
        Command::Exec(args) => {
            let tracer = Tracer::new(args.trace);
            rd::preflight::require_privileges()?;
            rd::signals::block()?;
            let spec = ExecSpec {
                container: args.container,
                command: args.command,
                tty: args.process.tty(),
                env: args.process.env,
                workdir: args.process.workdir,
                user: args.process.user,
            };
            rd::enter::exec(&spec, &state, tracer)
        }
        Command::Ps { all, quiet } => {
            rd::preflight::require_privileges()?;
            lifecycle::commands::ps(&state, all, quiet)?;
            Ok(0)
        }
        Command::Logs {
            follow,
            tail,
            container,
        } => {
            rd::preflight::require_privileges()?;
            lifecycle::commands::logs(&state, &container, follow, tail.and_then(|t| t.0))?;
            Ok(0)
        }
        Command::Stop { time, containers } => {
            rd::preflight::require_privileges()?;
            let grace = std::time::Duration::from_secs(time.into());
            each(&containers, |c| {
                lifecycle::commands::stop(&state, c, grace).map(|()| c.to_string())
            })
        }
        Command::Kill { signal, containers } => {
            rd::preflight::require_privileges()?;
            // docker: an unknown signal is the daemon's error, status 1.
            let signal = lifecycle::commands::parse_signal(&signal)
                .map_err(|e| ExitError::new(lifecycle::EXIT_FAILED, e))?;
            each(&containers, |c| {
                lifecycle::commands::kill(&state, c, signal).map(|()| c.to_string())
            })
        }
        Command::Rm { force, containers } => {
            rd::preflight::require_privileges()?;
            rd::signals::block()?;
            each(&containers, |c| {
                lifecycle::commands::rm(&state, c, force).map(|()| c.to_string())
            })
        }
        Command::Wait { containers } => {
            rd::preflight::require_privileges()?;
            each(&containers, |c| {
                lifecycle::commands::wait(&state, c).map(|code| code.to_string())
            })
        }
        Command::Network(rd::cli::NetworkCommand::Prune) => {
            rd::preflight::require_privileges()?;
            reclaim(&state);
            let done = rd::birth::bridge::prune()?;
            if done.is_empty() {
                println!("nothing to prune: no bridge, no table, ip_forward untouched");
            }
            for line in done {
                println!("{line}");
            }
            Ok(0)
        }
        Command::Doctor { summary } => {
            let checks = rd::doctor::run(&state);
            if summary {
                println!("{}", rd::doctor::summary(&checks));
                return Ok(0);
            }
            let problems = rd::doctor::print(&checks);
            Ok(if problems > 0 { 1 } else { 0 })
        }
        Command::Volume(cmd) => {
            rd::preflight::require_privileges()?;
            state.secure()?;
            lifecycle::volumes::command(&state, cmd)
        }
        Command::Import { file, name } => {
            rd::preflight::require_privileges()?;
            rd::signals::block()?;
            state.secure()?;
            let image = Store::new(&state).import_file(&file, &name)?;
            println!(
                "imported {}:{} ({}, layer {})",
                image.record.name,
                image.record.tag,
                HumanBytes(image.record.size),
                image
                    .record
                    .layers
                    .first()
                    .map(String::as_str)
                    .unwrap_or("-")
            );
            Ok(0)
        }
        Command::Pull { image, registry } => {
            rd::preflight::require_privileges()?;
            rd::signals::block()?;
            state.secure()?;
            let r = ImageRef::parse(&image)?;
            let opts = registry.options()?;
            pull::pull(&Store::new(&state), &r, &opts, pull::Output::Stdout)?;
            Ok(0)
        }
        Command::Rmi { images } => {
            rd::preflight::require_privileges()?;
            let store = Store::new(&state);
            for image in &images {
                let removed = store.remove(&ImageRef::parse(image)?)?;
                println!("untagged {}", removed.untagged);
                for layer in &removed.layers {
                    println!("deleted layer {layer}");
                }
            }
            Ok(0)
        }
        Command::Images => {
            let store = Store::new(&state);
            let images = store.list()?;
            println!(
                "{:<36} {:<12} {:<14} {:>10} {:>6}  SOURCE",
                "NAME", "TAG", "DIGEST", "SIZE", "LAYERS"
            );
            for i in &images {
                let digest = i
                    .digest
                    .as_deref()
                    .map(|d| d.trim_start_matches("sha256:"))
                    .map(|h| &h[..h.len().min(12)])
                    .unwrap_or("-");
                let tag = if i.tag.is_empty() { "<none>" } else { &i.tag };
                println!(
                    "{:<36} {:<12} {:<14} {:>10} {:>6}  {}",
                    i.name,
                    tag,
                    digest,
                    HumanBytes(i.size).to_string(),
                    i.layers.len(),
                    i.source
                );
            }
            if !images.iter().any(|i| i.name == rd::image::busybox::NAME) {
                let (name, tag, none) = ("busybox", "latest", "-");
                println!("{name:<36} {tag:<12} {none:<14} {none:>10} {none:>6}  builtin: built on first use");
            }
            Ok(0)
        }
        Command::Cleanup { exited } => {
            rd::preflight::require_privileges()?;
            let ids = lifecycle::record::reclaim(&state, exited)?;
            for id in &ids {
                println!("removed container {id}");
            }
            rd::birth::bridge::sweep_stale();
            let swept = Store::new(&state).sweep_tmp();
            for dir in &swept {
                println!("removed unfinished pull or import {dir}");
            }
            if ids.is_empty() && swept.is_empty() {
                println!("nothing to clean up under {}", state.root.display());
            }
            Ok(0)
        }
        Command::Inspect { kind, name } => {
            if kind != Some(InspectType::Image) {
                match lifecycle::resolve(&state, &name) {
                    Ok(_) => {
                        lifecycle::commands::inspect(&state, &name)?;
                        return Ok(0);
                    }
                    Err(e) if kind == Some(InspectType::Container) => return Err(e),
                    Err(_) => {}
                }
            }
            let image = Store::new(&state).resolve(&name)?;
            let mut json = serde_json::to_value(&image.record)?;
            json["layers"] = serde_json::to_value(image.layer_dirs())?;
            json["digests"] = serde_json::to_value(&image.record.layers)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json).context("formatting JSON")?
            );
            Ok(0)
        }
    }
}

/// Runs `f` for each container named, as docker does: what it returns
/// (the name, or an exit status) on stdout, one line for each failure,
/// status 1 if any failed.
fn each(containers: &[String], f: impl Fn(&str) -> Result<String>) -> Result<i32> {
    let mut failed = false;
    for c in containers {
        match f(c) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("rd: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { lifecycle::EXIT_FAILED } else { 0 })
}

/// What killed monitors left (directories, cgroups, names) goes first.
fn reclaim(state: &StateRoot) {
    match lifecycle::record::reclaim(state, false) {
        Ok(ids) => {
            for id in ids {
                eprintln!("rd: removed the leftovers of container {id} (its monitor was killed)");
            }
        }
        Err(e) => eprintln!("rd: warning: looking for leftovers: {e:#}"),
    }
}

/// `rd run sh -c …` meant the command sh, not an image named sh: when the
/// first word names no image, say how to run it as a command.
fn explain_image_word(e: anyhow::Error, spec: &RunSpec) -> anyhow::Error {
    if !spec.image_from_word {
        return e;
    }
    let word = &spec.image;
    ExitError::new(
        exit_status(&e),
        format!(
            "{e:#} ('{word}' was taken as the image, docker's order: rd run IMAGE COMMAND; for the command {word} in the default image: rd run -- {word} ...)"
        ),
    )
    .into()
}

/// How many words of the command line follow a bare `--` (clap drops it,
/// and it decides which words are the image's: see cli::image_and_command).
fn words_after_dashes() -> Option<usize> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let run = args.iter().position(|a| a == "run")?;
    let dashes = args[run..].iter().position(|a| a == "--")? + run;
    Some(args.len() - dashes - 1)
}

/// `--stats-file FILE`, absolute (a detached container's monitor writes it
/// later, from elsewhere), in a directory that exists: checked now, before
/// the run, rather than found out after it.
fn stats_file(file: &std::path::Path) -> Result<std::path::PathBuf> {
    let path =
        std::path::absolute(file).with_context(|| format!("--stats-file {}", file.display()))?;
    match path.parent() {
        Some(dir) if dir.is_dir() && path.file_name().is_some() => Ok(path),
        _ => anyhow::bail!(
            "--stats-file {}: no such directory to write it in",
            file.display()
        ),
    }
}

/// The "image" name of a `--host-root` container (`rd ps`, its record).
const HOST_ROOT: &str = "host-root";

fn run_spec(a: RunArgs) -> Result<RunSpec> {
    let opts = rd::cli::parse_security_opts(&a.security_opt)?;
    // --host-root: no image, every word is the command's (as with -i).
    let image = if a.host_root {
        Some(HOST_ROOT)
    } else {
        a.image.as_deref()
    };
    let words = rd::cli::image_and_command(image, &a.args, words_after_dashes())?;
    let mut env = Vec::new();
    for file in &a.env_file {
        env.extend(rd::cli::read_env_file(file)?);
    }
    env.extend(a.process.env.iter().cloned());
    let mut security = Security {
        privileged: a.privileged,
        cap_add: a.cap_add.iter().map(|c| c.0).collect(),
        cap_drop: a.cap_drop.iter().map(|c| c.0).collect(),
        no_new_privileges: opts.no_new_privileges,
        seccomp: SeccompChoice::Default,
        preserve_fds: a.preserve_fds,
    };
    let held = rd::security::capabilities::held();
    for cap in a.cap_add.iter().filter_map(|c| c.0) {
        if !held.contains(&cap) {
            eprintln!("rd: --cap-add {cap}: rd itself does not hold it (this host's root lacks it), so neither can the container");
        }
    }
    if opts.seccomp_unconfined {
        security.seccomp = SeccompChoice::Unconfined;
    } else if let Some(file) = &opts.seccomp_file {
        // docker's profiles enable some rules by the container's capabilities.
        let profile = Profile::from_docker_file(file, &security.capabilities())?;
        security.seccomp = SeccompChoice::Profile(std::sync::Arc::new(profile));
    }
    Ok(RunSpec {
        security,
        tty: a.process.tty(),
        registry: a.registry.options()?,
        image_from_word: words.from_word,
        image: words.image,
        command: words.command,
        env,
        workdir: a.process.workdir,
        user: a.process.user,
        hostname: a.hostname,
        limits: Limits {
            memory: a.memory,
            memory_swap: a.memory_swap.map(|s| s.0),
            cpu_shares: a.cpu_shares,
            cpus: a.cpus,
            pids: a.pids_limit,
        },
        // Kept until `rd rm`: a detached container without --rm (its logs
        // and status are read after it ends), or --keep.
        keep: if a.detach { !a.rm } else { a.keep },
        detach: a.detach,
        name: a.name,
        init: a.init,
        ulimits: a.ulimit,
        stats: a.stats,
        host_root: a.host_root.then_some(container::HostRootDirs {
            overlay: a.overlay_dir,
            read_only: a.read_only_dir,
            hidden: a.hidden_dir,
            full_access: a.full_access_dir,
        }),
        stats_file: a.stats_file.as_deref().map(stats_file).transpose()?,
        entrypoint: a.entrypoint,
        network: a.network,
        ports: a.ports,
        volumes: a.volumes,
        tmpfs: a.tmpfs,
        read_only: a.read_only,
    })
}

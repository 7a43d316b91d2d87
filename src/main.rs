//! `rd`: parse the command line, run the command, exit with docker's statuses.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use indicatif::HumanBytes;
use rd::birth::cgroups::Limits;
use rd::cli::{Cli, Command, RunArgs};
use rd::container::{self, RunSpec};
use rd::error::exit_status;
use rd::image::{pull, ImageRef, Store};
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
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "rd: {} (see rd --help)",
                first.trim_start_matches("error: ")
            );
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
            for id in container::reclaim_leftovers(&state, false) {
                eprintln!("rd: removed the leftovers of container {id} (its rd was killed)");
            }
            let image = pull::obtain(&Store::new(&state), &spec.image, &spec.registry)?;
            container::run(&spec, &image, &state, tracer)
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
        Command::Cleanup { kept } => {
            rd::preflight::require_privileges()?;
            let ids = container::reclaim_leftovers(&state, kept);
            for id in &ids {
                println!("removed container {id}");
            }
            let swept = Store::new(&state).sweep_tmp();
            for dir in &swept {
                println!("removed unfinished pull or import {dir}");
            }
            if ids.is_empty() && swept.is_empty() {
                println!("nothing to clean up under {}", state.root.display());
            }
            Ok(0)
        }
        Command::Inspect { image } => {
            let image = Store::new(&state).resolve(&image)?;
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

fn run_spec(a: RunArgs) -> Result<RunSpec> {
    let opts = rd::cli::parse_security_opts(&a.security_opt)?;
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
        tty: if a.tty {
            Some(true)
        } else if a.no_tty {
            Some(false)
        } else {
            None
        },
        registry: a.registry.options()?,
        image: a.image,
        command: a.command,
        env: a.env,
        workdir: a.workdir,
        user: a.user,
        hostname: a.hostname,
        limits: Limits {
            memory: a.memory,
            memory_swap: a.memory_swap.map(|s| s.0),
            cpu_shares: a.cpu_shares,
            cpus: a.cpus,
            pids: a.pids_limit,
        },
        keep: a.keep,
    })
}

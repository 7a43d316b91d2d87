//! `rd`: parse the command line, run the command, exit with docker's statuses.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use rd::cgroups::{human_size, Limits};
use rd::cli::{Cli, Command, RunArgs};
use rd::container::{self, RunSpec};
use rd::error::exit_status;
use rd::image::Store;
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
            container::run(&run_spec(args), &state, tracer)
        }
        Command::Import { file, name } => {
            rd::preflight::require_privileges()?;
            rd::signals::block()?;
            let image = Store::new(&state).import_file(&file, &name)?;
            println!(
                "imported {}:{} ({}, layer {})",
                image.record.name,
                image.record.tag,
                human_size(image.record.size),
                image
                    .record
                    .layers
                    .first()
                    .map(String::as_str)
                    .unwrap_or("-")
            );
            Ok(0)
        }
        Command::Images => {
            let store = Store::new(&state);
            let images = store.list()?;
            println!(
                "{:<32} {:<12} {:<14} {:>7} {:>10}  SOURCE",
                "NAME", "TAG", "LAYER", "LAYERS", "SIZE"
            );
            for i in &images {
                let top = i
                    .layers
                    .last()
                    .map(|d| d.trim_start_matches("sha256:"))
                    .unwrap_or("-");
                println!(
                    "{:<32} {:<12} {:<14} {:>7} {:>10}  {}",
                    i.name,
                    i.tag,
                    &top[..top.len().min(12)],
                    i.layers.len(),
                    human_size(i.size),
                    i.source
                );
            }
            if !images.iter().any(|i| i.name == rd::image::busybox::NAME) {
                let (name, tag, none) = ("busybox", "latest", "-");
                println!("{name:<32} {tag:<12} {none:<14} {none:>7} {none:>10}  builtin: built on first use");
            }
            Ok(0)
        }
        Command::Cleanup { kept } => {
            rd::preflight::require_privileges()?;
            let ids = container::reclaim_leftovers(&state, kept);
            for id in &ids {
                println!("removed container {id}");
            }
            if ids.is_empty() {
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

fn run_spec(a: RunArgs) -> RunSpec {
    RunSpec {
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
    }
}

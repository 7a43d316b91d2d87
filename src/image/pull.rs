//! `rd pull`: from a registry's manifest to unpacked layers in the store.
//!
//! ```text
//! resolve the reference     GET /v2/<repo>/manifests/<tag>   (index -> this platform's manifest)
//! fetch the config          GET /v2/<repo>/blobs/<config>    (Env, Cmd, ..., rootfs.diff_ids)
//! for each missing layer, up to 3 at once, in one streaming pass:
//!     download -> sha256 (blob digest) -> gunzip/zstd -> sha256 (diff_id) -> unpack into tmp/
//!     both digests checked at the end of the stream, then rename into layers/<diff_id>
//! write the record          images/<name>/<tag>.json
//! ```
//!
//! Nothing is written to disk before it is verified except the layer being
//! unpacked, and that lives in `tmp/` until both its digests match. A layer
//! already in the store (from any image) is neither downloaded nor unpacked.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::registry::{Client, Layer, RegistryOptions};
use super::store::explain_disk_full;
use super::{Image, ImageRef, Store};
use crate::error::ExitError;

/// Layers downloaded at once (docker's default, `max-concurrent-downloads`).
const PARALLEL_LAYERS: usize = 3;

/// The image `name` from the store, else built (busybox), else pulled.
pub fn obtain(store: &Store, name: &str, opts: &RegistryOptions) -> Result<Image> {
    let r = ImageRef::parse(name)?;
    if let Some(image) = store.find(&r)? {
        return Ok(image);
    }
    if store.is_builtin(&r) {
        return store.resolve(name);
    }
    // `rd run` keeps stdout for the container: progress goes to stderr.
    pull(store, &r, opts, Output::Stderr)
        .with_context(|| format!("image {r} is not in the store and pulling it failed"))
}

/// Where progress goes: `rd pull` prints on stdout, `rd run` on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// Progress bars on a terminal; plain lines otherwise (a log, a pipe, CI).
struct Progress {
    bars: Option<MultiProgress>,
    output: Output,
}

impl Progress {
    fn new(output: Output) -> Progress {
        let (terminal, target) = match output {
            Output::Stdout => (
                std::io::stdout().is_terminal(),
                ProgressDrawTarget::stdout(),
            ),
            Output::Stderr => (
                std::io::stderr().is_terminal(),
                ProgressDrawTarget::stderr(),
            ),
        };
        Progress {
            bars: terminal.then(|| MultiProgress::with_draw_target(target)),
            output,
        }
    }

    fn line(&self, text: String) {
        match (&self.bars, self.output) {
            (Some(m), _) => {
                let _ = m.println(text);
            }
            (None, Output::Stdout) => println!("{text}"),
            (None, Output::Stderr) => eprintln!("{text}"),
        }
    }

    fn bar(&self, name: &str, size: u64) -> ProgressBar {
        let Some(m) = &self.bars else {
            return ProgressBar::hidden();
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        m.add(
            ProgressBar::new(size)
                .with_style(style)
                .with_prefix(name.to_string()),
        )
    }
}

/// docker's short form of a digest: 12 hex digits.
fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

/// `rd pull`: fetches `r` and stores it, replacing an older image of that
/// name and tag.
pub fn pull(store: &Store, r: &ImageRef, opts: &RegistryOptions, output: Output) -> Result<Image> {
    let progress = Progress::new(output);
    // The client (and the thread of its HTTP runtime) lives only in here:
    // rd must be single-threaded again before it clone()s a container.
    let client = Client::new(r, opts)?;
    let resolved = client.resolve(r)?;
    progress.line(format!(
        "pulling {r} from {}: {} layer(s), manifest {}",
        r.registry(),
        resolved.layers.len(),
        short(&resolved.manifest_digest)
    ));

    let _store = store.lock(false)?;
    let stored = (|| -> Result<Image> {
        let layers = fetch_layers(store, &client, r, &resolved.layers, &progress)?;
        // Only a pull that got all its layers keeps its documents.
        store.put_blob(&resolved.manifest_digest, &resolved.manifest)?;
        store.put_blob(&resolved.config_digest, &resolved.config)?;
        let mut record = store.record(
            r,
            layers,
            resolved.image_config.clone(),
            &format!("pull {}", r.registry()),
        );
        record.digest = Some(resolved.digest.clone());
        record.manifest = Some(resolved.manifest_digest.clone());
        record.config_digest = Some(resolved.config_digest.clone());
        store.save(r, record)
    })();
    let image = stored.map_err(|e| {
        if let Some(interrupted) = e.downcast_ref::<ExitError>() {
            ExitError::new(
                interrupted.status,
                format!("interrupted: {r} was not stored; its completed layers were, so pulling again resumes from them"),
            )
            .into()
        } else {
            explain_disk_full(e)
        }
    })?;
    progress.line(format!(
        "pulled {r} ({}), digest {}",
        HumanBytes(image.record.size),
        resolved.digest
    ));
    Ok(image)
}

/// Every layer's `(diff_id, size)`, lowest first; up to [`PARALLEL_LAYERS`]
/// are downloaded and unpacked at the same time. After the first failure no
/// new layer is started, and the first error is returned.
fn fetch_layers(
    store: &Store,
    client: &Client,
    r: &ImageRef,
    layers: &[Layer],
    progress: &Progress,
) -> Result<Vec<(String, u64)>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let mut results: Vec<Option<Result<(String, u64)>>> = (0..layers.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_LAYERS.min(layers.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= layers.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let result = fetch_layer(store, client, r, &layers[i], progress);
                if result.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(result);
                }
            });
        }
    });
    let mut out = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Some(r) => out.push(r?),
            // Never started because an earlier layer failed: that error
            // comes first in the loop, so this is only reached if a worker
            // thread panicked.
            None => anyhow::bail!("layer {} was not fetched", layers[i].digest),
        }
    }
    Ok(out)
}

fn fetch_layer(
    store: &Store,
    client: &Client,
    r: &ImageRef,
    layer: &Layer,
    progress: &Progress,
) -> Result<(String, u64)> {
    let name = short(&layer.digest);
    let (present, _claim) = store.claim_layer(&layer.diff_id)?;
    if let Some(size) = present {
        progress.line(format!("{name}: already in the store"));
        return Ok((layer.diff_id.clone(), size));
    }
    let started = Instant::now();
    if progress.bars.is_none() {
        progress.line(format!("{name}: downloading {}", HumanBytes(layer.size)));
    }
    let blob = client.open_blob(r, layer)?;
    let bar = progress.bar(name, layer.size);
    let stored = store
        .add_layer(
            bar.wrap_read(blob),
            Some(layer.compression),
            Some(&layer.diff_id),
        )
        .with_context(|| format!("layer {}", layer.digest));
    bar.finish_and_clear();
    let (diff_id, size) = stored?;
    progress.line(format!(
        "{name}: done ({} unpacked, {:.1} s)",
        HumanBytes(size),
        started.elapsed().as_secs_f64()
    ));
    Ok((diff_id, size))
}

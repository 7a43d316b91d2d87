//! The image store under the state root: records in `images/`, unpacked
//! layers in `layers/`. Everything enters through [`Store::add_layer`]: an
//! archive is unpacked into `tmp/`, hashed on the way, then renamed into
//! place, so a layer directory either is complete or does not exist.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::unpack::{self, UnpackError, UnpackOptions};
use super::{busybox, ImageRef};
use crate::error::ExitError;
use crate::signals;
use crate::state::{random_id, DirGuard, StateRoot};

/// The parts of an OCI image config that `rd run` honours.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// What the store knows of an image: `images/<name>/<tag>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub name: String,
    pub tag: String,
    /// `sha256:<hex>` of each layer's uncompressed tar, lowest first.
    pub layers: Vec<String>,
    pub config: ImageConfig,
    /// Bytes of file data in all layers.
    pub size: u64,
    /// Unix time it was stored.
    pub created: u64,
    /// Where it came from, for `rd images`.
    pub source: String,
}

/// An image ready to run: its record and its layers' directories.
#[derive(Debug, Clone)]
pub struct Image {
    pub record: ImageRecord,
    layer_dirs: Vec<PathBuf>,
}

impl Image {
    /// Lowest layer first.
    pub fn layer_dirs(&self) -> &[PathBuf] {
        &self.layer_dirs
    }

    pub fn config(&self) -> &ImageConfig {
        &self.record.config
    }

    /// Docker's rule: ENTRYPOINT + (the user's command, or else the image's CMD).
    pub fn command(&self, user_command: &[String]) -> Result<Vec<String>> {
        let mut cmd = self.config().entrypoint.clone().unwrap_or_default();
        if user_command.is_empty() {
            cmd.extend(self.config().cmd.clone().unwrap_or_default());
        } else {
            cmd.extend(user_command.iter().cloned());
        }
        if cmd.is_empty() {
            bail!("no command given and image {}:{} has no default (Cmd): try 'rd run -i {} -- /bin/sh'", self.record.name, self.record.tag, self.record.name);
        }
        Ok(cmd)
    }
}

/// sha256 of everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

pub struct Store {
    state: StateRoot,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    pub fn new(state: &StateRoot) -> Store {
        Store {
            state: state.clone(),
        }
    }

    fn record_path(&self, r: &ImageRef) -> PathBuf {
        self.state
            .images()
            .join(r.dir_name())
            .join(format!("{}.json", r.tag.as_deref().unwrap_or("latest")))
    }

    fn layer_dir(&self, digest: &str) -> PathBuf {
        self.state
            .layers()
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Finds an image by name; the builtin busybox is built on first use.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let r = ImageRef::parse(name)?;
        if let Some(image) = self.load(&r)? {
            return Ok(image);
        }
        if r.name == busybox::NAME && r.tag.as_deref() == Some("latest") {
            return self.build_busybox();
        }
        let known: Vec<String> = self
            .list()?
            .iter()
            .map(|i| format!("{}:{}", i.name, i.tag))
            .chain(std::iter::once(format!("{}:latest", busybox::NAME)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        bail!(
            "no image named '{r}' (available: {}): add one with 'rd import FILE.tar {}'",
            known.join(", "),
            r.name
        )
    }

    fn load(&self, r: &ImageRef) -> Result<Option<Image>> {
        let path = self.record_path(r);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let record: ImageRecord = serde_json::from_str(&text).with_context(|| {
            format!(
                "image record {} is damaged: remove it with 'rm {}' and re-import",
                path.display(),
                path.display()
            )
        })?;
        let mut layer_dirs = Vec::new();
        for digest in &record.layers {
            let dir = self.layer_dir(digest);
            if !dir.is_dir() {
                bail!(
                    "image '{r}' is damaged: its layer {} is missing ({}); import the image again",
                    digest,
                    dir.display()
                );
            }
            layer_dirs.push(dir);
        }
        Ok(Some(Image { record, layer_dirs }))
    }

    /// Every image record in the store.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let mut out = Vec::new();
        let Ok(names) = std::fs::read_dir(self.state.images()) else {
            return Ok(out);
        };
        for name in names.flatten() {
            let Ok(tags) = std::fs::read_dir(name.path()) else {
                continue;
            };
            for tag in tags.flatten() {
                if tag.path().extension().is_some_and(|e| e == "json") {
                    if let Ok(r) = std::fs::read_to_string(tag.path())
                        .map_err(anyhow::Error::from)
                        .and_then(|t| Ok(serde_json::from_str::<ImageRecord>(&t)?))
                    {
                        out.push(r);
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
        Ok(out)
    }

    /// `rd import FILE NAME`: one tar (optionally gzipped) as a one-layer image.
    pub fn import_file(&self, file: &Path, name: &str) -> Result<Image> {
        let r = ImageRef::parse(name)?;
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(size).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("importing {}", file.display()));
        let reader = unpack::open_archive(bar.wrap_read(f))
            .with_context(|| format!("reading {}", file.display()))?;
        let layer = self
            .add_layer(reader)
            .map_err(|e| match e.downcast::<UnpackError>() {
                Ok(UnpackError::NotATar { .. }) => anyhow::anyhow!(
                    "{} is not a tar archive (nor a gzip-compressed one): rd import takes a root filesystem tarball, e.g. from 'docker export' or 'tar -C DIR -c .'",
                    file.display()
                ),
                Ok(other) => anyhow::Error::from(other).context(format!("unpacking {}", file.display())),
                Err(e) => e,
            })?;
        bar.finish_and_clear();
        let source = format!("import {}", file.display());
        self.save(
            &r,
            vec![layer],
            ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                ..ImageConfig::default()
            },
            &source,
        )
    }

    fn build_busybox(&self) -> Result<Image> {
        let tar = busybox::tarball()?;
        let layer = self.add_layer(std::io::Cursor::new(tar))?;
        let r = ImageRef::parse(busybox::NAME)?;
        self.save(&r, vec![layer], busybox::config(), busybox::SOURCE)
    }

    /// Records an image made of stored layers (`(digest, size)`, lowest
    /// first). Written to a temporary file and renamed: readers see the old
    /// record or the new one, never half of one.
    pub fn save(
        &self,
        r: &ImageRef,
        layers: Vec<(String, u64)>,
        config: ImageConfig,
        source: &str,
    ) -> Result<Image> {
        let record = ImageRecord {
            name: r.name.clone(),
            tag: r.tag.clone().unwrap_or_default(),
            size: layers.iter().map(|(_, s)| s).sum(),
            layers: layers.into_iter().map(|(d, _)| d).collect(),
            config,
            created: now(),
            source: source.to_string(),
        };
        let path = self.record_path(r);
        let dir = path.parent().context("record path has a parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".{}.{}.tmp", r.tag.as_deref().unwrap_or("latest"), std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&record)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming into {}", path.display()))?;
        self.load(r)?
            .context("the image vanished right after it was stored")
    }

    /// Unpacks one layer into the store; returns its digest and size. An
    /// identical layer already stored is reused.
    pub fn add_layer(&self, archive: impl Read + Send + 'static) -> Result<(String, u64)> {
        let tmp_root = self.state.tmp();
        std::fs::create_dir_all(&tmp_root)
            .with_context(|| format!("creating {}", tmp_root.display()))?;
        self.sweep_tmp();
        let work = DirGuard::new(tmp_root.join(format!("{}-{}", std::process::id(), random_id()?)));
        let dest = work.path.join("layer");
        std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;

        // Decompressing and hashing run on a helper thread (ReadAhead) while
        // this one writes files: the two halves of the work overlap.
        let mut reader = unpack::ReadAhead::new(HashingReader {
            inner: archive,
            hasher: Sha256::new(),
            bytes: 0,
        });
        let interrupted = || signals::pending_termination().is_some();
        let unpacked = unpack::unpack(
            &mut reader,
            &dest,
            &UnpackOptions { whiteouts: false },
            &interrupted,
        );
        // Joins the helper thread (rd must be single-threaded again before clone).
        let inner = reader.into_inner();
        let report = match unpacked {
            Ok(r) => r,
            Err(UnpackError::Interrupted) => {
                let sig = signals::pending_termination()
                    .map(|s| s as i32)
                    .unwrap_or(2);
                return Err(ExitError::new(128 + sig, "interrupted: nothing was stored").into());
            }
            Err(e) => return Err(e.into()),
        };
        let hashing = inner.context("reading the archive")?;
        for s in &report.skipped {
            eprintln!("rd: skipped {} ({})", s.path, s.reason);
        }
        let digest = format!("sha256:{:x}", hashing.hasher.finalize());
        let target = self.layer_dir(&digest);
        if !target.exists() {
            std::fs::create_dir_all(self.state.layers())?;
            match std::fs::rename(&dest, &target) {
                Ok(()) => {}
                // Another rd stored the same layer meanwhile: use theirs.
                Err(_) if target.is_dir() => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("moving the layer into {}", target.display()))
                }
            }
        }
        Ok((digest, report.bytes))
    }

    /// Removes work directories left by an rd that was SIGKILLed mid-import
    /// (named `<pid>-<random>`; the pid is no longer running).
    fn sweep_tmp(&self) {
        let Ok(entries) = std::fs::read_dir(self.state.tmp()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

//! The image store under the state root: records in `images/`, unpacked
//! layers in `layers/`. Everything enters through [`Store::add_layer`]: an
//! archive is unpacked into `tmp/`, hashed on the way, then renamed into
//! place, so a layer directory either is complete or does not exist.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::unpack::{self, Compression, UnpackError};
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

/// What the store knows of an image: `images/<name>/<tag>.json` (or
/// `@<hex>.json` for an image pulled by digest alone).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub name: String,
    /// Empty for an image pulled by digest alone.
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
    /// For a pulled image: what its reference pointed at in the registry
    /// (an index or a manifest), docker's "RepoDigest".
    #[serde(default)]
    pub digest: Option<String>,
    /// For a pulled image: the platform's manifest and config, kept in
    /// `blobs/sha256/`.
    #[serde(default)]
    pub manifest: Option<String>,
    #[serde(default)]
    pub config_digest: Option<String>,
}

impl ImageRecord {
    /// `name:tag`, or `name@digest` for an image pulled by digest alone.
    pub fn reference(&self) -> String {
        match (&self.tag, &self.digest) {
            (t, Some(d)) if t.is_empty() => format!("{}@{d}", self.name),
            (t, _) => format!("{}:{t}", self.name),
        }
    }
}

/// An image ready to run: its record and its layers' directories.
#[derive(Debug, Clone)]
pub struct Image {
    pub record: ImageRecord,
    layer_dirs: Vec<PathBuf>,
}

impl Image {
    /// `--host-root`'s "image": no layers (the host's / is the root), a
    /// shell's usual PATH, no default command.
    pub fn host_root() -> Image {
        Image {
            record: ImageRecord {
                name: "host-root".into(),
                tag: "".into(),
                layers: vec![],
                config: ImageConfig {
                    env: vec![
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    ],
                    ..ImageConfig::default()
                },
                size: 0,
                created: 0,
                source: "the host's /".into(),
                digest: None,
                manifest: None,
                config_digest: None,
            },
            layer_dirs: vec![],
        }
    }

    /// Lowest layer first.
    pub fn layer_dirs(&self) -> &[PathBuf] {
        &self.layer_dirs
    }

    pub fn config(&self) -> &ImageConfig {
        &self.record.config
    }

    /// Docker's rule: ENTRYPOINT + (the user's command, or else the image's
    /// CMD). `--entrypoint` replaces ENTRYPOINT (an empty one clears it)
    /// and, as in docker, drops the image's CMD too.
    pub fn command(
        &self,
        user_command: &[String],
        entrypoint: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut cmd = match entrypoint {
            Some("") => vec![],
            Some(e) => vec![e.to_string()],
            None => self.config().entrypoint.clone().unwrap_or_default(),
        };
        if user_command.is_empty() {
            if entrypoint.is_none() {
                cmd.extend(self.config().cmd.clone().unwrap_or_default());
            }
        } else {
            cmd.extend(user_command.iter().cloned());
        }
        if cmd.is_empty() {
            bail!(
                "no command given and image {} has no default (Cmd): try 'rd run {} /bin/sh'",
                self.record.reference(),
                self.record.reference()
            );
        }
        Ok(cmd)
    }
}

/// The image store under a state root. Layout (see also `state.rs`):
///
/// ```text
/// images/<name>/<tag>.json   records: which layers, which config
/// layers/<hex>/              one unpacked layer, named by its diff_id, shared
/// layerinfo/<hex>.json       its size, written before the directory appears
/// blobs/sha256/<hex>         pulled manifests and configs, as verified
/// locks/                     flock(2) files: the store, and one per layer
/// tmp/<pid>-<random>/        work in progress, renamed into place when whole
/// ```
///
/// Atomicity comes from rename(2): a layer directory, a blob or a record
/// either exists complete or not at all, so a killed rd leaves only `tmp/`
/// entries, which the next rd sweeps.
pub struct Store {
    state: StateRoot,
}

/// What a stored layer holds: `layerinfo/<hex>.json` (not in `layers/`,
/// which holds nothing but layer directories).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerMeta {
    size: u64,
    entries: u64,
}

/// An flock(2) held until dropped (closing the file releases it).
pub type StoreLock = crate::state::StateLock;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// A disk-full error said plainly, with the reassurance that matters: the
/// image was not stored (its partial layer lived in `tmp/`, now removed).
/// Other errors pass through unchanged.
pub fn explain_disk_full(err: anyhow::Error) -> anyhow::Error {
    if !is_disk_full(&err) {
        return err;
    }
    anyhow::anyhow!(
        "no space left on the device holding the store: {err:#}; the image was not stored (free some space, e.g. rd rmi IMAGE, and try again)"
    )
}

/// Did this fail because the disk is full? (ENOSPC anywhere in the chain.)
fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::ENOSPC))
            || e.downcast_ref::<UnpackError>()
                .is_some_and(UnpackError::is_disk_full)
            || e.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::ENOSPC)
    })
}

impl Store {
    pub fn new(state: &StateRoot) -> Store {
        Store {
            state: state.clone(),
        }
    }

    fn record_path(&self, r: &ImageRef) -> PathBuf {
        let file = match (&r.tag, &r.digest) {
            (Some(tag), _) => format!("{tag}.json"),
            (None, Some(d)) => format!("@{}.json", hex(d)),
            (None, None) => "latest.json".to_string(),
        };
        self.state.images().join(r.dir_name()).join(file)
    }

    pub fn layer_dir(&self, digest: &str) -> PathBuf {
        self.state.layers().join(hex(digest))
    }

    fn layer_meta_path(&self, digest: &str) -> PathBuf {
        self.state
            .root
            .join("layerinfo")
            .join(format!("{}.json", hex(digest)))
    }

    /// Is this layer (by diff_id) unpacked in the store already?
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    fn layer_size(&self, diff_id: &str) -> u64 {
        std::fs::read(self.layer_meta_path(diff_id))
            .ok()
            .and_then(|b| serde_json::from_slice::<LayerMeta>(&b).ok())
            .map(|m| m.size)
            .unwrap_or(0)
    }

    /// Finds an image by name; the builtin busybox is built on first use.
    /// Looks only in the store: `rd run` pulls what is missing (`pull.rs`).
    pub fn resolve(&self, name: &str) -> Result<Image> {
        let r = ImageRef::parse(name)?;
        if let Some(image) = self.find(&r)? {
            return Ok(image);
        }
        if self.is_builtin(&r) {
            return self.build_busybox();
        }
        let known: Vec<String> = self
            .list()?
            .iter()
            .map(ImageRecord::reference)
            .chain(std::iter::once(format!("{}:latest", busybox::NAME)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        bail!(
            "no image named '{r}' in the store (available: {}): 'rd pull {r}' fetches it from its registry, 'rd import FILE.tar {}' adds a tarball",
            known.join(", "),
            r.name
        )
    }

    /// `busybox` (the tag `latest`) is built from the host's busybox-static
    /// rather than pulled, so rd works offline from the first minute.
    pub fn is_builtin(&self, r: &ImageRef) -> bool {
        r.name == busybox::NAME && r.tag.as_deref() == Some("latest") && r.digest.is_none()
    }

    /// The stored image `r` names, if any. A reference with a digest finds
    /// the record of that name whose registry digest (or manifest) matches.
    pub fn find(&self, r: &ImageRef) -> Result<Option<Image>> {
        let Some(digest) = &r.digest else {
            return self.load(&self.record_path(r), r);
        };
        let dir = self.state.images().join(r.dir_name());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(None);
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            if let Some(image) = self.load(&path, r)? {
                let rec = &image.record;
                if rec.digest.as_ref() == Some(digest) || rec.manifest.as_ref() == Some(digest) {
                    return Ok(Some(image));
                }
            }
        }
        Ok(None)
    }

    fn load(&self, path: &Path, r: &ImageRef) -> Result<Option<Image>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let record: ImageRecord = serde_json::from_str(&text).with_context(|| {
            format!(
                "image record {} is damaged: remove it with 'rm {}' and pull or import again",
                path.display(),
                path.display()
            )
        })?;
        let mut layer_dirs = Vec::new();
        for digest in &record.layers {
            let dir = self.layer_dir(digest);
            if !dir.is_dir() {
                bail!(
                    "image '{r}' is damaged: its layer {} is missing ({}); 'rd rmi {r}', then pull or import it again",
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
                let path = tag.path();
                // `.<tag>.<pid>.tmp` files are records being written.
                if path.extension().is_some_and(|e| e == "json") {
                    if let Some(r) = std::fs::read(&path)
                        .ok()
                        .and_then(|t| serde_json::from_slice::<ImageRecord>(&t).ok())
                    {
                        out.push(r);
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.name, &a.tag).cmp(&(&b.name, &b.tag)));
        Ok(out)
    }

    /// Shared for pulls and imports, exclusive for `rd rmi`: a layer that a
    /// pull has just found present must not be deleted before its record is
    /// written.
    pub fn lock(&self, exclusive: bool) -> Result<StoreLock> {
        self.lock_file("store", exclusive)
    }

    fn lock_path(&self, name: &str) -> PathBuf {
        self.state.root.join("locks").join(format!("{name}.lock"))
    }

    fn lock_file(&self, name: &str, exclusive: bool) -> Result<StoreLock> {
        self.state.lock(name, exclusive)
    }

    /// `rd import FILE NAME`: one tar (optionally gzip- or zstd-compressed)
    /// as a one-layer image.
    pub fn import_file(&self, file: &Path, name: &str) -> Result<Image> {
        let r = ImageRef::parse(name)?;
        if r.digest.is_some() {
            bail!("'{name}': an imported image is named NAME[:TAG]; digests come from registries");
        }
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _store = self.lock(false)?;
        let bar = indicatif::ProgressBar::new(size).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("importing {}", file.display()));
        let layer = self
            .add_layer(bar.wrap_read(f), None, None)
            .map_err(|e| match e.downcast::<UnpackError>() {
                Ok(UnpackError::NotATar { .. }) => anyhow::anyhow!(
                    "{} is not a tar archive (nor a gzip- or zstd-compressed one): rd import takes a root filesystem tarball, e.g. from 'docker export' or 'tar -C DIR -c .'",
                    file.display()
                ),
                Ok(other) => explain_disk_full(
                    anyhow::Error::from(other).context(format!("unpacking {}", file.display())),
                ),
                Err(e) => e,
            })?;
        bar.finish_and_clear();
        let source = format!("import {}", file.display());
        let record = self.record(
            &r,
            vec![layer],
            ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                ..ImageConfig::default()
            },
            &source,
        );
        self.save(&r, record)
    }

    fn build_busybox(&self) -> Result<Image> {
        let tar = busybox::tarball()?;
        let _store = self.lock(false)?;
        let layer = self.add_layer(std::io::Cursor::new(tar), None, None)?;
        let r = ImageRef::parse(busybox::NAME)?;
        let record = self.record(&r, vec![layer], busybox::config(), busybox::SOURCE);
        self.save(&r, record)
    }

    /// A record for an image made of stored layers (`(diff_id, size)`,
    /// lowest first); pulls add their digests before saving it.
    pub fn record(
        &self,
        r: &ImageRef,
        layers: Vec<(String, u64)>,
        config: ImageConfig,
        source: &str,
    ) -> ImageRecord {
        ImageRecord {
            name: r.name.clone(),
            tag: r.tag.clone().unwrap_or_default(),
            size: layers.iter().map(|(_, s)| s).sum(),
            layers: layers.into_iter().map(|(d, _)| d).collect(),
            config,
            created: now(),
            source: source.to_string(),
            digest: None,
            manifest: None,
            config_digest: None,
        }
    }

    /// Stores a record. Written to a temporary file and renamed: readers see
    /// the old record or the new one, never half of one.
    pub fn save(&self, r: &ImageRef, record: ImageRecord) -> Result<Image> {
        let path = self.record_path(r);
        let bytes = serde_json::to_vec_pretty(&record)?;
        write_atomically(&path, &bytes)?;
        self.load(&path, r)?
            .context("the image vanished right after it was stored")
    }

    /// Keeps a verified manifest or config under `blobs/sha256/<hex>`.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.state.root.join("blobs/sha256").join(hex(digest));
        if path.exists() {
            return Ok(());
        }
        write_atomically(&path, bytes)
    }

    /// The size of a layer already in the store, under the layer's lock, or
    /// `None` when it must be added. Whoever gets `None` holds the lock
    /// (returned) until it has added the layer, so two rds pulling the same
    /// layer download it once: the second waits, then finds it.
    pub fn claim_layer(&self, diff_id: &str) -> Result<(Option<u64>, StoreLock)> {
        let lock = self.lock_file(&format!("layer-{}", hex(diff_id)), true)?;
        let present = self.has_layer(diff_id).then(|| self.layer_size(diff_id));
        Ok((present, lock))
    }

    /// Unpacks one layer into the store; returns its diff_id and size. The
    /// archive is decompressed as `compression` says (`None`: sniffed), and
    /// when `expected` is given the uncompressed stream must hash to it (the
    /// config's diff_id), or nothing is stored. An identical layer already
    /// stored is reused.
    pub fn add_layer(
        &self,
        archive: impl Read + Send + 'static,
        compression: Option<Compression>,
        expected: Option<&str>,
    ) -> Result<(String, u64)> {
        let tmp_root = self.state.tmp();
        crate::state::private_dir_all(&tmp_root)
            .with_context(|| format!("creating {}", tmp_root.display()))?;
        self.sweep_tmp();
        let work = DirGuard::new(tmp_root.join(format!("{}-{}", std::process::id(), random_id()?)));
        let dest = work.path.join("layer");
        std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;

        let interrupted = || signals::pending_termination().is_some();
        let report = match unpack::unpack_layer(archive, compression, &dest, &interrupted) {
            Ok(r) => r,
            Err(UnpackError::Interrupted) => {
                let sig = signals::pending_termination()
                    .map(|s| s as i32)
                    .unwrap_or(2);
                return Err(ExitError::new(128 + sig, "interrupted: nothing was stored").into());
            }
            Err(e) => return Err(e.into()),
        };
        // One line per reason: a Debian rootfs alone holds a dozen device
        // nodes, which rd's own /dev replaces anyway.
        let mut reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        for reason in reasons {
            let paths: Vec<&str> = report
                .skipped
                .iter()
                .filter(|s| s.reason == reason)
                .map(|s| s.path.as_str())
                .collect();
            let more = if paths.len() > 3 { ", ..." } else { "" };
            eprintln!(
                "rd: skipped {} archive member(s), {reason}: {}{more}",
                paths.len(),
                paths[..paths.len().min(3)].join(", ")
            );
        }
        if let Some(expected) = expected {
            if report.diff_id != expected {
                bail!(
                    "layer content does not match the image config: its diff_id is {}, the config says {expected}; nothing was stored",
                    report.diff_id
                );
            }
        }
        let digest = report.diff_id;
        let target = self.layer_dir(&digest);
        if !target.exists() {
            crate::state::private_dir_all(&self.state.layers())?;
            // The size first: the directory's appearance is the commit.
            let meta = LayerMeta {
                size: report.bytes,
                entries: report.entries,
            };
            write_atomically(&self.layer_meta_path(&digest), &serde_json::to_vec(&meta)?)?;
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

    /// `rd rmi`: forgets an image, then deletes the layers and blobs no
    /// other image uses. Refused while a running container uses the image:
    /// deleting a mounted overlay's lowerdir under it is undefined (see
    /// overlayfs.rst, "Changes to underlying filesystems").
    pub fn remove(&self, r: &ImageRef) -> Result<Removed> {
        let _store = self.lock(true)?;
        let image = match self.find(r) {
            Ok(Some(image)) => image,
            Ok(None) => bail!("no image named '{r}' in the store (see rd images)"),
            // A damaged record can still be removed.
            Err(_) => Image {
                record: serde_json::from_slice(&std::fs::read(self.record_path(r))?)?,
                layer_dirs: vec![],
            },
        };
        let record = &image.record;
        let others: Vec<ImageRecord> = self
            .list()?
            .into_iter()
            .filter(|o| o.reference() != record.reference())
            .collect();
        // The layers no other image has: these go, so no container may use
        // them. (Untagging alone harms no running container.)
        let doomed: Vec<String> = record
            .layers
            .iter()
            .filter(|l| !others.iter().any(|o| o.layers.contains(l)))
            .cloned()
            .collect();
        if let Some((id, running)) =
            crate::lifecycle::record::containers_using(&self.state, &doomed)
        {
            if running {
                bail!(
                    "image '{r}' is in use by running container {id}: stop it first (rd stop {id})"
                );
            }
            bail!("image '{r}' is used by the stopped container {id} (its upper layer sits on it): rd rm {id} first");
        }
        let path = self.record_path(&ImageRef::parse(&record.reference())?);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir); // only if it was the last tag
        }
        let mut removed = Removed {
            untagged: record.reference(),
            layers: vec![],
        };
        for layer in &doomed {
            let dir = self.layer_dir(layer);
            // Renamed into tmp first: a half-deleted layer is never visible.
            let doomed = DirGuard::new(self.state.tmp().join(format!(
                "{}-{}",
                std::process::id(),
                random_id()?
            )));
            crate::state::private_dir_all(&self.state.tmp())?;
            match std::fs::rename(&dir, &doomed.path) {
                Ok(()) => removed.layers.push(layer.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
            }
            let _ = std::fs::remove_file(self.layer_meta_path(layer));
            // Safe to unlink: every holder of a layer lock also holds the
            // store lock shared, and we hold it exclusive.
            let _ = std::fs::remove_file(self.lock_path(&format!("layer-{}", hex(layer))));
        }
        for blob in [&record.manifest, &record.config_digest]
            .into_iter()
            .flatten()
        {
            let used = others.iter().any(|o| {
                o.manifest.as_ref() == Some(blob) || o.config_digest.as_ref() == Some(blob)
            });
            if !used {
                let _ = std::fs::remove_file(self.state.root.join("blobs/sha256").join(hex(blob)));
            }
        }
        Ok(removed)
    }

    /// Removes work directories left by an rd that was killed mid-pull or
    /// mid-import (named `<pid>-<random>`; that pid is no longer an rd).
    /// Returns the names of the directories removed.
    pub fn sweep_tmp(&self) -> Vec<String> {
        let mut swept = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.state.tmp()) else {
            return swept;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(pid) = name.split('-').next() else {
                continue;
            };
            if !crate::state::is_running_rd(pid) && std::fs::remove_dir_all(e.path()).is_ok() {
                swept.push(name);
            }
        }
        swept
    }
}

/// What `rd rmi` removed.
#[derive(Debug)]
pub struct Removed {
    pub untagged: String,
    pub layers: Vec<String>,
}

/// Writes `path` whole or not at all: a temporary sibling, then rename(2).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a stored file has a parent")?;
    crate::state::private_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

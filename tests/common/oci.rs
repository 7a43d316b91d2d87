//! Test images written from Rust as OCI image layouts (oci-layout,
//! index.json, blobs/sha256/...), ready for `skopeo copy oci:DIR:TAG`.
//!
//! Layers are tar streams built entry by entry with raw headers ([`Tar`],
//! [`Entry`]), so a test can write anything a hostile image could hold
//! (`../x`, absolute names, a symlink named `.`, device nodes), then
//! compressed with gzip, zstd or not at all ([`Layer`]). An [`ImageSpec`]
//! is layers plus a config; an [`IndexSpec`] is several platforms' images
//! plus, optionally, a buildkit-style attestation manifest.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Every entry's modification time (fixed, so identical trees give
/// identical layers and digests).
const MTIME: u64 = 1_700_000_000;

/// "sha256:HEX" of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// HEX of a "sha256:HEX" digest.
pub fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

// ---------------------------------------------------------------- tar

/// One tar entry, any name and link bytes (no checks: see [`Tar::add`]).
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: tar::EntryType,
    pub name: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub device: (u32, u32),
}

impl Entry {
    fn new(kind: tar::EntryType, name: impl AsRef<[u8]>, mode: u32) -> Entry {
        Entry {
            kind,
            name: name.as_ref().to_vec(),
            link: None,
            data: Vec::new(),
            mode,
            uid: 0,
            gid: 0,
            device: (0, 0),
        }
    }

    /// A regular file, mode 0644.
    pub fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Entry {
        let mut e = Entry::new(tar::EntryType::Regular, name, 0o644);
        e.data = data.as_ref().to_vec();
        e
    }

    /// A directory, mode 0755 (a trailing '/' is added to the name).
    pub fn dir(name: impl AsRef<[u8]>) -> Entry {
        let mut n = name.as_ref().to_vec();
        if !n.ends_with(b"/") {
            n.push(b'/');
        }
        Entry::new(tar::EntryType::Directory, n, 0o755)
    }

    /// A symbolic link NAME -> TARGET.
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        let mut e = Entry::new(tar::EntryType::Symlink, name, 0o777);
        e.link = Some(target.as_ref().to_vec());
        e
    }

    /// A hard link NAME to the archive's earlier entry TARGET.
    pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        let mut e = Entry::new(tar::EntryType::Link, name, 0o644);
        e.link = Some(target.as_ref().to_vec());
        e
    }

    pub fn char_device(name: impl AsRef<[u8]>, major: u32, minor: u32) -> Entry {
        let mut e = Entry::new(tar::EntryType::Char, name, 0o666);
        e.device = (major, minor);
        e
    }

    pub fn block_device(name: impl AsRef<[u8]>, major: u32, minor: u32) -> Entry {
        let mut e = Entry::new(tar::EntryType::Block, name, 0o660);
        e.device = (major, minor);
        e
    }

    pub fn fifo(name: impl AsRef<[u8]>) -> Entry {
        Entry::new(tar::EntryType::Fifo, name, 0o644)
    }

    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

/// An uncompressed tar stream, built entry by entry.
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends `e` with a GNU header whose name and link fields are written
    /// byte for byte (the tar crate's path setters refuse `..` and absolute
    /// names; this does not). Names or links over 100 bytes get a GNU
    /// long-name entry first.
    pub fn add(&mut self, e: Entry) -> &mut Self {
        if e.name.len() > 100 {
            self.long(tar::EntryType::GNULongName, &e.name);
        }
        if let Some(link) = &e.link {
            if link.len() > 100 {
                self.long(tar::EntryType::GNULongLink, link);
            }
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(MTIME);
        h.set_size(e.data.len() as u64);
        if matches!(e.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(e.device.0).expect("device major");
            h.set_device_minor(e.device.1).expect("device minor");
        }
        {
            let gnu = h.as_gnu_mut().expect("a GNU header");
            let n = e.name.len().min(100);
            gnu.name = [0; 100];
            gnu.name[..n].copy_from_slice(&e.name[..n]);
            if let Some(link) = &e.link {
                let n = link.len().min(100);
                gnu.linkname = [0; 100];
                gnu.linkname[..n].copy_from_slice(&link[..n]);
            }
        }
        h.set_cksum();
        self.builder
            .append(&h, e.data.as_slice())
            .expect("appending a tar entry");
        self
    }

    fn long(&mut self, kind: tar::EntryType, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        data.push(0);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        {
            let gnu = h.as_gnu_mut().expect("a GNU header");
            let name = b"././@LongLink";
            gnu.name = [0; 100];
            gnu.name[..name.len()].copy_from_slice(name);
        }
        h.set_cksum();
        self.builder
            .append(&h, data.as_slice())
            .expect("appending a GNU long name");
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.add(Entry::dir(name))
    }

    pub fn file(&mut self, name: &str, data: impl AsRef<[u8]>) -> &mut Self {
        self.add(Entry::file(name, data))
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(Entry::symlink(name, target))
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(Entry::hardlink(name, target))
    }

    /// `DIR/.wh.NAME` for `path` = DIR/NAME: removes NAME of lower layers.
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.add(Entry::file(format!("{dir}.wh.{name}"), b""))
    }

    /// `DIR/.wh..wh..opq`: DIR hides everything lower layers put in it.
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        self.add(Entry::file(
            format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            b"",
        ))
    }

    /// The finished archive (with its two zero end blocks).
    pub fn into_bytes(self) -> Vec<u8> {
        self.builder.into_inner().expect("finishing the tar")
    }
}

// ---------------------------------------------------------------- layers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => LAYER_TAR,
            Compression::Gzip => LAYER_GZIP,
            Compression::Zstd => LAYER_ZSTD,
        }
    }
}

/// A layer blob as pushed: its (maybe compressed) bytes, media type and
/// the digest of its uncompressed tar (the diff_id, which names the layer's
/// directory in rd's store).
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
}

impl Layer {
    pub fn new(tar: &[u8], compression: Compression) -> Layer {
        let blob = match compression {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
                enc.write_all(tar).expect("gzip");
                enc.finish().expect("gzip finish")
            }
            Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd"),
        };
        Layer {
            blob,
            media_type: compression.media_type().to_string(),
            diff_id: digest(tar),
        }
    }

    /// A layer from already-compressed bytes (e.g. a rootfs .tar.gz): the
    /// diff_id is computed by decompressing them.
    pub fn from_compressed(blob: Vec<u8>, compression: Compression) -> Layer {
        let mut reader: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(blob.as_slice()),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob.as_slice())),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(blob.as_slice()).expect("zstd"))
            }
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).expect("decompressing a layer");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        drop(reader);
        Layer {
            media_type: compression.media_type().to_string(),
            diff_id: format!("sha256:{:x}", hasher.finalize()),
            blob,
        }
    }

    /// The blob's digest (what the manifest and the registry know it by).
    pub fn digest(&self) -> String {
        digest(&self.blob)
    }
}

// ---------------------------------------------------------------- images

/// The runtime part of an image config.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// An image to write: layers (lowest first), config and platform.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    pub config: Config,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub annotations: BTreeMap<String, String>,
}

/// What [`ImageSpec::write_blobs`] wrote: the digests a test checks rd's
/// store and output against.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// Layer blob digests, lowest first.
    pub layer_digests: Vec<String>,
    /// diff_ids, lowest first.
    pub diff_ids: Vec<String>,
}

impl Built {
    /// The names rd's `<root>/layers/` should hold for this image.
    pub fn layer_dir_names(&self) -> std::collections::BTreeSet<String> {
        self.diff_ids.iter().map(|d| hex(d).to_string()).collect()
    }
}

impl ImageSpec {
    /// linux/amd64, empty config.
    pub fn new(layers: Vec<Layer>) -> ImageSpec {
        ImageSpec {
            layers,
            config: Config::default(),
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            annotations: BTreeMap::new(),
        }
    }

    pub fn config(mut self, config: Config) -> ImageSpec {
        self.config = config;
        self
    }

    pub fn platform(mut self, os: &str, architecture: &str, variant: Option<&str>) -> ImageSpec {
        self.os = os.into();
        self.architecture = architecture.into();
        self.variant = variant.map(str::to_string);
        self
    }

    /// A manifest annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> ImageSpec {
        self.annotations.insert(key.into(), value.into());
        self
    }

    fn config_json(&self) -> Vec<u8> {
        let mut cfg = serde_json::Map::new();
        let c = &self.config;
        if !c.env.is_empty() {
            cfg.insert("Env".into(), json!(c.env));
        }
        if let Some(v) = &c.entrypoint {
            cfg.insert("Entrypoint".into(), json!(v));
        }
        if let Some(v) = &c.cmd {
            cfg.insert("Cmd".into(), json!(v));
        }
        if let Some(v) = &c.working_dir {
            cfg.insert("WorkingDir".into(), json!(v));
        }
        if let Some(v) = &c.user {
            cfg.insert("User".into(), json!(v));
        }
        let mut doc = json!({
            "created": "2023-11-14T22:13:20Z",
            "architecture": self.architecture,
            "os": self.os,
            "config": Value::Object(cfg),
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": self.layers.iter().map(|_| json!({"created_by": "rd tests"})).collect::<Vec<_>>(),
        });
        if let Some(v) = &self.variant {
            doc["variant"] = json!(v);
        }
        serde_json::to_vec(&doc).expect("config JSON")
    }

    /// Writes the layers, config and manifest into `layout`'s blobs.
    pub fn write_blobs(&self, layout: &Path) -> Built {
        let config = self.config_json();
        let config_digest = write_blob(layout, &config);
        let mut layers = Vec::new();
        for l in &self.layers {
            let d = write_blob(layout, &l.blob);
            layers.push(json!({"mediaType": l.media_type, "digest": d, "size": l.blob.len()}));
        }
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = json!(self.annotations);
        }
        let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
        let manifest_digest = write_blob(layout, &manifest);
        Built {
            manifest_digest,
            manifest,
            config_digest,
            config,
            layer_digests: self.layers.iter().map(Layer::digest).collect(),
            diff_ids: self.layers.iter().map(|l| l.diff_id.clone()).collect(),
        }
    }

    /// A complete OCI layout in `layout` whose index.json names this image
    /// TAG (`oci:LAYOUT:TAG`).
    pub fn write_layout(&self, layout: &Path, tag: &str) -> Built {
        let built = self.write_blobs(layout);
        write_top_index(
            layout,
            MANIFEST,
            &built.manifest_digest,
            built.manifest.len(),
            tag,
        );
        built
    }

    fn platform_json(&self) -> Value {
        let mut p = json!({"architecture": self.architecture, "os": self.os});
        if let Some(v) = &self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

/// A multi-platform image: an OCI index of per-platform images, plus (if
/// `attestation`) a buildkit-style attestation manifest for the first one
/// (platform unknown/unknown, vnd.docker.reference.type).
#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub images: Vec<ImageSpec>,
    pub attestation: bool,
}

#[derive(Debug, Clone)]
pub struct BuiltIndex {
    pub digest: String,
    pub index: Vec<u8>,
    /// In the order of [`IndexSpec::images`].
    pub images: Vec<Built>,
    pub attestation: Option<Built>,
}

impl IndexSpec {
    pub fn write_layout(&self, layout: &Path, tag: &str) -> BuiltIndex {
        let mut entries = Vec::new();
        let mut images = Vec::new();
        for img in &self.images {
            let b = img.write_blobs(layout);
            entries.push(json!({
                "mediaType": MANIFEST,
                "digest": b.manifest_digest,
                "size": b.manifest.len(),
                "platform": img.platform_json(),
            }));
            images.push(b);
        }
        let mut attestation = None;
        if self.attestation {
            let first = images.first().expect("an index needs an image");
            let statement = serde_json::to_vec(&json!({
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": "https://slsa.dev/provenance/v0.2",
                "subject": [{"name": "rd-test", "digest": {"sha256": hex(&first.manifest_digest)}}],
                "predicate": {"builder": {"id": "rd tests"}},
            }))
            .expect("statement JSON");
            let layer = Layer {
                media_type: "application/vnd.in-toto+json".into(),
                diff_id: digest(&statement),
                blob: statement,
            };
            let spec = ImageSpec::new(vec![layer]).platform("unknown", "unknown", None);
            let b = spec.write_blobs(layout);
            entries.push(json!({
                "mediaType": MANIFEST,
                "digest": b.manifest_digest,
                "size": b.manifest.len(),
                "platform": {"architecture": "unknown", "os": "unknown"},
                "annotations": {
                    "vnd.docker.reference.digest": first.manifest_digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            }));
            attestation = Some(b);
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": entries,
        }))
        .expect("index JSON");
        let digest = write_blob(layout, &index);
        write_top_index(layout, INDEX, &digest, index.len(), tag);
        BuiltIndex {
            digest,
            index,
            images,
            attestation,
        }
    }
}

/// Stores `bytes` as `LAYOUT/blobs/sha256/HEX`; returns the digest.
pub fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = digest(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("creating blobs/sha256");
    std::fs::write(dir.join(hex(&d)), bytes).expect("writing a blob");
    d
}

/// oci-layout and an index.json naming one manifest or index TAG.
fn write_top_index(layout: &Path, media_type: &str, digest: &str, size: usize, tag: &str) {
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("writing oci-layout");
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index.json"),
    )
    .expect("writing index.json");
}

// ---------------------------------------------------------------- busybox

/// The busybox applets linked in the test image's /bin.
pub const APPLETS: &[&str] = &[
    "sh",
    "ash",
    "ls",
    "cat",
    "echo",
    "id",
    "env",
    "pwd",
    "stat",
    "test",
    "[",
    "readlink",
    "sleep",
    "true",
    "false",
    "wc",
    "head",
    "grep",
    "find",
    "mkdir",
    "touch",
    "rm",
    "whoami",
    "hostname",
    "ps",
    "uname",
    "printf",
    "ln",
    "chmod",
    "sha256sum",
    "sort",
];

/// A layer that makes a runnable image: the host's static /bin/busybox
/// (Debian's busybox-static) as /bin/busybox, /bin/<applet> -> busybox,
/// /etc/passwd and /etc/group with root and student (1000), /tmp (1777),
/// /home/student, and /etc/image-name ("rd test busybox").
pub fn busybox_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let busybox = std::fs::read("/bin/busybox")
            .expect("reading /bin/busybox (apt-get install busybox-static)");
        let mut t = Tar::new();
        for d in ["bin", "etc", "root", "home", "usr", "usr/bin", "var"] {
            t.dir(d);
        }
        t.add(Entry::dir("tmp").mode(0o1777));
        t.add(Entry::dir("home/student").owner(1000, 1000));
        t.add(Entry::file("bin/busybox", &busybox).mode(0o755));
        let mut seen = std::collections::BTreeSet::new();
        for a in APPLETS {
            if seen.insert(*a) {
                t.symlink(&format!("bin/{a}"), "busybox");
            }
        }
        t.file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n\
             student:x:1000:1000:student:/home/student:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        );
        t.file(
            "etc/group",
            "root:x:0:\nstudent:x:1000:\nnogroup:x:65534:\n",
        );
        t.file("etc/image-name", "rd test busybox\n");
        t.into_bytes()
    })
}

/// The busybox layer, compressed as asked (same bytes every time).
pub fn busybox_layer(compression: Compression) -> Layer {
    Layer::new(busybox_tar(), compression)
}

/// PATH for the test images' Env.
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A one-layer busybox image (gzip), Cmd ["sh"].
pub fn busybox_image() -> ImageSpec {
    ImageSpec::new(vec![busybox_layer(Compression::Gzip)]).config(Config {
        env: vec![PATH_ENV.into()],
        cmd: Some(vec!["sh".into()]),
        ..Config::default()
    })
}

/// A small layer of regular files (root-owned, 0644) at the given paths;
/// parent directories are written first.
pub fn files_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut t = Tar::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut p = Path::new(path).parent();
        let mut chain = Vec::new();
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            chain.push(d.to_string_lossy().into_owned());
            p = d.parent();
        }
        for d in chain.into_iter().rev() {
            if dirs.insert(d.clone()) {
                t.dir(&d);
            }
        }
    }
    for (path, data) in files {
        t.file(path, data);
    }
    t.into_bytes()
}

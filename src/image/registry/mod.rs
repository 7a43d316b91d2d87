//! Pulling images from OCI/Docker registries: a blocking client for the
//! distribution spec's pull API (github.com/opencontainers/distribution-spec,
//! spec.md, "Pull"). A pull is three kinds of GET, each answered by bytes
//! whose sha256 we know before we use them:
//!
//! ```text
//! GET /v2/<repo>/manifests/<tag|digest>   index or manifest  (Accept: all four kinds)
//!     an index?  pick our platform, GET /v2/<repo>/manifests/<digest> again
//! GET /v2/<repo>/blobs/<config digest>    the config: Env, Cmd, ..., diff_ids
//! GET /v2/<repo>/blobs/<layer digest>     each layer, a (compressed) tar, streamed
//! ```
//!
//! Around those GETs sit the parts that make it work on the real internet:
//! the token dance on 401 (`http.rs`, `auth.rs`), redirects to blob storage
//! on another host (where our Authorization header must not follow), 429
//! rate limits, and verification (`verify.rs`). What the documents mean and
//! which manifest of an index to run is in `manifest.rs`.
//!
//! The trust model: the only thing we trust is a digest. A pinned reference
//! (`name@sha256:...`) fixes the top manifest; each document names its
//! children by digest, so a chain of checks covers every byte down to the
//! layers. A tag is a mutable pointer: for it we can only check that the
//! bytes match the registry's own `Docker-Content-Digest` header.

mod auth;
mod error;
mod http;
mod manifest;
mod platform;
mod verify;

use std::fmt;
use std::io::{self, Read};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;
use reqwest::Url;

use super::reference::valid_digest;
use super::{ImageConfig, ImageRef};

pub use auth::{parse_www_authenticate, Challenge};
pub use error::RegistryError;
pub use platform::Platform;
pub use verify::VerifyingReader;

use manifest::{classify, layer_compression, parse_manifest, select_platform, ConfigFile, Kind};
use verify::{check_digest, sha256_digest};

/// A user name and password (or token) for registries that want a login.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Never print a password, even in a debug dump.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `host[:port]` allowed over plain HTTP. Loopback registries always are
    /// (docker's rule: a registry on this machine is not on the network).
    pub insecure: Vec<String>,
    /// Used to answer Basic challenges, and sent to a Bearer token realm.
    pub credentials: Option<Credentials>,
    /// Which manifest of an index to pull.
    pub platform: Platform,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            insecure: Vec::new(),
            credentials: None,
            platform: Platform::host(),
        }
    }
}

/// How a layer blob is compressed (from its media type): the unpacker's own
/// enum (`None`, `Gzip`, `Zstd`), so that a [`Layer`] hands it over as is.
pub use super::unpack::Compression;

/// One layer as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// sha256 of the blob as stored (compressed): what we download.
    pub digest: String,
    /// The blob's length in bytes.
    pub size: u64,
    pub media_type: String,
    pub compression: Compression,
    /// sha256 of the *uncompressed* tar (config `rootfs.diff_ids`): what the
    /// store names unpacked layers by.
    pub diff_id: String,
}

/// Everything known about an image before its layers are downloaded.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Digest of what the reference points at (the index if it is one):
    /// docker's RepoDigest, the same on every platform.
    pub digest: String,
    /// Digest of this platform's image manifest.
    pub manifest_digest: String,
    pub config_digest: String,
    /// Raw bytes of the image manifest, verified.
    pub manifest: Vec<u8>,
    /// Raw bytes of the config blob, verified.
    pub config: Vec<u8>,
    pub image_config: ImageConfig,
    /// Lowest first.
    pub layers: Vec<Layer>,
}

/// Manifests are small; the distribution spec lets registries refuse ones
/// over 4 MiB, and so do we, rather than buffer whatever a server sends.
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Configs grow with history, but not this far.
const CONFIG_LIMIT: u64 = 64 << 20;

/// A client for one registry. `Send + Sync`: share `&Client` between threads
/// to download several layers at once. Dropping it (and every blob stream it
/// opened) stops reqwest's runtime thread, so nothing is left running.
pub struct Client {
    http: reqwest::blocking::Client,
    /// `https://host[:port]/` (or `http://`): the registry's origin.
    base: Url,
    /// `host[:port]` of the API, as the reference names it.
    host: String,
    credentials: Option<Credentials>,
    platform: Platform,
    auth: Mutex<http::AuthState>,
}

/// Docker's rule for plain HTTP: loopback hosts, and the registries the user
/// explicitly named insecure.
fn plain_http(host_port: &str, registry: &str, insecure: &[String]) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback
        || insecure.iter().any(|entry| {
            let entry = entry
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            entry == host_port || entry == registry || entry == host
        })
}

impl Client {
    pub fn new(image: &ImageRef, opts: &RegistryOptions) -> Result<Client> {
        let host = image.api_host().to_string();
        let scheme = if plain_http(&host, image.registry(), &opts.insecure) {
            "http"
        } else {
            "https"
        };
        let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| {
            RegistryError::Protocol(format!("'{host}' is not a registry address: {e}"))
        })?;
        let http = reqwest::blocking::Client::builder()
            // Redirects are ours to follow: reqwest would carry our headers
            // along, and we must decide per hop whether Authorization goes.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            // In the blocking client this bounds the wait for the response
            // head and each single read, not the whole download: a 1 GB
            // layer may take minutes, a silent minute means a dead peer.
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("rd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                RegistryError::Protocol(format!("cannot set up HTTP: {}", error::one_line(&e)))
            })?;
        Ok(Client {
            http,
            base,
            host,
            credentials: opts.credentials.clone(),
            platform: opts.platform.clone(),
            auth: Mutex::new(http::AuthState::default()),
        })
    }

    /// A client serves the one registry it was made for: tokens and the
    /// decision to send credentials belong to that host.
    fn check_registry(&self, image: &ImageRef) -> Result<(), RegistryError> {
        if image.api_host() != self.host {
            return Err(RegistryError::Protocol(format!(
                "{image} is on {}, but this registry client is for {}",
                image.api_host(),
                self.host
            )));
        }
        Ok(())
    }

    /// Find the image for our platform: manifest, config and layer list, all
    /// verified. Downloads no layer.
    pub fn resolve(&self, image: &ImageRef) -> Result<Resolved> {
        self.check_registry(image)?;
        let name = image.to_string();
        let top = self.fetch_manifest(image, image.manifest_reference())?;
        let digest = sha256_digest(&top.body);
        // The check a tag allows is weaker than a pin: the header comes from
        // the same server as the body, so it catches corruption on the way,
        // not a lying registry.
        if let Some(pinned) = &image.digest {
            check_digest(&format!("manifest of {name}"), pinned, &top.body)?;
        } else if let Some(header) = top.header_digest.as_deref().filter(|d| valid_digest(d)) {
            check_digest(
                &format!("manifest of {name} (vs. its Docker-Content-Digest header)"),
                header,
                &top.body,
            )?;
        }
        let (kind, _) = classify(
            &format!("manifest of {name}"),
            top.content_type.as_deref(),
            &top.body,
        )?;
        let (manifest_bytes, manifest_digest) = match kind {
            Kind::Manifest => (top.body, digest.clone()),
            Kind::Index => {
                let entry = select_platform(&name, &top.body, &self.platform)?;
                let object = format!("{} manifest of {name}", self.platform);
                checked_digest(&object, &entry.digest)?;
                let child = self.fetch_manifest(image, &entry.digest)?;
                check_digest(&object, &entry.digest, &child.body)?;
                check_size(&object, entry.size, child.body.len() as u64)?;
                let (kind, media_type) =
                    classify(&object, child.content_type.as_deref(), &child.body)?;
                if kind != Kind::Manifest {
                    return Err(RegistryError::UnsupportedMediaType {
                        object,
                        media_type,
                        hint: " (an index inside an index: rd expects an image manifest there)"
                            .to_string(),
                    }
                    .into());
                }
                (child.body, entry.digest)
            }
        };

        let manifest = parse_manifest(&format!("manifest of {name}"), &manifest_bytes)?;
        let config_object = format!("config of {name}");
        checked_digest(&config_object, &manifest.config.digest)?;
        if manifest.config.size > CONFIG_LIMIT {
            return Err(RegistryError::Protocol(format!(
                "{config_object} claims {} bytes; rd refuses configs over {} MiB",
                manifest.config.size,
                CONFIG_LIMIT >> 20
            ))
            .into());
        }
        let config = self.fetch_small_blob(image, &manifest.config.digest, manifest.config.size)?;
        check_digest(&config_object, &manifest.config.digest, &config)?;
        check_size(&config_object, manifest.config.size, config.len() as u64)?;
        let config_file = ConfigFile::parse(&config_object, &config)?;

        // An image without an index is for one platform only; its config
        // says which. Running an arm64 image on amd64 ends in "exec format
        // error" inside the container, so say it here instead.
        if kind == Kind::Manifest {
            if let (Some(os), Some(arch)) = (&config_file.os, &config_file.architecture) {
                if !os.is_empty()
                    && !arch.is_empty()
                    && !self
                        .platform
                        .matches(os, arch, config_file.variant.as_deref())
                {
                    let mut available = format!("{os}/{arch}");
                    if let Some(v) = &config_file.variant {
                        available = format!("{available}/{v}");
                    }
                    return Err(RegistryError::NoPlatform {
                        image: name,
                        wanted: self.platform.to_string(),
                        available,
                    }
                    .into());
                }
            }
        }

        let diff_ids = config_file.diff_ids();
        if diff_ids.len() != manifest.layers.len() {
            return Err(RegistryError::Protocol(format!(
                "{name}: the manifest lists {} layers but the config's rootfs.diff_ids has {}",
                manifest.layers.len(),
                diff_ids.len()
            ))
            .into());
        }
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for (i, (d, diff_id)) in manifest.layers.iter().zip(diff_ids).enumerate() {
            let object = format!("layer {} of {name}", i + 1);
            checked_digest(&object, &d.digest)?;
            checked_digest(&format!("{object}'s diff_id"), diff_id)?;
            let compression = layer_compression(&d.media_type).ok_or_else(|| {
                RegistryError::UnsupportedMediaType {
                    object: format!("{object} ({})", d.digest),
                    media_type: if d.media_type.is_empty() {
                        "(none given)".to_string()
                    } else {
                        d.media_type.clone()
                    },
                    hint: " (rd unpacks tar, tar+gzip and tar+zstd layers)".to_string(),
                }
            })?;
            layers.push(Layer {
                digest: d.digest.clone(),
                size: d.size,
                media_type: d.media_type.clone(),
                compression,
                diff_id: diff_id.clone(),
            });
        }
        Ok(Resolved {
            digest,
            manifest_digest,
            config_digest: manifest.config.digest.clone(),
            image_config: config_file.image_config(),
            manifest: manifest_bytes,
            config,
            layers,
        })
    }

    /// A layer blob as a stream, verified as it is read: the final read
    /// returns `InvalidData` ("digest mismatch: ...") instead of end of file
    /// if the bytes were not the ones named. Network failures keep their own
    /// error kinds.
    pub fn open_blob(&self, image: &ImageRef, layer: &Layer) -> Result<Box<dyn Read + Send>> {
        self.check_registry(image)?;
        checked_digest("layer", &layer.digest)?;
        let response = self.get_blob(image, &layer.digest)?;
        let body = BodyReader {
            response,
            what: format!("layer {}", layer.digest),
        };
        Ok(Box::new(VerifyingReader::new(
            body,
            &layer.digest,
            layer.size,
        )))
    }
}

/// A digest from a document is about to go into a URL and a comparison:
/// only `sha256:<64 hex>` may (anything else could walk the URL path, and
/// sha512 is allowed by the spec but not used by any registry we know).
fn checked_digest(object: &str, digest: &str) -> Result<(), RegistryError> {
    if valid_digest(digest) {
        Ok(())
    } else {
        Err(RegistryError::Protocol(format!(
            "{object}: '{digest}' is not a digest rd can verify (sha256:<64 hex digits>)"
        )))
    }
}

fn check_size(object: &str, expected: u64, got: u64) -> Result<(), RegistryError> {
    if expected != got {
        return Err(RegistryError::DigestMismatch {
            object: format!("{object} (size)"),
            expected: format!("{expected} bytes"),
            got: format!("{got} bytes"),
        });
    }
    Ok(())
}

/// The response body, with read errors rewritten as one line that says which
/// download broke (reqwest's say "error decoding response body").
struct BodyReader {
    response: reqwest::blocking::Response,
    what: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.response.read(buf).map_err(|e| {
            let host = self.response.url().host_str().unwrap_or("?").to_string();
            io::Error::new(
                e.kind(),
                format!(
                    "download of {} from {host} broke: {}",
                    self.what,
                    error::one_line(&e)
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_for_loopback_and_insecure_only() {
        let none: Vec<String> = vec![];
        for h in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "[::1]:5000",
        ] {
            assert!(plain_http(h, h, &none), "{h}");
        }
        for h in [
            "registry-1.docker.io",
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
        ] {
            assert!(!plain_http(h, h, &none), "{h}");
        }
        let insecure = vec!["reg.lan:5000".to_string(), "http://other.lan".to_string()];
        assert!(plain_http("reg.lan:5000", "reg.lan:5000", &insecure));
        assert!(!plain_http("reg.lan:5001", "reg.lan:5001", &insecure));
        assert!(plain_http("other.lan:443", "other.lan:443", &insecure));
    }

    #[test]
    fn client_is_send_sync_and_picks_the_scheme() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Client>();
        let opts = RegistryOptions::default();
        let local = Client::new(&ImageRef::parse("127.0.0.1:5000/x").unwrap(), &opts).unwrap();
        assert_eq!(local.base.as_str(), "http://127.0.0.1:5000/");
        let hub = Client::new(&ImageRef::parse("ubuntu").unwrap(), &opts).unwrap();
        assert_eq!(hub.base.as_str(), "https://registry-1.docker.io/");
        let err = hub
            .resolve(&ImageRef::parse("ghcr.io/a/b").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("this registry client is for registry-1.docker.io"),
            "{err}"
        );
        let creds = Credentials {
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{creds:?}").contains("secret"));
    }
}

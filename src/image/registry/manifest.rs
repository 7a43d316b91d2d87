//! The JSON documents of a pull, and the decisions taken on them: what kind of
//! manifest arrived, which manifest of an index fits this machine, how each
//! layer is compressed, and what of the config rd keeps.
//!
//! Two families describe the same things. Docker's "image manifest v2,
//! schema 2" and "manifest list" came first; OCI standardised them as the
//! image manifest and the image index, with the same fields and new media
//! types. A registry serves whichever was pushed, so a client speaks both.
//! (Docker's older schema 1, signed JWS with no config blob, is obsolete and
//! refused: nothing current pushes it.)
//!
//! We decode into small structs of our own rather than full spec types: we
//! need a handful of fields, and real-world documents are untidy (`"Env":
//! null`, missing `platform`) in ways a strict schema would reject.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Compression, Platform, RegistryError};
use crate::image::ImageConfig;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What the manifest endpoint accepts from us, all four kinds. Without the
/// index types a registry would pick one platform for us (or fail); without
/// the docker types, older registries fall back to schema 1.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// The two config media types that mean "a container image" (anything else,
/// e.g. a Helm chart or a signature stored as an OCI artifact, is not one).
const CONFIG_TYPES: [&str; 2] = [
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// The manifest endpoint answers one of two shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An index / manifest list: pick a platform, fetch again by digest.
    Index,
    /// An image manifest: a config and layers.
    Manifest,
}

/// A content descriptor (OCI image-spec "descriptor.md"): what, which, how big.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<IndexPlatform>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IndexPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// Just enough of a document to tell what it is, when the Content-Type
/// header does not.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

fn kind_of(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Manifest),
        _ => None,
    }
}

/// Decide what a manifest response is. The Content-Type header is the
/// registry's word (distribution spec, "Pulling manifests"); some registries
/// and proxies send a generic `application/json` instead, and then the
/// document's own `mediaType` field (required in an OCI index, optional in an
/// OCI manifest) or, failing that, its shape decides. Returns the media type
/// too, for messages.
pub fn classify(
    object: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(Kind, String), RegistryError> {
    // "application/vnd.oci.image.index.v1+json; charset=utf-8" -> the type.
    let header = content_type
        .and_then(|h| h.split(';').next())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty());
    let probe: Probe = serde_json::from_slice(body).map_err(|e| {
        RegistryError::Protocol(format!("{object}: the manifest is not valid JSON: {e}"))
    })?;
    let unsupported = |media_type: &str| {
        let hint = if media_type == DOCKER_SCHEMA1_SIGNED
            || media_type == DOCKER_SCHEMA1
            || probe.schema_version == Some(1)
        {
            " (docker schema 1, obsolete: push the image again with a current docker, skopeo or buildah)"
        } else {
            " (rd reads docker schema 2 and OCI image manifests and indexes)"
        };
        RegistryError::UnsupportedMediaType {
            object: object.to_string(),
            media_type: media_type.to_string(),
            hint: hint.to_string(),
        }
    };
    let specific = header.as_deref().filter(|h| {
        h.starts_with("application/vnd.")
            && !matches!(*h, "application/json" | "application/octet-stream")
    });
    if let Some(h) = specific {
        let kind = kind_of(h).ok_or_else(|| unsupported(h))?;
        // The OCI spec added `mediaType` to the body so that a document cannot
        // be passed off as another kind; both must agree when both are there.
        if let Some(m) = probe.media_type.as_deref() {
            if kind_of(m) != Some(kind) {
                return Err(RegistryError::Protocol(format!(
                    "{object}: the registry calls the manifest {h} but it says it is {m}"
                )));
            }
        }
        return Ok((kind, h.to_string()));
    }
    if let Some(m) = probe.media_type.as_deref() {
        let kind = kind_of(m).ok_or_else(|| unsupported(m))?;
        return Ok((kind, m.to_string()));
    }
    match (probe.schema_version, &probe.manifests, &probe.config) {
        (Some(2), Some(_), None) => Ok((Kind::Index, OCI_INDEX.to_string())),
        (Some(2), None, Some(_)) => Ok((Kind::Manifest, OCI_MANIFEST.to_string())),
        _ => Err(unsupported(header.as_deref().unwrap_or("(none)"))),
    }
}

/// Attestations (build provenance, SBOMs) ride in the index as extra
/// "manifests" with platform unknown/unknown, pointing back at the image they
/// describe via annotations (BuildKit's "attestation storage" doc). They are
/// not runnable.
fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

/// Pick the manifest for `want` from an index. Without a variant asked for,
/// an exact-variant entry is not needed, and the first match wins (index
/// order is the publisher's preference).
pub fn select_platform(
    image: &str,
    body: &[u8],
    want: &Platform,
) -> Result<Descriptor, RegistryError> {
    let index: Index = serde_json::from_slice(body).map_err(|e| {
        RegistryError::Protocol(format!("{image}: the image index is not valid: {e}"))
    })?;
    let runnable: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    let fits = |d: &Descriptor| {
        d.platform
            .as_ref()
            .is_some_and(|p| want.matches(&p.os, &p.architecture, p.variant.as_deref()))
    };
    if let Some(d) = runnable.iter().find(|d| fits(d)) {
        return Ok(Descriptor::clone(d));
    }
    let mut available: Vec<String> = runnable
        .iter()
        .map(|d| match &d.platform {
            Some(p) => {
                let mut s = format!("{}/{}", p.os, p.architecture);
                if let Some(v) = &p.variant {
                    s = format!("{s}/{v}");
                }
                s
            }
            None => "(no platform given)".to_string(),
        })
        .collect();
    available.dedup();
    Err(RegistryError::NoPlatform {
        image: image.to_string(),
        wanted: want.to_string(),
        available: if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        },
    })
}

pub fn parse_manifest(object: &str, body: &[u8]) -> Result<Manifest, RegistryError> {
    let m: Manifest = serde_json::from_slice(body).map_err(|e| {
        RegistryError::Protocol(format!("{object}: the image manifest is not valid: {e}"))
    })?;
    if !m.config.media_type.is_empty() && !CONFIG_TYPES.contains(&m.config.media_type.as_str()) {
        return Err(RegistryError::UnsupportedMediaType {
            object: format!("{object}'s config"),
            media_type: m.config.media_type.clone(),
            hint: " (not a container image: an OCI artifact such as a chart or signature?)"
                .to_string(),
        });
    }
    Ok(m)
}

/// How a layer's tar is compressed, from its media type. Docker's and OCI's
/// names for the same thing, and the "foreign" (docker) / "nondistributable"
/// (OCI) variants, which differ only in where the blob may be hosted (they
/// were made for Windows base layers; a registry may still serve them).
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// The config blob (image-spec "config.md"): the runtime defaults under
/// `config`, and `rootfs.diff_ids`, the sha256 of each layer *uncompressed*.
#[derive(Debug, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Docker writes `null` for unset fields (`"Cmd": null`), so every field is an
/// Option here, then folded into rd's [`ImageConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

impl ConfigFile {
    pub fn parse(object: &str, body: &[u8]) -> Result<ConfigFile, RegistryError> {
        serde_json::from_slice(body).map_err(|e| {
            RegistryError::Protocol(format!("{object}: the image config is not valid: {e}"))
        })
    }

    pub fn diff_ids(&self) -> &[String] {
        &self.rootfs.diff_ids
    }

    /// Docker treats an empty WorkingDir or User as unset.
    pub fn image_config(&self) -> ImageConfig {
        let c = self.config.as_ref();
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        ImageConfig {
            env: c.and_then(|c| c.env.clone()).unwrap_or_default(),
            cmd: c.and_then(|c| c.cmd.clone()),
            entrypoint: c.and_then(|c| c.entrypoint.clone()),
            working_dir: c.and_then(|c| non_empty(&c.working_dir)),
            user: c.and_then(|c| non_empty(&c.user)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    /// Shaped like Docker Hub's `ubuntu:latest` today: an OCI index with
    /// BuildKit attestations after the images.
    fn hub_index() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {{"annotations":{{"com.docker.official-images.bashbrew.arch":"amd64","org.opencontainers.image.version":"24.04"}},
              "digest":"{a}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"amd64","os":"linux"}},"size":424}},
            {{"annotations":{{"vnd.docker.reference.digest":"{a}","vnd.docker.reference.type":"attestation-manifest"}},
              "digest":"{b}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"unknown","os":"unknown"}},"size":562}},
            {{"digest":"{c}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"arm","os":"linux","variant":"v7"}},"size":424}},
            {{"digest":"{e}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"arm64","os":"linux"}},"size":424}},
            {{"annotations":{{"vnd.docker.reference.digest":"{e}","vnd.docker.reference.type":"attestation-manifest"}},
              "digest":"{f}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"unknown","os":"unknown"}},"size":562}},
            {{"digest":"{g}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"s390x","os":"linux"}},"size":424}}
            ]}}"#,
            a = d('a'),
            b = d('b'),
            c = d('c'),
            e = d('e'),
            f = d('f'),
            g = d('9'),
        )
    }

    #[test]
    fn platform_selection_skips_attestations() {
        let index = hub_index();
        let pick = |p: &str| {
            select_platform(
                "ubuntu:latest",
                index.as_bytes(),
                &Platform::parse(p).unwrap(),
            )
        };
        assert_eq!(pick("linux/amd64").unwrap().digest, d('a'));
        assert_eq!(
            pick("linux/arm64/v8").unwrap().digest,
            d('e'),
            "arm64 without variant is v8"
        );
        assert_eq!(pick("linux/arm/v7").unwrap().digest, d('c'));
        assert_eq!(pick("linux/s390x").unwrap().size, 424);
        let err = pick("linux/riscv64").unwrap_err().to_string();
        assert_eq!(
            err,
            "ubuntu:latest has no image for linux/riscv64; available: linux/amd64, linux/arm/v7, linux/arm64, linux/s390x"
        );
        assert!(!err.contains("unknown"), "attestations are not platforms");
        // An index holding only an attestation has nothing to run.
        let only = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,
            "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            d('b')
        );
        let err = select_platform(
            "x",
            only.as_bytes(),
            &Platform::parse("linux/amd64").unwrap(),
        );
        assert!(err.unwrap_err().to_string().ends_with("available: none"));
    }

    #[test]
    fn classification_by_header_then_body() {
        let index = hub_index();
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
            d('a')
        );
        let k = |ct: Option<&str>, body: &str| classify("x", ct, body.as_bytes()).map(|(k, _)| k);
        assert_eq!(k(Some(OCI_INDEX), &index).unwrap(), Kind::Index);
        assert_eq!(
            k(
                Some(&format!("{DOCKER_MANIFEST}; charset=utf-8")),
                &manifest
            )
            .unwrap(),
            Kind::Manifest
        );
        assert_eq!(
            k(Some("application/json"), &index).unwrap(),
            Kind::Index,
            "body's mediaType"
        );
        assert_eq!(k(None, &manifest).unwrap(), Kind::Manifest, "shape");
        assert_eq!(k(Some("text/plain"), &manifest).unwrap(), Kind::Manifest);
        // Header and body must agree.
        assert!(k(Some(DOCKER_MANIFEST), &index).is_err());

        let schema1 =
            r#"{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[],"signatures":[]}"#;
        let err = k(Some(DOCKER_SCHEMA1_SIGNED), schema1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "unsupported media type application/vnd.docker.distribution.manifest.v1+prettyjws"
            ),
            "{err}"
        );
        assert!(err.contains("schema 1"), "{err}");
        let err = k(None, schema1).unwrap_err().to_string();
        assert!(err.contains("schema 1"), "{err}");
        let err = k(
            Some("application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
            &manifest,
        )
        .unwrap_err();
        assert!(
            matches!(err, RegistryError::UnsupportedMediaType { .. }),
            "{err}"
        );
        assert!(k(Some(OCI_MANIFEST), "<html>").is_err());
    }

    #[test]
    fn layer_media_types() {
        use Compression::*;
        for (mt, want) in [
            ("application/vnd.oci.image.layer.v1.tar", None),
            ("application/vnd.oci.image.layer.v1.tar+gzip", Gzip),
            ("application/vnd.oci.image.layer.v1.tar+zstd", Zstd),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Gzip,
            ),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", Gzip),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Gzip,
            ),
            ("application/vnd.docker.image.rootfs.diff.tar", None),
        ] {
            assert_eq!(layer_compression(mt), Some(want), "{mt}");
        }
        for bad in [
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "application/octet-stream",
            "",
        ] {
            assert_eq!(layer_compression(bad), Option::None, "{bad}");
        }
    }

    #[test]
    fn artifacts_are_not_images() {
        let chart = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{}","size":2}},"layers":[]}}"#,
            d('a')
        );
        let err = parse_manifest("chart:1", chart.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("application/vnd.cncf.helm.config.v1+json"),
            "{err}"
        );
    }

    #[test]
    fn config_nulls_and_defaults() {
        let cfg = br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["/bin/bash"],"Entrypoint":null,"WorkingDir":"","User":"","Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:1","sha256:2"]},"history":[]}"#;
        let c = ConfigFile::parse("x", cfg).unwrap();
        assert_eq!(c.diff_ids().len(), 2);
        assert_eq!(
            c.image_config(),
            ImageConfig {
                cmd: Some(vec!["/bin/bash".into()]),
                ..ImageConfig::default()
            }
        );
        let bare = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert_eq!(
            ConfigFile::parse("x", bare).unwrap().image_config(),
            ImageConfig::default()
        );
        let full = br#"{"config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":["/init"],"WorkingDir":"/app","User":"1000:1000"},"rootfs":{"diff_ids":[]}}"#;
        let ic = ConfigFile::parse("x", full).unwrap().image_config();
        assert_eq!(ic.env, ["PATH=/bin"]);
        assert_eq!(ic.entrypoint.as_deref(), Some(&["/init".to_string()][..]));
        assert_eq!(
            (ic.working_dir.as_deref(), ic.user.as_deref()),
            (Some("/app"), Some("1000:1000"))
        );
    }
}

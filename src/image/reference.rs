//! Image references: `NAME[:TAG][@sha256:DIGEST]`, with docker's grammar and
//! its normalisation rules (distribution/reference):
//!
//! ```text
//! ubuntu                      -> docker.io/library/ubuntu:latest
//! team/app:1.2                -> docker.io/team/app:1.2
//! localhost:5000/app          -> localhost:5000/app:latest  (a registry host)
//! ghcr.io/o/x@sha256:ab..     -> ghcr.io/o/x, pinned to one manifest
//! ```
//!
//! A first path component is a registry host when it holds a '.' or a ':'
//! or is `localhost`; otherwise the image lives on Docker Hub, and a
//! one-component name there is an "official image" under `library/`.
//!
//! rd stores and shows the *familiar* name (`ubuntu`, not
//! `docker.io/library/ubuntu`), so both spellings find the same image.

use std::fmt;

use anyhow::{bail, Result};

/// Docker Hub's name, and the host that serves its registry API.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The familiar name: `ubuntu`, `team/app`, `localhost:5000/app`.
    pub name: String,
    /// The tag; `None` only when the reference is a bare digest
    /// (`ubuntu@sha256:..`). A name alone means `latest`.
    pub tag: Option<String>,
    /// `sha256:<64 hex>` when the reference pins a manifest.
    pub digest: Option<String>,
}

fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
}

fn valid_host(host: &str) -> bool {
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    let labels_ok = h.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    labels_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// `sha256:` and 64 lower-case hex digits: the only digest rd can verify.
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef> {
        let syntax = || {
            anyhow::anyhow!(
                "'{text}' is not a valid image name: use lower-case letters, digits and . _ - \
                 separated by /, then :TAG or @sha256:DIGEST (e.g. debian:bookworm)"
            )
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => {
                if !valid_digest(d) {
                    bail!(
                        "'{text}': '{d}' is not a digest: rd pins images by sha256:<64 hex digits>"
                    );
                }
                (rest, Some(d.to_string()))
            }
            None => (text, None),
        };
        // The tag is after the last ':' that follows the last '/' (a ':'
        // before a '/' is a registry port: localhost:5000/img).
        let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let tag_ok = !tag.is_empty()
                && tag.len() <= 128
                && tag.as_bytes()[0] != b'.'
                && tag.as_bytes()[0] != b'-'
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !tag_ok {
                return Err(syntax());
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let mut host = None;
        if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
            let h = parts.remove(0);
            if !valid_host(h) {
                bail!("'{text}' is not a valid image name: '{h}' is not a registry host[:port]");
            }
            host = Some(h);
        }
        if !parts.iter().all(|p| valid_component(p)) || name.len() > 255 {
            return Err(syntax());
        }
        // Docker Hub's own spellings collapse to the familiar name.
        let familiar = match host {
            Some("docker.io" | "index.docker.io") => {
                if parts.len() == 2 && parts[0] == "library" {
                    parts[1].to_string()
                } else {
                    parts.join("/")
                }
            }
            Some(h) => format!("{h}/{}", parts.join("/")),
            None => parts.join("/"),
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(ImageRef {
            name: familiar,
            tag,
            digest,
        })
    }

    /// The registry as named: `docker.io`, or `host[:port]`.
    pub fn registry(&self) -> &str {
        match self.name.split_once('/') {
            Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
            _ => DOCKER_HUB,
        }
    }

    /// The host[:port] that serves the registry API (Docker Hub's is not
    /// `docker.io` itself).
    pub fn api_host(&self) -> &str {
        match self.registry() {
            DOCKER_HUB => DOCKER_HUB_API,
            other => other,
        }
    }

    /// The repository path inside the registry: `library/ubuntu`, `team/app`.
    pub fn repository(&self) -> String {
        let registry = self.registry();
        if registry == DOCKER_HUB {
            if self.name.contains('/') {
                self.name.clone()
            } else {
                format!("library/{}", self.name)
            }
        } else {
            self.name[registry.len() + 1..].to_string()
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest when
    /// pinned (it wins over a tag, as in docker), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The name as a single path component, for the store's directory.
    pub fn dir_name(&self) -> String {
        self.name.replace('%', "%25").replace('/', "%2F")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts(text: &str) -> (String, Option<String>, Option<String>, String, String) {
        let r = ImageRef::parse(text).unwrap();
        (
            r.name.clone(),
            r.tag.clone(),
            r.digest.clone(),
            r.api_host().to_string(),
            r.repository(),
        )
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        for text in [
            "ubuntu",
            "ubuntu:latest",
            "docker.io/ubuntu",
            "docker.io/library/ubuntu",
            "index.docker.io/library/ubuntu:latest",
        ] {
            assert_eq!(
                parts(text),
                (
                    "ubuntu".into(),
                    Some("latest".into()),
                    None,
                    "registry-1.docker.io".into(),
                    "library/ubuntu".into()
                ),
                "{text}"
            );
        }
        let (name, _, _, _, repo) = parts("docker.io/team/app:1.2");
        assert_eq!((name.as_str(), repo.as_str()), ("team/app", "team/app"));
    }

    #[test]
    fn other_registries_tags_and_digests() {
        let r = ImageRef::parse("localhost:5000/team/app:1.2").unwrap();
        assert_eq!(r.name, "localhost:5000/team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.api_host(), "localhost:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.dir_name(), "localhost:5000%2Fteam%2Fapp");
        assert_eq!(r.to_string(), "localhost:5000/team/app:1.2");

        let r = ImageRef::parse(&format!("127.0.0.1:5000/app@{D}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (None, Some(D)));
        assert_eq!(r.manifest_reference(), D);
        let r = ImageRef::parse(&format!("ghcr.io/o/x:v1@{D}")).unwrap();
        assert_eq!(r.manifest_reference(), D, "a digest wins over a tag");
        assert_eq!(r.repository(), "o/x");
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "UPPER",
            "a:",
            "../x",
            "a//b",
            "-x",
            "a:b:c/d",
            "x@sha256:abc",
            "x@md5:0123",
            "host:99999/x",
            "x:-tag",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
    }
}

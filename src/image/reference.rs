//! Image names: `NAME[:TAG]`, docker's grammar (lower-case path components
//! separated by `/`, an optional `host[:port]/` first), TAG defaulting to
//! `latest`.

use std::fmt;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
}

fn valid_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef> {
        // The tag is after the last ':' that follows the last '/' (a ':'
        // before a '/' is a registry port: localhost:5000/img).
        let slash = text.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match text[slash..].rfind(':') {
            Some(i) => (&text[..slash + i], &text[slash + i + 1..]),
            None => (text, "latest"),
        };
        let mut parts: Vec<&str> = name.split('/').collect();
        // A first component with a '.' or ':' (or "localhost") is a registry host.
        if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
            let host = parts.remove(0);
            let (h, port) = host.split_once(':').unwrap_or((host, "0"));
            let host_ok = h.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }) && port.parse::<u16>().is_ok();
            if !host_ok {
                bail!("'{text}' is not a valid image name: '{host}' is not a registry host[:port]");
            }
        }
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !parts.iter().all(|p| valid_component(p)) || !tag_ok || name.len() > 255 {
            bail!("'{text}' is not a valid image name: use lower-case letters, digits and . _ - separated by /, optionally :TAG (e.g. debian:bookworm)");
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// The name as a single path component, for the store's directory.
    pub fn dir_name(&self) -> String {
        self.name.replace('%', "%25").replace('/', "%2F")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_registries() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!((r.name.as_str(), r.tag.as_str()), ("busybox", "latest"));
        let r = ImageRef::parse("localhost:5000/team/app:1.2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/team/app", "1.2")
        );
        assert_eq!(r.dir_name(), "localhost:5000%2Fteam%2Fapp");
        for bad in ["", "UPPER", "a:", "../x", "a//b", "-x", "a:b:c/d"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
    }
}

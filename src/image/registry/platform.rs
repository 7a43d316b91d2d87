//! Platforms: which of an image index's manifests to run here.
//!
//! An image index (OCI) or manifest list (docker) holds one manifest per
//! platform, each tagged `{"os": "linux", "architecture": "arm64", "variant":
//! "v8"}`. The names are Go's (`GOOS`/`GOARCH`), not Rust's or the kernel's:
//! `x86_64` is `amd64`, `aarch64` is `arm64`. See the image-index spec,
//! "platform", and containerd's `platforms` package for the variant rules.

use std::fmt;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// The CPU variant: `v7` for 32-bit arm, `v8` for arm64. `None` = any.
    pub variant: Option<String>,
}

/// Rust's (and uname's) architecture names to Go's.
fn oci_architecture(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64le" => "ppc64le",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

impl Platform {
    /// The platform rd itself was built for: containers run the host's code.
    pub fn host() -> Platform {
        let architecture = oci_architecture(std::env::consts::ARCH).to_string();
        // arm64 is v8 unless told otherwise; 32-bit arm does not say which
        // ISA level it has, and containerd assumes v7 (the common armhf).
        let variant = match architecture.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some("v7".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".to_string(),
            architecture,
            variant,
        }
    }

    /// `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !ok {
            bail!("'{text}' is not a platform: use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8");
        }
        let lower: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
        Ok(Platform {
            os: lower[0].clone(),
            architecture: oci_architecture(&lower[1]).to_string(),
            variant: lower.get(2).cloned(),
        })
    }

    /// Does an index entry's platform fit this one? The OS and architecture
    /// must be equal. A variant we ask for must be there, except that arm64
    /// entries usually leave out their (only) variant, v8.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if os != self.os || architecture != self.architecture {
            return false;
        }
        match (self.variant.as_deref(), variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some("v8"), None) => architecture == "arm64",
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_parse() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert!(
            !host.architecture.contains('_'),
            "{host}: Go names, not Rust's"
        );
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host.to_string(), "linux/amd64");
        }
        assert_eq!(Platform::parse(&host.to_string()).unwrap(), host);

        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        assert_eq!(
            Platform::parse("Linux/x86_64").unwrap().to_string(),
            "linux/amd64"
        );
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
        ] {
            let err = Platform::parse(bad).unwrap_err().to_string();
            assert!(err.contains("OS/ARCH"), "{bad}: {err}");
        }
    }

    #[test]
    fn variant_rules() {
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(
            arm64.matches("linux", "arm64", None),
            "arm64 without variant is v8"
        );
        assert!(arm64.matches("linux", "arm64", Some("v8")));
        assert!(!arm64.matches("linux", "arm64", Some("v9")));
        let armv7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!armv7.matches("linux", "arm", Some("v6")));
        assert!(!armv7.matches("linux", "arm", None));
        let any_arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(any_arm64.matches("linux", "arm64", Some("v8")));
        assert!(!any_arm64.matches("windows", "arm64", None));
    }
}

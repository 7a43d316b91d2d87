//! What can go wrong talking to a registry, each as one line that says what
//! happened and what to try. rd prints `rd: {err:#}` and exits 125, so a
//! message must stand on its own: no `#[source]` chains here (the cause is
//! folded into the text), or anyhow would print it twice.

/// A registry failure. Public so that callers (and tests) can match the kind
/// with `err.downcast_ref::<RegistryError>()`.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// DNS failure, connection refused, timeout: nothing answered.
    #[error("cannot reach {host} (no network?): {cause}; images already in the store still work (rd images)")]
    Unreachable { host: String, cause: String },

    /// Something answered, but not with TLS we could accept. The usual cause
    /// in a classroom: a registry that only speaks plain HTTP.
    #[error("TLS with {host} failed: {cause} (a registry that only speaks plain HTTP must be allowed as insecure)")]
    Tls { host: String, cause: String },

    /// 404 for a manifest: no such repository or tag.
    #[error("{image} not found on {registry}: the registry says \"{words}\": check the name and tag, e.g. rd pull debian:bookworm")]
    NotFound {
        image: String,
        registry: String,
        words: String,
    },

    /// A Basic challenge and no credentials to answer it with.
    #[error("registry {registry} requires a login: pass --username and --password (or RD_REGISTRY_USERNAME / RD_REGISTRY_PASSWORD)")]
    LoginRequired { registry: String },

    /// We sent credentials and they were turned down.
    #[error("authentication refused by {host}: the registry says \"{words}\": check the username and password (and the image name: registries refuse unknown repositories the same way)")]
    AuthRefused { host: String, words: String },

    /// An anonymous token that does not let us pull. Docker Hub answers a
    /// misspelt repository this way (it will not say whether it exists).
    #[error("pull access denied for {repository} on {registry}: the registry says \"{words}\": check the name, e.g. rd pull debian:bookworm; a private repository needs --username and --password")]
    AccessDenied {
        repository: String,
        registry: String,
        words: String,
    },

    /// The content is not what its digest says it is.
    #[error("digest mismatch: {object}: expected {expected}, got {got}")]
    DigestMismatch {
        object: String,
        expected: String,
        got: String,
    },

    /// A manifest, config or layer of a kind rd cannot use.
    #[error("{object}: unsupported media type {media_type}{hint}")]
    UnsupportedMediaType {
        object: String,
        media_type: String,
        hint: String,
    },

    /// The index has no manifest for the platform we run on.
    #[error("{image} has no image for {wanted}; available: {available}")]
    NoPlatform {
        image: String,
        wanted: String,
        available: String,
    },

    /// 429 for longer than we are willing to wait.
    #[error("{host} is rate limiting us: {detail}")]
    RateLimited { host: String, detail: String },

    /// 5xx: the registry itself is failing.
    #[error("{host} answered {status} (a server error) for {what}: \"{words}\"; try again later")]
    Server {
        host: String,
        status: u16,
        what: String,
        words: String,
    },

    /// Any other status we did not expect.
    #[error("{host} answered {status} for {what}: \"{words}\"")]
    Status {
        host: String,
        status: u16,
        what: String,
        words: String,
    },

    /// The registry answered something that breaks the protocol: bad JSON,
    /// a redirect loop, a missing header.
    #[error("{0}")]
    Protocol(String),
}

/// An error and all its causes on one line, without the repetitions that
/// hyper and reqwest stack up ("error sending request: client error
/// (Connect): dns error: ...").
pub(crate) fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string().replace(['\n', '\r'], " ");
        // reqwest's top level names the URL, which the message already names.
        let text = match text.find(" for url (") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        // hyper's wrappers say nothing the cause does not say better.
        let noise = text == "error sending request" || text.starts_with("client error (");
        if !noise && !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// What a reqwest error says about where the problem is. Connection-phase
/// failures are "cannot reach" (the user's network); TLS failures have their
/// own hint; anything else while talking is the connection breaking.
pub(crate) fn transport_error(host: &str, err: &reqwest::Error) -> RegistryError {
    let cause = one_line(err);
    let lower = cause.to_lowercase();
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if tls {
        RegistryError::Tls {
            host: host.to_string(),
            cause,
        }
    } else if err.is_connect() || err.is_timeout() || err.is_request() {
        RegistryError::Unreachable {
            host: host.to_string(),
            cause,
        }
    } else {
        RegistryError::Protocol(format!("talking to {host} failed: {cause}"))
    }
}
